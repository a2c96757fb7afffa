"""Pearson B hash family (spec §9) against n2n's tests-hashing.expected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyn2n.crypto.pearson import (
    pearson_hash_16,
    pearson_hash_32,
    pearson_hash_64,
    pearson_hash_128,
    pearson_hash_256,
)
from tests import vectors

HASHING = "tests-hashing.expected"


def _int_output(label: str) -> int:
    text = vectors.find(HASHING, label).text  # "output = 0x..."
    return int(text.split("=")[1], 16)


def test_vector_input_is_the_standard_input() -> None:
    assert vectors.find(HASHING, "environment").data == vectors.standard_input()


def test_pearson_hash_256_vector() -> None:
    expected = vectors.find(HASHING, "pearson_hash_256").data
    assert len(expected) == 32
    assert pearson_hash_256(vectors.standard_input()) == expected


def test_pearson_hash_128_vector() -> None:
    expected = vectors.find(HASHING, "pearson_hash_128").data
    assert len(expected) == 16
    assert pearson_hash_128(vectors.standard_input()) == expected


@pytest.mark.parametrize(
    ("label", "func"),
    [
        ("pearson_hash_64", pearson_hash_64),
        ("pearson_hash_32", pearson_hash_32),
        ("pearson_hash_16", pearson_hash_16),
    ],
)
def test_integer_widths_vectors(label: str, func: object) -> None:
    assert callable(func)
    assert func(vectors.standard_input()) == _int_output(label)


def test_spec_key_vector() -> None:
    # spec §12: the key hash of tests-transform.expected's passphrase
    assert pearson_hash_256(b"SoMEVer!S$cUREPassWORD").hex() == (
        "b3a0558b7ebb8ede80cc66230e43fb83e3b2bd6168e2c00e19af107710cfc2a9"
    )


@given(st.binary(max_size=80))
def test_widths_are_nested(data: bytes) -> None:
    # 128 is the tail of 256, 64 the tail of 128, 32 and 16 truncations of 64 (spec §9)
    h256 = pearson_hash_256(data)
    h128 = pearson_hash_128(data)
    h64 = pearson_hash_64(data)
    assert h256[16:] == h128
    assert int.from_bytes(h128[8:], "big") == h64
    assert pearson_hash_32(data) == h64 & 0xFFFFFFFF
    assert pearson_hash_16(data) == h64 & 0xFFFF


def test_length_and_tail_matter() -> None:
    # the length is absorbed, so trailing zero bytes and word/byte boundaries change the hash
    seen = {pearson_hash_64(bytes(n)) for n in range(0, 20)}
    assert len(seen) == 20
    assert pearson_hash_64(b"a" * 8) != pearson_hash_64(b"a" * 9)
