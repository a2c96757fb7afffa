"""A flood of fake registrations must not lock out a real pair: host e3 sends 20,000
REGISTER_SUPERs (distinct MACs, TAP addresses and tokens, from 64 source ports) into the
community the real edges use, then keeps flooding while e1 and e2 start. The supernode holds at
most its per-source share of fake edges, counts the rest by reason, and the real pair registers
and pings.

Run as a script, this file is the flooder: `flood SN_IP:PORT COMMUNITY COUNT FIRST RATE` (RATE
datagrams a second, 0: as fast as possible) prints how many it sent.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.constants import N2N_AUTH_SIMPLE_ID
from pyn2n.lab import Lab
from pyn2n.lab.overlay import DEFAULT_COMMUNITY, Overlay
from pyn2n.wire import Auth, Common, IpSubnet, RegisterSuper, encode

pytestmark = pytest.mark.root

FLOOD = 20_000
PER_IP = 1024  # the supernode's default --max-edges-per-ip
PORTS = 64


def flood(sn: tuple[str, int], community: bytes, count: int, first: int, rate: float) -> int:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(PORTS)]
    start = time.monotonic()
    for k in range(count):
        i = first + k
        reg = RegisterSuper(
            i,
            bytes([0x02, 0xF1]) + i.to_bytes(4, "big"),
            None,
            IpSubnet(0x0A000000 | (i & 0xFFFFFF), 8),
            b"fake",
            Auth(N2N_AUTH_SIMPLE_ID, i.to_bytes(16, "big")),
        )
        socks[k % PORTS].sendto(encode(Common(0, 2, 0, community), reg), sn)
        if rate and k % 100 == 99:
            ahead = (k + 1) / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    for s in socks:
        s.close()
    return count


def _flood_argv(lab: Lab, count: int, first: int, rate: float) -> list[str]:
    sn = lab.supernode_endpoint()
    return [sys.executable, __file__, "flood", sn, DEFAULT_COMMUNITY, str(count), str(first),
            str(rate)]  # fmt: skip


def test_a_flood_of_fake_registrations_does_not_lock_out_a_real_pair(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(3)  # e3 floods; no edge runs there
    ov = Overlay(lab, log_dir=tmp_path)
    ov.start_supernode()
    time.sleep(1.0)
    done = lab.run("e3", _flood_argv(lab, FLOOD, 0, 0), capture_output=True, text=True,
                   timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the flood goes on (new MACs, 2,000 a second) while the real pair starts
    more = lab.spawn("e3", _flood_argv(lab, FLOOD, FLOOD, 2000), log=tmp_path / "flood.log")
    try:
        for edge in ("e1", "e2"):
            ov.start_edge(edge)
        ov.wait_registered(["e1", "e2"], timeout=30)
        ov.wait_ping("e1", "e2", timeout=30)
        assert ov.ping("e2", "e1", count=3, interval=0.1) == 3
        assert more.poll() is None, "the flood should still be running"
    finally:
        lab.stop(more)
    ov.check_alive()
    rows = ov.ctl("sn", "edges", timeout=5)
    fake = [r for r in rows if r.get("desc") == "fake"]
    assert 0 < len(fake) <= PER_IP, len(fake)
    drops = ov.drops("sn")
    refused = drops.get("source_edges", 0) + drops.get("source_rate", 0)
    assert refused > FLOOD // 2, drops
    # the flooder's admitted edges do not keep the pair from talking either way
    assert ov.ping("e1", "e2", count=3, interval=0.1) == 3


def main(argv: list[str]) -> int:
    role, sn, community, count, first, rate = argv
    assert role == "flood"
    host, _, port = sn.rpartition(":")
    print(flood((host, int(port)), community.encode(), int(count), int(first), float(rate)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
