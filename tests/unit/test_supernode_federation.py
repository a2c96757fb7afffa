"""Supernode federation in memory (spec §7.4, §7.6): registration between supernodes, learning
members from ACK lists, forwarded edge registrations and associations, relaying across
supernodes, purge timings, key_time adoption."""

from __future__ import annotations

import random

from pyn2n.constants import N2N_AUTH_SIMPLE_ID, N2N_FLAGS_FROM_SUPERNODE, N2N_FLAGS_SOCKET
from pyn2n.core.community import parse_community_file
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.secure import HeaderCrypto
from pyn2n.core.supernode import Supernode
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import (
    Common,
    Packet,
    PeerInfo,
    QueryPeer,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    decode,
    encode,
    encode_packet,
    pad_community,
)
from pyn2n.wire.types import Auth, IpSubnet, Sock

T0 = 1_700_000_000.0
SN1 = ("198.18.0.1", 7654)
SN2 = ("198.18.0.2", 7654)
SN3 = ("198.18.0.3", 7654)
E1 = ("198.18.1.1", 40001)
E2 = ("198.18.1.2", 40002)
E3 = ("198.18.1.3", 40003)
MAC1 = bytes.fromhex("0200000000a1")
MAC2 = bytes.fromhex("0200000000a2")
MAC3 = bytes.fromhex("0200000000a3")
FED = HeaderCrypto(b"*Federation")


def make(addr_seed: int, anchors=(), now: float = T0, **kw) -> Supernode:
    r = random.Random(addr_seed)
    return Supernode(SupernodeConfig(anchors=list(anchors), **kw), lambda n: r.randbytes(n), now)


class Mesh:
    """Delivers datagrams between supernodes (lossless, instant); keeps what goes elsewhere."""

    def __init__(self, nodes: dict[tuple[str, int], Supernode]) -> None:
        self.nodes = nodes
        self.down: set[tuple[str, int]] = set()
        self.outside: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []
        self.between: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []

    def flush(self, now: float) -> None:
        busy = True
        while busy:
            busy = False
            for src, node in self.nodes.items():
                for data, dst in node.datagrams_to_send():
                    if dst in self.nodes:
                        self.between.append((data, src, dst))
                        if src not in self.down and dst not in self.down:
                            self.nodes[dst].receive_datagram(data, src, now)
                            busy = True
                    else:
                        self.outside.append((data, src, dst))

    def run(self, until: float, step: float = 1.0) -> None:
        """Advance all timers to `until`, flushing after each tick."""
        t = min(n.get_timer() or until for n in self.nodes.values())
        while t <= until:
            for addr, node in self.nodes.items():
                if addr not in self.down and (nt := node.get_timer()) is not None and nt <= t:
                    node.handle_timer(t)
            self.flush(t)
            t += step

    def take_outside(self) -> list[tuple[bytes, tuple[str, int], tuple[str, int]]]:
        out, self.outside = self.outside, []
        return out


def edge_reg(mac: bytes, tok: int, community: bytes = b"net") -> bytes:
    msg = RegisterSuper(
        0x77,
        mac,
        None,
        IpSubnet(0x0A000000 | mac[-1], 24),
        b"e",
        Auth(N2N_AUTH_SIMPLE_ID, bytes([tok]) * 16),
    )
    return encode(Common(0, 2, 0, community), msg)


def pkt(src: bytes, dst: bytes, payload: bytes = b"x") -> bytes:
    return encode_packet(pad_community(b"net"), src, dst, 1, 1, payload)


def pair() -> tuple[Supernode, Supernode, Mesh]:
    s1 = make(1, anchors=[SN2])
    s2 = make(2)
    mesh = Mesh({SN1: s1, SN2: s2})
    mesh.run(T0)
    return s1, s2, mesh


def test_supernodes_register_with_anchors_and_learn_each_other() -> None:
    s1 = make(1, anchors=[SN2])
    s2 = make(2)
    s1.handle_timer(T0)
    ((data, dst),) = s1.datagrams_to_send()
    assert dst == SN2
    got = FED.open(data)  # the federation is always header-encrypted with its name
    assert got is not None
    common, reg = decode(got.packet)
    assert isinstance(reg, RegisterSuper)
    assert common.flags == N2N_FLAGS_FROM_SUPERNODE and common.community == b"*Federation"
    assert reg.edge_mac == s1.mac and reg.auth.scheme == N2N_AUTH_SIMPLE_ID
    s2.receive_datagram(data, SN1, T0)
    ((ack_data, back),) = s2.datagrams_to_send()
    assert back == SN1
    got = FED.open(ack_data)
    assert got is not None
    _, ack = decode(got.packet)
    assert isinstance(ack, RegisterSuperAck) and ack.cookie == reg.cookie
    assert ack.sock == Sock(*SN1) and ack.supernodes == ()  # not told about itself
    s1.receive_datagram(ack_data, SN2, T0)
    (m1,) = SupernodeViews(s1).mgmt_supernodes(T0)
    assert m1["macaddr"] != "" and m1["purgeable"] == 0 and m1["active"] == 1
    (m2,) = SupernodeViews(s2).mgmt_supernodes(T0)
    assert m2["sockaddr"] == "198.18.0.1:7654" and m2["purgeable"] == 1
    # plaintext federation traffic and REGISTER_SUPER without FROM_SUPERNODE are refused
    s2.receive_datagram(got.packet, SN1, T0)
    assert s2.drops["he_plaintext"] == 1


