"""Edge data path: broadcast/multicast, routing filters, bridging, compression and transforms
(spec §5, §7.5)."""

from __future__ import annotations

import pytest

from pyn2n.constants import (
    N2N_COMPRESSION_ID_LZO,
    N2N_COMPRESSION_ID_NONE,
    N2N_COMPRESSION_ID_ZSTD,
    N2N_TRANSFORM_ID_AES,
    N2N_TRANSFORM_ID_NULL,
)
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.transforms import decompress, make_transform
from pyn2n.wire import BROADCAST_MAC, Packet, Sock, decode
from tests.conftest import EdgeAndClock
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_IP,
    PEER_MAC,
    SN1,
    drain,
    ipv4_frame,
    make_known,
    of_type,
    packet,
    registered_edge,
    run_until,
    seeded,
)

IPV4_MCAST = bytes.fromhex("01005e000005")
IPV6_MCAST = bytes.fromhex("333300000001")
STP = bytes.fromhex("0180c2000000")
OTHER_MAC = bytes.fromhex("02ee00000003")
OTHER_ADDR = ("198.18.1.3", 50003)


def arp_request(src_mac: bytes = MY_MAC) -> bytes:
    return BROADCAST_MAC + src_mac + b"\x08\x06" + bytes(28)


# --- broadcast / multicast (§7.5) -----------------------------------------------------------


def test_broadcast_goes_to_the_supernode_once(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    make_known(edge, clock, OTHER_MAC, OTHER_ADDR)
    drain(edge)
    before = edge.data.tx_sup_broadcast
    edge.receive_frame(arp_request(), clock())
    ((pkt, addr),) = of_type(drain(edge), Packet)
    assert addr == SN1 and pkt.dst_mac == BROADCAST_MAC
    assert edge.data.tx_sup_broadcast == before + 1


def test_broadcast_goes_to_every_known_peer_when_the_supernode_is_dead(
    registered: EdgeAndClock,
) -> None:
    edge, clock = registered
    make_known(edge, clock)
    make_known(edge, clock, OTHER_MAC, OTHER_ADDR)
    # a re-registration that is not answered ...
    run_until(edge, clock, edge.reg.last_register_req + 20.5, answer=False)
    drain(edge)
    edge.receive_frame(arp_request(), clock())
    # ... is not yet a dead supernode (n2n would already divert: see the module docstring)
    assert [a for _, a in of_type(drain(edge), Packet)] == [SN1]
    run_until(edge, clock, clock() + 2, answer=False)
    drain(edge)
    edge.receive_frame(arp_request(), clock())
    assert sorted(a for _, a in of_type(drain(edge), Packet)) == sorted([PEER_ADDR, OTHER_ADDR])


@pytest.mark.parametrize("group", [IPV4_MCAST, IPV6_MCAST])
def test_multicast_is_carried_by_default(group: bytes, registered: EdgeAndClock) -> None:
    edge, clock = registered
    frame = group + MY_MAC + b"\x86\xdd" + bytes(40)
    edge.receive_frame(frame, clock())
    ((pkt, addr),) = of_type(drain(edge), Packet)
    assert addr == SN1 and pkt.dst_mac == group
    incoming = group + PEER_MAC + b"\x86\xdd" + bytes(40)
    edge.receive_datagram(packet(PEER_MAC, group, incoming, relayed=True), SN1, clock())
    assert edge.frames_to_write() == [incoming]
    assert edge.data.rx_sup_broadcast == 1


@pytest.mark.parametrize("group", [IPV4_MCAST, IPV6_MCAST])
def test_drop_multicast_drops_both_ways_but_not_broadcast(group: bytes) -> None:
    edge, clock = registered_edge(drop_multicast=True)
    edge.receive_frame(group + MY_MAC + b"\x86\xdd" + bytes(40), clock())
    assert not of_type(drain(edge), Packet) and edge.drops["tap_multicast"] == 1
    incoming = group + PEER_MAC + b"\x86\xdd" + bytes(40)
    edge.receive_datagram(packet(PEER_MAC, group, incoming, relayed=True), SN1, clock())
    assert edge.frames_to_write() == [] and edge.drops["multicast"] == 1
    edge.receive_frame(arp_request(), clock())
    assert of_type(drain(edge), Packet)
    bcast_in = arp_request(PEER_MAC)
    edge.receive_datagram(packet(PEER_MAC, BROADCAST_MAC, bcast_in, relayed=True), SN1, clock())
    assert edge.frames_to_write() == [bcast_in]


def test_other_group_macs_travel_like_broadcast() -> None:
    edge, clock = registered_edge(drop_multicast=True)
    edge.receive_frame(STP + MY_MAC + b"\x00\x26" + bytes(38), clock())
    ((pkt, addr),) = of_type(drain(edge), Packet)
    assert addr == SN1 and pkt.dst_mac == STP
    assert not edge.peers.pending  # no QUERY_PEER for a MAC no edge can have


# --- routing filter and bridging (§7.5, -r) --------------------------------------------------


def test_without_routing_only_our_own_ipv4_leaves_and_arrives(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    drain(edge)
    edge.receive_frame(ipv4_frame(PEER_MAC, MY_MAC, "10.9.9.9", PEER_IP), clock())
    assert not of_type(drain(edge), Packet) and edge.drops["tap_routed"] == 1
    edge.receive_frame(ipv4_frame(PEER_MAC, MY_MAC, MY_IP, "10.9.9.9"), clock())
    assert of_type(drain(edge), Packet)  # the destination is not checked on TX (n2n)
    routed = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, "10.9.9.9")
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, routed), PEER_ADDR, clock())
    assert edge.frames_to_write() == [] and edge.drops["routed"] == 1
    bcast = ipv4_frame(BROADCAST_MAC, PEER_MAC, PEER_IP, "198.19.0.255")
    edge.receive_datagram(packet(PEER_MAC, BROADCAST_MAC, bcast), PEER_ADDR, clock())
    mine = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, mine), PEER_ADDR, clock())
    assert edge.frames_to_write() == [bcast, mine]


