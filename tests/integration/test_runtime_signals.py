"""What the runtime promises on signals and bad flags: SIGTERM unregisters the edge,
removes its TAP and exits 0; SIGHUP makes the supernode log its registrations; a bad flag
exits 2 with a line naming it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.lab import Lab

PYN2N = [sys.executable, "-m", "pyn2n.cli.main"]


def _wait(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _sn_edges(lab: Lab) -> list[dict[str, object]]:
    proc = lab.run(
        "sn", [*PYN2N, "ctl", "--json", "--timeout", "0.5", "-t", "5645", "edges"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return json.loads(proc.stdout) if proc.returncode == 0 else []


def _has_link(lab: Lab, node: str, name: str) -> bool:
    proc = lab.run(node, ["ip", "-j", "link", "show"], capture_output=True, text=True, check=True)
    return any(link["ifname"] == name for link in json.loads(proc.stdout))


@pytest.mark.root
def test_sigterm_unregisters_and_removes_the_tap_sighup_dumps(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(1)
    sn_log = tmp_path / "sn.log"
    sn = lab.spawn("sn", [*PYN2N, "supernode", "-p", "7654"], log=sn_log)
    edge = lab.spawn(
        "e1",
        [*PYN2N, "edge", "-c", "sig", "-l", lab.supernode_endpoint(), "-a", lab.overlay_cidr("e1")],
        log=tmp_path / "e1.log",
    )
    _wait(lambda: len(_sn_edges(lab)) == 1, "the edge's registration")
    mac = str(_sn_edges(lab)[0]["macaddr"])
    assert _has_link(lab, "e1", "edge0")

    sn.send_signal(signal.SIGHUP)
    _wait(lambda: f"[MAC: {mac}]" in sn_log.read_text(), "the SIGHUP registration dump")
    assert sn.poll() is None  # SIGHUP does not stop it

    edge.send_signal(signal.SIGTERM)
    assert edge.wait(10) == 0
    assert not _has_link(lab, "e1", "edge0")
    # UNREGISTER_SUPER: gone at once, not after the 60 s purge
    _wait(lambda: _sn_edges(lab) == [], "the edge's unregistration", timeout=3.0)

    sn.send_signal(signal.SIGINT)
    assert sn.wait(10) == 0


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["edge", "-c", "net"], "-l HOST:PORT"),
        (["edge", "-c", "net", "-l", "h:1", "--bogus"], "unrecognized arguments: --bogus"),
        (["supernode", "-p", "x"], "-p 'x'"),
        (["edge", "-c", "net", "-l", "h:1", "-A3"], "-k KEY"),
    ],
)
def test_bad_flags_exit_2_naming_them(argv: list[str], words: str) -> None:
    proc = subprocess.run([*PYN2N, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and words in proc.stderr
