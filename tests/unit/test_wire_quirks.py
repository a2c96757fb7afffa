"""Spot tests of the wire codec with hand-built bytes: primitives (spec §3), common header (§2),
each message body (§4) and every field-order quirk of §10.3."""

from __future__ import annotations

import struct

import pytest

from pyn2n.constants import N2N_FLAGS_FROM_SUPERNODE, N2N_FLAGS_SOCKET
from pyn2n.wire import (
    BROADCAST_MAC,
    NULL_MAC,
    Auth,
    Common,
    Deregister,
    Federation,
    IpSubnet,
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
    c_string,
    decode,
    decode_common,
    decode_packet_header,
    decode_with_end,
    encode,
    encode_packet,
    is_multi_broadcast,
    mac_from_str,
    mac_to_str,
    pad_community,
)

A = bytes.fromhex("0a0a0a0a0a01")
B = bytes.fromhex("0b0b0b0b0b02")
COMMUNITY = b"quirks"
SOCKET = N2N_FLAGS_SOCKET
FROM_SN = N2N_FLAGS_FROM_SUPERNODE


def header(pc: int, flags: int = 0, ttl: int = 2, community: bytes = COMMUNITY) -> bytes:
    """Spec §2 built by hand: version 3, ttl, flags|pc big-endian, 20-byte NUL-padded community."""
    return bytes([3, ttl]) + struct.pack(">H", flags | pc) + community.ljust(20, b"\0")


def common(pc: int, flags: int = 0, ttl: int = 2) -> Common:
    return Common(pc, ttl, flags, COMMUNITY)


SOCK_V4 = Sock("198.18.0.1", 7654)
SOCK_V4_BYTES = bytes.fromhex("0000 1de6 c6120001")
SOCK_V6 = Sock("2001:db8::1", 1968, tcp=True)
SOCK_V6_BYTES = bytes.fromhex("c000 07b0 20010db8000000000000000000000001")


# --- primitives §3 --------------------------------------------------------------------------


def test_mac_strings() -> None:
    assert mac_to_str(bytes([0, 1, 0xAB, 0x10, 0xFF, 2])) == "00:01:AB:10:FF:02"
    assert mac_from_str("00:01:ab:10:FF:02") == bytes([0, 1, 0xAB, 0x10, 0xFF, 2])
    assert mac_from_str("00-01-ab-10-ff-02") == bytes([0, 1, 0xAB, 0x10, 0xFF, 2])
    for bad in ("00:01:02:03:04", "00:01:02:03:04:05:06", "0:1:2:3:4:5", "00:01:02:03:04:zz", ""):
        with pytest.raises(ValueError):
            mac_from_str(bad)


def test_is_multi_broadcast() -> None:
    assert is_multi_broadcast(BROADCAST_MAC)
    assert is_multi_broadcast(bytes.fromhex("01005e7fffff"))
    assert not is_multi_broadcast(bytes.fromhex("01005e800001"))  # byte 3 >= 0x80
    assert is_multi_broadcast(bytes.fromhex("333300000001"))
    assert not is_multi_broadcast(NULL_MAC)
    assert not is_multi_broadcast(bytes.fromhex("020000000001"))
    assert not is_multi_broadcast(b"\xff" * 5)


def test_sock_forms() -> None:
    qp = header(1, SOCKET) + struct.pack(">I", 7) + A + B
    tail = struct.pack(">IB", 0x0A000001, 24) + b"desc".ljust(16, b"\0")
    for sock, raw in ((SOCK_V4, SOCK_V4_BYTES), (SOCK_V6, SOCK_V6_BYTES)):
        data = qp + raw + tail
        _, msg = decode(data)
        assert isinstance(msg, Register) and msg.sock == sock
        assert encode(common(1), msg) == data
    assert len(SOCK_V4_BYTES) == 8 and len(SOCK_V6_BYTES) == 20
    assert str(SOCK_V4) == "198.18.0.1:7654" and str(SOCK_V6) == "[2001:db8::1]:1968"
    assert Sock.from_addr(SOCK_V4.to_addr()) == SOCK_V4


