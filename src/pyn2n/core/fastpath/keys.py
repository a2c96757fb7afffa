"""Fast-path session keys: which AEAD a `-A` transform gets, HKDF-SHA256 over the `-k`
passphrase and both HELLOs (one key per direction), and the AEAD objects (docs/fastpath.md,
"Negotiation")."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pyn2n.constants import N2N_TRANSFORM_ID_CHACHA20, N2N_TRANSFORM_ID_NULL
from pyn2n.wire.hello import AEAD_AES256GCM, AEAD_CHACHA20POLY1305, AEAD_NONE, Hello

__all__ = ["aead_for_transform", "derive_keys", "make_aead"]

_KDF_LABEL = b"pyn2n fastpath v1"


def aead_for_transform(transform_id: int) -> int:
    """-A1 (no key): none; -A4 (ChaCha20): ChaCha20-Poly1305; any other cipher: AES-256-GCM."""
    if transform_id == N2N_TRANSFORM_ID_NULL:
        return AEAD_NONE
    if transform_id == N2N_TRANSFORM_ID_CHACHA20:
        return AEAD_CHACHA20POLY1305
    return AEAD_AES256GCM


def derive_keys(passphrase: bytes, aead: int, offer: Hello, accept: Hello) -> tuple[bytes, bytes]:
    """(offerer→answerer key, answerer→offerer key), 32 bytes each: salt = offer salt ‖ accept
    salt, info = label ‖ AEAD ‖ offerer MAC ‖ answerer MAC ‖ offerer id ‖ answerer id."""
    info = b"".join(
        (
            _KDF_LABEL,
            bytes((aead,)),
            offer.src,
            accept.src,
            offer.conn.to_bytes(4, "big"),
            accept.conn.to_bytes(4, "big"),
        )
    )
    okm = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=offer.offer_salt + accept.accept_salt, info=info
    ).derive(passphrase)
    return okm[:32], okm[32:]


def make_aead(aead: int, key: bytes) -> AESGCM | ChaCha20Poly1305 | None:
    if aead == AEAD_AES256GCM:
        return AESGCM(key)
    if aead == AEAD_CHACHA20POLY1305:
        return ChaCha20Poly1305(key)
    return None
