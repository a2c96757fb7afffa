"""An IPv6 underlay: edges that register over IPv6, exchange IPv6 sockets and talk peer to peer
over IPv6 (fast path included) on a lab with no IPv4 underlay at all; and a dual-stack
supernode serving a community whose edges use IPv4 and IPv6."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pyn2n.lab import Lab
from pyn2n.lab.demo import MCAST_COUNT, MCAST_GROUP6, run_on
from pyn2n.lab.overlay import Overlay

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]


def ipv4_addresses(lab: Lab, node: str) -> str:
    out = lab.run(node, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True)
    return out.stdout.decode().strip()


def fast_row(ov: Overlay, a: str, b: str) -> dict[str, Any] | None:
    row = ov.peer_row(a, b)
    return row if row is not None and str(row["fastpath"]).startswith("on") else None


def test_edges_talk_directly_over_an_ipv6_only_underlay(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(3, ipv6=True)
    assert ipv4_addresses(lab, "e1") == "" and ipv4_addresses(lab, "sn") == ""
    ov = Overlay(lab, log_dir=tmp_path).start()
    ov.wait_registered()
    ov.wait_mesh()
    for a, b in (("e1", "e2"), ("e2", "e3"), ("e3", "e1")):
        ov.wait_path(a, b, "direct")
        row = ov.wait(
            lambda a=a, b=b: fast_row(ov, a, b),
            f"{a}'s fast path to {b}",  # type: ignore[misc]
        )
        assert str(row["sockaddr"]).startswith(f"[{lab.public_ip(b)}]:"), row
    edges = {str(r["desc"]): str(r["sockaddr"]) for r in ov.ctl("sn", "edges")}
    assert edges["e1"].startswith(f"[{lab.public_ip('e1')}]:"), edges
    assert ov.ping("e1", "e3", count=5) == 5


def test_a_dual_stack_supernode_joins_ipv4_and_ipv6_edges(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(3, dual=True)
    ov = Overlay(lab, log_dir=tmp_path)
    ov.start_supernode()
    v4 = lab.supernode_endpoint("sn")
    v6 = f"[{lab.underlay_ip6('sn')}]:{ov.port}"
    for edge, endpoint in (("e1", v6), ("e2", v4), ("e3", v6)):
        argv = ov.edge_argv(edge)
        argv[argv.index("-l") + 1] = endpoint
        ov._spawn(edge, argv)
    ov.wait_registered()
    edges = {str(r["desc"]): str(r["sockaddr"]) for r in ov.ctl("sn", "edges")}
    assert edges["e1"].startswith(f"[{lab.underlay_ip6('e1')}]:"), edges
    assert edges["e2"].startswith(f"{lab.public_ip('e2')}:"), edges
    ov.wait_mesh()
    ov.wait_path("e1", "e3", "direct")
    assert str(ov.peer_row("e1", "e3")["sockaddr"]).startswith("[2001:db8:")  # type: ignore[index]
    assert ov.ping("e2", "e1", count=3) == 3
    assert ov.ping("e2", "e3", count=3) == 3


def test_the_demo_holds_on_an_ipv6_only_underlay(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(4, standby=True, ipv6=True)
    out = io.StringIO()
    report = run_on(lab, Console(file=out, width=120), log_dir=tmp_path)
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    assert report.ok and len(report.checks) == 10, f"{failed}\n{out.getvalue()}"
    # the underlay control stream was IPv6 multicast, seen by the router and routed nowhere
    sender, *underlay_rx = report.mcast["underlay"]
    assert sender["group"] == MCAST_GROUP6 and sender["sent"] == MCAST_COUNT
    assert {r["node"]: r["received"] for r in underlay_rx}["r"] == MCAST_COUNT
