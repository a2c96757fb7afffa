"""Broadcast and multicast between pyn2n edges: IGMP/MLD snooping and the querier, the GROUPS
message, pruning to subscribers, the supernode's skip list, the receivers' dedupe, and delivery
while the supernode is dead (in memory: tests/simnet.py)."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as hs

from pyn2n.constants import MSG_TYPE_PYN2N_GROUPS
from pyn2n.core.edge.snoop import (
    MEMBERSHIP_TIMEOUT,
    LocalGroups,
    igmp_query,
    mld_query,
    prune_key,
    querier_mac,
)
from pyn2n.wire.membership import (
    GROUPS_COMPLETE,
    MAX_GROUPS,
    MAX_SKIP,
    Groups,
    decode_groups,
    encode_groups,
    mark_packet,
    split_skip,
)
from pyn2n.wire.messages import pad_community
from pyn2n.wire.packet import decode_packet_header, encode_packet
from tests.simnet import (
    COMMUNITY,
    PEER_ADDR,
    PEER_MAC,
    NatType,
    SimNet,
    _checksum,
    add_edge,
    arp_request,
    broadcast_udp_frame,
    copies,
    edge_of,
    ethernet,
    ipv4_multicast_frame,
    ipv4_multicast_mac,
    ipv6_multicast_frame,
    make_known,
    register_all,
    registered_edge,
    sim_ip,
    sim_mac,
    star_net,
)

FULL = NatType.FULL_CONE
PORT = NatType.PORT_RESTRICTED
GROUP = "239.1.2.3"
OTHER_GROUP = "239.9.9.9"


# -- frames a host sends ------------------------------------------------------------------------


def igmpv3_report(src_mac: bytes, src_ip: str, group: str, join: bool = True) -> bytes:
    """IGMPv3 report to 224.0.0.22: CHANGE_TO_EXCLUDE {} (join) or CHANGE_TO_INCLUDE {}."""
    record = struct.pack(">BBH4s", 4 if join else 3, 0, 0, ipaddress.IPv4Address(group).packed)
    body = struct.pack(">BBHHH", 0x22, 0, 0, 0, 1) + record
    body = body[:2] + struct.pack(">H", _checksum(body)) + body[4:]
    ip = struct.pack(
        ">BBHHHBBH4s4s4s",
        0x46,
        0xC0,
        24 + len(body),
        0,
        0,
        1,
        2,
        0,
        ipaddress.IPv4Address(src_ip).packed,
        bytes((224, 0, 0, 22)),
        b"\x94\x04\x00\x00",
    )
    return ethernet(ipv4_multicast_mac("224.0.0.22"), src_mac, 0x0800, ip + body)


def igmpv2(src_mac: bytes, src_ip: str, group: str, kind: int) -> bytes:
    """IGMPv2 report (0x16, to the group) or leave (0x17, to 224.0.0.2)."""
    dst = group if kind == 0x16 else "224.0.0.2"
    body = struct.pack(">BBH4s", kind, 0, 0, ipaddress.IPv4Address(group).packed)
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(body),
        0,
        0,
        1,
        2,
        0,
        ipaddress.IPv4Address(src_ip).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return ethernet(ipv4_multicast_mac(dst), src_mac, 0x0800, ip + body)


def mldv2_report(src_mac: bytes, group: str, join: bool = True) -> bytes:
    """MLDv2 report to ff02::16 from a link-local address, behind hop-by-hop router alert."""
    src = ipaddress.IPv6Address("fe80::1").packed
    dst = ipaddress.IPv6Address("ff02::16").packed
    record = struct.pack(">BBH16s", 4 if join else 3, 0, 0, ipaddress.IPv6Address(group).packed)
    body = struct.pack(">BBHHH", 143, 0, 0, 0, 1) + record
    hbh = b"\x3a\x00\x05\x02\x00\x00\x01\x00"
    ip6 = struct.pack(">IHBB", 6 << 28, len(hbh) + len(body), 0, 1) + src + dst
    return ethernet(b"\x33\x33\x00\x00\x00\x16", src_mac, 0x86DD, ip6 + hbh + body)


def mldv1(src_mac: bytes, group: str, kind: int) -> bytes:
    """MLDv1 report (131) or done (132), without extension headers."""
    src = ipaddress.IPv6Address("fe80::1").packed
    g = ipaddress.IPv6Address(group).packed
    body = struct.pack(">BBHHH16s", kind, 0, 0, 0, 0, g)
    ip6 = struct.pack(">IHBB", 6 << 28, len(body), 58, 1) + src + g
    return ethernet(b"\x33\x33" + g[12:], src_mac, 0x86DD, ip6 + body)


HOST = sim_mac(9)

# -- snooping -----------------------------------------------------------------------------------


def test_igmpv3_join_and_leave_are_snooped() -> None:
    local = LocalGroups()
    local.snoop(igmpv3_report(HOST, "198.19.0.9", GROUP), 0.0)
    assert local.macs() == (ipv4_multicast_mac(GROUP),) and local.changed
    local.changed = False
    local.snoop(igmpv3_report(HOST, "198.19.0.9", GROUP), 1.0)  # a refresh changes nothing
    assert not local.changed
    local.snoop(igmpv3_report(HOST, "198.19.0.9", GROUP, join=False), 2.0)
    assert local.macs() == () and local.changed


def test_igmpv2_mldv1_and_mldv2_are_snooped() -> None:
    local = LocalGroups()
    local.snoop(igmpv2(HOST, "198.19.0.9", GROUP, 0x16), 0.0)
    local.snoop(mldv1(HOST, "ff05::123", 131), 0.0)
    local.snoop(mldv2_report(HOST, "ff0e::abcd"), 0.0)
    assert set(local.macs()) == {
        ipv4_multicast_mac(GROUP),
        b"\x33\x33\x00\x00\x01\x23",
        b"\x33\x33\x00\x00\xab\xcd",
    }
    local.snoop(igmpv2(HOST, "198.19.0.9", GROUP, 0x17), 1.0)
    local.snoop(mldv1(HOST, "ff05::123", 132), 1.0)
    local.snoop(mldv2_report(HOST, "ff0e::abcd", join=False), 1.0)
    assert local.macs() == () and local.reports == 6


def test_link_local_groups_are_not_kept_and_never_pruned() -> None:
    local = LocalGroups()
    local.snoop(igmpv3_report(HOST, "198.19.0.9", "224.0.0.251"), 0.0)
    local.snoop(mldv2_report(HOST, "ff02::1:ff00:9"), 0.0)  # solicited-node
    assert local.macs() == () and local.reports == 2
    assert prune_key(ipv4_multicast_frame(HOST, "198.19.0.9", "224.0.0.18", 1, b"v")) is None
    assert prune_key(ipv6_multicast_frame(HOST, "fd00::9", "ff02::fb", 5353, b"m")) is None
    assert prune_key(broadcast_udp_frame(HOST, "198.19.0.9", 9, b"b")) is None
    assert prune_key(arp_request(HOST, "198.19.0.9", "198.19.0.1")) is None
    assert prune_key(ipv4_multicast_frame(HOST, "198.19.0.9", GROUP, 1, b"x")) == (
        ipv4_multicast_mac(GROUP)
    )
    assert prune_key(ipv6_multicast_frame(HOST, "fd00::9", "ff05::2", 1, b"x")) == (
        b"\x33\x33\x00\x00\x00\x02"
    )


def test_memberships_expire_and_tables_are_bounded() -> None:
    local = LocalGroups()
    for i in range(MAX_GROUPS + 5):
        local.snoop(igmpv3_report(HOST, "198.19.0.9", f"239.2.{i // 250}.{i % 250 + 1}"), 0.0)
    assert len(local.groups) == MAX_GROUPS and local.overflow
    local.expire(MEMBERSHIP_TIMEOUT + 1)
    assert not local.groups and not local.overflow


def test_the_queries_are_well_formed() -> None:
    qmac = querier_mac(HOST)
    assert qmac != HOST and qmac[0] & 2
    q4 = igmp_query(qmac, 2.0)
    assert q4[:6] == b"\x01\x00\x5e\x00\x00\x01" and q4[23] == 2 and q4[22] == 1  # TTL 1
    assert _checksum(q4[14:38]) == 0 and _checksum(q4[38:]) == 0  # IP header, IGMP
    assert q4[38] == 0x11 and q4[39] == 20 and len(q4) - 38 == 12  # IGMPv3 general query
    q6 = mld_query(qmac, 10.0)
    assert q6[:6] == b"\x33\x33\x00\x00\x00\x01" and q6[20] == 0 and q6[21] == 1
    src, dst, mld = q6[22:38], q6[38:54], q6[62:]
    assert src[:2] == b"\xfe\x80" and len(mld) == 28 and mld[0] == 130
    pseudo = src + dst + struct.pack(">I3xB", len(mld), 58)
    assert _checksum(pseudo + mld) == 0


@settings(max_examples=300, deadline=None)
@given(hs.binary(min_size=0, max_size=200), hs.integers(0, 3))
def test_snooping_never_raises(tail: bytes, kind: int) -> None:
    heads = [
        igmpv3_report(HOST, "198.19.0.9", GROUP)[:38],
        mldv2_report(HOST, GROUP.replace("239.1.2.3", "ff05::1"))[:62],
        igmpv2(HOST, "198.19.0.9", GROUP, 0x16)[:34],
        b"",
    ]
    LocalGroups().snoop(heads[kind] + tail, 0.0)


# -- the GROUPS message and the skip list -------------------------------------------------------

COMM20 = pad_community(b"c")


def test_groups_round_trip() -> None:
    msg = Groups(sim_mac(1), sim_mac(2), GROUPS_COMPLETE, 7, (ipv4_multicast_mac(GROUP),))
    data = encode_groups(COMM20, msg)
    assert data[3] == MSG_TYPE_PYN2N_GROUPS and len(data) == 50
    got = decode_groups(data)
    assert got is not None
    assert (got.src, got.dst, got.flags, got.epoch, got.groups) == (
        msg.src,
        msg.dst,
        msg.flags,
        msg.epoch,
        msg.groups,
    )
    assert decode_groups(data[:-1]) is None  # the list does not fit


def test_a_marked_packet_splits_back() -> None:
    pkt = encode_packet(COMM20, sim_mac(1), b"\xff" * 6, 1, 2, b"payload")
    skip = [sim_mac(i) for i in range(2, 2 + MAX_SKIP + 3)]
    marked = mark_packet(pkt, skip)
    _src, _dst, sock, _c, _t, off = decode_packet_header(marked)
    assert sock is not None and sock.port == 0
    split = split_skip(marked, off)
    assert split is not None
    end, skipped = split
    assert marked[off:end] == b"payload" and skipped == frozenset(skip[:MAX_SKIP])


@settings(max_examples=500, deadline=None)
@given(hs.binary(max_size=400), hs.integers(0, 60))
def test_remote_groups_and_skip_lists_never_raise(data: bytes, off: int) -> None:
    head = encode_groups(COMM20, Groups(sim_mac(1), sim_mac(2), 0, 0, ()))[:40]
    decode_groups(head + data)
    decode_groups(data)
    split_skip(data, off)


@settings(max_examples=300, deadline=None)
@given(hs.binary(max_size=300), hs.integers(0, 255), hs.integers(0, 255))
def test_an_edge_takes_any_groups_datagram_without_raising(
    body: bytes, flags: int, count: int
) -> None:
    edge, clock = registered_edge()
    make_known(edge, clock)
    head = encode_groups(pad_community(COMMUNITY.encode()), Groups(PEER_MAC, edge.mac, 0, 0, ()))
    data = head[:37] + bytes((flags, count)) + head[39:] + body
    edge.receive_datagram(data, PEER_ADDR, clock())
    edge.receive_datagram(data[: len(data) // 2], PEER_ADDR, clock())
    edge.handle_timer(clock.advance(1))
    # whatever the peer claims, a group frame still leaves (to the supernode at least)
    edge.datagrams_to_send()
    own = edge.ip or "0.0.0.0"
    edge.receive_frame(ipv4_multicast_frame(edge.mac, own, GROUP, 1, b"x"), clock())
    assert edge.datagrams_to_send()


# -- scenarios ----------------------------------------------------------------------------------


def _pyn2n_net(kinds: list[Any], **options: Any) -> tuple[SimNet, list[str]]:
    """Edges that met (each broadcast an ARP request), whose hosts spoke MLD (so each edge is
    the querier of its TAP and its group list is complete), and that exchanged GROUPS."""
    net, names = star_net(kinds, **options)
    register_all(net, names)
    for i, name in enumerate(names, 1):
        net.send_frame(name, arp_request(sim_mac(i), sim_ip(i), "198.19.0.254"))
        net.send_frame(name, mldv2_report(sim_mac(i), "ff02::1:ff00:1"))
    net.run_for(6)
    return net, names


def _join(net: SimNet, i: int, group: str) -> None:
    net.send_frame(f"e{i}", igmpv3_report(sim_mac(i), sim_ip(i), group))


def _stream(net: SimNet, sender: int, group: str, n: int, gap: float = 0.05) -> list[bytes]:
    frames = []
    for k in range(n):
        tag = f"#{k} at {net.now:.3f}".encode()
        frame = ipv4_multicast_frame(sim_mac(sender), sim_ip(sender), group, 5000, tag)
        frames.append(frame)
        net.send_frame(f"e{sender}", frame)
        net.run_for(gap)
    net.run_for(1)
    return frames


def test_a_group_reaches_its_subscriber_only_and_the_supernode_relays_none() -> None:
    net, names = _pyn2n_net([None, FULL, PORT, None])
    sn = net.node("sn")
    for name in names:
        assert len(edge_of(net, name).data.groups.direct) == 3, name
    _join(net, 2, GROUP)
    _join(net, 3, OTHER_GROUP)
    net.run_for(1)
    relayed, skipped = sn.stats.broadcast, sn.stats.broadcast_skipped
    frames = _stream(net, 1, GROUP, 40)
    assert [copies(net, "e2", f) for f in frames] == [1] * 40
    assert sum(copies(net, n, f) for n in ("e3", "e4") for f in frames) == 0
    assert sn.stats.broadcast == relayed  # none of it between pyn2n edges
    assert sn.stats.broadcast_skipped == skipped + 40 * 3
    # control groups and broadcast reach everyone, once
    t0 = net.now
    vrrp = ipv4_multicast_frame(sim_mac(1), sim_ip(1), "224.0.0.18", 0, b"vrrp")
    mdns = ipv6_multicast_frame(sim_mac(1), "fd00::1", "ff02::fb", 5353, b"mdns")
    bcast = broadcast_udp_frame(sim_mac(1), sim_ip(1), 9, b"all")
    for f in (vrrp, mdns, bcast):
        net.send_frame("e1", f)
    net.run_for(1)
    for name in ("e2", "e3", "e4"):
        assert [copies(net, name, f, since=t0) for f in (vrrp, mdns, bcast)] == [1, 1, 1]
    assert sn.stats.broadcast == relayed
    # a leave stops the stream
    net.send_frame("e2", igmpv3_report(sim_mac(2), sim_ip(2), GROUP, join=False))
    net.run_for(1)
    late = _stream(net, 1, GROUP, 5)
    assert sum(copies(net, "e2", f) for f in late) == 0


def test_an_edge_without_direct_paths_gets_everything_through_the_supernode() -> None:
    """-S1 (no p2p): it never takes part, so its membership is unknown: delivered, once."""
    net, _names = _pyn2n_net([None, FULL, None])
    add_edge(net, 4, None, ["sn"], no_p2p=True)
    register_all(net, ["e4"])
    net.run_for(3)
    _join(net, 2, GROUP)
    net.run_for(1)
    sn = net.node("sn")
    relayed = sn.stats.broadcast
    frames = _stream(net, 1, GROUP, 20)
    assert [copies(net, "e2", f) for f in frames] == [1] * 20
    assert [copies(net, "e4", f) for f in frames] == [1] * 20
    assert sum(copies(net, "e3", f) for f in frames) == 0
    assert sn.stats.broadcast == relayed + 20  # only to e4
    # and e4's own group frames reach every other edge once (through the supernode)
    t0 = net.now
    mc = ipv4_multicast_frame(sim_mac(4), sim_ip(4), "224.0.0.18", 0, b"from e4")
    net.send_frame("e4", mc)
    net.run_for(1)
    assert [copies(net, n, mc, since=t0) for n in ("e1", "e2", "e3")] == [1, 1, 1]


def test_a_supernode_that_relays_to_everyone_makes_no_duplicates() -> None:
    """A C supernode knows no skip list: the pyn2n receivers drop the second copy, and the
    copies of groups their host did not join."""
    net, names = _pyn2n_net([None, FULL, PORT])
    for name in names:
        edge_of(net, name).data.groups.sn_skip.clear()
        edge_of(net, name).data.groups.sn_skips = lambda addr, now: False
    _join(net, 2, GROUP)
    net.run_for(1)
    frames = _stream(net, 1, GROUP, 20)
    assert [copies(net, "e2", f) for f in frames] == [1] * 20
    # e3 did not join: it drops the copies the supernode relays to it
    assert sum(copies(net, "e3", f) for f in frames) == 0
    assert edge_of(net, "e3").drops["group_not_joined"] >= 20
    bcast = broadcast_udp_frame(sim_mac(3), sim_ip(3), 9, b"all")
    t0 = net.now
    net.send_frame("e3", bcast)
    net.run_for(1)
    assert [copies(net, n, bcast, since=t0) for n in ("e1", "e2")] == [1, 1]
    assert edge_of(net, "e2").drops["group_duplicate"] >= 20


def test_multicast_keeps_flowing_when_the_supernode_dies() -> None:
    net, _names = _pyn2n_net([None, FULL, PORT])
    _join(net, 2, GROUP)
    _join(net, 3, GROUP)
    net.run_for(1)
    net.kill("sn")
    frames = _stream(net, 1, GROUP, 600, gap=0.1)  # a minute, one frame every 100 ms
    for name in ("e2", "e3"):
        got = [copies(net, name, f) for f in frames]
        assert got == [1] * 600, (name, got.index(0) if 0 in got else None)


def test_a_malformed_skip_list_is_dropped_by_the_supernode() -> None:
    net, _names = _pyn2n_net([None, None])
    sn = net.node("sn")
    pkt = encode_packet(pad_community(b"simnet"), sim_mac(1), b"\xff" * 6, 1, 1, b"x" * 20)
    bad = mark_packet(pkt, [])[:-1] + b"\x09"  # claims 9 MACs after 20 bytes of payload
    before = sn.drops["decode"]
    net.inject("sn", bad, net.addr("e1"))
    net.run_for(0.1)
    assert sn.drops["decode"] == before + 1


def test_a_restarted_peer_is_believed_although_its_epoch_starts_again() -> None:
    net, _names = _pyn2n_net([None, None])
    _join(net, 2, GROUP)
    _join(net, 2, OTHER_GROUP)
    net.run_for(2)
    e1 = edge_of(net, "e1")
    pg = e1.data.groups.direct[sim_mac(2)]
    assert pg.epoch >= 2 and ipv4_multicast_mac(OTHER_GROUP) in pg.groups
    # e2 "restarts": its first GROUPS counts its changes from 0 again and names one new group
    restarted = Groups(sim_mac(2), sim_mac(1), GROUPS_COMPLETE, 1, (ipv4_multicast_mac(GROUP),))
    sock = e1.peers.known[sim_mac(2)].sock
    net.inject("e1", encode_groups(pad_community(b"simnet"), restarted), sock)
    net.run_for(0.1)
    assert pg.groups == frozenset({ipv4_multicast_mac(GROUP)}) and pg.epoch == 1
