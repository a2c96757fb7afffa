"""Super-frame surgery of the fast path (wire/vnet.py): TSO segmentation for peers without
the fast path and checksum completion, checked against hand-built TCP/IPv4, TCP/IPv6 and UDP
frames and an independent checksum written out word by word."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.wire.vnet import frame_segments, to_plain_frames

SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")
V4_SRC, V4_DST = "198.19.0.1", "198.19.0.2"
V6_SRC, V6_DST = "fd00::1", "fd00::2"
FIN, SYN, PSH, ACK, CWR = 0x01, 0x02, 0x08, 0x10, 0x80


def ones_sum(data: bytes | bytearray) -> int:
    """RFC 1071, one 16-bit word at a time (independent of the code under test)."""
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def pseudo_v4(src: str, dst: str, proto: int, length: int) -> bytes:
    return (
        ipaddress.IPv4Address(src).packed
        + ipaddress.IPv4Address(dst).packed
        + struct.pack("!BBH", 0, proto, length)
    )


def pseudo_v6(src: str, dst: str, proto: int, length: int) -> bytes:
    return (
        ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + struct.pack("!IxxxB", length, proto)
    )


def tcp_header(seq: int, flags: int, options: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", 40000, 5201, seq, 777, doff << 4, flags, 501, 0, 0) + options


def vnet(flags: int, gso_type: int, hdr_len: int, gso_size: int, start: int, offset: int) -> bytes:
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, start, offset)


def tso_v4(payload: bytes, mss: int, flags: int = ACK | PSH, ip_id: int = 0x1234) -> bytes:
    """A TCP/IPv4 super-frame as a TSO TAP hands it out: checksum field = pseudo-header sum."""
    opts = b"\x01\x01\x08\x0a" + bytes(8)  # NOP NOP timestamps
    tcp = bytearray(tcp_header(1_000_000, flags, opts))
    seed = ones_sum(pseudo_v4(V4_SRC, V4_DST, 6, len(tcp) + len(payload)))
    tcp[16:18] = seed.to_bytes(2, "big")
    total = 20 + len(tcp) + len(payload)
    ip = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            total & 0xFFFF,
            ip_id,
            0x4000,
            64,
            6,
            0,
            ipaddress.IPv4Address(V4_SRC).packed,
            ipaddress.IPv4Address(V4_DST).packed,
        )
    )
    ip[10:12] = (0xFFFF - ones_sum(ip)).to_bytes(2, "big")  # the kernel fills it in too
    eth = DST_MAC + SRC_MAC + b"\x08\x00"
    hdr_len = 14 + 20 + len(tcp)
    return vnet(1, 1, hdr_len, mss, 34, 16) + eth + bytes(ip) + bytes(tcp) + payload


def tso_v6(payload: bytes, mss: int, flags: int = ACK | PSH) -> bytes:
    tcp = bytearray(tcp_header(4_294_967_000, flags))  # the sequence numbers wrap
    seed = ones_sum(pseudo_v6(V6_SRC, V6_DST, 6, len(tcp) + len(payload)))
    tcp[16:18] = seed.to_bytes(2, "big")
    ip = struct.pack(
        "!IHBB16s16s",
        0x60000000,
        (len(tcp) + len(payload)) & 0xFFFF,
        6,
        64,
        ipaddress.IPv6Address(V6_SRC).packed,
        ipaddress.IPv6Address(V6_DST).packed,
    )
    eth = DST_MAC + SRC_MAC + b"\x86\xdd"
    return vnet(1, 4, 14 + 40 + len(tcp), mss, 54, 16) + eth + ip + bytes(tcp) + payload


def check_v4_segment(frame: bytes) -> tuple[int, int, int, bytes]:
    """Assert an IPv4 TCP frame's lengths and both checksums; return (ip id, seq, flags, data)."""
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:34]
    assert ones_sum(ip) == 0xFFFF, "IPv4 header checksum"
    total = int.from_bytes(ip[2:4], "big")
    assert total == len(frame) - 14
    tcp = frame[34:]
    assert ones_sum(pseudo_v4(V4_SRC, V4_DST, 6, len(tcp)) + tcp) == 0xFFFF, "TCP checksum"
    doff = (tcp[12] >> 4) * 4
    return int.from_bytes(ip[4:6], "big"), int.from_bytes(tcp[4:8], "big"), tcp[13], tcp[doff:]


def check_v6_segment(frame: bytes) -> tuple[int, int, bytes]:
    assert frame[12:14] == b"\x86\xdd"
    tcp = frame[54:]
    assert int.from_bytes(frame[18:20], "big") == len(tcp)
    assert ones_sum(pseudo_v6(V6_SRC, V6_DST, 6, len(tcp)) + tcp) == 0xFFFF, "TCP checksum"
    doff = (tcp[12] >> 4) * 4
    return int.from_bytes(tcp[4:8], "big"), tcp[13], tcp[doff:]


