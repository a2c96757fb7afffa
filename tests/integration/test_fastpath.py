"""The fast path between real pyn2n edges in a lab (docs/fastpath.md): negotiation shown in the
`peers` rows, 20 MB TCP transfers whose SHA-256 must match — between two fast-path edges, towards
and from an edge started with `--no-fastpath` while the sender's TAP offloads are on (so its TCP
super-frames are cut in Python), and under 1 % loss on an underlay that segments.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay
from pyn2n.lab.tcpcheck import expected
from pyn2n.lab.tcpcheck import transfer as tcp_transfer

pytestmark = pytest.mark.root

BIG = 20 << 20
TCP_PORT = 5301


def transfer(lab: Lab, src: str, dst: str, n: int) -> dict[str, Any]:
    return tcp_transfer(lab, src, dst, n, port=TCP_PORT)


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
