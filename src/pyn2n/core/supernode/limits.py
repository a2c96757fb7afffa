"""Admission of new edges by source address: the supernode's defence against one flooding host.

Every source IP that registers edges gets one `Source` record: how many edges it holds, how many
on-the-fly communities it created, and a token bucket for new registrations (re-registrations of
known edges are never limited). A new edge is admitted while the supernode's total, its
community's and its source's edge counts are below their bounds and the source's bucket has a
token. When the total table is full, a newcomer may take the place of an edge held by the source
with the most edges, if that source holds more than the newcomer's source does: a flood from one
host then fills only its own share and gives way to everybody else. The source table is bounded
too: when it is full, sources that hold nothing are forgotten (at most once a second).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from pyn2n.wire.types import Sock, encode_sock

if TYPE_CHECKING:
    from pyn2n.core.config import SupernodeConfig

SWEEP_INTERVAL = 1.0  # seconds between two scans for idle sources or eviction victims
VICTIMS_PER_SCAN = 256  # edges of the heaviest source noted per scan, evicted one per newcomer


class Source:
    """One source IP: its edges, the on-the-fly communities it made, its token bucket, and its
    address packed once for the sock fields of answers (`ip` is the one string every edge of
    this source shares)."""

    __slots__ = ("communities", "edges", "ip", "packed", "stamp", "tokens")

    def __init__(self, ip: str, tokens: float, now: float) -> None:
        self.ip = ip
        self.edges = 0
        self.communities = 0
        self.tokens = tokens
        self.stamp = now
        self.packed = _packed(ip)

    def sock(self, port: int) -> bytes:
        """The encoded sock (§3) of this source at `port`."""
        if self.packed is None:
            return encode_sock(Sock(self.ip, port))
        return b"\0\0" + port.to_bytes(2, "big") + self.packed  # flags 0: IPv4, UDP


def _packed(ip: str) -> bytes | None:
    try:
        return ipaddress.IPv4Address(ip).packed
    except ValueError:
        return None


class SourceLimits:
    """The source table and its bounds (see the module docstring)."""

    __slots__ = ("_burst", "_max_sources", "_next_sweep", "_rate", "by_ip", "per_ip")

    def __init__(self, config: SupernodeConfig) -> None:
        self.by_ip: dict[str, Source] = {}
        self.per_ip = config.max_edges_per_ip
        self._rate = config.new_edges_per_ip_rate
        self._burst = float(config.new_edges_per_ip_burst)
        self._max_sources = max(1024, config.max_edges)
        self._next_sweep = float("-inf")

    def source(self, ip: str, now: float) -> Source | None:
        """The record of `ip`, made if new; None if the table is full of busy sources."""
        src = self.by_ip.get(ip)
        if src is None:
            if len(self.by_ip) >= self._max_sources and not self._sweep(now):
                return None
            src = self.by_ip[ip] = Source(ip, self._burst, now)
        return src

    def take(self, src: Source, now: float) -> bool:
        """One token of `src`'s bucket for a new registration; False if none is left."""
        tokens = src.tokens + (now - src.stamp) * self._rate
        src.stamp = now
        if tokens < 1.0:
            src.tokens = tokens
            return False
        src.tokens = min(self._burst, tokens) - 1.0
        return True

    def _sweep(self, now: float) -> bool:
        """Forget sources that hold nothing (at most once per SWEEP_INTERVAL); True if room."""
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self.forget_idle()
        return len(self.by_ip) < self._max_sources

    def forget_idle(self) -> None:
        idle = [ip for ip, s in self.by_ip.items() if not s.edges and not s.communities]
        for ip in idle:
            del self.by_ip[ip]

    def heaviest(self) -> Source | None:
        return max(self.by_ip.values(), key=_edges, default=None)


def _edges(src: Source) -> int:
    return src.edges
