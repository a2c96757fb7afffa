"""The operator's unhappy paths as real processes on a lab: two cloned edges without
`-a` get different addresses and ping each other; a supernode that does not answer, a wrong
`-k` and a community the supernode does not serve each produce one WARNING line naming the
cause and the fix; the supernode logs edges joining."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import PYN2N, TAP_NAME, Overlay, ctl, wait_until

pytestmark = pytest.mark.root

WARN_TIMEOUT = 30.0  # the warnings come after 10 s of silence, checked every 2-3 s


def _log_has(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(errors="replace")
    except OSError:
        return False


def _wait_log(path: Path, text: str, timeout: float = WARN_TIMEOUT) -> str:
    wait_until(lambda: _log_has(path, text), timeout=timeout, what=f"{text!r} in {path.name}")
    return next(line for line in path.read_text().splitlines() if text in line)


def test_two_clones_without_an_address_get_two_and_ping(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2)
    ov = Overlay(lab, log_dir=tmp_path)
    sn = ov.start_supernode()
    wait_until(lambda: ctl(lab, "sn", "edges") is not None, timeout=10, what="the supernode")
    # the supernode pauses while both clones start, so their auto-IP requests wait in its
    # socket and are answered back to back, before either edge can register its address: the
    # race of cloned VMs started together, whatever the start-up skew of the two processes
    sn.send_signal(signal.SIGSTOP)
    try:
        for edge in ("e1", "e2"):  # no -a, the same description
            argv = [*PYN2N, "edge", "-c", ov.community, "-d", TAP_NAME, "-I", "clone"]
            ov._spawn(edge, [*argv, "-l", lab.supernode_endpoint()])
        for edge in ("e1", "e2"):
            _wait_log(ov.log_path(edge), "edge clone: community", timeout=20)
        time.sleep(0.5)  # the first request leaves right after the start-up line
    finally:
        sn.send_signal(signal.SIGCONT)

    def addresses() -> dict[str, str] | None:
        rows = {e: ctl(lab, e, "info")[0]["ip4addr"] for e in ("e1", "e2")}
        registered = [r for r in ctl(lab, "sn", "edges") if r.get("community") == ov.community]
        return rows if len(registered) == 2 and "0.0.0.0" not in rows.values() else None

    ips = ov.wait(addresses, "both clones registered with an address")
    assert ips["e1"] != ips["e2"], ips
    ov.wait(lambda: lab.ping("e1", ips["e2"], timeout=1) > 0, "e1 to ping e2", 20)
    ov.wait(lambda: lab.ping("e2", ips["e1"], timeout=1) > 0, "e2 to ping e1", 20)
    for edge in ("e1", "e2"):
        assert "refused" not in ov.log_path(edge).read_text()
    assert ov.log_path("sn").read_text().count("joined community") == 2


def test_no_supernode_answering_is_named(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(1)
    ov = Overlay(lab, log_dir=tmp_path)
    ov.start_edge("e1")  # and no supernode at all
    endpoint = lab.supernode_endpoint()
    line = _wait_log(ov.log_path("e1"), "no answer from any supernode for")
    assert "WARNING" in line and f"is {endpoint} reachable over UDP?" in line
    assert ov.alive("e1")


def test_wrong_key_is_named_on_the_other_edge_and_in_peers(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2)
    ov = Overlay(lab, log_dir=tmp_path, edge_args=["-A3"])
    ov.start_supernode()
    ov.start_edge("e1", ["-k", "the-right-key"])
    ov.start_edge("e2", ["-k", "a-wrong-key"])
    ov.wait_registered()
    text = "its packets do not decrypt with our key — check -k and -A on both edges"

    def warned() -> bool:
        lab.ping("e1", lab.overlay_ip("e2"), count=3, interval=0.3, timeout=1)
        return _log_has(ov.log_path("e1"), text) and _log_has(ov.log_path("e2"), text)

    ov.wait(warned, "the wrong-key warning on both edges", WARN_TIMEOUT)
    for edge, other in (("e1", "e2"), ("e2", "e1")):
        lines = [line for line in ov.log_path(edge).read_text().splitlines() if text in line]
        assert len(lines) == 1 and "WARNING" in lines[0]  # once a minute, not per packet
        row = ov.peer_row(edge, other)
        assert row is not None and "keys differ" in row["reason"], row


def test_community_not_allowed_is_named_on_the_supernode(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(1)
    ov = Overlay(lab, log_dir=tmp_path, communities=["allowed"], community_file=True)
    ov.start_supernode()
    ov.start_edge("e1", community="other")
    line = _wait_log(ov.log_path("sn"), "asked for community 'other': not in the community file")
    assert "WARNING" in line and f"edge {lab.public_ip('e1')}:" in line
    # the edge hears nothing (n2n does not reveal the supernode) and says where to look
    line = _wait_log(ov.log_path("e1"), "no answer from any supernode")
    assert "'other' in its community file" in line
