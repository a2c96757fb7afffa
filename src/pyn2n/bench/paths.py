"""The network paths the bench compares, each set up on the same lab by the bench itself.

A `NetPath` joins some lab hosts (edges `e1`, `e2`, ...) by one kind of link and exposes, per
host, the address to target and the PIDs of the processes that carry its traffic (for CPU%).
Each family has its own overlay subnet and interface name, so a left-over of one can never be
mistaken for another:

| family | subnet          | interface | processes                          |
|--------|-----------------|-----------|------------------------------------|
| eth    | (underlay)      | eth0      | none (the kernel routes)           |
| pyn2n  | 198.19.0.0/24   | pyn2n0    | `pyn2n edge` per host + supernode (`pyn2n-fast-*`: fast path on; `pyn2n-kernel-null`: kernel path, docs/kernel-path.md) |
| ovpn   | 198.19.1.0/24   | ovpn0     | `openvpn` on two hosts (p2p)       |
| tinc   | 198.19.2.0/24   | tinc0     | `tincd` per host                   |
| vxlan  | 198.19.3.0/24   | vxlan0    | none (kernel VXLAN)                |
| n2n    | 198.19.4.0/24   | n2n0      | C `edge` per host + C `supernode`  |

Host `e<i>` gets address `198.19.<family>.<i>`.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pyn2n.bench.system import BenchError, version_of
from pyn2n.constants import N2N_SN_LPORT_DEFAULT
from pyn2n.lab import Lab
from pyn2n.lab.topology import HOST_IF, edge_index

SUPERNODE_HOST = "sn"
COMMUNITY = "bench"
KEY = "pyn2n-bench-key"
SETUP_TIMEOUT = 45.0
LOG_TAIL = 1500


def _tail(path: pathlib.Path, limit: int = LOG_TAIL) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


class NetPath(ABC):
    """One way of carrying traffic between lab hosts.

    Life cycle: `setup(lab, hosts, workdir)`, then `addresses` / `overlay_pids` are valid,
    then `teardown()` (always, also after a failed setup). A path object can be set up again
    after teardown (the bench does so once per repeat).
    """

    name: str
    label: str
    family: str
    packages: tuple[str, ...] = ()  # Debian packages the path needs
    max_hosts: int | None = None  # point-to-point paths join only two hosts
    multicast: bool = True  # does a multicast stream reach the other hosts?
    interface: str | None = None
    subnet = 0  # the third octet of the family's overlay subnet 198.19.<subnet>.0/24

    def __init__(self) -> None:
        self.lab: Lab | None = None
        self.hosts: list[str] = []
        self.addresses: dict[str, str] = {}
        self.overlay_pids: dict[str, list[int]] = {}
        self.workdir = pathlib.Path()
        self._procs: list[tuple[str, subprocess.Popen[Any], pathlib.Path]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # --- what subclasses provide -----------------------------------------------------------------

    def unavailable(self) -> str | None:
        """Why this path cannot run here (missing binary...), or None."""
        return None

    @abstractmethod
    def description(self) -> str:
        """How the path is made, for the report (commands and options)."""

    @abstractmethod
    def _start(self) -> None:
        """Create the path on `self.hosts` (processes via `_spawn`, links via `_run`)."""

    def _stop(self) -> None:  # noqa: B027 (an optional hook)
        """Remove what `_start` made besides the spawned processes (stopped by `teardown`)."""

    def versions(self) -> dict[str, str]:
        return {}

    # --- life cycle --------------------------------------------------------------------------------

    def setup(self, lab: Lab, hosts: Sequence[str], workdir: pathlib.Path) -> None:
        if self.max_hosts is not None:
            hosts = hosts[: self.max_hosts]
        self.lab, self.hosts, self.workdir = lab, list(hosts), workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.addresses = {h: self.address_of(h) for h in self.hosts}
        self._start()
        self._wait_reachable()

    def teardown(self) -> None:
        lab = self.lab
        if lab is None:
            return
        try:
            for _, proc, _ in reversed(self._procs):
                lab.stop(proc)
            self._stop()
        finally:
            self._procs.clear()
            self.overlay_pids = {}
            self.addresses = {}
            self.lab = None

    def address_of(self, host: str) -> str:
        """The address other hosts target to reach `host` over this path."""
        return f"198.19.{self.subnet}.{edge_index(host)}"

    def mtu(self) -> int | None:
        """The MTU of the path's interface on the first host (None before setup)."""
        if self.lab is None or not self.hosts:
            return None
        dev = self.interface or HOST_IF
        proc = self.lab.run(
            self.hosts[0], ["ip", "-j", "link", "show", "dev", dev], capture_output=True, text=True
        )
        if proc.returncode != 0:
            return None
        return int(json.loads(proc.stdout)[0]["mtu"])

    # --- helpers -----------------------------------------------------------------------------------

    def _lab(self) -> Lab:
        if self.lab is None:
            raise BenchError(f"path {self.name} is not set up")
        return self.lab

    def _spawn(self, host: str, argv: Sequence[str], tag: str = "") -> subprocess.Popen[Any]:
        log = self.workdir / f"{self.name}-{host}{tag}.log"
        proc = self._lab().spawn(host, argv, log=log, stdin=subprocess.DEVNULL)
        self._procs.append((host, proc, log))
        self.overlay_pids.setdefault(host, []).append(proc.pid)
        return proc

    def _run(self, host: str, argv: Sequence[str], timeout: float = 30.0) -> str:
        proc = self._lab().run(
            host, argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise BenchError(
                f"{self.name}: on {host}: {' '.join(argv)} failed: {proc.stderr.strip()[-500:]}"
            )
        return str(proc.stdout)

    def _check_alive(self) -> None:
        for host, proc, log in self._procs:
            if proc.poll() is not None:
                argv = proc.args if isinstance(proc.args, list) else [proc.args]
                raise BenchError(
                    f"{self.name}: {' '.join(str(a) for a in argv[4:6])} on {host} "
                    f"exited with {proc.returncode}: {_tail(log)}"
                )

    def _wait_reachable(self, timeout: float = SETUP_TIMEOUT) -> None:
        """Every host pings every other over the path (both directions)."""
        lab = self._lab()
        pending = [(a, b) for a in self.hosts for b in self.hosts if a != b]
        deadline = time.monotonic() + timeout
        while pending:
            self._check_alive()
            a, b = pending[0]
            if lab.ping(a, self.addresses[b], timeout=0.5):
                pending.pop(0)
            elif time.monotonic() > deadline:
                logs = "; ".join(f"{log.name}: {_tail(log, 400)}" for _, _, log in self._procs)
                raise BenchError(
                    f"{self.name}: {a} cannot reach {b} ({self.addresses[b]}) after "
                    f"{timeout:.0f} s. {logs}"
                )
        self._settle()

    def _settle(self) -> None:  # noqa: B027 (an optional hook)
        """Hook: wait for the path's steady state once every pair can talk."""


class EthPath(NetPath):
    """The underlay itself: hosts talk over the lab's routed veths, no overlay."""

    name = "eth"
    label = "eth"
    family = "eth"
    multicast = False  # the router forwards no multicast, like a cloud VPC

    def address_of(self, host: str) -> str:
        return self._lab().underlay_ip(host)

    def description(self) -> str:
        return "the lab's underlay: veths routed by a router namespace (no overlay)"

    def _start(self) -> None:
        pass


class VxlanPath(NetPath):
    """Kernel VXLAN with head-end replication: broadcast and multicast frames are copied to
    every peer by all-zero-MAC forwarding entries (`bridge fdb append`)."""

    name = "vxlan"
    label = "VXLAN"
    family = "vxlan"
    subnet = 3
    interface = "vxlan0"
    VNI = 42
    PORT = 4789

    def description(self) -> str:
        return (
            f"ip link add {self.interface} type vxlan id {self.VNI} dstport {self.PORT} "
            f"local <underlay> dev {HOST_IF}; bridge fdb append 00:00:00:00:00:00 dst <peer> "
            "for every peer (head-end replication)"
        )

    def _start(self) -> None:
        lab = self._lab()
        dev = self.interface
        for host in self.hosts:
            add = (
                f"ip link add {dev} type vxlan id {self.VNI} dstport {self.PORT} "
                f"local {lab.underlay_ip(host)} dev {HOST_IF}"
            )
            self._run(host, add.split())
            for peer in self.hosts:
                if peer != host:
                    flood = (
                        f"bridge fdb append 00:00:00:00:00:00 dev {dev} dst {lab.public_ip(peer)}"
                    )
                    self._run(host, flood.split())
            self._run(host, f"ip addr add {self.addresses[host]}/24 dev {dev}".split())
            self._run(host, f"ip link set {dev} up".split())

    def _stop(self) -> None:
        lab = self._lab()
        for host in self.hosts:
            lab.run(host, ["ip", "link", "del", self.interface], capture_output=True)


class OpenVpnPath(NetPath):
    """OpenVPN 2.6 point-to-point in tap mode (UDP). The first host listens, the second
    connects. `crypto`: "none" (--cipher none --auth none, no TLS), or "aes" (AES-256-GCM data
    channel over a TLS control channel authenticated by pinned self-signed certificates,
    `--peer-fingerprint`, the 2.6 replacement for static keys, which cannot do GCM)."""

    family = "ovpn"
    packages = ("openvpn",)
    max_hosts = 2
    multicast = False  # a p2p link has a single peer: no group of receivers to measure
    subnet = 1
    interface = "ovpn0"
    PORT = 1194

    def __init__(self, name: str, label: str, crypto: str, compress: bool) -> None:
        super().__init__()
        self.name, self.label, self.crypto, self.compress = name, label, crypto, compress

    def unavailable(self) -> str | None:
        return None if shutil.which("openvpn") else "openvpn is not installed"

    def versions(self) -> dict[str, str]:
        v = version_of(["openvpn", "--version"])  # "OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL..."
        return {"openvpn": " ".join(v.split()[:2])} if v else {}

    def _options(self) -> list[str]:
        opts = f"--dev {self.interface} --dev-type tap --proto udp --mode p2p --verb 3".split()
        if self.crypto == "none":
            opts += ["--cipher", "none", "--auth", "none"]
        else:
            opts += ["--data-ciphers", "AES-256-GCM"]
        if self.compress:
            # 2.6 only compresses what it sends with "allow-compression yes"
            opts += ["--compress", "lzo", "--allow-compression", "yes"]
        return opts

    def description(self) -> str:
        tls = (
            " --tls-server (first host) or --tls-client, --cert and --key (self-signed),"
            " --peer-fingerprint <the other's>"
            if self.crypto == "aes"
            else ""
        )
        return "openvpn " + " ".join(self._options()) + tls + " --ifconfig <ip> 255.255.255.0"

    def _start(self) -> None:
        lab = self._lab()
        server, client = self.hosts
        role = {
            server: ["--lport", str(self.PORT)],
            client: ["--remote", lab.public_ip(server), str(self.PORT)],
        }
        if self.crypto == "aes":
            fingerprint = {h: self._make_cert(h) for h in self.hosts}
            for host, peer, side in ((server, client, "server"), (client, server, "client")):
                cert, key = self.workdir / f"{host}.crt", self.workdir / f"{host}.key"
                role[host] += f"--tls-{side} --cert {cert} --key {key}".split()
                role[host] += ["--peer-fingerprint", fingerprint[peer]]
            role[server] += ["--dh", "none"]
        for host in self.hosts:
            ifconfig = ["--ifconfig", self.addresses[host], "255.255.255.0"]
            self._spawn(host, ["openvpn", *self._options(), *ifconfig, *role[host]])

    def _make_cert(self, host: str) -> str:
        """A self-signed P-256 certificate and key for `host`; returns its SHA-256 fingerprint."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pyn2n-bench-{host}")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256())
        )
        key_path = self.workdir / f"{host}.key"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        (self.workdir / f"{host}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


class TincPath(NetPath):
    """tinc 1.0 in switch mode (a learning Ethernet switch over a mesh, like n2n's L2 segment),
    with its default crypto (RSA key exchange, Blowfish-CBC + HMAC-SHA1 on the data)."""

    name = "tinc"
    label = "tinc"
    family = "tinc"
    packages = ("tinc",)
    subnet = 2
    interface = "tinc0"
    PORT = 655
    KEY_BITS = 2048

    def unavailable(self) -> str | None:
        return None if shutil.which("tincd") else "tinc (tincd) is not installed"

    def versions(self) -> dict[str, str]:
        v = version_of(["tincd", "--version"])  # "tinc version 1.0.36"
        return {"tinc": v.replace(" version", "")} if v else {}

    def description(self) -> str:
        return (
            f"tincd -D -c <dir>: Mode = switch, Interface = {self.interface}, Port = "
            f"{self.PORT}, ConnectTo every earlier host; keys from tincd -K {self.KEY_BITS}"
        )

    def _start(self) -> None:
        lab = self._lab()
        dirs = {h: self.workdir / "tinc" / h for h in self.hosts}
        for host, conf in dirs.items():
            shutil.rmtree(conf, ignore_errors=True)
            (conf / "hosts").mkdir(parents=True)
            connect = "".join(f"ConnectTo = {p}\n" for p in self.hosts[: self.hosts.index(host)])
            (conf / "tinc.conf").write_text(
                f"Name = {host}\nMode = switch\nInterface = {self.interface}\n"
                f"AddressFamily = ipv4\nPort = {self.PORT}\n{connect}"
            )
            (conf / "hosts" / host).write_text(
                f"Address = {lab.public_ip(host)}\nPort = {self.PORT}\n"
            )
            up = conf / "tinc-up"
            up.write_text(
                "#!/bin/sh\n"
                f'ip addr add {self.addresses[host]}/24 dev "$INTERFACE"\n'
                'ip link set "$INTERFACE" up\n'
            )
            up.chmod(0o755)
            # -K appends the public key to hosts/<name>; with no terminal it asks nothing.
            self._run(host, ["tincd", "-c", str(conf), "-K", str(self.KEY_BITS)], timeout=60)
        for host, conf in dirs.items():
            for peer in self.hosts:
                if peer != host:
                    (conf / "hosts" / peer).write_text((dirs[peer] / "hosts" / peer).read_text())
        for host, conf in dirs.items():
            self._spawn(
                host, ["tincd", "-D", "-d1", "-c", str(conf), "--pidfile", str(conf / "pid")]
            )


class N2nFamilyPath(NetPath):
    """An n2n community: a supernode on host `sn` and an edge on every host, with n2n v3's
    edge flags. Subclasses say which binaries run them (C n2n, or pyn2n)."""

    SETTLE = 2.0  # after first contact: time for the edges to punch their direct paths

    def __init__(self, name: str, label: str, flags: Sequence[str]) -> None:
        super().__init__()
        self.name, self.label, self.flags = name, label, list(flags)

    @abstractmethod
    def edge_cmd(self) -> list[str]: ...

    @abstractmethod
    def supernode_cmd(self) -> list[str]: ...

    def edge_argv(self, host: str) -> list[str]:
        lab = self._lab()
        return [
            *self.edge_cmd(),
            "-f",
            "-c",
            COMMUNITY,
            "-l",
            lab.supernode_endpoint(SUPERNODE_HOST, N2N_SN_LPORT_DEFAULT),
            "-a",
            f"{self.addresses[host]}/24",
            "-d",
            self.interface or "",
            "-E",  # accept multicast: n2n drops it by default
            *self.flags,
        ]

    shown_as = ""  # how the report names the binaries' directory or command

    def description(self) -> str:
        flags = " ".join(self.flags)
        return (
            f"{self.shown_as}supernode -f -p {N2N_SN_LPORT_DEFAULT}; "
            f"{self.shown_as}edge -f -c {COMMUNITY} -l <sn>:{N2N_SN_LPORT_DEFAULT} "
            f"-a <ip>/24 -d {self.interface} -E {flags}"
        ).replace(KEY, "<key>")

    def _start(self) -> None:
        self._spawn(SUPERNODE_HOST, [*self.supernode_cmd(), "-f", "-p", str(N2N_SN_LPORT_DEFAULT)])
        time.sleep(0.3)  # edges retry registration anyway; this only spares a first timeout
        for host in self.hosts:
            self._spawn(host, self.edge_argv(host))

    def _settle(self) -> None:
        time.sleep(self.SETTLE)
        lab = self._lab()
        for a in self.hosts:
            for b in self.hosts:
                if a != b:
                    lab.ping(a, self.addresses[b], count=3, interval=0.05, timeout=0.5)


class N2nPath(N2nFamilyPath):
    """Real n2n v3: the C `supernode` and `edge` from a build directory (N2N_BIN_DIR)."""

    family = "n2n"
    subnet = 4
    interface = "n2n0"
    shown_as = "$N2N_BIN_DIR/"

    def __init__(
        self, name: str, label: str, flags: Sequence[str], bin_dir: str | None = None
    ) -> None:
        super().__init__(name, label, flags)
        self.bin_dir = bin_dir

    def edge_cmd(self) -> list[str]:
        return [str(pathlib.Path(self.bin_dir or "") / "edge")]

    def supernode_cmd(self) -> list[str]:
        return [str(pathlib.Path(self.bin_dir or "") / "supernode")]

    def unavailable(self) -> str | None:
        if not self.bin_dir:
            return "N2N_BIN_DIR is not set (a directory with n2n v3's edge and supernode)"
        for binary in (*self.edge_cmd(), *self.supernode_cmd()):
            if not os.access(binary, os.X_OK):
                return f"{binary} is missing or not executable"
        return None

    def versions(self) -> dict[str, str]:
        proc = subprocess.run(
            [*self.edge_cmd(), "-h"], capture_output=True, text=True, timeout=10, check=False
        )
        for line in (proc.stdout + proc.stderr).splitlines():
            if "n2n v" in line:  # "Welcome to n2n v.3.1.1"
                return {"n2n": line[line.index("n2n v") :].strip()}
        return {}


class Pyn2nPath(N2nFamilyPath):
    """pyn2n's own `pyn2n supernode` and `pyn2n edge`, run with this interpreter."""

    family = "pyn2n"
    subnet = 0
    interface = "pyn2n0"
    shown_as = "pyn2n "

    def __init__(
        self, name: str, label: str, flags: Sequence[str], command: Sequence[str] | None = None
    ) -> None:
        super().__init__(name, label, flags)
        self.command = list(command or [sys.executable, "-m", "pyn2n.cli.main"])

    def edge_cmd(self) -> list[str]:
        return [*self.command, "edge"]

    def supernode_cmd(self) -> list[str]:
        return [*self.command, "supernode"]

    def unavailable(self) -> str | None:
        for cmd in (self.edge_cmd(), self.supernode_cmd()):
            try:
                proc = subprocess.run(
                    [*cmd, "-h"], capture_output=True, text=True, timeout=30, check=False
                )
            except (OSError, subprocess.SubprocessError) as e:
                return f"`{' '.join(cmd[-2:])} -h` failed: {e}"
            if proc.returncode != 0:
                return (
                    f"`pyn2n {cmd[-1]} -h` failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"
                )
        return None

    def versions(self) -> dict[str, str]:
        from pyn2n import __version__

        return {"pyn2n": __version__}


class KernelPyn2nPath(Pyn2nPath):
    """pyn2n edges of an unencrypted community on the kernel path (docs/kernel-path.md): the
    bench measures only once every edge shows path `kernel` to every other."""

    KERNEL_TIMEOUT = 30.0

    def __init__(self, command: Sequence[str] | None = None) -> None:
        super().__init__("pyn2n-kernel-null", "pyn2n kernel null", ["-A1"], command)

    def _settle(self) -> None:
        super()._settle()
        deadline = time.monotonic() + self.KERNEL_TIMEOUT
        while True:
            missing = [host for host in self.hosts if not self._all_kernel(host)]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise BenchError(
                    f"pyn2n-kernel-null: {', '.join(missing)} not on the kernel path after "
                    f"{self.KERNEL_TIMEOUT:g} s (see their logs)"
                )
            time.sleep(0.5)

    def _all_kernel(self, host: str) -> bool:
        out = self._run(host, [*self.command, "ctl", "--json", "peers"])
        try:
            rows = json.loads(out)
        except ValueError:
            return False
        known = [r for r in rows if isinstance(r, dict) and r.get("state") == "known"]
        return len(known) >= len(self.hosts) - 1 and all(r.get("path") == "kernel" for r in known)


# name -> (flags) of the n2n-family variants, the same for C n2n and pyn2n
N2N_VARIANTS: dict[str, tuple[str, list[str]]] = {
    "null": ("null", ["-A1"]),
    "aes": ("AES", ["-A3", "-k", KEY]),
    "chacha20": ("ChaCha20", ["-A4", "-k", KEY]),
    "lzo": ("null+LZO", ["-A1", "-z1"]),
    "zstd": ("null+zstd", ["-A1", "-z2"]),
}


# pyn2n's fast path between pyn2n edges (docs/fastpath.md): its AEAD follows -A
FAST_VARIANTS: dict[str, tuple[str, list[str]]] = {
    "null": ("fast null", ["-A1", "--no-kernel-path"]),
    "aes": ("fast AES-256-GCM", ["-A3", "-k", KEY]),
    "chacha20": ("fast ChaCha20-Poly1305", ["-A4", "-k", KEY]),
}


def all_paths(n2n_bin_dir: str | None = None) -> list[NetPath]:
    """Every path the bench knows, in the order of the report."""
    paths: list[NetPath] = [EthPath()]
    # the n2n protocol as a C peer would see it: the fast path off
    for variant, (label, flags) in N2N_VARIANTS.items():
        paths.append(Pyn2nPath(f"pyn2n-{variant}", f"pyn2n {label}", [*flags, "--no-fastpath"]))
    for variant, (label, flags) in FAST_VARIANTS.items():
        paths.append(Pyn2nPath(f"pyn2n-fast-{variant}", f"pyn2n {label}", flags))
    paths.append(KernelPyn2nPath())
    paths += [
        OpenVpnPath("ovpn-none", "OpenVPN none", crypto="none", compress=False),
        OpenVpnPath("ovpn-lzo", "OpenVPN none+LZO", crypto="none", compress=True),
        OpenVpnPath("ovpn-aes", "OpenVPN AES-256-GCM", crypto="aes", compress=False),
        TincPath(),
        VxlanPath(),
    ]
    for variant, (label, flags) in N2N_VARIANTS.items():
        paths.append(N2nPath(f"n2n-{variant}", f"n2n {label}", flags, bin_dir=n2n_bin_dir))
    return paths


def select_paths(paths: Sequence[NetPath], spec: str) -> list[NetPath]:
    """Paths chosen by a comma-separated list of names or families ("all", "eth,ovpn,n2n-aes")."""
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    if not wanted or "all" in wanted:
        return list(paths)
    known = {p.name for p in paths} | {p.family for p in paths}
    bad = [w for w in wanted if w not in known]
    if bad:
        raise BenchError(
            f"unknown path {', '.join(bad)}; known: {', '.join(p.name for p in paths)} "
            f"or a family: {', '.join(dict.fromkeys(p.family for p in paths))}"
        )
    return [p for p in paths if p.name in wanted or p.family in wanted]
