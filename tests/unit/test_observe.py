"""`--metrics` and `--http`: the flags, the snapshot of in-memory nodes, the Prometheus families
built from it, the change log, and the HTTP listener (on 127.0.0.1, an ephemeral port)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pyn2n.cli.common import UsageError
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.cli.observe import parse_listen
from pyn2n.cli.supernode_args import parse_supernode_args
from pyn2n.core.drops import meanings
from pyn2n.core.events import (
    OperatorNotice,
    OperatorWarning,
    PeerAction,
    PeerEvent,
    Registered,
)
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.mgmt.http import HttpListener, metrics_routes, status_routes
from pyn2n.mgmt.metrics import (
    Observer,
    changes_between,
    edge_snapshot,
    event_change,
    make_registry,
    peer_path,
    supernode_snapshot,
    tap_counters,
)
from pyn2n.mgmt.supernode_views import SupernodeViews
from tests.simnet import SIM_COMMUNITY, SimNet, edge_of, ping_pong, register_all, star_net

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(observer: Observer) -> Samples:
    text = generate_latest(make_registry(observer)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("198.18.0.2:80", ("198.18.0.2", 80)),
        ("[::1]:9100", ("::1", 9100)),
        (":9100", ("127.0.0.1", 9100)),
    ],
)
def test_listen_addresses(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text, "--metrics") == want


@pytest.mark.parametrize(
    ("text", "says"),
    [("abc", "port from 1 to 65535"), ("0", "port from 1"), ("host:80", "not an IP address")],
)
def test_bad_listen_addresses_name_the_flag_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_listen(text, "--http")
    assert str(exc.value).startswith(f"--http {text!r}") and says in str(exc.value)


def test_both_commands_take_the_flags() -> None:
    edge = parse_edge_args(["-c", "x", "-l", "198.18.0.2:7654", "--metrics", "9100"])
    assert edge.metrics == ("127.0.0.1", 9100) and edge.http is None
    sn = parse_supernode_args(["--http", "0.0.0.0:8080", "--metrics", "9101"])
    assert sn.http == ("0.0.0.0", 8080) and sn.metrics == ("127.0.0.1", 9101)
    assert parse_supernode_args([]).metrics is None


def _net() -> tuple[SimNet, list[str]]:
    net, names = star_net([None, None, None])
    register_all(net, names)
    ping_pong(net, "e1", "e2", rounds=5)
    return net, names


def test_edge_metrics_are_the_node_counters() -> None:
    net, _ = _net()
    e1 = edge_of(net, "e1")
    e1.drops["decode"] += 3
    views = EdgeViews(e1)
    observer = Observer(lambda now, wall: edge_snapshot(views, {"udp_recv_error": 2}, now, wall))
    observer.refresh(net.now)
    got = samples(observer)
    d = e1.data
    assert got[key("pyn2n_edge_packets_total", direction="tx", path="direct")] == d.tx_p2p
    assert got[key("pyn2n_edge_packets_total", direction="rx", path="direct")] == d.rx_p2p
    assert got[key("pyn2n_edge_packets_total", direction="tx", path="relayed")] == d.tx_sup
    assert d.tx_p2p + d.tx_sup >= 5 and d.rx_p2p + d.rx_sup >= 5
    assert got[key("pyn2n_edge_bytes_total", direction="tx", path="direct")] == d.tx_p2p_bytes
    assert got[key("pyn2n_edge_bytes_total", direction="rx", path="relayed")] == d.rx_sup_bytes
    assert d.tx_p2p_bytes + d.tx_sup_bytes >= 5 * 60  # five frames of 60 bytes or more
    rows = views.mgmt_peers(net.now)
    for path in ("direct", "relayed", "fast"):
        want = sum(1 for r in rows if peer_path(r) == path)
        assert got[key("pyn2n_edge_peers", path=path)] == want
    assert got[key("pyn2n_edge_registered")] == 1
    assert got[key("pyn2n_drops_total", reason="decode", benign="false")] == 3
    assert got[key("pyn2n_drops_total", reason="udp_recv_error", benign="false")] == 2
    assert got[key("pyn2n_drops_total", reason="unsolicited", benign="true")] == 0
    assert {dict(k[1])["reason"] for k in got if k[0] == "pyn2n_drops_total"} == set(
        meanings("edge")
    )
    assert got[key("pyn2n_info", role="edge", version=observer.snapshot["version"])] == 1
    assert key("process_cpu_seconds_total") in got  # the process collector is registered


def test_peer_path_takes_the_views_words() -> None:
    assert peer_path({"path": "direct", "fastpath": "on (AES-GCM)"}) == "fast"
    assert peer_path({"path": "direct", "fastpath": "no"}) == "direct"
    assert peer_path({"path": "relayed", "fastpath": "on (AES-GCM)"}) == "relayed"
    assert peer_path({"path": "kernel", "fastpath": "no"}) == "kernel"  # a new path shows as is


def test_supernode_metrics_count_edges_per_community_and_relays() -> None:
    net, _ = _net()
    sn = net.node("sn")
    views = SupernodeViews(sn)
    observer = Observer(lambda now, wall: supernode_snapshot(views, {}, now, wall))
    observer.refresh(net.now)
    got = samples(observer)
    assert got[key("pyn2n_supernode_edges", community=SIM_COMMUNITY)] == 3
    assert got[key("pyn2n_supernode_communities")] == 1
    unicast = got[key("pyn2n_supernode_relayed_packets_total", kind="unicast")]
    assert unicast == sn.stats.fwd
    assert got[key("pyn2n_supernode_register_super_total")] == sn.stats.reg_super >= 3
    assert {dict(k[1])["reason"] for k in got if k[0] == "pyn2n_drops_total"} == set(
        meanings("supernode")
    )


def test_changes_follow_peers_between_snapshots() -> None:
    net, _ = _net()
    views = EdgeViews(edge_of(net, "e1"))
    first = edge_snapshot(views, {}, net.now, 0.0)
    assert changes_between(None, first) == []  # the baseline says nothing
    moved = json.loads(json.dumps(first))
    peer = moved["peers"][0]
    peer["via"] = "relayed" if peer["via"] != "relayed" else "direct"
    peer["desc"] = "e3"
    moved["peers"].append({**peer, "macaddr": "02:EE:00:00:00:99", "desc": "new"})
    moved["registered"] = False
    assert changes_between(first, moved) == [
        "supernode lost: no answer to REGISTER_SUPER",
        f"peer {peer['macaddr']} e3 now {peer['via']}"
        + (f": {peer['reason']}" if peer["reason"] else ""),
        f"peer 02:EE:00:00:00:99 new appeared, {peer['via']}",
    ]
    assert changes_between(moved, first) == [
        "registered again",
        f"peer {peer['macaddr']} now {first['peers'][0]['via']}"
        + (f": {first['peers'][0]['reason']}" if first["peers"][0]["reason"] else ""),
    ]


def test_changes_from_events_newest_first_without_repeats() -> None:
    wall = iter(range(100, 200))
    observer = Observer(lambda now, w: {"role": "supernode"}, wall_clock=lambda: float(next(wall)))
    left = OperatorNotice("edge_left", "edge 02:00:00:00:00:03 'e3' left community 'x': purged")
    observer.on_event(Registered("198.18.0.2:7654", first=True, public_sock="198.18.1.2:1"))
    observer.on_event(Registered("198.18.0.2:7654", first=False, public_sock="198.18.1.2:1"))
    observer.on_event(left)
    observer.on_event(left)
    observer.on_event(PeerEvent(PeerAction.ADD_P2P, "02:00:00:00:00:02", "198.18.2.2:1"))
    observer.on_event(PeerEvent(PeerAction.DEL_P2P, "02:00:00:00:00:02", "198.18.2.2:1"))
    observer.refresh(0.0)
    assert [c["text"] for c in observer.snapshot["changes"]] == [
        "peer 02:00:00:00:00:02 at 198.18.2.2:1 left the peer table",
        left.text,
        "registered at 198.18.0.2:7654",
    ]
    assert event_change(OperatorWarning("silent", "no answer")) == "warning: no answer"


def test_a_reader_gets_a_snapshot_built_in_the_loop() -> None:
    builds: list[float] = []
    loop_threads: list[str] = []
    clock = [0.0]

    def build(now: float, wall: float) -> dict[str, object]:
        builds.append(now)
        loop_threads.append(threading.current_thread().name)
        return {"role": "supernode", "n": len(builds)}

    observer = Observer(build, clock=lambda: clock[0])
    observer.refresh(0.0)
    loop = threading.Thread(target=lambda: None)

    def wake() -> None:  # stands for the loop: its wake hook runs in its own thread
        nonlocal loop
        loop = threading.Thread(target=observer.on_wake, name="loop")
        loop.start()

    observer.wake = wake
    assert observer.read()["n"] == 1  # fresh enough: no build
    clock[0] = 1.0
    assert observer.read()["n"] == 2 and loop_threads[-1] == "loop"
    assert observer.read()["n"] == 2  # readers within max_age share a build
    loop.join()
    observer.wake = lambda: None  # a loop that never answers: the last snapshot, after timeout
    clock[0] = 2.0
    assert observer.read(timeout=0.05)["n"] == 2


def test_snapshot_is_replaced_not_changed() -> None:
    net, _ = _net()
    views = SupernodeViews(net.node("sn"))
    observer = Observer(lambda now, wall: supernode_snapshot(views, {}, now, wall))
    observer.refresh(net.now)
    first = observer.snapshot
    text = json.dumps(first)
    net.run_for(5)
    observer.refresh(net.now)
    assert observer.snapshot is not first and json.dumps(first) == text


def test_tap_counters_read_sysfs(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    stats = root / "edge0" / "statistics"
    stats.mkdir(parents=True)
    for name, n in (("tx_bytes", 1000), ("rx_bytes", 2000), ("tx_packets", 3)):
        (stats / name).write_text(f"{n}\n")
    assert tap_counters("edge0", root) == {"tx_bytes": 1000, "rx_bytes": 2000, "tx_packets": 3}
    assert tap_counters("nope", root) == {}


def test_listener_serves_metrics_page_and_json_and_nothing_else() -> None:
    net, _ = _net()
    views = SupernodeViews(net.node("sn"))
    observer = Observer(lambda now, wall: supernode_snapshot(views, {}, now, wall))
    observer.refresh(net.now)
    routes = {**metrics_routes(make_registry(observer)), **status_routes(observer)}
    listener = HttpListener(("127.0.0.1", 0), routes)
    listener.start()
    base = f"http://127.0.0.1:{listener.port}"
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            assert b"pyn2n_supernode_edges{" in r.read()
        with urllib.request.urlopen(base + "/status.json", timeout=5) as r:
            assert json.loads(r.read())["role"] == "supernode"
        with urllib.request.urlopen(base + "/", timeout=5) as r:
            page = r.read().decode()
            assert "<svg" in page and "status.json" in page
            assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no assets
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(base + "/nothing", timeout=5)
        assert exc.value.code == 404
        post = urllib.request.Request(base + "/status.json", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(post, timeout=5)
        assert exc.value.code == 501  # read-only: no method writes
    finally:
        listener.stop()
        listener.join(5)
