"""Edge bootstrap and supernode registration (spec §7.1, §7.2)."""

from __future__ import annotations

import pytest

from pyn2n.core.selection import CRITERION_BAD
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.wire import (
    BROADCAST_MAC,
    NULL_MAC,
    IpSubnet,
    Packet,
    QueryPeer,
    RegisterSuper,
    Sock,
    SupernodeEntry,
    UnregisterSuper,
    ipv4_to_int,
)
from tests.conftest import EdgeAndClock
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_MAC,
    PUBLIC,
    SN1,
    SN2,
    SN3,
    SN_MAC1,
    SN_MAC2,
    Clock,
    answer_register_super,
    drain,
    from_sn,
    ipv4_frame,
    make_edge,
    make_known,
    nak,
    of_type,
    packet,
    pong,
    registered_edge,
    run_until,
    super_ack,
)

# --- bootstrap (§7.1) ------------------------------------------------------------------------


def test_single_supernode_static_ip_registers_at_once(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    assert edge.get_timer() == clock()
    edge.handle_timer(clock())
    sent = drain(edge)
    ((reg, addr),) = of_type(sent, RegisterSuper)
    assert addr == SN1
    assert reg.edge_mac == MY_MAC
    assert reg.dev_addr == IpSubnet(ipv4_to_int(MY_IP), 24)
    assert reg.auth.scheme == 1 and len(reg.auth.token) == 16  # simple-id (§3)
    assert not of_type(sent, QueryPeer)  # one supernode: no PING


def test_auto_ip_bootstrap_asks_with_null_mac_and_learns_the_address() -> None:
    edge, clock = make_edge(ip=None)
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    assert reg.edge_mac == NULL_MAC and reg.dev_addr == IpSubnet(0, 0)  # §4 "assign me an IP"
    assigned = IpSubnet(ipv4_to_int("10.128.7.9"), 24)
    edge.receive_datagram(from_sn(super_ack(reg, dev=assigned)), SN1, clock())
    events = [e for e in edge.events() if e.kind == "ip_assigned"]
    assert events and events[0].data()["ip4addr"] == "10.128.7.9"
    assert events[0].data()["prefix"] == 24 and events[0].data()["ip4netmask"] == "255.255.255.0"
    assert edge.ip == "10.128.7.9"
    # the bootstrap ACK is not a registration: still dropping traffic (§10.7)
    assert edge.last_sup is None
    edge.receive_frame(ipv4_frame(PEER_MAC, MY_MAC, "10.128.7.9", "10.128.7.1"), clock())
    assert edge.drops["tap_not_registered"] == 1
    # the real registration follows with our MAC and the assigned address
    edge.handle_timer(clock())
    ((reg2, _),) = of_type(drain(edge), RegisterSuper)
    assert reg2.edge_mac == MY_MAC and reg2.dev_addr == assigned
    edge.receive_datagram(from_sn(super_ack(reg2)), SN1, clock())
    assert edge.last_sup == clock()


def test_auto_ip_tries_the_next_supernode_after_3_s() -> None:
    edge, clock = make_edge(ip=None, supernodes=[SN1, SN2])
    edge.handle_timer(clock())
    pings = of_type(drain(edge), QueryPeer)
    assert {a for _, a in pings} == {SN1, SN2}
    edge.receive_datagram(pong(load=0, sn_mac=SN_MAC1), SN1, clock())
    ((_, addr),) = of_type(drain(edge), RegisterSuper)
    assert addr == SN1
    assert edge.get_timer() == clock() + 3
    edge.handle_timer(clock.advance(3))
    ((reg, addr),) = of_type(drain(edge), RegisterSuper)
    assert addr == SN2 and reg.edge_mac == NULL_MAC


def test_bootstrap_pings_and_picks_the_supernode_by_pong() -> None:
    edge, clock = make_edge(supernodes=[SN1, SN2])
    edge.handle_timer(clock())
    assert {a for _, a in of_type(drain(edge), QueryPeer)} == {SN1, SN2}
    # no PONG within 3 s: ping again
    edge.handle_timer(clock.advance(3))
    assert {a for _, a in of_type(drain(edge), QueryPeer)} == {SN1, SN2}
    # the load field arrives byte-swapped (C supernode quirk, §7.2): 0x05000000 reads as 5
    edge.receive_datagram(pong(load=0x05000000, sn_mac=SN_MAC2), SN2, clock.advance(0.1))
    assert edge.sns.current.addr == SN2
    edge.handle_timer(clock())
    ((reg, addr),) = of_type(drain(edge), RegisterSuper)
    assert addr == SN2 and reg.edge_mac == MY_MAC


# --- registration (§7.2) ---------------------------------------------------------------------


def test_retry_every_2_s_and_switch_after_3_misses() -> None:
    edge, clock = make_edge(supernodes=[SN1, SN2])
    edge.handle_timer(clock())
    drain(edge)
    start = clock()
    edge.receive_datagram(pong(sn_mac=SN_MAC1), SN1, clock())  # bootstrap picks SN1
    sent = [(start, m, a) for _, m, a in drain(edge)]
    sent += run_until(edge, clock, start + 7, answer=False)
    regs = [(round(t - start, 6), a) for t, m, a in sent if isinstance(m, RegisterSuper)]
    assert regs == [(0, SN1), (2, SN1), (4, SN1), (6, SN2)]
    (ev,) = [e for e in edge.events() if e.kind == "supernode_changed"]
    assert ev.data() == {
        "from": "198.18.0.1:7654",
        "to": "198.18.0.2:7654",
        "reason": "unresponsive",
    }


def test_give_up_marks_the_supernode_bad() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2])
    run_until(edge, clock, clock() + 10)  # past the first PING round, which resets criteria
    edge.reg.sup_attempts = 0  # as after three unanswered REGISTER_SUPERs
    run_until(edge, clock, clock() + 10, answer=False)
    assert edge.sns.find_by_addr(SN1).criterion == CRITERION_BAD
    assert edge.sns.current.addr == SN2


