"""Edge peer discovery, hole punching, direct vs relayed, purging and -S1 (spec §7.4)."""

from __future__ import annotations

from pyn2n.constants import (
    N2N_FORWARDED_REG_COOKIE,
    N2N_LOCAL_REG_COOKIE,
    N2N_REGULAR_REG_COOKIE,
)
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.wire import (
    NULL_MAC,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    Sock,
    ipv4_to_int,
)
from tests.conftest import EdgeAndClock
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_IP,
    PEER_LAN,
    PEER_MAC,
    SN1,
    drain,
    from_sn,
    ipv4_frame,
    make_known,
    of_type,
    packet,
    plain,
    register_msg,
    registered_edge,
    run_until,
)

TO_PEER = ipv4_frame(PEER_MAC, MY_MAC, MY_IP, PEER_IP)
FROM_PEER = ipv4_frame(MY_MAC, PEER_MAC, PEER_IP, MY_IP)


def peer_events(edge) -> list[tuple[int, str]]:
    return [(e.data()["action"], e.data()["sockaddr"]) for e in edge.events() if e.kind == "peer"]


# --- discovery ---------------------------------------------------------------------------


def test_relayed_packet_from_unknown_mac_starts_hole_punching(registered: EdgeAndClock) -> None:
    edge, clock = registered
    dgram = packet(PEER_MAC, MY_MAC, FROM_PEER, relayed=True, sock=Sock(*PEER_ADDR))
    edge.receive_datagram(dgram, SN1, clock())
    assert edge.frames_to_write() == [FROM_PEER]
    peer = edge.peers.pending[PEER_MAC]
    assert peer.sock == PEER_ADDR
    regs = of_type(drain(edge), Register)
    # n2n register_with_new_peer: direct REGISTER to the public socket, then one via the SN
    assert [(m.cookie, a) for m, a in regs] == [
        (N2N_REGULAR_REG_COOKIE, PEER_ADDR),
        (N2N_FORWARDED_REG_COOKIE, SN1),
    ]
    assert all(m.src_mac == MY_MAC and m.dst_mac == PEER_MAC for m, _ in regs)
    assert regs[0][0].dev_addr.net_addr == ipv4_to_int(MY_IP)
    # a second relayed packet does not punch again while the peer is pending
    edge.receive_datagram(dgram, SN1, clock.advance(1))
    assert not of_type(drain(edge), Register)
    assert edge.data.rx_sup == 2 and edge.data.rx_p2p == 0


