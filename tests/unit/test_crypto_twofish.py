"""Twofish against the published test vectors (Twofish paper appendix B, ecb_tbl.txt) and
n2n's Twofish transform output (spec §5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.crypto.pearson import pearson_hash_256
from pyn2n.crypto.twofish import Twofish
from tests import vectors

KAT = [
    # key, plaintext, ciphertext
    ("00" * 16, "00" * 16, "9F589F5CF6122C32B6BFEC2F2AE8C35A"),
    ("00" * 24, "00" * 16, "EFA71F788965BD4453F860178FC19101"),
    ("00" * 32, "00" * 16, "57FF739D4DC92C1BD7FC01700CC8216F"),
    (
        "0123456789ABCDEFFEDCBA98765432100011223344556677",
        "00" * 16,
        "CFD1D2E5A9BE9CDF501F13B892BD2248",
    ),
    (
        "0123456789ABCDEFFEDCBA987654321000112233445566778899AABBCCDDEEFF",
        "00" * 16,
        "37527BE0052334B89F0CFCCAE87CFA20",
    ),
    (
        "9F589F5CF6122C32B6BFEC2F2AE8C35A",
        "D491DB16E7B1C39E86CB086B789F5419",
        "019F9809DE1711858FAAC3A3BA20FBC3",
    ),
    (
        "88B2B2706B105E36B446BB6D731A1E88EFA71F788965BD44",
        "39DA69D6BA4997D585B6DC073CA341B2",
        "182B02D81497EA45F9DAACDC29193A65",
    ),
    (
        "D43BB7556EA32E46F2A282B7D45B4E0D57FF739D4DC92C1BD7FC01700CC8216F",
        "90AFE91BB288544F2C32DC239B2635E6",
        "6CB4561C40BF0A9705931CB6D408E7FA",
    ),
]

# ecb_tbl.txt: I=49 of the chain PT(i+1) = CT(i), KEY(i+1) = (PT(i) ‖ KEY(i))[:keylen]
ITERATED_49 = {
    16: "5D9D4EEFFA9151575524F115815A12E0",
    24: "E75449212BEEF9F4A390BD860A640941",
    32: "37FE26FF1CF66175F5DDF4C33B97A205",
}


@pytest.mark.parametrize(("key", "pt", "ct"), KAT)
def test_known_answers(key: str, pt: str, ct: str) -> None:
    cipher = Twofish(bytes.fromhex(key))
    assert cipher.encrypt_block(bytes.fromhex(pt)) == bytes.fromhex(ct)
    assert cipher.decrypt_block(bytes.fromhex(ct)) == bytes.fromhex(pt)


@pytest.mark.parametrize("key_size", sorted(ITERATED_49))
def test_ecb_tbl_chain(key_size: int) -> None:
    key, pt = bytes(key_size), bytes(16)
    for _ in range(49):
        cipher = Twofish(key)
        ct = cipher.encrypt_block(pt)
        assert cipher.decrypt_block(ct) == pt
        key, pt = (pt + key)[:key_size], ct
    assert ct == bytes.fromhex(ITERATED_49[key_size])


def test_n2n_twofish_transform_vector_decrypts() -> None:
    # tests-transform.expected "tf": PACKET header (38 B) ‖ CBC(zero IV, 16 random ‖ input);
    # 528 bytes are whole blocks, so no ciphertext stealing is involved
    packet = vectors.find("tests-transform.expected", "tf").data
    body = packet[38:]
    assert len(body) == 16 + 512
    cipher = Twofish(pearson_hash_256(b"SoMEVer!S$cUREPassWORD"))
    plain = bytearray()
    chain = bytes(16)
    for i in range(0, len(body), 16):
        block = body[i : i + 16]
        plain += bytes(a ^ b for a, b in zip(cipher.decrypt_block(block), chain, strict=True))
        chain = block
    assert bytes(plain[16:]) == vectors.standard_input()


@pytest.mark.parametrize("size", [0, 8, 20, 31, 40])
def test_bad_key_sizes(size: int) -> None:
    with pytest.raises(ValueError):
        Twofish(bytes(size))


@settings(max_examples=25, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), block=st.binary(min_size=16, max_size=16))
def test_round_trip(key: bytes, block: bytes) -> None:
    cipher = Twofish(key)
    assert cipher.decrypt_block(cipher.encrypt_block(block)) == block
