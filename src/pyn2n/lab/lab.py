"""`Lab`: a virtual cloud in network namespaces (addresses: see pyn2n.lab.topology).

    with Lab(edges=3, nat=True, loss=0.05) as lab:
        sn = lab.spawn("sn", [sys.executable, "-m", "pyn2n.cli.main", "supernode"], log=path)
        lab.run("e1", ["ping", "-c1", lab.underlay_ip("sn")])

The router forwards unicast only (ip_forward=1, no multicast routing daemon, no mroutes), the
way cloud VPCs do. Its FORWARD chain jumps to `p2n-block` (pairs cut by `block`) and then to
`p2n-loss` (random drop of every forwarded packet, both directions, `set_loss`). Leaving the
`with` block, an exception, Ctrl-C or interpreter exit (atexit) tears everything down.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from pyn2n.constants import N2N_SN_LPORT_DEFAULT
from pyn2n.lab import system
from pyn2n.lab.state import DEFAULT_STATE_DIR, LabState, state_path, write_state
from pyn2n.lab.topology import (
    HOST_IF,
    NAT_LAN_IF,
    NAT_WAN_IF,
    OVERLAY_PREFIXLEN,
    Host,
    LabError,
    Plan,
    ipv6_twin,
    make_plan,
    ns_name,
)

BLOCK_CHAIN = "p2n-block"
LOSS_CHAIN = "p2n-loss"
STOP_TIMEOUT = 3.0


def new_run_id(state_dir: Path | None = DEFAULT_STATE_DIR) -> str:
    """A random 6-hex-digit id whose namespace prefix and state file are not in use."""
    while True:
        run_id = secrets.token_hex(3)
        in_use = system.list_namespaces(ns_name(run_id, ""))
        if not in_use and (state_dir is None or not state_path(state_dir, run_id).exists()):
            return run_id


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while tearing down (an impatient second Ctrl-C must not leak
    namespaces); deliver the first one afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        caught.append(signum)

    old = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])


def destroy(namespaces: Sequence[str]) -> tuple[list[int], list[str]]:
    """Stop every process left in `namespaces`, then remove them.

    Returns the PIDs that had to be stopped and error messages (empty if all went).
    """
    errors = []
    stopped = system.sweep(namespaces, STOP_TIMEOUT)
    for ns in reversed(namespaces):
        try:
            system.remove_ns(ns)
        except OSError as e:
            errors.append(f"removing {ns}: {e}")
    return stopped, errors


class Lab:
    """A routed underlay with a supernode host, an optional standby and N edges (see module doc).

    `nat`: True puts every edge behind its own MASQUERADE namespace; an iterable of edge indices
    NATs only those. `loss`: share of forwarded packets the router drops at random.
    `state_dir`: where the state file goes (None: none), so `pyn2n lab down` can clean up after
    a process that died without tearing down.
    """

    def __init__(
        self,
        edges: int = 2,
        *,
        nat: bool | Iterable[int] = False,
        loss: float = 0.0,
        standby: bool = False,
        ipv6: bool = False,
        dual: bool = False,
        run_id: str | None = None,
        state_dir: Path | None = DEFAULT_STATE_DIR,
    ) -> None:
        _check_loss(loss)
        self.state_dir = state_dir
        self.plan: Plan = make_plan(
            run_id or new_run_id(state_dir), edges, nat=nat, standby=standby, ipv6=ipv6, dual=dual
        )
        self._state = LabState(plan=self.plan, loss=loss)
        self._created: list[str] = []
        self._procs: list[subprocess.Popen[Any]] = []
        self._started = False
        self._live = False
        self._saved = False  # only a state file this object wrote is ever deleted by it
        self._save_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def up(self) -> Lab:
        """Build the lab; on any failure (or Ctrl-C) remove what was built and re-raise."""
        if self._started:
            raise LabError(f"lab {self.run_id} was already started; make a new Lab")
        self._started = True
        taken = [ns for ns in self.plan.namespaces if system.ns_exists(ns)]
        if self.state_dir is not None and state_path(self.state_dir, self.run_id).exists():
            taken.append(str(state_path(self.state_dir, self.run_id)))
        if taken:
            raise LabError(f"already in use: {', '.join(taken)}; pick another run id")
        atexit.register(self.down)
        try:
            self._save()  # before building, so `pyn2n lab down` can clean up a crashed build
            self._build()
        except BaseException:
            self.down()
            raise
        self._live = True
        return self

    def down(self) -> None:
        """Stop the lab's processes and remove its namespaces (and with them the veths).

        Idempotent. Raises LabError if a namespace could not be removed (the state file is then
        kept, so `pyn2n lab down` can retry).
        """
        atexit.unregister(self.down)
        self._live = False
        with _signals_deferred():
            for proc in self._procs:
                if proc.poll() is None:
                    _killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            for proc in self._procs:
                _wait_or_kill(proc, max(0.0, deadline - time.monotonic()))
            _, errors = destroy(self._created)
            self._created = [ns for ns in self._created if system.ns_exists(ns)]
            if not self._created and self._saved and self.state_dir is not None:
                state_path(self.state_dir, self.run_id).unlink(missing_ok=True)
                self._saved = False
        if errors:
            raise LabError(f"lab {self.run_id} teardown: {'; '.join(errors)}")

    def detach(self) -> Path | None:
        """Leave the lab running after this process exits (`pyn2n lab up`); return its state file."""
        atexit.unregister(self.down)
        return state_path(self.state_dir, self.run_id) if self.state_dir is not None else None

    def _save(self) -> None:
        if self.state_dir is not None:
            with self._save_lock:  # spawn() may be called from several threads
                write_state(self.state_dir, self._state)
            self._saved = True

    def _build(self) -> None:
        plan = self.plan
        for ns in plan.namespaces:
            self._created.append(ns)  # first: a Ctrl-C inside create must still remove it
            system.create_ns(ns)
        router = plan.router_ns
        commands = system.up("lo")
        for host in plan.hosts:
            peer_if = NAT_WAN_IF if host.nat else HOST_IF
            commands.append(system.veth(host.router_if, host.nat_ns or host.ns, peer_if))
            commands += system.up(host.router_if, f"{host.router_ip}/{host.prefixlen}")
            if plan.dual:
                twin = ipv6_twin(host.subnet)
                commands.append(
                    f"addr add {twin.network_address + 1}/64 dev {host.router_if} nodad"
                )
        system.ip_batch(router, commands)
        for host in plan.hosts:
            if host.nat_ns is not None:
                system.ip_batch(
                    host.nat_ns,
                    [
                        *system.up("lo"),
                        *system.up(NAT_WAN_IF, f"{host.public_ip}/24"),
                        system.veth(NAT_LAN_IF, host.ns, HOST_IF),
                        *system.up(NAT_LAN_IF, f"{host.gateway}/24"),
                        f"route add default via {host.router_ip}",
                    ],
                )
                system.sysctl(host.nat_ns, "net.ipv4.ip_forward", 1)
                system.iptables(
                    host.nat_ns, "-t", "nat", "-A", "POSTROUTING", "-o", NAT_WAN_IF,
                    "-j", "MASQUERADE",
                )  # fmt: skip
                # Like a home router: unsolicited inbound traffic is dropped before conntrack
                # confirms it. Otherwise a peer's early hole-punching datagram leaves an entry
                # that makes MASQUERADE remap our own outgoing port, and punching never succeeds.
                system.iptables(
                    host.nat_ns, "-A", "INPUT", "-i", NAT_WAN_IF, "-m", "conntrack",
                    "--ctstate", "NEW,INVALID", "-j", "DROP",
                )  # fmt: skip
            system.ip_batch(
                host.ns,
                [
                    *system.up("lo"),
                    *system.up(HOST_IF, f"{host.underlay_ip}/{host.prefixlen}"),
                    f"route add default via {host.gateway}",
                    *self._twin_commands(host),
                ],
            )
        if plan.ipv6 or plan.dual:
            system.sysctl(router, "net.ipv6.conf.all.forwarding", 1)
        if not plan.ipv6:
            system.sysctl(router, "net.ipv4.ip_forward", 1)
        for chain in (BLOCK_CHAIN, LOSS_CHAIN):
            self._iptables(router, "-N", chain)
            self._iptables(router, "-A", "FORWARD", "-j", chain)
        self._apply_loss(self._state.loss)

    # --- names and addresses ---------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    @property
    def namespaces(self) -> list[str]:
        return self.plan.namespaces

    @property
    def hosts(self) -> list[str]:
        """End hosts: `sn`, `sn2` (with standby), `e1`..`eN`."""
        return self.plan.host_names()

    @property
    def edges(self) -> list[str]:
        return self.plan.edge_names

    @property
    def loss(self) -> float:
        return self._state.loss

    def ns(self, node: str) -> str:
        """Namespace of a node: `r` (router), a host, or `n<i>` (edge i's NAT)."""
        try:
            return self.plan.nodes[node]
        except KeyError:
            raise LabError(
                f"no node {node!r} in lab {self.run_id}; nodes: {list(self.plan.nodes)}"
            ) from None

    def underlay_ip(self, host: str) -> str:
        """The address on the host's own interface (a NATed edge's private one)."""
        return self.plan.host(host).underlay_ip

    def public_ip(self, host: str) -> str:
        """The address other hosts see: the NAT's for a NATed edge, else `underlay_ip`."""
        return self.plan.host(host).public_ip

    def overlay_ip(self, edge: str) -> str:
        """The edge's suggested TAP address, 198.19.0.<i> (prefix length OVERLAY_PREFIXLEN)."""
        ip = self.plan.host(edge).overlay_ip
        if ip is None:
            raise LabError(f"{edge} is a supernode host; only edges have overlay addresses")
        return ip

    def overlay_cidr(self, edge: str) -> str:
        return f"{self.overlay_ip(edge)}/{OVERLAY_PREFIXLEN}"

    def supernode_endpoint(self, host: str = "sn", port: int = N2N_SN_LPORT_DEFAULT) -> str:
        """`ip:port` (`[ip]:port` on an IPv6 lab) for edges' `-l` option."""
        ip = self.public_ip(host)
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    @property
    def ipv6(self) -> bool:
        return self.plan.ipv6

    def underlay_ip6(self, host: str) -> str:
        """A dual-stack lab's IPv6 address of the host (2001:db8:18:<i>::2)."""
        if not self.plan.dual:
            raise LabError(f"lab {self.run_id} is not dual-stack")
        return str(ipv6_twin(self.plan.host(host).subnet).network_address + 2)

    def _twin_commands(self, host: Host) -> list[str]:
        if not self.plan.dual:
            return []
        twin = ipv6_twin(host.subnet)
        return [
            f"addr add {twin.network_address + 2}/64 dev {HOST_IF} nodad",
            f"route add default via {twin.network_address + 1}",
        ]

    def _iptables(self, ns: str, *args: str) -> None:
        system.iptables(ns, *args, ipv6=self.plan.ipv6)

    def _iptables_ok(self, ns: str, *args: str) -> bool:
        return system.iptables_ok(ns, *args, ipv6=self.plan.ipv6)

    def exists(self) -> bool:
        """True while every namespace of the lab is present."""
        return all(system.ns_exists(ns) for ns in self.plan.namespaces)

    # --- processes -------------------------------------------------------------------------------

    def _require_live(self) -> None:
        if not self._live:
            raise LabError(f"lab {self.run_id} is not up")

    def run(self, node: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """`subprocess.run(argv, **kw)` inside the node's namespace."""
        self._require_live()
        return subprocess.run(system.exec_argv(self.ns(node), argv), **kw)

    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        log: str | os.PathLike[str] | None = None,
        **kw: Any,
    ) -> subprocess.Popen[Any]:
        """Start `argv` in the node's namespace, tracked by PID, in a session of its own (so a
        terminal's Ctrl-C reaches only the lab's owner, whose teardown then stops it); with
        `log`, stdout and stderr are appended to that file."""
        self._require_live()
        log_file = open(log, "ab") if log is not None else None  # noqa: SIM115
        try:
            if log_file is not None:
                kw.setdefault("stdout", log_file)
                kw.setdefault("stderr", subprocess.STDOUT)
            proc = subprocess.Popen(
                system.exec_argv(self.ns(node), argv), start_new_session=True, **kw
            )
        finally:
            if log_file is not None:
                log_file.close()
        self._procs.append(proc)
        self._state.processes.append({"pid": proc.pid, "node": node, "argv": list(argv)})
        self._save()
        return proc

    def stop(
        self, proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT
    ) -> int:
        """Signal a process from `spawn` (and its process group), wait, SIGKILL if it lingers;
        return its exit code. Use sig=SIGKILL to simulate a crash."""
        if proc not in self._procs:
            raise LabError(f"pid {proc.pid} was not spawned by lab {self.run_id}")
        if proc.poll() is None:
            _killpg(proc.pid, sig)
        return _wait_or_kill(proc, timeout)

    def ping(
        self,
        node: str,
        address: str,
        *,
        count: int = 1,
        interval: float = 0.2,
        timeout: float = 2.0,
    ) -> int:
        """Send `count` ICMP echo requests from `node`; return how many replies came back."""
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", str(timeout)]
        proc = self.run(
            node,
            [*argv, address],
            capture_output=True,
            text=True,
            timeout=count * interval + timeout + 10,
            check=False,
        )
        match = re.search(r"(\d+) (?:packets )?received", proc.stdout)
        return int(match.group(1)) if match else 0

    # --- impairments -----------------------------------------------------------------------------

    def set_loss(self, probability: float) -> None:
        """Drop this share of all forwarded packets at random (0 turns loss off)."""
        self._require_live()
        _check_loss(probability)
        self._apply_loss(probability)
        self._state.loss = probability
        self._save()

    def _apply_loss(self, probability: float) -> None:
        router = self.plan.router_ns
        self._iptables(router, "-F", LOSS_CHAIN)
        if probability > 0:
            self._iptables(
                router, "-A", LOSS_CHAIN, "-m", "statistic", "--mode", "random",
                "--probability", f"{probability:.6f}", "-j", "DROP",
            )  # fmt: skip

    def _block_rules(self, a: str, b: str) -> list[list[str]]:
        ip_a, ip_b = self.public_ip(a), self.public_ip(b)
        return [
            [BLOCK_CHAIN, "-s", src, "-d", dst, "-j", "DROP"]
            for src, dst in ((ip_a, ip_b), (ip_b, ip_a))
        ]

    def block(self, a: str, b: str) -> None:
        """Drop all traffic between hosts `a` and `b` at the router (both directions), so they
        can only talk through a third host such as the supernode."""
        self._require_live()
        router = self.plan.router_ns
        for rule in self._block_rules(a, b):
            if not self._iptables_ok(router, "-C", *rule):
                self._iptables(router, "-A", *rule)

    def unblock(self, a: str, b: str) -> None:
        self._require_live()
        router = self.plan.router_ns
        for rule in self._block_rules(a, b):
            while self._iptables_ok(router, "-C", *rule):
                self._iptables(router, "-D", *rule)


def _check_loss(probability: float) -> None:
    if not 0.0 <= probability <= 1.0:
        raise LabError(f"loss is a probability in [0, 1], not {probability}")


def _killpg(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _wait_or_kill(proc: subprocess.Popen[Any], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid, signal.SIGKILL)
        return proc.wait()
