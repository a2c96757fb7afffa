"""Scenarios: real pyn2n edges and supernodes in the simulated network (tests/simnet.py).

Registration, hole punching through each NAT type, relay, broadcast/multicast fan-out, a dead
supernode, federation fail-over and purge timings — all on the fake clock. Spec sections refer to
docs/n2n-v3-wire.md.
"""

from __future__ import annotations

import ipaddress

import pytest

from pyn2n.constants import (
    N2N_COMPRESSION_ID_LZO,
    N2N_COMPRESSION_ID_NONE,
    N2N_COMPRESSION_ID_ZSTD,
    N2N_EDGE_SUP_ATTEMPTS,
    PEER_PURGE_TIMEOUT,
    PURGE_REGISTRATION_FREQ,
    REGISTER_SUPER_INTERVAL_DFL,
    REGISTRATION_TIMEOUT,
    SWEEP_TIME,
)
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import MSG_TYPE_PACKET, MSG_TYPE_REGISTER_SUPER, mac_to_str
from tests.simnet import (
    SIM_COMMUNITY,
    NatType,
    SimNet,
    add_edge,
    arp_request,
    broadcast_udp_frame,
    copies,
    edge_frame,
    edge_of,
    ipv4_multicast_frame,
    ipv6_multicast_frame,
    n2n_edge,
    n2n_supernode,
    ping_pong,
    register_all,
    registered,
    sim_ip,
    sim_mac,
    star_net,
)

COMMUNITY = SIM_COMMUNITY
FULL = NatType.FULL_CONE
ADDR = NatType.ADDRESS_RESTRICTED
PORT = NatType.PORT_RESTRICTED
SYM = NatType.SYMMETRIC


# -- registration ------------------------------------------------------------------------------


def test_edges_behind_every_nat_type_register_with_one_supernode() -> None:
    net, names = star_net([None, FULL, ADDR, PORT, SYM])
    net.add_host("h_auto")
    n2n_edge(net, "auto", "h_auto", supernodes=["sn"], community=COMMUNITY)  # auto-IP (§7.1)
    register_all(net, [*names, "auto"])
    sn_rows = {r["macaddr"]: r for r in SupernodeViews(net.node("sn")).mgmt_edges(net.now)}
    for n in names:
        e = edge_of(net, n)
        public = net.public_addr(n, net.addr("sn"))
        assert public is not None
        # the ACK tells the edge its public socket (§4), and the supernode stores the same one
        assert e.reg.public_sock == public
        assert sn_rows[mac_to_str(e.mac)]["sockaddr"] == f"{public[0]}:{public[1]}"
        assert sn_rows[mac_to_str(e.mac)]["ip4addr"] == f"{e.ip}/24"
        assert [ev.data()["first"] for ev in net.events(n, "registered")] == [True]
    auto = edge_of(net, "auto")
    (assigned,) = net.events("auto", "ip_assigned")
    subnet = next(
        r["ip4addr"]
        for r in SupernodeViews(net.node("sn")).mgmt_communities(net.now)
        if r["community"] == COMMUNITY
    )
    assert auto.ip == assigned.data()["ip4addr"]
    assert ipaddress.IPv4Address(auto.ip) in ipaddress.IPv4Network(subnet)
    assert mac_to_str(auto.mac) in sn_rows
    # re-registration every 20 s keeps everybody listed past the 60 s purge (§7.2)
    net.run_for(REGISTRATION_TIMEOUT + 2 * PURGE_REGISTRATION_FREQ)
    assert len(SupernodeViews(net.node("sn")).mgmt_edges(net.now)) == len(names) + 1
    assert all(edge_of(net, n).sn_wait == 0 for n in names)
    assert net.log.count(src="e5", pc=MSG_TYPE_REGISTER_SUPER, fate="delivered") >= 6


