"""The supernode core in memory: registration, auto-IP, anti-spoofing, relay, broadcast,
purge, PING/QUERY_PEER, management rows (spec §7.2, §7.4, §7.5, §8).

Datagrams are crafted with pyn2n.wire; time is a fake clock starting at a realistic epoch value
(the supernode's wall clock defaults to `now`), randomness a seeded generator.
"""

from __future__ import annotations

import json
import random

import pytest

from pyn2n.constants import (
    N2N_AUTH_SIMPLE_ID,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_SOCKET,
    REG_LIFETIME,
)
from pyn2n.core.community import assign_host, assign_subnet, parse_community_file
from pyn2n.core.config import ConfigError, SupernodeConfig
from pyn2n.core.supernode import Supernode
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import (
    Common,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    UnregisterSuper,
    decode,
    encode,
    encode_packet,
    pad_community,
)
from pyn2n.wire.types import NULL_MAC, Auth, IpSubnet, Sock

T0 = 1_700_000_000.0
SN_ADDR = ("198.18.0.1", 7654)
E1 = ("198.18.1.1", 40001)
E2 = ("198.18.1.2", 40002)
E3 = ("198.18.1.3", 40003)
MAC1 = bytes.fromhex("0200000000a1")
MAC2 = bytes.fromhex("0200000000a2")
MAC3 = bytes.fromhex("0200000000a3")
BCAST = b"\xff" * 6


def seeded(seed: int = 1):
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def make_sn(now: float = T0, **kw) -> Supernode:
    return Supernode(SupernodeConfig(**kw), seeded(), now)


def token(n: int) -> Auth:
    return Auth(N2N_AUTH_SIMPLE_ID, bytes([n]) * 16)


def reg_super(
    mac: bytes,
    community: bytes = b"net",
    *,
    cookie: int = 0x1234,
    dev: IpSubnet | None = None,
    desc: bytes = b"edge",
    auth: Auth | None = None,
    sock: Sock | None = None,
) -> bytes:
    dev = IpSubnet(0x0A000000 | mac[-1], 24) if dev is None else dev  # one TAP IP per MAC
    msg = RegisterSuper(cookie, mac, sock, dev, desc, auth or token(mac[-1]))
    return encode(Common(0, 2, 0, community), msg)


def out_to(sn: Supernode, addr) -> list[bytes]:
    return [d for d, a in sn.datagrams_to_send() if a == addr]


def one(sn: Supernode, addr):
    sent = sn.datagrams_to_send()
    assert [a for _, a in sent] == [addr], sent
    return decode(sent[0][0])


def register(sn: Supernode, mac: bytes, addr, now: float = T0, **kw) -> RegisterSuperAck:
    sn.receive_datagram(reg_super(mac, **kw), addr, now)
    _, msg = one(sn, addr)
    assert isinstance(msg, RegisterSuperAck), msg
    return msg


# --- registration ---------------------------------------------------------------------------


def test_register_super_ack_fields() -> None:
    sn = make_sn()
    sn.receive_datagram(reg_super(MAC1, cookie=0xCAFE), E1, T0)
    common, ack = one(sn, E1)
    assert isinstance(ack, RegisterSuperAck)
    assert common.flags == N2N_FLAGS_SOCKET | N2N_FLAGS_FROM_SUPERNODE
    assert common.community == b"net" and common.ttl == 2
    assert ack.cookie == 0xCAFE
    assert ack.src_mac == sn.mac and sn.mac[0] & 0x03 == 0x02  # unicast, locally administered
    assert ack.sock == Sock(*E1)  # the public socket as seen
    assert ack.dev_addr == IpSubnet(0, 0)  # it had an address, none assigned
    assert ack.lifetime == REG_LIFETIME
    assert ack.auth == Auth()  # simple-id: zero answer
    assert ack.supernodes == () and ack.key_time == 0
    (row,) = SupernodeViews(sn).mgmt_edges(T0)
    assert row["macaddr"] == "02:00:00:00:00:A1"
    assert row["sockaddr"] == "198.18.1.1:40001"
    assert row["ip4addr"] == "10.0.0.161/24" and row["desc"] == "edge"
    assert row["community"] == "net" and row["last_seen"] == int(T0)
    assert sn.stats.reg_super == 1 and sn.stats.last_reg_super == T0
    comms = {r["community"]: r for r in SupernodeViews(sn).mgmt_communities(T0)}
    assert comms["-/-"]["is_federation"] == 1
    assert comms["net"]["purgeable"] == 1 and comms["net"]["ip4addr"].endswith("/24")


