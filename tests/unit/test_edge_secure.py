"""Edge with header encryption (-H) and user/password auth (-I/-J/-P) (spec §6, §7.3).
The supernode side is played with pyn2n.core.secure and pyn2n.crypto.auth directly."""

from __future__ import annotations

from pyn2n.constants import N2N_AUTH_USER_PASSWORD, N2N_TRANSFORM_ID_SPECK
from pyn2n.core.secure import HeaderCrypto
from pyn2n.crypto.auth import (
    SharedSecret,
    answer_token,
    bin_to_ascii,
    dynamic_key,
    federation_private_key,
    federation_public_key,
    verify_packet_tag,
)
from pyn2n.crypto.timestamp import TimeStamper
from pyn2n.wire import (
    Auth,
    Packet,
    RegisterSuper,
    ReRegisterSuper,
    decode,
)
from tests.simnet import (
    COMMUNITY,
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_IP,
    PEER_MAC,
    SN1,
    Clock,
    from_sn,
    ipv4_frame,
    make_edge,
    packet,
    super_ack,
)

FED = "*Federation"


class FakeSupernode:
    """Seals and opens like a supernode of our community would."""

    def __init__(self, clock: Clock, user_pw: bool = False, key_time: int = 1_700_000_000) -> None:
        self.clock = clock
        self.hc = HeaderCrypto(COMMUNITY.encode(), user_pw=user_pw)
        self.stamper = TimeStamper()
        self.dynamic = dynamic_key(COMMUNITY.encode(), FED.encode(), key_time) if user_pw else None
        if self.dynamic is not None:
            self.hc.set_dynamic_key(self.dynamic)
        self.secret: SharedSecret | None = None

    def seal(self, data: bytes) -> bytes:
        return self.hc.seal(
            data, self.stamper(self.clock.wall()), b"\x01\x02\x03\x04", tag=self.secret
        )

    def open(self, data: bytes):
        got = self.hc.open(data)
        assert got is not None, "not sealed for our community"
        return got, decode(got.packet)[1]

    def answer(self, datagram: bytes) -> bytes:
        """The REGISTER_SUPER_ACK for a sealed REGISTER_SUPER."""
        got, reg = self.open(datagram)
        assert isinstance(reg, RegisterSuper)
        auth = Auth()
        if self.dynamic is not None:
            assert got.static and reg.auth.scheme == N2N_AUTH_USER_PASSWORD
            self.secret = SharedSecret.derive(federation_private_key(FED), reg.auth.token[:32])
            assert verify_packet_tag(self.secret, datagram)
            auth = Auth(
                N2N_AUTH_USER_PASSWORD, answer_token(reg.auth.token, self.secret, self.dynamic)
            )
        return self.seal(from_sn(super_ack(reg, auth=auth)))


def register(edge, clock, sn: FakeSupernode) -> None:
    edge.handle_timer(clock())
    ((data, _),) = [(d, a) for d, a in edge.datagrams_to_send() if a == SN1]
    edge.receive_datagram(sn.answer(data), SN1, clock())


def test_header_encrypted_registration_and_traffic() -> None:
    clock = Clock()
    edge, _ = make_edge(clock, header_encryption=True)
    sn = FakeSupernode(clock)
    register(edge, clock, sn)
    assert edge.last_sup == clock()
    # everything the edge sends is sealed (the gratuitous ARPs here)
    for data, _addr in edge.datagrams_to_send():
        assert data[4:24] != COMMUNITY.encode().ljust(20, b"\0")
        _, msg = sn.open(data)
        assert isinstance(msg, Packet)
    # sealed PACKETs from a peer arrive; a replay older than the jitter allowance (160 ms)
    # and a plaintext one do not
    peer = FakeSupernode(clock)
    frame = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)
    sealed = peer.seal(packet(PEER_MAC, MY_MAC, frame))
    edge.receive_datagram(sealed, PEER_ADDR, clock())
    clock.advance(1)
    edge.receive_datagram(peer.seal(packet(PEER_MAC, MY_MAC, frame)), PEER_ADDR, clock())
    assert edge.frames_to_write() == [frame, frame]
    edge.receive_datagram(sealed, PEER_ADDR, clock())
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, frame), PEER_ADDR, clock())
    assert edge.frames_to_write() == []
    assert edge.drops["replay"] == 1 and edge.drops["he_decrypt"] == 1


