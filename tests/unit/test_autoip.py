"""Auto-IP never hands out one address twice: the supernode reserves what
it offered for the asker (socket and desc), and an edge refused for its auto-IP address asks for
another. In the simulated network and against the supernode core alone."""

from __future__ import annotations

from pyn2n.constants import REGISTRATION_TIMEOUT
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.supernode import Supernode
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import Common, RegisterSuper, RegisterSuperAck, decode, encode
from pyn2n.wire.types import NULL_MAC, Auth, IpSubnet
from tests.simnet import (
    SIM_COMMUNITY,
    SimNet,
    edge_of,
    n2n_edge,
    n2n_supernode,
    ping_pong,
    register_all,
    sim_mac,
)

T0 = 1000.0
A1 = ("198.18.1.1", 40001)
A2 = ("198.18.1.2", 40002)


def _sn(**kw: object) -> Supernode:
    return Supernode(SupernodeConfig(**kw), lambda n: bytes(n), T0)  # type: ignore[arg-type]


def _ask(sn: Supernode, addr: tuple[str, int], now: float = T0, desc: bytes = b"clone") -> int:
    """An auto-IP request (null MAC, IP 0) from `addr`; the address answered."""
    reg = RegisterSuper(7, NULL_MAC, None, IpSubnet(0, 0), desc, Auth(1, bytes(16)))
    sn.receive_datagram(encode(Common(0, 2, 0, b"net"), reg), addr, now)
    (data, to), *_ = sn.datagrams_to_send()
    ack = decode(data)[1]
    assert to == addr and isinstance(ack, RegisterSuperAck)
    return ack.dev_addr.net_addr


def test_two_askers_with_one_desc_get_two_addresses_and_a_retry_gets_its_own() -> None:
    sn = _sn()
    first = _ask(sn, A1)
    second = _ask(sn, A2)
    assert first and second and first != second
    # a lost answer: the same asker asks again and gets the same address
    assert _ask(sn, A1, T0 + 2) == first
    assert _ask(sn, A2, T0 + 2) == second


def test_reservations_expire_and_are_bounded() -> None:
    sn = _sn(max_edges_per_community=3)
    first = _ask(sn, A1)
    comm = sn.registry.communities[b"net"]
    for port in range(5):
        _ask(sn, ("198.18.2.1", 50000 + port))
    assert len(comm.offers) == 3  # bounded: the oldest went first
    sn.handle_timer(T0 + REGISTRATION_TIMEOUT + 31)
    assert not comm.offers  # expired with the purge
    # nothing reserved any more: the first address is free again
    assert _ask(sn, A2, T0 + REGISTRATION_TIMEOUT + 40) == first


def _pair(net: SimNet) -> None:
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host")
    for i in (1, 2):
        net.add_host(f"h{i}")
        # no -a, the same description (cloned VMs), started at the same moment
        n2n_edge(net, f"e{i}", f"h{i}", supernodes=["sn"], community=SIM_COMMUNITY, desc="clone")


def test_two_clones_started_together_get_different_addresses_and_ping() -> None:
    net = SimNet(seed=3)
    _pair(net)
    register_all(net, ["e1", "e2"])
    e1, e2 = edge_of(net, "e1"), edge_of(net, "e2")
    assert e1.ip and e2.ip and e1.ip != e2.ip
    assert not net.events("e1", "register_super_nak") and not net.events("e2", "register_super_nak")
    ping_pong(net, "e1", "e2", rounds=3)
    rows = SupernodeViews(net.node("sn")).mgmt_edges(net.now)
    assert sorted(r["ip4addr"] for r in rows if r["community"] == SIM_COMMUNITY) == sorted(
        [f"{e1.ip}/24", f"{e2.ip}/24"]
    )


def test_an_edge_refused_for_its_auto_address_asks_for_another() -> None:
    net = SimNet(seed=4)
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host")
    net.add_host("h1")
    net.add_host("h2")
    auto = n2n_edge(net, "auto", "h1", supernodes=["sn"], community=SIM_COMMUNITY, desc="x")
    # a slow link: the registration with the auto-IP address arrives 0.5 s after the answer
    net.set_link("h1", "sn_host", delay=0.5)
    assert net.wait_for(lambda: auto.ip is not None, 5)
    taken = auto.ip
    # meanwhile an edge configured with that address by hand registers first
    n2n_edge(
        net, "static", "h2", supernodes=["sn"], community=SIM_COMMUNITY, ip=taken, mac=sim_mac(9)
    )
    register_all(net, ["static", "auto"], timeout=20)
    assert auto.ip != taken
    assigned = [e.data()["ip4addr"] for e in net.events("auto", "ip_assigned")]
    assert assigned[0] == taken and assigned[-1] == auto.ip
    (warning,) = net.events("auto", "warning")
    assert "asking for another address" in warning.data()["text"]
    net.set_link("h1", "sn_host", delay=0.01)
    ping_pong(net, "auto", "static", rounds=2)


def test_refused_for_its_mac_an_auto_ip_edge_retries_at_the_registration_pace() -> None:
    from pyn2n.wire import RegisterSuper as Reg
    from tests.simnet import SN_MAC1, drain, from_sn, make_edge, nak, of_type, super_ack

    edge, clock = make_edge(ip=None)
    address = IpSubnet(0x0A000005, 24)
    sent = 0
    end = clock() + 20
    while (t := edge.get_timer()) is not None and t <= end and sent < 200:
        edge.handle_timer(clock.advance(max(0.0, t - clock())))
        for _ in range(10):  # answer at once, as a supernode next door would
            regs = of_type(drain(edge), Reg)
            if not regs:
                break
            for reg, addr in regs:
                sent += 1
                answer = (
                    from_sn(super_ack(reg, SN_MAC1, dev=address))
                    if reg.edge_mac == NULL_MAC
                    else nak(reg, edge.mac)  # our MAC is taken: a new address cannot help
                )
                edge.receive_datagram(answer, addr, clock())
    assert 10 <= sent <= 25, sent  # one request and one registration per 2 s, not a storm
    assert edge.ip == "10.0.0.5"
    assert len([e for e in edge.events() if e.kind == "ip_assigned"]) == 1
