"""`pyn2n bench supernode`: the pyn2n supernode against n2n's C supernode, in one lab, one run.

Load (host `e1` holds the generators, `pyn2n.bench.sngen`; synthetic edges with distinct MACs
and sockets from GEN_IPS source addresses): first registrations per second (closed loop, a
window of unanswered ones), RSS growth per edge, CPU at steady state (every edge re-registering
every 20 s) and broadcast fan-out (copies leaving the supernode per second of its CPU, while
all those edges are registered). Relay (hosts `e2`, `e3` run C n2n edges with `-S1`, so every
datagram crosses the supernode): iperf3 TCP, 64-byte UDP packets/s, ping RTT p50, and the
supernode's CPU per relayed datagram. The two supernodes alternate per repeat; medians are
reported with the pyn2n/C ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from pyn2n.bench.experiments import PING_TIME, percentile
from pyn2n.bench.system import BenchError, process_ticks
from pyn2n.constants import N2N_SN_LPORT_DEFAULT
from pyn2n.lab import Lab, preflight

COMMUNITY = "bench"
GEN_HOST, RELAY_A, RELAY_B = "e1", "e2", "e3"
PER_GENERATOR = 18_000  # sockets per generator process (the file-descriptor limit is 20,000)
GEN_IPS = 200  # source addresses of the synthetic edges on GEN_HOST
TICK = os.sysconf("SC_CLK_TCK")
KINDS = ("pyn2n", "n2n")


@dataclass
class Settings:
    edges: int = 100_000
    window: int = 256  # unanswered registrations per generator
    steady_seconds: float = 40.0
    fanout_broadcasts: int = 20
    relay_seconds: float = 5.0
    ping_count: int = 200

    @classmethod
    def quick(cls) -> Settings:
        return cls(edges=20_000, steady_seconds=20.0, fanout_broadcasts=10, relay_seconds=3.0,
                   ping_count=100)  # fmt: skip


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def _ticks(pid: int) -> int:
    ticks = process_ticks(pid)
    if ticks is None:
        raise BenchError(f"process {pid} is gone (see the logs)")
    return ticks


class Run:
    """One lab, both supernodes, the measurements as they come."""

    def __init__(self, lab: Lab, settings: Settings, bin_dir: str, logs: Path, log: Any) -> None:
        self.lab, self.s, self.bin_dir, self.logs, self.log = lab, settings, bin_dir, logs, log
        self.sn_ip = lab.public_ip("sn")

    def sn_argv(self, kind: str) -> list[str]:
        port = ["-f", "-p", str(N2N_SN_LPORT_DEFAULT)]
        if kind == "pyn2n":
            return [sys.executable, "-m", "pyn2n.cli.main", "supernode", *port]
        return [str(Path(self.bin_dir) / "supernode"), *port]

    def start_sn(self, kind: str, tag: str) -> subprocess.Popen[Any]:
        proc = self.lab.spawn("sn", self.sn_argv(kind), log=self.logs / f"sn-{kind}-{tag}.log")
        time.sleep(1.0 if kind == "pyn2n" else 0.3)
        return proc

    def packets(self, way: str = "tx") -> int:
        """Packets through the supernode host's interface: "rx" counts datagrams one by one;
        "tx" counts a UDP_SEGMENT send once (veth passes it on whole)."""
        out = self.lab.run("sn", ["ip", "-s", "-j", "link", "show", "eth0"],
                           capture_output=True, text=True, check=True)  # fmt: skip
        return int(json.loads(out.stdout)[0]["stats64"][way]["packets"])

    # -- load --------------------------------------------------------------------------------

    def add_source_ips(self) -> list[str]:
        base = self.lab.underlay_ip(GEN_HOST).rsplit(".", 1)[0]
        ips = [f"{base}.{10 + i}" for i in range(GEN_IPS)]
        batch = "".join(f"address add {ip}/24 dev eth0\n" for ip in ips)
        self.lab.run(GEN_HOST, ["ip", "-batch", "-"], input=batch, text=True, check=True)
        return ips

    def generators(self, ips: list[str]) -> list[subprocess.Popen[str]]:
        gens = []
        n, first, k = self.s.edges, 0, 0
        per_ip = max(1, -(-n // len(ips)))
        while first < n:
            count = min(PER_GENERATOR, n - first)
            # each generator gets whole source addresses, so no two share a socket
            mine = ips[first // per_ip : -(-(first + count) // per_ip)]
            argv = [sys.executable, "-m", "pyn2n.bench.sngen",
                    f"{self.sn_ip}:{N2N_SN_LPORT_DEFAULT}", COMMUNITY, str(first), str(count),
                    ",".join(mine), str(self.s.window)]  # fmt: skip
            with open(self.logs / f"gen{k}.log", "ab") as log:
                gen = self.lab.spawn(
                    GEN_HOST, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                    text=True,
                )  # fmt: skip
            gens.append(gen)
            first += count
            k += 1
        for g in gens:
            self._answer(g, 120)
        return gens

    @staticmethod
    def _answer(gen: subprocess.Popen[str], timeout: float) -> dict[str, float]:
        assert gen.stdout is not None
        line = gen.stdout.readline()
        if not line:
            raise BenchError(f"a load generator (pid {gen.pid}) stopped; see logs/gen*.log")
        out: dict[str, float] = json.loads(line)
        return out

    def command(
        self, gens: list[subprocess.Popen[str]], cmd: dict[str, Any]
    ) -> list[dict[str, float]]:
        for g in gens:
            assert g.stdin is not None
            g.stdin.write(json.dumps(cmd) + "\n")
            g.stdin.flush()
        return [self._answer(g, 900) for g in gens]

    def load(self, kind: str, ips: list[str], tag: str) -> dict[str, float]:
        sn = self.start_sn(kind, tag)
        rss0 = _rss(sn.pid)
        gens = self.generators(ips)
        try:
            res = self.registrations(gens, sn.pid, rss0)
            res.update(self.steady(gens, sn.pid))
            res.update(self.fanout(gens, sn.pid))
        finally:
            for g in gens:
                self.lab.stop(g)
            self.lab.stop(sn)
        return res

    def registrations(
        self, gens: list[subprocess.Popen[str]], pid: int, rss0: int
    ) -> dict[str, float]:
        t0 = _ticks(pid)
        answers = self.command(gens, {"op": "register"})
        cpu = (_ticks(pid) - t0) / TICK
        acked = sum(a["acked"] for a in answers)
        seconds = max(a["seconds"] for a in answers)
        time.sleep(1.0)
        per_edge = (_rss(pid) - rss0) / max(1, acked)
        self.log(f"  {acked} registered in {seconds:.2f} s, {per_edge:.0f} B/edge")
        return {"registered": acked, "reg_per_s": acked / seconds,
                "reg_cpu_us": cpu / max(1, acked) * 1e6, "bytes_per_edge": per_edge}  # fmt: skip

    def steady(self, gens: list[subprocess.Popen[str]], pid: int) -> dict[str, float]:
        t0, w0 = _ticks(pid), time.monotonic()
        answers = self.command(gens, {"op": "steady", "seconds": self.s.steady_seconds})
        cpu = (_ticks(pid) - t0) / TICK / (time.monotonic() - w0)
        sent = sum(a["sent"] for a in answers)
        acked = sum(a["acked"] for a in answers)
        self.log(f"  steady: {cpu * 100:.1f} % CPU, {acked}/{sent} answered")
        return {"steady_cpu_pct": cpu * 100, "steady_answered_pct": 100 * acked / max(1, sent)}

    def fanout(self, gens: list[subprocess.Popen[str]], pid: int) -> dict[str, float]:
        self.command(gens, {"op": "drain"})
        t0, p0 = _ticks(pid), self.packets()
        self.command(gens[:1], {"op": "broadcast", "count": self.s.fanout_broadcasts, "gap": 0.5})
        time.sleep(1.0)
        cpu = (_ticks(pid) - t0) / TICK
        copies = self.packets() - p0
        self.log(f"  fan-out: {copies} copies in {cpu:.2f} s CPU")
        return {"fanout_copies_per_cpu_s": copies / max(cpu, 1 / TICK), "fanout_copies": copies}

    # -- relay -------------------------------------------------------------------------------

    def relay(self, kind: str, tag: str) -> dict[str, float]:
        sn = self.start_sn(kind, tag)
        edges = []
        lab = self.lab
        try:
            for host in (RELAY_A, RELAY_B):
                argv = [str(Path(self.bin_dir) / "edge"), "-f", "-c", COMMUNITY, "-l",
                        f"{self.sn_ip}:{N2N_SN_LPORT_DEFAULT}", "-a", lab.overlay_cidr(host),
                        "-d", "n2n0", "-S1", "-A1"]  # fmt: skip
                edges.append(lab.spawn(host, argv, log=self.logs / f"{host}-{kind}-{tag}.log"))
            peer = lab.overlay_ip(RELAY_B)
            deadline = time.monotonic() + 30
            while not lab.ping(RELAY_A, peer, count=1, timeout=1.0):
                if time.monotonic() > deadline:
                    raise BenchError(f"C edges through the {kind} supernode never met")
            res = {"rtt_us": self.rtt(peer)}
            res.update(self.tcp(peer, sn.pid))
            res["udp_pps"] = self.udp(peer)
            self.log(f"  relay: {res['tcp_mbit_s']:.0f} Mbit/s, {res['rtt_us']:.0f} µs, "
                     f"{res['udp_pps']:.0f} pkt/s, {res['relay_cpu_us']:.2f} µs CPU/datagram")  # fmt: skip
            return res
        finally:
            for e in edges:
                lab.stop(e)
            lab.stop(sn)

    def rtt(self, peer: str) -> float:
        n = self.s.ping_count
        out = self.lab.run(RELAY_A, ["ping", "-n", "-c", str(n + 1), "-i", "0.01", "-W", "2", peer],
                           capture_output=True, text=True, timeout=60 + n)  # fmt: skip
        rtts = [float(m.group(2)) for line in out.stdout.splitlines()
                if (m := PING_TIME.search(line)) and m.group(1) != "1"]  # fmt: skip
        if not rtts:
            raise BenchError("no ping replies through the supernode")
        return percentile(rtts, 50) * 1000

    def _iperf(self, peer: str, extra: list[str]) -> dict[str, Any]:
        server = self.lab.spawn(RELAY_B, ["iperf3", "-s", "-1", "-p", "5201"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(0.3)
        try:
            t = self.s.relay_seconds
            out = self.lab.run(RELAY_A, ["iperf3", "-c", peer, "-p", "5201", "-t", str(t), "-J",
                                         *extra], capture_output=True, text=True, timeout=t + 30)  # fmt: skip
            result: dict[str, Any] = json.loads(out.stdout)
            if "error" in result:
                raise BenchError(f"iperf3: {result['error']}")
            return result
        finally:
            self.lab.stop(server)

    def tcp(self, peer: str, pid: int) -> dict[str, float]:
        t0, p0 = _ticks(pid), self.packets("rx")
        result = self._iperf(peer, [])
        cpu = (_ticks(pid) - t0) / TICK
        relayed = self.packets("rx") - p0
        bps = result["end"]["sum_received"]["bits_per_second"]
        return {"tcp_mbit_s": bps / 1e6, "relay_cpu_us": cpu / max(1, relayed) * 1e6}

    def udp(self, peer: str) -> float:
        result = self._iperf(peer, ["-u", "-b", "0", "-l", "64"])
        s = result["end"]["sum"]
        return float(s["packets"] - s["lost_packets"]) / float(s["seconds"])


METRICS: list[tuple[str, str, bool]] = [
    ("reg_per_s", "first registrations/s", True),
    ("reg_cpu_us", "CPU µs per first registration", False),
    ("bytes_per_edge", "RSS bytes per edge", False),
    ("steady_cpu_pct", "CPU % at steady state (re-registration every 20 s)", False),
    ("steady_answered_pct", "re-registrations answered %", True),
    ("fanout_copies_per_cpu_s", "broadcast copies per CPU second", True),
    ("tcp_mbit_s", "relay TCP Mbit/s (C edges -S1)", True),
    ("udp_pps", "relay 64-byte UDP pkts/s received", True),
    ("rtt_us", "relay ping RTT p50 µs", False),
    ("relay_cpu_us", "supernode CPU µs per relayed datagram", False),
]


def table(results: dict[str, list[dict[str, float]]], edges: int) -> str:
    lines = [f"| supernode ({edges} synthetic edges) | pyn2n | C n2n | pyn2n / C |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for key, label, _ in METRICS:
        vals = {k: [r[key] for r in results[k] if key in r] for k in KINDS}
        if not all(vals.values()):
            continue
        py, c = statistics.median(vals["pyn2n"]), statistics.median(vals["n2n"])
        ratio = f"{py / c:.2f}×" if c else "–"
        lines.append(f"| {label} | {py:,.1f} | {c:,.1f} | {ratio} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pyn2n bench supernode", description=__doc__)
    p.add_argument("--edges", type=int, default=None, help="synthetic edges (default 100000)")
    p.add_argument("--quick", action="store_true", help="20000 edges, shorter phases")
    p.add_argument("--repeats", type=int, default=1, help="runs of each supernode, alternated")
    p.add_argument("--skip", default="", help="'load' or 'relay' to leave a part out")
    p.add_argument("--out", type=Path, default=Path("bench-results/supernode"))
    p.add_argument("--n2n-bin-dir", default=os.environ.get("N2N_BIN_DIR"))
    args = p.parse_args(list(argv or []))
    console = Console(stderr=True)
    if not args.n2n_bin_dir:
        console.print("[red]pyn2n bench supernode: set --n2n-bin-dir or N2N_BIN_DIR[/]")
        return 2
    reason = preflight()
    if reason is not None:
        console.print(f"[red]pyn2n bench supernode: {reason}[/]")
        return 2
    s = Settings.quick() if args.quick else Settings()
    if args.edges:
        s.edges = args.edges
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
    try:
        with Lab(edges=3) as lab:
            run = Run(lab, s, args.n2n_bin_dir, logs, console.print)
            ips = run.add_source_ips()
            for r in range(args.repeats):
                order = KINDS if r % 2 == 0 else KINDS[::-1]
                for kind in order:
                    res: dict[str, float] = {}
                    console.print(f"{kind} supernode, run {r + 1}")
                    if "load" not in args.skip:
                        res.update(run.load(kind, ips, f"{r}"))
                    if "relay" not in args.skip:
                        res.update(run.relay(kind, f"{r}"))
                    results[kind].append(res)
    except BenchError as e:
        console.print(f"[red]pyn2n bench supernode: {e}[/]")
        return 1
    text = table(results, s.edges)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "results.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
