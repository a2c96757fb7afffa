"""What `--metrics` and `--http` show: one snapshot of a node, built in the event loop, read by
the HTTP threads (Prometheus text via `prometheus_client`, and the status page's JSON).

The node is single-threaded (io/loop.py) and its tables change while it runs, so another thread
must not walk them. A reader (a scrape, the page's poll) asks the loop instead: it flags the wish
and wakes the loop, whose wake hook builds a snapshot of plain dicts and lists from the
management views and publishes it by replacing one attribute (atomic in Python); a published
snapshot is never changed again. Readers within half a second share one build, and a node
nobody watches builds nothing. The recent changes come from the node's events (edges joining
and leaving, registrations, warnings) and, for an edge's peers, from comparing snapshots.
Nothing here touches the per-frame path: the counters read are the ones the node keeps for the
management port, and the TAP's byte counts come from the kernel at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pyn2n import __version__
from pyn2n.core.drops import is_benign, meanings
from pyn2n.core.events import (
    Event,
    IpAssigned,
    OperatorNotice,
    OperatorWarning,
    PeerAction,
    PeerEvent,
    Registered,
    RegistrationRefused,
    SupernodeChanged,
)
from pyn2n.mgmt.edge_views import EdgeViews
from pyn2n.mgmt.supernode_views import SupernodeViews

Snapshot = dict[str, Any]
IoDrops = Callable[[], dict[str, int]]
BASE_PATHS = (
    "direct",
    "relayed",
    "fast",
    "kernel",
)  # always exported, so a rate() never starts blank
CHANGES_KEPT = 50
MAX_AGE = 0.5  # seconds a snapshot serves further readers before one asks the loop for a new one
SYSFS_NET = Path("/sys/class/net")


def peer_path(row: dict[str, Any]) -> str:
    """The path label of a management `peers` row: its `path` (direct, relayed, or any other a
    view reports), or "fast" for a direct peer whose fast path is on."""
    path = str(row.get("path") or "relayed")
    if path == "direct" and str(row.get("fastpath", "")).startswith("on"):
        return "fast"
    return path


def _drops(role: str, counts: dict[str, int], io: dict[str, int]) -> dict[str, int]:
    out = dict.fromkeys(meanings(role), 0)
    out.update(counts)
    out.update(io)
    return out


def edge_snapshot(views: EdgeViews, io_drops: dict[str, int], now: float, wall: float) -> Snapshot:
    """An edge: identity, registration, peers with their path, counters, drops."""
    edge = views.edge
    d = edge.data
    fast = edge.fastpath
    fast_tx, fast_rx = (0, 0) if fast is None else (fast.tx_packets, fast.rx_packets)
    fast_txb, fast_rxb = (0, 0) if fast is None else (fast.tx_bytes, fast.rx_bytes)
    peers = views.mgmt_peers(now)
    for row in peers:
        row["via"] = peer_path(row)
    supernodes = views.mgmt_supernodes(now)
    for row, sn in zip(supernodes, edge.sns, strict=False):
        row["rtt_ms"] = None if sn.rtt is None else round(sn.rtt * 1000, 3)
    last_sup = edge.st.last_sup
    config = edge.config
    return {
        "role": "edge",
        "version": __version__,
        "time": wall,
        "uptime": round(now - edge.start_time, 1),
        "community": None if config.header_encryption else config.community,
        "desc": config.desc,
        "info": views.mgmt_info(now)[0],
        "registered": last_sup is not None and not edge.reg.sn_unreachable(now),
        "phase": str(edge.reg.phase),
        "supernode_silence": None if last_sup is None else round(now - last_sup, 3),
        "supernodes": supernodes,
        "peers": peers,
        "packets": {
            "tx": {"direct": d.tx_p2p, "relayed": d.tx_sup, "fast": fast_tx},
            "rx": {"direct": d.rx_p2p, "relayed": d.rx_sup, "fast": fast_rx},
        },
        "bytes": {
            "tx": {"direct": d.tx_p2p_bytes, "relayed": d.tx_sup_bytes, "fast": fast_txb},
            "rx": {"direct": d.rx_p2p_bytes, "relayed": d.rx_sup_bytes, "fast": fast_rxb},
        },
        "broadcast": {"tx": d.tx_sup_broadcast, "rx": d.rx_sup_broadcast},
        "drops": _drops("edge", dict(edge.drops), io_drops),
    }


def supernode_snapshot(
    views: SupernodeViews, io_drops: dict[str, int], now: float, wall: float
) -> Snapshot:
    """A supernode: communities with their edges, the federation, counters, drops."""
    sn = views.sn
    s = sn.stats
    edges = views.mgmt_edges(now)
    communities = views.mgmt_communities(now)
    for comm in communities:
        comm["edges"] = [e for e in edges if e["community"] == comm["community"]]
    return {
        "role": "supernode",
        "version": __version__,
        "time": wall,
        "uptime": round(now - sn.start_time, 1),
        "communities": communities,
        "federation": views.mgmt_supernodes(now),
        "stats": {
            "relayed_unicast": s.fwd,
            "relayed_broadcast": s.broadcast,
            "register_super": s.reg_super,
            "register_super_nak": s.reg_super_nak,
            "send_errors": s.errors,
        },
        "drops": _drops("supernode", dict(sn.drops), io_drops),
    }


def changes_between(old: Snapshot | None, new: Snapshot) -> list[str]:
    """An edge's changes that no event reports, seen between two snapshots: peers that appeared
    or changed path, registration lost or regained. Nothing against no earlier snapshot."""
    if old is None or new["role"] != "edge":
        return []
    lines = []
    if old["registered"] and not new["registered"]:
        lines.append("supernode lost: no answer to REGISTER_SUPER")
    elif new["registered"] and not old["registered"] and old["supernode_silence"] is not None:
        lines.append("registered again")  # the first registration is an event
    before = {p["macaddr"]: p for p in old["peers"]}
    for p in new["peers"]:
        name = " ".join(x for x in (p["macaddr"], p["desc"]) if x)
        was = before.get(p["macaddr"])
        if was is None:
            lines.append(f"peer {name} appeared, {p['via']}")
        elif was["via"] != p["via"]:
            lines.append(
                f"peer {name} now {p['via']}" + (f": {p['reason']}" if p["reason"] else "")
            )
    return lines


def event_change(event: Event) -> str | None:
    """The line an event adds to the changes, or None (re-registrations, subscriptions' tests)."""
    if isinstance(event, OperatorNotice):  # edges joining and leaving, warnings (rate-limited)
        return ("warning: " if isinstance(event, OperatorWarning) else "") + event.text
    if isinstance(event, Registered):
        return f"registered at {event.supernode}" if event.first else None
    if isinstance(event, SupernodeChanged):
        return f"supernode {event.from_} -> {event.to} ({event.reason})"
    if isinstance(event, IpAssigned):
        return f"address {event.ip4addr}/{event.prefix} assigned by {event.supernode}"
    if isinstance(event, RegistrationRefused):
        return f"REGISTER_SUPER refused by {event.supernode}: {event.reason}"
    if isinstance(event, PeerEvent) and event.action in (PeerAction.DEL_P2P, PeerAction.PURGE):
        return f"peer {event.macaddr} at {event.sockaddr} left the peer table"
    return None


class Observer:
    """The snapshot of one node and its recent changes, built in the event loop when a reader
    asks for it. `refresh`, `on_wake` and `on_event` run in the loop only; `read` in any thread.

    A reader that finds the snapshot older than `max_age` flags the wish, wakes the loop and
    waits (at most `timeout`) for the loop to publish a new one; readers within `max_age` of
    each other share one build. An unwatched node builds nothing.
    """

    def __init__(
        self,
        build: Callable[[float, float], Snapshot],
        *,
        tap: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = MAX_AGE,
    ) -> None:
        self._build = build
        self._wall_clock = wall_clock
        self._clock = clock
        self.tap = tap
        self.max_age = max_age
        self.wake: Callable[[], None] | None = None  # the loop's wake(); None: read() never waits
        self._changes: deque[dict[str, Any]] = deque(maxlen=CHANGES_KEPT)
        self._last: Snapshot | None = None
        self._built_at = float("-inf")
        self._wanted = False
        self._fresh = threading.Event()
        self.snapshot: Snapshot = {}

    # -- the loop's side

    def on_wake(self) -> None:
        if self._wanted:
            self.refresh(self._clock())

    def on_event(self, event: Event) -> None:
        text = event_change(event)
        if text is not None:
            self._record(text)

    def _record(self, text: str) -> None:
        if not self._changes or self._changes[-1]["text"] != text:  # a repeat says nothing new
            self._changes.append({"time": self._wall_clock(), "text": text})

    def refresh(self, now: float) -> None:
        self._wanted = False
        snap = self._build(now, self._wall_clock())
        for text in changes_between(self._last, snap):
            self._record(text)
        self._last = snap
        published = dict(snap)
        published["changes"] = list(self._changes)[::-1]  # newest first; a copy per snapshot
        self.snapshot = published  # one reference swap: readers see the old or the new one
        self._built_at = now
        done, self._fresh = self._fresh, threading.Event()
        done.set()

    # -- the readers' side

    def read(self, timeout: float = 1.0) -> Snapshot:
        """A snapshot at most `max_age` old, or the last one if the loop did not answer in time."""
        if self.wake is None or self._clock() - self._built_at < self.max_age:
            return self.snapshot
        fresh = self._fresh  # taken before the wish: a build from now on sets it
        self._wanted = True
        self.wake()
        fresh.wait(timeout)
        return self.snapshot


def edge_observer(views: EdgeViews, io_drops: IoDrops, tap: str | None = None) -> Observer:
    return Observer(lambda now, wall: edge_snapshot(views, io_drops(), now, wall), tap=tap)


def supernode_observer(views: SupernodeViews, io_drops: IoDrops) -> Observer:
    return Observer(lambda now, wall: supernode_snapshot(views, io_drops(), now, wall))


# ------------------------------------------------------------------------------ Prometheus


def _counter(name: str, doc: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def tap_counters(tap: str, root: Path = SYSFS_NET) -> dict[str, int]:
    """The kernel's counters of a TAP interface (tx = what this host sent into the overlay)."""
    out = {}
    for name in ("tx_bytes", "rx_bytes", "tx_packets", "rx_packets"):
        try:
            out[name] = int((root / tap / "statistics" / name).read_text())
        except (OSError, ValueError):
            continue
    return out


class NodeCollector(Collector):
    """Prometheus metrics of one node, from the observer's snapshot at scrape time."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def collect(self) -> Iterator[Metric]:
        snap = self.observer.read()
        if not snap:
            return
        info = _gauge("pyn2n_info", "pyn2n version and role of this process", ["role", "version"])
        info.add_metric([snap["role"], snap["version"]], 1)
        yield info
        up = _gauge("pyn2n_uptime_seconds", "seconds since the node started")
        up.add_metric([], snap["uptime"])
        yield up
        drops = _counter(
            "pyn2n_drops",
            "datagrams and frames dropped, by reason (benign: one a healthy network counts too)",
            ["reason", "benign"],
        )
        for reason, count in sorted(snap["drops"].items()):
            benign = "true" if is_benign(snap["role"], reason) else "false"
            drops.add_metric([reason, benign], count)
        yield drops
        if snap["role"] == "edge":
            yield from self._edge(snap)
        else:
            yield from _supernode(snap)

    def _edge(self, snap: Snapshot) -> Iterator[Metric]:
        reg = _gauge("pyn2n_edge_registered", "1 while registered at a supernode")
        reg.add_metric([], int(snap["registered"]))
        yield reg
        if snap["supernode_silence"] is not None:
            quiet = _gauge(
                "pyn2n_edge_supernode_silence_seconds",
                "seconds since the last REGISTER_SUPER_ACK (or relayed PACKET) from the supernode",
            )
            quiet.add_metric([], snap["supernode_silence"])
            yield quiet
        rtt = _gauge(
            "pyn2n_edge_supernode_rtt_seconds",
            "round-trip time of the last PING/PONG with each supernode",
            ["supernode", "current"],
        )
        for row in snap["supernodes"]:
            if row["rtt_ms"] is not None:
                rtt.add_metric(
                    [row["sockaddr"], str(int(bool(row["current"])))], row["rtt_ms"] / 1e3
                )
        yield rtt
        peers = _gauge("pyn2n_edge_peers", "peers by the path our traffic to them takes", ["path"])
        by_path = dict.fromkeys(BASE_PATHS, 0)
        for row in snap["peers"]:
            by_path[row["via"]] = by_path.get(row["via"], 0) + 1
        for path, n in by_path.items():
            peers.add_metric([path], n)
        yield peers
        yield _by_direction_and_path(
            "pyn2n_edge_packets", "data packets by direction and path", snap["packets"]
        )
        yield _by_direction_and_path(
            "pyn2n_edge_bytes",
            "frame bytes by direction and path (received on a standard path: the payload as it"
            " arrived, before decompression and deciphering)",
            snap["bytes"],
        )
        bcast = _counter(
            "pyn2n_edge_broadcast_packets",
            "broadcast and multicast packets through the supernode (part of path=relayed)",
            ["direction"],
        )
        for direction, n in snap["broadcast"].items():
            bcast.add_metric([direction], n)
        yield bcast
        if self.observer.tap is not None:
            yield from _tap(tap_counters(self.observer.tap))


def _by_direction_and_path(
    name: str, doc: str, table: dict[str, dict[str, int]]
) -> CounterMetricFamily:
    family = _counter(name, doc, ["direction", "path"])
    for direction, paths in table.items():
        for path, n in paths.items():
            family.add_metric([direction, path], n)
    return family


def _tap(counts: dict[str, int]) -> Iterator[Metric]:
    kinds = (("bytes", "pyn2n_edge_tap_bytes"), ("packets", "pyn2n_edge_tap_packets"))
    for unit, name in kinds:
        fam = _counter(
            name,
            f"overlay {unit} through the TAP, all paths (kernel counters; "
            "tx: from this host into the VPN)",
            ["direction"],
        )
        for direction in ("tx", "rx"):
            value = counts.get(f"{direction}_{unit}")
            if value is not None:
                fam.add_metric([direction], value)
        yield fam


def _supernode(snap: Snapshot) -> Iterator[Metric]:
    comms = [c for c in snap["communities"] if not c["is_federation"]]
    n = _gauge("pyn2n_supernode_communities", "communities served")
    n.add_metric([], len(comms))
    yield n
    edges = _gauge("pyn2n_supernode_edges", "registered edges per community", ["community"])
    for c in comms:
        edges.add_metric([c["community"]], len(c["edges"]))
    yield edges
    fed = _gauge("pyn2n_supernode_federation_members", "other supernodes known", ["state"])
    active = sum(1 for m in snap["federation"] if m["active"])
    fed.add_metric(["active"], active)
    fed.add_metric(["inactive"], len(snap["federation"]) - active)
    yield fed
    s = snap["stats"]
    relayed = _counter(
        "pyn2n_supernode_relayed_packets",
        "PACKETs and REGISTERs forwarded between edges (broadcast: one per copy sent)",
        ["kind"],
    )
    relayed.add_metric(["unicast"], s["relayed_unicast"])
    relayed.add_metric(["broadcast"], s["relayed_broadcast"])
    yield relayed
    reg = _counter("pyn2n_supernode_register_super", "REGISTER_SUPER received")
    reg.add_metric([], s["register_super"])
    yield reg
    nak = _counter("pyn2n_supernode_register_super_nak", "REGISTER_SUPER answered with a NAK")
    nak.add_metric([], s["register_super_nak"])
    yield nak
    err = _counter("pyn2n_supernode_send_errors", "datagrams the kernel refused to send")
    err.add_metric([], s["send_errors"])
    yield err


def make_registry(observer: Observer) -> CollectorRegistry:
    """A registry of its own (not the global default): the node, process, platform and GC."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(observer))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
