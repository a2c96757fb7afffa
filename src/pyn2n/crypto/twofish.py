"""Twofish block cipher, pure Python (spec §5 transform 2; Schneier et al., "Twofish: A 128-Bit
Block Cipher", 1998).

n2n's Twofish transform uses 256-bit keys; 128- and 192-bit keys are supported as well.
Blocks and key words are little-endian 32-bit words, as in the reference implementation, so
the published test vectors (ecb_tbl.txt) apply byte for byte.

Speed: the key-dependent S-boxes are folded together with the MDS matrix into four tables
of 256 32-bit words at key set-up, so g() is four lookups and three XORs.
"""

from __future__ import annotations

import struct

__all__ = ["Twofish"]

_M32 = 0xFFFFFFFF
_U4 = struct.Struct("<4I")

# 4-bit permutations t0..t3 that define q0 and q1 (paper §4.3.5)
_Q0_T = (
    (0x8, 0x1, 0x7, 0xD, 0x6, 0xF, 0x3, 0x2, 0x0, 0xB, 0x5, 0x9, 0xE, 0xC, 0xA, 0x4),
    (0xE, 0xC, 0xB, 0x8, 0x1, 0x2, 0x3, 0x5, 0xF, 0x4, 0xA, 0x6, 0x7, 0x0, 0x9, 0xD),
    (0xB, 0xA, 0x5, 0xE, 0x6, 0xD, 0x9, 0x0, 0xC, 0x8, 0xF, 0x3, 0x2, 0x4, 0x7, 0x1),
    (0xD, 0x7, 0xF, 0x4, 0x1, 0x2, 0x6, 0xE, 0x9, 0xB, 0x3, 0x0, 0x8, 0x5, 0xC, 0xA),
)
_Q1_T = (
    (0x2, 0x8, 0xB, 0xD, 0xF, 0x7, 0x6, 0xE, 0x3, 0x1, 0x9, 0x4, 0x0, 0xA, 0xC, 0x5),
    (0x1, 0xE, 0x2, 0xB, 0x4, 0xC, 0x3, 0x7, 0x6, 0xD, 0xA, 0x5, 0xF, 0x9, 0x0, 0x8),
    (0x4, 0xC, 0x7, 0x5, 0x1, 0x6, 0x9, 0xA, 0x0, 0xE, 0xD, 0x8, 0x2, 0xB, 0x3, 0xF),
    (0xB, 0x9, 0x5, 0x1, 0xC, 0x3, 0xD, 0xE, 0x6, 0x4, 0x7, 0xF, 0x2, 0x0, 0x8, 0xA),
)

_MDS = (
    (0x01, 0xEF, 0x5B, 0x5B),
    (0x5B, 0xEF, 0xEF, 0x01),
    (0xEF, 0x5B, 0x01, 0xEF),
    (0xEF, 0x01, 0xEF, 0x5B),
)
_RS = (
    (0x01, 0xA4, 0x55, 0x87, 0x5A, 0x58, 0xDB, 0x9E),
    (0xA4, 0x56, 0x82, 0xF3, 0x1E, 0xC6, 0x68, 0xE5),
    (0x02, 0xA1, 0xFC, 0xC1, 0x47, 0xAE, 0x3D, 0x19),
    (0xA4, 0x55, 0x87, 0x5A, 0x58, 0xDB, 0x9E, 0x03),
)
_MDS_POLY = 0x169  # x^8 + x^6 + x^5 + x^3 + 1
_RS_POLY = 0x14D  # x^8 + x^6 + x^3 + x^2 + 1
_RHO = 0x01010101


def _make_q(t: tuple[tuple[int, ...], ...]) -> bytes:
    def ror4(v: int) -> int:
        return ((v >> 1) | (v << 3)) & 0xF

    out = bytearray(256)
    for x in range(256):
        a, b = x >> 4, x & 0xF
        a, b = a ^ b, (a ^ ror4(b) ^ (a << 3)) & 0xF
        a, b = t[0][a], t[1][b]
        a, b = a ^ b, (a ^ ror4(b) ^ (a << 3)) & 0xF
        a, b = t[2][a], t[3][b]
        out[x] = (b << 4) | a
    return bytes(out)


