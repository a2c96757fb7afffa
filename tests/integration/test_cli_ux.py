"""The operator's side as real processes in lab namespaces: a failed community
reload makes `ctl` exit 1 with the reason; an unresolvable `-l` is warned about once and the
edge runs on the others; Ctrl-C while waiting for DNS exits quietly; a busy TAP names `-d`;
`-v` logs pyn2n's decisions (peer paths and why) and no library chatter."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.lab import Lab

PYN2N = [sys.executable, "-m", "pyn2n.cli.main"]
pytestmark = pytest.mark.root


def _wait(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _ctl(lab: Lab, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return lab.run(
        node, [*PYN2N, "ctl", "--timeout", "1", *argv], capture_output=True, text=True, timeout=30
    )


def _sn_edges(lab: Lab) -> list[dict[str, object]]:
    proc = _ctl(lab, "sn", "--json", "-t", "5645", "edges")
    return json.loads(proc.stdout) if proc.returncode == 0 else []


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(10)


def test_failed_reload_exits_non_zero_with_the_reason(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(1)
    communities = tmp_path / "communities.list"
    communities.write_text("mynet\n")
    sn = lab.spawn(
        "sn", [*PYN2N, "supernode", "-p", "7654", "-c", str(communities)], log=tmp_path / "sn.log"
    )
    _wait(lambda: _ctl(lab, "sn", "-t", "5645", "communities").returncode == 0, "the supernode")

    communities.write_text("mynet\nother 198.19.0.0/33\n")
    bad = _ctl(lab, "sn", "-t", "5645", "-w", "reload_communities")
    assert bad.returncode == 1, bad
    assert bad.stderr.strip() == (
        f"error: reload_communities failed: -c {communities}: line 2: prefix /33 must be 1..30 "
        "for auto-IP; the old communities stay"
    )
    communities.write_text("mynet\nother\n")
    good = _ctl(lab, "sn", "-t", "5645", "-w", "reload_communities")
    assert good.returncode == 0 and good.stderr == "", good
    info = _ctl(lab, "sn", "-t", "5645", "info")
    assert info.returncode == 1
    assert info.stderr.startswith("error: the supernode on port 5645 has no method 'info'; it has:")
    assert _stop(sn) == 0


def test_unresolvable_supernode_name_is_warned_once_and_the_edge_runs(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(1)
    sn = lab.spawn("sn", [*PYN2N, "supernode", "-p", "7654"], log=tmp_path / "sn.log")
    log = tmp_path / "e1.log"
    edge = lab.spawn(
        "e1",
        [
            *PYN2N, "edge", "-c", "dns", "-l", lab.supernode_endpoint(),
            "-l", "nosuch.invalid:7654", "-a", lab.overlay_cidr("e1"),
        ],
        log=log,
    )  # fmt: skip
    # the name is looked up once before the edge starts (a DNS timeout where none answers)
    _wait(lambda: len(_sn_edges(lab)) == 1, "the edge's registration", timeout=60)
    time.sleep(6)  # the name is retried every 5 s: still one warning
    text = log.read_text()
    assert edge.poll() is None, text
    assert text.count("cannot resolve 'nosuch.invalid'") == 1, text
    assert "-l nosuch.invalid:7654: cannot resolve" in text and "retrying every 5 s" in text
    assert _stop(edge) == 0 and _stop(sn) == 0


def test_ctrl_c_while_waiting_for_dns_is_quiet(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(1)
    log = tmp_path / "e1.log"
    edge = lab.spawn(
        "e1", [*PYN2N, "edge", "-c", "dns", "-l", "nosuch.invalid:7654"], log=log
    )  # fmt: skip
    _wait(lambda: "is DNS up?" in log.read_text(), "the edge to wait for DNS", timeout=60)
    assert edge.poll() is None  # no name resolves: the edge waits, it does not exit
    edge.send_signal(signal.SIGINT)
    assert edge.wait(30) == 130
    text = log.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text


def test_busy_tap_names_another_d(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(1)
    sn = lab.spawn("sn", [*PYN2N, "supernode", "-p", "7654"], log=tmp_path / "sn.log")
    argv = [*PYN2N, "edge", "-c", "tap", "-l", lab.supernode_endpoint(), "-d", "n2n0"]
    first = lab.spawn("e1", [*argv, "-a", lab.overlay_cidr("e1")], log=tmp_path / "e1.log")
    _wait(lambda: len(_sn_edges(lab)) == 1, "the first edge")
    second = lab.run("e1", [*argv, "-t", "5650"], capture_output=True, text=True, timeout=30)
    assert second.returncode == 2, second
    assert second.stderr.strip() == (
        "error: -d n2n0: the TAP device is busy (another edge or program has it open); "
        "give another name with -d"
    )
    assert _stop(first) == 0 and _stop(sn) == 0


def test_verbose_logs_decisions_not_libraries(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(2)
    sn = lab.spawn("sn", [*PYN2N, "supernode", "-p", "7654"], log=tmp_path / "sn.log")
    edges = {}
    for name in ("e1", "e2"):
        edges[name] = lab.spawn(
            name,
            [
                *PYN2N, "edge", "-c", "verbose", "-l", lab.supernode_endpoint(),
                "-a", lab.overlay_cidr(name), "-I", name, "-v",
            ],
            log=tmp_path / f"{name}.log",
        )  # fmt: skip
    log = tmp_path / "e1.log"
    _wait(lambda: len(_sn_edges(lab)) == 2, "both registrations")
    lab.ping("e1", lab.overlay_ip("e2"), count=3)
    # "peer MAC (e2, 198.19.0.2) appeared: direct at IP:PORT, rtt …" (or "now direct at …")
    _wait(
        lambda: (
            re.search(r"\(e2, [\d.]+\) (appeared: |now )direct at ", log.read_text()) is not None
        ),
        "-v lines",
    )
    text = log.read_text()
    assert "DETAIL pyn2n.edge: peer " in text
    # no library chatter at -v: every line is pyn2n's
    foreign = [line for line in text.splitlines() if " pyn2n." not in line and line.strip()]
    assert not foreign, foreign
    assert all(_stop(p) == 0 for p in edges.values()) and _stop(sn) == 0
