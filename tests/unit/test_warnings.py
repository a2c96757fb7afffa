"""Wrong settings are named: the cores emit one warning per cause and
minute naming cause and fix, the supernode tells edges joining, leaving and refused, and
`ctl peers` names the real cause. Sans-IO, with the simulated network."""

from __future__ import annotations

from typing import Any

from pyn2n.core.community import parse_community_file
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.drops import BENIGN_DROPS, EDGE_DROPS, SUPERNODE_DROPS
from pyn2n.core.events import OperatorNotice, OperatorWarning, RateLimit
from pyn2n.core.supernode import Supernode
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.wire import Common, RegisterSuper, UnregisterSuper, encode
from pyn2n.wire.types import Auth, IpSubnet, mac_to_str
from tests.simnet import (
    BCAST,
    MY_MAC,
    SIM_COMMUNITY,
    SimNet,
    add_edge,
    drain,
    edge_of,
    make_edge,
    n2n_supernode,
    nak,
    of_type,
    register_all,
    registered_edge,
    run_until,
    sim_ip,
    sim_mac,
)


def warnings(events: list[Any]) -> list[str]:
    return [e.text for e in events if isinstance(e, OperatorWarning)]


def test_rate_limit_once_per_cause_per_period_and_bounded() -> None:
    rl = RateLimit(period=60, bound=2)
    assert rl.due("a", 0) and not rl.due("a", 59) and rl.due("a", 60)
    assert rl.due("b", 61) and rl.due("c", 62)  # "a" is forgotten: the bound
    assert rl.due("a", 63)


# -- the edge -------------------------------------------------------------------------------------


def test_no_supernode_answering_is_a_warning_after_10_s_once_a_minute() -> None:
    edge, clock = make_edge()
    run_until(edge, clock, clock() + 9, answer=False)
    assert not warnings(edge.events())
    run_until(edge, clock, clock() + 3, answer=False)
    (text,) = warnings(edge.events())
    assert text.startswith("no answer from any supernode for 1")
    assert "is 198.18.0.1:7654 reachable over UDP?" in text
    assert "'edgetest'" in text  # a supernode is silent for communities it does not serve
    run_until(edge, clock, clock() + 45, answer=False)
    assert not warnings(edge.events())  # rate-limited
    run_until(edge, clock, clock() + 20, answer=False)
    assert len(warnings(edge.events())) == 1


def test_auto_ip_edge_without_answer_warns_too() -> None:
    edge, clock = make_edge(ip=None)
    run_until(edge, clock, clock() + 12, answer=False)
    assert len(warnings(edge.events())) == 1


def test_an_answering_supernode_means_no_warning() -> None:
    edge, clock = registered_edge()
    run_until(edge, clock, clock() + 120)
    assert not warnings(edge.events())


def test_wrong_password_nak_names_the_user_and_the_fix() -> None:
    edge, clock = make_edge(
        password="wrong", username="alice", header_encryption=True, transform=4, key="k"
    )
    edge.handle_timer(clock())
    sent = edge.datagrams_to_send()
    assert sent
    # the NAK needs the static-key header: have the edge's own crypto seal it
    reg_cookie = edge.sns.current.last_cookie
    reg = RegisterSuper(reg_cookie, MY_MAC, None, IpSubnet(0, 0), b"", Auth())
    assert edge.st.secure is not None
    edge.receive_datagram(edge.st.secure.seal(nak(reg)), edge.sns.current.addr, clock())
    events = edge.events()
    (text,) = warnings(events)
    assert "refused user 'alice'" in text and "wrong -J password" in text
    assert "-I alice is not in its community file" in text
    assert [e.kind for e in events if e.kind == "register_super_nak"]


def test_address_in_use_nak_names_mac_and_address() -> None:
    edge, clock = make_edge()
    edge.handle_timer(clock())
    (reg, addr), *_ = of_type(drain(edge), RegisterSuper)
    edge.receive_datagram(nak(reg), addr, clock())
    (text,) = warnings(edge.events())
    assert "supernode 198.18.0.1:7654 refused us in community 'edgetest'" in text
    assert "02:EE:00:00:00:01" in text and "198.19.0.1" in text and "change -a or -m" in text
    # the next NAK within the minute: counted, not told again
    clock.advance(2)
    edge.handle_timer(clock())
    (reg, addr), *_ = of_type(drain(edge), RegisterSuper)
    edge.receive_datagram(nak(reg), addr, clock())
    assert not warnings(edge.events())


