"""Multicast between real pyn2n edges in a lab (docs/multicast.md): a stream pruned to its one
subscriber (the other edges' TAPs see none of it, the supernode relays none of it), and a stream
that keeps flowing when the supernode is killed. The host's kernel does the joining (IGMP), the
edges snoop it; frames are counted on the TAPs with raw sockets (`pyn2n.lab.tapcap`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyn2n.lab import Lab, tapcap
from pyn2n.lab.overlay import TAP_NAME, Overlay

pytestmark = pytest.mark.root

GROUP = "239.255.7.7"
PORT = 5007
SETTLE = 6.0  # s for the edges to know each other as pyn2n edges and their groups


def probes(lab: Lab, subscribers: list[str], watched: list[str], seconds: float) -> Any:
    return tapcap.probes(
        lab, subscribers, watched, group=GROUP, port=PORT, seconds=seconds, tap=TAP_NAME
    )


def relayed(ov: Overlay) -> int:
    """The supernode's broadcast counter (frames it sent on to edges)."""
    rows = ov.ctl("sn", "packetstats")
    return int(next(r["tx_pkt"] for r in rows if r.get("type") == "broadcast"))


def start(make_lab: Callable[..., Lab], tmp_path: Path, edges: int) -> Overlay:
    lab = make_lab(edges)
    ov = Overlay(lab, edge_args=["-A3", "-k", "mcast-key"], log_dir=tmp_path).start()
    ov.wait_mesh()
    time.sleep(SETTLE)
    return ov


def test_a_pruned_stream_reaches_its_subscriber_only(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = start(make_lab, tmp_path, 4)
    lab = ov.lab
    count = 300
    before = relayed(ov)
    dups = {e: ov.drops(e).get("group_duplicate", 0) for e in ("e2", "e3", "e4")}
    with probes(lab, ["e2"], ["e2", "e3", "e4"], seconds=count * 0.01 + 6) as got:
        sender = tapcap.send(lab, "e1", group=GROUP, port=PORT, count=count, interval=0.01)
        assert tapcap.sent(lab, sender, timeout=count * 0.01 + 30) == count
        time.sleep(1.0)
    after = relayed(ov)
    recv = got["recv:e2"]
    assert recv["distinct"] == count and recv["duplicates"] == 0, got
    # the subscriber's TAP saw every datagram once; the others' TAPs none (the captures work:
    # the same tool counts the subscriber's)
    assert got["cap:e2"]["frames"] == count, got
    assert got["cap:e3"]["frames"] == 0 and got["cap:e4"]["frames"] == 0, got
    # between pyn2n edges the supernode relays none of it (n2n: 3 per datagram, 900 here)
    assert after - before < count // 10, (before, after)
    # and no second copy had to be dropped: the supernode skipped the edges served directly
    assert {e: ov.drops(e).get("group_duplicate", 0) for e in dups} == dups
    print(f"relayed by the supernode during the stream: {after - before}", file=sys.stderr)


def test_multicast_keeps_flowing_when_the_supernode_is_killed(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = start(make_lab, tmp_path, 3)
    lab = ov.lab
    count, interval = 500, 0.02  # 10 s
    with probes(lab, ["e2", "e3"], ["e2", "e3"], seconds=count * interval + 8) as got:
        sender = tapcap.send(lab, "e1", group=GROUP, port=PORT, count=count, interval=interval)
        time.sleep(2.0)
        ov.kill("sn")  # SIGKILL, no standby: nobody answers the edges any more
        assert tapcap.sent(lab, sender, timeout=count * interval + 30) == count
        time.sleep(1.0)
    print(f"after the supernode kill: {got}", file=sys.stderr)
    for edge in ("e2", "e3"):
        assert got[f"recv:{edge}"]["distinct"] == count, got
        assert got[f"cap:{edge}"]["max_gap"] <= 1.0, got
