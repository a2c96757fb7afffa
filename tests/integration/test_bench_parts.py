"""The bench's parts that need no lab: sizes, path selection, medians and tables, CPU
accounting, and the measuring peers over loopback."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from pyn2n.bench import report
from pyn2n.bench.experiments import Settings, select_experiments
from pyn2n.bench.paths import all_paths, select_paths
from pyn2n.bench.run import parse_size
from pyn2n.bench.system import BenchError, CpuMeter, process_ticks

PEERS = [sys.executable, "-m", "pyn2n.bench.peers"]


def test_parse_size() -> None:
    assert parse_size("1G") == 1_000_000_000
    assert parse_size("50MB") == 50_000_000
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("64KiB") == 65536
    assert parse_size("4096") == 4096
    assert parse_size("1.5k") == 1500
    for bad in ("", "ten", "1X", "0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_select_paths_by_name_and_family() -> None:
    paths = all_paths("/nonexistent")
    assert [p.name for p in select_paths(paths, "eth,ovpn")] == [
        "eth",
        "ovpn-none",
        "ovpn-lzo",
        "ovpn-aes",
    ]
    assert {p.name for p in select_paths(paths, "n2n-aes,vxlan")} == {"n2n-aes", "vxlan"}
    assert len(select_paths(paths, "all")) == len(paths)
    with pytest.raises(BenchError, match="unknown path wireguard"):
        select_paths(paths, "eth,wireguard")
    n2n = next(p for p in paths if p.name == "n2n-null")
    assert "/nonexistent/edge" in (n2n.unavailable() or "")


def test_paths_have_distinct_subnets_and_interfaces() -> None:
    by_family: dict[str, tuple[int, str | None]] = {}
    for p in all_paths(None):
        by_family.setdefault(p.family, (p.subnet, p.interface))
        assert by_family[p.family] == (p.subnet, p.interface)
        assert p.interface is None or len(p.interface) <= 15
    overlays = {f: v for f, v in by_family.items() if f != "eth"}
    assert len({s for s, _ in overlays.values()}) == len(overlays)
    assert len({i for _, i in overlays.values()}) == len(overlays)


def test_select_experiments() -> None:
    assert [e.name for e in select_experiments("latency,transfer")] == ["transfer", "latency"]
    with pytest.raises(BenchError, match="unknown experiment"):
        select_experiments("speedtest")


def test_size_sweep_counts_are_clamped() -> None:
    s = Settings()
    assert s.size_count(64) == s.size_max_count
    assert s.size_count(16384) == s.size_bytes // 16384
    assert s.size_count(65536) == s.size_min_count
    assert s.size_count(1 << 30) == s.size_min_count


def _run_header(repeats: int) -> dict[str, Any]:
    """What every results.json starts with (a made-up run on eth, pyn2n-null the reference)."""
    return {
        "started": "2026-01-01T00:00:00+00:00",
        "seconds": 60.0,
        "command": ["pyn2n", "bench"],
        "machine": {"cpus": 2, "kernel": "6", "python": "3.11", "loadavg": "0 0 0"},
        "settings": Settings.quick().to_dict(),
        "repeats": repeats,
        "underlay": "eth",
        "reference": "pyn2n-null",
    }


def _results() -> dict[str, Any]:
    """Three repeats over eth, pyn2n-null and a point-to-point path that failed once."""
    metrics = [{"key": "mb_s", "label": "MB/s", "higher_is_better": True}]
    mcast = [{"key": "delivered_pct", "label": "% delivered", "higher_is_better": True}]
    runs: list[dict[str, Any]] = []

    def run(path: str, exp: str, status: str, value: float | None = None, err: str = "") -> None:
        figures = (
            {}
            if value is None
            else {metrics[0]["key"] if exp == "transfer" else "delivered_pct": value}
        )
        cpu = {"overlay_pct": None if path == "eth" else 50.0, "machine_pct": 120.0}
        runs.append(
            {
                "path": path,
                "experiment": exp,
                "status": status,
                "figures": figures,
                "cpu": cpu if status == "ok" else None,
                "error": err or None,
            }
        )

    for v in (100.0, 500.0, 300.0):
        run("eth", "transfer", "ok", v)
        run("eth", "multicast", "skipped", err="no multicast")
    for v in (10.0, 30.0, 20.0):
        run("pyn2n-null", "transfer", "ok", v)
        run("pyn2n-null", "multicast", "ok", 99.0)
    run("ovpn-aes", "transfer", "ok", 40.0)
    run("ovpn-aes", "transfer", "error", err="timed out")
    for _ in range(3):
        run("ovpn-aes", "multicast", "skipped", err="point-to-point")
    path = {"description": "d", "status": "ok", "reason": None, "mtu": 1500}
    return {
        **_run_header(repeats=3),
        "paths": {
            "eth": {**path, "label": "eth", "family": "eth"},
            "pyn2n-null": {**path, "label": "pyn2n null", "family": "pyn2n"},
            "ovpn-aes": {**path, "label": "OpenVPN AES", "family": "ovpn"},
            "tinc": {
                **path,
                "label": "tinc",
                "family": "tinc",
                "status": "skipped",
                "reason": "tinc (tincd) is not installed",
            },
        },
        "experiments": {
            "transfer": {"title": "Large transfer", "metrics": metrics},
            "multicast": {"title": "Multicast", "metrics": mcast},
        },
        "runs": runs,
    }


def test_summary_takes_medians_of_successful_runs() -> None:
    summary = report.summarise(_results())
    eth = summary["eth"]["transfer"]
    assert eth["metrics"]["mb_s"] == {"median": 300.0, "min": 100.0, "max": 500.0, "n": 3}
    assert eth["overlay_cpu_pct"] is None  # a kernel path has no overlay process
    assert summary["pyn2n-null"]["transfer"]["overlay_cpu_pct"] == 50.0
    ovpn = summary["ovpn-aes"]["transfer"]
    assert ovpn["metrics"]["mb_s"]["n"] == 1
    assert ovpn["errors"] == ["timed out"]
    assert summary["eth"]["multicast"]["status"] == "skipped"
    assert summary["eth"]["multicast"]["reason"] == "no multicast"


def test_markdown_tables_and_ratios(tmp_path: Any) -> None:
    results = _results()
    results["summary"] = report.summarise(results)
    md = report.markdown(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines()}
    # transfer section: figure, ÷ eth, ÷ pyn2n-null
    transfer = md.split("## Large transfer")[1].split("##")[0]
    assert "| pyn2n null | 20.0 | 0.07 | 1.00 | 50.0 | 120 |" in transfer
    assert "| eth | 300 | 1.00 | 15.00 | — | 120 |" in transfer
    assert "| OpenVPN AES | 40.0 | 0.13 | 2.00 |" in transfer
    assert "OpenVPN AES failed: timed out" in transfer
    # eth has no multicast figure, so that table has no ÷ eth column
    mcast = md.split("## Multicast")[1]
    assert "÷ eth" not in mcast.split("\n\n")[2]
    assert "| eth | n/a |" in mcast
    # a skipped path is listed with its reason, not in the tables
    assert "skipped: tinc (tincd) is not installed" in rows["tinc (`tinc`)"]
    assert "| tinc |" not in md


def test_write_outputs_makes_json_markdown_and_pngs(tmp_path: Any) -> None:
    results = _results()
    files = report.write_outputs(results, tmp_path)
    names = {f.name for f in files}
    assert {"results.json", "results.md", "transfer.png", "multicast.png"} <= names
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = json.loads((tmp_path / "results.json").read_text())
    assert again["summary"]["pyn2n-null"]["transfer"]["metrics"]["mb_s"]["median"] == 20.0


def test_cpu_meter_sees_a_busy_process() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        meter = CpuMeter({"busy": [busy.pid], "gone": [2**22 + 12345]})
        meter.start()
        time.sleep(0.5)
        sample = meter.stop()
    finally:
        busy.kill()
        busy.wait()
    assert sample.processes["busy"] > 20  # a spinning process on a (noisy) core
    assert sample.processes["gone"] == 0
    assert sample.overlay_pct == sum(sample.processes.values())
    assert 0 < sample.machine_pct <= 100 * (os.cpu_count() or 1) + 1
    assert process_ticks(busy.pid) is None  # reaped


def _spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([*PEERS, *(str(a) for a in args)], stdout=subprocess.PIPE, text=True)


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return dict(json.loads(out.strip().splitlines()[-1]))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_peers_count_every_byte() -> None:
    port = _free_port()
    sink = _spawn("tcp-sink", port)
    _ready(sink)
    nbytes = 3 * (1 << 20) + 12345  # not a multiple of the 1 MiB block
    subprocess.run(
        [*PEERS, "tcp-source", "127.0.0.1", str(port), str(nbytes)], check=True, timeout=30
    )
    res = _result(sink)
    assert res["total"] == nbytes
    assert 0 < res["bytes"] <= nbytes
    assert res["seconds"] > 0


def test_zmq_peers_time_count_minus_one_messages() -> None:
    port = _free_port()
    local = _spawn("zmq-local-thr", f"tcp://127.0.0.1:{port}", 512, 2000)
    _ready(local)
    subprocess.run(
        [*PEERS, "zmq-remote-thr", f"tcp://127.0.0.1:{port}", "512", "2000"], check=True, timeout=30
    )
    res = _result(local)
    assert res == {"messages": 1999, "size": 512, "seconds": res["seconds"]}
    assert res["seconds"] > 0


def test_zmq_req_rep_times_every_round_trip() -> None:
    port = _free_port()
    rep = _spawn("zmq-rep", f"tcp://127.0.0.1:{port}", 64, 50)
    _ready(rep)
    req = _spawn("zmq-req", f"tcp://127.0.0.1:{port}", 64, 50)
    res = _result(req)
    rep.wait(10)
    assert len(res["rtt_us"]) == 50
    assert all(r > 0 for r in res["rtt_us"])


def test_zmq_req_stops_at_its_deadline_and_ends_the_replier() -> None:
    port = _free_port()
    rep = _spawn("zmq-rep", f"tcp://127.0.0.1:{port}", 64, 10_000_000)
    _ready(rep)
    t0 = time.monotonic()
    req = _spawn("zmq-req", f"tcp://127.0.0.1:{port}", 64, 10_000_000, 0.3)
    res = _result(req)
    assert rep.wait(10) == 0  # the empty message ended it long before its count
    assert time.monotonic() - t0 < 15
    assert 0 < len(res["rtt_us"]) < 10_000_000


def _latency_results() -> dict[str, Any]:
    """One latency run per path: eth, pyn2n-null (the reference) and VXLAN."""
    from pyn2n.bench.experiments import LATENCY_METRICS

    figures = {
        "eth": (0.05, 0.1, 0.06, 0.2, 40.0, 80.0, 45.0, 90.0),
        "pyn2n-null": (0.5, 1.0, 3.0, 9.0, 200.0, 400.0, 2200.0, 5000.0),
        "vxlan": (0.08, 0.2, 0.05, 0.3, 50.0, 100.0, 60.0, 150.0),
    }
    keys = [m.key for m in LATENCY_METRICS]
    path = {"description": "d", "status": "ok", "reason": None, "mtu": 1500}
    return {
        **_run_header(repeats=1),
        "paths": {name: {**path, "label": name, "family": name.split("-")[0]} for name in figures},
        "experiments": {
            "latency": {
                "title": "Latency",
                "metrics": [
                    {"key": m.key, "label": m.label, "higher_is_better": m.higher_is_better}
                    for m in LATENCY_METRICS
                ],
            }
        },
        "runs": [
            {
                "path": name,
                "experiment": "latency",
                "status": "ok",
                "figures": dict(zip(keys, [*values, 900.0], strict=True)),
                "cpu": {"overlay_pct": None, "machine_pct": 100.0},
                "error": None,
            }
            for name, values in figures.items()
        ],
    }


def test_latency_tables_show_percentiles_rise_and_ratios(tmp_path: Any) -> None:
    results = _latency_results()
    files = report.write_outputs(results, tmp_path)
    assert "latency.png" in {f.name for f in files}
    md = (tmp_path / "results.md").read_text()
    ping = md.split("### ping")[1].split("###")[0]
    assert "| path | p50 ms | p99 ms | p50 loaded ms | p99 loaded ms | rise ms |" in ping
    # figures, the rise (loaded p50 - idle p50), then ÷ eth / ÷ pyn2n-null per figure
    assert "| pyn2n-null | 0.5 | 1.00 | 3.00 | 9.00 | +2.50 | 10.00 / 1.00 |" in ping
    assert "| vxlan | 0.08 | 0.2 | 0.05 | 0.3 | −0.03 | 1.60 / 0.16 |" in ping
    zmq = md.split("### ZeroMQ REQ/REP")[1]
    assert "| pyn2n-null | 200 | 400 | 2,200 | 5,000 | +2,000 |" in zmq
    assert "| vxlan | 50.0 | 100 | 60.0 | 150 | +10.0 |" in zmq
    assert "| eth | 900 |" in zmq  # the bulk flow's rate


@pytest.mark.root
@pytest.mark.slow
def test_latency_experiment_idle_and_loaded_on_eth(tmp_path: Any) -> None:
    from pyn2n.bench import run

    out = tmp_path / "bench"
    argv = ["--quick", "--no-install", "--paths", "eth", "--experiments", "latency"]
    assert run.main([*argv, "--load-seconds", "4", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    (only,) = results["runs"]
    assert only["status"] == "ok", only["error"]
    f, d = only["figures"], only["details"]
    for kind, unit in (("ping", "ms"), ("zmq", "us")):
        p50 = f["ping_ms"] if kind == "ping" else f["zmq_rtt_us"]
        p99 = f[f"{kind}_p99_{unit}"]
        loaded = f["ping_load_ms"] if kind == "ping" else f["zmq_load_us"]
        assert p99 >= p50 > 0, (kind, f)
        assert f[f"{kind}_load_p99_{unit}"] >= loaded > 0, (kind, f)
        assert d[f"{kind}_rise_{unit}"] == pytest.approx(loaded - p50)
    assert f["load_mbit_s"] > 0  # the bulk flow ran under the loaded measurement
    assert d["ping_replies"] == d["ping_sent"] and d["ping_load_replies"] > 0
    assert 0 < d["zmq_load_count"] <= d["zmq_count"]
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "### ping" in (out / "results.md").read_text()