def test_auto_ip_follows_the_pearson_choice_and_is_deterministic() -> None:
    pool = SupernodeConfig().autoip
    subnet = assign_subnet(b"net", pool, [])
    assert subnet is not None
    sn = make_sn()
    ack = register(sn, MAC1, E1, dev=IpSubnet(0, 0), desc=b"laptop")
    first = assign_host(subnet, b"laptop", set())
    assert ack.dev_addr == IpSubnet(first, 24)
    # the edge then registers with it; a second edge of the same desc gets the next one down
    register(sn, MAC1, E1, dev=ack.dev_addr, desc=b"laptop")
    ack2 = register(sn, MAC2, E2, dev=IpSubnet(0, 0), desc=b"laptop")
    assert ack2.dev_addr == IpSubnet(assign_host(subnet, b"laptop", {first}), 24)
    assert ack2.dev_addr != ack.dev_addr
    # 169.254/16 and prefix 0 ask as well; another supernode answers the same
    other = make_sn()
    ack3 = register(other, MAC1, E1, dev=IpSubnet(0xA9FE0001, 16), desc=b"laptop")
    assert ack3.dev_addr == ack.dev_addr


def test_null_mac_bootstrap_gets_an_address_but_is_not_stored() -> None:
    sn = make_sn()
    ack = register(sn, NULL_MAC, E1, dev=IpSubnet(0, 0), desc=b"boot")
    assert ack.dev_addr.net_addr != 0
    assert SupernodeViews(sn).mgmt_edges(T0) == [] or all(
        r["community"] == "-/-" for r in SupernodeViews(sn).mgmt_edges(T0)
    )
    assert not [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]


def test_spoofed_mac_is_naked_and_not_moved() -> None:
    sn = make_sn()
    register(sn, MAC1, E1, auth=token(1))
    sn.receive_datagram(reg_super(MAC1, auth=token(9), cookie=77), E2, T0 + 1)
    _, nak = one(sn, E2)
    assert isinstance(nak, RegisterSuperNak)
    assert nak.src_mac == MAC1 and nak.cookie == 77 and nak.auth == Auth()
    assert sn.drops["spoofed_mac"] == 1 and sn.stats.reg_super_nak == 1
    (row,) = [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]
    assert row["sockaddr"] == "198.18.1.1:40001"
    # the same TAP IP under a new MAC without the token: refused too
    sn.receive_datagram(reg_super(MAC2, auth=token(9), dev=IpSubnet(0x0A0000A1, 24)), E2, T0 + 1)
    assert isinstance(one(sn, E2)[1], RegisterSuperNak)
    # the right token from a new socket moves it (NAT rebinding)
    register(sn, MAC1, E2, now=T0 + 2, auth=token(1))
    (row,) = [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]
    assert row["sockaddr"] == "198.18.1.2:40002"


def test_dash_m_lets_a_new_token_take_over() -> None:
    sn = make_sn(spoofing_protection=False)
    register(sn, MAC1, E1, auth=token(1))
    register(sn, MAC1, E2, auth=token(9))
    (row,) = [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]
    assert row["sockaddr"] == "198.18.1.2:40002"


def test_unregister_needs_the_token() -> None:
    sn = make_sn()
    register(sn, MAC1, E1, auth=token(1))
    unreg = lambda auth: encode(Common(0, 2, 0, b"net"), UnregisterSuper(auth, MAC1))  # noqa: E731
    sn.receive_datagram(unreg(token(2)), E1, T0)
    assert sn.drops["auth"] == 1
    assert [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]
    sn.receive_datagram(unreg(token(1)), E1, T0)
    assert not [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]
    assert sn.datagrams_to_send() == []


# --- relay ----------------------------------------------------------------------------------


