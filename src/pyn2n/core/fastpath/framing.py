"""Fast datagrams: their header, the CONTROL payload, and cutting a sealed packet into
`segment`-byte datagrams (and checking a received run of them) with precompiled structs, so no
Python work is done per datagram. Bytes: docs/fastpath.md ("Framing").

    0   0xFD
    1   kind u8: 0 DATA, 1 CONTROL
    2   connection id u32 (the receiver's)
    6   packet number u64 (per session and direction, from 0; the AEAD nonce is 4 zero bytes ‖ it)
    14  fragment index u8 | fragment count u8 (1..255)
    16  fragment: bytes [index * (segment - 16), ...) of the sealed packet

Sealed packet: AEAD ciphertext ‖ 16-byte tag, bytes 0..13 as associated data (no tag without a
key). DATA plaintext: virtio_net_hdr ‖ Ethernet frame. CONTROL plaintext: type u8 (1 CONFIRM,
2 KEEPALIVE) ‖ highest packet number received u64 ‖ packets received u64.
"""

from __future__ import annotations

import struct

from pyn2n.wire.vnet import VNET_HDR_LEN

__all__ = [
    "CTL_CONFIRM",
    "CTL_KEEPALIVE",
    "DEFAULT_SEGMENT",
    "DGRAM_HEADER",
    "FAST_MAGIC",
    "IPV6_SEGMENT",
    "KIND_CONTROL",
    "KIND_DATA",
    "MAX_FRAGMENTS",
    "TAG_SIZE",
    "Layout",
    "tap_gso_max_size",
]

FAST_MAGIC = 0xFD  # never 3 (n2n's version byte)
KIND_DATA = 0
KIND_CONTROL = 1
CTL_CONFIRM = 1
CTL_KEEPALIVE = 2

DGRAM = struct.Struct(">BBIQBB")
PREFIX = struct.Struct(">BBIQ")  # bytes 0..13: the associated data
DGRAM_HEADER = DGRAM.size  # 16
CONTROL = struct.Struct(">BQQ")
TAG_SIZE = 16
NONCE_PAD = bytes(4)

DEFAULT_SEGMENT = 1472  # UDP payload in a 1500-byte IPv4 packet
IPV6_SEGMENT = 1452  # the same in an IPv6 packet (40-byte header), for an IPv6 underlay
MAX_FRAGMENTS = 255

# per fragment count n: the fragment indices 0..n-1, one byte each
INDICES = [bytes(range(n)) for n in range(MAX_FRAGMENTS + 1)]
COUNTS = [bytes((n,)) for n in range(MAX_FRAGMENTS + 1)]


def tap_gso_max_size(segment: int, max_datagrams: int) -> int:
    """The largest GSO size for the TAP so that a sealed super-frame fits one UDP_SEGMENT send
    of at most `max_datagrams` datagrams of `segment` bytes (bigger ones take two sends)."""
    room = max_datagrams * (segment - DGRAM_HEADER) - TAG_SIZE - VNET_HDR_LEN - 18
    return min(65536, room)


class Layout:
    """Precompiled structs for packets cut into `segment`-byte datagrams: one C call each cuts
    a sealed packet into fragments, strips the headers off a received run of datagrams, or
    reads their headers (no Python loop per datagram, no memoryview per fragment)."""

    __slots__ = ("_chunks", "_heads", "_strips", "frag", "segment")

    def __init__(self, segment: int) -> None:
        self.segment = segment
        self.frag = segment - DGRAM_HEADER
        self._chunks: list[struct.Struct | None] = [None] * (MAX_FRAGMENTS + 1)
        self._strips: list[struct.Struct | None] = [None] * (MAX_FRAGMENTS + 1)
        self._heads: list[struct.Struct | None] = [None] * (MAX_FRAGMENTS + 1)

    def chunks(self, n: int) -> struct.Struct:
        """`n` fragments of `frag` bytes back to back."""
        st = self._chunks[n]
        if st is None:
            st = self._chunks[n] = struct.Struct(f"{self.frag}s" * n)
        return st

    def cut(self, prefix: bytes, sealed: bytes, count: int) -> bytearray:
        """`sealed` as `count` (2..MAX_FRAGMENTS) datagrams back to back, each behind `prefix`
        and its fragment index and count: one C call cuts the fragments, one join puts a copy of
        the header in front of each, one strided assignment writes the indices (byte 14)."""
        st = self._chunks[count - 1]
        if st is None:
            st = self.chunks(count - 1)
        segment = self.segment
        out = bytearray(b"".join((prefix, b"\x00", COUNTS[count]))).join(
            (b"", *st.unpack_from(sealed), sealed[(count - 1) * self.frag :])
        )
        out[14 : (count - 1) * segment + 15 : segment] = INDICES[count]
        return out

    def strips(self, n: int) -> struct.Struct:
        """The fragments of `n` whole datagrams back to back (their headers skipped)."""
        st = self._strips[n]
        if st is None:
            st = self._strips[n] = struct.Struct(f"{DGRAM_HEADER}x{self.frag}s" * n)
        return st

    def heads(self, n: int) -> struct.Struct:
        """Bytes 0..13 (all but fragment index and count) of `n` datagrams."""
        st = self._heads[n]
        if st is None:
            skip = self.segment - (DGRAM_HEADER - 2)
            st = self._heads[n] = struct.Struct(f"{DGRAM_HEADER - 2}s" + f"{skip}x14s" * (n - 1))
        return st

    def whole(self, buf: bytes, off: int, count: int) -> bool:
        """Do the `count` datagrams of `segment` bytes at `off` (the last may be shorter, but holds
        its header) carry fragments 0..count-1 of one packet?"""
        heads = self.heads(count).unpack_from(buf, off)
        if heads.count(heads[0]) != count:
            return False
        segment = self.segment
        stop = off + (count - 1) * segment + 1
        return (
            buf[off + 14 : stop + 14 : segment] == INDICES[count]
            and buf[off + 15 : stop + 15 : segment] == bytes((count,)) * count
        )