def _two_edges(opts1: dict[str, Any], opts2: dict[str, Any]) -> SimNet:
    net = SimNet(seed=5)
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host")
    add_edge(net, 1, None, ["sn"], **opts1)
    add_edge(net, 2, None, ["sn"], **opts2)
    register_all(net, ["e1", "e2"])
    return net


def _arp_storm(net: SimNet, src: str, n: int = 12) -> None:
    """ARP requests (broadcast) from edge `src`'s TAP, as a ping to a new neighbour starts."""
    from tests.simnet import arp_request

    i = int(src[1:])
    for _ in range(n):
        net.send_frame(src, arp_request(sim_mac(i), sim_ip(i), sim_ip(3 - i)))
        net.run_for(0.5)


def test_wrong_key_on_one_edge_is_named_on_the_other_and_in_peers() -> None:
    net = _two_edges({"key": "right", "transform": 4}, {"key": "wrong", "transform": 4})
    _arp_storm(net, "e2")
    e1 = edge_of(net, "e1")
    texts = [e.data()["text"] for e in net.events("e1", "warning")]
    assert texts == [
        f"peer {mac_to_str(sim_mac(2))}: its packets do not decrypt with our key"
        " — check -k and -A on both edges"
    ]  # once, although several ARPs failed
    assert e1.drops["transform"] >= 3
    rows = {r["macaddr"]: r for r in EdgeViews(e1).mgmt_peers(net.now)}
    assert "keys differ" in rows[mac_to_str(sim_mac(2))]["reason"]
    # a minute later it is told again
    net.run_for(61)
    _arp_storm(net, "e2", 4)
    assert len(net.events("e1", "warning")) == 2


def test_another_cipher_names_both() -> None:
    net = _two_edges({"key": "k", "transform": 4}, {"key": "k", "transform": 5})
    _arp_storm(net, "e2", 2)
    (warning,) = net.events("e1", "warning")
    assert warning.data()["text"] == (
        f"peer {mac_to_str(sim_mac(2))}: it encrypts with Speck (-A5), we use ChaCha20 (-A4)"
        " — use the same -A on both edges"
    )
    rows = EdgeViews(edge_of(net, "e1")).mgmt_peers(net.now)
    assert any("ciphers differ" in r["reason"] for r in rows)


def test_the_same_key_means_no_warning_and_broadcasts_arrive() -> None:
    net = _two_edges({"key": "k", "transform": 4}, {"key": "k", "transform": 4})
    _arp_storm(net, "e2", 3)
    assert not net.events("e1", "warning")
    assert len(net.frames_received("e1")) >= 3
    assert edge_of(net, "e1").drops["transform"] == 0


# -- the supernode ----------------------------------------------------------------------------------

T0 = 1000.0
E1 = ("198.18.1.1", 40001)
E2 = ("198.18.1.2", 40002)
MAC1 = bytes.fromhex("0200000000a1")


def _reg(mac: bytes, community: bytes = b"net", token: int = 1, ip: int = 0x0A0000A1) -> bytes:
    auth = Auth(1, bytes([token]) * 16)
    msg = RegisterSuper(7, mac, None, IpSubnet(ip, 24), b"laptop", auth)
    return encode(Common(0, 2, 0, community), msg)


def _sn(**kw: Any) -> Supernode:
    return Supernode(SupernodeConfig(**kw), lambda n: bytes(n), T0)


def test_supernode_tells_a_community_not_in_its_file() -> None:
    sn = _sn(communities=parse_community_file("net\n"))
    for t in range(5):
        sn.receive_datagram(_reg(MAC1, b"other"), E2, T0 + t)
    (w,) = [e for e in sn.events() if isinstance(e, OperatorWarning)]
    assert w.code == "community_not_allowed"
    assert w.text == "edge 198.18.1.2:40002 asked for community 'other': not in the community file"
    assert sn.drops["community_not_allowed"] == 5


