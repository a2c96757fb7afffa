"""The fast path inside the sans-IO edge: negotiation after REGISTER_ACK, super-frames between
two pyn2n edges, standard PACKETs (with segmentation) towards a peer that refuses, group frames
via the supernode, management rows. A supernode "sn" and edges "e1", "e2", "e3" on a SimNet with
zero-delay links (tests/simnet.py), which drives the edges as the fast loop does (GSO buffers,
GRO runs, frames behind a virtio_net_hdr)."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

import pytest

from pyn2n.core.edge import Edge
from pyn2n.core.fastpath.framing import DEFAULT_SEGMENT, FAST_MAGIC
from pyn2n.core.fastpath.policy import BULK_FRAMES
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.wire.vnet import to_plain_frames
from tests.simnet import Datagram, SimNet, n2n_edge, n2n_supernode


def setup(*edge_kw: dict[str, Any], header_encryption: bool = False) -> tuple[SimNet, list[Edge]]:
    """A supernode "sn" and edges "e1", "e2", … (one per `edge_kw`), all registered."""
    net = SimNet(delay=0.0)  # lossless and zero-delay: every output arrives at once
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host", community_file="mynet\n" if header_encryption else None)
    edges = []
    for i, kw in enumerate(edge_kw, 1):
        net.add_host(f"h{i}")
        edges.append(
            n2n_edge(
                net,
                f"e{i}",
                f"h{i}",
                supernodes=["sn"],
                community="mynet",
                ip=f"198.19.0.{i}",
                desc=f"e{i}",
                header_encryption=header_encryption,
                **kw,
            )
        )
    net.run_for(1.0)
    assert all(e.last_sup is not None for e in edges)
    return net, edges


def sent_since(net: SimNet, mark: int) -> list[Datagram]:
    """The log records (datagrams, GSO buffers) sent since `mark = len(net.log)`."""
    return net.log.records[mark:]


def udp_frame(src: Edge, dst: Edge, payload: bytes = b"hi") -> bytes:
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        28 + len(payload),
        0,
        0,
        64,
        17,
        0,
        ipaddress.IPv4Address(src.ip).packed,
        ipaddress.IPv4Address(dst.ip).packed,
    )
    return (
        dst.mac
        + src.mac
        + b"\x08\x00"
        + ip
        + struct.pack(">HHHH", 1, 2, 8 + len(payload), 0)
        + payload
    )


def tcp_super_frame(src: Edge, dst: Edge, payload: bytes, mss: int = 1448) -> bytes:
    """A TSO super-frame as the TAP hands it out (checksum field: the pseudo-header sum)."""
    s, d = ipaddress.IPv4Address(src.ip).packed, ipaddress.IPv4Address(dst.ip).packed
    tcp_len = 20 + len(payload)
    seed = int.from_bytes(s + d + bytes((0, 6)) + tcp_len.to_bytes(2, "big"), "big") % 0xFFFF
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, 1, 1, 0x50, 0x18, 500, seed, 0)
    ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 1, 0x4000, 64, 6, 0, s, d))
    ip[10:12] = (0xFFFF - int.from_bytes(ip, "big") % 0xFFFF).to_bytes(2, "big")
    vnet = struct.pack("<BBHHHH", 1, 1, 54, mss, 34, 16)
    return vnet + dst.mac + src.mac + b"\x08\x00" + bytes(ip) + tcp + payload


def meet(net: SimNet, a: str, b: str) -> None:
    """A frame each way: the supernode introduces them, they punch, then negotiate."""
    ea, eb = net.node(a), net.node(b)
    net.send_frame(a, udp_frame(ea, eb))
    net.send_frame(b, udp_frame(eb, ea))
    net.run_for(2.0)


def fastpath_of(edge: Edge, other: Edge) -> str:
    (row,) = [r for r in EdgeViews(edge).mgmt_peers(0.0) if r["desc"] == other.config.desc]
    return str(row["fastpath"])


@pytest.mark.parametrize(
    ("kw", "he", "aead"),
    [
        ({}, False, "none"),
        ({"key": "secret"}, False, "AES-256-GCM"),
        ({"key": "secret", "transform": 4}, True, "ChaCha20-Poly1305"),
    ],
)
def test_two_pyn2n_edges_carry_super_frames_whole(kw: dict[str, Any], he: bool, aead: str) -> None:
    net, (a, b) = setup({"fastpath": True, **kw}, {"fastpath": True, **kw}, header_encryption=he)
    meet(net, "e1", "e2")
    assert fastpath_of(a, b) == fastpath_of(b, a) == f"on ({aead})"
    frame = tcp_super_frame(a, b, bytes(range(256)) * 200)
    net.call("e1", "receive_vnet_frame", frame, net.now)
    net.run_for(0.0)
    assert net.vnet_frames_received("e2") == [frame]
    # it went straight to B in one UDP_SEGMENT buffer of 1472-byte fast datagrams
    to_b = net.log.select(src="e1", dst="e2")[-1]
    assert to_b.data[0] == FAST_MAGIC and len(to_b.data) > 30 * DEFAULT_SEGMENT
    assert to_b.segment == DEFAULT_SEGMENT and to_b.fate == "delivered"
    stats = {r["type"]: r for r in EdgeViews(b).mgmt_packetstats(net.now)}
    assert stats["p2p"]["rx_pkt"] >= 36  # counted as the segments the super-frame stands for


def test_a_peer_that_refuses_gets_standard_packets_with_finished_frames() -> None:
    net, (a, b) = setup({"fastpath": True, "key": "k"}, {"fastpath": False, "key": "k"})
    meet(net, "e1", "e2")
    assert fastpath_of(a, b) == "refused: disabled by the peer (--no-fastpath)"
    assert fastpath_of(b, a) == "off"
    seen = len(net.frames_received("e2"))
    frame = tcp_super_frame(a, b, b"\x5a" * 5000)
    net.call("e1", "receive_vnet_frame", frame, net.now)
    net.run_for(0.0)
    assert net.frames_received("e2")[seen:] == to_plain_frames(frame)  # four checksummed segments
    # and back: B's plain frames arrive at A as plain frames (a zero virtio header at the TAP)
    net.send_frame("e2", udp_frame(b, a, b"back"))
    net.run_for(0.0)
    assert net.frames_received("e1")[-1] == udp_frame(b, a, b"back")
    assert net.vnet_frames_received("e1") == []


def test_group_frames_and_relayed_peers_stay_on_the_standard_path() -> None:
    # C relays everything through the supernode (-S1): never a direct peer
    net, (a, _b, c) = setup(
        {"fastpath": True}, {"fastpath": True}, {"fastpath": True, "no_p2p": True}
    )
    meet(net, "e1", "e2")
    assert a.fastpath is not None and a.fastpath.active
    broadcast = bytes(10) + b"\xff" * 6 + a.mac + b"\x08\x06" + bytes(28)
    mark = len(net.log)
    net.call("e1", "receive_vnet_frame", broadcast, net.now)
    net.run_for(0.0)
    assert sorted((r.dst, r.data[3] & 0x1F) for r in sent_since(net, mark) if r.src == "e1") == [
        ("e2", 3),
        ("sn", 3),
    ]  # a standard PACKET straight to the pyn2n peer, one to the supernode (for C)
    assert a.fastpath.status(c.mac) == "no"
    # unicast to C goes via the supernode as a PACKET
    mark = len(net.log)
    net.call("e1", "receive_vnet_frame", bytes(10) + udp_frame(a, c), net.now)
    net.run_for(0.0)
    to_sn = [r.data for r in sent_since(net, mark) if r.src == "e1" and r.dst == "sn"]
    assert to_sn[0][0] == 3 and to_sn[0][3] & 0x1F == 3
    c_ip = net.addr("e3")[0]
    assert not [
        r for r in sent_since(net, mark) if r.sent_to[0] == c_ip and r.data[0] == FAST_MAGIC
    ]


def test_frames_needing_a_checksum_are_finished_for_the_standard_path() -> None:
    net, (a, b) = setup({"fastpath": True}, {})
    meet(net, "e1", "e2")
    seen = len(net.frames_received("e2"))
    frame = bytearray(bytes(10) + udp_frame(a, b, b"partial"))
    frame[0] = 1  # NEEDS_CSUM at the UDP checksum
    frame[6:10] = struct.pack("<HH", 34, 6)
    net.call("e1", "receive_vnet_frame", bytes(frame), net.now)
    net.run_for(0.0)
    (got,) = net.frames_received("e2")[seen:]
    assert got[:40] == udp_frame(a, b, b"partial")[:40] and got[40:42] != b"\x00\x00"


def flow(net: SimNet, a: str, b: str, frames: int = BULK_FRAMES) -> None:
    """A flow from A to B on the fast path (enough frames for A's TAP offloads to go on)."""
    frame = bytes(10) + udp_frame(net.node(a), net.node(b), b"f" * 500)
    for _ in range(frames):
        net.call(a, "receive_vnet_frame", frame, net.now)
    net.run_for(0.0)


def test_busy_traffic_to_standard_peers_turns_tap_offloads_off_for_a_while() -> None:
    net, (a, _b, c) = setup({"fastpath": True}, {"fastpath": True}, {"fastpath": False})
    meet(net, "e1", "e2")
    meet(net, "e1", "e3")
    fast = a.fastpath
    assert fast is not None and fast.active and not fast.offload  # no flow yet
    flow(net, "e1", "e2")
    assert fast.offload
    frame = bytes(10) + udp_frame(a, c, b"x" * 1000)
    for _ in range(10):  # a bulk flow to C: cutting its super-frames in Python would be slow
        for _ in range(100):
            net.call("e1", "receive_vnet_frame", frame, net.now)
        net.run_for(0.1)
    assert fast.active and not fast.offload  # B still gets fast-path data, the TAP no TSO
    net.run_for(1.0)
    assert not fast.offload
    net.run_for(6.0)  # quiet again
    flow(net, "e1", "e2")
    assert fast.offload


def test_super_frames_to_a_standard_peer_turn_tap_offloads_off_at_once() -> None:
    net, (a, _b, c) = setup({"fastpath": True}, {"fastpath": True}, {"fastpath": False})
    meet(net, "e1", "e2")
    meet(net, "e1", "e3")
    fast = a.fastpath
    assert fast is not None
    flow(net, "e1", "e2")
    assert fast.offload
    super_frame = tcp_super_frame(a, c, bytes(range(256)) * 200)  # about 36 segments
    for _ in range(8):  # no housekeeping tick in between: counted as their segments
        net.call("e1", "receive_vnet_frame", super_frame, net.now)
    assert not fast.offload and fast.active
    net.run_for(0.0)
    assert len(net.frames_received("e3")) >= 8 * 30  # cut into finished frames meanwhile


def test_batch_dispatch_sends_fast_plain_and_super_frames_each_their_way() -> None:
    # receive_vnet_frames: the loop's per-batch entry (io/loop.py hands it every TAP read)
    net, (a, b, c) = setup(
        {"fastpath": True}, {"fastpath": True}, {"fastpath": True, "no_p2p": True}
    )
    meet(net, "e1", "e2")
    super_frame = tcp_super_frame(a, b, bytes(range(256)) * 40)
    plain_to_c = bytes(10) + udp_frame(a, c, b"plain")
    net.send_vnet_frames("e1", [super_frame, plain_to_c])
    net.run_for(0.0)
    assert net.vnet_frames_received("e2") == [super_frame]  # whole, on the fast path
    assert net.frames_received("e3")[-1] == udp_frame(a, c, b"plain")  # standard path, via sn
    assert a.fastpath is not None and a.fastpath.std_unicast >= 1


def test_with_r_replies_to_a_host_bridged_behind_a_fast_peer_take_the_fast_path() -> None:
    # -r: a host first seen on the fast path is learned (it used to be only
    # refreshed, so replies went to the supernode with a QUERY_PEER for a MAC that is no edge)
    net, (a, b) = setup(
        {"fastpath": True, "allow_routing": True}, {"fastpath": True, "allow_routing": True}
    )
    meet(net, "e1", "e2")
    assert fastpath_of(a, b) == "on (none)"
    host = bytes.fromhex("02000000beef")  # a machine bridged behind B
    from_host = bytearray(bytes(10) + udp_frame(b, a, b"from a bridged host"))
    from_host[16:22] = host
    net.send_vnet_frames("e2", [bytes(from_host)])
    net.run_for(0.0)
    assert net.vnet_frames_received("e1") == [bytes(from_host)]
    fast = a.fastpath
    assert fast is not None and fast.hosts is not None and fast.hosts.edge_for(host) == b.mac
    reply = bytearray(bytes(10) + udp_frame(a, b, b"reply"))
    reply[10:16] = host
    mark = len(net.log)
    net.send_vnet_frames("e1", [bytes(reply)])
    net.run_for(0.0)
    assert net.vnet_frames_received("e2") == [bytes(reply)]
    from_a = [(r.dst, r.data[0]) for r in sent_since(net, mark) if r.src == "e1"]
    assert from_a == [("e2", FAST_MAGIC)]  # nothing to the supernode
