"""Security scenarios in the simulated network: header encryption (-H), user/password
authentication, MAC spoofing, and random datagrams (spec §6, §7.2, §7.3 of n2n-v3-wire.md)."""

from __future__ import annotations

import functools
import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyn2n.constants import (
    N2N_AUTH_SIMPLE_ID,
    N2N_DEFAULT_TTL,
    N2N_TRANSFORM_ID_NULL,
    PURGE_REGISTRATION_FREQ,
    REGISTER_SUPER_INTERVAL_DFL,
    REGISTRATION_TIMEOUT,
)
from pyn2n.core.secure import HeaderCrypto
from pyn2n.crypto.auth import bin_to_ascii, generate_public_key, user_private_key
from pyn2n.crypto.timestamp import TimeStamper
from pyn2n.mgmt.supernode_views import SupernodeViews
from pyn2n.wire import (
    MSG_TYPE_REGISTER_SUPER,
    Auth,
    Common,
    IpSubnet,
    Packet,
    RegisterSuper,
    RegisterSuperNak,
    decode,
    encode,
    mac_to_str,
)
from tests.simnet import (
    SIM_COMMUNITY,
    NatType,
    Probe,
    SimNet,
    add_edge,
    broadcast_udp_frame,
    copies,
    edge_of,
    n2n_edge,
    n2n_supernode,
    ping_pong,
    register_all,
    send_unicast,
    sim_ip,
    sim_mac,
    star_net,
)

FULL = NatType.FULL_CONE
PORT = NatType.PORT_RESTRICTED
SYM = NatType.SYMMETRIC
ATTACKER = ("198.18.99.1", 4242)


def _attacker(net: SimNet) -> Probe:
    net.add_host("evil_host", ip=ATTACKER[0])
    probe = Probe()
    net.attach("evil", probe, "evil_host", ATTACKER[1])
    return probe


def _sn_edge_macs(net: SimNet, sn: str = "sn") -> set[str]:
    return {
        r["macaddr"]
        for r in SupernodeViews(net.node(sn)).mgmt_edges(net.now)
        if r["community"] != "-/-"
    }


# -- header encryption (-H, §6) ------------------------------------------------------------------

HE_COMMUNITY = "secretnet"


def _he_net() -> tuple[SimNet, list[str]]:
    return star_net(
        [FULL, PORT, None],
        seed=3,
        sn_options={"community_file": f"{HE_COMMUNITY}\n"},
        community=HE_COMMUNITY,
        header_encryption=True,
    )


def test_header_encrypted_community_works_and_hides_its_headers() -> None:
    net, names = _he_net()
    register_all(net, names)
    hops = ping_pong(net, "e1", "e2", rounds=6)
    assert hops[-2:] == ["e2", "e1"]  # punched, direct
    ping_pong(net, "e2", "e3", rounds=3)
    f = broadcast_udp_frame(sim_mac(3), sim_ip(3), 5000, b"to all")
    net.send_frame("e3", f)
    net.run_for(1)
    assert [copies(net, n, f) for n in names] == [1, 1, 0]
    # no datagram of the community has a readable header or carries the community name
    assert net.log.records and all(r.pc is None for r in net.log)
    assert not any(HE_COMMUNITY.encode() in r.data for r in net.log)
    # and nothing legitimate was refused on the way
    refusals = {"he_decrypt", "replay", "wrong_key", "unknown_community", "decode", "auth"}
    for node in [*(edge_of(net, n) for n in names), net.node("sn")]:
        assert not refusals & set(node.drops), node.drops


