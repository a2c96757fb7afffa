"""A pyn2n overlay on a `Lab`: supernode(s) and edges as real processes, plus polling helpers.

    with Lab(3, standby=True) as lab:
        ov = Overlay(lab, edge_args=["-A3", "-k", "secret"]).start()
        ov.wait_ping("e1", "e2")               # polls ping until it answers (deadline, no sleeps)
        ov.wait_path("e1", "e2", "direct")     # polls the edge's `peers` management rows
        ov.kill("sn")                          # SIGKILL: a supernode crash
        ov.start_edge("e3"); ov.wait_ping("e3", "e1")

Supernodes run on `sn` (and the standby `sn2`, federated with it: each gets `-l` of the other),
edges on `e<i>` with TAP `edge0`, the lab's overlay address (`-a 198.19.0.<i>/24`), `-I e<i>`
and `-l` to every supernode. With `-H` among the edge flags the supernodes get a community file
(`-c`) naming the communities, which header encryption needs (features §C). Every process logs
to `<log_dir>/<node>.log` (a fresh temp dir unless given). The management API is read through
`ip netns exec <ns> pyn2n ctl --json` (`ctl`), since the management port listens on the node's
own loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import permutations
from pathlib import Path
from typing import Any, TypeVar

from pyn2n.constants import N2N_EDGE_MGMT_PORT, N2N_SN_LPORT_DEFAULT, N2N_SN_MGMT_PORT
from pyn2n.lab import system
from pyn2n.lab.lab import Lab
from pyn2n.lab.topology import STANDBY, SUPERNODE, LabError

T = TypeVar("T")

# The interpreter running us, so the lab's processes use the same installation (venv or not).
PYN2N: list[str] = [sys.executable, "-m", "pyn2n.cli.main"]
DEFAULT_COMMUNITY = "mynet"
TAP_NAME = "edge0"
ROLES = ("supernode", "edge")


class OverlayError(LabError):
    """The overlay did not come up or behave in time; the message says what was awaited."""


# Lab.spawn rewrites the lab's state file (same temp name, then rename) and is not thread-safe;
# the helpers here spawn from worker threads, so they go through `spawn`.
_spawn_lock = threading.Lock()


def spawn(lab: Lab, node: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
    """`lab.spawn`, safe to call from several threads at once."""
    with _spawn_lock:
        return lab.spawn(node, argv, **kw)


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    abort: Callable[[], None] | None = None,
) -> T:
    """Call `check` until it returns something truthy (returned) or `timeout` s pass.

    An OverlayError from `check` counts as "not yet" (e.g. a management port not open yet) and is
    quoted if the deadline passes. `abort` runs before each try and may raise to give up early
    (e.g. when a process died).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        if abort is not None:
            abort()
        try:
            result = check()
        except OverlayError as e:
            last = e
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise OverlayError(f"timed out after {timeout:g} s waiting for {what} (last: {last})")
        time.sleep(interval)


def is_supernode_host(lab: Lab, node: str) -> bool:
    return lab.plan.host(node).overlay_ip is None


def ctl(
    lab: Lab,
    node: str,
    method: str,
    *args: str,
    port: int | None = None,
    timeout: float = 2.0,
) -> list[dict[str, Any]]:
    """Rows of a management read (`pyn2n ctl --json METHOD ARGS`) from the node's edge or supernode.

    `port` defaults to the supernode port (5645) on `sn`/`sn2` and the edge port (5644) elsewhere.
    Raises OverlayError when nothing answers or the answer is an error.
    """
    if port is None:
        port = N2N_SN_MGMT_PORT if is_supernode_host(lab, node) else N2N_EDGE_MGMT_PORT
    if not lab.exists():
        raise OverlayError(f"lab {lab.run_id} is not up")
    return ctl_ns(lab.ns(node), method, *args, port=port, timeout=timeout)