# -- NAT traversal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kinds",
    [(FULL, FULL), (FULL, PORT), (ADDR, PORT), (PORT, PORT), (None, PORT), (SYM, FULL)],
    ids=lambda k: "-".join("public" if x is None else x.value for x in k),
)
def test_direct_path_after_hole_punching(kinds: tuple[NatType | None, NatType | None]) -> None:
    net, (a, b) = star_net(list(kinds))
    register_all(net, [a, b])
    hops = ping_pong(net, a, b, rounds=6)
    # once punched, every PACKET goes edge to edge (§7.4) ...
    assert hops[-6:] == [b, a] * 3, hops
    t = net.now
    ping_pong(net, a, b, rounds=5)
    # ... and the supernode relays none of them
    assert net.log.count(src="sn", pc=MSG_TYPE_PACKET, since=t) == 0
    assert net.log.count(src=a, dst=b, pc=MSG_TYPE_PACKET, since=t, fate="delivered") == 5
    for x, y in ((a, b), (b, a)):
        (row,) = EdgeViews(edge_of(net, x)).mgmt_peers(net.now)
        assert (row["macaddr"], row["path"]) == (mac_to_str(edge_of(net, y).mac), "direct")


@pytest.mark.parametrize("kinds", [(SYM, SYM), (SYM, PORT)], ids=["sym-sym", "sym-port"])
def test_relay_when_no_hole_can_be_punched(kinds: tuple[NatType, NatType]) -> None:
    net, (a, b) = star_net(list(kinds))
    register_all(net, [a, b])
    hops = ping_pong(net, a, b, rounds=40, period=2.0)  # 80 s: several query/punch rounds
    assert set(hops) == {"sn"}
    # punching was tried (REGISTERs to the peer's public socket) but the NATs filtered it
    tried = net.log.select(src=a, dst=b) + net.log.select(src=b, dst=a)
    assert tried and {r.fate for r in tried} == {"nat_filtered"}
    assert net.log.count(src="sn", dst=b, pc=MSG_TYPE_PACKET, fate="delivered") >= 40
    for x in (a, b):
        assert [r["path"] for r in EdgeViews(edge_of(net, x)).mgmt_peers(net.now)] == ["relayed"]


def test_no_p2p_relays_everything() -> None:
    net, (a, b) = star_net([FULL, FULL], no_p2p=True)  # -S1
    register_all(net, [a, b])
    assert set(ping_pong(net, a, b, rounds=10)) == {"sn"}
    # not even a REGISTER went edge to edge
    assert net.log.count(src=a, dst=b) == net.log.count(src=b, dst=a) == 0


@pytest.mark.parametrize(
    "compression",
    [N2N_COMPRESSION_ID_NONE, N2N_COMPRESSION_ID_LZO, N2N_COMPRESSION_ID_ZSTD],
    ids=["none", "lzo", "zstd"],
)
def test_payload_stays_encrypted_end_to_end(compression: int) -> None:
    net, names = star_net([FULL, PORT, SYM], key="a shared secret", compression=compression)
    register_all(net, names)
    secret = b"attack at dawn " * 20  # compressible, and easy to spot
    for a, b in (("e1", "e2"), ("e2", "e3"), ("e3", "e1")):
        for i in range(4):
            frame = edge_frame(edge_of(net, a), edge_of(net, b), secret + bytes([i]))
            net.send_frame(a, frame)
            net.run_for(0.5)
            assert copies(net, b, frame) == 1
    assert not any(secret[:15] in r.data for r in net.log)
    # both the direct and the relayed ways were used
    direct = net.log.select(src="e1", dst="e2", pc=MSG_TYPE_PACKET, fate="delivered")
    assert direct and net.log.count(src="sn", dst="e3", pc=MSG_TYPE_PACKET, fate="delivered")
    # compression (before encryption, §5) shrinks these frames
    shrunk = max(len(r.data) for r in direct) < len(secret)
    assert shrunk == (compression != N2N_COMPRESSION_ID_NONE)


