"""Speck128/128 and Speck128/256: official vectors and n2n's CTR rules (spec §5, §9, §12)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.crypto.pearson import pearson_hash_256
from pyn2n.crypto.speck import Speck128
from tests import vectors

# Speck implementation guide (Beaulieu et al. 2019), byte form (spec §12)
SPECK128_128 = (
    bytes(range(16)),
    bytes.fromhex("206d616465206974206571756976616c"),
    bytes.fromhex("180d575cdffe60786532787951985da6"),
)
SPECK128_256 = (
    bytes(range(32)),
    bytes.fromhex("706f6f6e65722e20496e2074686f7365"),  # "pooner. In those"
    bytes.fromhex("438f189c8db4ee4e3ef5c00504010941"),
)


@pytest.mark.parametrize(("key", "pt", "ct"), [SPECK128_128, SPECK128_256], ids=["128", "256"])
def test_official_vectors(key: bytes, pt: bytes, ct: bytes) -> None:
    cipher = Speck128(key)
    assert cipher.encrypt_block(pt) == ct
    assert cipher.decrypt_block(ct) == pt


def test_rounds_by_key_size() -> None:
    assert Speck128(bytes(16)).rounds == 32
    assert Speck128(bytes(32)).rounds == 34


@pytest.mark.parametrize("size", [0, 8, 15, 24, 33])
def test_bad_key_sizes(size: int) -> None:
    with pytest.raises(ValueError):
        Speck128(bytes(size))


def test_bad_iv_size() -> None:
    with pytest.raises(ValueError):
        Speck128(bytes(16)).ctr(bytes(15), b"abc")


def _reference_ctr(cipher: Speck128, iv: bytes, data: bytes) -> bytes:
    """Spec §5 literally: block i encrypts (lo + i mod 2^64, hi); keystream = the block bytes."""
    lo, hi = struct.unpack("<2Q", iv)
    out = bytearray()
    for i in range(0, len(data), 16):
        ks = cipher.encrypt_block(struct.pack("<2Q", (lo + i // 16) % 2**64, hi))
        out += bytes(a ^ b for a, b in zip(data[i : i + 16], ks, strict=False))
    return bytes(out)


def test_ctr_against_n2n_speck_transform_vector() -> None:
    # tests-transform.expected "speck": PACKET header (38 B) ‖ IV (16) ‖ Speck-256-CTR(input)
    packet = vectors.find("tests-transform.expected", "speck").data
    key = pearson_hash_256(b"SoMEVer!S$cUREPassWORD")
    iv, body = packet[38:54], packet[54:]
    assert Speck128(key).ctr(iv, body) == vectors.standard_input()


@pytest.mark.parametrize("length", [0, 1, 4, 15, 16, 17, 31, 33, 100, 129, 1400, 2048, 2049, 4100])
@pytest.mark.parametrize("key_size", [16, 32])
def test_ctr_matches_reference(length: int, key_size: int) -> None:
    cipher = Speck128(bytes(range(7, 7 + key_size)))
    iv = bytes(range(100, 116))
    data = bytes((i * 37 + 11) & 0xFF for i in range(length))
    assert cipher.ctr(iv, data) == _reference_ctr(cipher, iv, data)


@pytest.mark.parametrize("key_size", [16, 32])
def test_ctr_low_word_wraps_without_carry(key_size: int) -> None:
    cipher = Speck128(bytes(key_size))
    iv = struct.pack("<2Q", 2**64 - 2, 0x1122334455667788)
    data = bytes(80)
    out = cipher.ctr(iv, data)
    assert out == _reference_ctr(cipher, iv, data)
    # block 2 uses lo = 0 with the same hi (no carry into hi)
    assert out[32:48] == cipher.encrypt_block(struct.pack("<2Q", 0, 0x1122334455667788))


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    iv=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=300),
)
def test_ctr_is_an_involution_and_matches_reference(key: bytes, iv: bytes, data: bytes) -> None:
    cipher = Speck128(key)
    enc = cipher.ctr(iv, data)
    assert len(enc) == len(data)
    assert cipher.ctr(iv, enc) == data
    assert enc == _reference_ctr(cipher, iv, data)


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), block=st.binary(min_size=16, max_size=16))
def test_block_round_trip(key: bytes, block: bytes) -> None:
    cipher = Speck128(key)
    assert cipher.decrypt_block(cipher.encrypt_block(block)) == block


def test_ctr_accepts_memoryview() -> None:
    cipher = Speck128(bytes(32))
    data = bytes(range(40))
    assert cipher.ctr(memoryview(bytes(16)), memoryview(data)) == cipher.ctr(bytes(16), data)
