"""`-R` traffic rules: n2n's syntax and examples (doc/TrafficRestrictions.md), the priority of
longer prefixes, what passes untouched, and bad rules naming the fix; and the edge's data path
applying them both ways."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.rules import ICMP, TCP, UDP, RuleError, TrafficFilter, parse_rule
from pyn2n.wire import Packet
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_IP,
    PEER_MAC,
    SN1,
    drain,
    make_known,
    of_type,
    packet,
    registered_edge,
)

A, B = b"\x02" * 6, b"\x04" * 6


def frame(proto: int, src: str, dst: str, sport: int = 0, dport: int = 0) -> bytes:
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    ip = b"\x45\x00\x00\x30\x00\x00\x00\x00\x40" + bytes([proto]) + b"\x00\x00" + s + d
    l4 = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + b"\x00" * 16
    return A + B + b"\x08\x00" + ip + l4


def verdict(rules: list[str], proto: int, src: str, dst: str, sp: int = 0, dp: int = 0) -> bool:
    f = TrafficFilter.parse(rules)
    assert f is not None
    return f.allows(frame(proto, src, dst, sp, dp))


# -- n2n's examples -------------------------------------------------------------------------------


def test_ranges_example() -> None:
    rule = ["192.168.1.5/32:[0,65535],192.168.0.0/24:[8081,65535],TCP-,UDP-,ICMP+"]
    assert not verdict(rule, TCP, "192.168.1.5", "192.168.0.9", 1234, 8081)
    assert not verdict(rule, UDP, "192.168.1.5", "192.168.0.9", 1234, 9000)
    assert verdict(rule, TCP, "192.168.1.5", "192.168.0.9", 1234, 8080)  # below the range
    assert verdict(rule, TCP, "192.168.1.6", "192.168.0.9", 1234, 8081)  # other source
    assert verdict(rule, TCP, "192.168.1.5", "192.168.1.9", 1234, 8081)  # other network
    assert verdict(rule, ICMP, "192.168.1.5", "192.168.0.9")


def test_single_port_example_only_names_icmp() -> None:
    rule = ["192.168.1.5:[0,65535],192.168.0.0/24:8000,ICMP+"]
    parsed = parse_rule(rule[0])
    assert parsed.dst[2:] == (8000, 8000) and parsed.verdicts == {ICMP: True}
    assert verdict(rule, TCP, "192.168.1.5", "192.168.0.1", 5, 8000)  # TCP not named: passes


def test_bare_addresses_example() -> None:
    rule = ["192.168.1.5,192.168.0.7,TCP-,UDP-,ICMP-"]
    for proto in (TCP, UDP, ICMP):
        assert not verdict(rule, proto, "192.168.1.5", "192.168.0.7", 1, 2)
        assert verdict(rule, proto, "192.168.1.5", "192.168.0.8", 1, 2)


def test_allowlist_example() -> None:
    rules = ["0.0.0.0/0,0.0.0.0/0,TCP-,UDP-,ICMP-", "192.168.100.0/24,192.168.100.0/24,ICMP+"]
    assert verdict(rules, ICMP, "192.168.100.1", "192.168.100.2")
    assert not verdict(rules, TCP, "192.168.100.1", "192.168.100.2", 1, 22)
    assert not verdict(rules, ICMP, "10.0.0.1", "192.168.100.2")


def test_longer_prefixes_win_whatever_the_order() -> None:
    broad = "198.19.0.0/16,198.19.0.0/16,TCP-"
    narrow = "198.19.0.0/24,198.19.0.5:22,TCP+"
    for rules in ([broad, narrow], [narrow, broad]):
        assert verdict(rules, TCP, "198.19.0.1", "198.19.0.5", 999, 22)
        assert not verdict(rules, TCP, "198.19.0.1", "198.19.0.5", 999, 80)


def test_first_rule_wins_a_tie() -> None:
    assert verdict(
        ["0.0.0.0/0,0.0.0.0/0,UDP+", "0.0.0.0/0,0.0.0.0/0,UDP-"], UDP, "1.1.1.1", "2.2.2.2"
    )
    assert not verdict(
        ["0.0.0.0/0,0.0.0.0/0,UDP-", "0.0.0.0/0,0.0.0.0/0,UDP+"], UDP, "1.1.1.1", "2.2.2.2"
    )


def test_source_ports_and_icmp_ignores_ports() -> None:
    rule = ["10.0.0.0/8:53,10.0.0.0/8,UDP-,ICMP-"]
    assert not verdict(rule, UDP, "10.1.1.1", "10.2.2.2", 53, 4000)
    assert verdict(rule, UDP, "10.1.1.1", "10.2.2.2", 54, 4000)
    assert not verdict(rule, ICMP, "10.1.1.1", "10.2.2.2")


def test_what_passes_untouched() -> None:
    f = TrafficFilter.parse(["0.0.0.0/0,0.0.0.0/0,TCP-,UDP-,ICMP-"])
    assert f is not None
    arp = A + B + b"\x08\x06" + b"\x00" * 28
    ipv6 = A + B + b"\x86\xdd" + b"\x60" + b"\x00" * 39
    igmp = frame(2, "1.1.1.1", "224.0.0.1")
    assert f.allows(arp) and f.allows(ipv6) and f.allows(igmp) and f.allows(A + B)
    truncated = frame(TCP, "1.1.1.1", "2.2.2.2")[:34]  # no TCP header: ports read as 0
    assert not f.allows(truncated)
    assert TrafficFilter.parse([]) is None


# -- bad rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("198.19.0.0/24", "not a traffic rule"),
        ("198.19.0.0/24,198.19.0.1", "names no protocol"),
        ("198.19.0.0/24,198.19.0.1,SCTP-", "unknown protocol 'SCTP'"),
        ("198.19.0.1/24,198.19.0.0/24,TCP-", "write 198.19.0.0/24"),
        ("198.19.0.0/33,198.19.0.0/24,TCP-", "longer than 32"),
        ("198.19.0.0/24:[90,80],198.19.0.0/24,TCP-", "low <= high"),
        ("198.19.0.0/24:70000,198.19.0.0/24,TCP-", "0..65535"),
        ("300.19.0.0/24,198.19.0.0/24,TCP-", "not IPv4"),
        ("198.19.0.0/24,198.19.0.0/24,TCP", "not a traffic rule"),
    ],
)
def test_bad_rules_name_the_fix(text: str, says: str) -> None:
    with pytest.raises(RuleError, match=says.replace("[", r"\[")):
        parse_rule(text)


def test_config_checks_rules_and_turns_the_fast_path_off() -> None:
    with pytest.raises(RuleError, match="names no protocol"):
        EdgeConfig(community="c", supernodes=[SN1], rules=["1.1.1.1,2.2.2.2"])
    cfg = EdgeConfig(community="c", supernodes=[SN1], rules=["1.1.1.1,2.2.2.2,TCP-"], fastpath=True)
    assert cfg.fastpath is False


# -- in the edge ----------------------------------------------------------------------------------


def test_edge_drops_filtered_frames_both_ways() -> None:
    rules = [f"0.0.0.0/0,{PEER_IP}:22,TCP-", f"0.0.0.0/0,{MY_IP}:23,TCP-"]
    edge, clock = registered_edge(rules=rules)
    make_known(edge, clock)
    drain(edge)
    out_ssh = PEER_MAC + MY_MAC + frame(TCP, MY_IP, PEER_IP, 4000, 22)[12:]
    out_web = PEER_MAC + MY_MAC + frame(TCP, MY_IP, PEER_IP, 4000, 80)[12:]
    edge.receive_frame(out_ssh, clock())
    edge.receive_frame(out_web, clock())
    sent = of_type(drain(edge), Packet)
    assert len(sent) == 1 and edge.drops["tap_filtered"] == 1
    in_telnet = MY_MAC + PEER_MAC + frame(TCP, PEER_IP, MY_IP, 4000, 23)[12:]
    in_web = MY_MAC + PEER_MAC + frame(TCP, PEER_IP, MY_IP, 4000, 80)[12:]
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, in_telnet), PEER_ADDR, clock())
    edge.receive_datagram(packet(PEER_MAC, MY_MAC, in_web), PEER_ADDR, clock())
    assert edge.frames_to_write() == [in_web] and edge.drops["filtered"] == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([b"\x08\x00", b"\x08\x06", b"\x86\xdd"]))
def test_any_frame_gets_a_verdict(tail: bytes, ethertype: bytes) -> None:
    f = TrafficFilter.parse(
        ["0.0.0.0/0,0.0.0.0/0:[0,1000],TCP-,UDP+,ICMP-", "10.0.0.0/8,0.0.0.0/0,UDP-"]
    )
    assert f is not None
    assert f.allows(A + B + ethertype + tail) in (True, False)
