"""`pyn2n bench --soak [MINUTES]` (default 30): a pyn2n overlay kept busy and disturbed.

One lab (a supernode and `--edges` edges, `--loss` of the router's forwarded packets dropped at
random, 1 % by default) runs for MINUTES with: a continuous ping e1 -> e2 (5 a second); a TCP
transfer e1 -> e3 with a sha256 check every TRANSFER_EVERY seconds; the last edge leaving and
joining again every CHURN_EVERY seconds; the supernode restarted at a third and two thirds of
the time. Every CHECK_EVERY seconds the supernode is asked which edges it holds (a running edge
missing twice in a row, outside the grace time after its start or a restart, is a registration
lost), and the RSS and open file descriptors of every process are sampled. The report: ping
loss, transfers and checksums, registrations lost, and per process the growth of RSS and file
descriptors from its first sample after WARMUP seconds to its last.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from pyn2n.lab import Lab, preflight
from pyn2n.lab.overlay import Overlay, OverlayError
from pyn2n.lab.tcpcheck import expected, transfer

TRANSFER_EVERY = 15.0
CHURN_EVERY = 60.0
CHECK_EVERY = 10.0
GRACE = 30.0  # seconds after an edge's start or a supernode restart before it must be registered
WARMUP = 60.0  # a process's first sample for the growth figures is taken this old
TRANSFER_BYTES = 20_000_000
PING_STATS = re.compile(r"(\d+) packets transmitted, (\d+) received")


def _proc_sample(pid: int) -> tuple[int, int] | None:
    """(RSS bytes, open file descriptors) of `pid`, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None
    return rss, fds


