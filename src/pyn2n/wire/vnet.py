"""The virtio_net_hdr in front of every frame of a TAP opened with IFF_VNET_HDR, and the work it
describes: how many wire frames a GSO super-frame stands for, and cutting one into finished
frames (TCP segmentation and checksums as the kernel would do them) for a path that carries
plain frames only. The TAP driver and the fast path share these constants (docs/fastpath.md).
"""

from __future__ import annotations

import struct

__all__ = [
    "GSO_ECN",
    "GSO_NONE",
    "GSO_TCPV4",
    "GSO_TCPV6",
    "VNET_F_NEEDS_CSUM",
    "VNET_HDR_LEN",
    "ZERO_VNET_HDR",
    "frame_segments",
    "to_plain_frames",
]

# struct virtio_net_hdr, little-endian: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_HDR_LEN = 10
_VNET = struct.Struct("<BBHHHH")
VNET_F_NEEDS_CSUM = 0x01
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_TCPV6 = 4
GSO_ECN = 0x80
ZERO_VNET_HDR = bytes(VNET_HDR_LEN)  # no offload work: what a plain frame is written behind

_TCP_FIN = 0x01
_TCP_PSH = 0x08
_TCP_CWR = 0x80
_VLAN_TYPES = (b"\x81\x00", b"\x88\xa8")
_UDP_CSUM_OFFSET = 6  # a UDP checksum that computes to 0 is sent as 0xFFFF


def _sum16(data: bytes | bytearray | memoryview) -> int:
    """Ones'-complement sum of `data` as 16-bit big-endian words, modulo 0xFFFF (0 stands for
    0xFFFF). 2**16 is 1 modulo 0xFFFF, so the sum of the words is the number's value modulo
    0xFFFF: one C-level pass instead of a Python loop."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return value % 0xFFFF


def _csum(total: int) -> bytes:
    """The checksum field for a ones'-complement sum taken modulo 0xFFFF."""
    return (0xFFFF - total % 0xFFFF if total % 0xFFFF else 0).to_bytes(2, "big")


def _l3_offset(frame: bytes | bytearray | memoryview) -> int:
    off = 14
    while bytes(frame[off - 2 : off]) in _VLAN_TYPES:
        off += 4
    return off


