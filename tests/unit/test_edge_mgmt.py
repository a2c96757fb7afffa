"""Edge management rows (spec §8) and pyn2n's extras."""

from __future__ import annotations

import pytest

from pyn2n.core.api import MgmtError, Offload
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.wire import Sock
from tests.conftest import EdgeAndClock
from tests.simnet import (
    MY_IP,
    MY_MAC,
    PEER_ADDR,
    PEER_MAC,
    SN1,
    SN2,
    Clock,
    drain,
    ipv4_frame,
    make_edge,
    make_known,
    packet,
    pong,
    registered_edge,
)

EDGE_KEYS = {
    "mode",
    "ip4addr",
    "purgeable",
    "local",
    "macaddr",
    "sockaddr",
    "desc",
    "last_p2p",
    "last_sent_query",
    "last_seen",
}


def test_edges_rows_have_n2n_fields(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    other = bytes.fromhex("02ee00000003")
    edge.receive_frame(ipv4_frame(other, MY_MAC, MY_IP, "198.19.0.3"), clock())
    rows = EdgeViews(edge).mgmt_edges(clock())
    assert all(set(r) == EDGE_KEYS for r in rows)
    by_mode = {r["mode"]: r for r in rows}
    p2p, psp = by_mode["p2p"], by_mode["pSp"]
    assert p2p["macaddr"] == "02:EE:00:00:00:02" and p2p["sockaddr"] == "198.18.1.2:50002"
    assert p2p["ip4addr"] == "198.19.0.2/24" and p2p["desc"] == "peer" and p2p["purgeable"] == 1
    wall = int(Clock().wall())  # the fake wall clock at the edge's start
    assert p2p["last_p2p"] == p2p["last_seen"] == wall
    assert psp["macaddr"] == "02:EE:00:00:00:03" and psp["last_sent_query"] == wall
    assert psp["ip4addr"] == "" and psp["last_p2p"] == 0


def test_supernodes_info_timestamps_communities() -> None:
    edge, clock = registered_edge(supernodes=[SN1, SN2])
    edge.receive_datagram(pong(load=0x03000000, version=b"sn-v9"), SN1, clock())
    rows = EdgeViews(edge).mgmt_supernodes(clock())
    assert [r["sockaddr"] for r in rows] == ["198.18.0.1:7654", "198.18.0.2:7654"]
    cur = rows[0]
    assert cur["current"] == 1 and cur["macaddr"] == "02:AA:00:00:00:01"
    assert cur["version"] == "sn-v9" and cur["uptime"] == 77 and cur["purgeable"] == 0
    assert cur["selection"].startswith("load =")
    assert rows[1]["current"] == 0
    (info,) = EdgeViews(edge).mgmt_info(clock())
    assert info["macaddr"] == "02:EE:00:00:00:01" and info["ip4addr"] == MY_IP
    assert info["ip4netmask"] == "255.255.255.0" and info["sockaddr"] == "198.18.9.1:40001"
    (ts,) = EdgeViews(edge).mgmt_timestamps(clock())
    assert ts["start_time"] == ts["last_super"] == int(clock.wall())
    assert ts["last_p2p"] == 0
    assert EdgeViews(edge).mgmt_communities(clock()) == [{"community": "edgetest"}]


def test_communities_is_refused_with_header_encryption() -> None:
    edge, clock = make_edge(header_encryption=True)
    with pytest.raises(MgmtError, match="noaccess"):
        EdgeViews(edge).mgmt_communities(clock())
    assert "header encrypted" in EdgeViews(edge).status_text(clock())


def test_peers_explains_relayed_paths(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    other = bytes.fromhex("02ee00000003")
    edge.receive_frame(ipv4_frame(other, MY_MAC, MY_IP, "198.19.0.3"), clock())
    clock.advance(0.5)
    rows = {r["macaddr"]: r for r in EdgeViews(edge).mgmt_peers(clock())}
    direct = rows["02:EE:00:00:00:02"]
    assert direct["path"] == "direct" and direct["reason"] == ""
    assert direct["last_direct_age"] == 0.5 and direct["rtt_ms"] == 0.0
    assert direct["sockaddr"] == "198.18.1.2:50002"
    asked = rows["02:EE:00:00:00:03"]
    assert asked["path"] == "relayed" and "QUERY_PEER" in asked["reason"]
    assert asked["last_direct_age"] is None and asked["rtt_ms"] is None
    clock.advance(10)
    stale = next(
        r for r in EdgeViews(edge).mgmt_peers(clock()) if r["macaddr"] == "02:EE:00:00:00:02"
    )
    assert stale["path"] == "relayed" and "no direct traffic" in stale["reason"]


def test_drops(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.receive_datagram(b"\x00garbage", PEER_ADDR, clock())
    edge.receive_datagram(
        packet(PEER_MAC, MY_MAC, b"x" * 20, community="other"), PEER_ADDR, clock()
    )
    assert EdgeViews(edge).mgmt_drops(clock()) == [
        {"reason": "decode", "count": 1},
        {"reason": "unknown_community", "count": 1},
    ]


def test_status_text_lists_peers_and_supernodes(registered: EdgeAndClock) -> None:
    edge, clock = registered
    make_known(edge, clock)
    relayed = bytes.fromhex("02ee00000004")
    edge.receive_datagram(
        packet(
            relayed,
            MY_MAC,
            ipv4_frame(MY_MAC, relayed, "198.19.0.4", MY_IP),
            relayed=True,
            sock=Sock("198.18.1.4", 5004),
        ),
        SN1,
        clock(),
    )
    drain(edge)
    text = EdgeViews(edge).status_text(clock())
    forward, p2p = text.split("PEER TO PEER")
    assert "02:EE:00:00:00:04" in forward and "02:EE:00:00:00:02" in p2p
    assert "COMMUNITY 'edgetest'" in text and "198.18.0.1:7654" in text
    assert "pend_peers 1 | known_peers 1" in text


def test_send_failures_reported_by_the_driver_show_in_drops(registered: EdgeAndClock) -> None:
    edge, clock = registered
    edge.send_failed(3)
    edge.send_failed(1)
    assert {"reason": "send_failed", "count": 4} in EdgeViews(edge).mgmt_drops(clock())


def test_offload_hints_come_from_the_fast_path() -> None:
    edge, _ = registered_edge()
    assert edge.offload() == Offload(False, False)
    fast_edge, _ = registered_edge(fastpath=True)
    assert fast_edge.fastpath is not None
    assert fast_edge.offload() == Offload(fast_edge.fastpath.offload, fast_edge.fastpath.gro)
