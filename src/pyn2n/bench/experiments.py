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

from pyn2n.bench.paths import SUPERNODE_HOST, NetPath
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
    load_seconds: float = 12.0  # the bulk flow of the loaded latency measurement
    mcast_size: int = 1024
    mcast_rate: int = 10_000
    mcast_seconds: float = 5.0
    mcast_groups_size: int = 256
    mcast_groups_rate: int = 200  # datagrams/s: heartbeat-like traffic, not a flood
    mcast_groups_seconds: float = 5.0
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
            ping_count=50,
            lat_count=500,
            load_seconds=5.0,
            mcast_rate=2_000,
            mcast_seconds=1.0,
            iperf_seconds=1.0,
            mcast_groups_seconds=2.0,
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


PING_TIME = re.compile(r"icmp_seq=(\d+) .*time=([0-9.]+) ms")
LOAD_WARMUP = 1.0  # seconds the bulk flow runs before the loaded round trips start
LOAD_MARGIN = 0.5  # seconds of bulk flow left when the loaded round trips must have ended


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0..100) of `values`, interpolated between the closest ranks
    (numpy's default "linear" method): p50 is the median, p100 the largest value."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ping(ctx: Context, path: NetPath, name: str) -> list[float]:
    """`ping_count` echoes from the first host to the second; the RTTs of the replies, ms. One
    more echo goes first, not counted: it may wait for the neighbours' ARP."""
    client, server = _pair(path)
    s = ctx.settings
    count = s.ping_count + 1
    argv = f"ping -n -c {count} -i {s.ping_interval} -W 2 {path.addresses[server]}"
    ping = Peer(ctx, client, argv.split(), name)
    # ping exits 1 when a reply is missing: a lossy path still has an RTT
    lines = ping.wait(30 + count * (s.ping_interval + 0.1), ok=(0, 1))
    found = [m for line in lines if (m := PING_TIME.search(line))]
    rtts_ms = [float(m.group(2)) for m in found if m.group(1) != "1"]
    if not rtts_ms:
        raise BenchError(f"{name} {path.addresses[server]} from {client}: no replies")
    return rtts_ms


def _req_rep(ctx: Context, path: NetPath, name: str, seconds: float = 0.0) -> list[float]:
    """`lat_count` ZeroMQ REQ/REP round trips (fewer if `seconds` > 0 run out); RTTs in µs."""
    client, server = _pair(path)
    s = ctx.settings
    bind = f"tcp://0.0.0.0:{ZMQ_LAT_PORT}"
    rep = _peer(ctx, server, "zmq-rep", bind, s.lat_size, s.lat_count)
    rep.expect("ready")
    target = f"tcp://{path.addresses[server]}:{ZMQ_LAT_PORT}"
    req = Peer(
        ctx,
        client,
        [*PEERS, "zmq-req", target, str(s.lat_size), str(s.lat_count), str(seconds)],
        name,
    )
    rtt_us: list[float] = req.result(30 + s.lat_count * 0.01)["rtt_us"]
    rep.wait(10)
    if not rtt_us:
        raise BenchError(f"{name} to {target}: no round trip within {seconds:.1f} s")
    return rtt_us


def _pcts(prefix: str, values: Sequence[float]) -> dict[str, float]:
    return {f"{prefix}_p50": percentile(values, 50), f"{prefix}_p99": percentile(values, 99)}


def latency(ctx: Context, path: NetPath) -> Outcome:
    """ICMP echo RTT (`ping`) and a ZeroMQ REQ/REP round trip of `lat_size` bytes, p50 and p99,
    first on an idle path, then while an iperf3 TCP stream runs between the same two hosts
    (same direction as the pings and requests) for `load_seconds`."""
    s = ctx.settings
    meter = ctx.meter(path)
    meter.start()
    ping_idle = _ping(ctx, path, "ping")
    zmq_idle = _req_rep(ctx, path, "zmq-req")
    cpu = meter.stop()
    load_meter = ctx.meter(path)
    srv, cli = _iperf_start(ctx, path, [], "iperf3-load", s.load_seconds, load_meter)
    started = time.monotonic()
    time.sleep(LOAD_WARMUP)  # past TCP's slow start: the queues have filled
    ping_load = _ping(ctx, path, "ping-load")
    left = s.load_seconds - (time.monotonic() - started) - LOAD_MARGIN
    if left < 0.2:
        raise BenchError(
            f"{path.name}: the {s.load_seconds} s bulk flow ended before the loaded round trips "
            "(more --load-seconds or fewer pings)"
        )
    zmq_load = _req_rep(ctx, path, "zmq-req-load", left)
    end, load_cpu = _iperf_end(srv, cli, s.load_seconds, [], load_meter)
    load_mbit_s = end["sum_received"]["bits_per_second"] / 1e6
    idle = {**_pcts("ping", ping_idle), **_pcts("zmq", zmq_idle)}
    loaded = {**_pcts("ping", ping_load), **_pcts("zmq", zmq_load)}
    return Outcome(
        figures={
            "ping_ms": idle["ping_p50"],
            "ping_p99_ms": idle["ping_p99"],
            "ping_load_ms": loaded["ping_p50"],
            "ping_load_p99_ms": loaded["ping_p99"],
            "zmq_rtt_us": idle["zmq_p50"],
            "zmq_p99_us": idle["zmq_p99"],
            "zmq_load_us": loaded["zmq_p50"],
            "zmq_load_p99_us": loaded["zmq_p99"],
            "load_mbit_s": load_mbit_s,
        },
        details={
            "ping_replies": len(ping_idle),
            "ping_load_replies": len(ping_load),
            "ping_sent": s.ping_count,
            "ping_mean_ms": statistics.fmean(ping_idle),
            "ping_rise_ms": loaded["ping_p50"] - idle["ping_p50"],
            "zmq_mean_us": statistics.fmean(zmq_idle),
            "zmq_load_count": len(zmq_load),
            "zmq_rise_us": loaded["zmq_p50"] - idle["zmq_p50"],
            "zmq_size": s.lat_size,
            "zmq_count": s.lat_count,
            "load_seconds": s.load_seconds,
            "load_retransmits": end["sum_sent"].get("retransmits"),
            "load_cpu": load_cpu.to_dict() if load_cpu else None,
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


# --- (e2) multicast to a few subscribers --------------------------------------------------------

SUBSCRIBERS = (1, 2, 4)
LAT_GROUP = "239.255.77.2"
LAT_PORT = 5002


def mcast_groups(ctx: Context, path: NetPath) -> Outcome:
    """A paced stream from the first host to a group that 1, 2 and then 4 of the other hosts
    joined: the supernode's datagrams (in + out) per multicast frame, counted on its host with a
    raw socket; the share delivered to the worst subscriber; one-way latency (one clock for
    every namespace of the machine)."""
    s = ctx.settings
    sender, others = path.hosts[0], path.hosts[1:]
    if len(others) < max(SUBSCRIBERS) + 1:
        raise BenchError(f"{path.name}: needs {max(SUBSCRIBERS) + 2} edges (--edges)")
    figures: dict[str, float] = {}
    details: dict[str, Any] = {"rate": s.mcast_groups_rate, "seconds": s.mcast_groups_seconds}
    cpu = None
    for k in SUBSCRIBERS:
        row, cpu = _mcast_groups_run(ctx, path, sender, others[:k])
        lat = sorted(row["oneway_us"])
        figures[f"sn_per_frame@{k}"] = row["sn_per_frame"]
        figures[f"delivered_pct@{k}"] = row["delivered_pct"]
        figures[f"oneway_p50_us@{k}"] = _pct(lat, 50)
        figures[f"oneway_p99_us@{k}"] = _pct(lat, 99)
        details[str(k)] = {key: v for key, v in row.items() if key != "oneway_us"}
    return Outcome(figures=figures, details=details, cpu=cpu)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def _mcast_groups_run(
    ctx: Context, path: NetPath, sender: str, subscribers: Sequence[str]
) -> tuple[dict[str, Any], CpuSample]:
    s = ctx.settings
    listen = s.mcast_groups_seconds + 20
    recv = [
        _peer(ctx, h, "mcast-lat-recv", LAT_GROUP, LAT_PORT, path.addresses[h], listen)
        for h in subscribers
    ]
    for r in recv:
        r.expect("ready")
    time.sleep(1.5)  # the joins reach the senders (pyn2n: GROUPS messages)
    count = _peer(ctx, SUPERNODE_HOST, "sn-count", listen)
    count.expect("ready")
    meter = ctx.meter(path)
    meter.start()
    stream = (s.mcast_groups_size, s.mcast_groups_rate, s.mcast_groups_seconds)
    send = _peer(
        ctx, sender, "mcast-lat-send", LAT_GROUP, LAT_PORT, path.addresses[sender], *stream
    )
    sent = send.result(s.mcast_groups_seconds + 30)["sent"]
    got = {r.host: r.result(listen + 10) for r in recv}
    cpu = meter.stop()
    count.stop()
    sn = count.result(10)
    if sent == 0:
        raise BenchError(f"{path.name}: the multicast sender sent nothing")
    oneway = [v for g in got.values() for v in g["oneway_us"]]
    return {
        "subscribers": list(subscribers),
        "sent": sent,
        "received": {h: g["received"] for h, g in got.items()},
        "duplicates": sum(g["duplicates"] for g in got.values()),
        "delivered_pct": 100 * min(g["received"] for g in got.values()) / sent,
        "sn_in": sn["in"],
        "sn_out": sn["out"],
        "sn_per_frame": round((sn["in"] + sn["out"]) / sent, 3),
        "oneway_us": oneway,
    }, cpu


# --- (f) iperf3 ---------------------------------------------------------------------------------


def _iperf_start(
    ctx: Context,
    path: NetPath,
    extra: Sequence[str],
    name: str,
    seconds: float,
    meter: CpuMeter | None = None,
) -> tuple[Peer, Peer]:
    """Start an iperf3 server on the second host, then `meter`, then the client on the first."""
    client, server = _pair(path)
    # --forceflush: "Server listening" must reach the pipe at once, it is the ready signal
    srv = Peer(ctx, server, f"iperf3 -s -1 --forceflush -p {IPERF_PORT}".split(), f"{name}-server")
    srv.expect("Server listening")
    if meter is not None:
        meter.start()
    argv = f"iperf3 -c {path.addresses[server]} -p {IPERF_PORT} -t {seconds} -J".split()
    return srv, Peer(ctx, client, [*argv, *extra], name)


def _iperf_end(
    srv: Peer, cli: Peer, seconds: float, extra: Sequence[str], meter: CpuMeter | None = None
) -> tuple[dict[str, Any], CpuSample | None]:
    """Wait for the client of `_iperf_start`, stop `meter`, wait for the server; the client's
    `end` report and the CPU sample."""
    out = cli.wait(seconds + 40)
    cpu = meter.stop() if meter is not None else None
    srv.wait(15)
    report = json.loads("\n".join(out))
    if "error" in report:
        raise BenchError(f"iperf3 {' '.join(extra)}: {report['error']}")
    return dict(report["end"]), cpu


def _iperf(
    ctx: Context, path: NetPath, extra: Sequence[str], name: str
) -> tuple[dict[str, Any], CpuSample]:
    seconds = ctx.settings.iperf_seconds
    meter = ctx.meter(path)
    srv, cli = _iperf_start(ctx, path, extra, name, seconds, meter)
    end, cpu = _iperf_end(srv, cli, seconds, extra, meter)
    assert cpu is not None
    return end, cpu


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
    supernode: bool = False  # needs an n2n community (a supernode on host `sn`)
    brief: tuple[str, ...] = ()  # the metrics of the progress line (default: the first two)


def _size_metrics(s: Settings) -> list[Metric]:
    return [Metric(f"msgs_s@{size}", f"msgs/s {size} B") for size in s.sizes] + [
        Metric(f"mbit_s@{size}", f"Mbit/s {size} B") for size in s.sizes
    ]


LATENCY_METRICS = [
    Metric("ping_ms", "ping p50 ms", higher_is_better=False),
    Metric("ping_p99_ms", "ping p99 ms", higher_is_better=False),
    Metric("ping_load_ms", "ping p50 ms loaded", higher_is_better=False),
    Metric("ping_load_p99_ms", "ping p99 ms loaded", higher_is_better=False),
    Metric("zmq_rtt_us", "ZeroMQ p50 µs", higher_is_better=False),
    Metric("zmq_p99_us", "ZeroMQ p99 µs", higher_is_better=False),
    Metric("zmq_load_us", "ZeroMQ p50 µs loaded", higher_is_better=False),
    Metric("zmq_load_p99_us", "ZeroMQ p99 µs loaded", higher_is_better=False),
    Metric("load_mbit_s", "bulk flow Mbit/s"),
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
        "Latency, idle and under a bulk flow (p50 and p99 round trip)",
        latency,
        lambda s: LATENCY_METRICS,
        brief=("ping_ms", "ping_load_ms", "zmq_rtt_us", "zmq_load_us"),
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
    Experiment(
        "mcast_groups",
        "Multicast to 1, 2 and 4 subscribers: supernode load, delivery, one-way latency",
        mcast_groups,
        lambda s: [
            *[
                Metric(f"sn_per_frame@{k}", f"supernode dgrams/frame, {k} sub", False)
                for k in SUBSCRIBERS
            ],
            *[Metric(f"delivered_pct@{k}", f"% delivered, {k} sub") for k in SUBSCRIBERS],
            *[Metric(f"oneway_p50_us@{k}", f"one-way p50 µs, {k} sub", False) for k in SUBSCRIBERS],
            *[Metric(f"oneway_p99_us@{k}", f"one-way p99 µs, {k} sub", False) for k in SUBSCRIBERS],
        ],
        multicast=True,
        supernode=True,
        brief=("sn_per_frame@4", "delivered_pct@4", "oneway_p50_us@4"),
    ),
    Experiment("iperf_tcp", "iperf3 TCP", iperf_tcp, lambda s: [Metric("mbit_s", "Mbit/s")]),
    Experiment(
        "iperf_udp",
        "iperf3 UDP, 64-byte packets",
        iperf_udp,
        lambda s: [Metric("pps", "pkts/s received")],
    ),
]


def _loss_tcp(ctx: Context, path: NetPath) -> Outcome:
    from pyn2n.bench import loss  # (it builds on this module)

    return loss.loss_tcp(ctx, path)


def _loss_metrics(s: Settings) -> list[Metric]:
    from pyn2n.bench import loss

    return loss.metrics(s)


EXPERIMENTS.append(
    Experiment("loss", "iperf3 TCP under per-datagram underlay loss", _loss_tcp, _loss_metrics)
)
ON_REQUEST = {"loss", "mcast_groups"}  # not part of "all": run when named (own lab needs)


def select_experiments(spec: str) -> list[Experiment]:
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    if not wanted or "all" in wanted:
        return [e for e in EXPERIMENTS if e.name not in ON_REQUEST or e.name in wanted]
    names = {e.name for e in EXPERIMENTS}
    bad = [w for w in wanted if w not in names]
    if bad:
        raise BenchError(f"unknown experiment {', '.join(bad)}; known: {', '.join(names)}")
    return [e for e in EXPERIMENTS if e.name in wanted]
