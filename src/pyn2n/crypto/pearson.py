"""n2n's "Pearson B" hash family (spec §9; n2n `src/pearson.c`, from Logan007/pearsonB).

Despite the name this is a sponge of Stafford's Mix13 over 64-bit lanes, not a table-driven
Pearson hash. Lane i (1-based) absorbs every 8-byte little-endian word as
`h_i = mix((h_i ^ w) - i)`, then (after `h_i = ~h_i`) every remaining byte the same way,
then (after another `~`) the input length. Outputs:

* `pearson_hash_64`  = h1 as an integer (callers that store it write it big-endian);
* `pearson_hash_32`/`_16` = the low 32/16 bits of `pearson_hash_64` (C truncation);
* `pearson_hash_128` = BE64(h2) ‖ BE64(h1)                       (16 bytes);
* `pearson_hash_256` = BE64(h4) ‖ BE64(h3) ‖ BE64(h2) ‖ BE64(h1)   (32 bytes).

So the 128-bit hash is the tail of the 256-bit one and the 64-bit hash the tail of both.
"""

from __future__ import annotations

import struct

__all__ = [
    "pearson_hash_16",
    "pearson_hash_32",
    "pearson_hash_64",
    "pearson_hash_128",
    "pearson_hash_256",
]

_M64 = 0xFFFFFFFFFFFFFFFF
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB


def _words(data: bytes) -> tuple[tuple[int, ...], bytes]:
    """The little-endian 64-bit words of `data` and the 0..7 trailing bytes."""
    full = len(data) & ~7
    words = struct.unpack_from(f"<{full >> 3}Q", data) if full else ()
    return words, data[full:]


def _lane(words: tuple[int, ...], tail: bytes, length: int, dec: int) -> int:
    """One lane of the sponge; `dec` is the lane number subtracted after each XOR."""
    # Mix13 inlined: this loop runs once per 8 bytes of every header-encrypted packet.
    m, c1, c2 = _M64, _C1, _C2
    h = 0
    for w in words:
        h = ((h ^ w) - dec) & m
        h = ((h ^ (h >> 30)) * c1) & m
        h = ((h ^ (h >> 27)) * c2) & m
        h ^= h >> 31
    h ^= m
    for b in tail:
        h = ((h ^ b) - dec) & m
        h = ((h ^ (h >> 30)) * c1) & m
        h = ((h ^ (h >> 27)) * c2) & m
        h ^= h >> 31
    h = ((h ^ m ^ length) - dec) & m
    h = ((h ^ (h >> 30)) * c1) & m
    h = ((h ^ (h >> 27)) * c2) & m
    return h ^ (h >> 31)


def pearson_hash_64(data: bytes) -> int:
    """The 64-bit hash h1 as an unsigned integer (spec §9)."""
    words, tail = _words(data)
    return _lane(words, tail, len(data), 1)


def pearson_hash_32(data: bytes) -> int:
    """Low 32 bits of `pearson_hash_64` (n2n returns the u64 through a u32)."""
    return pearson_hash_64(data) & 0xFFFFFFFF


def pearson_hash_16(data: bytes) -> int:
    """Low 16 bits of `pearson_hash_64` (n2n returns the u64 through a u16)."""
    return pearson_hash_64(data) & 0xFFFF


def pearson_hash_128(data: bytes) -> bytes:
    """16 bytes: BE64(h2) ‖ BE64(h1) (spec §9)."""
    words, tail = _words(data)
    n = len(data)
    return struct.pack(">2Q", _lane(words, tail, n, 2), _lane(words, tail, n, 1))


def pearson_hash_256(data: bytes) -> bytes:
    """32 bytes: BE64(h4) ‖ BE64(h3) ‖ BE64(h2) ‖ BE64(h1) (spec §9)."""
    words, tail = _words(data)
    n = len(data)
    return struct.pack(">4Q", *(_lane(words, tail, n, dec) for dec in (4, 3, 2, 1)))
