"""The lab's clustering helpers without root: the mDNS answer parser, the ping outage and the
daemons' configuration text."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pyn2n.lab import cluster as C


def _labels(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def _rr(owner: bytes, rtype: int, rdata: bytes) -> bytes:
    return owner + struct.pack(">HHIH", rtype, 0x8001, 120, len(rdata)) + rdata


def answer() -> bytes:
    """An avahi-like answer: PTR in the answers, SRV and A as additional records, with name
    compression pointing back into the packet."""
    head = struct.pack(">6H", 0, 0x8400, 0, 1, 0, 2)
    service = _labels("_x._tcp.local")  # at offset 12
    body = head + service  # (the PTR's owner)
    instance_at = len(body) + 10  # the PTR's rdata starts after type/class/ttl/length
    instance = b"\x02e1" + struct.pack(">H", 0xC000 | 12)
    body += struct.pack(">HHIH", C._PTR, 1, 120, len(instance)) + instance
    srv_rdata = struct.pack(">HHH", 0, 0, 7000) + _labels("e1.local")
    body += _rr(struct.pack(">H", 0xC000 | instance_at), C._SRV, srv_rdata)
    host_at = len(body) - len(_labels("e1.local"))
    body += _rr(struct.pack(">H", 0xC000 | host_at), C._A, bytes([198, 19, 0, 1]))
    return body


def test_an_answer_gives_the_instance_its_port_and_address() -> None:
    found: dict[str, dict[str, Any]] = {}
    addrs: dict[str, str] = {}
    C._learn(answer(), "_x._tcp.local", found, addrs)
    assert found == {"e1": {"port": 7000, "host": "e1.local"}}
    assert addrs == {"e1.local": "198.19.0.1"}


def test_queries_are_ignored_and_garbage_raises_only_what_browse_catches() -> None:
    found: dict[str, dict[str, Any]] = {}
    C._learn(C._query("_x._tcp.local"), "_x._tcp.local", found, {})
    assert not found
    loop = struct.pack(">6H", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c"  # a pointer to itself
    for bad in (answer()[:40], loop):
        with pytest.raises((ValueError, IndexError, struct.error)):
            C._learn(bad, "_x._tcp.local", {}, {})


def test_outage_is_the_longest_run_of_unanswered_pings() -> None:
    assert C.PingRun(10, [0, 1, 2, 8, 9]).outage == pytest.approx(0.5)
    assert C.PingRun(10, list(range(10))).outage == 0
    assert C.PingRun(10, []).outage == pytest.approx(1.0)


def test_keepalived_configuration_names_what_the_lab_checks() -> None:
    conf = C.keepalived_conf("e1", C.vrrp_instance("o", "edge0", 150, "198.19.0.100/24"))
    assert "interface edge0" in conf and "priority 150" in conf and "198.19.0.100/24" in conf
    assert "vrrp_version 3" in C.keepalived_conf("e1", version=3)
