"""n2n's own management integration scripts, replayed against pyn2n (spec §8).

n2n's `scripts/test_integration_supernode.sh` and `test_integration_edge.sh` start a supernode
(and an edge with `-l localhost:7654 -c test`), then run `n2n-ctl` for communities, packetstats,
edges, verbose (read, then write 1), stop (read, then write). Their recorded outputs are in
tests/vectors/*.expected; here the same sequence runs against pyn2n through
`pyn2n ctl --json`, and every JSON answer must equal n2n's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from pyn2n.lab import Lab
from tests import vectors

pytestmark = pytest.mark.root
PYN2N = [sys.executable, "-m", "pyn2n.cli.main"]


def expected_answers(name: str) -> list[Any]:
    """The JSON answers in an n2n integration output, in order (other lines are log noise)."""
    answers = []
    for section in (vectors.vectors_dir() / name).read_text().split("###\n"):
        try:
            value = json.loads(section)
        except ValueError:
            continue
        if isinstance(value, list):
            answers.append(value)
    return answers


def ctl(lab: Lab, *args: str) -> Any:
    proc = lab.run(
        "e1", [*PYN2N, "ctl", "--json", *args], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def start_supernode(lab: Lab, tmp_path: Any) -> Any:
    sn = lab.spawn("e1", [*PYN2N, "supernode", "-v"], log=tmp_path / "sn.log")
    wait_for(lambda: ctl_ok(lab, "-t", "5645", "communities"), "the supernode's management port")
    return sn


def ctl_ok(lab: Lab, *args: str) -> bool:
    proc = lab.run("e1", [*PYN2N, "ctl", "--json", "--timeout", "0.3", *args], capture_output=True)
    return proc.returncode == 0


def test_supernode_script(make_lab: Callable[..., Lab], tmp_path: Any) -> None:
    lab = make_lab(1)
    sn = start_supernode(lab, tmp_path)
    got = [
        ctl(lab, "-t", "5645", "communities"),
        ctl(lab, "-t", "5645", "packetstats"),
        ctl(lab, "-t", "5645", "edges"),
        ctl(lab, "-t", "5645", "verbose"),
        ctl(lab, "-t", "5645", "-k", "n2n", "--write", "verbose", "1"),
        ctl(lab, "-t", "5645", "stop"),
        ctl(lab, "-t", "5645", "-k", "n2n", "--write", "stop"),
    ]
    assert got == expected_answers("test_integration_supernode.sh.expected")
    assert sn.wait(10) == 0


def test_edge_script(make_lab: Callable[..., Lab], tmp_path: Any) -> None:
    lab = make_lab(1)
    sn = start_supernode(lab, tmp_path)
    # --drop-multicast: n2n's default; otherwise the kernel's own IPv6 multicast (router
    # solicitations, MLD) leaving the new TAP would be carried and counted too
    edge = lab.spawn(
        "e1",
        [*PYN2N, "edge", "-l", "localhost:7654", "-c", "test", "--drop-multicast"],
        log=tmp_path / "edge.log",
    )
    # n2n's script reads right away; we wait until the edge is registered and has sent its two
    # gratuitous ARPs (auto-IP first), which is what the recorded packetstats show
    wait_for(
        lambda: (
            ctl_ok(lab, "info")
            and any(
                r["type"] == "super_broadcast" and r["tx_pkt"] == 2 for r in ctl(lab, "packetstats")
            )
        ),
        "the edge's registration",
    )
    got = [
        ctl(lab, "communities"),
        ctl(lab, "packetstats"),
        ctl(lab, "edges"),
        ctl(lab, "verbose"),
        ctl(lab, "-k", "n2n", "--write", "verbose", "1"),
        ctl(lab, "stop"),
        ctl(lab, "-k", "n2n", "--write", "stop"),
        ctl(lab, "-t", "5645", "-k", "n2n", "--write", "stop"),
    ]
    assert got == expected_answers("test_integration_edge.sh.expected")
    assert edge.wait(10) == 0 and sn.wait(10) == 0