def test_members_learned_transitively_from_ack_lists() -> None:
    s1 = make(1, anchors=[SN2])
    s2 = make(2)
    s3 = make(3, anchors=[SN2])
    mesh = Mesh({SN1: s1, SN2: s2, SN3: s3})
    mesh.run(T0 + 120)
    for node, others in ((s1, {SN2, SN3}), (s3, {SN1, SN2}), (s2, {SN1, SN3})):
        known = {
            tuple(r["sockaddr"].split(":")) for r in SupernodeViews(node).mgmt_supernodes(T0 + 120)
        }
        assert {(a, str(p)) for a, p in others} == known


def test_reregistration_every_10s_when_silent_20s_and_purge_after_90s() -> None:
    s1, s2, mesh = pair()
    n_before = len(mesh.between)

    def regs_from_s1() -> int:
        sent = [FED.open(d) for d, src, _ in mesh.between[n_before:] if src == SN1]
        return sum(isinstance(decode(g.packet)[1], RegisterSuper) for g in sent if g)

    mesh.run(T0 + 25)  # rounds at +10, +20: S2 heard at T0, not silent > 20 s yet
    assert regs_from_s1() == 0
    mesh.run(T0 + 30)  # +30: silent 30 s > 20 s
    assert regs_from_s1() == 1
    # S1 goes silent: S2 purges it 90 s after it was last heard (rounds every 10 s)
    mesh.down.add(SN1)
    mesh.run(T0 + 120)
    assert SupernodeViews(s2).mgmt_supernodes(T0 + 120) != []
    mesh.run(T0 + 130)
    assert SupernodeViews(s2).mgmt_supernodes(T0 + 130) == []
    # the anchor S2 is never purged by S1
    s1.handle_timer(T0 + 500)
    assert len(SupernodeViews(s1).mgmt_supernodes(T0 + 500)) == 1


def test_edge_registration_forwarded_and_association_used_for_relay() -> None:
    s1, s2, mesh = pair()
    s2.receive_datagram(edge_reg(MAC2, 2), E2, T0 + 1)
    mesh.flush(T0 + 1)
    s1.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    fwd = [(d, dst) for d, dst in s1.datagrams_to_send() if dst == SN2]
    assert len(fwd) == 1
    common, msg = decode(fwd[0][0])
    assert isinstance(msg, RegisterSuper)
    assert common.flags == N2N_FLAGS_SOCKET | N2N_FLAGS_FROM_SUPERNODE
    assert msg.sock == Sock(*E1) and msg.edge_mac == MAC1
    s2.receive_datagram(fwd[0][0], SN1, T0 + 1)
    assert s2.datagrams_to_send() == []  # no ACK to a forwarded registration
    mesh.flush(T0 + 1)
    mesh.take_outside()
    # E2 -> MAC1: S2 sends to S1 (association), S1 delivers with E2's socket
    s2.receive_datagram(pkt(MAC2, MAC1, b"hi"), E2, T0 + 2)
    mesh.flush(T0 + 2)
    ((data, src, dst),) = mesh.take_outside()
    assert (src, dst) == (SN1, E1)
    common, p = decode(data)
    assert isinstance(p, Packet) and p.sock == Sock(*E2) and p.payload == b"hi"
    assert common.ttl == 1


def test_moved_edge_deleted_at_its_old_supernode() -> None:
    s1, s2, mesh = pair()
    s2.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    mesh.flush(T0 + 1)
    assert [r for r in SupernodeViews(s2).mgmt_edges(T0) if r["community"] == "net"]
    s1.receive_datagram(edge_reg(MAC1, 1), E3, T0 + 2)  # same token, via S1 now
    mesh.flush(T0 + 2)
    assert not [r for r in SupernodeViews(s2).mgmt_edges(T0) if r["community"] == "net"]
    assert [r for r in SupernodeViews(s1).mgmt_edges(T0) if r["community"] == "net"]


