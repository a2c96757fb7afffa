"""Supernode capacity and flood defence in memory: bounds per source IP (edge count, token bucket
for new registrations, on-the-fly communities), the total bound with eviction from the heaviest
source, consistent counts through purge, unregistration and moves, compact edge records and
join notices limited for the log."""

from __future__ import annotations

import random

from pyn2n.constants import N2N_AUTH_SIMPLE_ID
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.events import OperatorNotice
from pyn2n.core.supernode import Supernode
from pyn2n.wire import Common, RegisterSuper, RegisterSuperAck, UnregisterSuper, decode, encode
from pyn2n.wire.types import Auth, IpSubnet

T0 = 1_700_000_000.0
FLOOD_IP = "198.18.9.2"


def make_sn(**kw: object) -> Supernode:
    r = random.Random(1)
    return Supernode(SupernodeConfig(**kw), lambda n: r.randbytes(n), T0)  # type: ignore[arg-type]


def mac(i: int) -> bytes:
    return bytes([2, 0xAA]) + i.to_bytes(4, "big")


def tok(i: int) -> Auth:
    return Auth(N2N_AUTH_SIMPLE_ID, i.to_bytes(16, "big"))


def reg(i: int, community: bytes = b"net", desc: bytes = b"e") -> bytes:
    msg = RegisterSuper(i, mac(i), None, IpSubnet(0x0A000000 + i, 8), desc, tok(i))
    return encode(Common(0, 2, 0, community), msg)


def acked(sn: Supernode, data: bytes, addr: tuple[str, int], now: float = T0) -> bool:
    sn.receive_datagram(data, addr, now)
    out = [decode(d)[1] for d, a in sn.datagrams_to_send() if a == addr]
    return any(isinstance(m, RegisterSuperAck) for m in out)


def total(sn: Supernode) -> int:
    return sum(len(c.edges) for c in sn.registry.communities.values())


def test_one_source_fills_only_its_share_and_a_real_pair_still_joins() -> None:
    sn = make_sn(max_edges_per_ip=50)
    admitted = sum(acked(sn, reg(i), (FLOOD_IP, 1024 + i)) for i in range(500))
    assert admitted == 50 and sn.drops["source_edges"] == 450
    assert acked(sn, reg(100_001), ("198.18.1.2", 7777))
    assert acked(sn, reg(100_002), ("198.18.2.2", 7777))
    # the flooder's admitted edges still re-register; the table holds its share plus the pair
    assert acked(sn, reg(0), (FLOOD_IP, 1024))
    assert total(sn) == sn.registry.n_edges == 52


def test_new_registrations_per_source_follow_a_token_bucket() -> None:
    sn = make_sn(new_edges_per_ip_rate=10.0, new_edges_per_ip_burst=20)
    got = sum(acked(sn, reg(i), (FLOOD_IP, 2000 + i)) for i in range(40))
    assert got == 20 and sn.drops["source_rate"] == 20
    # one second later: ten more tokens; re-registrations never need one
    later = T0 + 1.0
    got = sum(acked(sn, reg(i), (FLOOD_IP, 2000 + i), later) for i in range(40, 60))
    assert got == 10
    assert all(acked(sn, reg(i), (FLOOD_IP, 2000 + i), later) for i in range(20))


def test_a_full_table_evicts_from_the_heaviest_source_not_from_small_ones() -> None:
    sn = make_sn(max_edges=12)
    assert all(acked(sn, reg(i), (FLOOD_IP, 3000 + i)) for i in range(10))
    assert acked(sn, reg(50), ("198.18.1.2", 5000))
    assert acked(sn, reg(51), ("198.18.2.2", 5000))
    # full: newcomers from other sources take the flooder's places, the flooder takes none
    assert acked(sn, reg(52), ("198.18.3.2", 5000), T0 + 1)
    assert acked(sn, reg(53), ("198.18.4.2", 5000), T0 + 1)
    assert not acked(sn, reg(99), (FLOOD_IP, 4000), T0 + 1)
    assert sn.registry.n_edges == 12 and sn.registry.evicted == 2
    net = sn.registry.communities[b"net"]
    assert {mac(50), mac(51), mac(52), mac(53)} <= set(net.edges)
    assert sn.registry.limits.by_ip[FLOOD_IP].edges == 8


