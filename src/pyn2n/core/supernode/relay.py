"""Supernode relay and lookup (spec §7.4, §7.5): PACKET, REGISTER, QUERY_PEER, PEER_INFO.

Unicast goes to the registered edge with SOCKET|FROM_SUPERNODE and the sender's public socket
added, else to the supernode the MAC is associated with, else to all active members (from an edge
only); broadcast and multicast PACKETs to every other edge of the community and, when they came
from an edge, to every member heard from within 90 s. QUERY_PEER is answered with PEER_INFO; a
null target is a PING answered with a PONG; unknown targets are asked of the federation and the
owner's PEER_INFO is passed back to the asking edge.

pyn2n extension (docs/multicast.md): a PACKET from an edge with the null sock (SKIP_MARK) ends in
a list of edges the sender served directly; the fan-out skips them (the list is stripped before
anything is sent on). A QUERY_PEER whose aflags are SKIP_CAPABLE (an edge asks about itself)
gets its PEER_INFO with them: "I skip".
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pyn2n.constants import (
    N2N_DEFAULT_TTL,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_SOCKET,
    N2N_PKT_VERSION,
)
from pyn2n.core.api import Addr
from pyn2n.core.supernode.registry import Community, HeaderMode
from pyn2n.wire import (
    MSG_TYPE_PACKET,
    PACKET_HEADER_SIZE,
    Common,
    PeerInfo,
    QueryPeer,
    Register,
    encode,
    encode_packet,
)
from pyn2n.wire.membership import SKIP_CAPABLE, SKIP_MARK, split_skip
from pyn2n.wire.types import NULL_MAC, Sock, encode_sock, is_multi_broadcast

if TYPE_CHECKING:
    from pyn2n.core.supernode.node import Rx, Supernode

FWD_FLAGS = N2N_FLAGS_SOCKET | N2N_FLAGS_FROM_SUPERNODE
_PLAIN = HeaderMode.PLAIN
# decode_packet_header's result: (src, dst, sock, compression, transform, payload offset)
PacketHead = tuple[bytes, bytes, Sock | None, int, int, int]


# the common header of a relayed PACKET by its received ttl: ttl - 1, SOCKET | FROM_SUPERNODE
_FWD_HEAD = [
    bytes((N2N_PKT_VERSION, max(0, ttl - 1), 0, FWD_FLAGS | MSG_TYPE_PACKET)) for ttl in range(256)
]
_PLAIN_EDGE_PACKET = bytes((0, MSG_TYPE_PACKET))  # flags bytes of an edge's own PACKET
SOCK_CACHE = 65536  # encoded senders' socks kept (then forgotten at once)


class Relay:
    """Forwarding and peer lookup for one supernode."""

    def __init__(self, sn: Supernode) -> None:
        self._sn = sn
        self._stats = sn.stats
        self._socks: dict[Addr, bytes] = {}
        self._by_field = sn.registry.by_field
        self._out = sn.outbox

    def plain_packet(self, data: bytes, addr: Addr, now: float) -> bool:
        """The relay's fast lane (§7.5): an edge's plaintext PACKET (no SOCKET flag, no options,
        ttl left, an exact community field) of a plaintext community is forwarded here with the
        sender's socket added, without the generic dispatch; it keeps that dispatch's rules
        (scope, ttl, statistics; plaintext has no time stamp). False: anything else, which
        takes the generic way."""
        if (
            data[2:4] != _PLAIN_EDGE_PACKET
            or data[0] != N2N_PKT_VERSION
            or not data[1]
            or len(data) < PACKET_HEADER_SIZE
        ):
            return False
        comm = self._by_field.get(data[4:24])
        if comm is None or comm.he is not _PLAIN:
            return False
        self._stats.last_fwd = now
        sock = self._socks.get(addr)
        if sock is None:
            sock = self._sock(addr)
        out = b"".join((_FWD_HEAD[data[1]], data[4:36], sock, data[36:]))
        dst = data[30:36]
        edge = comm.edges.get(dst)
        if edge is not None:  # `forward`'s first case, inline
            self._out.append((out, edge.addr))
            self._stats.fwd += 1
        elif dst[0] & 1 and is_multi_broadcast(dst):
            self.broadcast(comm, data[24:30], False, out, now)
        else:
            self.forward(comm, dst, False, out, now)
        return True

    def _sock(self, addr: Addr) -> bytes:
        if len(self._socks) >= SOCK_CACHE:
            self._socks.clear()
        sock = self._socks[addr] = encode_sock(Sock(addr[0], addr[1]))
        return sock

    # -- PACKET / REGISTER (§7.4, §7.5) ------------------------------------------------------

    def on_packet(self, rx: Rx, head: PacketHead) -> None:
        comm = rx.comm
        assert comm is not None  # scope: an edge community
        src, dst, sock, compression, transform, off = head
        skip: frozenset[bytes] = frozenset()
        if rx.sn is None:
            end = len(rx.plain)
            flags = rx.common.flags
            if sock is not None and sock == SKIP_MARK:
                # pyn2n: the edges the sender served directly follow the payload
                split = split_skip(rx.plain, off)
                if split is None:
                    self._sn.drop("decode")
                    return
                end, skip = split
            # add the sender's public socket (§4 PACKET); ttl - 1, payload unchanged
            out = encode_packet(
                comm.field20,
                src,
                dst,
                compression,
                transform,
                rx.plain[off:end],
                ttl=rx.common.ttl - 1,
                flags=flags | FWD_FLAGS,
                sock=Sock(rx.addr[0], rx.addr[1]),
            )
        else:
            out = rx.plain
        out = self._sn.header.seal(comm, out)
        if is_multi_broadcast(dst):
            self.broadcast(comm, src, rx.sn is not None, out, rx.now, skip)
        else:
            self.forward(comm, dst, rx.sn is not None, out, rx.now)

    def on_register(self, rx: Rx, reg: Register) -> None:
        comm = rx.comm
        assert comm is not None  # scope: an edge community
        if is_multi_broadcast(reg.dst_mac):
            self._sn.drop("register_multicast")
            return
        if rx.sn is None:
            fwd = Register(
                reg.cookie,
                reg.src_mac,
                reg.dst_mac,
                Sock(rx.addr[0], rx.addr[1]),
                reg.dev_addr,
                reg.dev_desc,
            )
            common = rx.common
            out = encode(Common(0, common.ttl - 1, common.flags | FWD_FLAGS, comm.name), fwd)
        else:
            out = rx.plain
        self.forward(comm, reg.dst_mac, rx.sn is not None, self._sn.header.seal(comm, out), rx.now)

    def forward(self, comm: Community, dst: bytes, from_sn: bool, data: bytes, now: float) -> None:
        """n2n `try_forward`: to the edge, else its supernode, else every active member."""
        edge = comm.edges.get(dst)
        if edge is not None:
            self._sn.send(data, edge.addr)
            self._stats.fwd += 1
        elif from_sn:
            self._sn.drop("unknown_destination")
        else:
            assoc = comm.assoc.get(dst)
            if assoc is not None:
                self._sn.send(data, assoc.addr)
                self._stats.fwd += 1
            elif not self.to_federation(data, now):
                self._sn.drop("unknown_destination")

    def broadcast(
        self,
        comm: Community,
        src: bytes,
        from_sn: bool,
        data: bytes,
        now: float,
        skip: frozenset[bytes] = frozenset(),
    ) -> None:
        """n2n `try_broadcast`: every edge but the sender (and, pyn2n, but those in `skip`),
        plus (from an edge) every active member. Sealed once: the identical datagram goes to
        every recipient."""
        if not from_sn:
            self.to_federation(data, now)
        send = self._sn.send
        for mac, edge in comm.edges.items():
            if mac != src and mac not in skip:
                send(data, edge.addr)
                self._stats.broadcast += 1
        if skip:
            self._stats.broadcast_skipped += len(skip)

    def to_federation(self, data: bytes, now: float) -> int:
        """Send to every member heard from within 90 s; returns how many."""
        members = self._sn.federation.active(now)
        for member in members:
            self._sn.send(data, member.addr)
        self._stats.broadcast += len(members)
        return len(members)

    # -- QUERY_PEER / PEER_INFO (§7.4) -------------------------------------------------------

    def _peer_info(
        self, now: float, src: bytes, mac: bytes, sock: Sock, preferred: Sock | None
    ) -> PeerInfo:
        sn = self._sn
        load = _swap32(sn.registry.load())
        return PeerInfo(0, src, mac, sock, preferred, load, int(now - sn.start_time), sn.version)

    def on_query_peer(self, rx: Rx, query: QueryPeer) -> None:
        sn, comm, common = self._sn, rx.comm, rx.common
        if comm is None and not sn.registry.allowed_on_the_fly(common.community):
            sn.drop("community_not_allowed")
            return
        if query.target_mac == NULL_MAC:
            # PING -> PONG (§4 PEER_INFO); the community need not exist here (federation)
            pong = self._peer_info(rx.now, sn.mac, NULL_MAC, Sock(rx.addr[0], rx.addr[1]), None)
            reply = Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, common.community)
            sn.send(sn.header.seal(comm, encode(reply, pong)), rx.addr)
            return
        if comm is None or comm.is_federation:
            sn.drop("unknown_community")
            return
        target = comm.edges.get(query.target_mac)
        if target is not None:
            sock = Sock(target.addr[0], target.addr[1])
            info = self._peer_info(rx.now, query.src_mac, query.target_mac, sock, target.preferred)
            if query.aflags == SKIP_CAPABLE:
                info = replace(info, aflags=SKIP_CAPABLE)  # pyn2n: we honour skip lists
            out = encode(Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, comm.name), info)
            sn.send(sn.header.seal(comm, out), rx.addr)
            return
        if rx.sn is not None:
            sn.drop("unknown_destination")
            return
        # ask the federation; the owner answers us and on_peer_info passes it on (§7.4)
        ask_common = Common(0, common.ttl - 1, common.flags | N2N_FLAGS_FROM_SUPERNODE, comm.name)
        ask = sn.header.seal(comm, encode(ask_common, query))
        assoc = comm.assoc.get(query.target_mac)
        if assoc is not None:
            sn.send(ask, assoc.addr)
        elif not self.to_federation(ask, rx.now):
            sn.drop("unknown_destination")

    def on_peer_info(self, rx: Rx, info: PeerInfo) -> None:
        comm = rx.comm
        assert comm is not None  # scope: a member's answer about an edge community
        edge = comm.edges.get(info.src_mac)
        if edge is None or info.src_mac == NULL_MAC:
            self._sn.drop("unknown_destination")
            return
        self._sn.registry.associate(comm, info.mac, rx.addr, rx.now)
        out = encode(Common(0, rx.common.ttl - 1, rx.common.flags, comm.name), info)
        self._sn.send(self._sn.header.seal(comm, out), edge.addr)


def _swap32(value: int) -> int:
    """Byte-swapped u32: n2n edges apply be32toh to the PONG load they decoded (§7.2)."""
    return int.from_bytes(min(value, 0xFFFFFFFF).to_bytes(4, "big"), "little")
