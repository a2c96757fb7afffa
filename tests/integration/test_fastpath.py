"""The fast path between real pyn2n edges in a lab (docs/fastpath.md): negotiation shown in the
`peers` rows, 20 MB TCP transfers whose SHA-256 must match — between two fast-path edges, towards
and from an edge started with `--no-fastpath` while the sender's TAP offloads are on (so its TCP
super-frames are cut in Python), and under 1 % loss on an underlay that segments.

Run as a script, this file is the TCP helper the tests start in the lab's namespaces:
`sink PORT` prints "ready", takes one connection and prints {"bytes", "sha256"} of what came;
`source IP PORT NBYTES` sends `payload(NBYTES)`.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay, spawn

pytestmark = pytest.mark.root

BIG = 20 << 20
TCP_PORT = 5301


def payload(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def sink(port: int) -> int:
    with socket.create_server(("0.0.0.0", port)) as server:
        server.settimeout(60)
        print("ready", flush=True)
        conn, _ = server.accept()
        digest, total = hashlib.sha256(), 0
        with conn:
            conn.settimeout(60)
            while chunk := conn.recv(1 << 20):
                digest.update(chunk)
                total += len(chunk)
    print(json.dumps({"bytes": total, "sha256": digest.hexdigest()}), flush=True)
    return 0


def source(ip: str, port: int, n: int) -> int:
    with socket.create_connection((ip, port), timeout=60) as conn:
        conn.sendall(payload(n))
    return 0


def transfer(lab: Lab, src: str, dst: str, n: int) -> dict[str, Any]:
    """Send n bytes over TCP from edge src to edge dst's overlay address; the sink's report."""
    proc = spawn(
        lab,
        dst,
        [sys.executable, __file__, "sink", str(TCP_PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    lab.run(
        src,
        [sys.executable, __file__, "source", lab.overlay_ip(dst), str(TCP_PORT), str(n)],
        check=True,
        timeout=90,
    )
    out, _ = proc.communicate(timeout=60)
    return dict(json.loads(out))


def expected(n: int) -> dict[str, Any]:
    return {"bytes": n, "sha256": hashlib.sha256(payload(n)).hexdigest()}


def fastpath(ov: Overlay, edge: str, other: str) -> str:
    row = ov.peer_row(edge, other)
    return "" if row is None else str(row.get("fastpath"))


def wait_fastpath(ov: Overlay, edge: str, other: str, prefix: str) -> None:
    ov.wait(
        lambda: fastpath(ov, edge, other).startswith(prefix),
        f"{edge}'s fast path to {other} to be {prefix!r}",
        timeout=30,
    )


def start(make_lab: Callable[..., Lab], tmp_path: Path, edges: int, **kw: Any) -> Overlay:
    lab = make_lab(edges, **kw)
    return Overlay(lab, edge_args=["-A3", "-k", "fast-key"], log_dir=tmp_path).start(edges=[])


def test_two_pyn2n_edges_negotiate_and_move_20_mb(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = start(make_lab, tmp_path, 2)
    ov.start_edge("e1")
    ov.start_edge("e2")
    ov.wait_ping("e1", "e2")
    wait_fastpath(ov, "e1", "e2", "on")
    wait_fastpath(ov, "e2", "e1", "on")
    assert fastpath(ov, "e1", "e2") == "on (AES-256-GCM)"
    assert transfer(ov.lab, "e1", "e2", BIG) == expected(BIG)
    assert transfer(ov.lab, "e2", "e1", BIG) == expected(BIG)
    assert not ov.drops("e1").get("fast_auth") and not ov.drops("e2").get("fast_auth")
    stats = {r["type"]: r for r in ov.ctl("e2", "packetstats")}
    assert stats["p2p"]["rx_pkt"] > BIG // 1500  # the segments the super-frames stood for
    ov.check_alive()


def test_a_peer_with_no_fastpath_works_both_ways_next_to_a_fast_one(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = start(make_lab, tmp_path, 3)
    for edge in ("e1", "e3"):
        ov.start_edge(edge)
    ov.start_edge("e2", ["--no-fastpath"])
    ov.wait_ping("e1", "e3")
    ov.wait_ping("e1", "e2")
    # e1 keeps a fast path to e3, so its TAP hands out super-frames, which e2 must get cut
    wait_fastpath(ov, "e1", "e3", "on")
    wait_fastpath(ov, "e1", "e2", "refused")
    assert fastpath(ov, "e1", "e2") == "refused: disabled by the peer (--no-fastpath)"
    assert fastpath(ov, "e2", "e1") == "off"
    assert transfer(ov.lab, "e1", "e2", BIG) == expected(BIG)
    assert transfer(ov.lab, "e2", "e1", BIG) == expected(BIG)
    assert transfer(ov.lab, "e3", "e1", BIG // 4) == expected(BIG // 4)
    assert "tap_offload" not in ov.drops("e1")
    ov.check_alive()


def test_one_percent_loss_on_a_segmenting_underlay_still_completes(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = start(make_lab, tmp_path, 2)
    lab = ov.lab
    for edge in ("e1", "e2"):
        # UDP_SEGMENT sends leave as separate datagrams (the router drops them one by one)
        lab.run(edge, ["ip", "link", "set", "eth0", "gso_max_segs", "1"], check=True)
        ov.start_edge(edge)
    ov.wait_ping("e1", "e2")
    wait_fastpath(ov, "e1", "e2", "on")
    wait_fastpath(ov, "e2", "e1", "on")
    lab.set_loss(0.01)
    n = BIG // 4
    assert transfer(lab, "e1", "e2", n) == expected(n)
    lab.set_loss(0)
    assert fastpath(ov, "e1", "e2").startswith("on")
    ov.check_alive()


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sys.exit(sink(int(sys.argv[2])))
    sys.exit(source(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