def packet(src: bytes, dst: bytes, payload: bytes = b"frame", community: bytes = b"net") -> bytes:
    return encode_packet(pad_community(community), src, dst, 1, 1, payload)


def test_unicast_packet_relayed_with_the_senders_socket() -> None:
    sn = make_sn()
    register(sn, MAC1, E1)
    register(sn, MAC2, E2)
    sn.receive_datagram(packet(MAC1, MAC2, b"hello"), E1, T0 + 1)
    common, pkt = one(sn, E2)
    assert isinstance(pkt, Packet)
    assert common.flags == N2N_FLAGS_SOCKET | N2N_FLAGS_FROM_SUPERNODE
    assert common.ttl == 1
    assert (pkt.src_mac, pkt.dst_mac, pkt.sock, pkt.payload) == (MAC1, MAC2, Sock(*E1), b"hello")
    assert sn.stats.fwd == 1 and sn.stats.last_fwd == T0 + 1
    # an unknown destination goes nowhere (no federation) and is counted
    sn.receive_datagram(packet(MAC1, MAC3), E1, T0 + 1)
    assert sn.datagrams_to_send() == [] and sn.drops["unknown_destination"] == 1
    # ttl 0 is dropped
    dead = bytearray(packet(MAC1, MAC2))
    dead[1] = 0
    sn.receive_datagram(bytes(dead), E1, T0 + 1)
    assert sn.datagrams_to_send() == [] and sn.drops["ttl"] == 1


