"""Peer discovery and hole punching (spec §7.4; n2n `check_peer_registration_needed`,
`register_with_new_peer`): REGISTER and REGISTER_ACK between edges, PEER_INFO from the
supernode, QUERY_PEER for relayed destinations, and the purge of silent peers. A peer is
"pending" until it acknowledges our REGISTER, then "known" (`core/peers.py`)."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from pyn2n.constants import (
    N2N_FLAGS_SOCKET,
    N2N_FORWARDED_REG_COOKIE,
    N2N_LOCAL_REG_COOKIE,
    N2N_MCAST_REG_COOKIE,
    N2N_MULTICAST_GROUP,
    N2N_MULTICAST_PORT,
    N2N_PORT_REG_COOKIE,
    N2N_REGULAR_REG_COOKIE,
    PEER_PURGE_TIMEOUT,
    PURGE_REGISTRATION_FREQ,
)
from pyn2n.core.api import Addr
from pyn2n.core.edge.state import EdgeState, RxContext, peer_addr
from pyn2n.core.events import Event, PeerAction
from pyn2n.core.peers import NO_SOCK, Peer
from pyn2n.core.selection import NULL_MAC
from pyn2n.wire import WireError
from pyn2n.wire.messages import PeerInfo, QueryPeer, Register, RegisterAck, decode, encode

DevAddr = tuple[str, int] | None
LAN_GROUP: Addr = (N2N_MULTICAST_GROUP, N2N_MULTICAST_PORT)  # n2n's LAN discovery
PREDICTED_PORTS = 16  # n2n: -L above 1 punches this many ports from the announced one up
CLOSE_SOCKET_COUNTER_MAX = 15  # n2n: supernode give-ups without a direct peer before a re-open


@dataclass(slots=True, frozen=True)
class TtlDatagrams(Event):
    """-L: hole-punching REGISTERs the driver sends with IP_TTL `ttl` (that send only)."""

    kind: ClassVar[str] = "ttl_datagrams"
    ttl: int
    datagrams: tuple[tuple[bytes, Addr], ...]

    def data(self) -> dict[str, Any]:
        return {"ttl": self.ttl, "count": len(self.datagrams)}


@dataclass(slots=True, frozen=True)
class ReopenSocket(Event):
    """The driver closes the UDP socket and opens a fresh one (n2n: in multi-NAT setups a
    socket whose mappings went stale never reaches a supernode again)."""

    kind: ClassVar[str] = "reopen_socket"
    give_ups: int


def after_give_up(st: EdgeState, count: int) -> int:
    """n2n `update_supernode_reg`: one more supernode given up on; with no direct peer (which
    would show the socket works) the 15th asks the driver to re-open the socket. The new count."""
    if st.peers.known:
        return count
    count += 1
    if count < CLOSE_SOCKET_COUNTER_MAX:
        return count
    st.events.append(ReopenSocket(count))
    return 0


class Discovery:
    """Moves peers between unknown, pending and known; owns the peer purge deadlines."""

    def __init__(self, st: EdgeState, now: float) -> None:
        self.st = st
        self.next_purge_known = now + PURGE_REGISTRATION_FREQ
        self.next_purge_pending = now + PURGE_REGISTRATION_FREQ

    def purge(self, now: float, sn_answers: bool) -> None:
        """Drop peers unseen for 60 s; known peers stay while no supernode answers (n2n)."""
        peers = self.st.peers
        before = now - PEER_PURGE_TIMEOUT
        if sn_answers and now >= self.next_purge_known:
            for peer in peers.purge_known(before):
                self.st.peer_event(PeerAction.PURGE, peer)
            self.next_purge_known = now + PURGE_REGISTRATION_FREQ
        if now >= self.next_purge_pending:
            for peer in peers.purge_pending(before):
                self.st.peer_event(PeerAction.PURGE, peer)
            self.next_purge_pending = now + PURGE_REGISTRATION_FREQ

    # -- REGISTER / REGISTER_ACK -----------------------------------------------------------

    def on_register(self, ctx: RxContext, reg: Register) -> None:
        """Another edge registers with us, directly or relayed (spec §7.4)."""
        st = self.st
        now = ctx.now
        from_sn = ctx.sn is not None
        orig = peer_addr(reg.sock, st.ipv6) or ctx.addr
        if reg.dst_mac != st.mac:
            st.drops["not_for_us"] += 1
            return
        src = reg.src_mac
        if src[0] & 1 or src == st.mac or src == NULL_MAC:
            st.drops["bad_mac"] += 1
            return
        if not from_sn:
            st.peers.pending.pop(src, None)
            st.send(RegisterAck(reg.cookie, src, st.mac), orig, p2p=True)
        dev = None
        if reg.dev_addr.net_addr and reg.dev_addr.bitlen:
            dev = (str(ipaddress.IPv4Address(reg.dev_addr.net_addr)), reg.dev_addr.bitlen)
        desc = reg.dev_desc.split(b"\x00", 1)[0].decode("utf-8", "replace")
        peer = st.peers.known.get(src)
        if peer is None:
            self.unknown_sender(from_sn, src, dev, desc, orig, now)
            return
        if not from_sn:
            peer.last_p2p = now
        if dev is not None:
            peer.dev_addr = dev
        peer.desc = desc
        if peer.sock == orig:
            peer.last_seen = now
        elif not from_sn and (now - peer.last_seen >= 1.0 or reg.cookie > peer.last_cookie):
            self.known_sock_changed(peer, orig, dev, desc, now)

    def on_register_ack(self, ctx: RxContext, ack: RegisterAck) -> None:
        """A peer answers our REGISTER: pending -> known (n2n peer_set_p2p_confirmed)."""
        st = self.st
        if ack.dst_mac != st.mac:
            st.drops["not_for_us"] += 1
            return
        peers = st.peers
        addr = ctx.addr
        peer = peers.pending.get(ack.src_mac)
        if peer is None:
            peer = peers.find_pending_by_sock(addr)
            if peer is not None:
                peer.last_cookie = 0
        if peer is None:
            st.drops["register_ack_unknown"] += 1
            return
        del peers.pending[peer.mac]
        confirmed = self._confirm(peer, ack, addr, ctx.now)
        if confirmed is None:
            st.drops["table_full"] += 1
            return
        now = ctx.now
        confirmed.last_p2p = now
        confirmed.last_seen = now
        if confirmed.reg_sent is not None:
            confirmed.rtt = now - confirmed.reg_sent
            confirmed.reg_sent = None
        st.peer_event(PeerAction.ADD_P2P, confirmed)
        if st.fast is not None:
            st.fast.peer_up(confirmed, now)

    def _confirm(self, peer: Peer, ack: RegisterAck, addr: Addr, now: float) -> Peer | None:
        """The pending `peer` answered from `addr`: the known peer it is now (None: no room)."""
        peers = self.st.peers
        mac = ack.src_mac
        other = peers.find_known_by_sock(addr)
        if other is not None:
            # the socket already belongs to a known peer: it changed its MAC (n2n)
            self.st.peer_event(PeerAction.DEL_P2P, peer)
            if peer.reg_sent is not None:
                other.reg_sent = peer.reg_sent
            peers.rename_known(other, mac)
            other.last_cookie = 0
            return other
        peer.mac = mac
        # ignore ACKs from lower ranked ways for a while (n2n)
        if now - peer.last_seen > PEER_PURGE_TIMEOUT / 4 or ack.cookie > peer.last_cookie:
            peer.sock = addr
            peer.last_cookie = ack.cookie
        return peer if peers.add_known(peer) else None

    # -- PEER_INFO -------------------------------------------------------------------------

    def on_peer_info(self, ctx: RxContext, info: PeerInfo) -> None:
        """The supernode tells us where a peer we asked about sits: punch towards it."""
        st = self.st
        now = ctx.now
        where = peer_addr(info.sock, st.ipv6)
        if where is None:
            st.drops["invalid_sock"] += 1
            return
        peers = st.peers
        peer = peers.pending.get(info.mac)
        known = False
        if peer is None:
            peer = peers.known.get(info.mac)
            known = peer is not None
        if peer is None:
            st.drops["peer_info_unknown"] += 1
            return
        if known:
            peers.set_known_sock(peer, where)
        else:
            peer.sock = where
        if ctx.common.flags & N2N_FLAGS_SOCKET:
            preferred = peer_addr(info.preferred_sock, st.ipv6)
            if preferred is not None:
                peer.preferred_sock = preferred
                st.send_register(preferred, peer.mac, N2N_LOCAL_REG_COOKIE, now)
        st.send_register(where, peer.mac, N2N_REGULAR_REG_COOKIE, now)

    # -- senders seen on other messages ------------------------------------------------------

    def unknown_sender(
        self, from_sn: bool, mac: bytes, dev: DevAddr, desc: str | None, orig: Addr, now: float
    ) -> None:
        """A MAC not among the known peers (n2n check_peer_registration_needed, first half)."""
        peers = self.st.peers
        moved = peers.find_known_by_sock(orig)
        if moved is not None:
            # same socket, new MAC: the edge restarted with another MAC (n2n)
            peers.rename_known(moved, mac)
            moved.last_cookie = 0
            if not from_sn:
                moved.last_p2p = now
            moved.last_seen = now
            return
        self.register_with_new_peer(from_sn, mac, dev, desc, orig, now)

    def register_with_new_peer(
        self, from_sn: bool, mac: bytes, dev: DevAddr, desc: str | None, sock: Addr, now: float
    ) -> None:
        """n2n `register_with_new_peer`: add to pending and punch (direct + via supernode)."""
        st = self.st
        peer = st.peers.pending.get(mac)
        if peer is None:
            peer = self._add_pending(mac, sock, now)
            if peer is None:
                return
            ttl = st.config.register_ttl
            if not from_sn or ttl == 0:
                st.send_register(sock, mac, N2N_REGULAR_REG_COOKIE, now)
            elif ttl > 1:
                self._predict_ports(sock, mac, ttl, now)
            # -L 1 (a host without NAT): the peer answers our forwarded REGISTER (n2n)
            if from_sn:
                st.send_register(st.sns.current.addr, mac, N2N_FORWARDED_REG_COOKIE, now)
            self.register_with_local_peers()
        else:
            peer.sock = sock
        peer.last_seen = now
        if dev is not None:
            peer.dev_addr = dev
        if desc is not None:
            peer.desc = desc

    def register_with_local_peers(self) -> None:
        """n2n: a REGISTER to nobody in particular on the LAN's multicast group, so a peer on
        our own LAN answers from its LAN address (no NAT hairpin needed); not with -e or -S1."""
        st = self.st
        if st.config.local_discovery and st.allow_p2p and st.config.preferred_sock is None:
            reg = Register(N2N_MCAST_REG_COOKIE, st.mac, NULL_MAC, None, st.dev_addr(), st.desc)
            st.send(reg, LAN_GROUP)

    def on_local(self, data: bytes, addr: Addr, now: float) -> None:
        """A datagram on the LAN discovery socket: a peer's multicast REGISTER is taken like a
        direct one (n2n `via_multicast`): answered, and the peer registered with at `addr`."""
        st = self.st
        stamp = None
        if st.secure is not None:
            opened = st.secure.open(data)
            if opened is None:
                st.drops["he_decrypt"] += 1
                return
            data, stamp = opened.packet, opened.stamp
        try:
            common, msg = decode(data)
        except WireError:
            st.drops["decode"] += 1
            return
        if not isinstance(msg, Register) or msg.dst_mac != NULL_MAC or data[4:24] != st.community20:
            st.drops["local_unexpected"] += 1
            return
        if msg.src_mac == st.mac:
            st.drops["local_self"] += 1
            return
        if stamp is not None and not st.secure.check_stamp(msg.src_mac, stamp, common.pc):  # type: ignore[union-attr]
            st.drops["replay"] += 1
            return
        ctx = RxContext(common, addr, None, stamp, msg.src_mac, now)
        self.on_register(ctx, dataclasses.replace(msg, dst_mac=st.mac))

    def _predict_ports(self, sock: Addr, mac: bytes, ttl: int, now: float) -> None:
        """n2n -L above 1: REGISTERs to the next ports with a short TTL, so they open our NAT
        towards a peer behind a symmetric NAT without reaching (and angering) its NAT."""
        st = self.st
        if not st.allow_p2p:
            return
        host, port = sock
        out = []
        for step in range(PREDICTED_PORTS):
            p = (port + step) & 0xFFFF
            if p:
                data = encode(
                    st.common,
                    Register(N2N_PORT_REG_COOKIE, st.mac, mac, None, st.dev_addr(), st.desc),
                )
                out.append((st.secure.seal(data) if st.secure is not None else data, (host, p)))
        peer = st.peers.pending.get(mac)
        if peer is not None:
            peer.reg_sent = now
        st.events.append(TtlDatagrams(ttl, tuple(out)))

    def _add_pending(self, mac: bytes, sock: Addr, now: float) -> Peer | None:
        """A new pending peer, or None (counted) when the table is full."""
        peer = self.st.peers.add_pending(mac, sock, now)
        if peer is None:
            self.st.drops["table_full"] += 1
        return peer

    def known_sock_changed(
        self, peer: Peer, sock: Addr, dev: DevAddr, desc: str | None, now: float
    ) -> None:
        """A known peer speaks directly from another socket: it is no longer known (n2n)."""
        self.st.peers.remove_known(peer.mac)
        self.st.peer_event(PeerAction.DEL_P2P, peer)
        self.register_with_new_peer(False, peer.mac, dev, desc, sock, now)

    def query_peer(self, mac: bytes, now: float, sock: Addr = NO_SOCK) -> None:
        """Relayed unicast: at most once per interval ask the supernode about the peer, and
        probe its last direct socket if it had one (pyn2n: that path often still works, and a
        REGISTER_ACK brings it back without the supernode, which may be gone)."""
        st = self.st
        peer = st.peers.pending.get(mac) or self._add_pending(mac, sock, now)
        if peer is None:
            return
        last = peer.last_sent_query
        if last is None or now - last > st.interval:
            sn = st.sns.current.addr
            if peer.sock != NO_SOCK:
                st.send_register(peer.sock, mac, N2N_REGULAR_REG_COOKIE, now)
            st.send_register(sn, mac, N2N_FORWARDED_REG_COOKIE, now)
            st.send(QueryPeer(st.mac, mac), sn)
            peer.last_sent_query = now
