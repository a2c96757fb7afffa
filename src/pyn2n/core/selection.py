"""Supernode list and selection for the edge (spec §7.1, §7.2; n2n `sn_selection.c`).

The edge keeps every supernode it was given (`-l`, not purgeable) or learned from a
REGISTER_SUPER_ACK (purgeable), each with a *selection criterion*: lower is better, the list is
sorted ascending and the edge registers with the first one. Criteria:

* ``load`` (default): the load a supernode reports in its PONG (PEER_INFO with null MAC), plus
  ``pending peers / supernodes`` (doubled with header encryption). The current supernode's value is
  scaled by ``n / (n + 1)`` (n = known + pending peers) so an edge does not flap between equals.
  n2n's quirk: a C supernode puts ``(uint32_t)htobe64(load)`` in the u32 field — 0 on
  little-endian hosts — and the C edge reads the field byte-swapped (``be32toh`` of an already
  host-order value). We read it byte-swapped too (`load_from_wire`), so a supernode that wants to
  be understood by C edges and by us puts ``bswap32(load)`` on the wire.
* ``rtt``: milliseconds between our PING (QUERY_PEER, null target) and the PONG.
* ``mac``: the supernode's MAC as a 48-bit number (lowest wins: a fixed active/standby order).

Special values, all above any measured one: *good* (the current supernode before any PONG),
*default* (unknown) and *bad* (just failed to answer three REGISTER_SUPERs).
Pinging: n2n pings the best ``floor(n/2)`` supernodes and ``ceil(n/2)`` of the rest after skipping
a random number of them, n = 15 during bootstrap and right after it, then 5 (spec §7.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pyn2n.core.api import Addr

__all__ = [
    "CRITERION_BAD",
    "CRITERION_DEFAULT",
    "CRITERION_GOOD",
    "NULL_MAC",
    "STRATEGIES",
    "KnownSupernode",
    "SupernodeList",
    "load_from_wire",
]

STRATEGIES = ("load", "rtt", "mac")
NULL_MAC = bytes(6)

# n2n's sn_selection_criterion_{bad,default,good}: UINT64_MAX >> 1 and just below
CRITERION_BAD = (1 << 63) - 1
CRITERION_DEFAULT = CRITERION_BAD - 1
CRITERION_GOOD = CRITERION_BAD - 2
_SHOWN_BELOW = 1 << 62  # n2n prints a criterion only below UINT64_MAX >> 2


def load_from_wire(value: int) -> int:
    """The load a C edge would see in a PONG's u32 `load` field: the field byte-swapped."""
    return int.from_bytes((value & 0xFFFFFFFF).to_bytes(4, "big"), "little")


class KnownSupernode:
    """One supernode the edge knows about (n2n `peer_info` in `conf.supernodes`)."""

    __slots__ = (
        "addr",
        "criterion",
        "last_cookie",
        "last_seen",
        "load",
        "mac",
        "ping_sent",
        "purgeable",
        "rtt",
        "uptime",
        "version",
    )

    def __init__(self, addr: Addr, mac: bytes = NULL_MAC, purgeable: bool = False) -> None:
        self.addr = addr
        self.mac = mac
        self.purgeable = purgeable
        self.criterion = CRITERION_DEFAULT
        self.last_seen: float | None = None  # last PONG or accepted REGISTER_SUPER_ACK
        self.last_cookie: int | None = None  # of our last REGISTER_SUPER to it
        self.ping_sent: float | None = None
        self.rtt: float | None = None  # seconds, from the last PING/PONG pair
        self.load: int | None = None
        self.uptime = 0
        self.version = ""

    def __repr__(self) -> str:
        return f"KnownSupernode({self.addr[0]}:{self.addr[1]}, criterion={self.criterion})"