def test_header_encryption_rejects_and_counts_replays() -> None:
    net, names = _he_net()
    register_all(net, names)
    ping_pong(net, "e1", "e2", rounds=6)
    frame, direct = send_unicast(net, "e1", "e2", b"once only")
    assert direct.dst == "e2"
    bcast = broadcast_udp_frame(sim_mac(3), sim_ip(3), 5000, b"once to all")
    start = len(net.log)
    net.send_frame("e3", bcast)
    # straight to the pyn2n peers e3 knows, and once to the supernode (which skips them)
    out = net.log.records[start:]
    assert sorted(r.dst for r in out) == ["e1", "e2", "sn"]
    (relayed,) = [r for r in out if r.dst == "sn"]
    net.run_for(1)
    assert [copies(net, n, bcast) for n in names] == [1, 1, 0]
    # newer datagrams from both senders: a PACKET's stamp may trail the last one only by the
    # jitter allowance (~160 ms, §6), so these old ones are now plain replays
    ping_pong(net, "e1", "e2", rounds=2)
    net.send_frame("e3", broadcast_udp_frame(sim_mac(3), sim_ip(3), 5000, b"later"))
    net.run_for(1)
    hc = HeaderCrypto(HE_COMMUNITY.encode())

    def pc_of(data: bytes) -> int | None:
        got = hc.open(data)
        return None if got is None else got.packet[3] & 0x1F

    reg = [
        r for r in net.log.select(src="e1", dst="sn") if pc_of(r.data) == MSG_TYPE_REGISTER_SUPER
    ][-1]
    e2, sn = edge_of(net, "e2"), net.node("sn")
    e2_replays, sn_replays = e2.drops["replay"], sn.drops["replay"]
    # the old direct PACKET replayed to e2, from its original socket and from elsewhere
    assert direct.seen_from is not None
    net.inject("e2", direct.data, direct.seen_from)
    net.inject("e2", direct.data, ATTACKER)
    assert e2.drops["replay"] == e2_replays + 2
    assert copies(net, "e2", frame) == 1
    # the old broadcast and the latest REGISTER_SUPER (no jitter for it) replayed to the supernode
    assert relayed.seen_from is not None and reg.seen_from is not None
    before = len(net.log)
    net.inject("sn", relayed.data, relayed.seen_from)
    net.inject("sn", reg.data, reg.seen_from)
    assert sn.drops["replay"] == sn_replays + 2
    assert len(net.log) == before  # nothing forwarded, nothing acknowledged
    net.run_for(1)
    assert [copies(net, n, bcast) for n in names] == [1, 1, 0]


def test_header_encryption_rejects_and_counts_plaintext() -> None:
    net, names = _he_net()
    register_all(net, names)
    _attacker(net)
    sn, e2 = net.node("sn"), edge_of(net, "e2")
    plain_reg = encode(
        Common(0, N2N_DEFAULT_TTL, 0, HE_COMMUNITY.encode()),
        RegisterSuper(
            7,
            sim_mac(9),
            None,
            IpSubnet(int(ipaddress.IPv4Address(sim_ip(9))), 24),
            b"plain",
            Auth(N2N_AUTH_SIMPLE_ID, bytes(16)),
        ),
    )
    frame = broadcast_udp_frame(sim_mac(9), sim_ip(9), 5000, b"plaintext")
    plain_packet = encode(
        Common(0, N2N_DEFAULT_TTL, 0, HE_COMMUNITY.encode()),
        Packet(sim_mac(9), b"\xff" * 6, None, 1, N2N_TRANSFORM_ID_NULL, frame),
    )
    before_sn, before_e2 = sn.drops["he_plaintext"], e2.drops["he_decrypt"]
    net.send_datagram("evil", plain_reg, net.addr("sn"))
    net.send_datagram("evil", plain_packet, net.addr("sn"))
    net.inject("e2", plain_packet, net.addr("sn"))  # even "from the supernode"
    net.run_for(1)
    assert sn.drops["he_plaintext"] == before_sn + 2
    assert e2.drops["he_decrypt"] == before_e2 + 1
    assert net.node("evil").received == []  # no ACK, no NAK: the community stays hidden
    assert all(copies(net, n, frame) == 0 for n in names)
    assert mac_to_str(sim_mac(9)) not in _sn_edge_macs(net)
    # a header sealed with another community's key is no better
    foreign = HeaderCrypto(b"othernet").seal(
        encode(
            Common(0, N2N_DEFAULT_TTL, 0, b"othernet"),
            Packet(sim_mac(9), b"\xff" * 6, None, 1, 1, frame),
        ),
        TimeStamper()(net.wall_clock()),
        b"\0\0\0\0",
    )
    net.inject("e2", foreign, net.addr("sn"))
    assert e2.drops["he_decrypt"] == before_e2 + 2
    assert copies(net, "e2", frame) == 0


# -- user/password authentication (§7.3) ---------------------------------------------------------

UP_COMMUNITY = "userpw"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}


def _user_line(name: str, password: str) -> str:
    return f"* {name} {bin_to_ascii(generate_public_key(user_private_key(name, password)))}"


