"""Supernode with header encryption and user/password authentication (spec §6, §7.3), and
robustness against arbitrary input."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyn2n.constants import N2N_AUTH_SIMPLE_ID, N2N_AUTH_USER_PASSWORD
from pyn2n.core.community import parse_community_file
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.secure import HeaderCrypto
from pyn2n.core.supernode import Supernode
from pyn2n.crypto.auth import (
    SharedSecret,
    bin_to_ascii,
    dynamic_key,
    federation_public_key,
    generate_public_key,
    open_answer_token,
    register_super_token,
    user_private_key,
    verify_packet_tag,
)
from pyn2n.crypto.header import encrypt
from pyn2n.crypto.timestamp import TimeStamper
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import (
    Common,
    Packet,
    QueryPeer,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    decode,
    encode,
    encode_packet,
    pad_community,
)
from pyn2n.wire.types import Auth, IpSubnet

T0 = 1_700_000_000.0
E1 = ("198.18.1.1", 40001)
E2 = ("198.18.1.2", 40002)
SN2 = ("198.18.0.2", 7654)
MAC1 = bytes.fromhex("0200000000a1")
MAC2 = bytes.fromhex("0200000000a2")


def make(text: str, seed: int = 1, now: float = T0, **kw) -> Supernode:
    r = random.Random(seed)
    cfg = SupernodeConfig(communities=parse_community_file(text), **kw)
    return Supernode(cfg, lambda n: r.randbytes(n), now)


class Edge:
    """Just enough of an edge to talk to the supernode with -H (and -I/-J)."""

    def __init__(self, community: bytes, mac: bytes, user: tuple[str, str] | None = None) -> None:
        self.community = community
        self.mac = mac
        self.stamper = TimeStamper()
        self.hc = HeaderCrypto(community, user_pw=user is not None)
        self.secret: SharedSecret | None = None
        if user is not None:
            priv = user_private_key(*user)
            self.public = generate_public_key(priv)
            self.secret = SharedSecret.derive(priv, federation_public_key("*Federation"))

    def seal(self, plain: bytes, now: float) -> bytes:
        return self.hc.seal(plain, self.stamper(now), b"\x01\x02\x03\x04", tag=self.secret)

    def reg_super(self, now: float, challenge: bytes = b"c" * 16) -> bytes:
        if self.secret is None:
            auth = Auth(N2N_AUTH_SIMPLE_ID, self.mac * 2 + b"tk" * 2)
        else:
            auth = Auth(
                N2N_AUTH_USER_PASSWORD, register_super_token(self.public, self.secret, challenge)
            )
        msg = RegisterSuper(
            9, self.mac, None, IpSubnet(0x0A000000 | self.mac[-1], 24), b"alice", auth
        )
        return self.seal(encode(Common(0, 2, 0, self.community), msg), now)

    def packet(self, dst: bytes, now: float, payload: bytes = b"p" * 20) -> bytes:
        plain = encode_packet(pad_community(self.community), self.mac, dst, 1, 4, payload)
        return self.seal(plain, now)

    def open(self, data: bytes):
        got = self.hc.open(data)
        assert got is not None, "not sealed for this community"
        return decode(got.packet)


def test_encrypted_community_locks_and_refuses_plaintext_and_replays() -> None:
    sn = make("secret\n")
    edge = Edge(b"secret", MAC1)
    wire = edge.reg_super(T0)
    sn.receive_datagram(wire, E1, T0)
    ((ack_data, addr),) = sn.datagrams_to_send()
    assert addr == E1 and ack_data[4:10] != b"secret"  # not in clear
    _, ack = edge.open(ack_data)
    assert isinstance(ack, RegisterSuperAck) and ack.src_mac == sn.mac
    # the same datagram again: replay
    sn.receive_datagram(wire, E1, T0 + 1)
    assert sn.datagrams_to_send() == [] and sn.drops["replay"] == 1
    # plaintext for the now encrypted community: no downgrade
    plain = encode(Common(0, 2, 0, b"secret"), QueryPeer(MAC1, bytes(6)))
    sn.receive_datagram(plain, E1, T0 + 1)
    assert sn.datagrams_to_send() == [] and sn.drops["he_plaintext"] == 1
    # tampered: no key fits any more
    bad = bytearray(edge.reg_super(T0 + 2))
    bad[30] ^= 0x40
    sn.receive_datagram(bytes(bad), E1, T0 + 2)
    assert sn.datagrams_to_send() == [] and sn.drops["he_no_key"] == 1
    # a stale stamp (30 s old) is refused
    sn.receive_datagram(Edge(b"secret", MAC2).reg_super(T0 - 30), E2, T0 + 2)
    assert sn.datagrams_to_send() == [] and sn.drops["replay"] == 2
    # a fresh registration still works
    sn.receive_datagram(edge.reg_super(T0 + 3), E1, T0 + 3)
    assert len(sn.datagrams_to_send()) == 1


def test_auto_ip_requests_of_different_edges_are_not_replays_of_each_other() -> None:
    sn = make("secret\n")
    ahead, behind = Edge(b"secret", bytes(6)), Edge(b"secret", bytes(6))
    for edge, clock, addr in ((ahead, T0 + 5, E1), (behind, T0, E2)):  # clocks 5 s apart
        msg = RegisterSuper(1, bytes(6), None, IpSubnet(0, 0), b"boot", Auth(1, b"t" * 16))
        sn.receive_datagram(edge.seal(encode(Common(0, 2, 0, b"secret"), msg), clock), addr, T0)
        ((data, to),) = sn.datagrams_to_send()
        _, ack = edge.open(data)
        assert to == addr and isinstance(ack, RegisterSuperAck) and ack.dev_addr.net_addr


def test_encrypted_relay_is_resealed_for_the_receiver() -> None:
    sn = make("secret\n")
    a, b = Edge(b"secret", MAC1), Edge(b"secret", MAC2)
    for edge, addr in ((a, E1), (b, E2)):
        sn.receive_datagram(edge.reg_super(T0), addr, T0)
    sn.datagrams_to_send()
    sn.receive_datagram(a.packet(MAC2, T0 + 1, b"payload!"), E1, T0 + 1)
    ((data, addr),) = sn.datagrams_to_send()
    assert addr == E2
    _, pkt = b.open(data)
    assert isinstance(pkt, Packet) and pkt.payload == b"payload!" and pkt.src_mac == MAC1
    assert pkt.sock is not None and pkt.sock.to_addr() == E1


def test_first_plaintext_datagram_locks_a_file_community_to_plaintext() -> None:
    sn = make("open\n")
    plain = encode(Common(0, 2, 0, b"open"), QueryPeer(MAC1, bytes(6)))
    sn.receive_datagram(plain, E1, T0)
    assert len(sn.datagrams_to_send()) == 1  # PONG in clear
    sn.receive_datagram(Edge(b"open", MAC2).reg_super(T0), E2, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["he_no_key"] == 1


def users_file(password_user: str = "alice") -> str:
    pub = generate_public_key(user_private_key(password_user, "s3cret"))
    return f"pw\n* {password_user} {bin_to_ascii(pub)}\n"


def test_user_password_registration_hands_out_the_dynamic_key() -> None:
    sn = make(users_file())
    edge = Edge(b"pw", MAC1, user=("alice", "s3cret"))
    challenge = bytes(range(16))
    sn.receive_datagram(edge.reg_super(T0, challenge), E1, T0)
    ((ack_data, _),) = sn.datagrams_to_send()
    assert edge.secret is not None and verify_packet_tag(edge.secret, ack_data)
    _, ack = edge.open(ack_data)  # static key, tag stripped
    assert isinstance(ack, RegisterSuperAck) and ack.auth.scheme == N2N_AUTH_USER_PASSWORD
    key = open_answer_token(ack.auth.token, edge.secret, challenge)
    assert key == dynamic_key(b"pw", b"*Federation", sn.dynamic_key_time)
    assert key is not None
    edge.hc.set_dynamic_key(key)
    # dynamic-key traffic is accepted, static-key traffic refused
    bob = Edge(b"pw", MAC2, user=("alice", "s3cret"))
    bob.hc.set_dynamic_key(key)
    sn.receive_datagram(bob.reg_super(T0 + 1), E2, T0 + 1)
    sn.datagrams_to_send()
    sn.receive_datagram(edge.packet(MAC2, T0 + 2), E1, T0 + 2)
    ((data, addr),) = sn.datagrams_to_send()
    assert addr == E2 and isinstance(bob.open(data)[1], Packet)
    # a PACKET under the static key (plus 16 bytes where a tag would be): wrong key for it
    plain = encode_packet(pad_community(b"pw"), MAC1, MAC2, 1, 4, b"q" * 20)
    static_sealed = encrypt(plain, 38 + 16, edge.hc.static, edge.stamper(T0 + 3), b"rand")
    sn.receive_datagram(static_sealed + bytes(16), E1, T0 + 3)
    assert sn.datagrams_to_send() == [] and sn.drops["static_key"] == 1
    # without those 16 bytes no key of the supernode fits at all
    sn.receive_datagram(static_sealed, E1, T0 + 3)
    assert sn.datagrams_to_send() == [] and sn.drops["he_no_key"] == 1


def test_wrong_password_is_refused_with_a_nak() -> None:
    sn = make(users_file())
    edge = Edge(b"pw", MAC1, user=("alice", "wrong"))
    sn.receive_datagram(edge.reg_super(T0), E1, T0)
    ((data, _),) = sn.datagrams_to_send()
    _, nak = edge.open(data)
    assert isinstance(nak, RegisterSuperNak) and nak.src_mac == MAC1
    assert not [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "pw"]


def test_bad_tag_is_dropped_silently() -> None:
    sn = make(users_file())
    edge = Edge(b"pw", MAC1, user=("alice", "s3cret"))
    wire = bytearray(edge.reg_super(T0))
    wire[-1] ^= 1
    sn.receive_datagram(bytes(wire), E1, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["auth_tag"] == 1


def test_another_users_key_cannot_take_over_a_registration() -> None:
    text = users_file("alice") + users_file("bob").split("\n", 1)[1]
    sn = make(text)
    alice = Edge(b"pw", MAC1, user=("alice", "s3cret"))
    sn.receive_datagram(alice.reg_super(T0), E1, T0)
    sn.datagrams_to_send()
    mallory = Edge(b"pw", MAC1, user=("bob", "s3cret"))  # valid user, alice's MAC
    sn.receive_datagram(mallory.reg_super(T0 + 1), E2, T0 + 1)
    ((data, _),) = sn.datagrams_to_send()
    assert isinstance(mallory.open(data)[1], RegisterSuperNak)
    (row,) = [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "pw"]
    assert row["sockaddr"] == "198.18.1.1:40001"


def test_key_time_change_sends_re_register_super_with_the_old_key() -> None:
    sn = make(users_file())
    edge = Edge(b"pw", MAC1, user=("alice", "s3cret"))
    challenge = bytes(16)
    sn.receive_datagram(edge.reg_super(T0, challenge), E1, T0)
    ((ack_data, _),) = sn.datagrams_to_send()
    assert edge.secret is not None
    old = open_answer_token(edge.open(ack_data)[1].auth.token, edge.secret, challenge)
    edge.hc.set_dynamic_key(old)
    sn.reload_communities(users_file(), T0 + 5)
    ((data, _),) = [(d, a) for d, a in sn.datagrams_to_send() if a == E1]
    assert isinstance(edge.open(data)[1], ReRegisterSuper)
    assert sn.dynamic_key_time == int(T0 + 5)
    assert dynamic_key(b"pw", b"*Federation", sn.dynamic_key_time) != old


# --- robustness -------------------------------------------------------------------------------


def _busy_supernode() -> tuple[Supernode, list[bytes]]:
    """A supernode with plaintext, encrypted and user/password communities, a federation
    member, edges; plus valid datagrams of every kind to mutate."""
    sn = make(users_file() + "secret\nopen\nlab.*\n", anchors=[SN2])
    samples: list[bytes] = []
    enc = Edge(b"secret", MAC1)
    pw = Edge(b"pw", MAC2, user=("alice", "s3cret"))
    samples += [enc.reg_super(T0), pw.reg_super(T0), enc.packet(MAC2, T0)]
    plain_reg = encode(
        Common(0, 2, 0, b"lab1"),
        RegisterSuper(1, MAC1, None, IpSubnet(0, 0), b"d", Auth(1, b"t" * 16)),
    )
    samples += [plain_reg, encode_packet(pad_community(b"lab1"), MAC1, b"\xff" * 6, 1, 1, b"x")]
    samples.append(encode(Common(0, 2, 0, b"lab1"), QueryPeer(MAC1, MAC2)))
    for data in samples:
        sn.receive_datagram(data, E1, T0)
    sn.handle_timer(T0)
    sn.datagrams_to_send()
    return sn, samples


BUSY, SAMPLES = _busy_supernode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    BUSY.receive_datagram(data, E2, T0 + 1)
    BUSY.datagrams_to_send()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(SAMPLES))),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    st.integers(0, 400),
    st.sampled_from([E1, E2, SN2]),
)
def test_mutated_datagrams_never_raise(
    which: int, edits: list[tuple[int, int]], cut: int, addr: tuple[str, int]
) -> None:
    data = bytearray(SAMPLES[which])
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    BUSY.receive_datagram(bytes(data[: max(cut, 24)]), addr, T0 + 2)
    BUSY.datagrams_to_send()
