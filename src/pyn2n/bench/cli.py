"""`pyn2n bench [<experiment>]`: dispatches to one module per experiment, each with `main(argv)`;
without an experiment name (or with options only) it runs every experiment over every path (`run`)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

EXPERIMENTS: dict[str, tuple[str, str]] = {
    "run": (
        "pyn2n.bench.run",
        "transfer, ZeroMQ, latency, multicast and iperf3 over every path of one lab (the default)",
    ),
    "transforms": (
        "pyn2n.bench.transforms",
        "frames/s and MB/s of every payload transform and compression (n2n-benchmark)",
    ),
    "supernode": (
        "pyn2n.bench.supernode",
        "supernode capacity and relay: pyn2n against C n2n with synthetic edges and -S1 edges",
    ),
    "soak": (
        "pyn2n.bench.soak",
        "a lab overlay kept busy and disturbed for MINUTES (also: pyn2n bench --soak [MINUTES])",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv or [])
    if argv[:1] == ["--soak"]:
        argv[0] = "soak"
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    parser = argparse.ArgumentParser(
        prog="pyn2n bench", description="Benchmarks; `pyn2n bench <experiment> -h` for options."
    )
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, (_, help_) in EXPERIMENTS.items():
        # the experiment parses its own options (and -h), so they pass through untouched
        experiments.add_parser(name, help=help_, add_help=False)
    args, rest = parser.parse_known_args(argv)
    module = importlib.import_module(EXPERIMENTS[args.experiment][0])
    return int(module.main(rest) or 0)
