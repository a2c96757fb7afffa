"""The supernode's federation table: the other supernodes it knows (spec §7.6).

n2n keeps them as the "edges" of the special `*Federation` community and finds them with
`add_sn_to_list_by_mac_or_sock`: by MAC when the MAC is known, else by socket (an anchor from
`-l` starts with a null MAC and learns it from the first answer). Anchors are never purged;
learned supernodes go after `LAST_SEEN_SN_INACTIVE` (90 s) of silence. A supernode counts as
active — it gets broadcasts and forwarded registrations — while heard from within 90 s, and is
re-registered with when silent for more than `LAST_SEEN_SN_ACTIVE` (20 s).

Differences from n2n: a member found by MAC whose socket changed takes the new socket unless
it is an anchor (n2n keeps the stale one); our own MAC in a REGISTER_SUPER_ACK list is not
learned (n2n adds itself and later ignores its own registrations).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyn2n.constants import (
    LAST_SEEN_SN_ACTIVE,
    LAST_SEEN_SN_INACTIVE,
    LAST_SEEN_SN_NEW,
    REG_SUPER_ACK_MAX_SUPERNODES,
)
from pyn2n.core.api import Addr
from pyn2n.wire.types import NULL_MAC, Sock, SupernodeEntry


@dataclass(slots=True)
class Member:
    """One other supernode."""

    mac: bytes
    addr: Addr
    anchor: bool  # from -l: never purged
    last_seen: float | None = None  # None: never heard from
    last_cookie: int = 0

    def silent_for(self, now: float) -> float:
        return float("inf") if self.last_seen is None else now - self.last_seen

    def active(self, now: float) -> bool:
        return self.silent_for(now) < LAST_SEEN_SN_INACTIVE


class Federation:
    """Bounded table of federation members."""

    def __init__(self, name: bytes, max_members: int, anchors: list[Addr]) -> None:
        self.name = name
        self.max_members = max_members
        self._members: list[Member] = [Member(NULL_MAC, a, anchor=True) for a in anchors]

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def by_addr(self, addr: Addr) -> Member | None:
        for m in self._members:
            if m.addr == addr:
                return m
        return None

    def find(self, mac: bytes, addr: Addr) -> Member | None:
        """n2n `add_sn_to_list_by_mac_or_sock` without adding: by MAC if not null, else by
        socket (then taking the MAC)."""
        if mac != NULL_MAC:
            for m in self._members:
                if m.mac == mac:
                    if m.addr != addr and not m.anchor:
                        m.addr = addr
                    return m
        m = self.by_addr(addr)
        if m is not None and mac != NULL_MAC:
            m.mac = mac
        return m

    def learn(self, mac: bytes, addr: Addr) -> tuple[Member | None, bool]:
        """Find or add; returns (member or None when the table is full, whether it is new)."""
        m = self.find(mac, addr)
        if m is not None:
            return m, False
        if len(self._members) >= self.max_members:
            return None, False
        m = Member(mac, addr, anchor=False)
        self._members.append(m)
        return m, True

    def purge(self, now: float) -> list[Member]:
        """Drop learned members silent for 90 s; returns them."""
        gone = [
            m for m in self._members if not m.anchor and m.silent_for(now) > LAST_SEEN_SN_INACTIVE
        ]
        if gone:
            self._members = [m for m in self._members if m not in gone]
        return gone

    def active(self, now: float) -> list[Member]:
        return [m for m in self._members if m.active(now)]

    def due_for_registration(self, now: float) -> list[Member]:
        return [m for m in self._members if m.silent_for(now) > LAST_SEEN_SN_ACTIVE]

    def ack_entries(
        self, requester: Addr, now: float, rand_below: Callable[[int], int]
    ) -> tuple[SupernodeEntry, ...]:
        """The supernode list of a REGISTER_SUPER_ACK (§4): after skipping a random number of
        members (n2n `n2n_rand_sqr`, so that over time every member gets propagated), those
        heard from within 60 s, except the requester itself; at most 44."""
        count = len(self._members) - 1
        skip = rand_sqr(count, rand_below) if count > 0 else 0
        out: list[SupernodeEntry] = []
        for m in self._members[skip:]:
            if m.addr == requester or m.silent_for(now) >= LAST_SEEN_SN_NEW:
                continue
            if len(out) == REG_SUPER_ACK_MAX_SUPERNODES:
                break
            out.append(SupernodeEntry(Sock(m.addr[0], m.addr[1]), m.mac))
        return tuple(out)


def rand_sqr(max_n: int, rand_below: Callable[[int], int]) -> int:
    """n2n `n2n_rand_sqr`: a random number in 0..max_n that favours the middle."""
    raw = rand_below((max_n + 2) * (max_n + 2))
    ret = math.isqrt(raw) // 2
    ret = max_n // 2 + (ret if raw & 1 else -ret)
    return min(max(ret, 0), max_n)
