"""Remote input never makes the edge raise (core.md): random and mutated datagrams and frames."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyn2n.constants import N2N_COMPRESSION_ID_ZSTD, N2N_TRANSFORM_ID_SPECK
from pyn2n.wire import (
    Auth,
    IpSubnet,
    PeerInfo,
    QueryPeer,
    RegisterAck,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    Sock,
    SupernodeEntry,
)
from tests.conftest import EdgeAndClock
from tests.simnet import (
    BCAST,
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_MAC,
    SN1,
    SN_MAC1,
    from_sn,
    ipv4_frame,
    make_edge,
    packet,
    plain,
    register_msg,
    registered_edge,
)

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

SAMPLES = [
    packet(PEER_MAC, MY_MAC, ipv4_frame(MY_MAC, PEER_MAC, "198.19.0.2", MY_IP)),
    packet(
        PEER_MAC,
        BCAST,
        BCAST + PEER_MAC + b"\x08\x06" + bytes(28),
        relayed=True,
        sock=Sock(*PEER_ADDR),
    ),
    packet(PEER_MAC, MY_MAC, b"\x28\xb5\x2f\xfd" + bytes(20), compression=N2N_COMPRESSION_ID_ZSTD),
    plain(register_msg()),
    from_sn(register_msg(sock=Sock(*PEER_ADDR))),
    plain(RegisterAck(0x10000, MY_MAC, PEER_MAC)),
    from_sn(
        RegisterSuperAck(
            1,
            SN_MAC1,
            IpSubnet(0x0A000001, 24),
            Sock("1.2.3.4", 5),
            Auth(),
            (SupernodeEntry(Sock("198.18.0.2", 7654), SN_MAC1),),
        )
    ),
    from_sn(RegisterSuperNak(1, MY_MAC)),
    from_sn(PeerInfo(0, MY_MAC, PEER_MAC, Sock(*PEER_ADDR), Sock("10.0.0.2", 1))),
    from_sn(PeerInfo(0, SN_MAC1, bytes(6), Sock(*PEER_ADDR), None, 0xFFFFFFFF, 1, b"v")),
    plain(QueryPeer(PEER_MAC, MY_MAC)),
    from_sn(ReRegisterSuper()),
]

sources = st.sampled_from([SN1, PEER_ADDR, ("127.0.0.1", 1), ("198.18.77.1", 9)])


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    buf = bytearray(data)
    for pos, val in flips:
        buf[pos % len(buf)] = val
    return bytes(buf[: max(0, len(buf) - cut)])


def _feed(edge, clock, items) -> None:
    for data, addr, dt, as_frame in items:
        t = clock.advance(dt)
        if as_frame:
            edge.receive_frame(data, t)
        else:
            edge.receive_datagram(data, addr, t)
        timer = edge.get_timer()
        assert timer is not None
        if timer <= t:
            edge.handle_timer(t)
        edge.datagrams_to_send()
        edge.frames_to_write()
        edge.events()


items = st.lists(
    st.tuples(
        st.one_of(
            st.binary(max_size=120),
            st.builds(
                _mutate,
                st.sampled_from(SAMPLES),
                st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
                st.integers(0, 30),
            ),
        ),
        sources,
        st.floats(0, 40),
        st.booleans(),
    ),
    max_size=12,
)


@FUZZ
@given(items)
def test_registered_edge_never_raises(batch) -> None:
    edge, clock = registered_edge(allow_routing=True, compression=N2N_COMPRESSION_ID_ZSTD)
    _feed(edge, clock, batch)


@FUZZ
@given(items)
def test_bootstrapping_edge_never_raises(batch) -> None:
    edge, clock = make_edge(ip=None, supernodes=[SN1, ("198.18.0.2", 7654)])
    edge.handle_timer(clock())
    _feed(edge, clock, batch)


@FUZZ
@given(items)
def test_header_encrypted_user_password_edge_never_raises(batch) -> None:
    edge, clock = make_edge(
        header_encryption=True,
        desc="u",
        password="p",
        key="k",
        transform=N2N_TRANSFORM_ID_SPECK,
    )
    edge.handle_timer(clock())
    _feed(edge, clock, batch)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(28, 200), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 60),
    st.booleans(),
)
def test_mutated_answers_to_our_register_super_never_raise(flips, cut, auto_ip) -> None:
    """Past the cookie check: REGISTER_SUPER_ACK/NAK with garbled bodies."""
    from pyn2n.wire import RegisterSuper, decode

    edge, clock = make_edge(ip=None if auto_ip else MY_IP)
    edge.handle_timer(clock())
    ((data, _),) = edge.datagrams_to_send()
    reg = decode(data)[1]
    assert isinstance(reg, RegisterSuper)
    entries = tuple(SupernodeEntry(Sock(f"198.18.0.{i}", 7654), SN_MAC1) for i in range(2, 6))
    ack = from_sn(
        RegisterSuperAck(
            reg.cookie, SN_MAC1, IpSubnet(0x0A800001, 24), Sock("1.2.3.4", 5), Auth(), entries
        )
    )
    nak = from_sn(RegisterSuperNak(reg.cookie, MY_MAC))
    for sample in (nak, ack):
        edge.receive_datagram(_mutate(sample, flips, cut), SN1, clock())
    edge.handle_timer(clock.advance(3))
    edge.datagrams_to_send()
    edge.events()


def test_unmutated_samples_reach_the_handlers(registered: EdgeAndClock) -> None:
    """The fuzz corpus is meaningful: as sent, these datagrams decode and mostly get through."""
    edge, clock = registered
    for data in SAMPLES:
        edge.receive_datagram(data, SN1 if data[3] & 0x20 else PEER_ADDR, clock())
    assert edge.drops["decode"] == 0
    assert edge.frames_to_write()
    assert PEER_MAC in edge.peers.pending or PEER_MAC in edge.peers.known