def test_supernode_tells_joining_leaving_and_refused_edges() -> None:
    sn = _sn()
    sn.receive_datagram(_reg(MAC1), E1, T0)
    (joined,) = [e for e in sn.events() if isinstance(e, OperatorNotice)]
    assert joined.text == (
        "edge 02:00:00:00:00:A1 'laptop' 10.0.0.161/24 at 198.18.1.1:40001 joined community 'net'"
    )
    sn.receive_datagram(_reg(MAC1), E1, T0 + 5)  # a refresh: nothing to tell
    assert not [e for e in sn.events() if isinstance(e, OperatorNotice)]
    # another token for the same MAC: refused, told once a minute per socket
    for t in range(3):
        sn.receive_datagram(_reg(MAC1, token=9), E2, T0 + 6 + t)
    (refused,) = [e for e in sn.events() if isinstance(e, OperatorWarning)]
    assert refused.text.startswith(
        "refused edge 02:00:00:00:00:A1 from 198.18.1.2:40002 in community 'net': its MAC is"
        " registered by another edge 02:00:00:00:00:A1 'laptop'"
    )
    unreg = encode(Common(0, 2, 0, b"net"), UnregisterSuper(Auth(1, bytes([1]) * 16), MAC1))
    sn.receive_datagram(unreg, E1, T0 + 10)
    (left,) = [e for e in sn.events() if isinstance(e, OperatorNotice)]
    assert left.code == "edge_left" and left.text.endswith("left community 'net': UNREGISTER_SUPER")
    sn.receive_datagram(_reg(MAC1), E1, T0 + 11)
    sn.events()
    sn.handle_timer(T0 + 100)
    (purged,) = [e for e in sn.events() if isinstance(e, OperatorNotice)]
    assert "no REGISTER_SUPER for 60 s (purged)" in purged.text


def test_supernode_refuses_a_user_it_does_not_know() -> None:
    sn = _sn()
    comm = sn.registry.new_community(b"net")
    assert comm is not None
    sn.receive_datagram(_reg(MAC1), E1, T0)  # no users: fine
    sn.events()
    comm.users[b"x" * 32] = None  # type: ignore[assignment]  # now it wants user/password
    sn.receive_datagram(_reg(bytes.fromhex("0200000000a2"), ip=0x0A0000A2), E2, T0 + 1)
    (w,) = [e for e in sn.events() if isinstance(e, OperatorWarning)]
    assert "needs a user and password (-I/-J)" in w.text


# -- drops that are normal ------------------------------------------------------------------------


def test_benign_drops_say_normal_and_problems_do_not() -> None:
    assert {"fast_glare", "register_ack_unknown", "fast_unknown_peer"} <= BENIGN_DROPS
    for table in (EDGE_DROPS, SUPERNODE_DROPS):
        for reason, meaning in table.items():
            assert meaning.startswith("normal") == (reason in BENIGN_DROPS), reason
    assert not {"transform", "transform_id", "auth", "fast_auth"} & BENIGN_DROPS


def test_management_drops_rows_say_benign() -> None:
    from pyn2n.mgmt.protocol import Control, Management

    edge, _ = registered_edge()
    edge.drops["fast_glare"] += 1
    edge.drops["transform"] += 1
    mgmt = Management(EdgeViews(edge), role="edge", password="p", control=Control())
    rows = {r["reason"]: r for r in mgmt._call("drops", False, None, 0.0)}  # type: ignore[attr-defined]
    assert rows["fast_glare"]["benign"] is True and rows["fast_glare"]["meaning"].startswith(
        "normal"
    )
    assert rows["transform"]["benign"] is False


_ = (BCAST, SIM_COMMUNITY)


def test_supernode_names_a_missing_h_and_an_unknown_encrypted_community() -> None:
    from pyn2n.core.secure import HeaderCrypto
    from pyn2n.crypto.timestamp import TimeStamper

    stamper = TimeStamper()
    sn = _sn(communities=parse_community_file("net\n"))
    comm = sn.registry.communities[b"net"]
    # an -H edge locks the community to encrypted headers
    crypto = HeaderCrypto(b"net")
    sn.receive_datagram(crypto.seal(_reg(MAC1), stamper(T0), b"1234"), E1, T0)
    assert comm.he.name == "ENCRYPTED", sn.drops
    sn.events()
    sn.receive_datagram(_reg(bytes.fromhex("0200000000a2")), E2, T0 + 1)  # no -H
    (w,) = [e for e in sn.events() if isinstance(e, OperatorWarning)]
    assert w.code == "he_plaintext" and w.text == (
        "198.18.1.2:40002 sent a plaintext header for community 'net', whose headers are"
        " encrypted: start that edge with -H"
    )
    other = HeaderCrypto(b"other")
    for t in range(3):
        sealed = other.seal(_reg(MAC1, b"other"), stamper(T0 + 2 + t), b"1234")
        sn.receive_datagram(sealed, E2, T0 + 2 + t)
    (w,) = [e for e in sn.events() if isinstance(e, OperatorWarning)]
    assert w.code == "he_no_key" and "needs its community in the community file" in w.text