@dataclass
class Life:
    """One process incarnation's samples: (age s, RSS, fds)."""

    node: str
    pid: int
    started: float
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def growth(self) -> dict[str, Any] | None:
        settled = [s for s in self.samples if s[0] >= WARMUP]
        if len(settled) < 2:
            return None
        first, mid, last = settled[0], settled[len(settled) // 2], settled[-1]
        return {
            "node": self.node,
            "pid": self.pid,
            "minutes": round((last[0] - first[0]) / 60, 1),
            "rss_first_mb": round(first[1] / 2**20, 1),
            "rss_mid_mb": round(mid[1] / 2**20, 1),
            "rss_last_mb": round(last[1] / 2**20, 1),
            "rss_growth_kb": round((last[1] - first[1]) / 1024),
            "fds_first": first[2],
            "fds_last": last[2],
        }


class Soak:
    def __init__(self, lab: Lab, ov: Overlay, seconds: float, log: Any) -> None:
        self.lab, self.ov, self.seconds, self.log = lab, ov, seconds, log
        self.start = time.monotonic()
        self.lives: dict[int, Life] = {}
        self.grace: dict[str, float] = {}
        self.missing: dict[str, int] = {}
        self.lost: list[str] = []
        self.transfers = {"ok": 0, "bad": 0, "failed": 0}
        self.restarts = 0
        self.churns = 0
        self._transfer: threading.Thread | None = None

    def now(self) -> float:
        return time.monotonic() - self.start

    def run(self) -> dict[str, Any]:
        e1, e2 = self.lab.edges[0], self.lab.edges[1]
        ping_log = self.ov.log_dir / "ping.log"
        with open(ping_log, "w") as out:
            ping = self.lab.spawn(e1, ["ping", "-n", "-i", "0.2", "-W", "2",
                                       self.lab.overlay_ip(e2)], stdout=out)  # fmt: skip
        restarts = [self.seconds / 3, 2 * self.seconds / 3]
        next_check = next_transfer = 0.0
        next_churn = CHURN_EVERY
        for node in self.ov.procs:
            self.grace[node] = GRACE
        while self.now() < self.seconds:
            t = self.now()
            if restarts and t >= restarts[0]:
                restarts.pop(0)
                self.restart_supernode()
            if t >= next_churn:
                next_churn += CHURN_EVERY
                self.churn()
            if t >= next_transfer and (self._transfer is None or not self._transfer.is_alive()):
                next_transfer = t + TRANSFER_EVERY
                self._transfer = threading.Thread(target=self.one_transfer, daemon=True)
                self._transfer.start()
            if t >= next_check:
                next_check = t + CHECK_EVERY
                self.sample()
                self.check_registrations()
            time.sleep(0.5)
        if self._transfer is not None:
            self._transfer.join(timeout=120)
        self.lab.stop(ping, signal.SIGINT)
        return self.report(ping_log.read_text())

    def restart_supernode(self) -> None:
        self.log(f"{self.now():6.0f} s: supernode restart")
        self.ov.stop("sn")
        time.sleep(1.0)
        self.ov.start_supernode()
        self.restarts += 1
        for node in self.ov.procs:
            self.grace[node] = self.now() + GRACE

    def churn(self) -> None:
        last = self.lab.edges[-1]
        if self.ov.alive(last):
            self.log(f"{self.now():6.0f} s: {last} leaves")
            self.ov.stop(last)
        else:
            self.log(f"{self.now():6.0f} s: {last} joins")
            self.ov.start_edge(last)
            self.grace[last] = self.now() + GRACE
        self.churns += 1

    def one_transfer(self) -> None:
        src, dst = self.lab.edges[0], self.lab.edges[2]
        try:
            got = transfer(self.lab, src, dst, TRANSFER_BYTES, port=5301)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
            self.log(f"{self.now():6.0f} s: transfer failed: {e}")
            self.transfers["failed"] += 1
            return
        ok = got == expected(TRANSFER_BYTES)
        self.transfers["ok" if ok else "bad"] += 1
        if not ok:
            self.log(f"{self.now():6.0f} s: transfer CORRUPTED: {got}")

    def sample(self) -> None:
        for node, proc in self.ov.procs.items():
            if proc.poll() is not None:
                continue
            life = self.lives.get(proc.pid)
            if life is None:
                life = self.lives[proc.pid] = Life(node, proc.pid, self.now())
            got = _proc_sample(proc.pid)
            if got is not None:
                life.samples.append((self.now() - life.started, *got))

    def check_registrations(self) -> None:
        try:
            held = set(self.ov.registered("sn"))
        except OverlayError:
            return  # the supernode is restarting
        for edge in self.lab.edges:
            if not self.ov.alive(edge) or self.now() < self.grace.get(edge, 0.0):
                self.missing.pop(edge, None)
                continue
            if edge in held:
                self.missing.pop(edge, None)
                continue
            self.missing[edge] = self.missing.get(edge, 0) + 1
            if self.missing[edge] == 2:
                self.lost.append(f"{edge} at {self.now():.0f} s")
                self.log(f"{self.now():6.0f} s: {edge} not registered (twice)")

    def report(self, ping_text: str) -> dict[str, Any]:
        found = PING_STATS.findall(ping_text)
        m = found[-1] if found else None
        sent, got = (int(m[0]), int(m[1])) if m else (0, 0)
        return {
            "minutes": round(self.seconds / 60, 1),
            "ping_sent": sent,
            "ping_loss_pct": round(100 * (sent - got) / sent, 2) if sent else None,
            "transfers": self.transfers,
            "transfer_bytes": TRANSFER_BYTES,
            "supernode_restarts": self.restarts,
            "edge_leaves_and_joins": self.churns,
            "registrations_lost": len(self.lost),
            "lost": self.lost,
            "processes": [g for life in self.lives.values() if (g := life.growth()) is not None],
        }


def markdown(r: dict[str, Any], loss: float, edges: int) -> str:
    t = r["transfers"]
    lines = [
        f"Soak of {r['minutes']} min: {edges} pyn2n edges, {loss * 100:g} % loss on the router, "
        f"{r['supernode_restarts']} supernode restarts, {r['edge_leaves_and_joins']} leaves and "
        "joins of the last edge.",
        "",
        f"- ping e1 → e2: {r['ping_sent']} sent, {r['ping_loss_pct']} % lost",
        f"- TCP transfers e1 → e3 of {r['transfer_bytes'] // 10**6} MB with sha256: {t['ok']} "
        f"intact, {t['bad']} corrupted, {t['failed']} failed",
        f"- registrations lost: {r['registrations_lost']}",
        "",
        "| process | pid | minutes sampled | RSS first → middle → last MB | RSS growth KB "
        "| fds first → last |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in r["processes"]:
        lines.append(
            f"| {p['node']} | {p['pid']} | {p['minutes']} | {p['rss_first_mb']} → "
            f"{p['rss_mid_mb']} → {p['rss_last_mb']} | {p['rss_growth_kb']} | {p['fds_first']} → {p['fds_last']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pyn2n bench --soak", description=__doc__)
    p.add_argument("minutes", nargs="?", type=float, default=30.0, help="duration (default 30)")
    p.add_argument("--edges", type=int, default=4, help="lab edges, at least 3 (default 4)")
    p.add_argument("--loss", type=float, default=0.01, help="router loss (default 0.01)")
    p.add_argument("--out", type=Path, default=Path("bench-results/soak"))
    args = p.parse_args(list(argv or []))
    console = Console(stderr=True)
    if args.edges < 3:
        console.print("[red]pyn2n bench --soak: --edges must be at least 3[/]")
        return 2
    reason = preflight()
    if reason is not None:
        console.print(f"[red]pyn2n bench --soak: {reason}[/]")
        return 2
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with Lab(args.edges, loss=args.loss) as lab:
        ov = Overlay(lab, log_dir=logs).start()
        try:
            ov.wait_registered(timeout=60)
            ov.wait_mesh(timeout=60)
            result = Soak(lab, ov, args.minutes * 60, console.print).run()
        finally:
            ov.stop_all()
    text = markdown(result, args.loss, args.edges)
    (args.out / "soak.json").write_text(json.dumps(result, indent=1))
    (args.out / "soak.md").write_text(text + "\n")
    print(text)
    bad = result["registrations_lost"] or result["transfers"]["bad"]
    return 1 if bad else 0