def test_with_routing_foreign_ipv4_passes_and_bridged_hosts_are_learned() -> None:
    edge, clock = registered_edge(allow_routing=True)
    make_known(edge, clock)
    drain(edge)
    host = bytes.fromhex("02cc00000001")  # a machine bridged behind the peer edge
    routed = ipv4_frame(MY_MAC, host, "10.9.9.9", "10.8.8.8")
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, routed), PEER_ADDR, clock())
    assert edge.frames_to_write() == [routed]
    assert edge.hosts.edge_for(host) == PEER_MAC
    # a frame for that host goes to the edge it sits behind, directly
    edge.receive_frame(ipv4_frame(host, MY_MAC, "10.8.8.8", "10.9.9.9"), clock())
    ((pkt, addr),) = of_type(drain(edge), Packet)
    assert addr == PEER_ADDR and pkt.dst_mac == PEER_MAC
    # learned hosts expire after 300 s
    run_until(edge, clock, clock() + 331)
    assert host not in edge.hosts.entries


# --- compression and transforms (§5) ---------------------------------------------------------


@pytest.mark.parametrize("cid", [N2N_COMPRESSION_ID_LZO, N2N_COMPRESSION_ID_ZSTD])
def test_compression_only_when_smaller(cid: int) -> None:
    edge, clock = registered_edge(compression=cid)
    make_known(edge, clock)
    drain(edge)
    squeezable = ipv4_frame(PEER_MAC, MY_MAC, MY_IP, PEER_IP, b"a" * 1000)
    edge.receive_frame(squeezable, clock())
    ((pkt, _),) = of_type(drain(edge), Packet)
    assert pkt.compression == cid and len(pkt.payload) < len(squeezable)
    assert decompress(cid, pkt.payload) == squeezable
    noise = ipv4_frame(PEER_MAC, MY_MAC, MY_IP, PEER_IP, seeded(3)(40))
    edge.receive_frame(noise, clock())
    ((pkt, _),) = of_type(drain(edge), Packet)
    assert pkt.compression == N2N_COMPRESSION_ID_NONE and pkt.payload == noise