def test_keepalive_and_nat_rebinding() -> None:
    net = SimNet(seed=7)
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host")
    net.add_nat("nat1", PORT, timeout=30.0)  # a stingy NAT: 30 s without outbound traffic
    net.add_host("h1", nat="nat1")
    n2n_edge(net, "e1", "h1", supernodes=["sn"], community=COMMUNITY, ip=sim_ip(1), mac=sim_mac(1))
    add_edge(net, 2, SYM, ["sn"])  # symmetric: everything between them is relayed
    register_all(net, ["e1", "e2"])
    first_public = net.public_addr("e1", net.addr("sn"))
    # REGISTER_SUPER every 20 s keeps the binding open through 100 s of silence
    net.run_for(100)
    assert set(ping_pong(net, "e2", "e1", rounds=2)) == {"sn"}
    assert net.public_addr("e1", net.addr("sn")) == first_public
    # the NAT reboots: e1's next REGISTER_SUPER comes from a new public port and, with the
    # right token, moves the registration there (§7.2); relayed traffic follows
    net.nats["nat1"].flush()
    assert net.wait_for(
        lambda: edge_of(net, "e1").reg.public_sock not in (None, first_public),
        REGISTER_SUPER_INTERVAL_DFL + 1,
    )
    new_public = net.public_addr("e1", net.addr("sn"))
    assert new_public not in (None, first_public)
    assert edge_of(net, "e1").reg.public_sock == new_public
    row = next(
        r
        for r in SupernodeViews(net.node("sn")).mgmt_edges(net.now)
        if r["macaddr"] == mac_to_str(sim_mac(1))
    )
    assert row["sockaddr"] == f"{new_public[0]}:{new_public[1]}"
    assert set(ping_pong(net, "e2", "e1", rounds=3)) == {"sn"}


# -- broadcast and multicast (§7.5) ------------------------------------------------------------


def _group_frames(net: SimNet, name: str, i: int) -> list[bytes]:
    e = edge_of(net, name)
    assert e.ip is not None
    tag = f"from {name} at {net.now}".encode()
    return [
        arp_request(e.mac, e.ip, "198.19.0.254"),
        broadcast_udp_frame(e.mac, e.ip, 5000, tag),
        ipv4_multicast_frame(e.mac, e.ip, "239.1.2.3", 5000, tag),
        ipv6_multicast_frame(e.mac, f"fd00::{i}", "ff02::1:3", 5355, tag),
    ]


@pytest.mark.parametrize("after_punching", [False, True], ids=["fresh", "after-punching"])
def test_broadcast_and_multicast_reach_every_other_edge_exactly_once(after_punching: bool) -> None:
    net, names = star_net([None, FULL, PORT, SYM])
    register_all(net, names)
    if after_punching:
        ping_pong(net, names[0], names[1], rounds=4)
        ping_pong(net, names[1], names[2], rounds=4)
    t0 = net.now
    sent = {n: _group_frames(net, n, i) for i, n in enumerate(names, 1)}
    for n, frames in sent.items():
        for f in frames:
            net.send_frame(n, f)
    net.run_for(2)
    for receiver in names:
        got = net.frames_received(receiver, since=t0)
        for sender, frames in sent.items():
            for f in frames:
                assert got.count(f) == (0 if sender == receiver else 1), (sender, receiver, f[:6])


def test_drop_multicast_still_carries_broadcast() -> None:
    net, names = star_net([None, None, None], drop_multicast=True)
    register_all(net, names)
    t0 = net.now
    arp, bcast, mcast4, mcast6 = _group_frames(net, "e1", 1)
    for f in (arp, bcast, mcast4, mcast6):
        net.send_frame("e1", f)
    net.run_for(2)
    for n in ("e2", "e3"):
        got = net.frames_received(n, since=t0)
        assert (got.count(arp), got.count(bcast), got.count(mcast4), got.count(mcast6)) == (
            1,
            1,
            0,
            0,
        )
    assert edge_of(net, "e1").drops["tap_multicast"] == 2


