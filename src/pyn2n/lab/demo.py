"""`pyn2n lab demo`: n2n's promises, shown live on a virtual cloud without multicast.

Builds a lab (3 edges, a spare edge host, a standby supernode host), starts a federated pair of
supernodes and the 3 edges, and checks, one step after the other:

1. every edge pings every other over the overlay (198.19.0.x);
2. every edge reaches every other on a direct path (management API `peers`);
3. a multicast stream from e1 arrives at every other edge over the overlay, and at none over
   the underlay, although the router saw it (it routes no multicast, like a cloud VPC);
3b. pruning: a stream to a group only e2 joined reaches e2 in full and none of it e3's TAP, and
   the supernodes relay none of it (docs/multicast.md);
4. the supernode goes silent, as a dead cloud instance does (the router drops everything to
   and from its host, no ICMP), and unicast between the edges keeps flowing;
5. the edges move to the standby supernode; the demo shows how long that took, measured;
6. the supernode's traffic flows again and the standby is killed (SIGKILL): its host answers
   with ICMP port unreachable; the edges move back, again with the time it took;
7. a new edge, started only now, joins through the remaining supernode and reaches every
   other edge;
8. keepalived (VRRP) on two edges with default edge flags: the virtual IP sits on the first,
   the third edge pings it every 0.1 s, the first's keepalived is stopped (by PID), the VIP
   answers from the second; the demo shows how long the pings went unanswered.

Exit status 0 only if every step held. The lab is torn down at the end, also after a failure,
Ctrl-C or SIGTERM (via `pyn2n lab demo`); logs of a failed run are kept and their path printed.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pyn2n.lab import cluster, mcast, tapcap
from pyn2n.lab.lab import Lab
from pyn2n.lab.mcast import McastError
from pyn2n.lab.overlay import DIRECT_PATHS, TAP_NAME, Overlay, OverlayError
from pyn2n.lab.state import DEFAULT_STATE_DIR
from pyn2n.lab.topology import STANDBY, SUPERNODE, LabError

MCAST_COUNT = 200
MCAST_GROUP = "239.255.1.1"
MCAST_GROUP6 = "ff05::1:1"  # the underlay's control stream on an IPv6 lab (site scope: routable)
OVERLAY_PORT, UNDERLAY_PORT = 5001, 5002
PRUNE_COUNT, PRUNE_GROUP, PRUNE_PORT = 200, "239.255.1.2", 5003
CRASH_PINGS = 10  # per pair, 0.1 s apart, right after the supernode goes silent
VRRP_VIP = "198.19.0.100"
VRRP_MAX_OUTAGE = 3.0  # a stopped master hands over at once (priority 0); measured 0.6 s
KERNEL_WAIT = 15.0  # unencrypted pairs: how long the demo waits to show the kernel path
FAILOVER_TIMEOUT = 45.0  # the liveness probe leaves a silent or dead supernode within 4 s


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class DemoReport:
    checks: list[Check] = field(default_factory=list)
    run_id: str = ""
    log_dir: Path | None = None
    seconds: float = 0.0
    mcast: dict[str, object] = field(default_factory=dict)  # raw multicast counts
    crash_pings: dict[str, int] = field(default_factory=dict)  # "e1>e2": replies
    failover: dict[str, float] = field(default_factory=dict)  # "silent"/"icmp": seconds
    vrrp: dict[str, float] = field(default_factory=dict)  # "outage": seconds, "answered", "sent"
    prune: dict[str, object] = field(default_factory=dict)  # raw counts of the pruning step

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


class _StepFailed(Exception):
    pass


class Demo:
    def __init__(
        self, lab: Lab, console: Console, report: DemoReport, log_dir: Path | None = None
    ) -> None:
        if len(lab.edges) < 3 or not lab.plan.standby:
            raise LabError("the demo needs a lab with at least 3 edges and a standby supernode")
        self.lab = lab
        self.console = console
        self.report = report
        self.ov = Overlay(lab, log_dir=log_dir)
        self.first = [e for e in lab.edges if e != self.late]
        report.log_dir = self.ov.log_dir
        self.silent_since = 0.0
        self.on_silenced: list[str] = []  # the edges that used the supernode when it went silent
        # the supernode that goes silent: the one most edges use then (edges spread over both)
        self.down = SUPERNODE
        self.up = STANDBY

    @property
    def late(self) -> str:
        """The edge host whose edge is started only after the supernode crash."""
        return self.lab.edges[-1]

    def step(self, name: str, body: Callable[[], str]) -> None:
        t0 = time.monotonic()
        try:
            detail, ok = body(), True
        except (OverlayError, McastError, _StepFailed) as e:
            detail, ok = str(e), False
        check = Check(name, ok, detail, time.monotonic() - t0)
        self.report.checks.append(check)
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"{mark} [bold]{name}[/bold] ({check.seconds:.1f} s): {detail}")
        if not ok:
            raise _StepFailed(name)

    # --- the steps -------------------------------------------------------------------------------

    def start(self) -> str:
        self.ov.start(self.first)
        self.ov.wait_registered(self.first)
        where = {sn: self.ov.registered(sn) for sn in self.ov.supernodes}
        spread = "; ".join(f"{sn}: {' '.join(edges) or '-'}" for sn, edges in where.items())
        return (
            f"supernodes {', '.join(self.ov.endpoints())} (federated), "
            f"edges {' '.join(self.first)} registered ({spread})"
        )

    def mesh(self) -> str:
        self.ov.wait_mesh(self.first)
        pairs = list(permutations(self.first, 2))
        with ThreadPoolExecutor(len(pairs)) as pool:
            got = list(pool.map(lambda p: self.ov.ping(p[0], p[1], count=3, interval=0.05), pairs))
        bad = [f"{a}>{b} {n}/3" for (a, b), n in zip(pairs, got, strict=True) if n < 3]
        if bad:
            raise _StepFailed(f"lost echo replies: {', '.join(bad)}")
        return f"{len(pairs)} ordered pairs, 3/3 echo replies each over 198.19.0.0/24"

    def direct(self) -> str:
        pairs = list(permutations(self.first, 2))
        for a, b in pairs:
            self.ov.wait_path(a, b, "direct")
        # unencrypted pyn2n pairs then move their unicast to the kernel (docs/kernel-path.md)
        with contextlib.suppress(OverlayError):
            self.ov.wait(
                lambda: all(self.ov.path(a, b) == "kernel" for a, b in pairs),
                "the kernel path",
                timeout=KERNEL_WAIT,
            )
        table = Table(
            "edge", "peer", "path", "rtt ms", "peer socket", title="peers (management API)"
        )
        for edge in self.first:
            for row in self.ov.ctl(edge, "peers"):
                table.add_row(
                    edge,
                    str(row["desc"]),
                    str(row["path"]),
                    str(row["rtt_ms"]),
                    str(row["sockaddr"]),
                )
        self.console.print(table)
        kernel = sum(self.ov.path(a, b) == "kernel" for a, b in pairs)
        on_kernel = f"; {kernel} of {len(pairs)} on the kernel path" if kernel else ""
        return "every edge talks to every other directly (none through the supernode)" + on_kernel

    def multicast(self) -> str:
        lab, sender, others = self.lab, self.first[0], self.first[1:]
        with ThreadPoolExecutor(2) as pool:
            over = pool.submit(
                mcast.stream,
                lab,
                (sender, lab.overlay_ip(sender)),
                [(e, lab.overlay_ip(e)) for e in others],
                port=OVERLAY_PORT,
                group=MCAST_GROUP,
                count=MCAST_COUNT,
            )
            # TTL 8: if the underlay drops it, TTL is not the reason; the router listens on the
            # sender's link to prove the datagrams were on the wire
            under = pool.submit(
                mcast.stream,
                lab,
                (sender, lab.underlay_ip(sender)),
                [
                    *[(e, lab.underlay_ip(e)) for e in others],
                    ("r", lab.plan.host(sender).router_ip),
                ],
                port=UNDERLAY_PORT,
                ttl=8,
                group=MCAST_GROUP6 if lab.ipv6 else MCAST_GROUP,
                count=MCAST_COUNT,
            )
            (o_sent, o_recv), (u_sent, u_recv) = over.result(), under.result()
        self.report.mcast = {"overlay": [o_sent, *o_recv], "underlay": [u_sent, *u_recv]}
        table = Table("path", "receiver", "received", "from", title=f"multicast {MCAST_GROUP}")
        for path, rows in (("overlay", o_recv), ("underlay", u_recv)):
            for r in rows:
                sources = ", ".join(r["sources"]) or "-"
                table.add_row(path, str(r["node"]), f"{r['distinct']}/{MCAST_COUNT}", sources)
        self.console.print(table)
        want = {lab.overlay_ip(sender): MCAST_COUNT}
        problems = [
            f"{r['node']} got {r['distinct']}/{MCAST_COUNT} over the overlay"
            for r in o_recv
            if r["distinct"] != MCAST_COUNT or r["sources"] != want
        ]
        problems += [
            f"{r['node']} got {r['received']} over the underlay"
            for r in u_recv
            if r["node"] != "r" and r["received"]
        ]
        router = u_recv[-1]
        if o_sent["sent"] != MCAST_COUNT or u_sent["sent"] != MCAST_COUNT:
            problems.append(f"sent only {o_sent['sent']}/{u_sent['sent']} of {MCAST_COUNT}")
        if router["distinct"] != MCAST_COUNT:
            problems.append(f"the router saw {router['distinct']} of the underlay stream")
        if problems:
            raise _StepFailed("; ".join(problems))
        return (
            f"{MCAST_COUNT} datagrams from {sender}: all at {', '.join(others)} over the overlay, "
            f"none over the underlay (the router saw all {MCAST_COUNT} and routed none)"
        )

    def _relayed(self) -> int:
        """Group frames the supernodes sent on to edges (their `broadcast` counters)."""
        total = 0
        for sn in self.ov.supernodes:
            rows = self.ov.ctl(sn, "packetstats")
            total += sum(int(r["tx_pkt"]) for r in rows if r.get("type") == "broadcast")
        return total

    def pruning(self) -> str:
        """A stream to a group only the second edge joined (its kernel reports the join; the
        edges snoop it): it all reaches that edge, none of it the third edge's TAP."""
        lab = self.lab
        sender, sub, other = self.first[:3]
        time.sleep(3.0)  # (the edges learned each other as pyn2n edges with their groups)
        before = self._relayed()
        with tapcap.probes(
            lab,
            [sub],
            [sub, other],
            group=PRUNE_GROUP,
            port=PRUNE_PORT,
            seconds=PRUNE_COUNT * 0.01 + 8,
            tap=TAP_NAME,
        ) as got:
            proc = tapcap.send(
                lab, sender, group=PRUNE_GROUP, port=PRUNE_PORT, count=PRUNE_COUNT, interval=0.01
            )
            sent = tapcap.sent(lab, proc, timeout=PRUNE_COUNT * 0.01 + 30)
            time.sleep(1.0)
        relayed = self._relayed() - before
        self.report.prune = {"sent": sent, "relayed": relayed, **got}
        joined = got[f"recv:{sub}"].get("distinct", 0)
        leaked = got[f"cap:{other}"].get("frames", -1)
        if sent != PRUNE_COUNT or joined != PRUNE_COUNT or leaked != 0:
            raise _StepFailed(
                f"sent {sent}, {sub} (joined) got {joined}, {other}'s TAP saw {leaked} "
                f"(want {PRUNE_COUNT}, {PRUNE_COUNT}, 0)"
            )
        return (
            f"{PRUNE_COUNT} datagrams from {sender} to {PRUNE_GROUP}: all at {sub}, which joined; "
            f"none on {other}'s TAP; the supernodes relayed {relayed} group frames meanwhile "
            f"(n2n: {PRUNE_COUNT * (len(self.first) - 1)})"
        )

    def _silenced(self) -> list[str]:
        """The hosts the silent supernode's host can no longer reach."""
        return [h for h in self.lab.hosts if h != self.down]

    def silent(self) -> str:
        """The supernode's host goes silent as a dead cloud instance does: the router drops
        every datagram to and from it, nobody answers, not even with ICMP."""
        using = {
            sn: [e for e in self.first if self.ov.current_supernode(e) == sn]
            for sn in (SUPERNODE, STANDBY)
        }
        if len(using[STANDBY]) > len(using[SUPERNODE]):
            self.down, self.up = STANDBY, SUPERNODE
        self.on_silenced = using[self.down]
        for host in self._silenced():
            self.lab.block(self.down, host)
        self.silent_since = t0 = time.monotonic()
        pairs = list(permutations(self.first, 2))
        with ThreadPoolExecutor(len(pairs)) as pool:
            got = list(
                pool.map(lambda p: self.ov.ping(p[0], p[1], count=CRASH_PINGS, interval=0.1), pairs)
            )
        self.report.crash_pings = {f"{a}>{b}": n for (a, b), n in zip(pairs, got, strict=True)}
        lost = {k: n for k, n in self.report.crash_pings.items() if n < CRASH_PINGS}
        if lost:
            raise _StepFailed(
                f"echo replies while the supernode is silent: {lost} of {CRASH_PINGS}"
            )
        still = [f"{a}>{b}" for a, b in pairs if self.ov.path(a, b) not in DIRECT_PATHS]
        if still:
            raise _StepFailed(f"paths no longer direct: {', '.join(still)}")
        return (
            f"the router drops all of {self.down}'s traffic, the supernode of "
            f"{' '.join(self.on_silenced)} (no answer, no ICMP: a dead cloud "
            f"instance); in the {time.monotonic() - t0:.1f} s after, {len(pairs)} pairs x "
            f"{CRASH_PINGS} pings: all answered, paths still direct"
        )

    def failover_silent(self) -> str:
        for edge in self.first:
            self.ov.wait_current(edge, self.up, timeout=FAILOVER_TIMEOUT)
        took = self.report.failover["silent"] = time.monotonic() - self.silent_since
        moved = self.on_silenced
        already = [e for e in self.first if e not in moved]
        note = f"; {' '.join(already)} used {self.up} already" if already else ""
        return (
            f"{' '.join(moved)} moved to {self.up} "
            f"({self.lab.supernode_endpoint(self.up)}) {took:.1f} s after {self.down} went "
            f"silent (the edges PING a supernode quiet for 2.5 s; three PINGs 0.5 s apart "
            f"unanswered: it is given up){note}"
        )

    def failover_icmp(self) -> str:
        for host in self._silenced():
            self.lab.unblock(self.down, host)
        code = self.ov.kill(self.up)
        t0 = time.monotonic()
        for edge in self.first:
            self.ov.wait_current(edge, self.down, timeout=FAILOVER_TIMEOUT)
        took = self.report.failover["icmp"] = time.monotonic() - t0
        return (
            f"{self.down} reachable again, {self.up} killed (exit {code}; its host answers ICMP "
            f"port unreachable): {' '.join(self.first)} moved to {self.down} {took:.1f} s later"
        )

    def join(self) -> str:
        late = self.late
        self.ov.start_edge(late)
        self.ov.wait_registered([late], supernode=self.down)
        everyone = [*self.first, late]
        pairs = [p for p in permutations(everyone, 2) if late in p]
        with ThreadPoolExecutor(len(pairs)) as pool:
            for f in [pool.submit(self.ov.wait_ping, a, b) for a, b in pairs]:
                f.result()
        for other in self.first:
            self.ov.wait_path(late, other, "direct")
        return (
            f"{late} started now, registered at {self.down}, pings {' '.join(self.first)} "
            "and is pinged back, direct paths"
        )

    def vrrp(self) -> str:
        """keepalived on two edges, the third pings the VIP through a failover."""
        lab, (master, backup, client) = self.lab, self.first[:3]
        work = self.ov.log_dir
        procs = {}
        for edge, priority in ((master, 150), (backup, 100)):
            conf = cluster.keepalived_conf(
                edge, cluster.vrrp_instance("demo", TAP_NAME, priority, f"{VRRP_VIP}/24")
            )
            procs[edge] = cluster.start_keepalived(lab, edge, conf, work)
        try:
            cluster.wait_address(lab, master, TAP_NAME, VRRP_VIP)
            if cluster.has_address(lab, backup, TAP_NAME, VRRP_VIP):
                raise _StepFailed(f"{backup} holds the VIP too: the VRRP adverts did not cross")
            pinger = cluster.Pinger(lab, client, VRRP_VIP)
            time.sleep(1.0)
            lab.stop(procs[master])  # SIGTERM, by PID
            cluster.wait_address(lab, backup, TAP_NAME, VRRP_VIP)
            self.ov.wait(
                lambda: lab.ping(client, VRRP_VIP, count=2, interval=0.1) == 2,
                f"{VRRP_VIP} answering from {backup}",
            )
            run = pinger.stop()
        finally:
            for proc in procs.values():
                lab.stop(proc)
        self.report.vrrp = {
            "outage": run.outage,
            "answered": len(run.answered),
            "sent": run.sent,
        }
        if not run.answered or run.outage > VRRP_MAX_OUTAGE:
            raise _StepFailed(f"the VIP went unanswered for {run.outage:.1f} s")
        return (
            f"keepalived on {master} and {backup}, default edge flags: VIP {VRRP_VIP} on "
            f"{master}; its keepalived stopped, the VIP answered {client} from {backup} after "
            f"{run.outage:.1f} s without replies (pings every {cluster.PING_INTERVAL:g} s: "
            f"{len(run.answered)}/{run.sent} answered)"
        )


