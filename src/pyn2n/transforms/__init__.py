"""PACKET payload transforms (null, Twofish, AES, ChaCha20, Speck) and compression (spec §5).

One small interface (`Transform`: `id`, `name`, `encode(frame)`, `decode(payload)`), built by
n2n id with `make_transform`; compression by id with `compress` / `decompress` (or your own
objects from `make_compression`). Remote input fails only with `TransformError`; local
configuration mistakes raise `TransformConfigError`.
"""

from pyn2n.transforms.base import Rng, Transform, TransformConfigError, TransformError
from pyn2n.transforms.compression import (
    COMPRESSION_NAMES,
    Compression,
    compress,
    decompress,
    make_compression,
)
from pyn2n.transforms.registry import TRANSFORM_NAMES, make_transform, passphrase_bytes

__all__ = [
    "COMPRESSION_NAMES",
    "TRANSFORM_NAMES",
    "Compression",
    "Rng",
    "Transform",
    "TransformConfigError",
    "TransformError",
    "compress",
    "decompress",
    "make_compression",
    "make_transform",
    "passphrase_bytes",
]
