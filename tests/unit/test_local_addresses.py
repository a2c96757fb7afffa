"""Every address on the TAP counts as the edge's own for the routing filter without -r: a VIP
that keepalived adds later, a secondary address; on the standard path and the fast path."""

from __future__ import annotations

import ipaddress

from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.wire import BROADCAST_MAC, Packet
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_IP,
    PEER_MAC,
    drain,
    ipv4_frame,
    make_known,
    of_type,
    packet,
    registered_edge,
)
from tests.unit.test_fastpath import deliver, established_pair, tcp_super_frame

VIP = "198.19.0.100"
VIP_PACKED = ipaddress.IPv4Address(VIP).packed
V6 = ipaddress.IPv6Address("2001:db8::100").packed


def _tap(*addrs: str) -> list[bytes]:
    return [ipaddress.ip_address(a).packed for a in addrs]


def test_a_vip_on_the_tap_is_ours_both_ways_and_stops_being_ours_when_removed() -> None:
    edge, clock = registered_edge()
    make_known(edge, clock)
    drain(edge)
    to_vip = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, VIP)
    from_vip = ipv4_frame(PEER_MAC, MY_MAC, VIP, PEER_IP)
    # before: dropped as routed, as n2n does
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, to_vip), PEER_ADDR, clock())
    edge.receive_frame(from_vip, clock())
    assert edge.frames_to_write() == [] and not of_type(drain(edge), Packet)
    assert edge.drops["routed"] == 1 and edge.drops["tap_routed"] == 1
    # keepalived adds the VIP: the driver reports every address of the TAP
    edge.set_local_addresses(_tap(MY_IP, VIP, "2001:db8::100", "fe80::1"))
    assert VIP in edge.local_addresses and "2001:db8::100" in edge.local_addresses
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, to_vip), PEER_ADDR, clock())
    assert edge.frames_to_write() == [to_vip]
    edge.receive_frame(from_vip, clock())
    assert of_type(drain(edge), Packet)
    # the VIP moves away: dropped again; the edge's own address stays ours whatever the TAP says
    edge.set_local_addresses([])
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, to_vip), PEER_ADDR, clock())
    assert edge.frames_to_write() == [] and edge.drops["routed"] == 2
    mine = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, mine), PEER_ADDR, clock())
    assert edge.frames_to_write() == [mine]
    assert edge.local_addresses == [MY_IP]


def test_gratuitous_arp_for_a_vip_passes_both_ways() -> None:
    edge, clock = registered_edge()
    make_known(edge, clock)
    drain(edge)
    # ARP reply, sender = the VIP, to everyone (keepalived's gratuitous ARP)
    garp = BROADCAST_MAC + MY_MAC + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x02"
    garp += MY_MAC + VIP_PACKED + BROADCAST_MAC + VIP_PACKED
    edge.receive_frame(garp, clock())
    ((pkt, _),) = of_type(drain(edge), Packet)
    assert pkt.dst_mac == BROADCAST_MAC
    theirs = BROADCAST_MAC + PEER_MAC + garp[12:]
    edge.receive_datagram(packet(PEER_MAC, BROADCAST_MAC, theirs), PEER_ADDR, clock())
    assert edge.frames_to_write() == [theirs]


def test_routing_keeps_its_meaning_and_a_new_auto_ip_keeps_the_tap_addresses() -> None:
    edge, clock = registered_edge(allow_routing=True)
    make_known(edge, clock)
    drain(edge)
    routed = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, "10.8.8.8")
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, routed), PEER_ADDR, clock())
    assert edge.frames_to_write() == [routed]
    plain, _ = registered_edge()
    plain.set_local_addresses(_tap(VIP))
    plain.st.set_ip("198.19.0.77", 24)  # (what an auto-IP assignment does)
    assert plain.local_addresses == [VIP, "198.19.0.77"]


def test_the_fast_path_uses_the_same_addresses() -> None:
    edge, _ = registered_edge(fastpath=True)
    edge.set_local_addresses(_tap(VIP))
    assert edge.fastpath is not None and VIP_PACKED in edge.fastpath.local4
    a, b = established_pair()
    b.fp.local4 = frozenset((bytes([198, 19, 0, 2]), VIP_PACKED))
    # A sends to B's VIP: delivered; to another address of B's subnet: dropped as routed
    assert a.fp.send(tcp_super_frame(b"v" * 100, dst=VIP_PACKED), 1.0)
    assert a.fp.send(tcp_super_frame(b"w" * 100, dst=bytes([198, 19, 0, 9])), 1.0)
    deliver(b, a.take(), ("198.18.1.2", 40001), 1.0)
    assert len(b.fp.frames) == 1 and b.drops["routed"] == 1
    # B answers from its VIP: it leaves
    a_frames = len(a.fp.frames)
    reply = tcp_super_frame(b"r" * 100, src=VIP_PACKED, dst=bytes([198, 19, 0, 1]))
    reply = reply[:10] + reply[16:22] + reply[10:16] + reply[22:]  # (MACs swapped: B to A)
    assert b.fp.send(reply, 1.0) and b.drops["tap_routed"] == 0
    deliver(a, b.take(), ("198.18.2.2", 40002), 1.0)
    assert len(a.fp.frames) == a_frames + 1


def test_multicast_route_is_an_opt_in_flag() -> None:
    base = ["-c", "mynet", "-l", "198.18.0.2:7654"]
    assert not parse_edge_args(base, env={}).multicast_route
    assert parse_edge_args([*base, "--multicast-route"], env={}).multicast_route