def run_on(
    lab: Lab,
    console: Console,
    report: DemoReport | None = None,
    log_dir: Path | None = None,
) -> DemoReport:
    """The demo's steps on a lab that is up (at least 3 edges, with standby); the last edge's
    edge is started only in the final step. The overlay's processes are stopped at the end.
    Logs go to `log_dir` (default: a new temp dir)."""
    report = report or DemoReport()
    report.run_id = lab.run_id
    demo = Demo(lab, console, report, log_dir)
    steps = [
        ("overlay up", demo.start),
        ("unicast mesh", demo.mesh),
        ("direct paths", demo.direct),
        ("multicast", demo.multicast),
        ("multicast pruned to its subscriber", demo.pruning),
        ("supernode goes silent", demo.silent),
        ("failover, silent supernode", demo.failover_silent),
        ("failover, ICMP port unreachable", demo.failover_icmp),
        (f"new edge {demo.late} joins", demo.join),
        ("VRRP failover (keepalived)", demo.vrrp),
    ]
    try:
        for name, body in steps:
            demo.step(name, body)
    except _StepFailed:
        for node in demo.ov.procs:
            tail = demo.ov.log_tail(node, 8)
            if tail:
                console.print(f"[dim]--- {demo.ov.log_path(node)} (end)\n{tail}[/dim]")
    finally:
        demo.ov.stop_all()
    return report


