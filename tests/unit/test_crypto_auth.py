"""User/password authentication (spec §7.3) against tests-auth/-elliptic.expected, plus
edge ↔ supernode round trips of token, answer, tag and dynamic key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyn2n.crypto.auth import (
    SharedSecret,
    answer_token,
    ascii_to_bin,
    bin_to_ascii,
    bind_private_key_to_username,
    dynamic_key,
    federation_private_key,
    federation_public_key,
    generate_private_key,
    generate_public_key,
    generate_shared_secret,
    open_answer_token,
    packet_tag,
    register_super_token,
    user_private_key,
    verify_packet_tag,
)
from pyn2n.crypto.header import HeaderKeys, community_field, decrypt, decrypt_received, encrypt
from pyn2n.crypto.pearson import pearson_hash_256
from tests import vectors

AUTH = "tests-auth.expected"


def _blocks(label: str) -> list[vectors.Block]:
    return [b for b in vectors.read_blocks(AUTH) if b.label == label]


def test_bin_to_ascii_vector() -> None:
    given_in, out = _blocks("bin_to_ascii")
    assert bin_to_ascii(given_in.data) == out.text.removeprefix("output:").strip()


def test_ascii_to_bin_vector() -> None:
    given_in, out = _blocks("ascii_to_bin")
    text = given_in.text.removeprefix("input =").strip()
    got = ascii_to_bin(text)
    # 22 characters carry 132 bits = 16 bytes; n2n printed its 32-byte buffer
    assert len(got) == 16
    assert got == out.data[:16]
    assert out.data[16:] == bytes(16)


def test_generate_private_key_vector() -> None:
    given_in, out = _blocks("generate_private_key")
    text = given_in.text.removeprefix("input =").strip()
    assert generate_private_key(text) == out.data
    # it is pearson256 applied twice (spec §7.3)
    assert out.data == pearson_hash_256(pearson_hash_256(text.encode()))


def test_generate_public_key_vector() -> None:
    given_in, out = _blocks("generate_public_key")
    assert generate_public_key(given_in.data) == out.data


def test_generate_shared_secret_vector() -> None:
    prv, pub, out = _blocks("generate_shared_secret")
    assert generate_shared_secret(prv.data, pub.data) == out.data


def test_curve25519_vector() -> None:
    blocks = vectors.read_blocks("tests-elliptic.expected")
    point = next(b for b in blocks if b.label == "environment" and b.text == "input").data
    scalar = next(b for b in blocks if b.label == "environment" and b.text == "key").data
    out = next(b for b in blocks if b.label == "curve25519").data
    assert point == bytes(31) + b"\x09"  # n2n's base point
    assert generate_public_key(scalar) == out


@given(st.binary(max_size=40))
def test_key_text_round_trip(data: bytes) -> None:
    text = bin_to_ascii(data)
    assert len(text) == (len(data) * 8 + 5) // 6
    assert ascii_to_bin(text) == data


def test_key_text_of_32_bytes_is_43_characters() -> None:
    text = bin_to_ascii(bytes(range(32)))
    assert len(text) == 43
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-")
    assert bin_to_ascii(b"\xff" * 3) == "----"
    assert bin_to_ascii(b"\xfb\xef\xbe") == "++++"


@pytest.mark.parametrize("bad", ["abc=", "a b", ":", "Ä", "<>"])
def test_key_text_rejects_unknown_characters(bad: str) -> None:
    with pytest.raises(ValueError):
        ascii_to_bin(bad)


def test_user_key_binds_username() -> None:
    base = generate_private_key("secret password")
    alice = user_private_key("alice", "secret password")
    assert alice == bind_private_key_to_username(base, b"alice")
    assert alice != user_private_key("bob", "secret password")
    assert alice != user_private_key("alice", "other password")
    # binding is an XOR, so binding twice to the same name undoes it
    assert bind_private_key_to_username(alice, "alice") == base


def test_federation_key_ignores_leading_star() -> None:
    assert federation_private_key("*Federation") == generate_private_key("Federation")
    assert federation_private_key("Federation") == generate_private_key("Federation")
    assert federation_public_key("*Federation") == generate_public_key(
        generate_private_key("Federation")
    )


def test_shared_secret_is_symmetric() -> None:
    # edge: (user priv, federation pub); supernode: (federation priv, user pub from the file)
    user_priv = user_private_key("alice", "pw")
    edge = SharedSecret.derive(user_priv, federation_public_key("*Federation"))
    sn = SharedSecret.derive(federation_private_key("*Federation"), generate_public_key(user_priv))
    assert edge.secret == sn.secret
    other = SharedSecret.derive(federation_private_key("*Other"), generate_public_key(user_priv))
    assert other.secret != edge.secret


def test_low_order_public_key_gives_n2n_zero_product() -> None:
    # n2n's curve25519 yields zero for a low-order point; the secret is pearson256 of that
    assert generate_shared_secret(bytes(range(32)), bytes(32)) == pearson_hash_256(bytes(32))


class _Setup:
    def __init__(self, federation: str = "*Federation") -> None:
        self.user_priv = user_private_key("alice", "pw")
        self.user_pub = generate_public_key(self.user_priv)
        self.edge_secret = SharedSecret.derive(self.user_priv, federation_public_key("*Federation"))
        self.sn_secret = SharedSecret.derive(federation_private_key(federation), self.user_pub)
        self.dynamic = dynamic_key(b"users", federation.encode(), 1_700_000_000)


def test_token_answer_round_trip() -> None:
    s = _Setup()
    challenge = bytes(range(16, 32))
    token = register_super_token(s.user_pub, s.edge_secret, challenge)
    assert len(token) == 48
    assert token[:32] == s.user_pub  # the supernode finds the user by it
    assert token[32:] != challenge
    answer = answer_token(token, s.sn_secret, s.dynamic)
    assert len(answer) == 48
    assert answer[16:32] == s.user_pub[16:32]
    assert open_answer_token(answer, s.edge_secret, challenge) == s.dynamic


def test_answer_for_another_challenge_is_refused() -> None:
    s = _Setup()
    token = register_super_token(s.user_pub, s.edge_secret, bytes(16))
    answer = answer_token(token, s.sn_secret, s.dynamic)
    assert open_answer_token(answer, s.edge_secret, b"\x01" + bytes(15)) is None
    assert open_answer_token(answer[:47], s.edge_secret, bytes(16)) is None


def test_wrong_federation_key_is_detected() -> None:
    s = _Setup(federation="*Elsewhere")  # supernode in another federation than the edge's -P
    challenge = bytes(range(16))
    answer = answer_token(
        register_super_token(s.user_pub, s.edge_secret, challenge), s.sn_secret, s.dynamic
    )
    assert open_answer_token(answer, s.edge_secret, challenge) is None


@given(st.binary(min_size=48, max_size=48), st.binary(min_size=16, max_size=16))
def test_open_answer_token_never_raises(garbage: bytes, challenge: bytes) -> None:
    secret = SharedSecret(bytes(range(32)))
    assert open_answer_token(garbage, secret, challenge) is None


def test_packet_tag_round_trip() -> None:
    s = _Setup()
    static = HeaderKeys.from_community(b"users")
    dynamic = HeaderKeys.from_dynamic_key(s.dynamic)
    reg_super = bytes([3, 2, 0, 5]) + community_field(b"users") + bytes(range(40))
    encrypted = encrypt(reg_super, len(reg_super), static, 99, b"rand")
    datagram = encrypted + packet_tag(s.edge_secret, encrypted)

    got = decrypt_received(datagram, dynamic, b"users", static)
    assert got is not None
    assert got.static
    assert got.packet == reg_super
    assert verify_packet_tag(s.sn_secret, datagram)

    tampered = bytearray(datagram)
    tampered[30] ^= 0x40
    assert not verify_packet_tag(s.sn_secret, bytes(tampered))
    assert not verify_packet_tag(SharedSecret(bytes(32)), datagram)
    assert not verify_packet_tag(s.sn_secret, datagram[:10])


def test_dynamic_key_properties() -> None:
    key = dynamic_key(b"users", b"*Federation", 1_700_000_000)
    assert len(key) == 16
    assert dynamic_key(b"users", b"*Federation", 1_700_000_000) == key
    assert dynamic_key(b"users", b"*Federation", 1_700_000_001) != key
    assert dynamic_key(b"others", b"*Federation", 1_700_000_000) != key
    assert dynamic_key(b"users", b"*Other", 1_700_000_000) != key


def test_dynamic_header_keys_end_to_end() -> None:
    # supernode sends RE_REGISTER_SUPER with the dynamic key; the edge learnt it from the ACK
    s = _Setup()
    challenge = bytes(range(50, 66))
    answer = answer_token(
        register_super_token(s.user_pub, s.edge_secret, challenge), s.sn_secret, s.dynamic
    )
    learnt = open_answer_token(answer, s.edge_secret, challenge)
    assert learnt is not None
    rereg = bytes([3, 2, 0, 12]) + community_field(b"users")
    sent = encrypt(rereg, 24, HeaderKeys.from_dynamic_key(s.dynamic), 1234, b"abcd")
    assert decrypt(sent, HeaderKeys.from_dynamic_key(learnt), b"users") == (rereg, 1234)
    assert decrypt(sent, HeaderKeys.from_community(b"users"), b"users") is None
