"""The benchmark experiments (docs/benchmarks.md), run between lab hosts over one `NetPath`.

Host roles: the first host (`e1`) sends or asks, the second (`e2`) receives or answers; the
multicast stream goes from `e1` to every other host of the path. Measuring ends are
`pyn2n.bench.peers` (run with this interpreter inside the hosts' namespaces), `ping` and
`iperf3`. Each experiment returns its headline figures (positive numbers, the keys of its
`metrics`), details, and the CPU use of the path's processes over the measured window.
"""

from __future__ import annotations

import json
import pathlib
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pyn2n.bench.paths import NetPath
from pyn2n.bench.system import BenchError, CpuMeter, CpuSample
from pyn2n.lab import Lab

PEERS = [sys.executable, "-m", "pyn2n.bench.peers"]
TRANSFER_PORT = 5001
ZMQ_THR_PORT = 5555
ZMQ_LAT_PORT = 5556
IPERF_PORT = 5201
MCAST_GROUP = "239.255.77.1"
MCAST_PORT = 5000
READY_TIMEOUT = 20.0
MIN_RATE = 1e6  # bytes/s: a transfer slower than this is given up (sets its timeout)


@dataclass
class Settings:
    """Sizes and durations of the experiments (defaults: docs/benchmarks.md; `quick()`: ~1 minute)."""

    transfer_bytes: int = 1_000_000_000
    zmq_size: int = 4096
    zmq_count: int = 100_000
    sizes: tuple[int, ...] = (64, 256, 1024, 4096, 16384, 65536)
    size_bytes: int = 100_000_000  # per size of the sweep: count = bytes / size, clamped
    size_min_count: int = 2_000
    size_max_count: int = 100_000
    ping_count: int = 200
    ping_interval: float = 0.01
    lat_size: int = 64
    lat_count: int = 5_000
    mcast_size: int = 1024
    mcast_rate: int = 10_000
    mcast_seconds: float = 5.0
    iperf_seconds: float = 5.0
    udp_size: int = 64

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            transfer_bytes=50_000_000,
            zmq_count=10_000,
            sizes=(64, 1024, 16384, 65536),
            size_bytes=10_000_000,
            size_min_count=500,
            size_max_count=20_000,
            ping_count=20,
            lat_count=500,
            mcast_rate=2_000,
            mcast_seconds=1.0,
            iperf_seconds=1.0,
        )

    def size_count(self, size: int) -> int:
        return max(self.size_min_count, min(self.size_max_count, self.size_bytes // size))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # axis / column label with its unit
    higher_is_better: bool = True


@dataclass
class Outcome:
    figures: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    cpu: CpuSample | None = None


@dataclass
class Context:
    """What an experiment runs with: the lab, its hosts, settings and where peers log."""

    lab: Lab
    settings: Settings
    logdir: pathlib.Path
    tag: str = ""  # prefixed to log file names (path and repeat)
    peers: list[Peer] = field(default_factory=list)  # started by the experiment under way

    def meter(self, path: NetPath) -> CpuMeter:
        return CpuMeter(path.overlay_pids)

    def stop_peers(self) -> None:
        """Stop what the last experiment left running (after a failure: its other ends)."""
        for peer in self.peers:
            peer.stop()
        self.peers.clear()


class Peer:
    """A measuring process in a lab host: stdout is read line by line in a thread (so a wait
    can time out), stderr goes to a log file."""

    def __init__(self, ctx: Context, host: str, argv: Sequence[str], name: str) -> None:
        self.ctx, self.host, self.name = ctx, host, name
        self.log = ctx.logdir / f"{ctx.tag}{name}-{host}.log"
        with open(self.log, "ab") as err:
            self.proc = ctx.lab.spawn(
                host,
                list(argv),
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        ctx.peers.append(self)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _fail(self, what: str) -> BenchError:
        self.ctx.lab.stop(self.proc)
        try:
            err = self.log.read_text(errors="replace").strip()[-600:]
        except OSError:
            err = ""
        out = " | ".join(self.output[-5:])
        return BenchError(f"{self.name} on {self.host} {what}; stdout: {out!r}; stderr: {err!r}")

    def expect(self, pattern: str, timeout: float = READY_TIMEOUT) -> str:
        """Wait for a line of stdout that contains `pattern`; return it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise self._fail(f"printed no {pattern!r} within {timeout:.0f} s") from None
            if line is None:
                self.proc.wait()
                raise self._fail(f"exited ({self.proc.returncode}) before printing {pattern!r}")
            self.output.append(line)
            if pattern in line:
                return line

    def wait(self, timeout: float, ok: Sequence[int] = (0,)) -> list[str]:
        """Wait for the process to exit with a code in `ok`; return all of its stdout lines."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise self._fail(f"did not finish within {timeout:.0f} s") from None
            if line is None:
                break
            self.output.append(line)
        try:
            code = self.proc.wait(max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            raise self._fail(f"did not exit within {timeout:.0f} s") from None
        if code not in ok:
            raise self._fail(f"exited with {code}")
        return self.output

    def result(self, timeout: float) -> dict[str, Any]:
        """Wait for exit and parse the JSON object on its last line of stdout."""
        lines = self.wait(timeout)
        for line in reversed(lines):
            if line.startswith("{"):
                return dict(json.loads(line))
        raise self._fail("printed no JSON result")

    def stop(self) -> None:
        self.ctx.lab.stop(self.proc)


def _peer(ctx: Context, host: str, role: str, *args: object) -> Peer:
    return Peer(ctx, host, [*PEERS, role, *(str(a) for a in args)], role)


def _pair(path: NetPath) -> tuple[str, str]:
    if len(path.hosts) < 2:
        raise BenchError(f"{path.name} joins fewer than two hosts")
    return path.hosts[0], path.hosts[1]


# --- (a) large transfer ---------------------------------------------------------------------------


def transfer(ctx: Context, path: NetPath) -> Outcome:
    """A file of `transfer_bytes` streamed over one TCP connection (as `pv | nc` would)."""
    client, server = _pair(path)
    nbytes = ctx.settings.transfer_bytes
    timeout = 30 + nbytes / MIN_RATE
    sink = _peer(ctx, server, "tcp-sink", TRANSFER_PORT)
    sink.expect("ready")
    meter = ctx.meter(path)
    meter.start()
    source = _peer(ctx, client, "tcp-source", path.addresses[server], TRANSFER_PORT, nbytes)
    source.wait(timeout)
    res = sink.result(timeout)
    cpu = meter.stop()
    if res["total"] != nbytes:
        raise BenchError(f"{path.name}: the sink got {res['total']} of {nbytes} bytes")
    return Outcome(
        figures={"mb_s": res["bytes"] / res["seconds"] / 1e6},
        details={"bytes": nbytes, "timed_bytes": res["bytes"], "seconds": res["seconds"]},
        cpu=cpu,
    )


# --- (b), (c) ZeroMQ throughput ----------------------------------------------------------------------


def _zmq_thr(ctx: Context, path: NetPath, size: int, count: int) -> dict[str, float]:
    client, server = _pair(path)
    # generous: 40 s plus 100 µs per message (a path at 10k msgs/s still finishes)
    timeout = 40 + count * 1e-4 + count * size / MIN_RATE
    local = _peer(ctx, server, "zmq-local-thr", f"tcp://0.0.0.0:{ZMQ_THR_PORT}", size, count)
    local.expect("ready")
    target = f"tcp://{path.addresses[server]}:{ZMQ_THR_PORT}"
    remote = _peer(ctx, client, "zmq-remote-thr", target, size, count)
    res = local.result(timeout)
    remote.wait(timeout)
    msgs_s = res["messages"] / res["seconds"]
    return {"msgs_s": msgs_s, "mbit_s": msgs_s * size * 8 / 1e6, "seconds": res["seconds"]}


def zmq_thr(ctx: Context, path: NetPath) -> Outcome:
    """libzmq's local_thr/remote_thr: PUSH -> PULL over TCP, `zmq_size` B x `zmq_count`."""
    s = ctx.settings
    meter = ctx.meter(path)
    meter.start()
    res = _zmq_thr(ctx, path, s.zmq_size, s.zmq_count)
    cpu = meter.stop()
    return Outcome(
        figures={"msgs_s": res["msgs_s"], "mbit_s": res["mbit_s"]},
        details={"size": s.zmq_size, "count": s.zmq_count, "seconds": res["seconds"]},
        cpu=cpu,
    )


def zmq_sizes(ctx: Context, path: NetPath) -> Outcome:
    """ZeroMQ msgs/s for each message size of `sizes` (64 B .. 64 KiB)."""
    s = ctx.settings
    figures: dict[str, float] = {}
    details: dict[str, Any] = {}
    meter = ctx.meter(path)
    meter.start()
    for size in s.sizes:
        count = s.size_count(size)
        res = _zmq_thr(ctx, path, size, count)
        figures[f"msgs_s@{size}"] = res["msgs_s"]
        figures[f"mbit_s@{size}"] = res["mbit_s"]
        details[str(size)] = {"count": count, "seconds": res["seconds"]}
    return Outcome(figures=figures, details=details, cpu=meter.stop())


# --- (d) latency --------------------------------------------------------------------------------


PING_TIME = re.compile(r"time=([0-9.]+) ms")


def latency(ctx: Context, path: NetPath) -> Outcome:
    """ICMP echo RTT (`ping`) and a ZeroMQ REQ/REP round trip of `lat_size` bytes."""
    client, server = _pair(path)
    s = ctx.settings
    meter = ctx.meter(path)
    meter.start()
    argv = f"ping -n -c {s.ping_count} -i {s.ping_interval} -W 2 {path.addresses[server]}"
    ping = Peer(ctx, client, argv.split(), "ping")
    # ping exits 1 when a reply is missing: a lossy path still has an RTT
    lines = ping.wait(30 + s.ping_count * (s.ping_interval + 0.1), ok=(0, 1))
    rtts_ms = [float(m.group(1)) for line in lines if (m := PING_TIME.search(line))]
    if not rtts_ms:
        raise BenchError(f"ping {path.addresses[server]} from {client}: no replies")
    rep = _peer(ctx, server, "zmq-rep", f"tcp://0.0.0.0:{ZMQ_LAT_PORT}", s.lat_size, s.lat_count)
    rep.expect("ready")
    target = f"tcp://{path.addresses[server]}:{ZMQ_LAT_PORT}"
    req = _peer(ctx, client, "zmq-req", target, s.lat_size, s.lat_count)
    rtt_us = req.result(30 + s.lat_count * 0.01)["rtt_us"]
    rep.wait(10)
    cpu = meter.stop()
    zmq_sorted = sorted(rtt_us)
    return Outcome(
        figures={
            "ping_ms": statistics.median(rtts_ms),
            "zmq_rtt_us": statistics.median(rtt_us),
        },
        details={
            "ping_replies": len(rtts_ms),
            "ping_sent": s.ping_count,
            "ping_mean_ms": statistics.fmean(rtts_ms),
            "zmq_mean_us": statistics.fmean(rtt_us),
            "zmq_p99_us": zmq_sorted[min(len(zmq_sorted) - 1, int(0.99 * len(zmq_sorted)))],
            "zmq_size": s.lat_size,
            "zmq_count": s.lat_count,
        },
        cpu=cpu,
    )


# --- (e) multicast ------------------------------------------------------------------------------


def multicast(ctx: Context, path: NetPath) -> Outcome:
    """A paced UDP stream to a group from the first host; rate and share delivered to each
    other host (which joined the group on the path's interface)."""
    s = ctx.settings
    sender, receivers = path.hosts[0], path.hosts[1:]
    if len(receivers) < 2:
        raise BenchError(f"{path.name}: multicast needs at least two receivers")
    listen = s.mcast_seconds + 20
    recv = [
        _peer(ctx, h, "mcast-recv", MCAST_GROUP, MCAST_PORT, path.addresses[h], listen)
        for h in receivers
    ]
    for r in recv:
        r.expect("ready")
    time.sleep(0.5)  # the IGMP reports of the joins cross the path first
    meter = ctx.meter(path)
    meter.start()
    stream = (s.mcast_size, s.mcast_rate, s.mcast_seconds)
    send = _peer(
        ctx, sender, "mcast-send", MCAST_GROUP, MCAST_PORT, path.addresses[sender], *stream
    )
    sent = send.result(s.mcast_seconds + 30)
    got = {r.host: r.result(listen + 10) for r in recv}
    cpu = meter.stop()
    n, seconds = sent["sent"], sent["seconds"]
    if n == 0:
        raise BenchError(f"{path.name}: the multicast sender sent nothing")
    shares = {h: g["received"] / n for h, g in got.items()}
    worst = min(got.values(), key=lambda g: g["received"])
    return Outcome(
        figures={
            "recv_pps": worst["received"] / seconds,
            "delivered_pct": 100 * min(shares.values()),
        },
        details={
            "sent": n,
            "sent_pps": n / seconds,
            "size": s.mcast_size,
            "offered_pps": s.mcast_rate,
            "receivers": {
                h: {
                    "received": g["received"],
                    "duplicates": g["duplicates"],
                    "share": round(shares[h], 4),
                }
                for h, g in got.items()
            },
        },
        cpu=cpu,
    )


# --- (f) iperf3 ---------------------------------------------------------------------------------


def _iperf(
    ctx: Context, path: NetPath, extra: Sequence[str], name: str
) -> tuple[dict[str, Any], CpuSample]:
    client, server = _pair(path)
    seconds = ctx.settings.iperf_seconds
    # --forceflush: "Server listening" must reach the pipe at once, it is the ready signal
    srv = Peer(ctx, server, f"iperf3 -s -1 --forceflush -p {IPERF_PORT}".split(), f"{name}-server")
    srv.expect("Server listening")
    meter = ctx.meter(path)
    meter.start()
    argv = f"iperf3 -c {path.addresses[server]} -p {IPERF_PORT} -t {seconds} -J".split()
    cli = Peer(ctx, client, [*argv, *extra], name)
    out = cli.wait(seconds + 40)
    cpu = meter.stop()
    srv.wait(15)
    report = json.loads("\n".join(out))
    if "error" in report:
        raise BenchError(f"iperf3 {' '.join(extra)}: {report['error']}")
    return report["end"], cpu


def iperf_tcp(ctx: Context, path: NetPath) -> Outcome:
    """iperf3 TCP, one stream, `iperf_seconds` long."""
    end, cpu = _iperf(ctx, path, [], "iperf3-tcp")
    received = end["sum_received"]
    return Outcome(
        figures={"mbit_s": received["bits_per_second"] / 1e6},
        details={
            "retransmits": end["sum_sent"].get("retransmits"),
            "seconds": received["seconds"],
        },
        cpu=cpu,
    )


def iperf_udp(ctx: Context, path: NetPath) -> Outcome:
    """iperf3 UDP with `udp_size`-byte payloads sent as fast as possible (-b 0): the packets
    per second the receiver got."""
    size = ctx.settings.udp_size
    end, cpu = _iperf(ctx, path, ["-u", "-l", str(size), "-b", "0"], "iperf3-udp")
    received = end["sum_received"]
    # iperf3's server counts `packets` up to the highest sequence number seen, lost the gaps
    got = received["packets"] - received["lost_packets"]
    return Outcome(
        figures={"pps": got / received["seconds"]},
        details={
            "sent_pps": end["sum_sent"]["packets"] / end["sum_sent"]["seconds"],
            "lost_percent": received["lost_percent"],
            "size": size,
        },
        cpu=cpu,
    )


# --- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    run: Callable[[Context, NetPath], Outcome]
    metrics: Callable[[Settings], list[Metric]]
    multicast: bool = False  # needs a path that carries multicast to two or more receivers


def _size_metrics(s: Settings) -> list[Metric]:
    return [Metric(f"msgs_s@{size}", f"msgs/s {size} B") for size in s.sizes] + [
        Metric(f"mbit_s@{size}", f"Mbit/s {size} B") for size in s.sizes
    ]


EXPERIMENTS: list[Experiment] = [
    Experiment("transfer", "Large transfer over TCP", transfer, lambda s: [Metric("mb_s", "MB/s")]),
    Experiment(
        "zmq_thr",
        "ZeroMQ throughput (local_thr/remote_thr)",
        zmq_thr,
        lambda s: [Metric("msgs_s", "msgs/s"), Metric("mbit_s", "Mbit/s")],
    ),
    Experiment("zmq_sizes", "ZeroMQ msgs/s by message size", zmq_sizes, _size_metrics),
    Experiment(
        "latency",
        "Latency (median round trip)",
        latency,
        lambda s: [
            Metric("ping_ms", "ping RTT ms", higher_is_better=False),
            Metric("zmq_rtt_us", "ZeroMQ REQ/REP RTT µs", higher_is_better=False),
        ],
    ),
    Experiment(
        "multicast",
        "Multicast stream to every other host",
        multicast,
        lambda s: [
            Metric("recv_pps", "pkts/s at the worst receiver"),
            Metric("delivered_pct", "% delivered to the worst receiver"),
        ],
        multicast=True,
    ),
    Experiment("iperf_tcp", "iperf3 TCP", iperf_tcp, lambda s: [Metric("mbit_s", "Mbit/s")]),
    Experiment(
        "iperf_udp",
        "iperf3 UDP, 64-byte packets",
        iperf_udp,
        lambda s: [Metric("pps", "pkts/s received")],
    ),
]


def select_experiments(spec: str) -> list[Experiment]:
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    if not wanted or "all" in wanted:
        return list(EXPERIMENTS)
    names = {e.name for e in EXPERIMENTS}
    bad = [w for w in wanted if w not in names]
    if bad:
        raise BenchError(f"unknown experiment {', '.join(bad)}; known: {', '.join(names)}")
    return [e for e in EXPERIMENTS if e.name in wanted]
