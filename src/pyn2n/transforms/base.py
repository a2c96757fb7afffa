"""The payload-transform interface (spec §5) and its two exceptions.

A transform turns an Ethernet frame (possibly compressed first) into the bytes that follow the
PACKET header's compression and transform bytes, and back. Every transform is identified on the
wire by its n2n id (the PACKET `transform` byte): 1 null, 2 Twofish, 3 AES, 4 ChaCha20, 5 Speck.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pyn2n.constants import N2N_PKT_BUF_SIZE

Rng = Callable[[int], bytes]
"""Returns n random bytes; passed in, since the pure layers draw no randomness of their own."""

BLOCK = 16
"""Block size of AES, Twofish and Speck128 and the size of every transform's random prefix/IV."""

MAX_FRAME = N2N_PKT_BUF_SIZE
"""n2n decodes into 2048-byte buffers and drops anything that would not fit (spec §1, §5)."""


class TransformError(ValueError):
    """A payload that does not decode (truncated, too long, garbled, bad compressed data).

    The only exception `Transform.decode` and `decompress` raise: the core counts and drops.
    Note that n2n's ciphers are unauthenticated, so a wrong key usually yields garbage rather
    than this error.
    """


class TransformConfigError(ValueError):
    """A local configuration mistake (unknown id, key given or missing); names the fix."""


class Transform(Protocol):
    """One configured payload transform (spec §5).

    `encode` and `decode` keep per-direction state (cipher contexts), so each may be called from
    one thread at a time; encoding in one thread while decoding in another is fine.
    Both also take a bytearray or memoryview (e.g. a slice of a receive buffer) and always
    return bytes.
    """

    id: int
    name: str

    def encode(self, frame: bytes) -> bytes:
        """The on-wire payload for `frame`, with a fresh random IV/prefix from the rng."""
        ...

    def decode(self, payload: bytes) -> bytes:
        """The frame carried by `payload`; raises only `TransformError`."""
        ...
