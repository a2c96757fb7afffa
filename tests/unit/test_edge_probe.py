"""The edge's liveness probe of its supernode: PINGs after a quiet spell, a silent supernode
given up within seconds (not at the next registration), and what it costs at idle."""

from __future__ import annotations

from pyn2n.core.edge.registration import PROBE_IDLE, PROBE_SPACING, PROBE_TRIES
from pyn2n.core.selection import CRITERION_BAD
from pyn2n.wire import QueryPeer, RegisterSuper
from tests.simnet import (
    SN1,
    SN2,
    SN_MACS,
    Clock,
    drain,
    from_sn,
    of_type,
    pong,
    registered_edge,
    run_until,
    super_ack,
)

DETECT = PROBE_IDLE + PROBE_TRIES * PROBE_SPACING  # the longest a silent supernode stays current


def step(edge, clock: Clock, until: float, alive: set[tuple[str, int]]) -> list:  # type: ignore[no-untyped-def]
    """Run the edge's timers to `until`; the supernodes in `alive` answer REGISTER_SUPER and
    PING, the others say nothing. Returns (time, message, address) of everything sent."""
    log = []
    while (t := edge.get_timer()) is not None and t <= until:
        edge.handle_timer(clock.advance(max(0.0, t - clock())))
        sent = drain(edge)
        log += [(clock(), m, a) for _, m, a in sent]
        for reg, addr in of_type(sent, RegisterSuper):
            if addr in alive:
                edge.receive_datagram(from_sn(super_ack(reg, SN_MACS[addr])), addr, clock())
        for q, addr in of_type(sent, QueryPeer):
            if addr in alive and q.target_mac == bytes(6):
                edge.receive_datagram(pong(sn_mac=SN_MACS[addr]), addr, clock())
        log += [(clock(), m, a) for _, m, a in drain(edge)]
    clock.advance(until - clock())
    return log


def test_idle_costs_one_ping_per_quiet_spell_and_nothing_moves() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2])
    run_until(edge, clock, clock() + 40)  # past the first PING rounds
    current = edge.sns.current.addr
    before = edge.reg.probe_pings
    step(edge, clock, clock() + 60, {SN1, SN2})
    # at most one PING per PROBE_IDLE without another answer (the ACK every 20 s and the
    # sweep's PONGs every 30 s count): about 0.4 a second
    probes = edge.reg.probe_pings - before
    assert 60 / (PROBE_IDLE + 1) < probes <= 60 / PROBE_IDLE
    assert edge.sns.current.addr == current
    assert not [e for e in edge.events() if e.kind == "supernode_changed"]


def test_a_silent_supernode_is_left_within_seconds() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2])
    run_until(edge, clock, clock() + 33)
    current = edge.sns.current.addr
    standby = SN2 if current == SN1 else SN1
    edge.events()
    t0 = clock()  # the current supernode goes silent now
    log = step(edge, clock, t0 + 10, {standby})
    regs = [(t, a) for t, m, a in log if isinstance(m, RegisterSuper)]
    first_standby = min(t for t, a in regs if a == standby)
    assert first_standby - t0 <= DETECT + 1e-6  # at most 4 s, not up to 26 s
    # the probe found it (PINGs, maybe with a sweep's among them), not the registration's tries
    pings = [t for t, m, a in log if isinstance(m, QueryPeer) and a == current]
    assert len(pings) >= PROBE_TRIES and max(pings) < first_standby
    assert not [t for t, a in regs if a == current]
    assert edge.sns.current.addr == standby
    assert edge.sns.find_by_addr(current).criterion == CRITERION_BAD
    changed = [e.data() for e in edge.events() if e.kind == "supernode_changed"]
    assert changed and changed[0]["reason"] == "unresponsive"
    assert edge.reg.sn_wait == 0  # registered at the standby
    # and it stays there quietly: the probe now watches the standby
    later = step(edge, clock, clock() + 30, {standby})
    assert all(a == standby for t, m, a in later if isinstance(m, RegisterSuper))


def test_one_answer_among_the_pings_is_enough() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2])
    run_until(edge, clock, clock() + 33)
    current = edge.sns.current.addr
    # silent until the probe's second PING, then a PONG: nothing moves
    while edge.reg.probes < 2:
        step(edge, clock, edge.get_timer() or clock(), set())
    edge.receive_datagram(pong(sn_mac=SN_MACS[current]), current, clock())
    assert edge.reg.probes == 0
    step(edge, clock, clock() + 10, {SN1, SN2})
    assert edge.sns.current.addr == current
    assert not [e for e in edge.events() if e.kind == "supernode_changed"]


def test_no_probe_with_a_single_supernode() -> None:
    edge, clock = registered_edge(supernodes=[SN1])
    log = step(edge, clock, clock() + 60, {SN1})
    assert edge.reg.probe_pings == 0 and edge.reg.next_probe == float("inf")
    assert len([m for t, m, a in log if isinstance(m, RegisterSuper)]) == 3  # every 20 s


def test_the_idle_time_is_configurable() -> None:
    idle = 10.0  # --sn-probe 10
    edge, clock = registered_edge(supernodes=[SN1, SN2], sn_probe=idle)
    run_until(edge, clock, clock() + 40)
    before = edge.reg.probe_pings
    step(edge, clock, clock() + 120, {SN1, SN2})
    # at most one PING per 10 s without another answer; the ACK every 20 s (and the sweep's
    # PONGs every 30 s) restart the wait, so about one per 20 s (the default makes ~40 here)
    probes = edge.reg.probe_pings - before
    assert 120 / (2 * idle) - 1 <= probes <= 120 / idle
    # and a silent supernode is left within the longer idle time plus the tries
    current = edge.sns.current.addr
    standby = SN2 if current == SN1 else SN1
    t0 = clock()
    log = step(edge, clock, t0 + 20, {standby})
    first_standby = min(t for t, m, a in log if isinstance(m, RegisterSuper) and a == standby)
    assert first_standby - t0 <= idle + PROBE_TRIES * PROBE_SPACING + 1e-6
    assert edge.sns.current.addr == standby


def test_zero_turns_the_probe_off() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2], sn_probe=0)
    run_until(edge, clock, clock() + 40)
    assert edge.reg.next_probe == float("inf")
    current = edge.sns.current.addr
    standby = SN2 if current == SN1 else SN1
    t0 = clock()
    log = step(edge, clock, t0 + 60, {standby})
    assert edge.reg.probe_pings == 0
    # without the probe a silent supernode is left by the registration's tries, as in n2n
    regs = [(t, a) for t, m, a in log if isinstance(m, RegisterSuper)]
    first_standby = min(t for t, a in regs if a == standby)
    assert first_standby - t0 > DETECT
    assert edge.sns.current.addr == standby
