"""Smoke test of `pyn2n bench --quick`: on a real lab, with the paths this machine can run,
it writes its files and every figure is present and positive (no speed is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyn2n.bench import run
from pyn2n.bench.paths import all_paths, select_paths
from pyn2n.bench.report import PLOTS
from pyn2n.bench.system import BenchError, ensure_packages
from pyn2n.lab.system import ns_exists

pytestmark = [pytest.mark.root, pytest.mark.slow]

# One path per family, each only if it can run here (OpenVPN and tinc are installed first).
CANDIDATES = "eth,vxlan,ovpn-none,tinc,pyn2n-null,pyn2n-fast-null,n2n-null"
ALWAYS = {"eth", "vxlan"}  # kernel only: these must run wherever a lab can


def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    try:
        ensure_packages(["openvpn", "tinc", "iperf3"])
    except BenchError as e:
        print(f"bench packages: {e}")  # the paths that need them are then skipped
    runnable = [p.name for p in select_paths(all_paths(), CANDIDATES) if p.unavailable() is None]
    assert set(runnable) >= ALWAYS
    out = tmp_path / "bench"

    code = run.main(["--quick", "--out", str(out), "--paths", ",".join(runnable)])

    results = json.loads((out / "results.json").read_text())
    errors = [
        f"{r['path']} {r['experiment']}: {r['error']}"
        for r in results["runs"]
        if r["status"] == "error"
    ]
    assert not errors, errors
    assert code == 0
    for name in ("results.md", *PLOTS.values()):
        data = (out / name).read_bytes()
        assert data, name
        if name.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n", name

    assert sorted(results["paths"]) == sorted(runnable)
    experiments = results["experiments"]
    assert set(experiments) == {
        "transfer",
        "zmq_thr",
        "zmq_sizes",
        "latency",
        "multicast",
        "iperf_tcp",
        "iperf_udp",
    }
    md = (out / "results.md").read_text()
    for name, path in results["paths"].items():
        assert path["status"] == "ok", (name, path["reason"])
        assert f"| {path['label']} |" in md
        for exp, info in experiments.items():
            entry = results["summary"][name][exp]
            if exp == "multicast" and name in ("eth", "ovpn-none"):
                assert entry["status"] == "skipped" and entry["reason"]
                continue
            assert entry["status"] == "ok", (name, exp, entry)
            for metric in info["metrics"]:
                figure = entry["metrics"][metric["key"]]["median"]
                assert figure > 0, (name, exp, metric["key"])
            # the overlay's CPU is measured for paths with processes, absent for kernel ones
            assert (entry["overlay_cpu_pct"] is None) == (name in ALWAYS), (name, exp)
    assert len(results["runs"]) == len(runnable) * len(experiments)
    # the lab is gone with everything in it
    assert results["lab"]["namespaces"]
    assert not [ns for ns in results["lab"]["namespaces"] if ns_exists(ns)]