def test_on_the_fly_communities_per_source_are_bounded() -> None:
    sn = make_sn(max_communities_per_ip=3)
    got = [acked(sn, reg(i, community=b"c%d" % i), (FLOOD_IP, 6000 + i)) for i in range(5)]
    assert got == [True, True, True, False, False]
    assert sn.drops["source_communities"] == 2
    assert acked(sn, reg(9, community=b"other"), ("198.18.1.2", 6000))


def test_counts_follow_purge_unregister_and_moves() -> None:
    sn = make_sn()
    for i in range(4):
        assert acked(sn, reg(i), (FLOOD_IP, 7000 + i))
    # a NAT rebinding: edge 0 comes back from another IP; edge 1 from another port
    assert acked(sn, reg(0), ("198.18.5.2", 7000), T0 + 1)
    assert acked(sn, reg(1), (FLOOD_IP, 7999), T0 + 1)
    limits = sn.registry.limits
    assert limits.by_ip[FLOOD_IP].edges == 3 and limits.by_ip["198.18.5.2"].edges == 1
    unreg = encode(Common(0, 2, 0, b"net"), UnregisterSuper(tok(2), mac(2)))
    sn.receive_datagram(unreg, (FLOOD_IP, 7002), T0 + 2)
    assert sn.registry.n_edges == 3 and limits.by_ip[FLOOD_IP].edges == 2
    sn.handle_timer(T0 + 200)  # everything purged, the community and the sources with it
    assert sn.registry.n_edges == 0 and b"net" not in sn.registry.communities
    assert limits.by_ip == {}


def test_a_new_mac_on_a_known_tap_address_is_found_by_the_index() -> None:
    sn = make_sn()
    assert acked(sn, reg(1), (FLOOD_IP, 8000))
    moved = RegisterSuper(5, mac(77), None, IpSubnet(0x0A000001, 8), b"e", tok(1))
    assert acked(sn, encode(Common(0, 2, 0, b"net"), moved), (FLOOD_IP, 8000))
    net = sn.registry.communities[b"net"]
    assert set(net.edges) == {mac(77)} and net.by_ip == {0x0A000001: mac(77)}
    other = RegisterSuper(6, mac(78), None, IpSubnet(0x0A000001, 8), b"e", tok(9))
    sn.receive_datagram(encode(Common(0, 2, 0, b"net"), other), (FLOOD_IP, 8001), T0)
    assert sn.drops["spoofed_mac"] == 1  # the same TAP address with another token


def test_edge_records_are_compact_and_decode_their_fields() -> None:
    sn = make_sn()
    assert acked(sn, reg(3, desc=b"laptop"), (FLOOD_IP, 9000))
    edge = sn.registry.communities[b"net"].edges[mac(3)]
    assert not hasattr(edge, "__dict__")
    assert edge.dev_addr == IpSubnet(0x0A000003, 8) and edge.desc == b"laptop"
    assert edge.auth == tok(3)
    assert edge.addr[0] is sn.registry.limits.by_ip[FLOOD_IP].ip  # one string per source
    # a changed desc is kept, the stored token is not replaced
    assert acked(sn, reg(3, desc=b"desk"), (FLOOD_IP, 9000))
    assert edge.desc == b"desk" and edge.auth == tok(3)


def test_join_notices_are_limited_and_summed_up() -> None:
    sn = make_sn()
    for i in range(600):
        acked(sn, reg(i), (f"198.18.{10 + i // 200}.2", 1000 + i))
    notices = [e for e in sn.events() if isinstance(e, OperatorNotice)]
    assert 150 <= len(notices) <= 250
    sn.handle_timer(T0 + 1)
    summary = [e for e in sn.events() if isinstance(e, OperatorNotice)]
    assert summary and "more edges joined or left" in summary[-1].text


# --- the relay's fast lane ----------------------------------------------------------------------


def _two_edges() -> Supernode:
    sn = make_sn()
    assert acked(sn, reg(1), ("198.18.1.2", 5001))
    assert acked(sn, reg(2), ("198.18.2.2", 5002))
    return sn