def test_other_community_key_does_not_open() -> None:
    clock = Clock()
    edge, _ = make_edge(clock, header_encryption=True)
    stranger = HeaderCrypto(b"another", user_pw=False)
    sealed = stranger.seal(
        packet(PEER_MAC, MY_MAC, b"x" * 40), TimeStamper()(clock.wall()), b"abcd"
    )
    edge.receive_datagram(sealed, PEER_ADDR, clock())
    assert edge.drops["he_decrypt"] == 1


def _user_pw_edge(clock: Clock, **kw):
    return make_edge(
        clock,
        desc="alice",
        password="wonderland",
        key="k",
        transform=N2N_TRANSFORM_ID_SPECK,
        federation_pubkey=bin_to_ascii(federation_public_key(FED)),
        **kw,
    )


def test_user_password_registration_installs_the_dynamic_key() -> None:
    clock = Clock()
    edge, _ = _user_pw_edge(clock)
    assert edge.config.header_encryption  # -J forces -H
    sn = FakeSupernode(clock, user_pw=True)
    register(edge, clock, sn)
    assert edge.last_sup == clock() and edge.drops == {}
    # the gratuitous ARPs are sealed with the dynamic key the supernode handed out
    datagrams = edge.datagrams_to_send()
    assert len(datagrams) == 2
    for data, _ in datagrams:
        got, msg = sn.open(data)
        assert not got.static and isinstance(msg, Packet)


def test_user_password_ack_for_an_old_challenge_is_refused() -> None:
    clock = Clock()
    edge, _ = _user_pw_edge(clock)
    sn = FakeSupernode(clock, user_pw=True)
    edge.handle_timer(clock())
    ((first, _),) = edge.datagrams_to_send()
    old_answer = sn.answer(first)
    edge.handle_timer(clock.advance(2))  # retry: new cookie and new challenge
    ((second, _),) = edge.datagrams_to_send()
    _, reg2 = sn.open(second)
    # an ACK carrying the new cookie but the answer to the old challenge
    _, old_ack = sn.open(old_answer)
    forged = sn.seal(from_sn(super_ack(reg2, auth=old_ack.auth)))
    edge.receive_datagram(forged, SN1, clock())
    assert edge.last_sup is None and edge.drops["auth"] == 1
    edge.receive_datagram(sn.answer(second), SN1, clock())
    assert edge.last_sup == clock()


def test_re_register_super_triggers_registration_at_once() -> None:
    clock = Clock()
    edge, _ = _user_pw_edge(clock)
    sn = FakeSupernode(clock, user_pw=True)
    register(edge, clock, sn)
    edge.datagrams_to_send()
    clock.advance(5)
    edge.receive_datagram(sn.seal(from_sn(ReRegisterSuper())), SN1, clock())
    assert edge.get_timer() == clock()
    edge.handle_timer(clock())
    sent = [sn.open(d)[1] for d, _ in edge.datagrams_to_send()]
    assert any(isinstance(m, RegisterSuper) for m in sent)


def test_user_password_rejects_static_key_for_ordinary_messages() -> None:
    clock = Clock()
    edge, _ = _user_pw_edge(clock)
    sn = FakeSupernode(clock, user_pw=True)
    register(edge, clock, sn)
    static_only = HeaderCrypto(COMMUNITY.encode(), user_pw=False)  # static == dynamic here
    frame = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)
    sealed = static_only.seal(packet(PEER_MAC, MY_MAC, frame), TimeStamper()(clock.wall()), b"abcd")
    edge.receive_datagram(sealed + bytes(16), PEER_ADDR, clock())
    assert edge.frames_to_write() == []
    assert edge.drops["wrong_key"] == 1


def test_re_registration_is_spread_but_not_repeated_in_a_burst() -> None:
    clock = Clock()
    edge, _ = _user_pw_edge(clock)
    sn = FakeSupernode(clock, user_pw=True)
    register(edge, clock, sn)
    edge.datagrams_to_send()
    clock.advance(5)
    edge.receive_datagram(sn.seal(from_sn(ReRegisterSuper())), SN1, clock())
    edge.handle_timer(clock())
    ((data, _),) = edge.datagrams_to_send()
    # unanswered, the next attempt waits the usual 2 s whatever offset was drawn
    start = clock()
    while (t := edge.get_timer()) < start + 2:
        edge.handle_timer(clock.advance(t - clock()))
        sent = [sn.open(d)[1] for d, _ in edge.datagrams_to_send()]
        assert not any(isinstance(m, RegisterSuper) for m in sent)
    assert t == start + 2
    edge.receive_datagram(sn.answer(data), SN1, clock())
    # answered, the next regular one comes earlier than 20 s by a random share of 15 s
    assert clock() + 5 <= edge.get_timer() <= clock() + 20
