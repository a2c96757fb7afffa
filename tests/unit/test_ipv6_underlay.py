"""The IPv6 underlay's rules outside the drivers: `-l [v6]:port`, names resolve to IPv4 first,
IPv6 peer sockets are used only by an edge that has an IPv6 socket, `[ip]:port` in every view,
and the IPv6 and dual-stack lab plans."""

from __future__ import annotations

import ipaddress

import pytest

from pyn2n.cli.common import UsageError
from pyn2n.cli.edge_args import parse_supernode
from pyn2n.cli.watch import resolve_once
from pyn2n.core.edge.state import peer_addr
from pyn2n.lab import LabError, make_plan
from pyn2n.lab.topology import ipv6_twin
from pyn2n.wire.types import Sock, endpoint_text


def test_supernode_addresses_in_brackets() -> None:
    assert parse_supernode("[2001:db8::1]:7654") == ("2001:db8::1", 7654)
    assert parse_supernode("198.18.0.2:7654") == ("198.18.0.2", 7654)
    with pytest.raises(UsageError, match="brackets"):
        parse_supernode("2001:db8::1:7654")


def test_literals_resolve_to_their_own_family() -> None:
    assert resolve_once("2001:db8::1", 7654) == (("2001:db8::1", 7654), "")
    assert resolve_once("198.18.0.2", 7654) == (("198.18.0.2", 7654), "")


def test_ipv6_peer_sockets_only_for_an_edge_with_ipv6() -> None:
    v6 = Sock("2001:db8:18:2::2", 40000)
    assert peer_addr(v6) is None
    assert peer_addr(v6, True) == ("2001:db8:18:2::2", 40000)
    for bad in (Sock("::1", 1), Sock("::", 1), Sock("2001:db8::2", 0)):
        assert peer_addr(bad, True) is None
    assert peer_addr(Sock("198.18.1.2", 7000), True) == ("198.18.1.2", 7000)


def test_endpoints_are_written_as_n2n_writes_them() -> None:
    assert endpoint_text(("2001:db8::1", 7654)) == "[2001:db8::1]:7654"
    assert endpoint_text(("198.18.0.2", 7654)) == "198.18.0.2:7654"


def test_ipv6_lab_plan_stays_in_the_documentation_prefix() -> None:
    plan = make_plan("0a1b2c", 3, standby=True, ipv6=True)
    doc = ipaddress.IPv6Network("2001:db8::/32")
    subnets = [ipaddress.IPv6Network(h.subnet) for h in plan.hosts]
    assert all(s.subnet_of(doc) for s in subnets)
    assert len(set(subnets)) == len(subnets)
    assert plan.host("e2").underlay_ip == "2001:db8:18:2::2"
    assert plan.host("sn2").router_ip == "2001:db8:18:c8::1"
    with pytest.raises(LabError, match="no NAT"):
        make_plan("0a1b2c", 2, nat=True, ipv6=True)


def test_dual_stack_twins() -> None:
    plan = make_plan("0a1b2c", 2, dual=True)
    assert plan.host("e1").underlay_ip == "198.18.1.2"
    assert ipv6_twin(plan.host("e1").subnet) == ipaddress.IPv6Network("2001:db8:18:1::/64")
    assert ipv6_twin(plan.host("sn").subnet) == ipaddress.IPv6Network("2001:db8:18::/64")
