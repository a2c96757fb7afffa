"""The fast path's anti-replay window (RFC 6479), on its own like wireguard-go's replay/: which
packet numbers of one session and direction may still be accepted."""

from __future__ import annotations

__all__ = ["WINDOW_MASK", "ReplayWindow"]


class ReplayWindow:
    """RFC 6479 anti-replay window: a ring of 64-bit blocks, so moving the top never shifts
    the whole bitmap. Accepts any packet number newer than the top, and older ones not yet seen
    within the last `size` numbers."""

    BLOCKS = 64  # a power of two
    size = (BLOCKS - 1) * 64  # 4,032 packet numbers

    __slots__ = ("bitmap", "top")

    def __init__(self) -> None:
        self.top = -1
        self.bitmap = [0] * self.BLOCKS

    def check(self, pn: int) -> bool:
        """Could `pn` be new? (Before spending an AEAD decryption on it.)"""
        if pn > self.top:
            return True
        if self.top - pn >= self.size:
            return False
        return not (self.bitmap[(pn >> 6) & (self.BLOCKS - 1)] >> (pn & 63)) & 1

    def update(self, pn: int) -> bool:
        """Record an authenticated `pn`; False if it is a replay or too old."""
        mask = self.BLOCKS - 1
        if pn > self.top:
            cur = self.top >> 6
            new = pn >> 6
            for i in range(1, min(new - cur, self.BLOCKS) + 1):
                self.bitmap[(cur + i) & mask] = 0
            self.top = pn
        elif self.top - pn >= self.size:
            return False
        block = (pn >> 6) & mask
        bit = 1 << (pn & 63)
        if self.bitmap[block] & bit:
            return False
        self.bitmap[block] |= bit
        return True


# the receive path inlines the common case (next number in the current block) with this mask
WINDOW_MASK = ReplayWindow.BLOCKS - 1