def test_sock_unknown_flag_bits_are_ignored() -> (
    None
):  # n2n's decode_sock looks at 0x8000/0x4000 only
    raw = bytes.fromhex("4123 0050 01020304")
    data = header(4, SOCKET) + struct.pack(">I", 1) + A + B + raw
    _, msg = decode(data)
    assert isinstance(msg, RegisterAck)
    assert msg.sock == Sock("1.2.3.4", 80, tcp=True)


def test_ip_subnet_text() -> None:
    subnet = IpSubnet.from_str("10.128.0.7/24")
    assert subnet == IpSubnet(0x0A800007, 24)
    assert str(subnet) == "10.128.0.7/24"
    for bad in ("10.0.0.1", "10.0.0.1/33", "10.0.0.256/8", "x/8"):
        with pytest.raises(ValueError):
            IpSubnet.from_str(bad)


def test_c_string() -> None:
    assert c_string(b"host\0junk") == "host"
    assert c_string(b"\xffab") == "\ufffdab"


# --- common header §2 -----------------------------------------------------------------------


def test_common_header_fields() -> None:
    data = header(11, flags=FROM_SN | 0x0800, ttl=7) + A + B + b"\0\0"
    got, off = decode_common(data)
    assert off == 24
    assert got == Common(pc=11, ttl=7, flags=FROM_SN | 0x0800, community=COMMUNITY)
    assert encode(got, decode(data)[1]) == data


def test_common_header_rejects() -> None:
    good = header(11) + A + B + b"\0\0"
    with pytest.raises(WireError, match="version"):
        decode(b"\x02" + good[1:])
    with pytest.raises(WireError):
        decode(good[:23])
    with pytest.raises(WireError, match="NUL"):
        decode(good[:4] + b"x" * 20 + good[24:])
    for pc in (0, 13, 31):
        bad = good[:3] + bytes([pc]) + good[4:]
        assert decode_common(bad)[0].pc == pc  # extensions can still dispatch on it
        with pytest.raises(WireError, match="packet code"):
            decode(bad)


def test_community_stripped_at_first_nul_and_padded() -> None:
    data = header(11, community=b"ab\0cd") + A + B + b"\0\0"
    assert decode_common(data)[0].community == b"ab"
    assert pad_community(b"abc123def456z") == b"abc123def456z" + b"\0" * 7
    with pytest.raises(ValueError):
        pad_community(b"x" * 20)
    with pytest.raises(ValueError):
        pad_community(b"a\0b")
    assert len(encode(Common(0, 2, 0, b"x" * 19), QueryPeer(A, B))) == 38


def test_encode_takes_pc_from_message_and_masks_flags() -> None:
    data = encode(Common(pc=5, ttl=2, flags=FROM_SN | 0x1F, community=COMMUNITY), QueryPeer(A, B))
    assert data[2:4] == struct.pack(">H", FROM_SN | 11)


# --- message bodies §4 and quirks §10.3 -----------------------------------------------------


def test_register() -> None:  # spec §4 REGISTER: cookie, srcMac, dstMac, [sock], dev_addr, desc
    body = struct.pack(">I", 0x00010000) + A + B + struct.pack(">IB", 0xC6130005, 16)
    data = header(1) + body + b"edge-a".ljust(16, b"\0")
    _, msg = decode(data)
    assert msg == Register(0x00010000, A, B, None, IpSubnet(0xC6130005, 16), b"edge-a")
    assert encode(common(1), msg) == data


def test_register_ack_dst_mac_before_src_mac() -> None:  # spec §10.3
    data = header(4) + struct.pack(">I", 0xDEADBEEF) + A + B
    _, msg = decode(data)
    assert msg == RegisterAck(cookie=0xDEADBEEF, dst_mac=A, src_mac=B)
    assert encode(common(4), RegisterAck(0xDEADBEEF, dst_mac=A, src_mac=B)) == data
    with_sock = header(4, SOCKET) + data[24:] + SOCK_V4_BYTES
    assert decode(with_sock)[1] == RegisterAck(0xDEADBEEF, A, B, SOCK_V4)


