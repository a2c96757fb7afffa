"""`pyn2n edge`: parse n2n's flags, build the sans-IO edge, bind it to a TAP and a UDP socket.

Start-up follows n2n (§7.1): the TAP is created at once with the edge's MAC and MTU (frames are
dropped by the core until the first registration); its address is set now (`-a`) or when the
supernode assigns one (auto-IP). SIGINT/SIGTERM: UNREGISTER_SUPER, TAP removed, exit 0.
Unless `--no-fastpath`, the TAP is opened with virtio headers for the fast path (docs/fastpath.md).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Sequence

from pyn2n.cli.common import UsageError, run_main, setup_logging, trace_to_logging
from pyn2n.cli.edge_args import EdgeArgs, parse_edge_args
from pyn2n.core.config import ConfigError
from pyn2n.core.edge import Edge
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.events import Event, IpAssigned
from pyn2n.mgmt.protocol import Control

log = logging.getLogger("pyn2n.edge")


def resolve(host: str, port: int, flag: str = "-l") -> tuple[str, int]:
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UsageError(
            f"{flag} {host}:{port}: cannot resolve {host!r} ({exc.strerror})"
        ) from None
    return str(infos[0][4][0]), port


def build_config(args: EdgeArgs) -> EdgeConfig:
    try:
        return EdgeConfig(
            community=args.community,
            supernodes=[resolve(h, p) for h, p in args.supernodes],
            ip=args.ip if args.ip_mode != "auto" else None,
            prefix=args.prefix,
            static=args.ip_mode == "static",
            mac=args.mac,
            mtu=args.mtu,
            key=args.key,
            transform=args.transform,
            compression=args.compression,
            header_encryption=args.header_encryption,
            username=args.username,
            password=args.password,
            federation_pubkey=args.federation_pubkey,
            register_interval=args.register_interval,
            allow_routing=args.allow_routing,
            drop_multicast=args.drop_multicast,
            no_p2p=args.no_p2p,
            selection=args.selection,
            desc=(args.desc or socket.gethostname())[:15],
            mgmt_password=args.mgmt_password,
            fastpath=args.fastpath,
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    args = parse_edge_args(argv)
    setup_logging(args.verbosity)
    config = build_config(args)
    # imported late so `pyn2n edge -h` and flag errors work without Linux privileges
    from pyn2n.cli.runtime import EdgeRuntime, bind_udp, open_management
    from pyn2n.core.fastpath.framing import tap_gso_max_size
    from pyn2n.io.linux import UDP_MAX_PAYLOAD, UDP_MAX_SEGMENTS
    from pyn2n.io.netconf import configure_tap, mac_text
    from pyn2n.io.tap import TapDevice
    from pyn2n.mgmt.edge_views import EdgeViews

    node = Edge(config, rng=os.urandom, now=time.monotonic(), wall_clock=time.time)
    udp = bind_udp(args.bind, args.local_port)
    if args.tos is not None:
        udp.set_tos(args.tos)
    if args.pmtu_discovery:
        udp.set_pmtu_discovery(True)
    mgmt_sock = open_management(args.mgmt_port)
    try:
        # the fast path reads and writes frames with virtio headers (TSO super-frames)
        tap = TapDevice.open(args.device, vnet_hdr=config.fastpath)
    except OSError as exc:
        raise UsageError(
            f"-d {args.device}: cannot create the TAP device ({exc.strerror}); "
            "run as root (CAP_NET_ADMIN) with /dev/net/tun present"
        ) from None
    address = f"{config.ip}/{config.prefix}" if config.ip else None
    gso_max = None
    if node.fastpath is not None:
        gso_max = tap_gso_max_size(
            node.fastpath.segment, min(UDP_MAX_SEGMENTS, UDP_MAX_PAYLOAD // node.fastpath.segment)
        )
    configure_tap(tap.name, mac=node.mac, ipv4=address, mtu=config.mtu, gso_max_size=gso_max)
    log.info(
        "edge %s: community %r, TAP %s mac %s %s, UDP port %d, supernodes %s",
        config.desc,
        config.community,
        tap.name,
        mac_text(node.mac),
        address or "(address from the supernode)",
        udp.local_port,
        ", ".join(f"{h}:{p}" for h, p in config.supernodes),
    )

    def on_event(event: Event) -> bool:
        if not isinstance(event, IpAssigned):
            return False
        ip = f"{event.ip4addr}/{event.prefix}"
        configure_tap(tap.name, mac=node.mac, ipv4=ip, mtu=config.mtu, replace=True)
        log.info("address %s assigned by %s", ip, event.supernode)
        return True

    control = Control(trace_level=args.verbosity, on_verbose=trace_to_logging)
    runtime = EdgeRuntime(
        node,
        udp,
        mgmt_sock,
        control,
        config.mgmt_password,
        log,
        tap,
        on_event=on_event,
        views=EdgeViews(node),
    )
    return runtime.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