def run(
    console: Console,
    *,
    edges: int = 3,
    state_dir: Path | None = DEFAULT_STATE_DIR,
    ipv6: bool = False,
) -> DemoReport:
    """Build a lab (`edges` edges, a spare edge host, a standby), run the demo on it, tear it
    down (also on Ctrl-C); returns what held. Logs are kept only when a check failed."""
    report = DemoReport()
    t0 = time.monotonic()
    try:
        with Lab(edges + 1, standby=True, ipv6=ipv6, state_dir=state_dir) as lab:
            console.print(
                f"lab [bold]{lab.run_id}[/bold]: router without multicast routing, supernode host "
                f"{lab.underlay_ip(SUPERNODE)}, standby {lab.underlay_ip(STANDBY)}, edges "
                + ", ".join(f"{e} {lab.underlay_ip(e)}" for e in lab.edges)
            )
            run_on(lab, console, report)
    except BaseException:  # Ctrl-C, SIGTERM: nothing failed, so no logs to keep
        if report.log_dir is not None:
            shutil.rmtree(report.log_dir, ignore_errors=True)
        raise
    report.seconds = time.monotonic() - t0
    if report.ok and report.log_dir is not None:
        shutil.rmtree(report.log_dir, ignore_errors=True)
    return report


def main(
    console: Console, state_dir: Path | None = DEFAULT_STATE_DIR, *, ipv6: bool = False
) -> int:
    report = run(console, state_dir=state_dir, ipv6=ipv6)
    summary = Table("check", "result", "seconds", title=f"pyn2n demo, lab {report.run_id}")
    for c in report.checks:
        summary.add_row(
            c.name, "[green]held[/green]" if c.ok else "[red]FAILED[/red]", f"{c.seconds:.1f}"
        )
    console.print(summary)
    if report.ok:
        console.print(f"[green bold]all held[/green bold] in {report.seconds:.1f} s; lab removed")
        return 0
    console.print(
        f"[red bold]failed[/red bold] after {report.seconds:.1f} s; lab removed, "
        f"logs kept in {report.log_dir}"
    )
    return 1