def frame_segments(vnet_frame: bytes) -> int:
    """How many wire frames a virtio frame stands for (1 unless it is a GSO super-frame)."""
    if not vnet_frame[1]:
        return 1
    hdr_len = vnet_frame[2] | vnet_frame[3] << 8
    gso_size = vnet_frame[4] | vnet_frame[5] << 8
    if not gso_size:
        return 1
    return max(1, -(-(len(vnet_frame) - VNET_HDR_LEN - hdr_len) // gso_size))


def _complete(frame: memoryview, csum_start: int, csum_offset: int) -> bytes:
    """A NEEDS_CSUM frame with its checksum filled in (what the kernel's skb_checksum_help does:
    the field holds the pseudo-header sum, the checksum covers csum_start to the end)."""
    out = bytearray(frame)
    at = csum_start + csum_offset
    if csum_start >= len(out) or at + 2 > len(out):
        raise ValueError("checksum offsets beyond the frame")
    field = _csum(_sum16(memoryview(out)[csum_start:]))
    if field == b"\x00\x00" and csum_offset == _UDP_CSUM_OFFSET:
        field = b"\xff\xff"
    out[at : at + 2] = field
    return bytes(out)


def _tcp_pseudo_sum(frame: memoryview, l3: int, l4: int, v4: bool) -> int:
    """The TCP pseudo-header sum without the length, after checking the headers are where the
    virtio header says."""
    if v4:
        ihl = (frame[l3] & 0x0F) * 4
        if frame[l3] >> 4 != 4 or l4 != l3 + ihl or frame[l3 + 9] != 6:
            raise ValueError("not a TCP/IPv4 frame where the virtio header says")
        return _sum16(frame[l3 + 12 : l3 + 20]) + 6
    if frame[l3] >> 4 != 6 or l4 < l3 + 40:
        raise ValueError("not a TCP/IPv6 frame where the virtio header says")
    return _sum16(frame[l3 + 8 : l3 + 40]) + 6


def to_plain_frames(vnet_frame: bytes) -> list[bytes]:
    """Ethernet frames with complete checksums, for a peer without the fast path: a TCP/IPv4 or
    TCP/IPv6 super-frame cut into its MSS-sized segments (as the kernel's tcp_gso_segment would:
    sequence numbers, IP ids and lengths, CWR only on the first, FIN/PSH only on the last), a
    NEEDS_CSUM frame completed, anything else as it is. Raises ValueError for what it cannot cut
    (UDP fragmentation offload, inconsistent headers)."""
    if len(vnet_frame) < VNET_HDR_LEN + 14:
        raise ValueError("frame shorter than a virtio header and an Ethernet header")
    flags, gso_type, _hdr_len, mss, csum_start, csum_offset = _VNET.unpack_from(vnet_frame)
    frame = memoryview(vnet_frame)[VNET_HDR_LEN:]
    kind = gso_type & ~GSO_ECN
    if kind == GSO_NONE:
        if flags & VNET_F_NEEDS_CSUM:
            return [_complete(frame, csum_start, csum_offset)]
        return [bytes(frame)]
    if kind not in (GSO_TCPV4, GSO_TCPV6) or not mss:
        raise ValueError(f"cannot segment GSO type {gso_type} (size {mss})")
    l3 = _l3_offset(frame)
    l4 = csum_start
    if l4 + 20 > len(frame):
        raise ValueError("TCP header beyond the frame")
    v4 = kind == GSO_TCPV4
    pseudo = _tcp_pseudo_sum(frame, l3, l4, v4)
    thl = (frame[l4 + 12] >> 4) * 4
    body = l4 + thl
    if thl < 20 or body > len(frame):
        raise ValueError("bad TCP header length")
    return _segment(bytes(frame[:body]), frame[body:], mss, l3, l4, v4, pseudo)


def _segment(
    head: bytes, payload: memoryview, mss: int, l3: int, l4: int, v4: bool, pseudo: int
) -> list[bytes]:
    """The segments of a TCP super-frame (`head`: its Ethernet, IP and TCP headers)."""
    count = -(-len(payload) // mss) if payload else 1
    body = len(head)
    thl = body - l4
    seq0 = int.from_bytes(head[l4 + 4 : l4 + 8], "big")
    tcp_flags = head[l4 + 13]
    ip_id0 = int.from_bytes(head[l3 + 4 : l3 + 6], "big")
    out = []
    for i in range(count):
        chunk = payload[i * mss : (i + 1) * mss]
        h = bytearray(head)
        h[l4 + 4 : l4 + 8] = ((seq0 + i * mss) & 0xFFFFFFFF).to_bytes(4, "big")
        fl = tcp_flags
        if i:
            fl &= ~_TCP_CWR
        if i != count - 1:
            fl &= ~(_TCP_FIN | _TCP_PSH)
        h[l4 + 13] = fl
        if v4:
            h[l3 + 2 : l3 + 4] = (body - l3 + len(chunk)).to_bytes(2, "big")
            h[l3 + 4 : l3 + 6] = ((ip_id0 + i) & 0xFFFF).to_bytes(2, "big")
            h[l3 + 10 : l3 + 12] = b"\x00\x00"
            h[l3 + 10 : l3 + 12] = _csum(_sum16(h[l3:l4]))
        else:
            h[l3 + 4 : l3 + 6] = (body - l3 - 40 + len(chunk)).to_bytes(2, "big")
        h[l4 + 16 : l4 + 18] = b"\x00\x00"
        total = pseudo + thl + len(chunk) + _sum16(h[l4:]) + _sum16(chunk)
        h[l4 + 16 : l4 + 18] = _csum(total)
        out.append(b"".join((h, chunk)))
    return out
