"""`pyn2n lab up|status|down|demo`: build a lab running pyn2n and leave it, list labs, remove
them, show the demo.

Sub-commands live in SUBCOMMANDS (name -> help, argument adder, handler). `up` starts a
supernode (and the standby, federated), and an edge on every edge host (pyn2n.lab.overlay)
unless `--bare`; the processes are recorded in the state file and `down` stops them. Labs are
found through their state files (pyn2n.lab.state); `down` removes only namespaces recorded there.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pyroute2 import config as pyroute2_config
from rich.console import Console
from rich.table import Table

from pyn2n.lab import system
from pyn2n.lab.lab import Lab, destroy
from pyn2n.lab.overlay import DEFAULT_COMMUNITY, PYN2N, Overlay, OverlayError, mgmt_summary
from pyn2n.lab.state import DEFAULT_STATE_DIR, LabState, list_states, read_state, state_path
from pyn2n.lab.topology import MAX_EDGES, NS_PREFIX, LabError, Plan


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds through Lab.up(), which then removes what it had built.
    raise SystemExit(128 + signum)


def install_signal_teardown() -> None:
    """Make SIGTERM and SIGHUP unwind like Ctrl-C, so `with Lab(...)` / Lab.up() clean up."""
    # pyroute2 (netns sockets, used by other parts of pyn2n) forks helper children that SIGTERM
    # ends; without this they would run our handler and unwind this process's stack themselves.
    pyroute2_config.disable_mp_signal = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)


def plan_table(plan: Plan, present: Callable[[str], bool] | None = None) -> Table:
    table = Table(title=f"lab {plan.run_id}", title_justify="left")
    for column in ("node", "namespace", "underlay", "public", "overlay"):
        table.add_column(column)
    if present is not None:
        table.add_column("present")

    def row(node: str, ns: str, underlay: str, public: str, overlay: str) -> None:
        cells = [node, ns, underlay, public, overlay]
        if present is not None:
            cells.append("yes" if present(ns) else "[red]gone[/red]")
        table.add_row(*cells)

    row("r", plan.router_ns, "198.18.x.1 (every /24)", "", "")
    for host in plan.hosts:
        if host.nat_ns is not None:
            row(f"n{host.name[1:]}", host.nat_ns, f"{host.gateway}/24", host.public_ip, "NAT")
        row(host.name, host.ns, host.underlay_ip, host.public_ip, host.overlay_ip or "")
    return table


# --- up -------------------------------------------------------------------------------------------


def _add_up(p: argparse.ArgumentParser) -> None:
    p.add_argument("--edges", type=int, default=2, help=f"number of edges, 1..{MAX_EDGES} (2)")
    p.add_argument("--nat", action="store_true", help="put every edge behind its own NAT")
    p.add_argument(
        "--ipv6", action="store_true", help="an IPv6-only underlay (2001:db8:18::/48; no NAT)"
    )
    p.add_argument("--loss", type=float, default=0.0, help="router drops this share (0..1)")
    p.add_argument(
        "--standby", action="store_true", help="add a standby supernode host sn2 (federated)"
    )
    p.add_argument("--bare", action="store_true", help="only the network: start no pyn2n")
    p.add_argument("--community", default=DEFAULT_COMMUNITY, help="edges' community (mynet)")
    p.add_argument(
        "--edge-args",
        default="",
        metavar="FLAGS",
        help='extra flags for every edge, e.g. "-A3 -k secret", or --edge-args=-z1 for a '
        "single flag; -H also gives the supernodes a community file",
    )
    p.add_argument(
        "--supernode-args",
        default="",
        metavar="FLAGS",
        help="extra flags for the supernodes (--supernode-args=-M for a single flag)",
    )
    p.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the overlay to answer (30)"
    )


def _up(args: argparse.Namespace, console: Console) -> int:
    reason = system.preflight()
    if reason:
        console.print(f"[red]pyn2n lab up: {reason}[/red]")
        return 1
    install_signal_teardown()
    lab = Lab(
        args.edges,
        nat=args.nat,
        loss=args.loss,
        standby=args.standby,
        ipv6=args.ipv6,
        state_dir=args.state_dir,
    )
    lab.up()
    try:
        overlay = None if args.bare else _start_overlay(lab, args, console)
    except BaseException:
        lab.down()
        raise
    if not args.bare and overlay is None:
        lab.down()
        return 1
    path = lab.detach()
    console.print(plan_table(lab.plan))
    console.print(f"lab [bold]{lab.run_id}[/bold] is up (loss {lab.loss:.0%}); state: {path}")
    hints = [f"try:    ip netns exec {lab.ns('e1')} ping -c1 {lab.underlay_ip('sn')}"]
    if overlay is not None:
        procs = Table("pid", "node", "command", title="pyn2n processes")
        for node, proc in overlay.procs.items():
            argv = proc.args if isinstance(proc.args, list) else [proc.args]
            procs.add_row(str(proc.pid), node, _command(argv[4:]))  # after ip netns exec NS
        console.print(procs)
        console.print(f"logs:   {overlay.log_dir} (removed by down)")
        if len(lab.edges) > 1:
            hints.append(
                f"        ip netns exec {lab.ns('e1')} ping -c1 {lab.overlay_ip(lab.edges[1])}"
            )
        hints.append(f"        ip netns exec {lab.ns('e1')} {_pyn2n_script()} ctl peers")
    console.print("\n".join([*hints, f"remove: pyn2n lab down {lab.run_id}"]))
    return 0


def log_dir(state_dir: Path, run_id: str) -> Path:
    """Where `up` puts the pyn2n logs: next to the state file; `down` removes it."""
    return state_path(state_dir, run_id).with_suffix(".logs")


def _command(argv: list[object]) -> str:
    """A spawned command line, with this interpreter's `python -m pyn2n.cli.main` as `pyn2n`."""
    words = [str(a) for a in argv]
    if words[: len(PYN2N)] == PYN2N:
        words = ["pyn2n", *words[len(PYN2N) :]]
    return shlex.join(words)