# -- a dead supernode ----------------------------------------------------------------------------


def test_direct_traffic_survives_the_supernode() -> None:
    net, (a, b) = star_net([PORT, FULL])
    register_all(net, [a, b])
    assert ping_pong(net, a, b, rounds=6)[-2:] == [b, a]
    net.kill("sn")
    # 150 s: past the peers' 60 s purge and every re-registration timer (§7.4: known peers are
    # kept while no supernode answers)
    hops = ping_pong(net, a, b, rounds=75, period=2.0)
    assert set(hops) == {a, b}
    assert all(edge_of(net, n).sn_wait for n in (a, b))
    # broadcasts now go straight to the known peers (§7.5)
    f = broadcast_udp_frame(edge_of(net, a).mac, sim_ip(1), 5000, b"anyone?")
    net.send_frame(a, f)
    net.run_for(1)
    assert copies(net, b, f) == 1


@pytest.mark.parametrize("idle", [15.0, 40.0])
def test_idle_direct_path_survives_the_supernode(idle: float) -> None:
    net, (a, b) = star_net([PORT, FULL])
    register_all(net, [a, b])
    assert ping_pong(net, a, b, rounds=6)[-2:] == [b, a]
    net.kill("sn")
    net.run_for(idle)  # a quiet spell: the path is stale, the edges may not know the sn is dead
    # the first frame may go to the dead supernode; the REGISTER probe it triggers on the old
    # direct socket brings the path back at once (n2n would lose the peer for good)
    net.send_frame(a, edge_frame(edge_of(net, a), edge_of(net, b), b"wake up"))
    net.run_for(1.0)
    assert set(ping_pong(net, a, b, rounds=10)) == {a, b}


def _federation(kinds: list[NatType | None]) -> tuple[SimNet, list[str]]:
    """Supernodes sn1 (MAC ...:01, preferred by --select-mac) and sn2 anchored to each other;
    edges know only sn1 and learn sn2 from its REGISTER_SUPER_ACKs (§4, §7.6)."""
    net = SimNet(seed=2)
    net.add_host("sn1_host")
    net.add_host("sn2_host")
    sn2_addr = (net.hosts["sn2_host"].ip, 7654)
    sn1_addr = (net.hosts["sn1_host"].ip, 7654)
    n2n_supernode(net, "sn1", "sn1_host", mac=bytes.fromhex("020000000a01"), anchors=[sn2_addr])
    n2n_supernode(net, "sn2", "sn2_host", mac=bytes.fromhex("020000000a02"), anchors=[sn1_addr])
    names = [add_edge(net, i, k, ["sn1"], selection="mac") for i, k in enumerate(kinds, 1)]
    return net, names


