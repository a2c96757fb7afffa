"""pyn2n as real processes on lab clouds: what the demo shows (mesh, direct paths, multicast over
the overlay but not the underlay, a silent supernode, failover measured in the silent and the
ICMP case, a late edge joining through the remaining supernode), hole punching through NAT, relaying when the direct path is blocked, and `pyn2n lab
up|status|down` with the overlay."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from pyn2n.lab import Lab, destroy, read_state
from pyn2n.lab.demo import CRASH_PINGS, MCAST_COUNT, VRRP_MAX_OUTAGE, run_on
from pyn2n.lab.overlay import Overlay, ctl
from pyn2n.lab.system import ns_exists, pids_in

pytestmark = pytest.mark.root


def test_demo_claims_hold(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(4, standby=True)
    out = io.StringIO()
    report = run_on(lab, Console(file=out, width=120), log_dir=tmp_path)
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    assert report.ok and len(report.checks) == 10, f"{failed}\n{out.getvalue()}"

    # the raw numbers behind the demo's checks
    sender, *overlay_rx = report.mcast["overlay"]
    assert sender["sent"] == MCAST_COUNT
    assert {r["node"] for r in overlay_rx} == {"e2", "e3"}
    for r in overlay_rx:
        assert r["distinct"] == MCAST_COUNT and r["duplicates"] == 0
        assert r["sources"] == {lab.overlay_ip("e1"): MCAST_COUNT}
    sender, *underlay_rx = report.mcast["underlay"]
    assert sender["sent"] == MCAST_COUNT and sender["ttl"] > 1
    assert {r["node"]: r["received"] for r in underlay_rx} == {"e2": 0, "e3": 0, "r": MCAST_COUNT}
    # pruning: the subscriber got the whole stream, the other edge's TAP none of it
    prune: dict = report.prune  # type: ignore[type-arg]
    assert prune["sent"] == prune["recv:e2"]["distinct"] == 200 and prune["cap:e3"]["frames"] == 0
    assert len(report.crash_pings) == 6
    assert all(n == CRASH_PINGS for n in report.crash_pings.values()), report.crash_pings
    # failover is shown with its measured time, the silent case and the ICMP case apart; the
    # supernode that goes silent is the one most edges used, so at least one edge really moves
    silent, icmp = report.failover["silent"], report.failover["icmp"]
    assert 0 < silent < 45 and 0 < icmp < 45, report.failover
    text = " ".join(out.getvalue().split())  # rich wraps long lines
    m = re.search(r"failover, silent supernode \([\d.]+ s\): ((?:e\d )+)moved to (sn2?) ", text)
    assert m, text
    up = m.group(2)
    down = "sn" if up == "sn2" else "sn2"
    assert f"{silent:.1f} s after {down} went silent" in text and "no ICMP" in text
    assert f"ICMP port unreachable): e1 e2 e3 moved to {down} {icmp:.1f} s later" in text
    # the supernode that stayed up is gone and the late edge sits on the other one
    assert not pids_in([lab.ns(up)])
    assert f"e4 started now, registered at {down}," in text
    # VRRP: the VIP moved from e1 to e2 and e3's pings found it again
    assert 0 <= report.vrrp["outage"] <= VRRP_MAX_OUTAGE and report.vrrp["answered"] > 0
    assert f"answered e3 from e2 after {report.vrrp['outage']:.1f} s" in text


def test_hole_punching_through_nat_and_relay_when_blocked(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    # e1 and e2 behind their own MASQUERADE (port-restricted cone); e1 and e3 cannot reach each
    # other at all, so their traffic has to go through the supernode
    lab = make_lab(3, nat={1, 2})
    lab.block("e1", "e3")
    ov = Overlay(lab, log_dir=tmp_path).start()
    ov.wait_registered()
    ov.wait_mesh()

    for a, b in (("e1", "e2"), ("e2", "e1"), ("e2", "e3"), ("e3", "e2")):
        ov.wait_path(a, b, "direct")
    row = ov.peer_row("e1", "e2")
    assert row is not None
    # e1 talks straight to e2's NAT (its public address), not to the supernode
    assert str(row["sockaddr"]).split(":")[0] == lab.public_ip("e2") != lab.underlay_ip("e2")

    forwarded = sn_forwarded(lab)
    assert ov.ping("e1", "e3", count=5, interval=0.1) == 5
    assert ov.ping("e3", "e1", count=5, interval=0.1) == 5
    assert ov.path("e1", "e3") == "relayed" and ov.path("e3", "e1") == "relayed"
    assert sn_forwarded(lab) >= forwarded + 20  # 10 echo requests and 10 replies, relayed
    ov.check_alive()

    # SIGTERM: the edge unregisters (UNREGISTER_SUPER) and exits 0, the supernode forgets it
    assert ov.stop("e3") == 0
    assert "e3" not in ov.registered("sn")
    assert ov.stop_all() == {"sn": 0, "e1": 0, "e2": 0}


def sn_forwarded(lab: Lab) -> int:
    stats = {r["type"]: r for r in ctl(lab, "sn", "packetstats")}
    return int(stats["forward"]["tx_pkt"])


def test_lab_up_runs_the_overlay_until_down(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pyn2n.cli.main", "lab", "--state-dir", str(tmp_path)]
        env = {**os.environ, "COLUMNS": "400"}  # rich: no wrapped table cells
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=90, check=False, env=env
        )

    try:
        up = cli("up", "--edges", "2", "--standby", "--edge-args", "-A4 -k secret")
        assert up.returncode == 0, up.stdout + up.stderr
        [state_file] = tmp_path.glob("lab-*.json")
        state = read_state(tmp_path, state_file.stem[4:])
        nodes = sorted(str(p["node"]) for p in state.processes)
        assert nodes == ["e1", "e2", "sn", "sn2"]
        edge_argv = next(p["argv"] for p in state.processes if p["node"] == "e1")
        assert isinstance(edge_argv, list) and "-A4" in edge_argv and "secret" in edge_argv
        logs = tmp_path / f"lab-{state.run_id}.logs"
        assert {p.name for p in logs.glob("*.log")} == {"e1.log", "e2.log", "sn.log", "sn2.log"}
        running = pids_in(state.owned_namespaces())
        assert {int(str(p["pid"])) for p in state.processes} <= set(running)

        # still up after `up` returned: e1 pings e2 over the overlay
        e1, e2 = state.plan.host("e1"), state.plan.host("e2")
        ping = subprocess.run(
            ["ip", "netns", "exec", e1.ns, "ping", "-c1", "-W2", str(e2.overlay_ip)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert ping.returncode == 0
        peers = subprocess.run(
            ["ip", "netns", "exec", e1.ns, sys.executable, "-m", "pyn2n.cli.main", "ctl",
             "--json", "peers"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        assert [r["desc"] for r in json.loads(peers.stdout)] == ["e2"]

        status = cli("status")
        assert status.returncode == 0
        assert "gone" not in status.stdout
        assert "peers 1 direct, 0 relayed" in status.stdout  # e1 and e2, from `peers`
        assert "federation peers: 1" in status.stdout  # sn and sn2, from `edges`

        down = cli("down", state.run_id)
        assert down.returncode == 0, down.stdout
        assert not any(ns_exists(ns) for ns in state.plan.namespaces)
        assert not pids_in(state.owned_namespaces())
        assert not logs.exists()

        bare = cli("up", "--bare", "--edges", "1")
        assert bare.returncode == 0, bare.stdout + bare.stderr
        [state_file] = tmp_path.glob("lab-*.json")
        assert read_state(tmp_path, state_file.stem[4:]).processes == []
    finally:
        for state_file in tmp_path.glob("lab-*.json"):
            destroy(read_state(tmp_path, state_file.stem[4:]).owned_namespaces())