def _pyn2n_script() -> str:
    """The `pyn2n` console script next to this interpreter (a venv's), else plain `pyn2n`."""
    script = Path(sys.executable).parent / "pyn2n"
    return str(script) if script.exists() else "pyn2n"


def _start_overlay(lab: Lab, args: argparse.Namespace, console: Console) -> Overlay | None:
    """Start supernode(s) and edges and wait until every edge is registered and e1 pings every
    other edge. None if a process died (its log is printed); a slow overlay only warns."""
    overlay = Overlay(
        lab,
        community=args.community,
        edge_args=shlex.split(args.edge_args),
        supernode_args=shlex.split(args.supernode_args),
        log_dir=log_dir(args.state_dir, lab.run_id),
    ).start()
    first, others = lab.edges[0], lab.edges[1:]
    try:
        overlay.wait_registered(timeout=args.wait)
        for edge in others:
            overlay.wait_ping(first, edge, timeout=args.wait)
    except OverlayError as e:
        dead = [n for n in overlay.procs if not overlay.alive(n)]
        if not dead:
            console.print(f"[yellow]warning: {e}; the overlay is left running[/yellow]")
            return overlay
        console.print(f"[red]pyn2n lab up: {', '.join(dead)} exited[/red]")
        for node in dead:
            console.print(f"[dim]--- {overlay.log_path(node)}\n{overlay.log_tail(node)}[/dim]")
        console.print(f"removing lab {lab.run_id}; logs kept in {overlay.log_dir}")
        return None
    return overlay


# --- status ---------------------------------------------------------------------------------------


def _no_options(_parser: argparse.ArgumentParser) -> None:
    return None


