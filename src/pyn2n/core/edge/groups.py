"""Broadcast and multicast between pyn2n edges (sans-IO; design: docs/multicast.md).

`Multicast` knows which peers are pyn2n edges (they answered our GROUPS message, packet code 21,
which C edges drop) and which groups each one's host joined; it knows the host's own groups from
IGMP/MLD snooping (`core/edge/snoop.py`) and plays querier on the TAP. Per group frame the data
path asks `targets` for the pyn2n peers on a fresh direct path that want it (the others are
"served" too: pruned), and sends the rest through the supernode, which a pyn2n supernode tells
to skip the served ones. `duplicate` drops the second copy of a frame that came both directly
and relayed (a C supernode relays to everyone). Unknown membership errs on delivery; every table
is bounded; remote input never raises.
"""

from __future__ import annotations

from collections.abc import Callable

from pyn2n.constants import EDGE_MAX_PEERS
from pyn2n.core.api import Addr
from pyn2n.core.edge.snoop import (
    FIRST_RESPONSE,
    QUERY_INTERVAL,
    QUERY_RESPONSE,
    LocalGroups,
    igmp_query,
    mld_query,
    prune_key,
    querier_mac,
)
from pyn2n.core.edge.state import EdgeState
from pyn2n.core.selection import NULL_MAC
from pyn2n.wire.membership import (
    GROUPS_COMPLETE,
    GROUPS_REPLY,
    SKIP_CAPABLE,
    Groups,
    decode_groups,
    encode_groups,
)
from pyn2n.wire.messages import PeerInfo, QueryPeer

TICK = 0.5  # s between looks at the peer table
REFRESH = 4.0  # s between GROUPS to a pyn2n peer (also keeps its direct path fresh)
PROBE_TRIES = 4  # GROUPS without answer before a peer counts as a C edge (n2n logs each once)
PROBE_AGAIN = 1800.0  # s before a C edge is asked again (its own GROUPS would say sooner)
FORGET = 120.0  # s after which a peer no longer known is forgotten
RESEND = (0.3, 1.5)  # s after a change of our groups: tell the peers again (loss)
DEDUPE_TTL = 1.0  # s a frame's fingerprint is kept to recognise its second copy
DEDUPE_MAX = 512  # fingerprints kept, per direction

PROBING, PYN2N, C_EDGE = 0, 1, 2


class PeerGroups:
    """What we know of one peer: is it pyn2n, the groups its host joined (`complete`: prune to
    them), and when we next send it our GROUPS."""

    __slots__ = (
        "complete",
        "direct_at",
        "epoch",
        "groups",
        "heard",
        "next_send",
        "sock",
        "state",
        "tries",
    )

    def __init__(self, now: float) -> None:
        self.state = PROBING
        self.complete = False
        self.groups: frozenset[bytes] = frozenset()
        self.epoch = -1
        self.heard = now
        self.direct_at = -1e9  # its last GROUPS from the socket we know it at
        self.next_send = now
        self.tries = 0
        self.sock: Addr | None = None