def test_packet_compression_before_transform() -> None:  # spec §10.3
    data = header(3) + A + B + bytes([2, 5]) + b"frame"
    _, msg = decode(data)
    assert msg == Packet(A, B, None, compression=2, transform=5, payload=b"frame")
    assert decode_packet_header(data) == (A, B, None, 2, 5, 38)
    relayed = header(3, SOCKET | FROM_SN) + A + B + SOCK_V4_BYTES + bytes([1, 3]) + b"x"
    assert decode(relayed)[1] == Packet(A, B, SOCK_V4, 1, 3, b"x")
    assert decode_packet_header(relayed) == (A, B, SOCK_V4, 1, 3, 46)


def test_packet_payload_may_be_empty_or_a_memoryview() -> None:
    assert decode(header(3) + A + B + b"\1\1")[1] == Packet(A, B, None, 1, 1, b"")
    data = encode(common(3), Packet(A, B, None, 1, 1, memoryview(b"abc")))
    assert data == header(3) + A + B + b"\1\1abc"
    assert decode(memoryview(data))[1] == Packet(A, B, None, 1, 1, b"abc")


def test_register_super() -> None:  # spec §4 REGISTER_SUPER with the -e preferred sock
    token = bytes(range(16))
    data = (
        header(5, SOCKET)
        + struct.pack(">I", 42)
        + A
        + SOCK_V4_BYTES
        + struct.pack(">IB", 0, 0)
        + b"\0" * 16
        + struct.pack(">HH", 1, 16)
        + token
        + struct.pack(">I", 1700000000)
    )
    _, msg = decode(data)
    assert msg == RegisterSuper(42, A, SOCK_V4, IpSubnet(0, 0), b"", Auth(1, token), 1700000000)
    assert encode(common(5), msg) == data


def test_unregister_super_auth_before_mac() -> None:  # spec §10.3
    token = b"\x11" * 16
    data = header(6) + struct.pack(">HH", 1, 16) + token + A
    _, msg = decode(data)
    assert msg == UnregisterSuper(Auth(1, token), A)
    assert encode(common(6), msg) == data


def _rsa_bytes(flags: int, entries: bytes, num: int, token: bytes = b"") -> bytes:
    return (
        header(7, flags)
        + struct.pack(">I", 0x01020304)
        + B
        + struct.pack(">IBH", 0x0A800005, 24, 15)
        + SOCK_V4_BYTES
        + struct.pack(">HH", 2 if token else 0, len(token))
        + token
        + bytes([num])
        + entries
        + struct.pack(">I", 99)
    )


def test_register_super_ack_entries_little_endian() -> None:  # spec §4, §10.2, §10.3
    entry_v4 = bytes([2, 0]) + struct.pack("<H", 7654) + bytes([198, 18, 0, 9]) + b"\0" * 12 + A
    entry_v6 = (
        bytes([10, 0]) + struct.pack("<H", 7655) + bytes.fromhex("fd00" + "00" * 13 + "01") + B
    )
    data = _rsa_bytes(SOCKET | FROM_SN, entry_v4 + entry_v6, 2)
    _, msg = decode(data)
    assert msg == RegisterSuperAck(
        cookie=0x01020304,
        src_mac=B,
        dev_addr=IpSubnet(0x0A800005, 24),
        sock=SOCK_V4,
        auth=Auth(0, b""),
        supernodes=(
            SupernodeEntry(Sock("198.18.0.9", 7654), A),
            SupernodeEntry(Sock("fd00::1", 7655), B),
        ),
        lifetime=15,
        key_time=99,
    )
    assert len(entry_v4) == len(entry_v6) == 26
    assert encode(common(7, SOCKET | FROM_SN), msg) == data


