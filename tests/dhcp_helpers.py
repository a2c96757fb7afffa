"""A DHCP server (dnsmasq) and client (busybox udhcpc) on lab TAP devices, for the DHCP-mode
tests: the server hands out 198.19.0.100-150/24 on one edge's TAP, the client asks on another
edge's TAP and sets the address it gets. Real Debian programs, stopped by PID."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from pyn2n.lab import Lab

POOL = ("198.19.0.100", "198.19.0.150")


def start_dnsmasq(lab: Lab, node: str, iface: str, workdir: Path) -> subprocess.Popen[Any]:
    """dnsmasq serving DHCP only (no DNS: --port=0) on `iface` in `node`."""
    return lab.spawn(
        node,
        [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--port=0", f"--interface={iface}", "--bind-interfaces",
            f"--dhcp-range={POOL[0]},{POOL[1]},255.255.255.0,5m",
            f"--dhcp-leasefile={workdir / 'leases'}", f"--pid-file={workdir / 'dnsmasq.pid'}",
            "--log-dhcp",
        ],
        log=workdir / "dnsmasq.log",
    )  # fmt: skip


def udhcpc(lab: Lab, node: str, iface: str, workdir: Path) -> tuple[str | None, str]:
    """Ask for a lease on `iface` in `node` (up to 10 tries); the "ip/len" it set, and the
    client's output."""
    script = workdir / "udhcpc.sh"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in bound|renew) ip addr flush dev "$interface";'
        ' ip addr add "$ip/$mask" dev "$interface";; esac\n'
    )
    script.chmod(0o755)
    got = lab.run(
        node,
        ["udhcpc", "-f", "-q", "-n", "-t", "10", "-T", "1", "-i", iface, "-s", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    addrs = lab.run(
        node, ["ip", "-4", "-o", "addr", "show", iface], capture_output=True, text=True, check=True
    ).stdout.split()
    address = addrs[3] if got.returncode == 0 and len(addrs) > 3 else None
    return address, got.stdout + got.stderr