def test_direct_register_is_acknowledged_and_answered(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.receive_datagram(plain(register_msg(cookie=0x1234)), PEER_ADDR, clock())
    sent = drain(edge)
    ((ack, a1),) = of_type(sent, RegisterAck)
    assert a1 == PEER_ADDR and ack.cookie == 0x1234
    assert ack.dst_mac == PEER_MAC and ack.src_mac == MY_MAC  # §4: acknowledged MAC first
    ((reg, a2),) = of_type(sent, Register)
    assert a2 == PEER_ADDR and reg.cookie == N2N_REGULAR_REG_COOKIE
    peer = edge.peers.pending[PEER_MAC]
    assert peer.dev_addr == (PEER_IP, 24) and peer.desc == "peer"


def test_register_for_someone_else_is_ignored(registered: EdgeAndClock) -> None:
    edge, clock = registered
    other = bytes.fromhex("02ee000000ff")
    edge.receive_datagram(plain(register_msg(dst=other)), PEER_ADDR, clock())
    assert drain(edge) == [] and edge.drops["not_for_us"] == 1


def test_register_ack_makes_the_peer_known_with_rtt(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.receive_datagram(plain(register_msg()), PEER_ADDR, clock())
    ((reg, _),) = of_type(drain(edge), Register)
    edge.events()
    edge.receive_datagram(
        plain(RegisterAck(reg.cookie, MY_MAC, PEER_MAC)), PEER_ADDR, clock.advance(0.025)
    )
    assert PEER_MAC in edge.peers.known and PEER_MAC not in edge.peers.pending
    peer = edge.peers.known[PEER_MAC]
    assert abs(peer.rtt - 0.025) < 1e-9
    assert peer_events(edge) == [(4, "198.18.1.2:50002")]  # add-p2p (§8)


def test_register_ack_from_unknown_peer_is_dropped(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.receive_datagram(plain(RegisterAck(1, MY_MAC, PEER_MAC)), PEER_ADDR, clock())
    assert not edge.peers.known and edge.drops["register_ack_unknown"] == 1


def test_tx_to_unknown_peer_goes_via_supernode_and_queries_once_per_interval() -> None:
    edge, clock = registered_edge(register_interval=20)
    tx_sup = edge.data.tx_sup  # the gratuitous ARPs
    edge.receive_frame(TO_PEER, clock())
    sent = drain(edge)
    assert [a for _, a in of_type(sent, Packet)] == [SN1]
    ((reg, ra),) = of_type(sent, Register)
    assert ra == SN1 and reg.cookie == N2N_FORWARDED_REG_COOKIE and reg.dst_mac == PEER_MAC
    ((query, qa),) = of_type(sent, QueryPeer)
    assert qa == SN1 and query.target_mac == PEER_MAC and query.src_mac == MY_MAC
    # within the interval: relay only
    edge.receive_frame(TO_PEER, clock.advance(10))
    sent = drain(edge)
    assert of_type(sent, Packet) and not of_type(sent, QueryPeer) and not of_type(sent, Register)
    # after it: ask again
    edge.receive_frame(TO_PEER, clock.advance(10.5))
    assert of_type(drain(edge), QueryPeer)
    assert edge.data.tx_sup - tx_sup == 3 and edge.data.tx_p2p == 0


def test_peer_info_leads_to_local_and_regular_registers(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.receive_frame(TO_PEER, clock())  # creates the pending entry, asks the SN
    drain(edge)
    info = PeerInfo(0, MY_MAC, PEER_MAC, Sock(*PEER_ADDR), Sock(*PEER_LAN))
    edge.receive_datagram(from_sn(info), SN1, clock())
    regs = of_type(drain(edge), Register)
    assert [(m.cookie, a) for m, a in regs] == [
        (N2N_LOCAL_REG_COOKIE, PEER_LAN),
        (N2N_REGULAR_REG_COOKIE, PEER_ADDR),
    ]
    assert edge.peers.pending[PEER_MAC].preferred_sock == PEER_LAN


def test_peer_info_must_come_from_a_supernode(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.receive_frame(TO_PEER, clock())
    drain(edge)
    info = PeerInfo(0, MY_MAC, PEER_MAC, Sock(*PEER_ADDR))
    edge.receive_datagram(plain(info), ("203.0.113.66", 7654), clock())
    assert drain(edge) == [] and edge.drops["not_from_supernode"] == 1


def test_full_hole_punch_then_direct_unicast(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    edge.receive_frame(TO_PEER, clock())
    ((pkt, addr),) = of_type(drain(edge), Packet)
    assert addr == PEER_ADDR and pkt.payload == TO_PEER
    assert edge.data.tx_p2p == 1


# --- direct vs relayed freshness (10 s) ------------------------------------------------------


def test_direct_only_while_direct_traffic_is_fresh() -> None:
    edge, clock = registered_edge(register_interval=20)
    make_known(edge, clock)
    edge.events()
    edge.receive_frame(TO_PEER, clock.advance(9.9))
    assert [a for _, a in of_type(drain(edge), Packet)] == [PEER_ADDR]
    # direct traffic from the peer refreshes the path
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, FROM_PEER), PEER_ADDR, clock())
    edge.receive_frame(TO_PEER, clock.advance(9.9))
    assert [a for _, a in of_type(drain(edge), Packet)] == [PEER_ADDR]
    # 10 s without: relayed, the peer leaves the known table, and we ask again
    edge.receive_frame(TO_PEER, clock.advance(0.1))
    sent = drain(edge)
    assert [a for _, a in of_type(sent, Packet)] == [SN1]
    assert of_type(sent, QueryPeer)
    assert PEER_MAC not in edge.peers.known and PEER_MAC in edge.peers.pending
    assert peer_events(edge) == [(3, "198.18.1.2:50002")]  # del-p2p


def test_relayed_traffic_does_not_refresh_the_direct_path(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    relayed = packet(PEER_MAC, MY_MAC, FROM_PEER, relayed=True, sock=Sock(*PEER_ADDR))
    edge.receive_datagram(relayed, SN1, clock.advance(9))
    edge.receive_frame(TO_PEER, clock.advance(1))
    assert [a for _, a in of_type(drain(edge), Packet)] == [SN1]


def test_socket_change_of_known_peer_forces_reregistration(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    edge.events()
    moved = ("198.18.1.2", 50999)
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, FROM_PEER), moved, clock.advance(2))
    assert PEER_MAC not in edge.peers.known
    assert edge.peers.pending[PEER_MAC].sock == moved
    assert [(m.cookie, a) for m, a in of_type(drain(edge), Register)] == [
        (N2N_REGULAR_REG_COOKIE, moved)
    ]
    assert (3, "198.18.1.2:50002") in peer_events(edge)


def test_supernode_reported_socket_of_known_peer_is_ignored(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    other = Sock("198.18.7.7", 1234)
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, FROM_PEER, relayed=True, sock=other), SN1, clock.advance(2)
    )
    assert edge.peers.known[PEER_MAC].sock == PEER_ADDR


def test_new_mac_on_a_known_socket_takes_over_the_entry(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    new_mac = bytes.fromhex("02ee000000aa")
    frame = ipv4_frame(MY_MAC, new_mac, PEER_IP, MY_IP)
    edge.receive_datagram(packet(new_mac, MY_MAC, frame), PEER_ADDR, clock.advance(1))
    assert new_mac in edge.peers.known and PEER_MAC not in edge.peers.known
    assert edge.frames_to_write() == [frame]


# --- purge (60 s, every 30 s) ----------------------------------------------------------------


def test_pending_and_known_peers_are_purged_after_60_s(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    pending_mac = bytes.fromhex("02ee00000003")
    edge.receive_frame(ipv4_frame(pending_mac, MY_MAC, MY_IP, "198.19.0.3"), clock())
    start = clock()
    edge.events()
    run_until(edge, clock, start + 59)
    assert PEER_MAC in edge.peers.known and pending_mac in edge.peers.pending
    run_until(edge, clock, start + 91)
    assert not edge.peers.known and not edge.peers.pending
    purged = [
        e.data()["macaddr"] for e in edge.events() if e.kind == "peer" and e.data()["action"] == 1
    ]
    assert sorted(purged) == ["02:EE:00:00:00:02", "02:EE:00:00:00:03"]


def test_known_peers_are_kept_while_the_supernode_is_unreachable(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    run_until(edge, clock, clock() + 150, answer=False)
    assert PEER_MAC in edge.peers.known
    assert edge.sn_wait


def test_unreachable_supernode_makes_the_edge_keep_peers_registered(
    registered: EdgeAndClock,
) -> None:
    edge, clock = registered
    make_known(edge, clock)
    log = run_until(edge, clock, clock() + 45, answer=False)
    regs = [(m.cookie, a) for _, m, a in log if isinstance(m, Register)]
    assert regs and all(a == PEER_ADDR for _, a in regs)


# --- -S1: no p2p ---------------------------------------------------------------------------


def test_no_p2p_sends_no_register_or_register_ack() -> None:
    edge, clock = registered_edge(no_p2p=True)
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, FROM_PEER, relayed=True, sock=Sock(*PEER_ADDR)), SN1, clock()
    )
    edge.receive_datagram(plain(register_msg()), PEER_ADDR, clock())
    edge.receive_frame(TO_PEER, clock())
    info = PeerInfo(0, MY_MAC, PEER_MAC, Sock(*PEER_ADDR), Sock(*PEER_LAN))
    edge.receive_datagram(from_sn(info), SN1, clock())
    sent = drain(edge)
    assert not of_type(sent, Register) and not of_type(sent, RegisterAck)
    assert [a for _, a in of_type(sent, Packet)] == [SN1]
    assert of_type(sent, QueryPeer)  # still asks: the answer is harmless
    assert edge.frames_to_write() == [FROM_PEER]
    row = next(
        r for r in EdgeViews(edge).mgmt_peers(clock()) if r["macaddr"] == "02:EE:00:00:00:02"
    )
    assert row["path"] == "relayed" and "-S1" in row["reason"]


def test_bad_source_macs_are_dropped(registered: EdgeAndClock) -> None:
    edge, clock = registered
    for src in (MY_MAC, NULL_MAC, bytes.fromhex("010203040506")):
        edge.receive_datagram(packet(src, MY_MAC, FROM_PEER), PEER_ADDR, clock())
    assert edge.drops["bad_mac"] == 3 and not edge.peers.pending