def ctl_ns(
    ns: str, method: str, *args: str, port: int, timeout: float = 2.0
) -> list[dict[str, Any]]:
    """`ctl` by namespace name (for labs known only from their state file)."""
    argv = [*PYN2N, "ctl", "--json", "-t", str(port), "--timeout", f"{timeout:g}", method, *args]
    try:
        proc = subprocess.run(
            system.exec_argv(ns, argv),
            capture_output=True,
            text=True,
            timeout=timeout + 15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OverlayError(f"{ns}: pyn2n ctl {method} hung") from None
    if proc.returncode != 0:
        raise OverlayError(f"{ns}: pyn2n ctl {method}: {proc.stderr.strip()}")
    try:
        rows = json.loads(proc.stdout)
    except ValueError:
        rows = None
    if not isinstance(rows, list):
        raise OverlayError(f"{ns}: pyn2n ctl {method}: not a list of rows: {proc.stdout!r}")
    return rows


def role_of(argv: Sequence[str]) -> str | None:
    """`supernode` or `edge` for a pyn2n command line (as Overlay spawns them), else None."""
    for i, arg in enumerate(argv[:-1]):
        if (arg == "pyn2n.cli.main" or arg.endswith("/pyn2n")) and argv[i + 1] in ROLES:
            return argv[i + 1]
    return None


def mgmt_summary(ns: str, argv: Sequence[str]) -> str:
    """One line on a running pyn2n process from its management API ("" if not pyn2n)."""
    role = role_of(argv)
    if role is None:
        return ""
    port = N2N_SN_MGMT_PORT if role == "supernode" else N2N_EDGE_MGMT_PORT
    if "-t" in argv[:-1]:
        port = int(argv[list(argv).index("-t") + 1])
    try:
        if role == "supernode":
            federations = {
                str(r["community"])
                for r in ctl_ns(ns, "communities", port=port, timeout=1)
                if r.get("is_federation")
            }
            rows = ctl_ns(ns, "edges", port=port, timeout=1)
            feds = [r for r in rows if r.get("community") in federations]
            edges = sorted(str(r["desc"] or r["macaddr"]) for r in rows if r not in feds)
            return f"edges: {' '.join(edges) or '-'}; federation peers: {len(feds)}"
        current = [
            str(r["sockaddr"])
            for r in ctl_ns(ns, "supernodes", port=port, timeout=1)
            if r.get("current")
        ]
        paths = Counter(str(r["path"]) for r in ctl_ns(ns, "peers", port=port, timeout=1))
        return (
            f"supernode {current[0] if current else '-'}; "
            f"peers {paths['direct']} direct, {paths['relayed']} relayed"
        )
    except OverlayError as e:
        return f"no answer ({e})"


DIRECT_PATHS = ("direct", "kernel")  # the `path` values of a peer reached without a supernode


class Overlay:
    """pyn2n processes on a lab (see the module doc). `edge_args`/`supernode_args` are extra flags
    for every edge/supernode; `communities` (default: `community`) go into the supernodes'
    community file when one is needed (`-H` among the edge flags, or `community_file=True`)."""

    def __init__(
        self,
        lab: Lab,
        *,
        community: str = DEFAULT_COMMUNITY,
        edge_args: Sequence[str] = (),
        supernode_args: Sequence[str] = (),
        port: int = N2N_SN_LPORT_DEFAULT,
        log_dir: Path | None = None,
        communities: Sequence[str] | None = None,
        community_file: bool | None = None,
    ) -> None:
        self.lab = lab
        self.community = community
        self.edge_args = list(edge_args)
        self.supernode_args = list(supernode_args)
        self.port = port
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"pyn2n-{lab.run_id}-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.communities = list(communities) if communities is not None else [community]
        self.community_file = "-H" in self.edge_args if community_file is None else community_file
        self.procs: dict[str, subprocess.Popen[Any]] = {}
        self._stopped: set[str] = set()

    # --- starting --------------------------------------------------------------------------------

    @property
    def supernodes(self) -> list[str]:
        """`sn`, and `sn2` when the lab has a standby."""
        return [SUPERNODE, *([STANDBY] if self.lab.plan.standby else [])]

    def endpoints(self) -> list[str]:
        """`ip:port` of every supernode, for edges' `-l`."""
        return [self.lab.supernode_endpoint(sn, self.port) for sn in self.supernodes]

    def start(self, edges: Iterable[str] | None = None) -> Overlay:
        """Start the supernode(s) and then `edges` (default: all of the lab's), without waiting."""
        for sn in self.supernodes:
            self.start_supernode(sn)
        for edge in self.lab.edges if edges is None else edges:
            self.start_edge(edge)
        return self

    def supernode_argv(self, node: str) -> list[str]:
        argv = [*PYN2N, "supernode", "-p", str(self.port)]
        argv += [x for sn in self.supernodes if sn != node for x in ("-l", self._endpoint(sn))]
        if self.community_file:
            path = self.log_dir / "community.list"
            path.write_text("".join(f"{c}\n" for c in self.communities))
            argv += ["-c", str(path)]
        return argv + self.supernode_args

    def edge_argv(
        self, edge: str, extra: Sequence[str] = (), community: str | None = None
    ) -> list[str]:
        flags = [*self.edge_args, *extra]
        argv = [*PYN2N, "edge", "-c", community or self.community, "-d", TAP_NAME]
        for endpoint in self.endpoints():
            argv += ["-l", endpoint]
        if "-a" not in flags:
            argv += ["-a", self.lab.overlay_cidr(edge)]
        if "-I" not in flags:
            argv += ["-I", edge]
        return argv + flags

    def _endpoint(self, sn: str) -> str:
        return self.lab.supernode_endpoint(sn, self.port)

    def _spawn(self, node: str, argv: list[str]) -> subprocess.Popen[Any]:
        if node in self.procs and self.procs[node].poll() is None:
            raise OverlayError(f"{node} already runs pid {self.procs[node].pid}")
        proc = spawn(self.lab, node, argv, log=self.log_path(node))
        self.procs[node] = proc
        self._stopped.discard(node)
        return proc

    def start_supernode(self, node: str = SUPERNODE) -> subprocess.Popen[Any]:
        return self._spawn(node, self.supernode_argv(node))

    def start_edge(
        self, edge: str, extra: Sequence[str] = (), community: str | None = None
    ) -> subprocess.Popen[Any]:
        """Start an edge (also one left out of `start`, to join later) with extra flags."""
        return self._spawn(edge, self.edge_argv(edge, extra, community))

    # --- stopping --------------------------------------------------------------------------------

    def stop(self, node: str, sig: int = signal.SIGTERM) -> int:
        """Signal a node's process (by PID, via `lab.stop`) and return its exit code."""
        self._stopped.add(node)
        return self.lab.stop(self.procs[node], sig)

    def kill(self, node: str) -> int:
        """SIGKILL: a crash, no goodbye on the wire."""
        return self.stop(node, signal.SIGKILL)

    def stop_all(self) -> dict[str, int]:
        """SIGTERM every process still running (edges unregister); exit codes by node."""
        return {node: self.stop(node) for node in list(self.procs) if self.alive(node)}

    # --- looking ---------------------------------------------------------------------------------

    def log_path(self, node: str) -> Path:
        return self.log_dir / f"{node}.log"

    def log_tail(self, node: str, lines: int = 15) -> str:
        try:
            text = self.log_path(node).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self, node: str) -> bool:
        return node in self.procs and self.procs[node].poll() is None

    def check_alive(self) -> None:
        """Raise OverlayError (with the log's end) if a process we did not stop has exited."""
        for node, proc in self.procs.items():
            if node not in self._stopped and proc.poll() is not None:
                raise OverlayError(
                    f"{node} (pid {proc.pid}) exited with {proc.returncode}; "
                    f"{self.log_path(node)} ends:\n{self.log_tail(node)}"
                )

    def ctl(self, node: str, method: str, *args: str, timeout: float = 2.0) -> list[dict[str, Any]]:
        return ctl(self.lab, node, method, *args, timeout=timeout)

    def drops(self, node: str) -> dict[str, int]:
        return {str(r["reason"]): int(r["count"]) for r in self.ctl(node, "drops")}

    def registered(self, supernode: str | None = None, community: str | None = None) -> list[str]:
        """Edges (by `-I` name) registered in the community at `supernode`, or at any running
        supernode (edges spread over the federation by load, §7.1)."""
        name = community or self.community
        nodes = [supernode] if supernode else [s for s in self.supernodes if self.alive(s)]
        return sorted(
            {
                str(r["desc"])
                for node in nodes
                for r in self.ctl(node, "edges")
                if r.get("community") == name and r.get("desc")
            }
        )

    def peer_row(self, edge: str, other: str) -> dict[str, Any] | None:
        """The `peers` row `edge` keeps for edge `other` (matched by overlay address or name)."""
        ip = self.lab.overlay_ip(other)
        for row in self.ctl(edge, "peers"):
            if row.get("ip4addr") == ip or row.get("desc") == other:
                return row
        return None

    def path(self, edge: str, other: str) -> str | None:
        """`direct` or `relayed` (pyn2n's `peers` extra), None if `other` is not a peer yet."""
        row = self.peer_row(edge, other)
        return None if row is None else str(row["path"])

    def current_supernode(self, edge: str) -> str | None:
        """The lab node (`sn`/`sn2`) the edge currently uses, per its `supernodes` rows."""
        by_addr = {self._endpoint(sn): sn for sn in self.supernodes}
        for row in self.ctl(edge, "supernodes"):
            if row.get("current"):
                return by_addr.get(str(row.get("sockaddr")))
        return None

    # --- waiting ---------------------------------------------------------------------------------

    def wait(self, check: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """`wait_until` that also gives up as soon as one of our processes dies."""
        return wait_until(check, timeout=timeout, what=what, abort=self.check_alive)

    def wait_registered(
        self,
        edges: Iterable[str] | None = None,
        supernode: str | None = None,
        timeout: float = 20.0,
        community: str | None = None,
    ) -> None:
        """Until every edge (default: all started) is registered at `supernode` (default: any)."""
        want = set(self.edge_names() if edges is None else edges)
        self.wait(
            lambda: want <= set(self.registered(supernode, community)),
            f"{sorted(want)} registered at {supernode or 'a supernode'}",
            timeout,
        )

    def ping(self, src: str, dst: str, count: int = 1, interval: float = 0.2) -> int:
        """Echo replies out of `count` from edge `src` to edge `dst`'s overlay address."""
        return self.lab.ping(
            src, self.lab.overlay_ip(dst), count=count, interval=interval, timeout=1
        )

    def wait_ping(self, src: str, dst: str, timeout: float = 20.0) -> None:
        self.wait(lambda: self.ping(src, dst) > 0, f"{src} to ping {dst} over the overlay", timeout)

    def wait_mesh(self, edges: Sequence[str] | None = None, timeout: float = 20.0) -> None:
        """Every edge pings every other over the overlay (all pairs polled in parallel)."""
        pairs = list(permutations(self.edge_names() if edges is None else edges, 2))
        with ThreadPoolExecutor(len(pairs) or 1) as pool:
            for future in [pool.submit(self.wait_ping, a, b, timeout) for a, b in pairs]:
                future.result()

    def wait_path(self, edge: str, other: str, path: str = "direct", timeout: float = 20.0) -> None:
        """`direct` is also met by `kernel` (a direct path whose unicast the kernel carries)."""
        wanted = DIRECT_PATHS if path == "direct" else (path,)
        self.wait(
            lambda: self.path(edge, other) in wanted,
            f"{edge}'s path to {other} to be {path}",
            timeout,
        )

    def wait_current(self, edge: str, supernode: str, timeout: float = 30.0) -> None:
        self.wait(
            lambda: self.current_supernode(edge) == supernode,
            f"{edge} to use supernode {supernode}",
            timeout,
        )

    def edge_names(self) -> list[str]:
        """Edges started so far and not stopped."""
        return [n for n in self.procs if n in self.lab.edges and n not in self._stopped]
