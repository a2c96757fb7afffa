"""`-S2`: edges reach the supernode over TCP with n2n's framing, where the underlay carries no
UDP at all; they re-dial after the supernode restarts; a hostile stream costs the supernode one
connection and nothing else."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.constants import N2N_SN_LPORT_DEFAULT
from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]

# A client that sends one packet announcing 5000 bytes (n2n allows 2048) and reports whether
# the supernode closed the connection.
HOSTILE = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall((5000).to_bytes(2, "big") + b"x" * 64)
try:
    print("closed" if s.recv(100) == b"" else "open")
except OSError as exc:
    print("closed" if isinstance(exc, ConnectionResetError) else f"error {exc}")
"""


def drop_udp(lab: Lab) -> None:
    """The router forwards no UDP at all: only TCP can carry the overlay."""
    lab.run("r", ["iptables", "-w", "-I", "FORWARD", "-p", "udp", "-j", "DROP"], check=True)


def tcp_links(lab: Lab, node: str) -> int:
    out = lab.run(node, ["ss", "-Htn", "state", "established"], capture_output=True, text=True)
    return sum(f":{N2N_SN_LPORT_DEFAULT} " in line for line in out.stdout.splitlines())


def test_edges_talk_over_tcp_without_udp(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(3)
    drop_udp(lab)
    ov = Overlay(lab, edge_args=["-S2"], log_dir=tmp_path).start()
    ov.wait_registered()
    ov.wait_mesh()
    assert ov.ping("e1", "e2", count=5) == 5
    assert tcp_links(lab, "sn") == 3

    # a hostile stream: closed at once, counted, everything else untouched
    sn_ip = lab.underlay_ip("sn")
    probe = [sys.executable, "-c", HOSTILE, sn_ip, str(N2N_SN_LPORT_DEFAULT)]
    out = lab.run("e3", probe, capture_output=True, text=True, timeout=20)
    assert out.stdout.strip() == "closed", out
    assert ov.drops("sn").get("tcp_refused", 0) >= 1
    assert ov.ping("e2", "e3", count=3) == 3
    ov.check_alive()

    # the supernode restarts: the edges re-dial (with back-off) and talk again
    ov.stop("sn", signal.SIGKILL)
    ov.start_supernode()
    ov.wait_registered(timeout=40)
    ov.wait_ping("e1", "e3", timeout=20)
    assert "TCP to supernode" in (tmp_path / "e1.log").read_text()
    assert tcp_links(lab, "sn") == 3
