"""Running as a service, for `pyn2n edge` and `pyn2n supernode` alike: the `-u`/`-g`,
`--syslog` and `--log-format` flags, the privilege drop once everything is open, and the
sd_notify hooks (READY=1 once serving, WATCHDOG=1 from the loop, STOPPING=1 at shutdown).

The watchdog is fed by a wake-up hook: a ticker thread only wakes the loop, the loop thread
sends the ping, so a loop that hangs stops pinging and systemd restarts it.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyn2n.cli.common import UsageError
from pyn2n.cli.logsetup import LOG_FORMATS, configure_logging

if TYPE_CHECKING:
    from pyn2n.cli.runtime import Runtime
    from pyn2n.io.sdnotify import Notifier

log = logging.getLogger("pyn2n.service")


@dataclass
class ServiceArgs:
    user: str | None = None
    group: str | None = None
    syslog: bool = False
    log_format: str = "text"


def add_service_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("-u", dest="user", metavar="USER", help="after start-up run as this user (name or uid)")
    a("-g", dest="group", metavar="GROUP", help="and this group (default: the user's group)")
    a("--syslog", action="store_true", help="log to syslog (/dev/log) instead of stderr")
    a(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text (default; no time stamps under journald) or json, one object per line",
    )


def service_args(ns: argparse.Namespace) -> ServiceArgs:
    return ServiceArgs(ns.user, ns.group, ns.syslog, ns.log_format)


def setup_service_logging(verbosity: int, args: ServiceArgs, ident: str) -> None:
    configure_logging(verbosity, args.log_format, syslog=args.syslog, ident=ident)


def prepare_service(runtime: Runtime, args: ServiceArgs, keep: Iterable[int] = ()) -> None:
    """Resolve `-u`/`-g` now (a typo fails before anything runs); drop to them when the
    runtime starts; tell the service manager READY=1, WATCHDOG=1 and STOPPING=1."""
    from pyn2n.io.privileges import cap_names, drop_privileges, resolve_identity
    from pyn2n.io.sdnotify import Notifier

    who = None
    if args.user is not None or args.group is not None:
        try:
            who = resolve_identity(args.user, args.group)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    kept = frozenset(keep)

    def drop() -> None:
        if who is None:
            return
        try:
            drop_privileges(who, kept)
        except PermissionError as exc:
            raise UsageError(
                f"-u {args.user}: cannot change user ({exc.strerror}); start as root "
                "(or with CAP_SETUID and CAP_SETGID)"
            ) from None
        log.info(
            "running as %s (uid %d, gid %d), capabilities kept: %s",
            who.name,
            who.uid,
            who.gid,
            cap_names(kept),
        )

    notifier = Notifier()
    runtime.add_start_hook(drop)
    if not notifier.enabled:
        return
    # READY once the sockets are bound, the TAP configured and the privileges dropped
    runtime.add_start_hook(lambda: _notify(notifier, "READY=1", f"STATUS={runtime.role} running"))
    runtime.add_stop_hook(lambda: _notify(notifier, "STOPPING=1"))
    runtime.add_stop_hook(notifier.close)
    interval = notifier.watchdog_interval
    if interval is None:
        return
    last = [float("-inf")]

    def feed() -> None:
        now = time.monotonic()
        if now - last[0] >= interval * 0.9:
            last[0] = now
            _notify(notifier, "WATCHDOG=1")

    from pyn2n.cli.watch import Ticker

    runtime.add_wake_hook(feed)
    runtime.add_thread(Ticker(runtime.loop.wake, min(interval, 1.0)))


def _notify(notifier: Notifier, *lines: str) -> None:
    notifier.notify(*lines)
