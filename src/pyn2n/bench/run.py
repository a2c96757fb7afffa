"""`pyn2n bench [run]`: every experiment over every path, on one lab, in one run.

One lab (a supernode host and `--edges` edges) is built; for each repeat, each path in turn is
set up on it, measured by every experiment and torn down; the order of the paths is reversed
every other repeat so that a drift of the noisy machine does not favour one. Outputs in --out:
results.json, results.md and PNG plots (see pyn2n.bench.report), and logs/.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pyn2n.bench import report
from pyn2n.bench.experiments import Context, Experiment, Outcome, Settings, select_experiments
from pyn2n.bench.paths import N2nFamilyPath, NetPath, all_paths, select_paths
from pyn2n.bench.system import BenchError, ensure_packages
from pyn2n.lab import Lab, LabError, preflight

QUICK_PATHS = "eth,pyn2n-null,pyn2n-fast-null,ovpn-none,tinc,vxlan,n2n-null"
UNDERLAY = "eth"
REFERENCE = "pyn2n-null"
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from "1G", "50M", "1GB" (powers of 1000), "1GiB" (1024) or a plain number."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1G, 50M, 1GiB, 1000000)")
    number, unit, binary = m.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    value = float(number) * (1024 if binary else 1000) ** power
    if value < 1:
        raise argparse.ArgumentTypeError(f"size {text!r} is below one byte")
    return int(value)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(parse_size(t) for t in text.split(",") if t.strip())
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"--sizes: {e}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("--sizes: give at least one size")
    return sizes


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--loss {text!r}: give a percentage, e.g. 1 or 0.5"
        ) from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"--loss {text}: a percentage from 0 to below 100")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `pyn2n bench run` (also the default `pyn2n bench`)."""
    a = parser.add_argument
    a("--out", type=Path, default=Path("bench-results"), help="output directory")
    a("--quick", action="store_true", help="small sizes, one repeat, one path per family")
    a(
        "--paths",
        default=None,
        help="comma-separated path names or families (default: all; with --quick: "
        f"{QUICK_PATHS}); see --list",
    )
    a("--skip", default="", help="paths or families to leave out")
    a("--experiments", default="all", help="comma-separated experiments (default: all)")
    a("--repeats", type=int, default=None, help="repeats per path (default 3; --quick: 1)")
    a("--edges", type=int, default=3, help="lab edges (>= 3 for multicast; default 3)")
    a(
        "--transfer-size",
        type=parse_size,
        default=None,
        help="large transfer size (default 1G; --quick: 50M)",
    )
    a("--zmq-size", type=parse_size, default=None, help="ZeroMQ message size (default 4096)")
    a(
        "--zmq-count",
        type=int,
        default=None,
        help="ZeroMQ messages (default 100000; --quick: 10000)",
    )
    a(
        "--sizes",
        type=_sizes,
        default=None,
        help="message sizes of the sweep (default 64,256,1024,4096,16384,65536; --quick: 64,1024,16384,65536)",
    )
    a(
        "--iperf-seconds",
        type=float,
        default=None,
        help="iperf3 seconds per test (default 5; --quick: 1)",
    )
    a(
        "--load-seconds",
        type=float,
        default=None,
        help="bulk flow under the loaded latency measurement (default 12; --quick: 5)",
    )
    a(
        "--mcast-rate",
        type=int,
        default=None,
        help="multicast datagrams/s offered (default 10000; --quick: 2000)",
    )
    a(
        "--mcast-seconds",
        type=float,
        default=None,
        help="multicast stream seconds (default 5; --quick: 1)",
    )
    a(
        "--n2n-bin-dir",
        default=os.environ.get("N2N_BIN_DIR"),
        help="directory with real n2n v3's edge and supernode (default: $N2N_BIN_DIR)",
    )
    a("--reference", default=REFERENCE, help=f"path for the pyn2n ratios (default {REFERENCE})")
    a(
        "--loss",
        type=_percent,
        default=0.0,
        metavar="PCT",
        help="drop PCT %% of the underlay's datagrams one by one at the router during the whole "
        "run (iptables statistic; GSO batches split); the `loss` experiment measures 1 and 5 %%",
    )
    a("--no-install", action="store_true", help="do not apt-get missing openvpn/tinc/iperf3")
    a("--list", action="store_true", help="list the paths and whether they can run, then exit")
    a(
        "--from-json",
        type=Path,
        default=None,
        metavar="FILE",
        help="re-render results.md and the plots from a results.json into --out",
    )