def test_mac_spoofing_refused_federation_wide() -> None:
    s1, s2, mesh = pair()
    s2.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    mesh.flush(T0 + 1)
    mesh.take_outside()
    s1.receive_datagram(edge_reg(MAC1, 9), E3, T0 + 2)  # attacker via S1, other token
    mesh.flush(T0 + 2)
    replies = [decode(d)[1] for d, src, dst in mesh.take_outside() if dst == E3]
    assert [type(m) for m in replies] == [RegisterSuperAck, RegisterSuperNak]
    assert not [r for r in SupernodeViews(s1).mgmt_edges(T0) if r["community"] == "net"]
    (row,) = [r for r in SupernodeViews(s2).mgmt_edges(T0) if r["community"] == "net"]
    assert row["sockaddr"] == "198.18.1.1:40001"  # the real edge keeps its registration


def test_broadcast_crosses_once_to_the_federation() -> None:
    s1, s2, mesh = pair()
    s1.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    s1.receive_datagram(edge_reg(MAC3, 3), E3, T0 + 1)
    s2.receive_datagram(edge_reg(MAC2, 2), E2, T0 + 1)
    mesh.flush(T0 + 1)
    mesh.take_outside()
    n_between = len(mesh.between)
    s1.receive_datagram(pkt(MAC1, b"\xff" * 6, b"arp"), E1, T0 + 2)
    mesh.flush(T0 + 2)
    got = sorted(dst for _, _, dst in mesh.take_outside())
    assert got == [E2, E3]
    hops = [(src, dst) for _, src, dst in mesh.between[n_between:]]
    assert hops == [(SN1, SN2)]  # S2 does not send it back


def test_unknown_unicast_goes_to_all_members_and_is_dropped_there() -> None:
    s1, s2, mesh = pair()
    s1.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    mesh.flush(T0 + 1)
    n_between = len(mesh.between)
    s1.receive_datagram(pkt(MAC1, MAC3), E1, T0 + 2)
    mesh.flush(T0 + 2)
    assert [(s, d) for _, s, d in mesh.between[n_between:]] == [(SN1, SN2)]
    assert s2.drops["unknown_destination"] == 1


def test_query_peer_answered_through_the_owning_supernode() -> None:
    s1, s2, mesh = pair()
    s1.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    s2.receive_datagram(edge_reg(MAC2, 2), E2, T0 + 1)
    mesh.flush(T0 + 1)
    mesh.take_outside()
    query = encode(Common(0, 2, 0, b"net"), QueryPeer(MAC1, MAC2))
    s1.receive_datagram(query, E1, T0 + 2)
    mesh.flush(T0 + 2)
    ((data, src, dst),) = mesh.take_outside()
    assert (src, dst) == (SN1, E1)
    _, info = decode(data)
    assert isinstance(info, PeerInfo)
    assert (info.src_mac, info.mac, info.sock) == (MAC1, MAC2, Sock(*E2))


def test_associations_expire_after_180_s() -> None:
    # a file community: an on-the-fly one without local edges goes (with its associations)
    # at the next 30 s sweep, as in n2n
    s1 = make(1, anchors=[SN2])
    s2 = make(2, communities=parse_community_file("net\n"))
    mesh = Mesh({SN1: s1, SN2: s2})
    mesh.run(T0)
    s1.receive_datagram(edge_reg(MAC1, 1), E1, T0 + 1)
    mesh.flush(T0 + 1)
    mesh.take_outside()
    mesh.down.add(SN1)
    mesh.run(T0 + 150)
    mesh.take_outside()
    s2.receive_datagram(pkt(MAC3, MAC1), E2, T0 + 150)  # association still known: to S1 only
    assert [d for _, d in s2.datagrams_to_send()] == [SN1]
    s2.handle_timer(T0 + 200)
    s2.receive_datagram(pkt(MAC3, MAC1), E2, T0 + 200)
    assert s2.datagrams_to_send() == []  # association gone, S1 purged: nowhere to go
    assert s2.drops["unknown_destination"] == 1


def test_highest_key_time_wins() -> None:
    cl = parse_community_file("pw\n")
    s1 = make(1, anchors=[SN2], communities=cl)
    s2 = make(2, now=T0 + 50, communities=cl)
    assert (s1.dynamic_key_time, s2.dynamic_key_time) == (int(T0), int(T0 + 50))
    mesh = Mesh({SN1: s1, SN2: s2})
    mesh.run(T0 + 50)
    assert s1.dynamic_key_time == s2.dynamic_key_time == int(T0 + 50)


def test_supernode_table_bounded() -> None:
    s2 = make(2, max_supernodes=1)
    for i, addr in enumerate((SN1, SN3)):
        s = make(10 + i, anchors=[SN2])
        s.handle_timer(T0)
        ((data, _),) = s.datagrams_to_send()
        s2.receive_datagram(data, addr, T0)
    assert len(SupernodeViews(s2).mgmt_supernodes(T0)) == 1
    assert s2.drops["table_full_supernodes"] == 1
