"""Transform 2, Twofish (spec §5): the AES scheme (`cts`) with Twofish-256.

Key = all 32 bytes of pearson_hash_256(passphrase). The block cipher is pure Python
(`pyn2n.crypto.twofish`), so this transform is slow; it exists for compatibility.
"""

from __future__ import annotations

from pyn2n.constants import N2N_TRANSFORM_ID_TWOFISH
from pyn2n.crypto.twofish import Twofish
from pyn2n.transforms.base import BLOCK, Rng
from pyn2n.transforms.cts import cts_decrypt, cts_encrypt


class _TwofishZeroIvCbc:
    """Zero-IV CBC over the block primitive; blocks are XOR-ed as little-endian ints."""

    def __init__(self, key: bytes) -> None:
        self._twofish = Twofish(key)

    def cbc_encrypt(self, prefix: bytes, frame: bytes, pad: bytes) -> bytes:
        plaintext = b"".join((prefix, frame, pad))
        encrypt = self._twofish.encrypt_block
        out = []
        chain = 0
        for pos in range(0, len(plaintext), BLOCK):
            block = int.from_bytes(plaintext[pos : pos + BLOCK], "little") ^ chain
            ct = encrypt(block.to_bytes(BLOCK, "little"))
            chain = int.from_bytes(ct, "little")
            out.append(ct)
        return b"".join(out)

    def cbc_decrypt(self, ciphertext: bytes) -> bytes:
        decrypt = self._twofish.decrypt_block
        out = []
        chain = 0
        for pos in range(0, len(ciphertext), BLOCK):
            ct = ciphertext[pos : pos + BLOCK]
            block = int.from_bytes(decrypt(ct), "little") ^ chain
            chain = int.from_bytes(ct, "little")
            out.append(block.to_bytes(BLOCK, "little"))
        return b"".join(out)

    def ecb_decrypt_block(self, block: bytes) -> bytes:
        return self._twofish.decrypt_block(block)


class TwofishTransform:
    """n2n's Twofish-CTS transform (`-A2`)."""

    id = N2N_TRANSFORM_ID_TWOFISH
    name = "Twofish"

    def __init__(self, key: bytes, rng: Rng) -> None:
        """`key` is the 32-byte Twofish key (pearson_hash_256 of the passphrase)."""
        if len(key) != 32:
            raise ValueError(f"Twofish key must be 32 bytes, not {len(key)}")
        self._cipher = _TwofishZeroIvCbc(key)
        self._rng = rng

    def encode(self, frame: bytes) -> bytes:
        return cts_encrypt(self._cipher, self._rng(BLOCK), frame)

    def decode(self, payload: bytes) -> bytes:
        return cts_decrypt(self._cipher, payload)
