"""`--multicast-route`: multicast routes on the TAP (224.0.0.0/4, and ff00::/8 where the TAP has
IPv6), so that software sending multicast without choosing an interface reaches the overlay
instead of following the default route to the underlay. Added over rtnetlink (pyroute2) after the
TAP is up and removed when the edge stops (the kernel drops them with the TAP anyway).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

ROUTES = ((socket.AF_INET, "224.0.0.0", 4), (socket.AF_INET6, "ff00::", 8))


@dataclass(frozen=True, slots=True)
class Route:
    family: int
    dst: str
    dst_len: int
    oif: int

    def __str__(self) -> str:
        return f"{self.dst}/{self.dst_len}"


def ipv6_enabled(device: str) -> bool:
    """The kernel has IPv6 on `device` (not disabled by sysctl or a kernel without IPv6)."""
    path = Path("/proc/sys/net/ipv6/conf") / device / "disable_ipv6"
    try:
        return path.read_text().strip() == "0"
    except OSError:
        return False


def add_multicast_routes(device: str) -> tuple[list[Route], list[str]]:
    """Route the multicast ranges through `device`: (the routes added, one line per range that
    could not be, naming the cause and the fix)."""
    added: list[Route] = []
    problems: list[str] = []
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=device)
        if not found:
            return [], [f"no interface {device!r} for the multicast routes"]
        oif = int(found[0])
        for family, dst, dst_len in ROUTES:
            if family == socket.AF_INET6 and not ipv6_enabled(device):
                continue
            route = Route(family, dst, dst_len, oif)
            try:
                ipr.route("add", family=family, dst=dst, dst_len=dst_len, oif=oif)
            except NetlinkError as exc:
                if exc.code == errno.EEXIST:
                    problems.append(
                        f"--multicast-route: a route for {route} exists already (`ip route show "
                        f"{route}`); left as it is: remove it to send such multicast via {device}"
                    )
                else:
                    problems.append(f"--multicast-route: cannot add {route} via {device}: {exc}")
                continue
            added.append(route)
    return added, problems


def remove_routes(routes: list[Route]) -> None:
    """Remove what `add_multicast_routes` added; gone already (with the TAP) is fine."""
    if not routes:
        return
    with IPRoute() as ipr:
        for r in routes:
            try:
                ipr.route("del", family=r.family, dst=r.dst, dst_len=r.dst_len, oif=r.oif)
            except NetlinkError as exc:
                if exc.code not in (errno.ESRCH, errno.ENODEV, errno.ENOENT):
                    raise
