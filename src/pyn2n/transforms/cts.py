"""n2n's CBC ciphertext stealing, shared by AES (3) and Twofish (2) (spec §5).

On the wire: `CBC-CS(zero IV, R ‖ frame)`, where R is 16 random bytes standing in for the IV,
so the payload is exactly 16 + len(frame) bytes. Encryption zero-pads R ‖ frame to whole blocks
and CBC-encrypts it; if padding was needed the last two ciphertext blocks are swapped and the
output is cut to 16 + len(frame) bytes (n2n `transop_encode_aes/_tf`). Decryption of a payload
whose length is not a multiple of 16 ECB-decrypts the (full) penultimate block, whose tail is
the tail of the stolen block, splices the truncated last block in front of it, swaps them back
and CBC-decrypts.

n2n then checks that the pad bytes came out zero; we do not, because that check cannot fail:
the decrypted pad is D(Cn)[rest:] XOR D(Cn)[rest:]. A wrong key thus decodes to garbage.
"""

from __future__ import annotations

from typing import Protocol

from pyn2n.transforms.base import BLOCK, MAX_FRAME, TransformError

_ZEROS = bytes(BLOCK)


class ZeroIvCbc(Protocol):
    """A block cipher in CBC mode with an all-zero IV, over whole blocks."""

    def cbc_encrypt(self, prefix: bytes, frame: bytes, pad: bytes) -> bytes:
        """CBC of prefix ‖ frame ‖ pad (a whole number of blocks), given in parts so that
        the message is assembled only once."""
        ...

    def cbc_decrypt(self, ciphertext: bytes) -> bytes:
        """CBC decryption; the first block of the result may be wrong (it is the random
        prefix, which is dropped), so an implementation may chain on from the last message."""
        ...

    def ecb_decrypt_block(self, block: bytes) -> bytes: ...


def cts_encrypt(cipher: ZeroIvCbc, prefix: bytes, frame: bytes) -> bytes:
    """The payload for `frame` with the 16-byte random `prefix` (spec §5 AES/Twofish)."""
    size = BLOCK + len(frame)
    rest = size % BLOCK
    if not rest:
        return cipher.cbc_encrypt(prefix, frame, b"")
    ct = cipher.cbc_encrypt(prefix, frame, _ZEROS[rest:])
    # swap the last two blocks; the stolen (now last) one is cut to `rest` bytes
    return b"".join((ct[: -2 * BLOCK], ct[-BLOCK:], ct[-2 * BLOCK : -2 * BLOCK + rest]))


def cts_decrypt(cipher: ZeroIvCbc, payload: bytes) -> bytes:
    """The frame carried by `payload`; `TransformError` if it is too short or too long."""
    size = len(payload)
    if size < BLOCK:
        raise TransformError(f"CTS payload of {size} bytes is shorter than its 16-byte prefix")
    if size - BLOCK > MAX_FRAME:
        raise TransformError(f"CTS payload of {size} bytes exceeds {MAX_FRAME} + 16")
    rest = size % BLOCK
    if rest:
        start = size - rest - BLOCK  # the full block that holds E(Pn ^ Cn-1)
        last = payload[start : start + BLOCK]
        # Cn-1 = the truncated block ‖ the tail of D(Cn) (there Pn was zero padding)
        tail = cipher.ecb_decrypt_block(last)[rest:]
        payload = b"".join((payload[:start], payload[start + BLOCK :], tail, last))
    return cipher.cbc_decrypt(payload)[BLOCK:size]