def _status(args: argparse.Namespace, console: Console) -> int:
    states, errors = list_states(args.state_dir)
    recorded: set[str] = set()
    for state in states:
        recorded.update(state.plan.namespaces)
        console.print(plan_table(state.plan, present=system.ns_exists))
        owner = "running" if system.pid_alive(state.owner_pid) else "exited"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.created))
        console.print(
            f"created {created} by pid {state.owner_pid} ({owner}); loss {state.loss:.0%}"
        )
        if state.processes:
            running = set(system.pids_in(state.owned_namespaces()))
            procs = Table("pid", "node", "command", "state", "management")
            for proc in state.processes:
                pid = int(str(proc["pid"]))
                argv = proc["argv"]
                command = _command(argv) if isinstance(argv, list) else str(argv)
                mgmt = ""
                node = str(proc["node"])
                if pid in running and isinstance(argv, list) and node in state.plan.nodes:
                    mgmt = mgmt_summary(state.plan.nodes[node], [str(a) for a in argv])
                procs.add_row(
                    str(pid), node, command, "running" if pid in running else "gone", mgmt
                )
            console.print(procs)
        console.print()
    for path, error in errors:
        console.print(f"[red]unreadable state file {path}: {error}[/red]")
    unrecorded = [ns for ns in system.list_namespaces(NS_PREFIX) if ns not in recorded]
    if not states:
        console.print(f"no labs recorded in {args.state_dir}")
    if unrecorded:
        console.print(
            f"namespaces named {NS_PREFIX}* without a state file here (left alone): "
            + ", ".join(unrecorded)
        )
    return 0


# --- down -----------------------------------------------------------------------------------------


def _add_down(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="ID", help="run ids (see `pyn2n lab status`)")
    p.add_argument("--all", action="store_true", help="every lab with a state file")


def _down(args: argparse.Namespace, console: Console) -> int:
    if bool(args.ids) == bool(args.all):
        console.print("[red]pyn2n lab down: give lab ids or --all (not both)[/red]")
        return 2
    failed = 0
    if args.all:
        states, errors = list_states(args.state_dir)
        for path, error in errors:
            console.print(f"[red]skipping unreadable {path}: {error}[/red]")
            failed += 1
    else:
        states = []
        for run_id in args.ids:
            try:
                states.append(read_state(args.state_dir, run_id))
            except LabError as e:
                console.print(f"[red]{e}[/red]")
                failed += 1
    for state in states:
        failed += _down_one(state, args.state_dir, console)
    return 1 if failed else 0


def _down_one(state: LabState, state_dir: Path, console: Console) -> int:
    if system.pid_alive(state.owner_pid):
        console.print(f"lab {state.run_id}: its owner pid {state.owner_pid} is still running")
    namespaces = state.owned_namespaces()
    stopped, errors = destroy(namespaces)
    if errors:
        for error in errors:
            console.print(f"[red]lab {state.run_id}: {error}[/red]")
        return 1
    state_path(state_dir, state.run_id).unlink(missing_ok=True)
    shutil.rmtree(log_dir(state_dir, state.run_id), ignore_errors=True)
    console.print(
        f"lab {state.run_id}: removed {len(namespaces)} namespaces, stopped {len(stopped)} processes"
    )
    return 0


# --- demo ---------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, console: Console) -> int:
    reason = system.preflight()
    if reason:
        console.print(f"[red]pyn2n lab demo: {reason}[/red]")
        return 1
    install_signal_teardown()
    from pyn2n.lab import demo

    return demo.main(console, state_dir=args.state_dir, ipv6=args.ipv6)


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ipv6", action="store_true", help="on an IPv6-only underlay")


# --- dispatch -------------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Console], int]
# name -> (help, add_arguments, handler)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "up": ("build a lab, start a supernode and edges, leave them running", _add_up, _up),
    "status": ("list labs, their hosts and processes", _no_options, _status),
    "down": ("stop a lab's processes and remove its namespaces", _add_down, _down),
    "demo": (
        "show pyn2n on a cloud without multicast: mesh, direct paths, multicast, failover",
        _demo_options,
        _demo,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyn2n lab", description="virtual clouds in network namespaces (see docs/lab.md)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"where lab state files live ({DEFAULT_STATE_DIR})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, add_arguments, handler) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_arguments(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    try:
        return int(args.handler(args, console))
    except LabError as e:
        console.print(f"[red]pyn2n lab {args.command}: {e}[/red]")
        return 1
    except KeyboardInterrupt:
        # Lab.up() has already removed whatever it had built.
        console.print(f"pyn2n lab {args.command}: interrupted")
        return 130
