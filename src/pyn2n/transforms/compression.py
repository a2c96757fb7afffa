"""PACKET payload compression, applied before the transform (spec §5).

The PACKET's compression byte says how the decrypted payload is compressed: 1 none, 2 LZO1X
(raw `lzo1x_1_compress` output: no header, no length; at most 2048 bytes decompressed),
3 zstd (one standard zstd frame, level 7, with the content size in its header). Anything else
(0 included) is dropped. A sender only uses compression when the result is strictly smaller
than the frame, and n2n compresses nothing longer than 2048 bytes.

LZO comes from python-lzo, a binding of liblzo2 itself: real LZO1X-1, byte for byte n2n's output
(lzokay, the other candidate, is an LZO1X-999-style compressor ~30x slower and its `decompress`
does not return the output length; the tests use it as an independent decoder).
"""

from __future__ import annotations

from typing import Protocol

import lzo as python_lzo
import zstandard

from pyn2n.constants import (
    N2N_COMPRESSION_ID_LZO,
    N2N_COMPRESSION_ID_NONE,
    N2N_COMPRESSION_ID_ZSTD,
    N2N_ZSTD_LEVEL,
)
from pyn2n.transforms.base import MAX_FRAME, TransformConfigError, TransformError

COMPRESSION_NAMES: dict[int, str] = {
    N2N_COMPRESSION_ID_NONE: "none",
    N2N_COMPRESSION_ID_LZO: "lzo1x",
    N2N_COMPRESSION_ID_ZSTD: "zstd",
}
"""n2n's names (`compression_str`)."""


class Compression(Protocol):
    """One compression method; `decompress` raises only `TransformError`."""

    id: int
    name: str

    def compress(self, data: bytes) -> bytes | None:
        """The compressed data, or None when that would not be strictly smaller."""
        ...

    def decompress(self, data: bytes) -> bytes: ...


def _check_input(data: bytes) -> None:
    # n2n refuses compressed input longer than its packet buffer (transop_decode_lzo/_zstd)
    if len(data) > MAX_FRAME:
        raise TransformError(f"compressed payload of {len(data)} bytes exceeds {MAX_FRAME}")


class NoCompression:
    id = N2N_COMPRESSION_ID_NONE
    name = "none"

    def compress(self, data: bytes) -> bytes | None:
        return None

    def decompress(self, data: bytes) -> bytes:
        return data


class Lzo:
    """LZO1X-1 via python-lzo (liblzo2, `lzo1x_decompress_safe`)."""

    id = N2N_COMPRESSION_ID_LZO
    name = "lzo1x"

    def compress(self, data: bytes) -> bytes | None:
        if len(data) > MAX_FRAME:
            return None
        out: bytes = python_lzo.compress(data, 1, False)
        return out if len(out) < len(data) else None

    def decompress(self, data: bytes) -> bytes:
        _check_input(data)
        try:
            out: bytes = python_lzo.decompress(data, False, MAX_FRAME)
        except python_lzo.error as exc:  # also raised when the output exceeds MAX_FRAME
            raise TransformError(f"bad LZO data: {exc}") from exc
        return out


class Zstd:
    """zstd level 7 (`ZSTD_compress` / `ZSTD_decompress`)."""

    id = N2N_COMPRESSION_ID_ZSTD
    name = "zstd"

    def __init__(self) -> None:
        # reused for every frame; neither is thread-safe, each is used in one direction
        self._compressor = zstandard.ZstdCompressor(level=N2N_ZSTD_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()

    def compress(self, data: bytes) -> bytes | None:
        if len(data) > MAX_FRAME:
            return None
        out = self._compressor.compress(data)
        return out if len(out) < len(data) else None

    def decompress(self, data: bytes) -> bytes:
        _check_input(data)
        try:
            # zstandard trusts a declared content size over max_output_size: check it first
            # so a forged header cannot make us allocate more than a frame
            declared = zstandard.frame_content_size(data)
            if declared > MAX_FRAME:
                raise TransformError(f"zstd frame declares {declared} bytes, over {MAX_FRAME}")
            return self._decompressor.decompress(
                data, max_output_size=MAX_FRAME, allow_extra_data=False
            )
        except zstandard.ZstdError as exc:
            raise TransformError(f"bad zstd data: {exc}") from exc


def make_compression(compression_id: int) -> Compression:
    """A fresh compression object for a PACKET compression id (1 none, 2 LZO, 3 zstd)."""
    if compression_id == N2N_COMPRESSION_ID_NONE:
        return NoCompression()
    if compression_id == N2N_COMPRESSION_ID_LZO:
        return Lzo()
    if compression_id == N2N_COMPRESSION_ID_ZSTD:
        return Zstd()
    raise TransformConfigError(
        f"unknown compression id {compression_id}: use 1 (none), 2 (LZO, -z1) or 3 (zstd, -z2)"
    )


_SHARED: dict[int, Compression] = {cid: make_compression(cid) for cid in COMPRESSION_NAMES}


def compress(compression_id: int, data: bytes) -> bytes | None:
    """`data` compressed with method `compression_id`, or None when not strictly smaller
    (then n2n sends the frame uncompressed, compression byte 1). Uses shared objects: call
    from one thread, or keep your own from `make_compression`."""
    try:
        method = _SHARED[compression_id]
    except KeyError:
        raise TransformConfigError(
            f"unknown compression id {compression_id}: use 1 (none), 2 (LZO) or 3 (zstd)"
        ) from None
    return method.compress(data)


def decompress(compression_id: int, data: bytes) -> bytes:
    """Undo `compress` per a received PACKET's compression byte; only `TransformError`."""
    method = _SHARED.get(compression_id)
    if method is None:
        raise TransformError(f"unknown compression id {compression_id}")
    return method.decompress(data)