@pytest.mark.parametrize("kill_offset", [0.1, 7.3, 19.9])
def test_failover_to_the_federated_supernode(kill_offset: float) -> None:
    net, names = _federation([PORT, FULL, None])
    sn2_addr = net.addr("sn2")
    register_all(net, names)
    # wait until every edge has heard of sn2 and sn2 knows where the edges are
    assert net.wait_for(
        lambda: all(edge_of(net, n).sns.find_by_addr(sn2_addr) is not None for n in names), 60
    )
    ping_pong(net, "e1", "e2", rounds=4)
    assert all(edge_of(net, n).sns.current.addr == net.addr("sn1") for n in names)
    # the kill lands early, midway or late in e1's 20 s registration cycle (with e1 and e2
    # talking all along)
    last = edge_of(net, "e1").last_sup
    while edge_of(net, "e1").last_sup == last:
        ping_pong(net, "e1", "e2", rounds=1)
    kill_at = (edge_of(net, "e1").last_sup or 0) + kill_offset
    while net.now + 1 <= kill_at:
        ping_pong(net, "e1", "e2", rounds=1)
    net.run_until(max(net.now, kill_at))
    t_kill = net.now
    net.kill("sn1")
    # n2n's timing (§7.2): the loss shows at the next REGISTER_SUPER (<= one interval), three
    # unanswered attempts 2 s apart, then the switch; a sweep (30 s) may re-sort on top.
    bound = (
        REGISTER_SUPER_INTERVAL_DFL
        + N2N_EDGE_SUP_ATTEMPTS * REGISTER_SUPER_INTERVAL_DFL / 10
        + SWEEP_TIME
        + 1.0  # round trips
    )
    moved: dict[str, float] = {}
    hops: list[str | None] = []
    while net.now - t_kill < bound + 5 and len(moved) < len(names):
        hops += ping_pong(net, "e1", "e2", rounds=1)  # direct traffic keeps flowing meanwhile
        for n in names:
            e = edge_of(net, n)
            if n not in moved and e.sns.current.addr == sn2_addr and not e.sn_wait:
                moved[n] = net.now
    assert set(moved) == set(names)
    assert max(moved.values()) - t_kill <= bound, moved
    assert set(hops) == {"e1", "e2"}
    for n in names:
        ev = [e.data() for e in net.events(n, "supernode_changed")]
        assert ev and ev[-1]["to"] == f"{sn2_addr[0]}:{sn2_addr[1]}"
        assert ev[-1]["reason"] == "unresponsive"
    sn2_macs = {
        r["macaddr"]
        for r in SupernodeViews(net.node("sn2")).mgmt_edges(net.now)
        if r["community"] == COMMUNITY
    }
    assert sn2_macs == {mac_to_str(edge_of(net, n).mac) for n in names}
    # a new edge that lists both supernodes joins through the standby
    add_edge(net, 4, PORT, ["sn1", "sn2"], selection="mac")
    assert net.wait_for(lambda: registered(net, ["e4"]), timeout=15)
    assert edge_of(net, "e4").sns.current.addr == sn2_addr
    ping_pong(net, "e4", "e1", rounds=3)
    f = broadcast_udp_frame(sim_mac(4), sim_ip(4), 5000, b"new here")
    net.send_frame("e4", f)
    net.run_for(1)
    assert [copies(net, n, f) for n in ("e1", "e2", "e3", "e4")] == [1, 1, 1, 0]


def test_two_federated_supernodes_share_a_community() -> None:
    """e1, e2 registered with sn1, e3, e4 with sn2 (each nearer by RTT): unicast is relayed
    SN→SN first, then punched; broadcasts cross the federation exactly once, also between
    edges that met directly (their direct copy and the federation's: §7.4–§7.6)."""
    net = SimNet(seed=8)
    net.add_host("sn1_host")
    net.add_host("sn2_host")
    addr1, addr2 = (net.hosts["sn1_host"].ip, 7654), (net.hosts["sn2_host"].ip, 7654)
    n2n_supernode(net, "sn1", "sn1_host", anchors=[addr2])
    n2n_supernode(net, "sn2", "sn2_host", anchors=[addr1])
    homes = {1: "sn1", 2: "sn1", 3: "sn2", 4: "sn2"}
    for i, kind in zip(homes, [FULL, PORT, PORT, None], strict=True):
        add_edge(net, i, kind, [homes[i]], selection="rtt")
        far = "sn2_host" if homes[i] == "sn1" else "sn1_host"
        net.set_link(f"h{i}", far, delay=0.08)
    names = [f"e{i}" for i in homes]
    register_all(net, names)
    net.run_for(2 * SWEEP_TIME + 5)  # learned each other's supernode, PINGed, stayed put
    for i, home in homes.items():
        assert edge_of(net, f"e{i}").sns.current.addr == net.addr(home)
        assert len(edge_of(net, f"e{i}").sns) == 2
    for a, b in (("e1", "e3"), ("e2", "e4")):
        hops = ping_pong(net, a, b, rounds=6)
        assert hops[0] == "sn1" and hops[-4:] == [b, a, b, a], hops
    net.run_for(3)  # the pairs that met know each other as pyn2n edges
    t0 = net.now
    sent = {n: _group_frames(net, n, i)[1:3] for i, n in enumerate(names, 1)}
    for n, frames in sent.items():
        for f in frames:
            net.send_frame(n, f)
    net.run_for(2)
    for receiver in names:
        got = net.frames_received(receiver, since=t0)
        for sender, frames in sent.items():
            assert [got.count(f) for f in frames] == [int(sender != receiver)] * 2