_Q0 = _make_q(_Q0_T)
_Q1 = _make_q(_Q1_T)

# which q-box each layer of h() applies at byte positions 0..3; layer i is followed by XOR
# with key word i-1 (layer 0 is the last permutation, before the MDS matrix)
_ORDER = (
    (_Q1, _Q0, _Q1, _Q0),
    (_Q0, _Q0, _Q1, _Q1),
    (_Q0, _Q1, _Q0, _Q1),
    (_Q1, _Q1, _Q0, _Q0),
    (_Q1, _Q0, _Q0, _Q1),
)


def _gf_mul(a: int, b: int, poly: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= poly
        b >>= 1
    return r


def _sbox_bytes(x: int, pos: int, key_words: list[int]) -> int:
    """Byte `pos` of the key-dependent S-box layer of h() for input byte x (paper §4.3.2)."""
    shift = 8 * pos
    k = len(key_words)
    if k == 4:
        x = _ORDER[4][pos][x] ^ ((key_words[3] >> shift) & 0xFF)
    if k >= 3:
        x = _ORDER[3][pos][x] ^ ((key_words[2] >> shift) & 0xFF)
    x = _ORDER[2][pos][x] ^ ((key_words[1] >> shift) & 0xFF)
    x = _ORDER[1][pos][x] ^ ((key_words[0] >> shift) & 0xFF)
    return _ORDER[0][pos][x]


# _MDS_COL[pos][y] = MDS column `pos` times byte y, as a little-endian 32-bit word
_MDS_COL = tuple(
    tuple(
        sum(_gf_mul(_MDS[row][pos], y, _MDS_POLY) << (8 * row) for row in range(4))
        for y in range(256)
    )
    for pos in range(4)
)


def _h(x: int, key_words: list[int]) -> int:
    return (
        _MDS_COL[0][_sbox_bytes(x & 0xFF, 0, key_words)]
        ^ _MDS_COL[1][_sbox_bytes((x >> 8) & 0xFF, 1, key_words)]
        ^ _MDS_COL[2][_sbox_bytes((x >> 16) & 0xFF, 2, key_words)]
        ^ _MDS_COL[3][_sbox_bytes(x >> 24, 3, key_words)]
    )


def _rol32(v: int, r: int) -> int:
    return ((v << r) | (v >> (32 - r))) & _M32


class Twofish:
    """Twofish with a 16-, 24- or 32-byte key; ECB on single 16-byte blocks."""

    __slots__ = ("_k", "_t0", "_t1", "_t2", "_t3")

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError(f"Twofish needs a 16-, 24- or 32-byte key, got {len(key)} bytes")
        k = len(key) // 8
        words = list(struct.unpack(f"<{2 * k}I", key))
        even, odd = words[0::2], words[1::2]
        # S-box key words: RS code over each 8-byte key chunk, used in reverse order
        s_words = []
        for i in range(k):
            chunk = key[8 * i : 8 * i + 8]
            s = 0
            for row in range(4):
                v = 0
                for col in range(8):
                    v ^= _gf_mul(_RS[row][col], chunk[col], _RS_POLY)
                s |= v << (8 * row)
            s_words.append(s)
        s_words.reverse()

        sub = []
        for i in range(20):
            a = _h(2 * i * _RHO, even)
            b = _rol32(_h((2 * i + 1) * _RHO, odd), 8)
            sub.append((a + b) & _M32)
            sub.append(_rol32((a + 2 * b) & _M32, 9))
        self._k = tuple(sub)

        # g(X) = t0[X0] ^ t1[X1] ^ t2[X2] ^ t3[X3]: S-boxes and MDS fused per byte position
        self._t0, self._t1, self._t2, self._t3 = (
            tuple(_MDS_COL[pos][_sbox_bytes(x, pos, s_words)] for x in range(256))
            for pos in range(4)
        )

    def encrypt_block(self, block: bytes) -> bytes:
        t0, t1, t2, t3 = self._t0, self._t1, self._t2, self._t3
        k = self._k
        m = _M32
        p0, p1, p2, p3 = _U4.unpack(block)
        r0, r1, r2, r3 = p0 ^ k[0], p1 ^ k[1], p2 ^ k[2], p3 ^ k[3]
        for i in range(8, 40, 4):
            # two rounds per iteration, so the halves swap back without tuple shuffling
            a = t0[r0 & 0xFF] ^ t1[(r0 >> 8) & 0xFF] ^ t2[(r0 >> 16) & 0xFF] ^ t3[r0 >> 24]
            b = t0[r1 >> 24] ^ t1[r1 & 0xFF] ^ t2[(r1 >> 8) & 0xFF] ^ t3[(r1 >> 16) & 0xFF]
            r2 ^= (a + b + k[i]) & m
            r2 = (r2 >> 1) | ((r2 << 31) & m)
            r3 = (((r3 << 1) & m) | (r3 >> 31)) ^ ((a + 2 * b + k[i + 1]) & m)
            a = t0[r2 & 0xFF] ^ t1[(r2 >> 8) & 0xFF] ^ t2[(r2 >> 16) & 0xFF] ^ t3[r2 >> 24]
            b = t0[r3 >> 24] ^ t1[r3 & 0xFF] ^ t2[(r3 >> 8) & 0xFF] ^ t3[(r3 >> 16) & 0xFF]
            r0 ^= (a + b + k[i + 2]) & m
            r0 = (r0 >> 1) | ((r0 << 31) & m)
            r1 = (((r1 << 1) & m) | (r1 >> 31)) ^ ((a + 2 * b + k[i + 3]) & m)
        return _U4.pack(r2 ^ k[4], r3 ^ k[5], r0 ^ k[6], r1 ^ k[7])

    def decrypt_block(self, block: bytes) -> bytes:
        t0, t1, t2, t3 = self._t0, self._t1, self._t2, self._t3
        k = self._k
        m = _M32
        c0, c1, c2, c3 = _U4.unpack(block)
        r2, r3, r0, r1 = c0 ^ k[4], c1 ^ k[5], c2 ^ k[6], c3 ^ k[7]
        for i in range(36, 4, -4):
            a = t0[r2 & 0xFF] ^ t1[(r2 >> 8) & 0xFF] ^ t2[(r2 >> 16) & 0xFF] ^ t3[r2 >> 24]
            b = t0[r3 >> 24] ^ t1[r3 & 0xFF] ^ t2[(r3 >> 8) & 0xFF] ^ t3[(r3 >> 16) & 0xFF]
            r0 = (((r0 << 1) & m) | (r0 >> 31)) ^ ((a + b + k[i + 2]) & m)
            r1 ^= (a + 2 * b + k[i + 3]) & m
            r1 = (r1 >> 1) | ((r1 << 31) & m)
            a = t0[r0 & 0xFF] ^ t1[(r0 >> 8) & 0xFF] ^ t2[(r0 >> 16) & 0xFF] ^ t3[r0 >> 24]
            b = t0[r1 >> 24] ^ t1[r1 & 0xFF] ^ t2[(r1 >> 8) & 0xFF] ^ t3[(r1 >> 16) & 0xFF]
            r2 = (((r2 << 1) & m) | (r2 >> 31)) ^ ((a + b + k[i]) & m)
            r3 ^= (a + 2 * b + k[i + 1]) & m
            r3 = (r3 >> 1) | ((r3 << 31) & m)
        return _U4.pack(r0 ^ k[0], r1 ^ k[1], r2 ^ k[2], r3 ^ k[3])