def test_received_compressed_frames_are_decompressed_whatever_we_send() -> None:
    edge, clock = registered_edge()  # no compression configured
    make_known(edge, clock)
    frame = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP, b"z" * 900)
    sender, _ = registered_edge(compression=N2N_COMPRESSION_ID_ZSTD, mac=PEER_MAC, ip=PEER_IP)
    make_known(sender, _, MY_MAC, ("198.18.9.1", 40001))
    drain(sender)
    sender.receive_frame(frame, _())
    ((data, _addr),) = sender.datagrams_to_send()
    assert decode(data)[1].compression == N2N_COMPRESSION_ID_ZSTD
    edge.receive_datagram(data, PEER_ADDR, clock())
    assert edge.frames_to_write() == [frame]
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, frame, compression=9), PEER_ADDR, clock())
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, b"junk", compression=2), PEER_ADDR, clock())
    assert edge.drops["compression"] == 1 and edge.drops["decompress"] == 1
    assert edge.frames_to_write() == []


def test_encrypted_data_path_and_transform_id_check() -> None:
    edge, clock = registered_edge(key="s3cret", transform=N2N_TRANSFORM_ID_AES)
    make_known(edge, clock)
    drain(edge)
    frame = ipv4_frame(PEER_MAC, MY_MAC, MY_IP, PEER_IP)
    edge.receive_frame(frame, clock())
    ((pkt, _),) = of_type(drain(edge), Packet)
    assert pkt.transform == N2N_TRANSFORM_ID_AES and frame not in pkt.payload
    aes = make_transform(N2N_TRANSFORM_ID_AES, "s3cret", seeded(9))
    assert aes.decode(pkt.payload) == frame
    incoming = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, aes.encode(incoming), transform=N2N_TRANSFORM_ID_AES),
        PEER_ADDR,
        clock(),
    )
    assert edge.frames_to_write() == [incoming]
    # another transform id: dropped (n2n "invalid transop ID")
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, incoming, transform=N2N_TRANSFORM_ID_NULL), PEER_ADDR, clock()
    )
    # a payload the cipher cannot take (shorter than its 16-byte prefix)
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, b"short", transform=N2N_TRANSFORM_ID_AES), PEER_ADDR, clock()
    )
    assert edge.frames_to_write() == []
    assert edge.drops["transform_id"] == 1 and edge.drops["transform"] == 1
    assert edge.data.transop_rx == 1


def test_counters_follow_n2n_packetstats(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    drain(edge)
    base = {
        r["type"]: (r["tx_pkt"], r["rx_pkt"]) for r in EdgeViews(edge).mgmt_packetstats(clock())
    }
    edge.receive_frame(ipv4_frame(PEER_MAC, MY_MAC, MY_IP, PEER_IP), clock())  # p2p
    edge.receive_frame(ipv4_frame(OTHER_MAC, MY_MAC, MY_IP, "198.19.0.3"), clock())  # via SN
    edge.receive_frame(arp_request(), clock())  # broadcast
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)), PEER_ADDR, clock()
    )
    edge.receive_datagram(
        packet(
            OTHER_MAC, BROADCAST_MAC, arp_request(OTHER_MAC), relayed=True, sock=Sock(*OTHER_ADDR)
        ),
        SN1,
        clock(),
    )
    now = {r["type"]: (r["tx_pkt"], r["rx_pkt"]) for r in EdgeViews(edge).mgmt_packetstats(clock())}
    delta = {k: (now[k][0] - base[k][0], now[k][1] - base[k][1]) for k in now}
    assert delta == {
        "transop": (3, 2),
        "p2p": (1, 1),
        "super": (2, 1),
        "super_broadcast": (1, 1),
    }
    assert edge.data.last_p2p == clock()