def build_settings(args: argparse.Namespace) -> Settings:
    s = Settings.quick() if args.quick else Settings()
    overrides = {
        "transfer_bytes": args.transfer_size,
        "zmq_size": args.zmq_size,
        "zmq_count": args.zmq_count,
        "sizes": args.sizes,
        "iperf_seconds": args.iperf_seconds,
        "load_seconds": args.load_seconds,
        "mcast_rate": args.mcast_rate,
        "mcast_seconds": args.mcast_seconds,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(s, key, value)
    return s


def source_commit() -> str | None:
    """The git commit of the pyn2n tree being measured (edits on top of it are not seen)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def skip_reason(path: NetPath, exp: Experiment, hosts: Sequence[str]) -> str | None:
    """Why `exp` does not apply to `path` (None if it does)."""
    if exp.multicast:
        if path.name == UNDERLAY:
            return "the underlay routes no multicast, like a cloud VPC"
        if not path.multicast:
            return "point-to-point: a single peer, no group of receivers"
        if len(hosts) < 3:
            return "needs a lab of at least 3 edges"
    if exp.supernode and not isinstance(path, N2nFamilyPath):
        return "no supernode: not an n2n community"
    return None


class Bench:
    """One run: the lab, the paths, the experiments, and the results as they come in."""

    def __init__(self, args: argparse.Namespace, argv: Sequence[str], console: Console) -> None:
        self.args, self.console = args, console
        self.settings = build_settings(args)
        self.repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
        if self.repeats < 1:
            raise BenchError("--repeats must be at least 1")
        if args.edges < 2:
            raise BenchError("--edges must be at least 2")
        known = all_paths(args.n2n_bin_dir)
        spec = args.paths or (QUICK_PATHS if args.quick else "all")
        chosen = select_paths(known, spec)
        if args.skip:
            skipped = {p.name for p in select_paths(known, args.skip)}
            chosen = [p for p in chosen if p.name not in skipped]
        if not chosen:
            raise BenchError("no path left to measure")
        self.paths = chosen
        self.experiments = select_experiments(args.experiments)
        self.out: Path = args.out
        self.logdir = self.out / "logs"
        self.status: dict[str, tuple[str, str | None]] = {}  # path -> (status, reason)
        self.runs: list[dict[str, Any]] = []
        self.info: dict[str, dict[str, Any]] = {}
        now = datetime.datetime.now(datetime.UTC)
        self.results: dict[str, Any] = {
            "version": 1,
            "started": now.isoformat(timespec="seconds"),
            "command": ["pyn2n", "bench", *argv],
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "python": platform.python_version(),
                "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            },
            "source": source_commit(),
            "settings": self.settings.to_dict(),
            "repeats": self.repeats,
            "underlay": UNDERLAY,
            "reference": args.reference,
        }
        self._t0 = time.monotonic()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self.progress.add_task("building the lab")

    def log(self, text: str) -> None:
        self.console.print(text, highlight=False)

    # --- preparation -----------------------------------------------------------------------------

    def prepare(self) -> list[NetPath]:
        """Install what the chosen paths and experiments need; return the paths that can run."""
        needed = sorted({pkg for p in self.paths for pkg in p.packages})
        if any(e.name.startswith("iperf") for e in self.experiments):
            needed.append("iperf3")
        if needed and not self.args.no_install:
            try:
                installed = ensure_packages(needed)
                if installed:
                    self.log(f"installed {' '.join(installed)}")
            except BenchError as e:
                self.log(f"[yellow]package set-up: {e}[/]")
        if shutil.which("iperf3") is None:
            dropped = [e.name for e in self.experiments if e.name.startswith("iperf")]
            if dropped:
                self.log(f"[yellow]iperf3 is not installed: leaving out {', '.join(dropped)}[/]")
                self.experiments = [e for e in self.experiments if e.name not in dropped]
        ready = []
        for path in self.paths:
            reason = path.unavailable()
            self.status[path.name] = ("skipped", reason) if reason else ("ok", None)
            if reason:
                self.log(f"[yellow]skipping {path.name}: {reason}[/]")
            else:
                ready.append(path)
        return ready

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        paths = self.prepare()
        self.logdir.mkdir(parents=True, exist_ok=True)
        interrupted = False
        if paths:
            try:
                self._measure(paths)
            except KeyboardInterrupt:
                interrupted = True
                self.log("[red]interrupted: writing what was measured[/]")
        self._finish()
        if interrupted:
            raise KeyboardInterrupt
        return self.results

    def _measure(self, paths: list[NetPath]) -> None:
        hosts = [f"e{i}" for i in range(1, self.args.edges + 1)]
        steps = self.repeats * len(paths) * (1 + len(self.experiments))
        with (
            tempfile.TemporaryDirectory(prefix="pyn2n-bench-") as tmp,
            Lab(edges=self.args.edges) as lab,
            self.progress,
        ):
            self.progress.update(self._task, total=steps)
            self.results["lab"] = {"run_id": lab.run_id, "namespaces": lab.namespaces}
            if self.args.loss:
                from pyn2n.bench import loss

                loss.apply(lab, self.args.loss)
                self.results["lab"]["loss_percent"] = self.args.loss
            ctx = Context(lab, self.settings, self.logdir)
            for repeat in range(self.repeats):
                order = paths if repeat % 2 == 0 else paths[::-1]
                for position, path in enumerate(order):
                    ctx.tag = f"r{repeat + 1}-{path.name}-"
                    self._one_path(ctx, path, hosts, Path(tmp), repeat, position)

    def _show(self, repeat: int, path: NetPath, what: str) -> None:
        where = f"repeat {repeat + 1}/{self.repeats} · {path.name} · {what}"
        self.progress.update(self._task, description=where)

    def _step(self) -> None:
        self.progress.advance(self._task)

    def _one_path(
        self, ctx: Context, path: NetPath, hosts: list[str], tmp: Path, repeat: int, position: int
    ) -> None:
        """Set up `path`, run every experiment over it, tear it down; record each run."""

        def record(exp: Experiment, status: str, **fields: Any) -> None:
            run = {
                "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "repeat": repeat,
                "order": position,
                "path": path.name,
                "experiment": exp.name,
                "status": status,
                "figures": {},
                "details": {},
                "cpu": None,
                "error": None,
                "seconds": None,
            }
            self.runs.append({**run, **fields})

        self._show(repeat, path, "set-up")
        try:
            path.setup(ctx.lab, hosts, tmp / path.name)
        except (BenchError, LabError, OSError) as e:
            self.log(f"[red]{path.name}: set-up failed: {e}[/]")
            path.teardown()
            self._keep_logs(path, tmp)
            for exp in self.experiments:
                record(exp, "error", error=f"set-up failed: {e}")
                self._step()
            self._step()
            return
        self._step()
        try:
            self.info.setdefault(
                path.name,
                {"hosts": list(path.hosts), "mtu": path.mtu(), "versions": path.versions()},
            )
            for exp in self.experiments:
                self._show(repeat, path, exp.name)
                reason = skip_reason(path, exp, path.hosts)
                if reason:
                    record(exp, "skipped", error=reason)
                    self._step()
                    continue
                t0 = time.monotonic()
                try:
                    outcome = exp.run(ctx, path)
                except (BenchError, LabError, OSError, ValueError, KeyError) as e:
                    self.log(f"[red]{path.name} {exp.name}: {e}[/]")
                    record(exp, "error", error=str(e), seconds=round(time.monotonic() - t0, 3))
                else:
                    record(
                        exp,
                        "ok",
                        figures=outcome.figures,
                        details=outcome.details,
                        cpu=outcome.cpu.to_dict() if outcome.cpu else None,
                        seconds=round(time.monotonic() - t0, 3),
                    )
                    self.log(self._line(repeat, path, exp, outcome))
                finally:
                    ctx.stop_peers()  # after a failure, the other ends may still run
                self._step()
        finally:
            path.teardown()
            self._keep_logs(path, tmp)

    def _line(self, repeat: int, path: NetPath, exp: Experiment, outcome: Outcome) -> str:
        metrics = exp.metrics(self.settings)
        if exp.brief:
            metrics = [m for m in metrics if m.key in exp.brief]
        elif len(metrics) > 2:  # the size sweep: its smallest and largest message sizes
            metrics = [metrics[0], metrics[len(metrics) // 2 - 1]]
        parts = [f"{report.fmt(outcome.figures.get(m.key))} {m.label}" for m in metrics]
        cpu = outcome.cpu
        if cpu is not None and cpu.overlay_pct is not None:
            parts.append(f"CPU {cpu.overlay_pct:.0f}%")
        return f"[{repeat + 1}/{self.repeats}] {path.name:<15} {exp.name:<10} " + ", ".join(parts)

    def _keep_logs(self, path: NetPath, tmp: Path) -> None:
        """Copy the path's process logs (not its keys) into --out/logs."""
        for log in (tmp / path.name).glob("*.log"):
            shutil.copyfile(log, self.logdir / log.name)

    def _finish(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.results["finished"] = now.isoformat(timespec="seconds")
        self.results["seconds"] = round(time.monotonic() - self._t0, 1)
        paths: dict[str, Any] = {}
        for path in self.paths:
            status, reason = self.status.get(path.name, ("skipped", "not prepared"))
            runs = [r for r in self.runs if r["path"] == path.name]
            if status == "ok" and runs and not any(r["status"] == "ok" for r in runs):
                status, reason = "failed", next(r["error"] for r in runs if r["error"])
            paths[path.name] = {
                "label": path.label,
                "family": path.family,
                "description": path.description(),
                "status": status,
                "reason": reason,
                **self.info.get(path.name, {"hosts": [], "mtu": None, "versions": {}}),
            }
        self.results["paths"] = paths
        self.results["experiments"] = {
            e.name: {
                "title": e.title,
                "metrics": [
                    {"key": m.key, "label": m.label, "higher_is_better": m.higher_is_better}
                    for m in e.metrics(self.settings)
                ],
            }
            for e in self.experiments
        }
        self.results["runs"] = self.runs
        for log in self.logdir.glob("*.log"):
            if log.stat().st_size == 0:
                log.unlink()  # most measuring peers print nothing to stderr
        files = report.write_outputs(self.results, self.out)
        self.log(f"wrote {', '.join(str(f) for f in files[:2])} and {len(files) - 2} plot(s)")


def list_paths(args: argparse.Namespace, console: Console) -> None:
    for path in all_paths(args.n2n_bin_dir):
        reason = path.unavailable()
        state = "[green]ok[/]" if reason is None else f"[yellow]{reason}[/]"
        console.print(f"{path.name:<15} {path.label:<22} {state}", highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="pyn2n bench run",
        description="Experiments (large transfer, ZeroMQ throughput and "
        "msgs/s by size, latency, multicast, iperf3) over the underlay, pyn2n, OpenVPN, "
        "tinc, VXLAN and real n2n, in network namespaces.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)
    if args.list:
        list_paths(args, console)
        return 0
    if args.from_json is not None:
        import json

        results = json.loads(args.from_json.read_text())
        files = report.write_outputs(results, args.out)
        console.print(f"wrote {', '.join(str(f) for f in files)}")
        return 0
    reason = preflight()
    if reason is not None:
        console.print(f"[red]pyn2n bench: {reason}[/]")
        return 2
    try:
        bench = Bench(args, argv, console)
        results = bench.run()
    except BenchError as e:
        console.print(f"[red]pyn2n bench: {e}[/]")
        return 2
    except KeyboardInterrupt:
        return 130
    errors = [r for r in results["runs"] if r["status"] == "error"]
    if errors:
        console.print(f"[yellow]{len(errors)} measurement(s) failed; see results.md[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