class Multicast:
    """See the module docstring. `to_tap` queues a frame for the TAP (the querier's queries)."""

    def __init__(self, st: EdgeState, to_tap: Callable[[bytes], None], now: float) -> None:
        self.st = st
        self.enabled = st.allow_p2p
        self.to_tap = to_tap
        self.local = LocalGroups()
        self.epoch = 0
        self.remote: dict[bytes, PeerGroups] = {}
        self.direct: dict[bytes, PeerGroups] = {}  # the pyn2n ones (per-frame loop)
        self.sn_skip: dict[Addr, float] = {}  # supernode -> last PONG saying it skips
        self.next_tick = now
        # the first query when the host first reports (until then our list is not complete)
        self.next_query = float("inf")
        self.complete_at = float("inf")
        self.told_complete = False
        self.next_sn_probe = now
        self.probed_sn: Addr | None = None
        self.resend: list[float] = []
        self._qmac = querier_mac(st.mac)
        self._seen_direct: dict[tuple[bytes, int], float] = {}
        self._seen_relayed: dict[tuple[bytes, int], float] = {}
        self.queries_sent = 0

    # -- per frame ----------------------------------------------------------------------------

    def targets(self, frame: bytes, now: float, sn_gone: bool) -> tuple[list[Addr], list[bytes]]:
        """The direct sockets a group frame goes to, and the pyn2n peers served (sent or
        pruned). A peer counts while its direct path is fresh, or while no supernode answers."""
        key = prune_key(frame)
        known = self.st.peers.known
        fresh = self.st.p2p_fresh
        addrs: list[Addr] = []
        served: list[bytes] = []
        for mac, pg in self.direct.items():
            peer = known.get(mac)
            if peer is None:
                continue
            last = peer.last_p2p
            if (
                not sn_gone
                and now - pg.direct_at >= fresh
                and (last is None or now - last >= fresh)
            ):
                continue  # no direct traffic for a while: the path may be gone
            served.append(mac)
            if key is not None and pg.complete and key not in pg.groups:
                continue
            addrs.append(peer.sock)
        return addrs, served

    def pruning(self, now: float) -> bool:
        """Our host's list of groups is complete: frames of other groups are not wanted."""
        return now >= self.complete_at and not self.local.overflow

    def wanted(self, frame: bytes) -> bool:
        """A received multicast frame is for everyone, or for a group our host joined."""
        key = prune_key(frame)
        return key is None or key in self.local.groups

    def sn_skips(self, addr: Addr, now: float) -> bool:
        """The supernode at `addr` said (recently) that it honours a PACKET's skip list."""
        said = self.sn_skip.get(addr)
        return said is not None and now - said < 2.5 * self.st.interval

    def duplicate(self, src: bytes, payload: bytes, relayed: bool, now: float) -> bool:
        """A group PACKET from pyn2n peer `src` whose other copy (direct or relayed) came
        already. Keyed on the payload, which the sender encrypted once for every copy."""
        pg = self.direct.get(src)
        if pg is None:
            return False
        key = (src, hash(payload))
        mine, other = (
            (self._seen_relayed, self._seen_direct)
            if relayed
            else (self._seen_direct, self._seen_relayed)
        )
        seen = other.pop(key, None)
        if seen is not None and now - seen < DEDUPE_TTL:
            return True
        if len(mine) >= DEDUPE_MAX:
            del mine[next(iter(mine))]
        mine[key] = now
        return False

    def snoop(self, frame: bytes, now: float) -> bool:
        """A group frame from the TAP: IGMP/MLD reports change our groups (True: they did,
        the peers are told at the next tick, which is now)."""
        local = self.local
        local.snoop(frame, now)
        if local.reports and not self.queries_sent:
            self._query(now)  # the host speaks IGMP/MLD here: be its querier from now on
        if local.changed and self.enabled:
            self._changed(now)
            self.next_tick = now  # the peers hear it at once
            return True
        return False

    # -- control messages ---------------------------------------------------------------------

    def on_groups(self, data: bytes, addr: Addr, now: float) -> None:
        """A GROUPS message (header opened, community and stamp checked)."""
        st = self.st
        msg = decode_groups(data)
        if msg is None:
            st.drops["decode"] += 1
            return
        src = msg.src
        if msg.dst != st.mac or src[0] & 1 or src == st.mac or src == NULL_MAC:
            st.drops["not_for_us"] += 1
            return
        peers = st.peers
        peer = peers.known.get(src)
        pg = self.remote.get(src)
        if pg is None:
            if len(self.remote) >= 2 * EDGE_MAX_PEERS or (
                peer is None and src not in peers.pending
            ):
                st.drops["group_unknown_peer"] += 1
                return
            pg = self.remote[src] = PeerGroups(now)
        # every GROUPS carries the whole list: the latest one counts (a late, older one is
        # corrected by the next: 0.3 s, 1.5 s, then every 4 s; a restarted peer counts from 0)
        pg.groups = frozenset(msg.groups)
        pg.epoch = msg.epoch
        pg.complete = bool(msg.flags & GROUPS_COMPLETE)
        if pg.state != PYN2N:
            pg.state = PYN2N
            pg.next_send = now  # (answer below, or soon)
        self.direct[src] = pg
        pg.heard = now
        if peer is not None and peer.sock == addr:
            pg.direct_at = now  # the direct path works (our GROUPS keep it fresh)
            peer.last_seen = now
        if msg.flags & GROUPS_REPLY and self.enabled:
            self._send(src, addr, pg, now, reply=False)

    def on_self_info(self, addr: Addr, info: PeerInfo, now: float) -> None:
        """The supernode's answer to `_probe_sn`: SKIP_CAPABLE from a pyn2n supernode."""
        if info.aflags == SKIP_CAPABLE:
            if len(self.sn_skip) >= 64 and addr not in self.sn_skip:
                self.sn_skip.clear()
            self.sn_skip[addr] = now

    # -- timer --------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Runs with every edge timer (the registration timer at least every interval): the
        querier's queries ride on it; peers get a TICK deadline of their own (`deadline`)."""
        if now >= self.next_query:
            self._query(now)
        if now < self.next_tick or not self.enabled:
            return
        self.next_tick = now + TICK
        if self.local.changed:
            self._changed(now)
        elif self.resend and now >= self.resend[0]:
            self.resend.pop(0)
            for pg in self.direct.values():
                pg.next_send = now
        elif not self.told_complete and now >= self.complete_at:
            self.told_complete = True
            self._changed(now)  # our list is complete now: say so
        self._peers(now)
        if self.direct:
            self._probe_sn(now)

    def _query(self, now: float) -> None:
        """General queries into the TAP, so the host reports its groups again (the first one
        with a short response time: our list is complete soon after it)."""
        first = self.queries_sent == 0
        if first:
            self.complete_at = now + FIRST_RESPONSE + 0.5
        response = FIRST_RESPONSE if first else QUERY_RESPONSE
        self.to_tap(igmp_query(self._qmac, response))
        self.to_tap(mld_query(self._qmac, response))
        self.queries_sent += 1
        self.next_query = now + QUERY_INTERVAL
        self.local.expire(now)

    def _peers(self, now: float) -> None:
        known = self.st.peers.known
        remote = self.remote
        for mac, peer in known.items():
            pg = remote.get(mac)
            if pg is None:
                if len(remote) >= 2 * EDGE_MAX_PEERS:
                    continue
                pg = remote[mac] = PeerGroups(now)
            pg.heard = now
            if pg.sock != peer.sock:
                pg.next_send = now  # a new path: tell it at once
                if pg.state == C_EDGE:
                    pg.state, pg.tries = PROBING, 0
            if now < pg.next_send:
                continue
            if pg.state == PYN2N:
                self._send(mac, peer.sock, pg, now, reply=False)
            elif pg.state == C_EDGE:
                pg.state, pg.tries = PROBING, 0
            if pg.state == PROBING:
                if pg.tries >= PROBE_TRIES:
                    pg.state = C_EDGE
                    pg.next_send = now + PROBE_AGAIN
                else:
                    self._send(mac, peer.sock, pg, now, reply=True)
                    pg.tries += 1
                    pg.next_send = now + (1 << pg.tries) * 0.5
        for mac in [m for m, pg in remote.items() if now - pg.heard > FORGET]:
            del remote[mac]
            self.direct.pop(mac, None)

    def _send(self, mac: bytes, addr: Addr, pg: PeerGroups, now: float, reply: bool) -> None:
        st = self.st
        flags = GROUPS_REPLY if reply else 0
        local = self.local
        if self.pruning(now):
            flags |= GROUPS_COMPLETE
        msg = Groups(st.mac, mac, flags, self.epoch, local.macs())
        st.send_sealed(encode_groups(st.community20, msg), addr)
        pg.sock = addr
        if pg.state == PYN2N:
            pg.next_send = now + REFRESH

    def _changed(self, now: float) -> None:
        """Our groups changed: every pyn2n peer hears it now, and twice more a little later."""
        self.local.changed = False
        self.epoch += 1
        for pg in self.direct.values():
            pg.next_send = now
        self.resend = [now + d for d in RESEND]

    def _probe_sn(self, now: float) -> None:
        """Ask the current supernode whether it skips served edges: a QUERY_PEER about
        ourselves with our aflags (a C supernode answers a plain PEER_INFO; a PING would
        disturb the supernode selection's round-trip times)."""
        st = self.st
        sn = st.sns.current.addr
        if now < self.next_sn_probe and sn == self.probed_sn:
            return
        self.probed_sn = sn
        self.next_sn_probe = now + st.interval
        st.send(QueryPeer(st.mac, st.mac, SKIP_CAPABLE), sn)

    def deadline(self) -> float | None:
        """Our next deadline: TICK while there are peers to tell (queries need none)."""
        if self.enabled and (self.st.peers.known or self.resend or self.direct):
            return self.next_tick
        return None
