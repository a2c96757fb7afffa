"""`--metrics` and `--http` on a running lab: the Prometheus scrape of an edge and the supernode
against the pings sent, and the status page in Debian's chromium (loads, shows the edges and
their paths, follows an edge that leaves)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyn2n.core.drops import meanings
from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay

pytestmark = pytest.mark.root

METRICS, HTTP = 9100, 8080
PINGS, SIZE = 20, 1000
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FETCH = """
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
"""


def scrape(lab: Lab, node: str, url: str = f"http://127.0.0.1:{METRICS}/metrics") -> Samples:
    """Every sample of a node's /metrics, fetched from inside its namespace."""
    out = lab.run(
        node, [sys.executable, "-c", FETCH, url], capture_output=True, text=True, timeout=15
    )
    assert out.returncode == 0, out.stderr
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out.stdout)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def packets(samples: Samples, direction: str, *paths: str) -> float:
    return sum(
        value(samples, "pyn2n_edge_packets_total", direction=direction, path=p) for p in paths
    )


def ping(lab: Lab, src: str, dst: str) -> int:
    """PINGS echo requests of SIZE bytes of ICMP data over the overlay; the replies counted."""
    argv = ["ping", "-n", "-q", "-c", str(PINGS), "-i", "0.05", "-s", str(SIZE), "-W", "2"]
    out = lab.run(src, [*argv, lab.overlay_ip(dst)], capture_output=True, text=True, timeout=30)
    match = re.search(r"(\d+) (?:packets )?received", out.stdout)
    return int(match.group(1)) if match else 0


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def observed_overlay(
    lab: Lab,
    tmp_path: Path,
    edge_http: str = str(HTTP),
    edges: list[str] | None = None,
    extra: tuple[str, ...] = (),
) -> Overlay:
    flags = ["--metrics", str(METRICS)]
    ov = Overlay(
        lab,
        log_dir=tmp_path,
        edge_args=[*flags, "--http", edge_http, *extra],
        supernode_args=[*flags, "--http", str(HTTP)],
    )
    return ov.start(edges)


