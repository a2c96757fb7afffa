"""Fuzz: no byte string makes the decoders raise anything but WireError (docs/architecture.md "Rules"),
and the PACKET fast path accepts exactly what the generic decoder accepts."""

from __future__ import annotations

import random

import pytest

from pyn2n.constants import N2N_FLAGS_FROM_SUPERNODE, N2N_FLAGS_SOCKET
from pyn2n.wire import (
    Auth,
    Common,
    Deregister,
    IpSubnet,
    Message,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    Sock,
    SupernodeEntry,
    UnregisterSuper,
    WireError,
    decode,
    decode_common,
    decode_packet_header,
    encode,
    eth,
)
from tests import vectors

ITERATIONS = 100_000
A = bytes.fromhex("020000000001")
B = bytes.fromhex("020000000002")
V4 = Sock("198.18.0.1", 7654)
V6 = Sock("fd00::5", 1968, tcp=True)


def _seeds() -> list[bytes]:
    """Valid encodings of every message type, with and without optional socks."""
    entries = (SupernodeEntry(V4, A), SupernodeEntry(Sock("fd00::9", 7654), B))
    msgs: list[tuple[int, Message]] = [
        (0, Register(1, A, B, None, IpSubnet(0x0A000001, 24), b"desc")),
        (0, Register(1, A, B, V6, IpSubnet(0, 0), b"x" * 16)),
        (0, Deregister(b"body")),
        (0, Packet(A, B, None, 1, 1, bytes(range(256)) * 2)),
        (N2N_FLAGS_FROM_SUPERNODE, Packet(A, B, V4, 2, 3, b"\x00" * 64)),
        (0, RegisterAck(7, A, B, None)),
        (0, RegisterAck(7, A, B, V6)),
        (0, RegisterSuper(9, A, V4, IpSubnet(1, 2), b"d", Auth(1, b"t" * 16), 600)),
        (0, UnregisterSuper(Auth(2, b"u" * 48), A)),
        (0, RegisterSuperAck(3, B, IpSubnet(5, 24), V4, Auth(2, b"k" * 48), entries, 15, 77)),
        (0, RegisterSuperNak(4, A)),
        (0, PeerInfo(0, A, B, V4, V6, 1, 2, b"3.1.1")),
        (0, PeerInfo(0, A, B, V6, None, 0, 0, b"")),
        (0, QueryPeer(A, B, 0)),
        (0, ReRegisterSuper()),
    ]
    seeds = [encode(Common(0, 2, flags, b"fuzzcommunity"), m) for flags, m in msgs]
    seeds += [b.data for b in vectors.read_blocks("tests-wire.expected") if b.data]
    return seeds


def _mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    choice = rng.randrange(8)
    if choice == 0:  # random bytes of random length
        return rng.randbytes(rng.randrange(2101))
    if choice == 1:  # random body behind a plausible header, any packet code and flags
        head = bytes([3, rng.randrange(256), rng.randrange(256), rng.randrange(256)])
        return head + b"c" * 19 + b"\0" + rng.randbytes(rng.randrange(2077))
    data = bytearray(rng.choice(seeds))
    if choice == 2:  # truncate
        return bytes(data[: rng.randrange(len(data) + 1)])
    if choice == 3:  # flip a few bytes (header bytes stay plausible more often than not)
        for _ in range(rng.randrange(1, 9)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        return bytes(data)
    if choice == 4:  # extend
        return bytes(data) + rng.randbytes(rng.randrange(1, 64))
    if choice == 5:  # toggle SOCKET / FROM_SUPERNODE and the packet code
        data[3] ^= rng.choice(
            (N2N_FLAGS_SOCKET, N2N_FLAGS_FROM_SUPERNODE, 0x1F & rng.randrange(32))
        )
        return bytes(data[: rng.randrange(24, len(data) + 1)])
    if choice == 6:  # clobber a length-ish byte (token_size, num_sn, sock flags) with extremes
        pos = rng.randrange(24, max(25, len(data)))
        if pos < len(data):
            data[pos] = rng.choice((0x00, 0x01, 0x30, 0x31, 0x80, 0xC0, 0xFF))
        return bytes(data)
    # splice two seeds
    other = rng.choice(seeds)
    cut = rng.randrange(len(data) + 1)
    return bytes(data[:cut]) + other[rng.randrange(len(other) + 1) :]


def _check_eth_peeks(data: bytes) -> None:
    # the Ethernet peeks see remote frames too: they must never raise
    eth.l3(data)
    eth.arp_peek(data)
    eth.ipv4_addrs(data)
    eth.igmp_type(data)
    eth.is_broadcast(data)
    eth.is_ipv4_multicast(data)
    eth.is_ipv6_multicast(data)


@pytest.mark.timeout(120)
def test_decoders_raise_only_wire_error() -> None:
    rng = random.Random(0x6E32)  # deterministic: a failure reproduces
    seeds = _seeds()
    decoded = {"ok": 0, "packet": 0, "err": 0}
    for i in range(ITERATIONS):
        data = _mutate(rng, seeds)
        try:
            common, msg = decode(data)
        except WireError:
            decoded["err"] += 1
            generic: tuple[Common, Message] | None = None
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"iteration {i}: {type(exc).__name__} for {data.hex()}") from exc
        else:
            decoded["ok"] += 1
            generic = (common, msg)
            # decoding normalises: encoding the result decodes to the same value
            assert decode(encode(common, msg)) == generic, data.hex()

        try:
            fast = decode_packet_header(data)
        except WireError:
            fast = None
        is_packet = generic is not None and isinstance(generic[1], Packet)
        assert (fast is not None) == is_packet, data.hex()
        if fast is not None and generic is not None:
            pkt = generic[1]
            assert isinstance(pkt, Packet)
            decoded["packet"] += 1
            assert fast[:5] == (pkt.src_mac, pkt.dst_mac, pkt.sock, pkt.compression, pkt.transform)
            assert data[fast[5] :] == pkt.payload

        try:
            header = decode_common(data)[0]
        except WireError:
            header = None
        if generic is not None:
            assert header == generic[0]
        if i % 4 == 0:
            _check_eth_peeks(data)

    # the mutations reach deep into the decoders, not just the version check
    assert decoded["ok"] > ITERATIONS // 10
    assert decoded["packet"] > ITERATIONS // 100
    assert decoded["err"] > ITERATIONS // 4