# -- purges ------------------------------------------------------------------------------------


def test_supernode_purges_a_silent_edge_on_time() -> None:
    net, (a, b, c) = star_net([None, PORT, FULL])
    register_all(net, [a, b, c])
    net.run_for(31)
    net.kill(b)
    t_last = max(r.t_arrived or 0 for r in net.log.select(src=b, dst="sn", fate="delivered"))

    def listed() -> bool:
        return mac_to_str(sim_mac(2)) in {
            r["macaddr"] for r in SupernodeViews(net.node("sn")).mgmt_edges(net.now)
        }

    net.run_until(t_last + REGISTRATION_TIMEOUT - 0.01)
    assert listed()
    assert net.wait_for(lambda: not listed(), timeout=PURGE_REGISTRATION_FREQ + 0.02)
    purged_at = net.now
    assert (
        t_last + REGISTRATION_TIMEOUT
        <= purged_at
        <= t_last + REGISTRATION_TIMEOUT + PURGE_REGISTRATION_FREQ
    )
    ((t_ev, ev),) = [(t, e) for t, e in net.event_log("sn", "peer") if e.data()["action"] == 1]
    assert t_ev == purged_at and ev.data()["macaddr"] == mac_to_str(sim_mac(2))
    # the others stay
    assert {r["macaddr"] for r in SupernodeViews(net.node("sn")).mgmt_edges(net.now)} == {
        mac_to_str(sim_mac(1)),
        mac_to_str(sim_mac(3)),
    }


def test_edge_purges_a_silent_peer_on_time() -> None:
    net, (a, b) = star_net([FULL, PORT])
    register_all(net, [a, b])
    ping_pong(net, a, b, rounds=4)
    assert sim_mac(2) in edge_of(net, a).peers.known
    net.kill(b)
    t_seen = edge_of(net, a).peers.known[sim_mac(2)].last_seen
    purge_deadline = t_seen + PEER_PURGE_TIMEOUT + PURGE_REGISTRATION_FREQ
    assert net.wait_for(
        lambda: sim_mac(2) not in edge_of(net, a).peers.known, purge_deadline - net.now + 0.01
    )
    assert net.now >= t_seen + PEER_PURGE_TIMEOUT
    purges = [(t, e) for t, e in net.event_log(a, "peer") if e.data()["action"] == 1]
    assert [(t, e.data()["macaddr"]) for t, e in purges] == [(net.now, mac_to_str(sim_mac(2)))]
    assert sim_mac(2) not in edge_of(net, a).peers.pending


def test_timers_always_move_on() -> None:
    """A node called at its deadline must name a later one (else a driver that calls
    handle_timer(deadline) spins): the simulator counts every such stall."""
    net, names = _federation([None, FULL, ADDR, PORT, SYM])
    net.add_host("h_auto")
    n2n_edge(net, "auto", "h_auto", supernodes=["sn1"], community=COMMUNITY)
    register_all(net, [*names, "auto"])
    for _ in range(10):
        ping_pong(net, "e2", "e4", rounds=5, period=6.0)
    net.kill("sn1")
    net.run_for(120)
    assert net.now > 250
    assert not net.timer_stalls
