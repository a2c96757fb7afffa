"""Transform 5, Speck (spec §5): `16-byte random IV ‖ Speck128/256-CTR(key, IV, frame)`.

Key = pearson_hash_256(passphrase), 34 rounds; CTR counter rules in `pyn2n.crypto.speck`.
"""

from __future__ import annotations

from pyn2n.constants import N2N_TRANSFORM_ID_SPECK
from pyn2n.crypto.speck import Speck128
from pyn2n.transforms.base import BLOCK, MAX_FRAME, Rng, TransformError


class SpeckTransform:
    """n2n's Speck-CTR transform (`-A5`)."""

    id = N2N_TRANSFORM_ID_SPECK
    name = "Speck"

    def __init__(self, key: bytes, rng: Rng) -> None:
        """`key` is the 32-byte Speck128/256 key (pearson_hash_256 of the passphrase)."""
        if len(key) != 32:
            raise ValueError(f"Speck key must be 32 bytes, not {len(key)}")
        self._speck = Speck128(key)
        self._rng = rng

    def encode(self, frame: bytes) -> bytes:
        iv = self._rng(BLOCK)
        return iv + self._speck.ctr(iv, frame)

    def decode(self, payload: bytes) -> bytes:
        size = len(payload)
        if size < BLOCK:
            raise TransformError(f"Speck payload of {size} bytes is shorter than its IV")
        if size - BLOCK > MAX_FRAME:
            raise TransformError(f"Speck payload of {size} bytes exceeds {MAX_FRAME} + 16")
        return self._speck.ctr(payload[:BLOCK], payload[BLOCK:])
