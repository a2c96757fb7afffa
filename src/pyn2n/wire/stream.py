"""n2n's TCP framing (`-S2`, docs/n2n-v3-wire.md §1): every packet on the stream is preceded by
its length, 2 bytes big-endian, at most `N2N_PKT_BUF_SIZE`; a longer one (or an empty one) closes
the connection, as n2n does. Sans-IO: bytes in, packets out, a bounded buffer."""

from __future__ import annotations

import struct

from pyn2n.constants import N2N_PKT_BUF_SIZE

_LEN = struct.Struct("!H")
MAX_PACKET = N2N_PKT_BUF_SIZE


def frame(packet: bytes) -> bytes:
    """`packet` with its length prefix (the caller keeps packets within MAX_PACKET)."""
    return _LEN.pack(len(packet)) + packet


class StreamDecoder:
    """Cuts a TCP byte stream into packets. Holds at most one partial packet (MAX_PACKET + 2
    bytes); after a bad length `broken` is set and further input is ignored."""

    __slots__ = ("_buf", "broken")

    def __init__(self) -> None:
        self._buf = b""
        self.broken = False

    def feed(self, data: bytes) -> list[bytes]:
        """The packets completed by `data` (none once `broken`)."""
        if self.broken:
            return []
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        off = 0
        end = len(buf)
        while end - off >= 2:
            (size,) = _LEN.unpack_from(buf, off)
            if size == 0 or size > MAX_PACKET:
                self.broken = True
                self._buf = b""
                return out
            if end - off - 2 < size:
                break
            out.append(buf[off + 2 : off + 2 + size])
            off += 2 + size
        self._buf = buf[off:]
        return out
