"""Fuzz: wrong keys, truncated and garbled payloads and compressed data make decode and
decompress raise only TransformError (the core counts and drops); the unauthenticated
ciphers may also just return garbage."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyn2n.constants import N2N_PKT_BUF_SIZE
from pyn2n.transforms import TransformError, decompress, make_transform
from pyn2n.transforms.compression import Lzo, Zstd

KEY = "SoMEVer!S$cUREPassWORD"
FAST_IDS = (1, 3, 4, 5)  # Twofish is pure Python: fuzzed separately on short inputs
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRANSFORMS = {
    tid: make_transform(tid, None if tid == 1 else KEY, os.urandom) for tid in range(1, 6)
}
OTHER_KEY = {tid: make_transform(tid, "another key", os.urandom) for tid in range(2, 6)}
DECOMPRESSORS = [Lzo(), Zstd()]


def _decode_or_drop(transform_id: int, payload: bytes, *, other_key: bool = False) -> None:
    transform = (OTHER_KEY if other_key else TRANSFORMS)[transform_id]
    try:
        frame = transform.decode(payload)
    except TransformError:
        return
    assert isinstance(frame, bytes)
    assert len(frame) == len(payload) - (0 if transform_id == 1 else 16)


@FUZZ
@given(st.sampled_from(FAST_IDS), st.binary(max_size=N2N_PKT_BUF_SIZE + 40))
def test_random_payloads(transform_id: int, payload: bytes) -> None:
    _decode_or_drop(transform_id, payload)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=80))
def test_random_payloads_twofish(payload: bytes) -> None:
    _decode_or_drop(2, payload)


@FUZZ
@given(
    st.sampled_from((2, 3, 4, 5)),
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=0, max_value=255),
    st.booleans(),
)
def test_garbled_truncated_and_wrong_key(
    transform_id: int, frame: bytes, cut: int, flip: int, other_key: bool
) -> None:
    if transform_id == 2:
        frame = frame[:48]
    payload = bytearray(TRANSFORMS[transform_id].encode(frame))
    payload = payload[: len(payload) - cut % (len(payload) + 1)]  # truncate, possibly to nothing
    if payload:
        payload[flip % len(payload)] ^= 1 + flip % 255
    _decode_or_drop(transform_id, bytes(payload), other_key=other_key)


@FUZZ
@given(st.sampled_from((2, 3, 4, 5)), st.binary(min_size=4, max_size=200))
def test_wrong_key_never_yields_the_frame(transform_id: int, frame: bytes) -> None:
    if transform_id == 2:
        frame = frame[:48]
    payload = TRANSFORMS[transform_id].encode(frame)
    assert OTHER_KEY[transform_id].decode(payload) != frame  # a 2^-32 chance at worst


@FUZZ
@given(st.integers(min_value=0, max_value=5), st.binary(max_size=N2N_PKT_BUF_SIZE + 10))
def test_random_compressed_data(compression_id: int, data: bytes) -> None:
    try:
        frame = decompress(compression_id, data)
    except TransformError:
        return
    assert isinstance(frame, bytes) and len(frame) <= N2N_PKT_BUF_SIZE


@FUZZ
@given(
    st.binary(min_size=1, max_size=N2N_PKT_BUF_SIZE),
    st.integers(min_value=0, max_value=2**16),
    st.integers(min_value=1, max_value=255),
    st.integers(min_value=0, max_value=100),
)
def test_garbled_compressed_data(frame: bytes, where: int, flip: int, cut: int) -> None:
    frame = frame[: len(frame) // 2] * 3 or frame  # make it compressible
    frame = frame[:N2N_PKT_BUF_SIZE]
    for method in DECOMPRESSORS:
        data = method.compress(frame)
        if data is None:
            continue
        assert method.decompress(data) == frame
        garbled = bytearray(data[: max(0, len(data) - cut)])
        if garbled:
            garbled[where % len(garbled)] ^= flip
        try:
            out = method.decompress(bytes(garbled))
        except TransformError:
            continue
        assert len(out) <= N2N_PKT_BUF_SIZE
