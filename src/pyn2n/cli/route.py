"""`pyn2n route` — n2n-route's job: send all (or chosen) traffic through a gateway edge.

    pyn2n route 198.19.0.1                    # everything via the edge 198.19.0.1
    pyn2n route -n 10.8.0.0/16 198.19.0.1     # only 10.8.0.0/16 (repeatable; NET/LEN:GW too)

Like n2n-route: without `-n` it adds 0.0.0.0/1 and 128.0.0.0/1 via the VPN gateway (they win
over the default route without touching it), and keeps every supernode and direct peer of the
local edge (read from its management port every few seconds) on the original default gateway
(`-g`, or found in the main table) with a /32 route, so the tunnel keeps its own underlay. Host
routes are added before the VPN routes (n2n adds them after, leaving a moment without a path
to the supernode). On exit (SIGINT, SIGTERM, or ENTER on a terminal) every route it added is
deleted again; routes that were there before are left alone. Needs CAP_NET_ADMIN.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pyn2n import constants as C
from pyn2n.cli.common import Parser, UsageError, run_main, setup_logging
from pyn2n.cli.ctl import CtlError, request

log = logging.getLogger("pyn2n.route")

REFRESH = 5.0  # n2n: info every 5 s, edges/supernodes every 10 s
REMOVE_AGE = 75.0  # n2n: a host route unseen this long goes
HALVES = ("0.0.0.0/1", "128.0.0.0/1")

Route = tuple[str, str]  # (destination network, gateway)


@dataclass
class RoutePlan:
    """What the tool wants in the table (sans-IO): fixed VPN routes and aging host routes."""

    vpn_gateway: str
    networks: list[Route]  # (net, gateway): -n, or the two halves via the VPN gateway
    original_gateway: str | None = None
    hosts: dict[str, float] = field(default_factory=dict)  # /32 -> last seen

    def seen(self, addresses: Sequence[str], now: float) -> list[Route]:
        """Underlay addresses the edge uses now: the host routes to add (new ones only)."""
        new = []
        for addr in addresses:
            if addr == self.vpn_gateway:
                continue
            if addr not in self.hosts and self.original_gateway is not None:
                new.append((f"{addr}/32", self.original_gateway))
            self.hosts[addr] = now
        return new

    def expired(self, now: float) -> list[Route]:
        gone = [a for a, t in self.hosts.items() if now - t > REMOVE_AGE]
        for addr in gone:
            del self.hosts[addr]
        gw = self.original_gateway
        return [(f"{a}/32", gw) for a in gone] if gw is not None else []


def parse_network(text: str, vpn_gateway: str) -> Route:
    """`-n NET/LEN[:GATEWAY]` (n2n-route's syntax)."""
    net_text, _, gw = text.partition(":")
    try:
        net = ipaddress.IPv4Network(net_text, strict=True)
    except ValueError as exc:
        raise UsageError(
            f"-n {text!r}: write NET/LEN[:GATEWAY], e.g. -n 10.8.0.0/16 ({exc})"
        ) from None
    if gw:
        _ipv4(gw, "-n")
    return (str(net), gw or vpn_gateway)


def _ipv4(text: str, flag: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not an IPv4 address") from None


def underlay_addresses(rows: list[dict[str, Any]]) -> list[str]:
    """The IPv4 addresses in `sockaddr` columns ("ip:port") of management rows."""
    out = []
    for row in rows:
        host, _, port = str(row.get("sockaddr", "")).rpartition(":")
        try:
            if port and not ipaddress.IPv4Address(host).is_unspecified:
                out.append(host)
        except ValueError:
            continue
    return out


class RouteTable:
    """The kernel's main table through pyroute2; remembers what it added, to undo exactly that."""

    def __init__(self) -> None:
        from pyroute2 import IPRoute

        self.ipr = IPRoute()
        self.added: list[Route] = []

    def default_gateway(self, exclude: str) -> str | None:
        for route in self.ipr.get_routes(family=socket.AF_INET, table=254):
            if route["dst_len"] == 0:
                gw = route.get_attr("RTA_GATEWAY")
                if gw and gw != exclude:
                    return str(gw)
        return None

    def add(self, route: Route) -> None:
        dst, gw = route
        try:
            self.ipr.route("add", dst=dst, gateway=gw)
        except Exception as exc:  # pyroute2's NetlinkError: EEXIST keeps theirs, others warn
            if getattr(exc, "code", None) != 17:
                log.warning("cannot add route %s via %s: %s", dst, gw, exc)
            return
        self.added.append(route)
        log.info("route %s via %s", dst, gw)

    def delete(self, route: Route) -> None:
        if route not in self.added:
            return
        self.added.remove(route)
        try:
            self.ipr.route("del", dst=route[0], gateway=route[1])
        except Exception as exc:  # already gone (interface down): nothing left to undo
            log.debug("route %s via %s already gone: %s", route[0], route[1], exc)

    def restore(self) -> None:
        for route in reversed(list(self.added)):
            self.delete(route)
        self.ipr.close()


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _parser() -> Parser:
    p = Parser(
        prog="pyn2n route",
        description="Route all traffic (or the -n networks) through a gateway edge over the "
        "overlay, keeping the supernodes and peers on the original default gateway; every "
        "route added is removed on exit (n2n-route's job).",
        epilog="example: pyn2n route 198.19.0.1   (the gateway edge runs with -r and forwards)",
    )
    p.add_argument("gateway", metavar="VPN_GATEWAY", help="overlay address of the gateway edge")
    p.add_argument(
        "-t", dest="port", type=int, default=C.N2N_EDGE_MGMT_PORT, help="edge management port"
    )
    p.add_argument("-p", dest="password", default=None, help="management password (unused reads)")
    p.add_argument(
        "-g", dest="original", metavar="GW", help="original default gateway (default: found)"
    )
    p.add_argument(
        "-n", dest="networks", action="append", default=[], metavar="NET/LEN[:GW]",
        help="route only this network (repeatable)",
    )  # fmt: skip
    p.add_argument("-v", dest="verbose", action="count", default=0, help="more verbose")
    p.add_argument("-V", dest="quiet", action="count", default=0, help="less verbose")
    return p


def _main(argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    setup_logging(max(0, 2 + ns.verbose - ns.quiet))
    vpn = _ipv4(ns.gateway, "VPN_GATEWAY")
    networks = [parse_network(t, vpn) for t in ns.networks] or [(h, vpn) for h in HALVES]
    plan = RoutePlan(vpn, networks, _ipv4(ns.original, "-g") if ns.original else None)
    try:
        table = RouteTable()
    except OSError as exc:
        raise UsageError(f"cannot open the routing table ({exc}); run as root") from None
    stop = _stop_flag()
    try:
        if plan.original_gateway is None:
            plan.original_gateway = table.default_gateway(exclude=vpn)
            if plan.original_gateway is None:
                raise UsageError("no default route to keep the supernodes on: give it with -g GW")
        log.info("original gateway %s, VPN gateway %s", plan.original_gateway, vpn)
        _refresh(plan, table, ns.port, time.monotonic())  # the underlay first
        for route in plan.networks:
            table.add(route)
        _loop(plan, table, ns.port, stop)
    finally:
        table.restore()
        log.info("routes restored")
    return 0


def _refresh(plan: RoutePlan, table: RouteTable, port: int, now: float) -> None:
    rows: list[dict[str, Any]] = []
    for method in ("supernodes", "edges"):
        try:
            rows += request(method, port=port, timeout=2.0)
        except (CtlError, OSError) as exc:
            log.warning("edge management port %d: %s", port, exc)
            return
    for route in plan.seen(underlay_addresses(rows), now):
        table.add(route)
    for route in plan.expired(now):
        table.delete(route)


def _loop(plan: RoutePlan, table: RouteTable, port: int, stop: Callable[[], bool]) -> None:
    watch_stdin = sys.stdin is not None and sys.stdin.isatty()
    next_refresh = time.monotonic() + REFRESH
    while not stop():
        wait = max(0.0, next_refresh - time.monotonic())
        if watch_stdin:
            ready, _, _ = select.select([sys.stdin], [], [], min(wait, 0.5))
            if ready:
                sys.stdin.readline()
                return  # ENTER, as n2n-route
        else:
            time.sleep(min(wait, 0.5))
        if time.monotonic() >= next_refresh:
            _refresh(plan, table, port, time.monotonic())
            next_refresh = time.monotonic() + REFRESH


def _stop_flag() -> Callable[[], bool]:
    stopped = [False]

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopped[0] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return lambda: stopped[0]
