"""Speck128/128 and Speck128/256 as n2n uses them (spec §5, §6, §9; n2n `src/speck.c`).

Byte conventions (those of the Speck implementation guide, which n2n follows):

* key: little-endian 64-bit words, K0 = bytes 0–7 (the first round key);
* block: bytes 0–7 = LE64(y), bytes 8–15 = LE64(x);
* CTR (`speck_ctr`, used both for the Speck payload transform, §5, and for the header
  encryption, §6): the 16-byte IV is read as lo = LE64(bytes 0–7), hi = LE64(bytes 8–15);
  block i encrypts (x = hi, y = lo + i mod 2^64) — only the low word counts, without carry —
  and its keystream bytes are LE64(y') ‖ LE64(x'). A trailing partial block uses the head of
  the next keystream block.

Speed: CTR runs all blocks of a buffer at once, SIMD-style, in one Python integer per Speck
word: block i lives in bits 128·i … 128·i+63, the 64 bits above it are a gap that catches
shifted-out bits and carries and is masked off after every step. With that layout
`y | x << 64` written little-endian *is* the keystream. This is ~10× faster than a
per-block loop and beats numpy on packet-sized buffers.
"""

from __future__ import annotations

import struct

__all__ = ["Speck128"]

_M64 = 0xFFFFFFFFFFFFFFFF
_U2 = struct.Struct("<2Q")

# Lanes are computed for at most this many blocks at once (2048 bytes, n2n's packet buffer);
# longer inputs are processed in chunks, so the broadcast tables below stay bounded.
_MAX_LANES = 128


def _expand_key(key: bytes) -> tuple[int, ...]:
    """Round keys: the standard Speck schedule (n2n `speck_expand_key`)."""
    nwords = len(key) // 8
    words = list(struct.unpack(f"<{nwords}Q", key))
    rounds = 32 if nwords == 2 else 34
    a, ls = words[0], words[1:]
    round_keys = []
    for i in range(rounds):
        round_keys.append(a)
        j = i % (nwords - 1)
        l_i = ((((ls[j] >> 8) | (ls[j] << 56)) & _M64) + a) & _M64 ^ i
        a = (((a << 3) | (a >> 61)) & _M64) ^ l_i
        ls[j] = l_i
    return tuple(round_keys)


def _lane_consts(lanes: int) -> tuple[int, int, int]:
    """(ones, ramp, mask): 1 in every lane, i in lane i, 2^64-1 in every lane."""
    stride = b"\x00" * 15
    ones = int.from_bytes((b"\x01" + stride) * lanes, "little")
    ramp = int.from_bytes(b"".join(_U2.pack(i, 0) for i in range(lanes)), "little")
    mask = int.from_bytes((b"\xff" * 8 + b"\x00" * 8) * lanes, "little")
    return ones, ramp, mask


class Speck128:
    """Speck with 128-bit blocks; a 16-byte key gives 32 rounds, a 32-byte key 34."""

    __slots__ = ("_bcast", "_rk", "_rk_rev", "key_size", "rounds")

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 32):
            raise ValueError(f"Speck128 needs a 16- or 32-byte key, got {len(key)} bytes")
        self._rk = _expand_key(bytes(key))
        self._rk_rev = self._rk[::-1]
        self.rounds = len(self._rk)
        self.key_size = len(key)
        # lane count -> (ones, ramp, mask, round keys broadcast to every lane)
        self._bcast: dict[int, tuple[int, int, int, tuple[int, ...]]] = {}

    def encrypt_block(self, block: bytes) -> bytes:
        """ECB-encrypt one 16-byte block (n2n `speck_128_encrypt` for 16-byte keys)."""
        m = _M64
        y, x = _U2.unpack(block)
        for k in self._rk:
            x = (((((x >> 8) | (x << 56)) & m) + y) & m) ^ k
            y = (((y << 3) | (y >> 61)) & m) ^ x
        return _U2.pack(y, x)

    def decrypt_block(self, block: bytes) -> bytes:
        """ECB-decrypt one 16-byte block (n2n `speck_128_decrypt` for 16-byte keys)."""
        m = _M64
        y, x = _U2.unpack(block)
        for k in self._rk_rev:
            y ^= x
            y = ((y >> 3) | (y << 61)) & m
            x = ((x ^ k) - y) & m
            x = ((x << 8) | (x >> 56)) & m
        return _U2.pack(y, x)

    def _tables(self, lanes: int) -> tuple[int, int, int, tuple[int, ...]]:
        tab = self._bcast.get(lanes)
        if tab is None:
            ones, ramp, mask = _lane_consts(lanes)
            tab = (ones, ramp, mask, tuple(k * ones for k in self._rk))
            self._bcast[lanes] = tab
        return tab

    def _keystream_int(self, lo: int, hi: int, blocks: int) -> int:
        """Keystream for counter blocks lo .. lo+blocks-1 (blocks <= _MAX_LANES), little-endian."""
        # Round the lane count up (beyond 8) so that few broadcast tables exist per key.
        lanes = blocks if blocks <= 8 else (blocks + 7) & ~7
        ones, ramp, mask, kbs = self._tables(lanes)
        x = hi * ones
        y = (lo * ones + ramp) & mask  # lo + i wraps per lane: the carry falls into the gap
        for kb in kbs:
            x = (((((x >> 8) | (x << 56)) & mask) + y) & mask) ^ kb
            y = (((y << 3) | (y >> 61)) & mask) ^ x
        return y | (x << 64)

    def ctr(self, iv: bytes, data: bytes) -> bytes:
        """CTR-encrypt (= decrypt) `data` with n2n's counter rules (see module docstring)."""
        if len(iv) != 16:
            raise ValueError(f"Speck CTR needs a 16-byte IV, got {len(iv)} bytes")
        lo, hi = _U2.unpack(iv)
        total = len(data)
        chunk_bytes = _MAX_LANES * 16
        out = []
        for pos in range(0, total, chunk_bytes):
            part = data[pos : pos + chunk_bytes]
            n = len(part)
            ks = self._keystream_int(lo, hi, (n + 15) >> 4)
            ks &= (1 << (8 * n)) - 1
            out.append((int.from_bytes(part, "little") ^ ks).to_bytes(n, "little"))
            lo = (lo + _MAX_LANES) & _M64
        return b"".join(out)
