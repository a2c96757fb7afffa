"""Transforms by n2n id, and n2n's key rules (spec §5).

Ids: 1 null, 2 Twofish, 3 AES, 4 ChaCha20, 5 Speck. Every cipher hashes the `-k` passphrase
(its bytes, no NUL) with pearson_hash_256; AES then picks its key size by passphrase length.
A key with no `-A` means AES; `-A1` with a key, or `-A2..5` without one, is a config error.
"""

from __future__ import annotations

from pyn2n.constants import (
    N2N_TRANSFORM_ID_AES,
    N2N_TRANSFORM_ID_CHACHA20,
    N2N_TRANSFORM_ID_NULL,
    N2N_TRANSFORM_ID_SPECK,
    N2N_TRANSFORM_ID_TWOFISH,
)
from pyn2n.crypto.pearson import pearson_hash_256
from pyn2n.transforms.aes import AesTransform, aes_key
from pyn2n.transforms.base import Rng, Transform, TransformConfigError
from pyn2n.transforms.chacha20 import ChaCha20Transform
from pyn2n.transforms.null import NullTransform
from pyn2n.transforms.speck import SpeckTransform
from pyn2n.transforms.twofish import TwofishTransform

TRANSFORM_NAMES: dict[int, str] = {
    N2N_TRANSFORM_ID_NULL: "null",
    N2N_TRANSFORM_ID_TWOFISH: "Twofish",
    N2N_TRANSFORM_ID_AES: "AES",
    N2N_TRANSFORM_ID_CHACHA20: "ChaCha20",
    N2N_TRANSFORM_ID_SPECK: "Speck",
}
"""n2n's names (`transop_str`)."""


def passphrase_bytes(key: str | bytes) -> bytes:
    """The bytes n2n hashes for `-k`: a str as it came from argv/env (UTF-8, undecodable bytes
    kept via surrogateescape, as Python decodes argv on Linux)."""
    return key.encode("utf-8", "surrogateescape") if isinstance(key, str) else bytes(key)


def make_transform(transform_id: int | None, key: str | bytes | None, rng: Rng) -> Transform:
    """The transform for `-A<transform_id>` and `-k <key>`; `transform_id=None` (no `-A`)
    means AES with a key and null without. `rng(n)` supplies the per-frame random IVs.

    Raises `TransformConfigError` (a ValueError) naming the fix for unknown ids, an empty
    key, `-A1` with a key and `-A2..5` without one.
    """
    passphrase = None if key is None else passphrase_bytes(key)
    if passphrase == b"":
        raise TransformConfigError(
            "the encryption key (-k / N2N_KEY) is empty: give a key or omit it"
        )
    if transform_id is None:
        transform_id = N2N_TRANSFORM_ID_NULL if passphrase is None else N2N_TRANSFORM_ID_AES
    name = TRANSFORM_NAMES.get(transform_id)
    if name is None:
        raise TransformConfigError(
            f"unknown transform id {transform_id}: use -A1 (null), -A2 (Twofish), -A3 (AES), "
            "-A4 (ChaCha20) or -A5 (Speck)"
        )
    if transform_id == N2N_TRANSFORM_ID_NULL:
        if passphrase is not None:
            raise TransformConfigError(
                "-A1 (no encryption) was given together with a key: drop the key (-k / N2N_KEY) "
                "or choose a cipher with -A2..-A5"
            )
        return NullTransform()
    if passphrase is None:
        raise TransformConfigError(
            f"-A{transform_id} ({name}) needs an encryption key: add -k <key> (or N2N_KEY), "
            "or use -A1 for no encryption"
        )
    if transform_id == N2N_TRANSFORM_ID_AES:
        return AesTransform(aes_key(passphrase), rng)
    digest = pearson_hash_256(passphrase)
    if transform_id == N2N_TRANSFORM_ID_TWOFISH:
        return TwofishTransform(digest, rng)
    if transform_id == N2N_TRANSFORM_ID_CHACHA20:
        return ChaCha20Transform(digest, rng)
    return SpeckTransform(digest, rng)
