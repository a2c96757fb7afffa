"""Fast path for PACKET (3), the per-frame message (spec §2, §4 PACKET).

Layout: `03 | ttl | flags u16 (pc 3) | community 20 | srcMac 6 | dstMac 6 | [sock 8/20] |
compression u8 | transform u8 | payload…` — 38 bytes of header without a sock.
These functions agree with the generic `encode`/`decode` (tests check it) but skip the dataclasses:
one precompiled struct per direction and a community that the caller pads once (`pad_community`);
`packet_header` is the fixed part an edge keeps per destination.
"""

from __future__ import annotations

import struct

from pyn2n.constants import (
    MSG_TYPE_PACKET,
    N2N_COMPRESSION_ID_NONE,
    N2N_DEFAULT_TTL,
    N2N_FLAGS_BITS_MASK,
    N2N_FLAGS_SOCKET,
    N2N_FLAGS_TYPE_MASK,
    N2N_PKT_VERSION,
)
from pyn2n.wire.errors import WireError
from pyn2n.wire.types import BytesLike, Sock, decode_sock, encode_sock

PACKET_HEADER_SIZE = 38  # without a sock

_OUT = struct.Struct(">BBH20s6s6sBB")
_OUT_HEAD = struct.Struct(">BBH20s6s6s")
_TAIL = struct.Struct(">BB")
# version, flags low byte (pc + SOCKET), community's last byte, srcMac, dstMac, compression, transform
_IN = struct.Struct(">BxxB19xB6s6sBB")
_FLAGS_NO_SOCKET = N2N_FLAGS_BITS_MASK & ~N2N_FLAGS_SOCKET


def encode_packet(
    community20: bytes,
    src_mac: bytes,
    dst_mac: bytes,
    compression: int,
    transform: int,
    payload: BytesLike,
    ttl: int = N2N_DEFAULT_TTL,
    flags: int = 0,
    sock: Sock | None = None,
) -> bytes:
    """A whole PACKET. `community20` comes from `pad_community`. A `sock` (the supernode's relay
    case) sets the SOCKET flag; `flags` supplies the others (e.g. FROM_SUPERNODE)."""
    if len(community20) != 20 or len(src_mac) != 6 or len(dst_mac) != 6:
        raise ValueError("community20 must be 20 bytes (pad_community) and MACs 6 bytes")
    try:
        if sock is None:
            return (
                _OUT.pack(
                    N2N_PKT_VERSION,
                    ttl,
                    (flags & _FLAGS_NO_SOCKET) | MSG_TYPE_PACKET,
                    community20,
                    src_mac,
                    dst_mac,
                    compression,
                    transform,
                )
                + payload
            )
        return b"".join(
            (
                _OUT_HEAD.pack(
                    N2N_PKT_VERSION,
                    ttl,
                    (flags & N2N_FLAGS_BITS_MASK) | N2N_FLAGS_SOCKET | MSG_TYPE_PACKET,
                    community20,
                    src_mac,
                    dst_mac,
                ),
                encode_sock(sock),
                _TAIL.pack(compression, transform),
                payload,
            )
        )
    except struct.error as exc:
        raise ValueError(f"PACKET field out of range ({exc})") from exc


def packet_header(
    community20: bytes, src_mac: bytes, dst_mac: bytes, transform: int, ttl: int = N2N_DEFAULT_TTL
) -> bytes:
    """The 38 bytes in front of the payload of a PACKET without a sock and without compression:
    `packet_header(...) + payload == encode_packet(..., N2N_COMPRESSION_ID_NONE, transform,
    payload)`. The sender builds it once per destination (nothing in it changes per frame)."""
    return encode_packet(
        community20, src_mac, dst_mac, N2N_COMPRESSION_ID_NONE, transform, b"", ttl
    )


def decode_packet_header(
    data: BytesLike,
) -> tuple[bytes, bytes, Sock | None, int, int, int]:
    """`(src_mac, dst_mac, sock or None, compression, transform, payload_offset)` of a PACKET.
    Checks version, packet code and the community's NUL terminator like `decode` does, but not
    which community it is (compare `data[4:24]` with your `pad_community` value); FROM_SUPERNODE
    is `data[3] & 0x20`. Accepts bytes, bytearray or memoryview: slice the payload from
    `payload_offset` without copying. Raises only WireError."""
    try:
        version, flags_lo, community_end, src, dst, compression, transform = _IN.unpack_from(data)
    except struct.error as exc:
        raise WireError(f"PACKET of {len(data)} bytes is too short") from exc
    if (
        version != N2N_PKT_VERSION
        or flags_lo & N2N_FLAGS_TYPE_MASK != MSG_TYPE_PACKET
        or community_end
    ):
        raise WireError("not a plaintext n2n v3 PACKET")
    if flags_lo & N2N_FLAGS_SOCKET:
        sock, off = decode_sock(data, 36)
        if len(data) < off + 2:
            raise WireError("PACKET truncated after its sock")
        return src, dst, sock, data[off], data[off + 1], off + 2
    return src, dst, None, compression, transform, PACKET_HEADER_SIZE