def test_wrong_user_or_password_is_refused() -> None:
    net = SimNet(seed=4)
    net.add_host("sn_host")
    community_file = "\n".join([UP_COMMUNITY, *(_user_line(u, p) for u, p in USERS.items())]) + "\n"
    sn = n2n_supernode(net, "sn", "sn_host", community_file=community_file)
    who = {
        1: ("alice", "alice-pw"),
        2: ("bob", "bob-pw"),
        3: ("alice", "not-alice-pw"),
        4: ("eve", "eve-pw"),
    }
    for i, (user, password) in who.items():
        add_edge(
            net, i, FULL, ["sn"], community=UP_COMMUNITY, desc=user, password=password,
            transform=4, key="payload key",
        )  # fmt: skip
    register_all(net, ["e1", "e2"])
    net.run_for(30)
    assert edge_of(net, "e3").last_sup is None and edge_of(net, "e4").last_sup is None
    assert _sn_edge_macs(net) == {mac_to_str(sim_mac(1)), mac_to_str(sim_mac(2))}
    assert sn.drops["auth"] >= 2
    for n in ("e3", "e4"):
        e = edge_of(net, n)
        # refused with REGISTER_SUPER_NAK (§4), which the edge can read and reports
        assert e.reg.reg_super_nak >= 1, e.drops
        assert net.events(n, "register_super_nak")
        assert not net.events(n, "registered")
    # the right users talk (header encryption is forced on), the refused ones hear nothing
    assert set(ping_pong(net, "e1", "e2", rounds=5)[-2:]) == {"e1", "e2"}
    f = broadcast_udp_frame(sim_mac(1), sim_ip(1), 5000, b"members only")
    net.send_frame("e1", f)
    net.run_for(1)
    assert [copies(net, n, f) for n in ("e2", "e3", "e4")] == [1, 0, 0]
    assert all(r.pc is None for r in net.log)


def test_reload_rekeys_user_password_edges() -> None:
    """reload_communities gives a new key_time, hence new dynamic keys: the supernode sends
    RE_REGISTER_SUPER (old key) and the edges fetch the new key with their next REGISTER_SUPER
    (§7.3); traffic through the supernode, sealed with the new key, keeps working."""
    net = SimNet(seed=9)
    net.add_host("sn_host")
    community_file = "\n".join([UP_COMMUNITY, *(_user_line(u, p) for u, p in USERS.items())]) + "\n"
    sn = n2n_supernode(net, "sn", "sn_host", community_file=community_file)
    for i, user in enumerate(USERS, 1):
        add_edge(
            net, i, PORT, ["sn"], community=UP_COMMUNITY, desc=user, password=USERS[user],
            transform=5, key="payload key",
        )  # fmt: skip
    register_all(net, ["e1", "e2"])
    ping_pong(net, "e1", "e2", rounds=3)
    net.run_for(1)
    old_key_time = sn.dynamic_key_time
    acks_before = net.log.count(src="sn", dst="e1")
    net.call("sn", "reload_communities", community_file, net.now)
    assert sn.dynamic_key_time > old_key_time
    net.run_for(REGISTER_SUPER_INTERVAL_DFL)
    # RE_REGISTER_SUPER, then an early re-registration, answered
    assert net.log.count(src="sn", dst="e1", fate="delivered") >= acks_before + 2
    assert all(edge_of(net, n).sn_wait == 0 for n in ("e1", "e2"))
    f = broadcast_udp_frame(sim_mac(2), sim_ip(2), 5000, b"new keys")
    net.send_frame("e2", f)
    net.run_for(1)
    assert copies(net, "e1", f) == 1
    # relayed after the quiet spell, then direct again, all sealed with the new dynamic key
    assert ping_pong(net, "e1", "e2", rounds=4)[-2:] == ["e2", "e1"]
    assert not {"he_decrypt", "replay", "wrong_key", "auth"} & set(sn.drops)


# -- MAC spoofing (§7.2) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth", [Auth(), Auth(N2N_AUTH_SIMPLE_ID, bytes(range(16)))], ids=["no-token", "other-token"]
)
def test_spoofed_register_super_is_refused(auth: Auth) -> None:
    # symmetric NATs: all traffic goes through the supernode, so a hijack would show
    net, (a, b) = star_net([SYM, SYM], seed=5)
    register_all(net, [a, b])
    ping_pong(net, a, b, rounds=2)
    evil = _attacker(net)
    sn = net.node("sn")
    victim_row = next(
        r for r in SupernodeViews(sn).mgmt_edges(net.now) if r["macaddr"] == mac_to_str(sim_mac(2))
    )
    spoof = encode(
        Common(0, N2N_DEFAULT_TTL, 0, SIM_COMMUNITY.encode()),
        RegisterSuper(
            0x5EED,
            sim_mac(2),
            None,
            IpSubnet(int(ipaddress.IPv4Address(sim_ip(2))), 24),
            b"evil",
            auth,
        ),
    )
    net.send_datagram("evil", spoof, net.addr("sn"))
    net.run_for(1)
    assert sn.drops["spoofed_mac"] == 1
    ((_, reply, _),) = evil.received
    _, nak = decode(reply)
    assert isinstance(nak, RegisterSuperNak)
    assert (nak.cookie, nak.src_mac) == (0x5EED, sim_mac(2))
    # the registration stays where it was, and so does the traffic
    row = next(
        r for r in SupernodeViews(sn).mgmt_edges(net.now) if r["macaddr"] == mac_to_str(sim_mac(2))
    )
    assert row["sockaddr"] == victim_row["sockaddr"]
    hops = ping_pong(net, a, b, rounds=30, period=2.0)  # past two re-registrations
    assert set(hops) == {"sn"}
    assert len(evil.received) == 1
    victim = edge_of(net, b)
    assert victim.reg.reg_super_nak == 0 and not net.events(b, "register_super_nak")
    assert victim.sn_wait == 0