def test_ack_must_match_the_last_cookie(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    edge.handle_timer(clock.advance(2))  # retry with a new cookie
    ((reg2, _),) = of_type(drain(edge), RegisterSuper)
    assert reg2.cookie != reg.cookie
    edge.receive_datagram(from_sn(super_ack(reg)), SN1, clock())
    assert edge.last_sup is None and edge.drops["cookie"] == 1
    edge.receive_datagram(from_sn(super_ack(reg2)), SN1, clock())
    assert edge.last_sup == clock()


def test_ack_teaches_public_socket_sn_mac_and_other_supernodes(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    others = (
        SupernodeEntry(Sock(*SN2), SN_MAC2),
        SupernodeEntry(Sock("::1", 7654), SN_MAC2),  # IPv6: not usable, ignored
    )
    edge.receive_datagram(from_sn(super_ack(reg, supernodes=others)), SN1, clock())
    assert edge.reg.public_sock == (PUBLIC.addr, PUBLIC.port)
    assert edge.sns.current.mac == SN_MAC1
    learned = edge.sns.find_by_addr(SN2)
    assert learned is not None and learned.purgeable and learned.mac == SN_MAC2
    assert len(edge.sns) == 2
    (ev,) = [e for e in edge.events() if e.kind == "registered"]
    assert ev.data()["first"] is True and ev.data()["public_sock"] == "198.18.9.1:40001"


def test_reregisters_every_interval_and_unsolicited_acks_are_dropped() -> None:
    edge, clock = registered_edge(register_interval=20)
    first = edge.reg.last_register_req
    regs = []
    while not regs:
        t = edge.get_timer()
        assert t is not None and t <= first + 20
        edge.handle_timer(clock.advance(t - clock()))
        regs = of_type(drain(edge), RegisterSuper)
    assert clock() == first + 20
    ((reg, _),) = regs
    answer = from_sn(super_ack(reg))
    edge.receive_datagram(answer, SN1, clock())
    edge.receive_datagram(answer, SN1, clock())  # duplicate: nothing outstanding any more
    assert edge.drops["unsolicited"] == 1


def test_nak_is_reported_and_registration_continues(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    edge.receive_datagram(nak(reg), SN1, clock())
    (ev,) = [e for e in edge.events() if e.kind == "register_super_nak"]
    assert "in use" in ev.data()["reason"]
    assert edge.reg.reg_super_nak == 1 and edge.last_sup is None
    edge.handle_timer(clock.advance(2))
    assert of_type(drain(edge), RegisterSuper)  # keeps trying


def test_supernode_with_unknown_address_is_ignored(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    edge.receive_datagram(from_sn(super_ack(reg)), SN3, clock())
    assert edge.last_sup is None and edge.drops["unknown_supernode"] == 1


# --- before / at the first registration (§7.1 step 4) -----------------------------------------


def test_traffic_is_dropped_until_the_first_real_ack(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    edge.handle_timer(clock())
    frame = ipv4_frame(PEER_MAC, MY_MAC, MY_IP, "198.19.0.2")
    edge.receive_frame(frame, clock())
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, frame), ("198.18.1.2", 5000), clock())
    assert edge.drops["tap_not_registered"] == 1 and edge.drops["not_registered"] == 1
    assert edge.frames_to_write() == []
    assert not of_type(drain(edge), Packet)


def test_two_gratuitous_arps_on_first_registration_only(fresh: EdgeAndClock) -> None:
    edge, clock = fresh
    edge.handle_timer(clock())
    answer_register_super(edge, clock)
    arps = of_type(drain(edge), Packet)
    assert len(arps) == 2
    for pkt, addr in arps:
        assert addr == SN1 and pkt.dst_mac == BROADCAST_MAC
        frame = pkt.payload
        assert frame[0:6] == BROADCAST_MAC and frame[6:12] == MY_MAC
        assert frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x02"  # ARP reply (n2n)
        assert frame[28:32] == frame[38:42] == bytes([198, 19, 0, 1])
    # later registrations announce nothing
    edge.handle_timer(clock.advance(20))
    answer_register_super(edge, clock)
    assert not of_type(drain(edge), Packet)


def test_no_gratuitous_arp_without_an_address() -> None:
    edge, clock = make_edge(ip=None)
    edge.handle_timer(clock())
    answer_register_super(edge, clock)  # bootstrap ACK without an address
    edge.handle_timer(clock())
    answer_register_super(edge, clock)
    assert edge.last_sup is not None
    assert not of_type(drain(edge), Packet)
    assert edge.drops["no_ip_assigned"] == 1


def test_packetstats_after_registration_match_n2n() -> None:
    """n2n's integration test: an edge alone after registering shows the 2 gratuitous ARPs."""
    import json

    from tests.vectors import vectors_dir

    text = (vectors_dir() / "test_integration_edge.sh.expected").read_text()
    blocks = [b for b in text.split("###") if '"transop"' in b]
    expected = json.loads(blocks[0])
    edge, clock = registered_edge()
    assert sorted(EdgeViews(edge).mgmt_packetstats(clock()), key=lambda r: r["type"]) == sorted(
        expected, key=lambda r: r["type"]
    )


# --- switching supernodes every 30 s (§7.2) --------------------------------------------------


def test_sweep_switches_to_a_better_supernode() -> None:
    edge, clock = make_edge(supernodes=[SN1, SN2])
    edge.handle_timer(clock())
    drain(edge)
    edge.receive_datagram(pong(load=0x01000000, sn_mac=SN_MAC1), SN1, clock())
    answer_register_super(edge, clock)
    drain(edge)
    assert edge.sns.current.addr == SN1
    # first regular PING round 6 s after bootstrap
    pings = run_until(edge, clock, clock() + 6)
    assert {a for _, m, a in pings if isinstance(m, QueryPeer)} == {SN1, SN2}
    # with no peer at all n2n's stickiness factor n/(n+1) makes the current supernode's
    # criterion 0, so it never switches; one pending peer makes it 9 * 1/2 = 4 against 2
    edge.peers.add_pending(PEER_MAC, ("198.18.1.2", 5000), clock())
    edge.receive_datagram(pong(load=0x09000000, sn_mac=SN_MAC1), SN1, clock())  # load 9
    edge.receive_datagram(pong(load=0x02000000, sn_mac=SN_MAC2), SN2, clock())  # load 2
    assert edge.sns.find_by_addr(SN1).criterion == 4
    sent = [m for _, m, _ in run_until(edge, clock, clock() + 30)]
    unregs = [m for m in sent if isinstance(m, UnregisterSuper)]
    assert len(unregs) == 1 and unregs[0].src_mac == MY_MAC
    assert edge.sns.current.addr == SN2
    i = sent.index(unregs[0])
    assert any(isinstance(m, RegisterSuper) for m in sent[i:])
    assert any(e.data().get("reason") == "selection" for e in edge.events())


def test_no_switch_while_supernodes_answer_equally() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2])
    for _ in range(3):
        run_until(edge, clock, clock() + 30)
        for addr, mac in ((SN1, SN_MAC1), (SN2, SN_MAC2)):
            edge.receive_datagram(pong(load=0, sn_mac=mac), addr, clock())
    assert edge.sns.current.addr == SN1
    assert not [e for e in edge.events() if e.kind == "supernode_changed"]


def test_shutdown_unregisters(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.shutdown(clock())
    ((unreg, addr),) = of_type(drain(edge), UnregisterSuper)
    assert addr == SN1 and unreg.src_mac == MY_MAC and unreg.auth == edge.st.auth
    assert not edge.keep_running


@pytest.mark.parametrize("start", [1000.0, 36.019999999999996 - 6, 0.1 + 0.2])
def test_timer_always_moves_on(start: float) -> None:
    """Deadlines compared as computed: float rounding must not make a timer fire in vain."""
    edge, clock = registered_edge(clock=Clock(start), allow_routing=True, ip=None)
    clock.advance(0.37)
    make_known(edge, clock)
    run_until(edge, clock, start + 300)  # asserts that every firing moves the timer on
    assert edge.sn_wait == 0 and edge.last_sup > start + 280


def test_auto_ip_answer_with_an_impossible_prefix_assigns_nothing() -> None:
    edge, clock = make_edge(ip=None)
    edge.handle_timer(clock())
    ((reg, _),) = of_type(drain(edge), RegisterSuper)
    bogus = IpSubnet(ipv4_to_int("10.128.7.9"), 40)
    edge.receive_datagram(from_sn(super_ack(reg, dev=bogus)), SN1, clock())
    assert edge.ip is None and edge.drops["no_ip_assigned"] == 1
    assert not [e for e in edge.events() if e.kind == "ip_assigned"]