def test_tcp4_super_frame_is_cut_like_the_kernel() -> None:
    payload = bytes(range(256)) * 20 + b"tail"  # 5124 bytes: 3 full segments of 1448 + 780
    frames = to_plain_frames(tso_v4(payload, 1448, flags=ACK | PSH | FIN | CWR))
    assert [len(f) - 66 for f in frames] == [1448, 1448, 1448, 780]
    got = [check_v4_segment(f) for f in frames]
    assert [g[0] for g in got] == [0x1234, 0x1235, 0x1236, 0x1237]
    assert [g[1] for g in got] == [1_000_000 + i * 1448 for i in range(4)]
    assert [g[2] for g in got] == [ACK | CWR, ACK, ACK, ACK | PSH | FIN]
    assert b"".join(g[3] for g in got) == payload
    # everything but the changed fields is the original header (options included)
    for f in frames:
        assert f[:14] == DST_MAC + SRC_MAC + b"\x08\x00"
        assert f[54:66] == b"\x01\x01\x08\x0a" + bytes(8)


def test_tcp6_super_frame_is_cut_and_sequence_numbers_wrap() -> None:
    payload = b"x" * 3000
    frames = to_plain_frames(tso_v6(payload, 1200))
    got = [check_v6_segment(f) for f in frames]
    assert [(s, len(d)) for s, _, d in got] == [
        (4_294_967_000, 1200),
        ((4_294_967_000 + 1200) % 2**32, 1200),
        ((4_294_967_000 + 2400) % 2**32, 600),
    ]
    assert [g[1] for g in got] == [ACK, ACK, ACK | PSH]
    assert b"".join(d for _, _, d in got) == payload


def test_ip_id_wraps_and_odd_payload_lengths_checksum() -> None:
    payload = bytes(range(7, 250)) * 13  # odd total, odd last segment
    frames = to_plain_frames(tso_v4(payload, 1001, ip_id=0xFFFF))
    got = [check_v4_segment(f) for f in frames]
    assert [g[0] for g in got][:2] == [0xFFFF, 0]
    assert b"".join(g[3] for g in got) == payload


def test_needs_csum_frames_are_completed() -> None:
    # a UDP/IPv4 datagram with a partial checksum (pseudo-header sum in the field)
    data = b"hello, partial checksum"
    udp = bytearray(struct.pack("!HHHH", 5353, 5353, 8 + len(data), 0) + data)
    udp[6:8] = ones_sum(pseudo_v4(V4_SRC, V4_DST, 17, len(udp))).to_bytes(2, "big")
    ip = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            0,
            0,
            1,
            17,
            0,
            ipaddress.IPv4Address(V4_SRC).packed,
            ipaddress.IPv4Address(V4_DST).packed,
        )
    )
    ip[10:12] = (0xFFFF - ones_sum(ip)).to_bytes(2, "big")
    frame = DST_MAC + SRC_MAC + b"\x08\x00" + bytes(ip) + bytes(udp)
    (out,) = to_plain_frames(vnet(1, 0, 0, 0, 34, 6) + frame)
    assert out[:40] == frame[:40] and out[42:] == frame[42:]
    assert ones_sum(pseudo_v4(V4_SRC, V4_DST, 17, len(udp)) + out[34:]) == 0xFFFF
    # a single TCP segment (no GSO) with a partial checksum
    one = tso_v4(b"z" * 100, 1448)
    single = vnet(1, 0, 0, 0, 34, 16) + one[10:]
    (seg,) = to_plain_frames(single)
    assert check_v4_segment(seg)[3] == b"z" * 100


def test_frames_without_offload_work_pass_unchanged() -> None:
    frame = DST_MAC + SRC_MAC + b"\x08\x06" + bytes(28)
    assert to_plain_frames(bytes(10) + frame) == [frame]
    assert to_plain_frames(vnet(2, 0, 0, 0, 0, 0) + frame) == [frame]  # DATA_VALID only
    assert frame_segments(bytes(10) + frame) == 1


@pytest.mark.parametrize(
    "bad",
    [
        vnet(1, 3, 42, 1400, 34, 6) + bytes(100),  # UDP fragmentation offload: not offered
        vnet(1, 1, 54, 0, 34, 16) + bytes(100),  # GSO without a size
        vnet(1, 1, 54, 1448, 200, 16) + bytes(100),  # TCP header past the end
        bytes(12),  # shorter than virtio + Ethernet headers
    ],
)
def test_what_cannot_be_cut_raises_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        to_plain_frames(bad)


def test_a_super_frame_claiming_ipv4_that_is_not_is_refused() -> None:
    frame = bytearray(tso_v4(b"a" * 3000, 1448))
    frame[10 + 14] = 0x65  # IP version 6 where the header says TCPV4
    with pytest.raises(ValueError):
        to_plain_frames(bytes(frame))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 20_000), mss=st.integers(500, 1460), v6=st.booleans())
def test_any_super_frame_cuts_into_valid_segments_carrying_its_payload(
    size: int, mss: int, v6: bool
) -> None:
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    whole = tso_v6(payload, mss) if v6 else tso_v4(payload, mss)
    frames = to_plain_frames(whole)
    assert len(frames) == -(-size // mss) == frame_segments(whole)
    data = (
        [check_v6_segment(f)[2] for f in frames] if v6 else [check_v4_segment(f)[3] for f in frames]
    )
    assert b"".join(data) == payload
    assert all(len(d) == mss for d in data[:-1])
