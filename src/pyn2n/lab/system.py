"""System calls behind the lab: named network namespaces, veths, addresses, iptables, processes.

Why iproute2 and not pyroute2 for building: pyroute2 0.9.7's `netns.create` and
`IPRoute(netns=...)` fork the Python interpreter for every call (ChildProcess, 'fork' mode) and
SIGTERM the child when done. A forked child inherits Python signal handlers (our SIGTERM/SIGINT
teardown handlers), so it can unwind the parent's stack and run teardown code itself; under
pytest this showed as 3 s stalls per call. `ip netns add` and `ip -n NS -batch -` do the same in
a separate, exec'd process, where no Python code runs. pyroute2's `netns.remove` (umount and
unlink, no fork) is used for removal. Sysctls and iptables run as their binaries under
`ip netns exec`, which execs in place, so a Popen's PID is the command's own.

Nothing here touches the root namespace's interfaces or routes: every `ip` call names its
namespace (`-n`, which fails if the namespace is missing), and veths are created inside the
router (or NAT) namespace with the peer placed straight into its host namespace.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path

from pyroute2 import netns as pr_netns

from pyn2n.lab.topology import LabError

NETNS_DIR = Path("/run/netns")


def exec_argv(ns: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside namespace `ns`."""
    return ["ip", "netns", "exec", ns, *argv]


def ns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_namespaces(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def _check(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise LabError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def create_ns(name: str) -> None:
    if ns_exists(name):
        raise LabError(f"network namespace {name} already exists")
    proc = subprocess.run(
        ["ip", "netns", "add", name], capture_output=True, text=True, timeout=30, check=False
    )
    _check(proc, f"ip netns add {name}")


def remove_ns(name: str) -> None:
    """Unmount and unlink a named namespace; the kernel frees it (and its veths) once unused."""
    if ns_exists(name):
        pr_netns.remove(name)


def ns_run(ns: str, argv: Sequence[str], timeout: float = 30.0) -> str:
    """Run a set-up command in `ns`; raise LabError with its stderr if it fails."""
    proc = subprocess.run(
        exec_argv(ns, argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    return _check(proc, f"in {ns}: {' '.join(argv)}")


def ip_batch(ns: str, commands: Sequence[str]) -> None:
    """Run `ip` commands (without the leading `ip`) in namespace `ns`, stopping at the first error."""
    proc = subprocess.run(
        ["ip", "-n", ns, "-batch", "-"],
        input="".join(f"{c}\n" for c in commands),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    _check(proc, f"in {ns}: ip -batch")


def sysctl(ns: str, key: str, value: int | str) -> None:
    ns_run(ns, ["sysctl", "-qw", f"{key}={value}"])


def iptables(ns: str, *args: str, ipv6: bool = False) -> None:
    # -w: iptables-legacy serialises on a lock file shared by all namespaces; nft ignores it.
    ns_run(ns, ["ip6tables" if ipv6 else "iptables", "-w", *args])


def iptables_ok(ns: str, *args: str, ipv6: bool = False) -> bool:
    """True if an iptables query (e.g. `-C ...`) succeeds."""
    argv = ["ip6tables" if ipv6 else "iptables", "-w", *args]
    proc = subprocess.run(exec_argv(ns, argv), capture_output=True, timeout=30, check=False)
    return proc.returncode == 0


def veth(ifname: str, peer_ns: str, peer_ifname: str) -> str:
    """The `ip` command for a veth pair whose peer is created directly in `peer_ns`."""
    return f"link add {ifname} type veth peer name {peer_ifname} netns {peer_ns}"


def up(ifname: str, address: str | None = None) -> list[str]:
    """`ip` commands giving `ifname` an address (a.b.c.d/len) and bringing it up."""
    # IPv6: no duplicate address detection, so the address works at once
    add = f"addr add {address} dev {ifname}" + (" nodad" if address and ":" in address else "")
    return [*([add] if address else []), f"link set {ifname} up"]


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in(namespaces: Iterable[str]) -> list[int]:
    """PIDs of the processes whose network namespace is one of `namespaces` (by nsfs inode)."""
    ids = {i for name in namespaces if (i := _ns_id(str(NETNS_DIR / name))) is not None}
    if not ids:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and _ns_id(f"/proc/{entry.name}/ns/net") in ids:
            found.append(int(entry.name))
    return sorted(found)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers signal 0; it is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to `timeout` seconds for `pids` to exit; return those still alive."""
    left = list(pids)
    deadline = time.monotonic() + timeout
    while left:
        left = [p for p in left if pid_alive(p)]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return left


def sweep(namespaces: Sequence[str], timeout: float = 3.0) -> list[int]:
    """Stop every process still inside the lab's namespaces: SIGTERM, wait, SIGKILL (by PID).

    Only processes in namespaces this lab created (compared by namespace inode) are touched; they
    are the lab's own processes or their descendants. Returns the PIDs that had to be signalled.
    """
    pids = pids_in(namespaces)
    if pids:
        signal_pids(pids, signal.SIGTERM)
        left = wait_gone(pids, timeout)
        signal_pids(left, signal.SIGKILL)
        wait_gone(left, timeout)
    return pids


@functools.cache
def preflight() -> str | None:
    """Why labs cannot run here (a sentence naming the fix), or None if they can.

    Probes for real: creates a throw-away namespace and adds an iptables rule in it, since a root
    shell without CAP_SYS_ADMIN, or an iptables whose backend the kernel lacks, fail only there.
    """
    if os.geteuid() != 0:
        return "labs need root (network namespaces, veths, iptables)"
    missing = [b for b in ("ip", "iptables", "sysctl", "ping") if shutil.which(b) is None]
    if missing:
        return (
            f"missing {', '.join(missing)}: apt-get install iproute2 iptables procps iputils-ping"
        )
    probe = f"p2n{secrets.token_hex(3)}-probe"
    try:
        create_ns(probe)
        iptables(probe, "-A", "FORWARD", "-m", "statistic", "--mode", "random",
                 "--probability", "0.5", "-j", "DROP")  # fmt: skip
    except (OSError, LabError, subprocess.SubprocessError) as e:
        return f"cannot build a network namespace with iptables here: {e}"
    finally:
        remove_ns(probe)
    return None