def test_metrics_match_the_traffic_sent(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(3)
    lab.block("e1", "e3")  # e1 and e3 talk through the supernode
    # pyn2n counts what crosses it: unicast on the kernel path never does
    ov = observed_overlay(lab, tmp_path, extra=("--no-kernel-path",))
    ov.wait_registered()
    ov.wait_mesh()
    ov.wait_path("e1", "e2", "direct")
    ov.wait_path("e1", "e3", "relayed")
    e1_before, sn_before = scrape(lab, "e1"), scrape(lab, "sn")

    assert ping(lab, "e1", "e3") == PINGS
    assert ping(lab, "e1", "e2") == PINGS  # last: e2's path must still count as direct below

    def settled() -> tuple[Samples, Samples] | None:
        e1, sn = scrape(lab, "e1"), scrape(lab, "sn")
        done = all(
            packets(e1, "rx", *paths) - packets(e1_before, "rx", *paths) >= PINGS
            for paths in (("relayed",), ("direct", "fast"))
        )
        return (e1, sn) if done else None

    e1, sn = wait_for(settled, "e1's counters to show the pings")

    def delta(direction: str, *paths: str) -> float:
        return packets(e1, direction, *paths) - packets(e1_before, direction, *paths)

    # each ping one packet out and one back; a few more may be ARP or IPv6 neighbour traffic
    for direction in ("tx", "rx"):
        assert PINGS <= delta(direction, "direct", "fast") <= PINGS + 10, direction
        assert PINGS <= delta(direction, "relayed") <= PINGS + 10, direction
    tap_tx = value(e1, "pyn2n_edge_tap_bytes_total", direction="tx") - value(
        e1_before, "pyn2n_edge_tap_bytes_total", direction="tx"
    )
    assert tap_tx >= 2 * PINGS * (SIZE + 8 + 20 + 14)  # ICMP data, ICMP, IP, Ethernet headers
    # the same frames by path: the relayed ones to e3, the direct (or fast) ones to e2
    for paths in (("relayed",), ("direct", "fast")):
        sent = sum(
            value(e1, "pyn2n_edge_bytes_total", direction="tx", path=p)
            - value(e1_before, "pyn2n_edge_bytes_total", direction="tx", path=p)
            for p in paths
        )
        assert sent >= PINGS * (SIZE + 8 + 20 + 14), paths
    assert value(e1, "pyn2n_edge_registered") == 1
    paths = {path: value(e1, "pyn2n_edge_peers", path=path) for path in ("direct", "fast")}
    assert sum(paths.values()) == 1, paths  # e2
    assert value(e1, "pyn2n_edge_peers", path="relayed") == 1  # e3
    silence = value(e1, "pyn2n_edge_supernode_silence_seconds")
    assert 0 <= silence < 30
    assert value(e1, "pyn2n_info", role="edge", version=_version()) == 1
    assert {dict(k[1])["reason"] for k in e1 if k[0] == "pyn2n_drops_total"} == set(
        meanings("edge")
    )
    assert value(e1, "process_resident_memory_bytes") > 10e6
    assert value(e1, "process_open_fds") > 3

    # the supernode relayed both ways of every e1-e3 ping, and knows its three edges
    relayed = value(sn, "pyn2n_supernode_relayed_packets_total", kind="unicast") - value(
        sn_before, "pyn2n_supernode_relayed_packets_total", kind="unicast"
    )
    assert 2 * PINGS <= relayed <= 2 * PINGS + 20
    assert value(sn, "pyn2n_supernode_edges", community=ov.community) == 3
    assert value(sn, "pyn2n_supernode_communities") == 1
    assert value(sn, "pyn2n_supernode_register_super_total") >= 3
    assert value(sn, "pyn2n_info", role="supernode", version=_version()) == 1
    assert {dict(k[1])["reason"] for k in sn if k[0] == "pyn2n_drops_total"} == set(
        meanings("supernode")
    )

    # an edge that leaves is gone from the per-community count
    ov.stop("e3")
    wait_for(
        lambda: value(scrape(lab, "sn"), "pyn2n_supernode_edges", community=ov.community) == 2,
        "the supernode's edge count to drop to 2",
    )
    # the status JSON on the same node tells the same story
    status = json.loads(
        lab.run(
            "sn",
            [sys.executable, "-c", FETCH, f"http://127.0.0.1:{HTTP}/status.json"],
            capture_output=True,
            text=True,
            timeout=15,
        ).stdout
    )
    (comm,) = [c for c in status["communities"] if c["community"] == ov.community]
    assert sorted(e["desc"] for e in comm["edges"]) == ["e1", "e2"]
    assert any("left community" in c["text"] for c in status["changes"])


def _version() -> str:
    from pyn2n import __version__

    return __version__


def test_status_page_in_chromium(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed (apt-get install chromium; `make apt` does it)")
    # e1 sees all three paths: e2 direct (or on the fast path), e3 relayed (blocked), e4 direct
    # without the fast path
    lab = make_lab(4)
    lab.block("e1", "e3")
    # edges serve their page on the underlay, so chromium in the supernode's namespace reaches e1's
    ov = observed_overlay(lab, tmp_path, edge_http=f"0.0.0.0:{HTTP}", edges=["e1", "e2", "e3"])
    ov.start_edge("e4", extra=["--no-fastpath"])
    ov.wait_registered()
    ov.wait_mesh()
    ov.wait_path("e1", "e3", "relayed")
    ov.wait_path("e1", "e4", "direct")
    # a path counts as direct while direct traffic flowed in the last 10 s: keep some flowing
    # while the browser looks (a loaded machine may take that long)
    pingers = [
        lab.spawn("e1", ["ping", "-q", "-i", "0.5", lab.overlay_ip(e)], stdout=subprocess.DEVNULL)
        for e in ("e2", "e4")
    ]
    shots = tmp_path / "shots"
    shots.mkdir()
    browser = lab.spawn(
        "sn",
        [
            sys.executable,
            str(Path(__file__).with_name("status_browser.py")),
            f"http://127.0.0.1:{HTTP}/",
            f"http://{lab.underlay_ip('e1')}:{HTTP}/",
            "4",
            str(shots),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "browser.log", "wb"),  # noqa: SIM115
        text=True,
    )
    assert browser.stdin is not None and browser.stdout is not None
    try:
        loaded = json.loads(browser.stdout.readline() or "{}")
        assert loaded.get("phase") == "loaded", (tmp_path / "browser.log").read_text()
        assert loaded["title"] == "pyn2n status"
        assert sorted(r["cells"][1] for r in loaded["supernode"]) == ["e1", "e2", "e3", "e4"]
        assert loaded["graph_nodes"] >= 5  # the supernode and its four edges
        paths = {r["cells"][0]: r["path"] for r in loaded["edge"]}
        assert paths["e2"] in ("direct", "fast", "kernel") and paths["e3"] == "relayed", paths
        assert paths["e4"] == "direct", paths
        for name in ("status-page.png", "status-page-supernode.png"):
            png = (shots / name).read_bytes()
            assert png.startswith(b"\x89PNG") and len(png) > 20_000, name

        ov.stop("e3")
        browser.stdin.write("go\n")
        browser.stdin.flush()
        updated = json.loads(browser.stdout.readline() or "{}")
        assert updated.get("phase") == "updated", (tmp_path / "browser.log").read_text()
        assert sorted(r["cells"][1] for r in updated["supernode"]) == ["e1", "e2", "e4"]
        assert any("e3" in c and "left" in c for c in updated["changes"]), updated["changes"]
        assert browser.wait(timeout=30) == 0
    finally:
        for proc in [browser, *pingers]:
            if proc.poll() is None:
                lab.stop(proc)
    keep = os.environ.get("PYN2N_SCREENSHOTS")
    if keep:  # refresh the documentation's screenshots: PYN2N_SCREENSHOTS=docs/images
        for png in shots.iterdir():
            shutil.copy(png, Path(keep) / png.name)
