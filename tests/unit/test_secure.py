"""Header-encryption policy shared by edge and supernode (spec §6, §7.3)."""

from __future__ import annotations

import pytest

from pyn2n.constants import N2N_FLAGS_FROM_SUPERNODE
from pyn2n.core.secure import (
    HeaderCrypto,
    is_plaintext_header,
    packet_payload_offset,
    verify_stamp,
)
from pyn2n.crypto.auth import SharedSecret, verify_packet_tag
from pyn2n.crypto.header import decrypt
from pyn2n.crypto.timestamp import StampTracker, TimeStamper
from pyn2n.wire import (
    Common,
    PeerInfo,
    QueryPeer,
    RegisterSuper,
    RegisterSuperNak,
    decode,
    encode,
    encode_packet,
    pad_community,
)
from pyn2n.wire.types import Auth, IpSubnet, Sock

WALL = 1_700_000_000.0
A = bytes.fromhex("020000000001")
B = bytes.fromhex("020000000002")


def query(community: bytes = b"net") -> bytes:
    return encode(Common(0, 2, 0, community), QueryPeer(A, B))


def register_super(community: bytes = b"net") -> bytes:
    msg = RegisterSuper(7, A, None, IpSubnet(0, 0), b"x", Auth(2, bytes(48)))
    return encode(Common(0, 2, 0, community), msg)


def test_seal_matches_the_spec_known_answer() -> None:
    # spec §12: QUERY_PEER for "mysecretcomm", stamp 650000001e240000, random 88776655
    plain = bytes.fromhex(
        "0302000b6d79736563726574636f6d6d00000000000000000211223344550000000000000000"
    )
    sealed = HeaderCrypto(b"mysecretcomm").seal(
        plain, 0x650000001E240000, bytes.fromhex("88776655")
    )
    assert sealed.hex() == (
        "f2178eb05667857e375a92cb5f8e2d03bd9b5de2c408f3db230fc122494e1756ffe29261605b"
    )


def test_round_trip_gives_plaintext_and_stamp() -> None:
    hc = HeaderCrypto(b"net")
    plain = query()
    sealed = hc.seal(plain, 0x1234_5678_0000_0010, b"abcd")
    assert sealed != plain and len(sealed) == len(plain)
    assert not is_plaintext_header(sealed)
    got = hc.open(sealed)
    assert got is not None
    assert (got.packet, got.stamp, got.static) == (plain, 0x1234_5678_0000_0010, False)
    assert HeaderCrypto(b"other").open(sealed) is None


def test_packet_header_only_covers_the_header_unless_user_pw() -> None:
    payload = bytes(range(40))
    pkt = encode_packet(pad_community(b"net"), A, B, 1, 4, payload)
    assert packet_payload_offset(pkt) == 38
    relayed = encode_packet(
        pad_community(b"net"),
        A,
        B,
        1,
        4,
        payload,
        flags=N2N_FLAGS_FROM_SUPERNODE,
        sock=Sock("198.18.0.1", 7),
    )
    assert packet_payload_offset(relayed) == 46
    plain_pw = HeaderCrypto(b"net").seal(pkt, 1 << 40, b"rand")
    assert plain_pw[38:] == payload  # payload untouched
    user_pw = HeaderCrypto(b"net", user_pw=True)
    user_pw.set_dynamic_key(bytes(16))
    sealed = user_pw.seal(pkt, 1 << 40, b"rand")
    assert sealed[38:54] != payload[:16]  # the cipher IV is covered (§6)
    assert sealed[54:] == payload[16:]
    got = user_pw.open(sealed)
    assert got is not None and got.packet == pkt


def test_static_vs_dynamic_key_choice() -> None:
    hc = HeaderCrypto(b"net", user_pw=True)
    hc.set_dynamic_key(bytes(range(16)))
    secret = SharedSecret(bytes(range(32)))
    # REGISTER_SUPER: static key plus the 16-byte tag
    rs = register_super()
    sealed = hc.seal(rs, 1 << 40, b"rand", tag=secret)
    assert len(sealed) == len(rs) + 16
    assert verify_packet_tag(secret, sealed)
    assert decrypt(sealed[:-16], hc.static, b"net") is not None
    assert decrypt(sealed[:-16], hc.dynamic, b"net") is None
    got = hc.open(sealed)
    assert got is not None and got.static and got.packet == rs
    # everything else: dynamic key, whole datagram
    q = hc.seal(query(), 1 << 40, b"rand")
    assert decrypt(q, hc.dynamic, b"net") is not None
    got = hc.open(q)
    assert got is not None and not got.static
    # NAK: static key, 16 filler bytes
    nak = encode(Common(0, 2, 0, b"net"), RegisterSuperNak(1, A))
    sealed_nak = hc.seal(nak, 1 << 40, b"rand")
    assert len(sealed_nak) == len(nak) + 16
    assert hc.open(sealed_nak) is not None
    with pytest.raises(ValueError):
        hc.seal(rs, 1 << 40, b"rand")  # the tag secret is required


def test_without_user_pw_static_is_dynamic_and_no_tag() -> None:
    hc = HeaderCrypto(b"net")
    rs = register_super()
    sealed = hc.seal(rs, 1 << 40, b"rand", tag=SharedSecret(bytes(32)))
    assert len(sealed) == len(rs)
    got = hc.open(sealed)
    assert got is not None and got.packet == rs and not got.static


def test_tampering_is_detected() -> None:
    hc = HeaderCrypto(b"net")
    plain = encode(
        Common(0, 2, N2N_FLAGS_FROM_SUPERNODE, b"net"),
        PeerInfo(0, A, B, Sock("198.18.0.1", 1000), None, 0, 0, b"v"),
    )
    sealed = bytearray(hc.seal(plain, 1 << 40, b"rand"))
    for i in (0, 17, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[i] ^= 0x01
        assert hc.open(bytes(bad)) is None, i


def test_plaintext_heuristic() -> None:
    assert is_plaintext_header(query())
    assert not is_plaintext_header(query()[:23])
    bad_version = bytearray(query())
    bad_version[0] = 2
    assert not is_plaintext_header(bytes(bad_version))
    options = bytearray(query())
    options[3] |= 0x80
    assert not is_plaintext_header(bytes(options))
    rereg = bytearray(query())
    rereg[3] = 12  # RE_REGISTER_SUPER is never plaintext
    assert not is_plaintext_header(bytes(rereg))
    assert decode(query())[1] == QueryPeer(A, B)


def test_verify_stamp_replay_and_jitter() -> None:
    stamper = TimeStamper()
    tracker = StampTracker()
    s1 = stamper(WALL)
    s2 = stamper(WALL + 0.5)
    assert verify_stamp(tracker, A, s2, WALL + 0.5, 5, at_supernode=True)
    assert not verify_stamp(tracker, A, s2, WALL + 0.5, 5, at_supernode=True)  # replay
    assert not verify_stamp(tracker, A, s1, WALL + 0.5, 5, at_supernode=True)  # older, no jitter
    # QUERY_PEER at a supernode may arrive 160 ms out of order
    s3 = stamper(WALL + 0.45)
    assert verify_stamp(tracker, A, s3, WALL + 0.5, 11, at_supernode=True)
    assert not verify_stamp(tracker, B, stamper(WALL + 20), WALL, 5, at_supernode=True)  # future
