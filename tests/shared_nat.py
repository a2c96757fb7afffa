"""Two edges on one LAN behind one NAT router, the supernode outside: the `-e` lab.

    sn 198.18.250.2 --wan-- nat 198.18.250.1 (MASQUERADE) --bridge 198.18.251.1/24-- a .2, b .3

Namespaces carry a random prefix and have no route outside; `close` stops every process
started here (by PID) and removes the namespaces, also after a failure. Counters: `lan_direct`
(UDP datagrams a sent straight to b's LAN address) and `wan_large` (UDP datagrams of 1000+ bytes
leaving the NAT towards the supernode: relayed traffic).
"""

from __future__ import annotations

import secrets
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pyn2n.lab import system

SN_IP, NAT_WAN_IP, NAT_LAN_IP = "198.18.250.2", "198.18.250.1", "198.18.251.1"
LAN_IPS = {"a": "198.18.251.2", "b": "198.18.251.3"}
OVERLAY = {"a": "198.19.0.1", "b": "198.19.0.2"}


class SharedNat:
    def __init__(self, workdir: Path) -> None:
        self.prefix = f"p2nS{secrets.token_hex(3)}-"
        self.workdir = workdir
        self.created: list[str] = []
        self.procs: dict[str, subprocess.Popen[Any]] = {}

    def ns(self, node: str) -> str:
        return self.prefix + node

    def __enter__(self) -> SharedNat:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _build(self) -> None:
        for node in ("sn", "nat", "a", "b"):
            self.created.append(self.ns(node))
            system.create_ns(self.ns(node))
        nat = self.ns("nat")
        system.ip_batch(
            self.ns("sn"),
            [*system.up("lo"), system.veth("wan", nat, "wan"), *system.up("wan", f"{SN_IP}/24")],
        )
        cmds = [*system.up("lo"), *system.up("wan", f"{NAT_WAN_IP}/24")]
        cmds += ["link add lan type bridge", *system.up("lan", f"{NAT_LAN_IP}/24")]
        for host in ("a", "b"):
            cmds += [system.veth(f"p{host}", self.ns(host), "eth0"), f"link set p{host} master lan"]
            cmds += system.up(f"p{host}")
        system.ip_batch(nat, cmds)
        system.sysctl(nat, "net.ipv4.ip_forward", 1)
        system.iptables(nat, "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE")
        system.iptables(
            nat, "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID",
            "-j", "DROP",
        )  # fmt: skip
        system.iptables(
            nat, "-A", "FORWARD", "-o", "wan", "-p", "udp", "-m", "length", "--length", "1000:65535"
        )
        for host, ip in LAN_IPS.items():
            system.ip_batch(
                self.ns(host),
                [
                    *system.up("lo"),
                    *system.up("eth0", f"{ip}/24"),
                    f"route add default via {NAT_LAN_IP}",
                ],
            )
        system.iptables(self.ns("a"), "-A", "OUTPUT", "-p", "udp", "-d", LAN_IPS["b"])

    def run(self, node: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(system.exec_argv(self.ns(node), argv), **kw)

    def spawn(self, node: str, argv: Sequence[str]) -> subprocess.Popen[Any]:
        log = self.workdir / f"{node}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                system.exec_argv(self.ns(node), argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[node] = proc
        return proc

    def stop(self, node: str) -> None:
        proc = self.procs.pop(node)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def ping(self, src: str, dst: str, count: int = 1, size: int = 56) -> int:
        proc = self.run(
            src,
            [
                "ping",
                "-n",
                "-q",
                "-c",
                str(count),
                "-i",
                "0.2",
                "-W",
                "1",
                "-s",
                str(size),
                OVERLAY[dst],
            ],
            capture_output=True,
            text=True,
            timeout=count + 15,
            check=False,
        )
        for part in proc.stdout.split(","):
            if "received" in part:
                return int(part.split()[0])
        return 0

    def _counter(self, node: str, chain: str) -> int:
        out = self.run(
            node,
            ["iptables", "-w", "-n", "-v", "-x", "-L", chain],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out.splitlines()[2].split()[0])

    def counts(self) -> dict[str, int]:
        return {
            "lan_direct": self._counter("a", "OUTPUT"),
            "wan_large": self._counter("nat", "FORWARD"),
        }

    def reset(self) -> None:
        self.run("a", ["iptables", "-w", "-Z", "OUTPUT"], check=True)
        self.run("nat", ["iptables", "-w", "-Z", "FORWARD"], check=True)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n" + "\n".join(p.read_text(errors="replace").splitlines()[-25:])
            for p in sorted(self.workdir.glob("*.log"))
        )

    def close(self) -> None:
        for node in list(self.procs):
            self.stop(node)
        system.sweep(self.created)
        for ns in reversed(self.created):
            system.remove_ns(ns)
        self.created.clear()
