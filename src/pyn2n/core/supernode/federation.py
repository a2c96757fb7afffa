"""The supernode's federation (spec §7.6): the table of other supernodes and the messages with them.

n2n keeps them as the "edges" of the special `*Federation` community and finds them with
`add_sn_to_list_by_mac_or_sock`: by MAC when the MAC is known, else by socket (an anchor from
`-l` starts with a null MAC and learns it from the first answer). Anchors are never purged;
learned supernodes go after `LAST_SEEN_SN_INACTIVE` (90 s) of silence. A supernode counts as
active — it gets broadcasts and forwarded registrations — while heard from within 90 s, and is
re-registered with every 10 s when silent for more than `LAST_SEEN_SN_ACTIVE` (20 s). The
federation shares the highest key_time (§7.3). Differences from n2n:
docs/n2n-differences.md ("Supernode").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyn2n.constants import (
    LAST_SEEN_SN_ACTIVE,
    LAST_SEEN_SN_INACTIVE,
    LAST_SEEN_SN_NEW,
    N2N_DEFAULT_TTL,
    N2N_FLAGS_FROM_SUPERNODE,
    REG_LIFETIME,
    REG_SUPER_ACK_MAX_SUPERNODES,
)
from pyn2n.core.api import Addr
from pyn2n.core.events import PeerAction
from pyn2n.core.supernode.registry import Community, peer_event
from pyn2n.core.supernode.relay import FWD_FLAGS
from pyn2n.wire import Common, RegisterSuper, RegisterSuperAck, RegisterSuperNak, encode
from pyn2n.wire.types import NULL_MAC, Auth, IpSubnet, Sock, SupernodeEntry

if TYPE_CHECKING:
    from pyn2n.core.supernode.node import Rx, Supernode

_NULL_SUBNET = IpSubnet(0, 0)
ZERO_AUTH = Auth()


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
        found = self.by_addr(addr)
        if found is not None and mac != NULL_MAC:
            found.mac = mac
        return found

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

    def has_members(self) -> bool:
        return bool(self._members)

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


class FederationLink:
    """Our side of the federation: registering with members and answering them."""

    def __init__(self, sn: Supernode) -> None:
        self._sn = sn

    def on_register_super(self, rx: Rx, fed: Community, reg: RegisterSuper) -> None:
        """Another supernode registers with us: learn it, answer with our member list."""
        sn, now = self._sn, rx.now
        member, _new = sn.federation.learn(reg.edge_mac, rx.addr)
        if member is None:
            sn.drop("table_full_supernodes")
            return
        member.last_seen = now
        if reg.key_time > sn.registry.dynamic_key_time:
            self.adopt_key_time(reg.key_time, now)
        ack = RegisterSuperAck(
            reg.cookie,
            sn.mac,
            _NULL_SUBNET,
            Sock(rx.addr[0], rx.addr[1]),
            ZERO_AUTH,
            sn.federation.ack_entries(rx.addr, now, sn.rand_below),
            REG_LIFETIME,
            sn.registry.dynamic_key_time,
        )
        ack_common = Common(0, N2N_DEFAULT_TTL, FWD_FLAGS, fed.name)
        sn.send(sn.header.seal(fed, encode(ack_common, ack)), rx.addr)

    def on_register_super_ack(self, rx: Rx, ack: RegisterSuperAck) -> None:
        sn, now = self._sn, rx.now
        member = sn.federation.find(ack.src_mac, rx.addr)
        if member is None:
            sn.drop("unknown_supernode")
            return
        member.last_seen = now
        if ack.cookie != member.last_cookie:
            sn.drop("cookie")
            return
        for entry in ack.supernodes:
            if entry.mac == sn.mac or entry.sock.is_ipv6:
                continue
            learned, new = sn.federation.learn(entry.mac, entry.sock.to_addr())
            if learned is None:
                sn.drop("table_full_supernodes")
                break
            if new:
                learned.last_seen = now - LAST_SEEN_SN_NEW
        if ack.key_time > sn.registry.dynamic_key_time:
            self.adopt_key_time(ack.key_time, now)

    def on_register_super_nak(self, rx: Rx, nak: RegisterSuperNak) -> None:
        sn, comm = self._sn, rx.comm
        assert comm is not None  # scope: a member's answer about an edge community
        edge = sn.registry.remove_edge(comm, nak.src_mac)
        if edge is None:
            sn.drop("unknown_destination")
            return
        # another supernode holds this MAC with another token: tell our edge, forget it
        out = encode(Common(0, rx.common.ttl - 1, rx.common.flags, comm.name), nak)
        sn.send(sn.header.seal(comm, out), edge.addr)
        sn.emit(peer_event(PeerAction.CLEAR, nak.src_mac, edge.addr))

    def register(self, now: float, forced: bool) -> None:
        """n2n `re_register_and_purge_supernodes`: REGISTER_SUPER to members silent > 20 s (to
        all when `forced`)."""
        sn = self._sn
        members = list(sn.federation) if forced else sn.federation.due_for_registration(now)
        fed = sn.registry.fed
        common = Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, fed.name)
        for member in members:
            member.last_cookie = sn.rand32()
            reg = RegisterSuper(
                member.last_cookie,
                sn.mac,
                None,
                _NULL_SUBNET,
                b"",
                sn.auth,
                sn.registry.dynamic_key_time,
            )
            sn.send(sn.header.seal(fed, encode(common, reg)), member.addr)

    def adopt_key_time(self, key_time: int, now: float) -> None:
        """The federation uses the highest key_time (§7.3): old-key RE_REGISTER_SUPER to our
        user/password edges, new dynamic keys, and tell every member at once."""
        registry = self._sn.registry
        registry.send_re_register_super()
        registry.dynamic_key_time = key_time
        registry.compute_dynamic_keys()
        self.register(now, forced=True)