@pytest.mark.parametrize("protect", [True, False], ids=["default", "-M"])
def test_restarted_edge_waits_for_its_old_registration(protect: bool) -> None:
    """An edge that restarts (new auth token, same MAC and IP) is refused until the supernode
    purges its old registration (60 s + sweep, §7.2; n2n's "already in use"), unless the
    supernode runs with -M (no MAC/IP anti-spoofing)."""
    net, (a, b) = star_net([FULL, PORT], sn_options={"spoofing_protection": protect})
    register_all(net, [a, b])
    ping_pong(net, a, b, rounds=3)
    net.run_for(10)
    net.kill(b)
    t_kill = net.now
    last_reg = max(r.t_arrived or 0 for r in net.log.select(src=b, dst="sn", fate="delivered"))
    again = n2n_edge(
        net, b, "h2", supernodes=["sn"], community=SIM_COMMUNITY, ip=sim_ip(2), mac=sim_mac(2),
        rng_name="e2, restarted",
    )  # fmt: skip
    assert net.wait_for(lambda: again.last_sup is not None, 150)
    waited = net.now - t_kill
    if protect:
        assert again.reg.reg_super_nak > 0 and net.node("sn").drops["spoofed_mac"] > 0
        assert last_reg + REGISTRATION_TIMEOUT <= net.now
        assert net.now <= last_reg + REGISTRATION_TIMEOUT + PURGE_REGISTRATION_FREQ + 1
    else:
        assert again.reg.reg_super_nak == 0 and waited < 1
    assert ping_pong(net, a, b, rounds=4)[-2:] == [b, a]


# -- random datagrams (hypothesis) -------------------------------------------------------------------


@functools.cache
def _fuzz_world(he: bool) -> tuple[SimNet, list[bytes]]:
    """A running network (shared by all examples: state piles up, as on the Internet) and the
    distinct datagrams it exchanged, to mutate."""
    options: dict[str, object] = (
        {"header_encryption": True, "community": HE_COMMUNITY} if he else {}
    )
    sn_options = {"community_file": f"{HE_COMMUNITY}\n"} if he else None
    net, names = star_net([FULL, None], seed=6, sn_options=sn_options, **options)
    register_all(net, names)
    ping_pong(net, "e1", "e2", rounds=4)
    f = broadcast_udp_frame(sim_mac(1), sim_ip(1), 67, b"dhcp?")
    net.send_frame("e1", f)
    net.run_for(31)
    samples = list(dict.fromkeys(r.data for r in net.log))
    return net, samples


@pytest.mark.parametrize("he", [False, True], ids=["plain", "header-encrypted"])
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(["sn", "e1", "e2"]),
    source=st.integers(0, 2),
    raw=st.binary(max_size=160),
    base=st.integers(0, 10_000),
    edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 4095)),
    mutate=st.booleans(),
)
def test_random_datagrams_never_raise(
    he: bool,
    target: str,
    source: int,
    raw: bytes,
    base: int,
    edits: list[tuple[int, int]],
    cut: int | None,
    mutate: bool,
) -> None:
    net, samples = _fuzz_world(he)
    if mutate:
        data = bytearray(samples[base % len(samples)])
        for pos, value in edits:
            data[pos % len(data)] = value
        if cut is not None:
            del data[cut % (len(data) + 1) :]
        payload = bytes(data)
    else:
        payload = raw
    # from a stranger, from the supernode's socket, or from an edge's public socket
    sources = [ATTACKER, net.addr("sn"), net.public_addr("e1", net.addr("sn")) or ATTACKER]
    net.inject(target, payload, sources[source])
    net.run_for(0.05)  # whatever the node answered is delivered too
