"""What the bench needs from the machine: Debian packages, CPU accounting, version strings.

CPU: `/proc/<pid>/stat` fields 14 and 15 (utime, stime, in clock ticks; for a thread-group
leader they include all its threads), and the first line of `/proc/stat` for the whole machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A bench step failed; the message says which and why (and names the fix if it is local)."""


def missing_packages(packages: Iterable[str]) -> list[str]:
    """The Debian packages of `packages` that dpkg does not list as installed."""
    missing = []
    for name in packages:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or "install ok installed" not in proc.stdout:
            missing.append(name)
    return missing


def ensure_packages(packages: Sequence[str], *, timeout: float = 900.0) -> list[str]:
    """Install the Debian packages of `packages` that are missing (apt-get, as root).

    Returns the packages it installed. Raises BenchError if some are missing and cannot be
    installed here (not root, no apt-get, or apt-get failed).
    """
    if shutil.which("dpkg-query") is None:
        raise BenchError(f"no dpkg here: install {' '.join(packages)} by other means")
    missing = missing_packages(packages)
    if not missing:
        return []
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchError(f"missing {' '.join(missing)}: run `apt-get install {' '.join(missing)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    still = missing_packages(missing)
    if still:
        raise BenchError(f"apt-get did not install {' '.join(still)}")
    return missing


def process_ticks(pid: int) -> int | None:
    """utime + stime of `pid` in clock ticks, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the ")" closing comm, field 3 (state) is index 0, so utime (14) is index 11.
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user/nice
    return total - idle, total


@dataclass
class CpuSample:
    """CPU use over one measured window. Percentages: 100 = one core busy for the window."""

    seconds: float
    processes: dict[str, float] = field(default_factory=dict)  # role -> %
    machine_pct: float = 0.0  # all cores, all processes (other load included): 0..100 * cores

    @property
    def overlay_pct(self) -> float | None:
        """The overlay's own processes together, or None for a path with none (kernel paths)."""
        return sum(self.processes.values()) if self.processes else None

    def to_dict(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 3),
            "overlay_pct": None if self.overlay_pct is None else round(self.overlay_pct, 1),
            "processes_pct": {k: round(v, 1) for k, v in self.processes.items()},
            "machine_pct": round(self.machine_pct, 1),
        }


class CpuMeter:
    """Measures the CPU time of given processes (by role) and of the machine between
    `start()` and `stop()`."""

    def __init__(self, pids: Mapping[str, Sequence[int]]) -> None:
        self.pids = {role: list(p) for role, p in pids.items()}
        self._t0 = 0.0
        self._proc0: dict[int, int] = {}
        self._machine0 = (0, 0)

    def start(self) -> None:
        self._proc0 = {
            pid: t
            for pids in self.pids.values()
            for pid in pids
            if (t := process_ticks(pid)) is not None
        }
        self._machine0 = machine_ticks()
        self._t0 = time.monotonic()

    def stop(self) -> CpuSample:
        seconds = max(time.monotonic() - self._t0, 1e-6)
        busy1, total1 = machine_ticks()
        busy0, total0 = self._machine0
        sample = CpuSample(seconds=seconds)
        cores = os.cpu_count() or 1
        if total1 > total0:
            sample.machine_pct = 100.0 * cores * (busy1 - busy0) / (total1 - total0)
        for role, pids in self.pids.items():
            ticks = 0
            for pid in pids:
                end = process_ticks(pid)
                if end is not None and pid in self._proc0:
                    ticks += end - self._proc0[pid]
            sample.processes[role] = 100.0 * ticks / CLK_TCK / seconds
        return sample


def version_of(argv: Sequence[str], timeout: float = 10.0) -> str | None:
    """The first line a `--version`-like command prints (stdout or stderr), or None."""
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        return None
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None
