"""Header encryption (spec §6): the §12 known-answer test, round trips, and robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.crypto.header import (
    HeaderKeys,
    community_field,
    decrypt,
    decrypt_received,
    encrypt,
    header_len_for,
)
from pyn2n.crypto.pearson import pearson_hash_128

# spec §12, from a C harness over n2n's header_encryption.c
KAT_COMMUNITY = b"mysecretcomm"
KAT_STAMP = 0x650000001E240000
KAT_RANDOM = bytes.fromhex("88776655")
KAT_PLAIN = bytes.fromhex(
    "0302000b6d79736563726574636f6d6d00000000000000000211223344550000000000000000"
)
KAT_ENCRYPTED = bytes.fromhex(
    "f2178eb05667857e375a92cb5f8e2d03bd9b5de2c408f3db230fc122494e1756ffe29261605b"
)

COMMUNITY = b"abc123def456"
KEYS = HeaderKeys.from_community(COMMUNITY)


def _packet(pc: int, body: bytes, community: bytes = COMMUNITY) -> bytes:
    return bytes([3, 2, 0, pc]) + community_field(community) + body


def test_kat_encrypt() -> None:
    keys = HeaderKeys.from_community(KAT_COMMUNITY)
    assert encrypt(KAT_PLAIN, len(KAT_PLAIN), keys, KAT_STAMP, KAT_RANDOM) == KAT_ENCRYPTED


def test_kat_decrypt() -> None:
    keys = HeaderKeys.from_community(KAT_COMMUNITY)
    assert decrypt(KAT_ENCRYPTED, keys, KAT_COMMUNITY) == (KAT_PLAIN, KAT_STAMP)


def test_kat_needs_the_same_community() -> None:
    keys = HeaderKeys.from_community(KAT_COMMUNITY)
    # right keys, but the checksum covers the community name the receiver puts back
    assert decrypt(KAT_ENCRYPTED, keys, b"mysecretcomn") is None
    assert decrypt(KAT_ENCRYPTED, HeaderKeys.from_community(b"other"), KAT_COMMUNITY) is None


def test_key_derivation() -> None:
    # spec §6: K = pearson128(community[20]); dynamic: same derivation from pearson128(key)
    assert KEYS.key == pearson_hash_128(COMMUNITY + bytes(8))
    dyn = bytes(range(16))
    assert HeaderKeys.from_dynamic_key(dyn).key == pearson_hash_128(dyn)
    assert HeaderKeys.from_dynamic_key(dyn) != KEYS
    assert HeaderKeys.from_community(COMMUNITY) == KEYS
    with pytest.raises(ValueError):
        HeaderKeys.from_community(b"x" * 21)
    with pytest.raises(ValueError):
        HeaderKeys.from_dynamic_key(bytes(15))


def test_header_len_rules() -> None:
    # PACKET (3): header only, or + min(16, payload) with user/password auth
    assert header_len_for(3, 600, 38, user_pw=False) == 38
    assert header_len_for(3, 600, 38, user_pw=True) == 54
    assert header_len_for(3, 45, 38, user_pw=True) == 45
    assert header_len_for(3, 38, 38, user_pw=True) == 38
    # everything else: the whole packet
    for pc in (1, 4, 5, 6, 7, 8, 10, 11, 12):
        assert header_len_for(pc, 79, 79, user_pw=True) == 79
        assert header_len_for(pc, 79, 79, user_pw=False) == 79


def test_payload_beyond_header_len_is_untouched() -> None:
    plain = _packet(3, bytes(range(14)) + b"payload bytes" * 10)
    enc = encrypt(plain, 38, KEYS, 1 << 40, b"\x01\x02\x03\x04")
    assert enc[38:] == plain[38:]
    assert enc[:38] != plain[:38]
    assert decrypt(enc, KEYS, COMMUNITY) == (plain, 1 << 40)


@pytest.mark.parametrize("header_len", [24, 31, 32, 33, 79, 80, 81, 96, 97, 300])
def test_header_len_boundaries(header_len: int) -> None:
    # the decrypter reads the first 64 header bytes speculatively, the rest in a second pass
    plain = _packet(7, bytes((i * 7) & 0xFF for i in range(300)))
    enc = encrypt(plain, header_len, KEYS, 42, b"wxyz")
    assert enc[header_len:] == plain[header_len:]
    assert decrypt(enc, KEYS, COMMUNITY) == (plain, 42)


def test_encrypt_rejects_bad_arguments() -> None:
    plain = _packet(11, bytes(14))
    with pytest.raises(ValueError):
        encrypt(plain[:23], 23, KEYS, 0, bytes(4))
    with pytest.raises(ValueError):
        encrypt(plain, len(plain) + 1, KEYS, 0, bytes(4))
    with pytest.raises(ValueError):
        encrypt(plain, 20, KEYS, 0, bytes(4))
    with pytest.raises(ValueError):
        encrypt(plain, len(plain), KEYS, 0, bytes(3))


packets = st.builds(
    lambda pc, body: _packet(pc, body),
    st.integers(min_value=1, max_value=12),
    st.binary(max_size=120),
)


@settings(max_examples=60, deadline=None)
@given(
    plain=packets,
    cut=st.integers(min_value=0, max_value=200),
    stamp=st.integers(min_value=0, max_value=2**64 - 1),
    rand4=st.binary(min_size=4, max_size=4),
)
def test_round_trip(plain: bytes, cut: int, stamp: int, rand4: bytes) -> None:
    header_len = min(24 + cut, len(plain))
    enc = encrypt(plain, header_len, KEYS, stamp, rand4)
    assert len(enc) == len(plain)
    assert enc[4:24] != plain[4:24]  # the community name is not sent in clear
    assert decrypt(enc, KEYS, COMMUNITY) == (plain, stamp)


@settings(max_examples=60, deadline=None)
@given(plain=packets, data=st.data())
def test_any_bit_flip_is_rejected(plain: bytes, data: st.DataObject) -> None:
    enc = bytearray(encrypt(plain, len(plain), KEYS, 0x650000001E240000, b"abcd"))
    bit = data.draw(st.integers(min_value=0, max_value=8 * len(enc) - 1))
    enc[bit // 8] ^= 1 << (bit % 8)
    assert decrypt(bytes(enc), KEYS, COMMUNITY) is None


@settings(max_examples=30, deadline=None)
@given(plain=packets, data=st.data())
def test_truncation_is_rejected(plain: bytes, data: st.DataObject) -> None:
    enc = encrypt(plain, len(plain), KEYS, 12345, b"abcd")
    cut = data.draw(st.integers(min_value=0, max_value=len(enc) - 1))
    assert decrypt(enc[:cut], KEYS, COMMUNITY) is None


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=300))
def test_garbage_never_raises(garbage: bytes) -> None:
    assert decrypt(garbage, KEYS, COMMUNITY) is None
    assert decrypt_received(garbage, KEYS, COMMUNITY, HeaderKeys(bytes(16))) is None


def test_wrong_length_field_is_rejected_without_raising() -> None:
    # a header length below the common header (or above the packet) is "not this key"
    for header_len in (0, 16, 23):
        enc = bytearray(encrypt(_packet(11, bytes(14)), 38, KEYS, 7, b"abcd"))
        ks = KEYS.cipher.encrypt_block(bytes(enc[:16]))
        field = (0x6E320000 + header_len).to_bytes(4, "big")
        enc[16:20] = bytes(a ^ b for a, b in zip(field, ks[:4], strict=True))
        assert decrypt(bytes(enc), KEYS, COMMUNITY) is None


def test_decrypt_received_dynamic_then_static_with_tag() -> None:
    static = KEYS
    dynamic = HeaderKeys.from_dynamic_key(bytes(range(16)))
    query = _packet(11, bytes(14))
    reg_super = _packet(5, bytes(range(55)))
    tag = bytes(range(200, 216))

    got = decrypt_received(
        encrypt(query, len(query), dynamic, 5, b"rand"), dynamic, COMMUNITY, static
    )
    assert got is not None
    assert (got.packet, got.stamp, got.static) == (query, 5, False)

    datagram = encrypt(reg_super, len(reg_super), static, 6, b"rand") + tag
    got = decrypt_received(datagram, dynamic, COMMUNITY, static)
    assert got is not None
    assert (got.packet, got.stamp, got.static) == (reg_super, 6, True)

    # without user/password auth (static is dynamic) there is no second try
    assert decrypt_received(datagram, static, COMMUNITY) is None
    assert decrypt_received(datagram, static, COMMUNITY, static) is None
    got = decrypt_received(datagram[:-16], static, COMMUNITY)
    assert got is not None
    assert got.packet == reg_super
