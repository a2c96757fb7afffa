"""Run n2n overlays in a `pyn2n.lab.Lab`, each node either real n2n (C) or pyn2n, and ping across.

One helper serves every scenario, so C-only, mixed and pyn2n-supernode runs differ only in the
`Topology` passed:

    with Overlay(lab, Topology("c", ("c", "py")), VARIANTS_BY_NAME["aes"], bins, tmp) as net:
        net.wait_until_reachable("e1", "e2")
        assert net.ping("e2", "e1") == PING_COUNT

Every process runs in the foreground (`-f`) inside its lab host, with its management port on that
namespace's own loopback and its output in `<tmp>/<host>.log`; `Overlay.close` stops them by PID.

`WireWatch` counts, at the lab's router (every underlay datagram crosses it), the UDP datagrams
that carry the ping's plaintext pattern, the community name in clear, or 1000+ bytes, so a test
can check that a cipher, header encryption or compression is really in effect on the wire; and
those going straight from one edge to another, so it can check that hole punching (REGISTER /
REGISTER_ACK) gave the edges a direct path instead of the supernode's relay.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pyn2n.constants import N2N_EDGE_MGMT_PORT, N2N_SN_LPORT_DEFAULT, N2N_SN_MGMT_PORT
from pyn2n.crypto.auth import bin_to_ascii, generate_public_key, user_private_key
from pyn2n.lab import Lab

Impl = Literal["c", "py"]

COMMUNITY = "p2ninterop"
KEY = "p2n-interop-key"
USER, USER_PASSWORD = "alice", "alice-s3cret"
# 16 pad bytes for `ping -p`: they fill the echo payload after its timestamp, so the payload is
# both recognisable on the wire (when not encrypted) and very compressible.
PING_PATTERN = b"p2n-interop-ping"
# ICMP data bytes per echo: 1000 + 8 (ICMP) + 20 (IP) + 14 (Ethernet) fits n2n's TAP MTU of 1290,
# and an uncompressed frame makes a UDP datagram of 1000+ bytes on the underlay.
PING_SIZE = 1000
LARGE_DATAGRAM = 1000
PING_COUNT = 3
REACH_DEADLINE = 15.0
BIND_DEADLINE = 15.0
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class Variant:
    """One n2n option set under test: the flags every edge gets and what they mean on the wire."""

    name: str
    edge_flags: tuple[str, ...]
    encrypted_payload: bool = False  # a cipher other than null: the ping pattern must not show
    compressed: bool = False  # -z: the 1000-byte pings must shrink below LARGE_DATAGRAM
    header_encryption: bool = False  # -H: the community name must not show; needs `-c file`
    community_lines: tuple[str, ...] = ()  # appended under the community in the supernode's file


VARIANTS: tuple[Variant, ...] = (
    Variant("null", ("-A1",)),
    Variant("aes", ("-A3", "-k", KEY), encrypted_payload=True),
    Variant("chacha20", ("-A4", "-k", KEY), encrypted_payload=True),
    Variant("speck", ("-A5", "-k", KEY), encrypted_payload=True),
    Variant("twofish", ("-A2", "-k", KEY), encrypted_payload=True),
    Variant("lzo", ("-z1",), compressed=True),
    Variant("zstd", ("-z2",), compressed=True),
    Variant("header", ("-H",), header_encryption=True),
    # user/password (§7.3): ChaCha20 payload, header encryption forced, the user in the file
    Variant(
        "userpw",
        ("-A4", "-k", KEY, "-I", USER, "-J", USER_PASSWORD),
        encrypted_payload=True,
        header_encryption=True,
        community_lines=(
            f"* {USER} {bin_to_ascii(generate_public_key(user_private_key(USER, USER_PASSWORD)))}",
        ),
    ),
)
VARIANTS_BY_NAME = {v.name: v for v in VARIANTS}


@dataclass(frozen=True)
class Topology:
    """Which implementation runs the supernode (host `sn`) and each edge (hosts `e1`, `e2`, ...)."""

    supernode: Impl
    edges: tuple[Impl, ...]

    @property
    def id(self) -> str:
        return f"sn_{self.supernode}-edges_{'_'.join(self.edges)}"


@dataclass(frozen=True)
class Binaries:
    """The real n2n programs (from N2N_BIN_DIR)."""

    edge: Path
    supernode: Path

    @classmethod
    def from_dir(cls, directory: Path) -> Binaries:
        return cls(edge=directory / "edge", supernode=directory / "supernode")

    def missing(self) -> list[Path]:
        return [p for p in (self.edge, self.supernode) if not p.is_file()]


def pyn2n_argv(command: str) -> list[str]:
    """`pyn2n <command>` with this interpreter (the venv's, wherever the checkout lives)."""
    return [sys.executable, "-m", "pyn2n.cli.main", command]


@functools.cache
def pyn2n_help_failure(command: str) -> str | None:
    """Why `pyn2n <command> -h` does not exit 0 (None when it does): a broken CLI fails the suite."""
    try:
        proc = subprocess.run(
            [*pyn2n_argv(command), "-h"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`pyn2n {command} -h`: {exc}"
    if proc.returncode != 0:
        return f"`pyn2n {command} -h` exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    return None


def supernode_argv(impl: Impl, bins: Binaries, variant: Variant, community_file: Path) -> list[str]:
    program = [str(bins.supernode)] if impl == "c" else pyn2n_argv("supernode")
    argv = [*program, "-f", "-p", str(N2N_SN_LPORT_DEFAULT), "-t", str(N2N_SN_MGMT_PORT), "-v"]
    if variant.header_encryption:
        # n2n decrypts -H headers only with community names it was given in a file.
        argv += ["-c", str(community_file)]
    return argv


def edge_argv(
    impl: Impl, bins: Binaries, variant: Variant, supernode: str, overlay_cidr: str
) -> list[str]:
    program = [str(bins.edge)] if impl == "c" else pyn2n_argv("edge")
    return [
        *program,
        "-f",
        "-c",
        COMMUNITY,
        "-l",
        supernode,
        "-a",
        overlay_cidr,
        "-t",
        str(N2N_EDGE_MGMT_PORT),
        "-v",
        *variant.edge_flags,
    ]


def ping(lab: Lab, node: str, address: str, count: int = PING_COUNT, wait: float = 2.0) -> int:
    """Send `count` patterned echo requests from `node`; return how many replies came back."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", str(wait)]
    argv += ["-s", str(PING_SIZE), "-p", PING_PATTERN.hex(), address]
    proc = lab.run(
        node, argv, capture_output=True, text=True, timeout=count * 0.2 + wait + 10, check=False
    )
    match = re.search(r"(\d+) (?:packets )?received", proc.stdout)
    return int(match.group(1)) if match else 0


# Run inside a host: send `r 1 <command>` to the management port on loopback, print the JSON
# replies one a line until the `end` record (n2n answers each with one datagram).
_MGMT_QUERY = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(f"r 1 {sys.argv[2]}\\n".encode(), ("127.0.0.1", int(sys.argv[1])))
while True:
    line = s.recv(65536).decode().strip()
    print(line, flush=True)
    if '"_type":"end"' in line.replace(" ", "") or '"_type":"error"' in line.replace(" ", ""):
        break
"""


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


class Overlay:
    """The supernode on host `sn` and one edge per lab edge host, as `topology` says.

    `start` launches the supernode, waits until its UDP port is bound, then launches all edges at
    once. `edge_variants` gives single edges other flags (e.g. a wrong key). Use as a context
    manager: leaving stops every process it started (by PID).
    """

    def __init__(
        self,
        lab: Lab,
        topology: Topology,
        variant: Variant,
        bins: Binaries,
        workdir: Path,
        edge_variants: Mapping[str, Variant] | None = None,
    ) -> None:
        if len(topology.edges) > len(lab.edges):
            raise ValueError(f"{topology.id} needs {len(topology.edges)} edge hosts")
        self.lab = lab
        self.topology = topology
        self.variant = variant
        self.bins = bins
        self.workdir = workdir
        self.edge_hosts = lab.edges[: len(topology.edges)]
        self.edge_variants = dict(edge_variants or {})
        self.procs: dict[str, subprocess.Popen[Any]] = {}

    def __enter__(self) -> Overlay:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log(self, host: str) -> Path:
        return self.workdir / f"{host}.log"

    def _spawn(self, host: str, argv: Sequence[str]) -> None:
        with self.log(host).open("a") as f:
            f.write(f"$ {' '.join(argv)}\n")
        self.procs[host] = self.lab.spawn(host, argv, log=self.log(host))

    def start(self) -> None:
        community_file = self.workdir / "community.list"
        community_file.write_text("\n".join([COMMUNITY, *self.variant.community_lines, ""]))
        sn_argv = supernode_argv(self.topology.supernode, self.bins, self.variant, community_file)
        self._spawn("sn", sn_argv)
        self._wait_bound("sn", N2N_SN_LPORT_DEFAULT)
        endpoint = self.lab.supernode_endpoint("sn", N2N_SN_LPORT_DEFAULT)
        for host, impl in zip(self.edge_hosts, self.topology.edges, strict=True):
            variant = self.edge_variants.get(host, self.variant)
            cidr = self.lab.overlay_cidr(host)
            self._spawn(host, edge_argv(impl, self.bins, variant, endpoint, cidr))

    def _wait_bound(self, host: str, port: int) -> None:
        """Poll until `host` has a UDP socket on `port` (so edges need not wait for a retry)."""
        deadline = time.monotonic() + BIND_DEADLINE
        while True:
            self.check_alive()
            out = self.lab.run(
                host,
                ["ss", "-H", "-n", "-u", "-l", f"sport = :{port}"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
            if out.strip():
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{host} did not bind UDP port {port} in {BIND_DEADLINE}s\n{self.logs()}"
                )
            time.sleep(0.05)

    def check_alive(self) -> None:
        """Fail with the logs if any process has exited."""
        dead = {h: p.returncode for h, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"exited early (host: code) {dead}\n{self.logs()}")

    def wait_until_reachable(self, src: str, dst: str, deadline: float = REACH_DEADLINE) -> float:
        """Ping `dst`'s overlay address from `src` until one echo comes back; return the seconds
        it took. Fails with the logs after `deadline` seconds."""
        start = time.monotonic()
        address = self.lab.overlay_ip(dst)
        while True:
            self.check_alive()
            if ping(self.lab, src, address, count=1, wait=1.0) == 1:
                return time.monotonic() - start
            if time.monotonic() - start >= deadline:
                raise AssertionError(
                    f"{src} could not reach {dst} ({address}) over the overlay in {deadline}s "
                    f"[{self.topology.id}, {self.variant.name}]\n{self.logs()}"
                )

    def management_rows(self, host: str, port: int, command: str) -> list[dict[str, Any]]:
        """The `row` records of `r <tag> <command>` on `host`'s management `port` (spec §8),
        asked on that host's loopback."""
        proc = self.lab.run(
            host,
            [sys.executable, "-c", _MGMT_QUERY, str(port), command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"management query failed: {proc.stderr}\n{self.logs()}")
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        return [r for r in rows if r.get("_type") == "row"]

    def registered_edges(self) -> list[dict[str, Any]]:
        """The supernode's `edges` rows from its JSON management API."""
        return self.management_rows("sn", N2N_SN_MGMT_PORT, "edges")

    def edge_peers(self, host: str) -> list[dict[str, Any]]:
        """A pyn2n edge's `peers` rows (with the `fastpath` column)."""
        return self.management_rows(host, N2N_EDGE_MGMT_PORT, "peers")

    def wait_registered(self, count: int, deadline: float = REACH_DEADLINE) -> list[dict[str, Any]]:
        """Poll the supernode until `count` edges of COMMUNITY are registered; return the rows."""
        start = time.monotonic()
        while True:
            self.check_alive()
            rows = [r for r in self.registered_edges() if r.get("community") == COMMUNITY]
            if len(rows) >= count:
                return rows
            if time.monotonic() - start >= deadline:
                raise AssertionError(
                    f"{len(rows)} of {count} edges registered in {deadline}s: {rows}\n{self.logs()}"
                )
            time.sleep(0.2)

    def ping(self, src: str, dst: str, count: int = PING_COUNT) -> int:
        return ping(self.lab, src, self.lab.overlay_ip(dst), count)

    def logs(self) -> str:
        parts = []
        for host, impl in [
            ("sn", self.topology.supernode),
            *zip(self.edge_hosts, self.topology.edges, strict=True),
        ]:
            if host in self.procs:
                parts.append(f"--- {host} ({impl}) {self.log(host)} ---\n{_tail(self.log(host))}")
        return "\n".join(parts)

    def close(self) -> None:
        """Stop every process this overlay started (edges first), by PID."""
        for host in reversed(list(self.procs)):
            self.lab.stop(self.procs[host])


class WireWatch:
    """Counters in the lab router's FORWARD path for UDP datagrams on the underlay.

    Rules without a target only count, so every datagram is checked against all of them.
    """

    CHAIN = "p2ni-watch"

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._iptables("-N", self.CHAIN)
        self._iptables("-I", "FORWARD", "1", "-j", self.CHAIN)
        self._rules = {
            "pattern": ["-m", "string", "--algo", "bm", "--hex-string", f"|{PING_PATTERN.hex()}|"],
            "community": ["-m", "string", "--algo", "bm", "--string", COMMUNITY],
            "large": ["-m", "length", "--length", f"{LARGE_DATAGRAM}:65535"],
        }
        for a in lab.edges:
            for b in lab.edges:
                if a != b:
                    self._rules[direct(a, b)] = ["-s", lab.public_ip(a), "-d", lab.public_ip(b)]
        for match in self._rules.values():
            self._iptables("-A", self.CHAIN, "-p", "udp", *match)

    def _iptables(self, *args: str) -> str:
        proc = self.lab.run(
            "r", ["iptables", "-w", *args], capture_output=True, text=True, timeout=30, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"iptables {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def counts(self) -> dict[str, int]:
        """Datagrams seen since the last `reset`: `pattern` (ping payload in clear), `community`
        (name in clear), `large` (IP length >= LARGE_DATAGRAM), `direct(a, b)` (edge a's public
        address to edge b's, i.e. not through the supernode)."""
        out = self._iptables("-n", "-v", "-x", "-L", self.CHAIN)
        packets = [int(line.split()[0]) for line in out.splitlines()[2:] if line.strip()]
        return dict(zip(self._rules, packets, strict=True))

    def reset(self) -> None:
        self._iptables("-Z", self.CHAIN)


def direct(a: str, b: str) -> str:
    """WireWatch's counter name for datagrams from edge host `a` straight to edge host `b`."""
    return f"{a}>{b}"


def wait_direct(
    net: Overlay, watch: WireWatch, a: str, b: str, deadline: float = REACH_DEADLINE
) -> float:
    """Ping `b` from `a` until the echo and its reply both travel edge to edge (n2n's
    REGISTER/REGISTER_ACK punched a direct path); return the seconds it took."""
    start = time.monotonic()
    while True:
        watch.reset()
        replies = net.ping(a, b, count=1)
        counts = watch.counts()
        if replies == 1 and counts[direct(a, b)] >= 1 and counts[direct(b, a)] >= 1:
            return time.monotonic() - start
        if time.monotonic() - start >= deadline:
            raise AssertionError(
                f"no direct path {a}<->{b} in {deadline}s (last: {replies} replies, {counts}) "
                f"[{net.topology.id}, {net.variant.name}]\n{net.logs()}"
            )
        time.sleep(0.2)
