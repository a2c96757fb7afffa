"""n2n options beyond the basics: -L (TTL and port prediction of hole-punching REGISTERs), -e
(the preferred LAN socket in REGISTER_SUPER, and peers REGISTERing to it with the LOCAL
cookie), DHCP mode, their flags, and the request for a fresh UDP socket after repeated
supernode failures."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from pyn2n.cli.common import UsageError
from pyn2n.cli.edge import build_config, with_preferred
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.constants import (
    N2N_FLAGS_SOCKET,
    N2N_FORWARDED_REG_COOKIE,
    N2N_LOCAL_REG_COOKIE,
    N2N_MCAST_REG_COOKIE,
    N2N_PORT_REG_COOKIE,
    N2N_REGULAR_REG_COOKIE,
)
from pyn2n.core.config import ConfigError
from pyn2n.core.edge import Edge
from pyn2n.core.edge.discovery import (
    CLOSE_SOCKET_COUNTER_MAX,
    LAN_GROUP,
    PREDICTED_PORTS,
    ReopenSocket,
    TtlDatagrams,
)
from pyn2n.core.edge.state import Phase
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.wire import (
    IpSubnet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    Sock,
    decode,
)
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_IP,
    PEER_MAC,
    SN1,
    SN_MAC1,
    Clock,
    drain,
    from_sn,
    ipv4_frame,
    make_edge,
    make_known,
    of_type,
    packet,
    plain,
    registered_edge,
)

FROM_PEER_FRAME = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)
TO_PEER_FRAME = ipv4_frame(PEER_MAC, MY_MAC, MY_IP, PEER_IP)
BASE = ["-c", "mynet", "-l", "198.18.0.2:7654"]


def relayed_from_unknown(ttl: int) -> tuple[list[tuple[int, tuple[str, int]]], list[TtlDatagrams]]:
    edge, clock = registered_edge(register_ttl=ttl)
    dgram = packet(PEER_MAC, MY_MAC, FROM_PEER_FRAME, relayed=True, sock=Sock(*PEER_ADDR))
    edge.receive_datagram(dgram, SN1, clock())
    regs = [(m.cookie, a) for m, a in of_type(drain(edge), Register)]
    ttl_events = [e for e in edge.events() if isinstance(e, TtlDatagrams)]
    return regs, ttl_events


def test_without_l_the_direct_register_uses_the_system_ttl() -> None:
    regs, ttl = relayed_from_unknown(0)
    assert regs == [(N2N_REGULAR_REG_COOKIE, PEER_ADDR), (N2N_FORWARDED_REG_COOKIE, SN1)]
    assert ttl == []


def test_l1_sends_no_direct_register() -> None:
    # n2n: a host without NAT in front (DMZ); the peer answers the forwarded REGISTER
    regs, ttl = relayed_from_unknown(1)
    assert regs == [(N2N_FORWARDED_REG_COOKIE, SN1)] and ttl == []


def test_l_above_1_predicts_ports_with_a_short_ttl() -> None:
    regs, ttl = relayed_from_unknown(3)
    assert regs == [(N2N_FORWARDED_REG_COOKIE, SN1)]  # nothing direct at the normal TTL
    (event,) = ttl
    assert event.ttl == 3 and len(event.datagrams) == PREDICTED_PORTS
    host, port = PEER_ADDR
    assert [a for _, a in event.datagrams] == [(host, port + i) for i in range(PREDICTED_PORTS)]
    for data, _ in event.datagrams:
        _, msg = decode(data)
        assert isinstance(msg, Register) and msg.cookie == N2N_PORT_REG_COOKIE
        assert msg.dst_mac == PEER_MAC
    assert event.data() == {"ttl": 3, "count": PREDICTED_PORTS}


def test_l_only_applies_to_registrations_the_supernode_brought() -> None:
    edge, clock = registered_edge(register_ttl=3)
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, FROM_PEER_FRAME), PEER_ADDR, clock())
    regs = [(m.cookie, a) for m, a in of_type(drain(edge), Register)]
    assert regs == [(N2N_REGULAR_REG_COOKIE, PEER_ADDR)]
    assert not [e for e in edge.events() if isinstance(e, TtlDatagrams)]


def test_e_puts_the_preferred_socket_in_register_super() -> None:
    edge, clock = make_edge(preferred_sock=("192.168.7.5", 40404))
    edge.handle_timer(clock())
    sent = drain(edge)
    ((reg, addr),) = of_type(sent, RegisterSuper)
    assert addr == SN1 and reg.sock == Sock("192.168.7.5", 40404)
    assert [c.flags & N2N_FLAGS_SOCKET for c, m, _ in sent if isinstance(m, RegisterSuper)] == [
        N2N_FLAGS_SOCKET
    ]
    edge2, clock2 = make_edge()
    edge2.handle_timer(clock2())
    ((reg2, _),) = of_type(drain(edge2), RegisterSuper)
    assert reg2.sock is None


def test_peer_info_with_a_preferred_socket_registers_there_with_the_local_cookie() -> None:
    edge, clock = registered_edge()
    edge.receive_frame(TO_PEER_FRAME, clock())  # relayed: the edge asks about the peer
    drain(edge)
    info = PeerInfo(0, SN_MAC1, PEER_MAC, Sock(*PEER_ADDR), Sock("192.168.7.6", 40405))
    edge.receive_datagram(from_sn(info), SN1, clock())
    regs = [(m.cookie, a) for m, a in of_type(drain(edge), Register)]
    assert (N2N_LOCAL_REG_COOKIE, ("192.168.7.6", 40405)) in regs
    assert (N2N_REGULAR_REG_COOKIE, PEER_ADDR) in regs


def test_dhcp_mode_registers_without_asking_for_an_address() -> None:
    edge, clock = make_edge(ip=None, dhcp=True, allow_routing=True)
    assert edge.phase is Phase.RUN  # no auto-IP bootstrap
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    assert reg.edge_mac == edge.mac and reg.dev_addr.net_addr == 0
    edge.set_tap_address("198.19.0.77", 24)
    assert edge.ip == "198.19.0.77" and edge.prefix == 24


# -- flags ----------------------------------------------------------------------------------------


def args_error(*extra: str) -> str:
    with pytest.raises(UsageError) as info:
        parse_edge_args([*BASE, *extra], env={})
    return str(info.value)


def test_flags_parse() -> None:
    rule = "198.19.0.0/24,198.19.0.5:22,TCP-"
    args = parse_edge_args([*BASE, "-R", rule, "-R", rule, "-L", "3", "-e", "auto"], env={})
    assert args.rules == [rule, rule] and args.register_ttl == 3 and args.preferred == "auto"
    config = build_config(args, [("198.18.0.2", 7654)])
    assert config.rules == [rule, rule] and config.register_ttl == 3 and not config.fastpath
    args = parse_edge_args([*BASE, "-r", "-a", "dhcp:0.0.0.0"], env={})
    config = build_config(args, [("198.18.0.2", 7654)])
    assert config.dhcp and config.ip is None and not config.auto_ip


def test_bad_flags_name_the_fix() -> None:
    assert "names no protocol" in args_error("-R", "198.19.0.0/24,198.19.0.5")
    assert "host bits set; write 198.19.0.0/24" in args_error("-R", "198.19.0.9/24,1.1.1.1,UDP-")
    assert "-L 0: the TTL must be between 1 and 255" in args_error("-L", "0")
    assert "-e '10.0.0.300': not an IPv4 address" in args_error("-e", "10.0.0.300")
    assert "needs -r" in args_error("-a", "dhcp:0.0.0.0")


def test_e_auto_takes_the_address_towards_the_supernode() -> None:
    config = EdgeConfig(community="c", supernodes=[("127.0.0.1", 7654)])
    done = with_preferred(config, "auto", 5555)
    assert done.preferred_sock == ("127.0.0.1", 5555)
    assert with_preferred(config, "192.168.1.4", 5555).preferred_sock == ("192.168.1.4", 5555)
    with pytest.raises(ConfigError, match="-L 300"):
        EdgeConfig(community="c", supernodes=[SN1], register_ttl=300)


# -- socket re-open -------------------------------------------------------------------------------


def reopen_events(edge: Edge, clock: Clock, until: float) -> list[tuple[float, ReopenSocket]]:
    seen = []
    start = clock()
    while clock() < start + until:
        t = edge.get_timer()
        assert t is not None
        edge.handle_timer(clock.advance(max(0.0, t - clock())))
        edge.datagrams_to_send()
        seen += [(clock() - start, e) for e in edge.events() if isinstance(e, ReopenSocket)]
    return seen


def test_fifteen_supernode_give_ups_ask_for_a_fresh_socket() -> None:
    edge, clock = registered_edge(register_interval=20)
    # silence: each give-up takes three retries after the first (2 s apart with -i 20)
    seen = reopen_events(edge, clock, 200.0)
    assert len(seen) == 1 and seen[0][1].give_ups == CLOSE_SOCKET_COUNTER_MAX
    assert 100 < seen[0][0] < 140, seen  # 15 rounds of 4 unanswered registrations, 2 s apart


def test_no_fresh_socket_while_a_peer_talks_directly() -> None:
    edge, clock = registered_edge(register_interval=20)
    make_known(edge, clock)
    assert reopen_events(edge, clock, 200.0) == []  # (known peers stay while no supernode answers)
    assert edge.peers.known


# -- LAN discovery --------------------------------------------------------------------------------

LAN_PEER = ("192.168.7.9", 40409)


def test_a_new_peer_is_also_looked_for_on_the_lan() -> None:
    for kw, expect in (
        ({"local_discovery": True}, True),
        ({"local_discovery": True, "preferred_sock": ("192.168.7.5", 1)}, False),
        ({"local_discovery": True, "no_p2p": True}, False),
        ({}, False),
    ):
        edge, clock = registered_edge(**kw)
        dgram = packet(PEER_MAC, MY_MAC, FROM_PEER_FRAME, relayed=True, sock=Sock(*PEER_ADDR))
        edge.receive_datagram(dgram, SN1, clock())
        lan = [m for m, a in of_type(drain(edge), Register) if a == LAN_GROUP]
        assert bool(lan) is expect, kw
        if expect:
            assert lan[0].cookie == N2N_MCAST_REG_COOKIE and lan[0].dst_mac == bytes(6)


def test_a_multicast_register_from_the_lan_is_answered_and_punched() -> None:
    edge, clock = registered_edge(local_discovery=True)
    reg = Register(N2N_MCAST_REG_COOKIE, PEER_MAC, bytes(6), None, IpSubnet(0, 0), b"peer")
    edge.receive_local(plain(reg), LAN_PEER, clock())
    sent = drain(edge)
    assert [(m.dst_mac, m.cookie, a) for m, a in of_type(sent, RegisterAck)] == [
        (PEER_MAC, N2N_MCAST_REG_COOKIE, LAN_PEER)
    ]
    assert (N2N_REGULAR_REG_COOKIE, LAN_PEER) in [(m.cookie, a) for m, a in of_type(sent, Register)]
    assert edge.peers.pending[PEER_MAC].sock == LAN_PEER
    # its REGISTER_ACK from the LAN makes it a known peer there
    edge.receive_datagram(
        plain(RegisterAck(N2N_REGULAR_REG_COOKIE, MY_MAC, PEER_MAC)), LAN_PEER, clock()
    )
    assert edge.peers.known[PEER_MAC].sock == LAN_PEER


def test_lan_socket_drops_what_is_not_a_peers_multicast_register() -> None:
    edge, clock = registered_edge(local_discovery=True)
    own = Register(N2N_MCAST_REG_COOKIE, edge.mac, bytes(6), None, IpSubnet(0, 0), b"me")
    edge.receive_local(plain(own), LAN_PEER, clock())
    edge.receive_local(plain(QueryPeer(PEER_MAC, MY_MAC)), LAN_PEER, clock())
    edge.receive_local(b"\x03\x02", LAN_PEER, clock())
    to_us = Register(N2N_MCAST_REG_COOKIE, PEER_MAC, MY_MAC, None, IpSubnet(0, 0), b"peer")
    edge.receive_local(plain(to_us), LAN_PEER, clock())
    assert drain(edge) == [] and not edge.peers.pending
    assert edge.drops["local_self"] == 1 and edge.drops["local_unexpected"] == 2
    assert edge.drops["decode"] == 1


def test_lan_discovery_flag() -> None:
    assert parse_edge_args(BASE, env={}).local_discovery
    assert not parse_edge_args([*BASE, "--no-local-discovery"], env={}).local_discovery
    assert not parse_edge_args([*BASE, "-e", "10.0.0.1"], env={}).local_discovery
    assert not parse_edge_args([*BASE, "-S1"], env={}).local_discovery
    config = build_config(parse_edge_args(BASE, env={}), [("198.18.0.2", 7654)])
    assert config.local_discovery


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hst.binary(max_size=120))
def test_lan_socket_never_raises(data: bytes) -> None:
    edge, clock = registered_edge(local_discovery=True)
    edge.receive_local(data, LAN_PEER, clock())
    edge.receive_local(bytes([3, 2, 0, 5]) + data, LAN_PEER, clock())
    assert sum(edge.drops.values()) >= 1 or edge.peers.pending
