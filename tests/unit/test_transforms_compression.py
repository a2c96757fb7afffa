"""PACKET compression (spec §5): n2n's LZO and zstd outputs, size limits."""

from __future__ import annotations

import os

import pytest
import zstandard

from pyn2n.constants import N2N_PKT_BUF_SIZE
from pyn2n.transforms import (
    COMPRESSION_NAMES,
    Compression,
    TransformConfigError,
    TransformError,
    compress,
    decompress,
    make_compression,
)
from pyn2n.transforms.compression import Lzo, Zstd
from tests import vectors

PAYLOAD_OFFSET = 24 + 14  # common header + PACKET header (spec §2, §4)
ALL_METHODS: list[Compression] = [Lzo(), Zstd()]


def _ids(method: Compression) -> str:
    return method.name


def n2n_outputs(label: str) -> list[bytes]:
    """What n2n's compressor made of the standard input: tests-compress.expected and the
    payload of the matching tests-transform.expected PACKET."""
    raw = vectors.find("tests-compress.expected", "lzo1x" if label == "lzo" else label).data
    packet = vectors.find("tests-transform.expected", label, "output size").data
    return [raw, packet[PAYLOAD_OFFSET:]]


def test_lzo_decompresses_n2n_output() -> None:
    for data in n2n_outputs("lzo"):
        assert Lzo().decompress(data) == vectors.standard_input()


def test_zstd_decompresses_n2n_output() -> None:
    for data in n2n_outputs("zstd"):
        assert decompress(3, data) == vectors.standard_input()


def test_lzo_compresses_like_n2n() -> None:
    assert Lzo().compress(vectors.standard_input()) == n2n_outputs("lzo")[0]


def test_independent_lzo1x_decompressor_reads_our_lzo() -> None:
    # lzokay is a separate LZO1X implementation (no liblzo2 code): a second opinion
    import lzokay

    for frame in _compressible_frames():
        data = Lzo().compress(frame)
        assert data is not None
        assert lzokay.decompress(data, len(frame)) == frame


def _compressible_frames() -> list[bytes]:
    text = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"
    return [
        vectors.standard_input(),
        bytes(60),
        b"\x01" + bytes(63),
        text * 30,
        (text * 50)[:N2N_PKT_BUF_SIZE],
        os.urandom(40) + bytes(200) + os.urandom(10),
        bytes(N2N_PKT_BUF_SIZE),
    ]


@pytest.mark.parametrize("method", ALL_METHODS, ids=_ids)
def test_round_trip(method: Compression) -> None:
    for frame in _compressible_frames():
        data = method.compress(frame)
        assert data is not None and len(data) < len(frame)
        assert method.decompress(data) == frame


def test_lzo_length_is_exact_with_trailing_zeros() -> None:
    head = b"ab" * 40
    for zeros in [*range(0, 40), 100, 500, N2N_PKT_BUF_SIZE - len(head)]:
        frame = head + bytes(zeros)
        data = Lzo().compress(frame)
        assert data is not None
        assert Lzo().decompress(data) == frame
    import lzo

    for frame in (bytes(30), bytes(1), b""):  # streams that decode to zeros only, or nothing
        assert Lzo().decompress(lzo.compress(frame, 1, False)) == frame


@pytest.mark.parametrize("method", ALL_METHODS, ids=_ids)
def test_compress_returns_none_unless_strictly_smaller(method: Compression) -> None:
    assert method.compress(b"") is None
    assert method.compress(os.urandom(1400)) is None
    assert method.compress(bytes(N2N_PKT_BUF_SIZE + 1)) is None  # n2n compresses ≤ 2048 bytes


def test_none_compression() -> None:
    assert compress(1, b"x" * 100) is None
    assert decompress(1, b"frame") == b"frame"


@pytest.mark.parametrize("method", ALL_METHODS, ids=_ids)
def test_decompress_refuses_more_than_a_packet_buffer(method: Compression) -> None:
    with pytest.raises(TransformError):  # compressed input itself too long
        method.decompress(bytes(N2N_PKT_BUF_SIZE + 1))
    big = bytes(N2N_PKT_BUF_SIZE + 1)
    for data in _oversized_streams(method, big):
        with pytest.raises(TransformError):
            method.decompress(data)


def _oversized_streams(method: Compression, big: bytes) -> list[bytes]:
    if isinstance(method, Zstd):
        return [
            zstandard.ZstdCompressor(level=7).compress(big),  # declares 2049 bytes
            zstandard.ZstdCompressor(level=7, write_content_size=False).compress(big),
        ]
    import lzo

    return [lzo.compress(big, 1, False)]


def test_zstd_rejects_trailing_data_and_second_frames() -> None:
    frame = zstandard.ZstdCompressor(level=7).compress(bytes(100))
    assert decompress(3, frame) == bytes(100)
    for data in (frame + b"x", frame + frame, frame[:-1], b"", b"\x28\xb5\x2f\xfd"):
        with pytest.raises(TransformError):
            decompress(3, data)


def test_lzo_rejects_garbage() -> None:
    method = Lzo()
    good = method.compress(vectors.standard_input())
    assert good is not None
    for data in (b"\xff" * 20, good[:-1], good[:5], good + b"xy"):
        with pytest.raises(TransformError):
            method.decompress(data)


def test_registry() -> None:
    assert COMPRESSION_NAMES == {1: "none", 2: "lzo1x", 3: "zstd"}
    for cid, name in COMPRESSION_NAMES.items():
        method = make_compression(cid)
        assert (method.id, method.name) == (cid, name)
    for bad in (0, 4, 255):
        with pytest.raises(TransformConfigError, match="-z1"):
            make_compression(bad)
        with pytest.raises(TransformConfigError):
            compress(bad, b"x" * 100)
        with pytest.raises(TransformError):  # a received compression byte: drop, not config
            decompress(bad, b"x" * 100)


def test_shared_functions_use_the_registered_methods() -> None:
    frame = (b"abcdefgh" * 64)[:500]
    for cid in (2, 3):
        data = compress(cid, frame)
        assert data is not None
        assert decompress(cid, data) == frame
        assert make_compression(cid).decompress(data) == frame