class SupernodeList:
    """The edge's supernodes in selection order, the current one, and the PING/PONG rules."""

    def __init__(
        self,
        addrs: list[Addr],
        strategy: str = "load",
        max_size: int = 64,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"selection strategy {strategy!r}: use one of {STRATEGIES}")
        if not addrs:
            raise ValueError("at least one supernode is needed")
        self.strategy = strategy
        self.max_size = max(max_size, len(addrs))
        self.entries: list[KnownSupernode] = []
        for addr in addrs:
            if self.find_by_addr(addr) is None:
                self.entries.append(KnownSupernode(addr))
        self.current: KnownSupernode = self.entries[0]
        self._common = 0  # n2n's sn_selection_criterion_common_data (load strategy)
        self.table_full = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[KnownSupernode]:
        return iter(self.entries)

    # -- lookup -------------------------------------------------------------------------------

    def find_by_addr(self, addr: Addr) -> KnownSupernode | None:
        for sn in self.entries:
            if sn.addr == addr:
                return sn
        return None

    def find(self, addr: Addr, mac: bytes = NULL_MAC) -> KnownSupernode | None:
        """n2n `add_sn_to_list_by_mac_or_sock` without adding: by MAC, else by address.

        Found by address with a MAC given, the entry learns that MAC.
        """
        if mac != NULL_MAC:
            for entry in self.entries:
                if entry.mac == mac:
                    return entry
        sn = self.find_by_addr(addr)
        if sn is not None and mac != NULL_MAC:
            sn.mac = mac
        return sn

    def learn(self, addr: Addr, mac: bytes) -> KnownSupernode | None:
        """Add a supernode listed in a REGISTER_SUPER_ACK unless known; None if known or full."""
        if self.find(addr, mac) is not None:
            return None
        if len(self.entries) >= self.max_size:
            self.table_full += 1
            return None
        sn = KnownSupernode(addr, mac, purgeable=True)
        self.entries.append(sn)
        return sn

    # -- ordering -----------------------------------------------------------------------------

    def sort(self) -> None:
        # stable, like uthash's merge sort, so equal criteria keep their order
        self.entries.sort(key=lambda sn: sn.criterion)

    def sort_after_current(self) -> None:
        """Bootstrap: later PONGs re-sort only the supernodes after the current one."""
        i = self.entries.index(self.current)
        self.entries[i + 1 :] = sorted(self.entries[i + 1 :], key=lambda sn: sn.criterion)

    def select_best(self) -> KnownSupernode:
        self.sort()
        self.current = self.entries[0]
        return self.current

    def next_after_current(self) -> KnownSupernode:
        """Bootstrap auto-IP timeout: the next supernode in list order, wrapping."""
        i = self.entries.index(self.current)
        self.current = self.entries[(i + 1) % len(self.entries)]
        return self.current

    def give_up_current(self) -> KnownSupernode:
        """Three unanswered REGISTER_SUPERs: mark the current one bad, take the best."""
        self.current.criterion = CRITERION_BAD
        return self.select_best()

    def reset_criteria(self, pending_peers: int, header_encryption: bool) -> None:
        """Before a PING round: current *good*, others *default*; refresh the common data."""
        for sn in self.entries:
            sn.criterion = CRITERION_GOOD if sn is self.current else CRITERION_DEFAULT
        if self.strategy == "load":
            extra = pending_peers * (2 if header_encryption else 1)
            self._common = extra // len(self.entries)
        else:
            self._common = 0

    # -- PING / PONG --------------------------------------------------------------------------

    def ping_targets(self, count: int, rng: Callable[[int], bytes]) -> list[KnownSupernode]:
        """The supernodes one PING round goes to (n2n `send_query_peer` with a null MAC)."""
        top = count >> 1
        rest = (count + 1) >> 1
        spare = len(self.entries) - count
        skip = _rand_below(spare + 1, rng) if spare > 0 else 0
        chosen = self.entries[:top]
        remaining = self.entries[top + skip :]
        chosen.extend(remaining[:rest])
        return chosen

    def on_pong(self, sn: KnownSupernode, load_field: int, now: float, peers: int) -> None:
        """Set `sn`'s criterion from a PONG (`peers` = known + pending, for load stickiness)."""
        sn.last_seen = now
        if sn.ping_sent is not None:
            sn.rtt = max(0.0, now - sn.ping_sent)
        if self.strategy == "load":
            sn.load = load_from_wire(load_field)
            value = sn.load + self._common
            if sn is self.current:
                value = value * peers // (peers + 1)
            sn.criterion = value
        elif self.strategy == "rtt":
            sn.criterion = round((sn.rtt or 0.0) * 1000)
        else:
            sn.criterion = int.from_bytes(sn.mac, "big")

    def selection_text(self, sn: KnownSupernode) -> str:
        """The `selection` column of n2n's mgmt `supernodes` (empty while undetermined)."""
        if sn.criterion >= _SHOWN_BELOW:
            return ""
        if self.strategy == "load":
            return f"load = {sn.criterion:8d}"
        if self.strategy == "rtt":
            return f"rtt = {sn.criterion:6d} ms"
        if sn.criterion > 0:
            return "active" if sn is self.current else "standby"
        return ""


def _rand_below(n: int, rng: Callable[[int], bytes]) -> int:
    """A random integer in [0, n) from the injected rng (n2n uses n2n_rand_sqr; any spread will do)."""
    return int.from_bytes(rng(4), "big") % n