def test_the_fast_lane_relays_exactly_what_the_generic_way_does() -> None:
    from pyn2n.wire import encode_packet, pad_community
    from pyn2n.wire.types import Sock

    field = pad_community(b"net")
    for dst in (mac(2), b"\xff" * 6):
        pkt = encode_packet(field, mac(1), dst, 1, 3, b"payload" * 20, ttl=2)
        fast, slow = _two_edges(), _two_edges()
        slow.relay.plain_packet = lambda *a: False  # type: ignore[method-assign]
        slow._plain_packet = slow.relay.plain_packet  # type: ignore[attr-defined]
        for sn in (fast, slow):
            sn.receive_datagram(pkt, ("198.18.1.2", 5001), T0 + 1)
        got_fast, got_slow = fast.datagrams_to_send(), slow.datagrams_to_send()
        assert got_fast == got_slow and len(got_fast) == 1
        want = encode_packet(
            field, mac(1), dst, 1, 3, b"payload" * 20, ttl=1, flags=0x20,
            sock=Sock("198.18.1.2", 5001),
        )  # fmt: skip
        assert got_fast[0] == (want, ("198.18.2.2", 5002))
        assert fast.stats.last_fwd == slow.stats.last_fwd == T0 + 1


def test_the_fast_lane_leaves_other_packets_to_the_generic_way() -> None:
    from pyn2n.wire import encode_packet, pad_community

    sn = _two_edges()
    field = pad_community(b"net")
    spent = encode_packet(field, mac(1), mac(2), 1, 3, b"x", ttl=0)
    unknown = encode_packet(pad_community(b"nope"), mac(1), mac(2), 1, 3, b"x")
    for data in (spent, unknown, spent[:30]):
        assert not sn.relay.plain_packet(data, ("198.18.1.2", 5001), T0)
        sn.receive_datagram(data, ("198.18.1.2", 5001), T0)
    assert sn.datagrams_to_send() == []
    assert sn.drops["ttl"] == 2 and sn.drops["unknown_community"] == 1


def test_the_registration_fast_lane_answers_as_the_generic_way_does() -> None:
    fast, slow = make_sn(), make_sn()
    slow._known_edge = lambda *a: False  # type: ignore[attr-defined]
    for sn in (fast, slow):
        assert acked(sn, reg(7), ("198.18.1.2", 5001), T0)
        sn.events()
        sn.receive_datagram(reg(7), ("198.18.1.2", 5001), T0 + 20)
    got_fast, got_slow = fast.datagrams_to_send(), slow.datagrams_to_send()
    assert got_fast == got_slow and len(got_fast) == 1
    for sn in (fast, slow):
        edge = sn.registry.communities[b"net"].edges[mac(7)]
        assert edge.last_seen == T0 + 20 and sn.stats.reg_super == 2
    # another socket, desc or an auto-IP request takes the generic way (and is answered there)
    assert not fast.registration.known_edge(reg(7), ("198.18.1.2", 5009), T0 + 21)
    assert not fast.registration.known_edge(reg(7, desc=b"new"), ("198.18.1.2", 5001), T0 + 21)
    assert acked(fast, reg(7, desc=b"new"), ("198.18.1.2", 5001), T0 + 21)
    assert fast.registry.communities[b"net"].edges[mac(7)].desc == b"new"


def test_a_first_registration_by_the_fast_lane_is_the_generic_one() -> None:
    fast, slow = make_sn(), make_sn()
    slow._known_edge = lambda *a: False  # type: ignore[attr-defined]
    for sn in (fast, slow):
        assert acked(sn, reg(8, desc=b"first"), ("198.18.1.2", 5001), T0)
    for sn in (fast, slow):
        sn.receive_datagram(reg(9), ("198.18.1.2", 5002), T0)
    got_fast, got_slow = fast.datagrams_to_send(), slow.datagrams_to_send()
    assert got_fast == got_slow and len(got_fast) == 1
    a, b = (sn.registry.communities[b"net"].edges[mac(8)] for sn in (fast, slow))
    assert (a.reg, a.addr, a.last_seen) == (b.reg, b.addr, b.last_seen)
    assert fast.stats.reg_super == slow.stats.reg_super == 2
    # every truncation of a registration is dropped or answered, never raises
    whole = reg(10)
    for cut in range(len(whole)):
        fast.receive_datagram(whole[:cut], ("198.18.1.2", 5003), T0)
