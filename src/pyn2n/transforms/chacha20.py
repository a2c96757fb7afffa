"""Transform 4, ChaCha20 (spec §5): `16-byte random IV ‖ ChaCha20(key, IV) XOR frame`.

Key = pearson_hash_256(passphrase). The IV is the whole 16-byte ChaCha state words 12..15
(little-endian 32-bit block counter, then the 96-bit nonce): OpenSSL's `EVP_chacha20`, which
is also what `cryptography`'s `algorithms.ChaCha20(key, iv16)` takes. No Poly1305.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from pyn2n.constants import N2N_TRANSFORM_ID_CHACHA20
from pyn2n.transforms.base import BLOCK, MAX_FRAME, Rng, TransformError


class ChaCha20Transform:
    """n2n's ChaCha20 transform (`-A4`)."""

    id = N2N_TRANSFORM_ID_CHACHA20
    name = "ChaCha20"

    def __init__(self, key: bytes, rng: Rng) -> None:
        """`key` is the 32-byte ChaCha20 key (pearson_hash_256 of the passphrase)."""
        if len(key) != 32:
            raise ValueError(f"ChaCha20 key must be 32 bytes, not {len(key)}")
        # One context per direction, re-keyed per frame with reset_nonce (cryptography ≥ 43):
        # making a context costs several times the cipher work on a full-size frame.
        cipher = Cipher(algorithms.ChaCha20(key, bytes(BLOCK)), None)
        self._encryptor = cipher.encryptor()
        self._decryptor = cipher.decryptor()
        self._rng = rng

    def encode(self, frame: bytes) -> bytes:
        iv = self._rng(BLOCK)
        self._encryptor.reset_nonce(iv)
        return iv + self._encryptor.update(frame)

    def decode(self, payload: bytes) -> bytes:
        size = len(payload)
        if size < BLOCK:
            raise TransformError(f"ChaCha20 payload of {size} bytes is shorter than its IV")
        if size - BLOCK > MAX_FRAME:
            raise TransformError(f"ChaCha20 payload of {size} bytes exceeds {MAX_FRAME} + 16")
        self._decryptor.reset_nonce(payload[:BLOCK])
        return self._decryptor.update(payload[BLOCK:])
