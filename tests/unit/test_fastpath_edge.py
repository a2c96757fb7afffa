"""The fast path inside the sans-IO edge: negotiation after REGISTER_ACK, super-frames between
two pyn2n edges, standard PACKETs (with segmentation) towards a peer that refuses, group frames
via the supernode, management rows. A supernode and edges wired together in memory."""

from __future__ import annotations

import ipaddress
import random
import struct
from typing import Any

import pytest

from pyn2n.core.api import Addr
from pyn2n.core.community import parse_community_file
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.edge import Edge
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.fastpath.framing import DEFAULT_SEGMENT, FAST_MAGIC
from pyn2n.core.fastpath.policy import BULK_FRAMES
from pyn2n.core.supernode import Supernode
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.wire.vnet import to_plain_frames

SN: Addr = ("198.18.0.2", 7654)
WALL = 1_700_000_000.0


class Wire:
    """Delivers every output at once (a lossless, zero-delay network) on a fake clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.nodes: dict[Addr, Any] = {}
        self.sent: list[tuple[Addr, Addr, bytes]] = []

    def wall(self) -> float:
        return WALL + self.now

    def add(self, addr: Addr, node: Any) -> Any:
        self.nodes[addr] = node
        return node

    def pump(self) -> None:
        for _ in range(50):
            moved = False
            for addr, node in list(self.nodes.items()):
                for data, dst in node.datagrams_to_send():
                    moved = True
                    self.sent.append((addr, dst, data))
                    if dst in self.nodes:
                        self.nodes[dst].receive_datagram(data, addr, self.now)
                for buf, seg, dst in getattr(node, "gso_datagrams_to_send", list)():
                    moved = True
                    self.sent.append((addr, dst, buf))
                    if dst in self.nodes:
                        self.nodes[dst].receive_gro(buf, seg, addr, self.now)
            if not moved:
                return
        raise AssertionError("the nodes keep talking")

    def run(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += step
            for node in self.nodes.values():
                t = node.get_timer()
                if t is not None and t <= self.now:
                    node.handle_timer(self.now)
            self.pump()


def edge_at(wire: Wire, i: int, **kw: Any) -> Edge:
    config = EdgeConfig(community="mynet", supernodes=[SN], ip=f"198.19.0.{i}", desc=f"e{i}", **kw)
    rng = random.Random(i).randbytes
    edge = Edge(config, rng, wire.now, wall_clock=wire.wall)
    return wire.add((f"198.18.{i}.2", 40000 + i), edge)  # type: ignore[no-any-return]


def setup(*edge_kw: dict[str, Any], header_encryption: bool = False) -> tuple[Wire, list[Edge]]:
    wire = Wire()
    communities = parse_community_file("mynet\n") if header_encryption else None
    sn = Supernode(
        SupernodeConfig(communities=communities), random.Random(0).randbytes, 0.0, wire.wall
    )
    wire.add(SN, sn)
    edges = [
        edge_at(wire, i, header_encryption=header_encryption, **kw)
        for i, kw in enumerate(edge_kw, 1)
    ]
    wire.run(1.0)
    assert all(e.last_sup is not None for e in edges)
    return wire, edges


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


def meet(wire: Wire, a: Edge, b: Edge) -> None:
    """A frame each way: the supernode introduces them, they punch, then negotiate."""
    a.receive_frame(udp_frame(a, b), wire.now)
    b.receive_frame(udp_frame(b, a), wire.now)
    wire.run(2.0)


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
    wire, (a, b) = setup({"fastpath": True, **kw}, {"fastpath": True, **kw}, header_encryption=he)
    meet(wire, a, b)
    assert fastpath_of(a, b) == fastpath_of(b, a) == f"on ({aead})"
    frame = tcp_super_frame(a, b, bytes(range(256)) * 200)
    a.receive_vnet_frame(frame, wire.now)
    wire.pump()
    assert b.vnet_frames_to_write() == [frame]
    # it went straight to B in one UDP_SEGMENT buffer of 1472-byte fast datagrams
    to_b = [(src, data) for src, dst, data in wire.sent if dst == ("198.18.2.2", 40002)][-1]
    assert to_b[1][0] == FAST_MAGIC and len(to_b[1]) > 30 * DEFAULT_SEGMENT
    stats = {r["type"]: r for r in EdgeViews(b).mgmt_packetstats(wire.now)}
    assert stats["p2p"]["rx_pkt"] >= 36  # counted as the segments the super-frame stands for


def test_a_peer_that_refuses_gets_standard_packets_with_finished_frames() -> None:
    wire, (a, b) = setup({"fastpath": True, "key": "k"}, {"fastpath": False, "key": "k"})
    meet(wire, a, b)
    assert fastpath_of(a, b) == "refused: disabled by the peer (--no-fastpath)"
    assert fastpath_of(b, a) == "off"
    b.frames_to_write()
    frame = tcp_super_frame(a, b, b"\x5a" * 5000)
    a.receive_vnet_frame(frame, wire.now)
    wire.pump()
    assert b.frames_to_write() == to_plain_frames(frame)  # four checksummed TCP segments
    # and back: B's plain frames arrive at A as plain frames (a zero virtio header at the TAP)
    b.receive_frame(udp_frame(b, a, b"back"), wire.now)
    wire.pump()
    assert a.frames_to_write()[-1] == udp_frame(b, a, b"back")
    assert a.vnet_frames_to_write() == []


def test_group_frames_and_relayed_peers_stay_on_the_standard_path() -> None:
    # C relays everything through the supernode (-S1): never a direct peer
    wire, (a, b, c) = setup(
        {"fastpath": True}, {"fastpath": True}, {"fastpath": True, "no_p2p": True}
    )
    meet(wire, a, b)
    assert a.fastpath is not None and a.fastpath.active
    broadcast = bytes(10) + b"\xff" * 6 + a.mac + b"\x08\x06" + bytes(28)
    wire.sent.clear()
    a.receive_vnet_frame(broadcast, wire.now)
    wire.pump()
    assert [(dst, data[3] & 0x1F) for src, dst, data in wire.sent if src[0] == "198.18.1.2"] == [
        (SN, 3)
    ]  # one PACKET to the supernode
    assert a.fastpath.status(c.mac) == "no"
    # unicast to C goes via the supernode as a PACKET
    wire.sent.clear()
    a.receive_vnet_frame(bytes(10) + udp_frame(a, c), wire.now)
    wire.pump()
    to_sn = [data for src, dst, data in wire.sent if src[0] == "198.18.1.2" and dst == SN]
    assert to_sn[0][0] == 3 and to_sn[0][3] & 0x1F == 3
    assert not [d for src, dst, d in wire.sent if dst[0] == "198.18.3.2" and d[0] == FAST_MAGIC]


def test_frames_needing_a_checksum_are_finished_for_the_standard_path() -> None:
    wire, (a, b) = setup({"fastpath": True}, {})
    meet(wire, a, b)
    b.frames_to_write()
    frame = bytearray(bytes(10) + udp_frame(a, b, b"partial"))
    frame[0] = 1  # NEEDS_CSUM at the UDP checksum
    frame[6:10] = struct.pack("<HH", 34, 6)
    a.receive_vnet_frame(bytes(frame), wire.now)
    wire.pump()
    (got,) = b.frames_to_write()
    assert got[:40] == udp_frame(a, b, b"partial")[:40] and got[40:42] != b"\x00\x00"


def flow(wire: Wire, a: Edge, b: Edge, frames: int = BULK_FRAMES) -> None:
    """A flow from A to B on the fast path (enough frames for A's TAP offloads to go on)."""
    frame = bytes(10) + udp_frame(a, b, b"f" * 500)
    for _ in range(frames):
        a.receive_vnet_frame(frame, wire.now)
    wire.pump()


def test_busy_traffic_to_standard_peers_turns_tap_offloads_off_for_a_while() -> None:
    wire, (a, b, c) = setup({"fastpath": True}, {"fastpath": True}, {"fastpath": False})
    meet(wire, a, b)
    meet(wire, a, c)
    fast = a.fastpath
    assert fast is not None and fast.active and not fast.offload  # no flow yet
    flow(wire, a, b)
    assert fast.offload
    frame = bytes(10) + udp_frame(a, c, b"x" * 1000)
    for _ in range(10):  # a bulk flow to C: cutting its super-frames in Python would be slow
        for _ in range(100):
            a.receive_vnet_frame(frame, wire.now)
        wire.run(0.1)
    assert fast.active and not fast.offload  # B still gets fast-path data, the TAP no TSO
    wire.run(1.0)
    assert not fast.offload
    wire.run(6.0)  # quiet again
    flow(wire, a, b)
    assert fast.offload


def test_super_frames_to_a_standard_peer_turn_tap_offloads_off_at_once() -> None:
    wire, (a, b, c) = setup({"fastpath": True}, {"fastpath": True}, {"fastpath": False})
    meet(wire, a, b)
    meet(wire, a, c)
    fast = a.fastpath
    assert fast is not None
    flow(wire, a, b)
    assert fast.offload
    super_frame = tcp_super_frame(a, c, bytes(range(256)) * 200)  # about 36 segments
    for _ in range(8):  # no housekeeping tick in between: counted as their segments
        a.receive_vnet_frame(super_frame, wire.now)
    assert not fast.offload and fast.active
    wire.pump()
    assert len(c.frames_to_write()) >= 8 * 30  # cut into finished frames meanwhile


def test_batch_dispatch_sends_fast_plain_and_super_frames_each_their_way() -> None:
    # receive_vnet_frames: the loop's per-batch entry (io/loop.py hands it every TAP read)
    wire, (a, b, c) = setup(
        {"fastpath": True}, {"fastpath": True}, {"fastpath": True, "no_p2p": True}
    )
    meet(wire, a, b)
    for node in (b, c):
        node.frames_to_write()
    super_frame = tcp_super_frame(a, b, bytes(range(256)) * 40)
    plain_to_c = bytes(10) + udp_frame(a, c, b"plain")
    a.receive_vnet_frames([super_frame, plain_to_c], wire.now)
    wire.pump()
    assert b.vnet_frames_to_write() == [super_frame]  # whole, on the fast path
    assert c.frames_to_write()[-1] == udp_frame(a, c, b"plain")  # standard path, via the sn
    assert a.fastpath is not None and a.fastpath.std_unicast >= 1


def test_with_r_replies_to_a_host_bridged_behind_a_fast_peer_take_the_fast_path() -> None:
    # -r: a host first seen on the fast path is learned (issue #10 defect 2: it was only
    # refreshed, so replies went to the supernode with a QUERY_PEER for a MAC that is no edge)
    wire, (a, b) = setup(
        {"fastpath": True, "allow_routing": True}, {"fastpath": True, "allow_routing": True}
    )
    meet(wire, a, b)
    assert fastpath_of(a, b) == "on (none)"
    host = bytes.fromhex("02000000beef")  # a machine bridged behind B
    from_host = bytearray(bytes(10) + udp_frame(b, a, b"from a bridged host"))
    from_host[16:22] = host
    b.receive_vnet_frames([bytes(from_host)], wire.now)
    wire.pump()
    assert a.vnet_frames_to_write() == [bytes(from_host)]
    fast = a.fastpath
    assert fast is not None and fast.hosts is not None and fast.hosts.edge_for(host) == b.mac
    reply = bytearray(bytes(10) + udp_frame(a, b, b"reply"))
    reply[10:16] = host
    wire.sent.clear()
    a.receive_vnet_frames([bytes(reply)], wire.now)
    wire.pump()
    assert b.vnet_frames_to_write() == [bytes(reply)]
    from_a = [(dst, data[0]) for src, dst, data in wire.sent if src == ("198.18.1.2", 40001)]
    assert from_a == [(("198.18.2.2", 40002), FAST_MAGIC)]  # nothing to the supernode
