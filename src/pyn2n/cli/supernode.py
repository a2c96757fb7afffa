"""`pyn2n supernode`: parse n2n's flags, build the sans-IO supernode, bind it to a UDP socket.

SIGINT/SIGTERM stop it (exit 0); SIGHUP writes the registrations to the log, as n2n does.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pyn2n.cli.common import UsageError, run_main, trace_to_logging
from pyn2n.cli.edge import resolve
from pyn2n.cli.service import prepare_service, setup_service_logging
from pyn2n.cli.supernode_args import SupernodeArgs, parse_supernode_args
from pyn2n.core.community import parse_community_file
from pyn2n.core.config import AutoIpRange, ConfigError, SupernodeConfig, decode_text
from pyn2n.core.supernode import Supernode
from pyn2n.io.udp import UdpSocket
from pyn2n.io.underlay import Underlay
from pyn2n.mgmt.protocol import CommandFailed, Control
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import mac_from_str

log = logging.getLogger("pyn2n.supernode")


def read_community_file(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"-c {path}: cannot read the community file ({exc.strerror})") from None
    try:
        return decode_text(data, path)
    except ConfigError as exc:
        raise UsageError(f"-c {exc}") from None


def build_config(args: SupernodeArgs) -> SupernodeConfig:
    try:
        kwargs: dict[str, object] = {}
        if args.autoip:
            kwargs["autoip"] = AutoIpRange.from_strings(*args.autoip)
        if args.version:
            kwargs["version"] = args.version
        communities = None
        if args.community_file:
            try:
                communities = parse_community_file(read_community_file(args.community_file))
            except ConfigError as exc:
                raise UsageError(f"-c {args.community_file}: {exc}") from None
        return SupernodeConfig(
            port=args.port,
            federation=args.federation,
            anchors=[resolve(h, p) for h, p in args.anchors],
            mac=mac_from_str(args.mac) if args.mac else None,
            spoofing_protection=args.spoofing_protection,
            communities=communities,
            mgmt_password=args.mgmt_password,
            **args.limits,  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def bind_supernode(bind: str, port: int) -> UdpSocket:
    """UDP on IPv4 and (without a -p address) IPv6, and n2n's TCP links, all on one port
    number; where IPv6 is not available, IPv4 alone, said in one line."""
    from pyn2n.cli.runtime import bind_udp

    if bind == "0.0.0.0":
        try:
            return bind_udp(bind, port, ipv6="::", tcp="listen")
        except UsageError as exc:
            log.warning("no IPv6 underlay (%s); listening on IPv4 only", exc)
    return bind_udp(bind, port, tcp="listen")


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    args = parse_supernode_args(argv)
    setup_service_logging(args.verbosity, args.service, "pyn2n-supernode")
    config = build_config(args)
    from pyn2n.cli.observe import attach_observers
    from pyn2n.cli.runtime import Runtime, open_management

    node = Supernode(config, rng=os.urandom, now=time.monotonic(), wall_clock=time.time)
    udp = bind_supernode(args.bind, args.port)
    mgmt_sock = open_management(args.mgmt_port)
    log.info(
        "supernode listening on UDP and TCP %s:%d%s, federation %s, management port %d",
        args.bind,
        udp.local_port,
        " and [::]" if isinstance(udp, Underlay) and udp.ipv6 is not None else "",
        config.federation,
        args.mgmt_port,
    )

    def reload() -> None:
        if args.community_file is None:
            return
        try:
            node.reload_communities(read_community_file(args.community_file), time.monotonic())
            log.info("community file %s reloaded", args.community_file)
        except (ConfigError, UsageError) as exc:
            why = str(exc) if isinstance(exc, UsageError) else f"-c {args.community_file}: {exc}"
            log.error("community file not reloaded, the old one stays: %s", why)
            raise CommandFailed("badfile", f"{why}; the old communities stay") from None

    control = Control(
        trace_level=args.verbosity,
        on_verbose=trace_to_logging,
        on_reload=reload if args.community_file else None,
    )
    views = SupernodeViews(node)
    runtime = Runtime(
        node, "supernode", udp, mgmt_sock, control, config.mgmt_password, log, views=views
    )
    # SIGHUP only sets a flag and wakes the loop; the dump happens in the loop
    hup = {"pending": False}

    def on_hup(_signum: int, _frame: object) -> None:
        hup["pending"] = True
        runtime.loop.wake()

    def dump_if_asked() -> None:
        if hup["pending"]:
            hup["pending"] = False
            log.info("registrations:\n%s", views.registrations_text(time.monotonic()))

    runtime.add_wake_hook(dump_if_asked)
    attach_observers(runtime, views, metrics=args.metrics, http=args.http)
    signal.signal(signal.SIGHUP, on_hup)
    prepare_service(runtime, args.service)  # a supernode keeps no capability
    return runtime.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