def test_register_super_ack_sock_is_mandatory() -> None:  # spec §10.3: even without SOCKET flag
    data = _rsa_bytes(FROM_SN, b"", 0, token=b"\x07" * 48)
    common_, msg = decode(data)
    assert common_.flags == FROM_SN
    assert isinstance(msg, RegisterSuperAck)
    assert msg.sock == SOCK_V4 and msg.auth == Auth(2, b"\x07" * 48) and msg.key_time == 99
    assert encode(common_, msg) == data  # flags passed through, sock still written


@pytest.mark.parametrize("family", [23, 30, 28])
def test_register_super_ack_other_os_inet6_values(family: int) -> None:  # spec §4 entry family
    entry = bytes([family, 0]) + struct.pack("<H", 1) + bytes.fromhex("fe80" + "00" * 13 + "02") + A
    _, msg = decode(_rsa_bytes(SOCKET | FROM_SN, entry, 1))
    assert isinstance(msg, RegisterSuperAck)
    assert msg.supernodes == (SupernodeEntry(Sock("fe80::2", 1), A),)


def test_register_super_ack_bad_entries() -> None:
    entry = bytes([7, 0]) + b"\0" * 18 + A
    with pytest.raises(WireError, match="family"):
        decode(_rsa_bytes(SOCKET, entry, 1))
    good = bytes([2, 0]) + b"\0" * 18 + A
    with pytest.raises(WireError):
        decode(_rsa_bytes(SOCKET, good, 2))  # says 2 entries, has 1


def test_register_super_ack_with_auth_tag() -> None:  # spec §7.3 trailing 16-byte tag
    data = _rsa_bytes(SOCKET | FROM_SN, b"", 0, token=b"\x01" * 48)
    _, msg, end = decode_with_end(data + b"T" * 16)
    assert end == len(data)
    assert encode(common(7, SOCKET | FROM_SN), msg) == data


def test_register_super_nak() -> None:  # spec §4 REGISTER_SUPER_NAK
    data = header(8, FROM_SN) + struct.pack(">I", 5) + A + struct.pack(">HH", 0, 0)
    _, msg = decode(data)
    assert msg == RegisterSuperNak(5, A, Auth(0, b""))
    assert encode(common(8, FROM_SN), RegisterSuperNak(5, A)) == data


def test_peer_info_aflags_first_and_preferred_sock_flag_gated() -> None:  # spec §4, §10.3
    tail = struct.pack(">II", 3, 1000) + b"3.1.1".ljust(20, b"\0")
    plain = header(10, FROM_SN) + struct.pack(">H", 0x0102) + B + A + SOCK_V4_BYTES + tail
    _, msg = decode(plain)
    assert msg == PeerInfo(0x0102, B, A, SOCK_V4, None, 3, 1000, b"3.1.1")
    assert encode(common(10, FROM_SN), msg) == plain
    with_pref = header(10, FROM_SN | SOCKET) + plain[24:46] + SOCK_V6_BYTES + tail
    _, msg = decode(with_pref)
    assert msg == PeerInfo(0x0102, B, A, SOCK_V4, SOCK_V6, 3, 1000, b"3.1.1")
    assert encode(common(10, FROM_SN), msg) == with_pref  # preferred sock sets SOCKET


def test_query_peer_aflags_last() -> None:  # spec §10.3
    data = header(11) + A + NULL_MAC + struct.pack(">H", 0xABCD)
    _, msg = decode(data)
    assert msg == QueryPeer(A, NULL_MAC, 0xABCD)
    assert encode(common(11), msg) == data


def test_header_only_and_raw_bodies() -> None:
    rrs = header(12)
    assert decode_with_end(rrs + b"junk")[1:] == (ReRegisterSuper(), 24)
    assert encode(common(12), ReRegisterSuper()) == rrs
    for pc, cls in ((2, Deregister), (9, Federation)):
        data = header(pc) + b"any body"
        _, msg, end = decode_with_end(data)
        assert msg == cls(b"any body") and end == len(data)
        assert encode(common(pc), msg) == data
        assert encode(common(pc), cls()) == header(pc)