def test_register_relayed_and_register_ack_ignored() -> None:
    sn = make_sn()
    register(sn, MAC1, E1)
    register(sn, MAC2, E2)
    reg = encode(Common(0, 2, 0, b"net"), Register(0x1000, MAC1, MAC2, None, IpSubnet(0, 0), b"a"))
    sn.receive_datagram(reg, E1, T0)
    common, msg = one(sn, E2)
    assert isinstance(msg, Register) and msg.sock == Sock(*E1) and msg.cookie == 0x1000
    assert common.flags & N2N_FLAGS_FROM_SUPERNODE
    mreg = encode(Common(0, 2, 0, b"net"), Register(1, MAC1, BCAST, None, IpSubnet(0, 0), b"a"))
    sn.receive_datagram(mreg, E1, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["register_multicast"] == 1


def test_broadcast_fans_out_once_per_edge_not_back_to_sender() -> None:
    sn = make_sn()
    for mac, addr in ((MAC1, E1), (MAC2, E2), (MAC3, E3)):
        register(sn, mac, addr)
    register(sn, MAC1, E1, community=b"other")  # another community sees nothing
    sn.receive_datagram(packet(MAC1, BCAST, b"arp"), E1, T0)
    sent = sn.datagrams_to_send()
    assert sorted(a for _, a in sent) == [E2, E3]
    for data, _ in sent:
        pkt = decode(data)[1]
        assert isinstance(pkt, Packet) and pkt.payload == b"arp" and pkt.sock == Sock(*E1)
    assert sn.stats.broadcast == 2
    # IPv4 multicast MAC too
    sn.receive_datagram(packet(MAC2, bytes.fromhex("01005e000001")), E2, T0)
    assert sorted(a for _, a in sn.datagrams_to_send()) == [E1, E3]


def test_packet_for_unknown_community_dropped() -> None:
    sn = make_sn()
    sn.receive_datagram(packet(MAC1, MAC2, community=b"nobody"), E1, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["unknown_community"] == 1


# --- purge ------------------------------------------------------------------------------------


def advance(sn: Supernode, until: float) -> None:
    """Fire the timers up to `until` like a driver would."""
    while (t := sn.get_timer()) is not None and t <= until:
        sn.handle_timer(t)


def test_edges_purged_after_60_s_and_empty_on_the_fly_community_with_them() -> None:
    sn = make_sn()
    advance(sn, T0)
    register(sn, MAC1, E1, now=T0 + 1)
    advance(sn, T0 + 89)  # sweeps at +30 and +60 keep it (last seen +1)
    assert [r for r in SupernodeViews(sn).mgmt_edges(T0 + 89) if r["community"] == "net"]
    advance(sn, T0 + 90)  # the +90 sweep: silent for 89 s > 60 s
    assert not [r for r in SupernodeViews(sn).mgmt_edges(T0 + 90) if r["community"] == "net"]
    assert [r["community"] for r in SupernodeViews(sn).mgmt_communities(T0 + 90)] == ["-/-"]
    events = [e for e in sn.events() if e.kind == "peer"]
    assert events and events[0].data()["action"] == 1


def test_file_communities_are_permanent_and_lock_names() -> None:
    cl = parse_community_file("fixed\nlab[0-9]\n")
    sn = make_sn(communities=cl)
    register(sn, MAC1, E1, community=b"lab1")  # regex: created on the fly
    sn.receive_datagram(reg_super(MAC2, community=b"other"), E2, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["community_not_allowed"] == 1
    advance(sn, T0 + 200)
    names = [r["community"] for r in SupernodeViews(sn).mgmt_communities(T0 + 200)]
    assert names == ["-/-", "fixed"]  # lab1 purged, fixed stays


# --- PING, QUERY_PEER -------------------------------------------------------------------------


def test_ping_answered_with_pong() -> None:
    sn = make_sn(version="test-sn")
    register(sn, MAC1, E1)
    ping = encode(Common(0, 2, 0, b"net"), QueryPeer(MAC1, NULL_MAC))
    sn.receive_datagram(ping, E1, T0 + 5)
    common, pong = one(sn, E1)
    assert isinstance(pong, PeerInfo)
    assert common.flags == N2N_FLAGS_FROM_SUPERNODE
    assert pong.src_mac == sn.mac and pong.mac == NULL_MAC and pong.sock == Sock(*E1)
    assert pong.version == b"test-sn" and pong.uptime == 5
    # load as n2n edges read it (byte-swapped): the federation (1, doubled: encrypted)
    # + community "net" (1) + its edge (1)
    assert int.from_bytes(pong.load.to_bytes(4, "big"), "little") == 4


def test_query_peer_answered_with_public_and_preferred_socket() -> None:
    sn = make_sn()
    register(sn, MAC1, E1)
    sn.receive_datagram(reg_super(MAC2, sock=Sock("10.9.0.2", 5555)), E2, T0)
    common, _ = one(sn, E2)
    query = encode(Common(0, 2, 0, b"net"), QueryPeer(MAC1, MAC2))
    sn.receive_datagram(query, E1, T0)
    common, info = one(sn, E1)
    assert isinstance(info, PeerInfo)
    assert common.flags == N2N_FLAGS_FROM_SUPERNODE | N2N_FLAGS_SOCKET
    assert (info.src_mac, info.mac) == (MAC1, MAC2)
    assert info.sock == Sock(*E2) and info.preferred_sock == Sock("10.9.0.2", 5555)
    sn.receive_datagram(encode(Common(0, 2, 0, b"net"), QueryPeer(MAC1, MAC3)), E1, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["unknown_destination"] == 1


# --- bounds, robustness, management -------------------------------------------------------------


def test_bounds_are_counted() -> None:
    sn = make_sn(max_edges_per_community=2, max_communities=2)
    register(sn, MAC1, E1)
    register(sn, MAC2, E2)
    sn.receive_datagram(reg_super(MAC3), E3, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["table_full_edges"] == 1
    register(sn, MAC1, E1)  # known edges still re-register
    register(sn, MAC1, E1, community=b"c2")
    sn.receive_datagram(reg_super(MAC1, community=b"c3"), E1, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["table_full_communities"] == 1


def test_garbage_and_truncations_are_counted_not_raised() -> None:
    sn = make_sn()
    register(sn, MAC1, E1)
    good = reg_super(MAC2)
    for cut in range(len(good)):
        sn.receive_datagram(good[:cut], E2, T0)
    assert sn.drops["short"] == 24 and sn.drops["decode"] >= 1
    sn.receive_datagram(b"\x07" * 100, E2, T0)
    assert sn.drops["he_no_key"] == 1
    assert sn.datagrams_to_send() == []


def test_status_text_and_registrations_dump() -> None:
    sn = make_sn()
    register(sn, MAC1, E1, desc=b"alpha")
    text = SupernodeViews(sn).status_text(T0 + 3)
    assert "COMMUNITY 'net'" in text and "02:00:00:00:00:A1" in text and "alpha" in text
    assert "reg_sup 1" in text and "uptime 3" in text
    dump = SupernodeViews(sn).registrations_text(T0 + 3)
    assert "dumping community: net" in dump and "[last seen: 3 sec ago]" in dump
    rows = {r["type"]: r for r in SupernodeViews(sn).mgmt_packetstats(T0)}
    assert rows["reg_super"] == {"type": "reg_super", "rx_pkt": 1, "nak": 0}
    (ts,) = SupernodeViews(sn).mgmt_timestamps(T0 + 3)
    assert ts == {"start_time": int(T0), "last_fwd": 0, "last_reg_super": int(T0)}
    sn.receive_datagram(b"x" * 30, E1, T0)
    assert {"reason": "he_no_key", "count": 1} in SupernodeViews(sn).mgmt_drops(T0)


def test_reload_communities() -> None:
    sn = Supernode(SupernodeConfig(communities=parse_community_file("a\n")), seeded(), T0)
    register(sn, MAC1, E1, community=b"a")
    sn.reload_communities("b\n", T0)
    assert [r["community"] for r in SupernodeViews(sn).mgmt_communities(T0)] == ["-/-", "b"]
    with pytest.raises(ConfigError, match="line 1"):
        sn.reload_communities("x y z\n", T0)
    assert [r["community"] for r in SupernodeViews(sn).mgmt_communities(T0)] == [
        "-/-",
        "b",
    ]  # unchanged
    with pytest.raises(ConfigError):
        sn.reload_communities("", T0)


def test_known_tap_ip_with_the_right_token_is_a_mac_change() -> None:
    sn = make_sn()
    register(sn, MAC1, E1, auth=token(1), dev=IpSubnet(0x0A000005, 24))
    register(sn, MAC2, E1, auth=token(1), dev=IpSubnet(0x0A000005, 24))
    (row,) = [r for r in SupernodeViews(sn).mgmt_edges(T0) if r["community"] == "net"]
    assert row["macaddr"] == "02:00:00:00:00:A2"


def test_forwarded_registration_from_a_stranger_is_dropped() -> None:
    sn = make_sn()
    msg = RegisterSuper(1, MAC1, Sock(*E1), IpSubnet(0, 0), b"x", token(1))
    fake = encode(Common(0, 2, N2N_FLAGS_FROM_SUPERNODE, b"net"), msg)
    sn.receive_datagram(fake, E2, T0)
    assert sn.datagrams_to_send() == [] and sn.drops["unknown_supernode"] == 1
    assert [r["community"] for r in SupernodeViews(sn).mgmt_communities(T0)] == ["-/-"]


def test_send_failures_reported_by_the_driver_show_in_packetstats() -> None:
    from pyn2n.mgmt.protocol import Management

    sn = make_sn()
    sn.send_failed(2)
    sn.send_failed(1)
    assert sn.stats.errors == 3
    mgmt = Management(SupernodeViews(sn), role="supernode")
    replies = mgmt.handle(b"r 7 packetstats", ("127.0.0.1", 5000), T0)
    rows = [json.loads(data) for data, _addr in replies]
    assert {"_tag": "7", "_type": "row", "type": "errors", "tx_pkt": 3} in rows
    assert "errors 3 " in SupernodeViews(sn).status_text(T0)


def test_management_views_change_nothing_in_the_core() -> None:
    sn = make_sn()
    register(sn, MAC1, E1)
    views = SupernodeViews(sn)
    before = sn.wall_now()
    for method in ("communities", "edges", "timestamps", "packetstats", "supernodes", "drops"):
        getattr(views, "mgmt_" + method)(T0 + 500)
    views.status_text(T0 + 500)
    views.registrations_text(T0 + 500)
    assert sn.wall_now() == before
    (row,) = [r for r in views.mgmt_edges(T0 + 5) if r["community"] == "net"]
    assert row["last_seen"] == int(T0)
