"""-v shows pyn2n's decisions and keeps libraries quiet; -l names
that do not resolve are warned about once and retried, the others are used."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pyn2n.cli.common import DETAIL, setup_logging, trace_to_logging
from pyn2n.cli.edge import resolve_supernodes
from pyn2n.cli.watch import DecisionLog, Resolver


@pytest.fixture
def restore_levels() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("pyn2n")
    saved = root.level, ours.level
    yield
    root.setLevel(saved[0])
    ours.setLevel(saved[1])


@pytest.mark.parametrize(
    ("verbosity", "ours", "libraries"),
    [
        (2, logging.INFO, logging.WARNING),  # default
        (3, DETAIL, logging.WARNING),  # -v: pyn2n's decisions, libraries quiet
        (4, logging.DEBUG, logging.WARNING),  # -vv
        (5, logging.DEBUG, logging.DEBUG),  # -vvv: libraries too
        (1, logging.WARNING, logging.WARNING),  # -V
    ],
)
def test_verbosity_levels(restore_levels: None, verbosity: int, ours: int, libraries: int) -> None:
    setup_logging(verbosity)
    assert logging.getLogger("pyn2n.edge").getEffectiveLevel() == ours
    for lib in ("pyroute2", "asyncio", "pyroute2.netlink.nlsocket"):
        assert logging.getLogger(lib).getEffectiveLevel() == libraries
    trace_to_logging(2)  # management `verbose 2`
    assert logging.getLogger("pyn2n.edge").getEffectiveLevel() == logging.INFO


class FakeViews:
    def __init__(self) -> None:
        self.peers: list[dict[str, Any]] = []
        self.sns = [{"sockaddr": "198.18.1.2:7654", "current": 1, "selection": "load 0"}]
        self.last_super = 100

    def mgmt_peers(self, now: float) -> list[dict[str, Any]]:
        return self.peers

    def mgmt_supernodes(self, now: float) -> list[dict[str, Any]]:
        return self.sns

    def mgmt_timestamps(self, now: float) -> list[dict[str, Any]]:
        return [{"last_super": self.last_super}]


def peer(path: str, reason: str = "", sock: str = "198.18.2.2:5000") -> dict[str, Any]:
    return {
        "macaddr": "02:00:00:00:00:02",
        "desc": "e2",
        "ip4addr": "198.19.0.2",
        "path": path,
        "reason": reason,
        "sockaddr": sock,
        "rtt_ms": 0.5 if path == "direct" else None,
        "fastpath": "no",
    }


def test_decision_log(restore_levels: None, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("pyn2n.edge")
    views = FakeViews()
    decisions = DecisionLog(views, log)
    views.peers = [peer("relayed", "not yet registered")]
    with caplog.at_level(logging.INFO, "pyn2n.edge"):
        decisions.tick(0.0)
    assert not caplog.records  # default verbosity: nothing per tick
    caplog.clear()
    with caplog.at_level(logging.DEBUG, "pyn2n.edge"):
        decisions.tick(1.0)
        views.peers = [peer("direct")]
        decisions.tick(2.0)
        views.peers = [peer("relayed", "no direct traffic for 10 s")]
        views.sns = [
            {"sockaddr": "198.18.1.2:7654", "current": 0, "selection": "bad"},
            {"sockaddr": "198.18.1.3:7654", "current": 1, "selection": "load 1"},
        ]
        views.last_super = 120
        decisions.tick(3.0)
        views.peers = []
        decisions.tick(4.0)
    text = [r.getMessage() for r in caplog.records]
    assert text == [
        "peer 02:00:00:00:00:02 (e2, 198.19.0.2) appeared: relayed through the supernode: "
        "not yet registered",
        "peer 02:00:00:00:00:02 (e2, 198.19.0.2) now direct at 198.18.2.2:5000, rtt 0.5 ms",
        "peer 02:00:00:00:00:02 (e2, 198.19.0.2) now relayed through the supernode: "
        "no direct traffic for 10 s",
        "supernode 198.18.1.3:7654 learned (load 1)",
        "registered at 198.18.1.3:7654 (REGISTER_SUPER_ACK)",
        "peer 02:00:00:00:00:02 (e2, 198.19.0.2) left the peer table",
    ]


def test_resolve_supernodes_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def resolve(host: str, port: int) -> tuple[tuple[str, int] | None, str]:
        calls.append(host)
        if host == "nosuch.invalid":
            return None, "Name or service not known"
        return (host, port), ""

    with caplog.at_level(logging.WARNING, "pyn2n"):
        got, pending = resolve_supernodes(
            [("198.18.50.2", 7654), ("nosuch.invalid", 7654)], resolve=resolve
        )
    assert got == [("198.18.50.2", 7654)] and pending == [("nosuch.invalid", 7654)]
    assert [r.getMessage() for r in caplog.records] == [
        "-l nosuch.invalid:7654: cannot resolve 'nosuch.invalid' (Name or service not known); "
        "retrying every 5 s"
    ]


def test_resolve_supernodes_waits_for_dns(caplog: pytest.LogCaptureFixture) -> None:
    up = {"dns": 0}

    def resolve(host: str, port: int) -> tuple[tuple[str, int] | None, str]:
        if up["dns"] < 3:
            return None, "Temporary failure in name resolution"
        return ("198.18.1.2", port), ""

    def sleep(seconds: float) -> None:
        up["dns"] += 1

    with caplog.at_level(logging.INFO, "pyn2n"):
        got, pending = resolve_supernodes(
            [("sn.example", 7654), ("sn2.example", 7654)], resolve=resolve, sleep=sleep
        )
    assert got == [("198.18.1.2", 7654), ("198.18.1.2", 7654)] and pending == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # once per name, once "waiting"; not once per try
    assert "is DNS up?" in warnings[-1]


def test_resolver_retries_in_the_background() -> None:
    answers = iter([None, ("198.18.9.9", 7654)])
    woken: list[int] = []

    def resolve(host: str, port: int) -> tuple[tuple[str, int] | None, str]:
        return next(answers), "not yet"

    r = Resolver([("late.example", 7654)], lambda: woken.append(1), resolve=resolve)
    r.try_all()
    assert r.drain() == [] and r.pending
    r.try_all()
    assert r.drain() == [(("late.example", 7654), ("198.18.9.9", 7654))]
    assert not r.pending and woken == [1]


def test_edge_adds_a_supernode_later() -> None:
    import os

    from pyn2n.core.edge import Edge
    from pyn2n.core.edge_config import EdgeConfig

    node = Edge(
        EdgeConfig(community="c", supernodes=[("198.18.1.2", 7654)], ip="198.19.0.1"),
        rng=os.urandom,
        now=0.0,
    )
    node.add_supernode(("198.18.1.3", 7654))
    node.add_supernode(("198.18.1.3", 7654))
    assert [sn.addr for sn in node.sns] == [("198.18.1.2", 7654), ("198.18.1.3", 7654)]