def test_socket_flag_follows_optional_sock() -> None:
    msg = RegisterAck(1, A, B, None)
    assert decode(encode(common(4, SOCKET | FROM_SN), msg))[0].flags == FROM_SN
    assert decode(encode(common(4), RegisterAck(1, A, B, SOCK_V4)))[0].flags == SOCKET


@pytest.mark.parametrize(
    "data",
    [
        header(1) + b"\0" * 36,  # REGISTER one byte short
        header(3) + A + B + b"\1",  # PACKET without transform byte
        header(3, SOCKET) + A + B + SOCK_V4_BYTES[:7],
        header(3, SOCKET) + A + B + SOCK_V6_BYTES + b"\1",
        header(4) + b"\0" * 15,
        header(5) + b"\0" * 31 + struct.pack(">HH", 1, 16) + b"\0" * 16,  # no key_time
        header(6) + struct.pack(">HH", 1, 49) + b"\0" * 60,  # token_size > 48
        header(6) + struct.pack(">HH", 1, 16) + b"\0" * 21,
        header(8) + b"\0" * 11,
        header(10) + b"\0" * 14 + SOCK_V4_BYTES + b"\0" * 27,
        header(11) + b"\0" * 13,
    ],
)
def test_truncated_and_invalid_bodies_raise_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        (QueryPeer(A[:5], B), "6 bytes"),
        (Register(1, A, B, None, IpSubnet(0, 0), b"x" * 17), "dev_desc"),
        (UnregisterSuper(Auth(1, b"x" * 49), A), "48"),
        (RegisterAck(1, A, B, Sock("not-an-ip", 1)), "IPv4"),
        (RegisterAck(1, A, B, Sock("1.2.3.4", 65536)), "port"),
        (Register(1, A, B, None, IpSubnet(1 << 32, 0), b""), "out of range"),
        (PeerInfo(0, A, B, SOCK_V4, version=b"v" * 21), "version"),
    ],
)
def test_encode_rejects_bad_fields(msg: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode(common(0), msg)  # type: ignore[arg-type]


def test_encode_rejects_non_messages_and_bad_ttl() -> None:
    with pytest.raises(TypeError):
        encode(common(0), object())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode(Common(0, 256, 0, COMMUNITY), QueryPeer(A, B))


# --- PACKET fast path agrees with the generic codec -----------------------------------------


@pytest.mark.parametrize("sock", [None, SOCK_V4, SOCK_V6])
@pytest.mark.parametrize("payload", [b"", b"\x00" * 60, bytes(range(256)) * 5])
def test_fast_packet_path_agrees(sock: Sock | None, payload: bytes) -> None:
    flags = FROM_SN if sock else 0
    generic = encode(Common(3, 1, flags, COMMUNITY), Packet(B, A, sock, 2, 4, payload))
    fast = encode_packet(
        pad_community(COMMUNITY), B, A, 2, 4, memoryview(payload), ttl=1, flags=flags, sock=sock
    )
    assert fast == generic
    src, dst, got_sock, compression, transform, off = decode_packet_header(memoryview(fast))
    assert (src, dst, got_sock, compression, transform) == (B, A, sock, 2, 4)
    assert fast[off:] == payload == decode(fast)[1].payload  # type: ignore[union-attr]


def test_fast_packet_path_rejects() -> None:
    with pytest.raises(ValueError):
        encode_packet(COMMUNITY, A, B, 1, 1, b"")  # community not padded
    with pytest.raises(ValueError):
        encode_packet(pad_community(COMMUNITY), A[:5], B, 1, 1, b"")
    with pytest.raises(ValueError):
        encode_packet(pad_community(COMMUNITY), A, B, 256, 1, b"")
    packet = header(3) + A + B + b"\1\1"
    for bad in (packet[:37], b"\2" + packet[1:], packet[:3] + b"\x01" + packet[4:]):
        with pytest.raises(WireError):
            decode_packet_header(bad)
    with pytest.raises(WireError):
        decode_packet_header(packet[:23] + b"z" + packet[24:])  # community without NUL
