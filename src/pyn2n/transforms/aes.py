"""Transform 3, AES (spec §5): `CBC-CS(zero IV, 16 random bytes ‖ frame)`, see `cts`.

Key: H = pearson_hash_256(passphrase); the passphrase's byte length picks the key size:
≥ 33 → AES-256 (all of H), 23..32 → AES-192 (last 24 bytes of H), ≤ 22 → AES-128 (last 16).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyn2n.constants import N2N_TRANSFORM_ID_AES
from pyn2n.crypto.pearson import pearson_hash_256
from pyn2n.transforms.base import BLOCK, Rng
from pyn2n.transforms.cts import cts_decrypt, cts_encrypt

_ZERO_IV = bytes(BLOCK)


def aes_key(passphrase: bytes) -> bytes:
    """The AES key n2n derives from `-k` (`setup_aes_key`)."""
    digest = pearson_hash_256(passphrase)
    if len(passphrase) >= 33:
        return digest
    if len(passphrase) >= 23:
        return digest[-24:]
    return digest[-16:]


class _AesZeroIvCbc:
    """Zero-IV CBC on long-lived `cryptography` contexts.

    Making a context costs ~6 µs, several times the cipher work on a 1400-byte frame, so one
    encryptor and one decryptor live as long as the transform. A CBC context carries its last
    ciphertext block over to the next `update`, so it is as if each message had that block as
    IV. Encrypting: XOR-ing the first plaintext block with it gives exactly the zero-IV result.
    Decrypting: only the first plaintext block is wrong, and that is the random prefix, which
    is dropped anyway.
    """

    def __init__(self, key: bytes) -> None:
        algorithm = algorithms.AES(key)
        self._encryptor = Cipher(algorithm, modes.CBC(_ZERO_IV)).encryptor()
        self._decryptor = Cipher(algorithm, modes.CBC(_ZERO_IV)).decryptor()
        self._ecb = Cipher(algorithm, modes.ECB()).decryptor()
        self._chain = 0  # the encryptor's last ciphertext block, as a little-endian int

    def cbc_encrypt(self, prefix: bytes, frame: bytes, pad: bytes) -> bytes:
        first = (int.from_bytes(prefix, "little") ^ self._chain).to_bytes(BLOCK, "little")
        ct = self._encryptor.update(b"".join((first, frame, pad)))
        self._chain = int.from_bytes(ct[-BLOCK:], "little")
        return ct

    def cbc_decrypt(self, ciphertext: bytes) -> bytes:
        # Block 0 decrypts against the previous message's last block: garbage, but it is the
        # random prefix, which the caller drops.
        return self._decryptor.update(ciphertext)

    def ecb_decrypt_block(self, block: bytes) -> bytes:
        return self._ecb.update(block)


class AesTransform:
    """n2n's AES-CTS transform (`-A3`, the default when a key is given)."""

    id = N2N_TRANSFORM_ID_AES
    name = "AES"

    def __init__(self, key: bytes, rng: Rng) -> None:
        """`key` is the AES key itself (16, 24 or 32 bytes; see `aes_key`)."""
        if len(key) not in (16, 24, 32):
            raise ValueError(f"AES key must be 16, 24 or 32 bytes, not {len(key)}")
        self._cipher = _AesZeroIvCbc(key)
        self._rng = rng

    def encode(self, frame: bytes) -> bytes:
        return cts_encrypt(self._cipher, self._rng(BLOCK), frame)

    def decode(self, payload: bytes) -> bytes:
        return cts_decrypt(self._cipher, payload)
