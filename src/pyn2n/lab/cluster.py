"""Real clustering stacks on a lab: keepalived (VRRP) and avahi (mDNS), for the tests and the demo.

Each daemon runs in an edge's namespace as a lab process (tracked by PID, stopped with the lab),
with its own configuration and PID files in a directory of the caller's, so several labs can run
at once. `ping_outage` measures a failover as the longest run of unanswered echo requests.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from pyn2n.lab import system
from pyn2n.lab.lab import Lab
from pyn2n.lab.overlay import OverlayError, spawn, wait_until

VRID = 51
PING_INTERVAL = 0.1


class ClusterError(OverlayError):
    """A clustering daemon did not start or behave in time."""


def need(program: str) -> str:
    """The path of `program`, or a ClusterError naming the Debian package to install."""
    path = shutil.which(program)
    if path is None:
        package = {"keepalived": "keepalived", "avahi-daemon": "avahi-daemon"}.get(program, program)
        raise ClusterError(f"{program} is not installed: apt-get install {package}")
    return path


def vrrp_instance(
    name: str,
    interface: str,
    priority: int,
    vip: str,
    vrid: int = VRID,
    advert_int: float = 1.0,
) -> str:
    """One VRRP instance: `vip` on `interface`, adverts every `advert_int` s to 224.0.0.18."""
    return (
        f"vrrp_instance {name} {{\n  state BACKUP\n  interface {interface}\n"
        f"  virtual_router_id {vrid}\n  priority {priority}\n  advert_int {advert_int:g}\n"
        f"  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
    )


def keepalived_conf(router_id: str, *instances: str, version: int = 2) -> str:
    """keepalived's configuration: VRRP `version` 3 takes fractions of a second as advert_int."""
    head = f"global_defs {{\n  router_id {router_id}\n  vrrp_version {version}\n}}\n"
    return head + "".join(instances)


def start_keepalived(
    lab: Lab, node: str, conf: str, workdir: Path, tag: str = ""
) -> subprocess.Popen[Any]:
    """keepalived (VRRP only, in the foreground, logging to `workdir/<node><tag>.keepalived.log`)
    in the node's namespace; its PID files in `workdir` (none in /run, shared by namespaces)."""
    exe = need("keepalived")
    stem = workdir / f"{node}{tag}"
    path = stem.with_suffix(".keepalived.conf")
    path.write_text(conf)
    argv = [exe, "-n", "-l", "-D", "-P", "-f", str(path)]
    argv += ["-p", f"{stem}.pid", "-r", f"{stem}.vrrp.pid", "-c", f"{stem}.checkers.pid"]
    return spawn(lab, node, argv, log=stem.with_suffix(".keepalived.log"))


def has_address(lab: Lab, node: str, interface: str, address: str) -> bool:
    """`address` (no prefix length) is configured on the node's `interface` now."""
    out = lab.run(
        node,
        ["ip", "-o", "addr", "show", "dev", interface],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    return re.search(rf"\binet6? {re.escape(address)}/", out) is not None


def wait_address(lab: Lab, node: str, interface: str, address: str, timeout: float = 15.0) -> None:
    wait_until(
        lambda: has_address(lab, node, interface, address),
        timeout=timeout,
        what=f"{address} on {node}'s {interface}",
    )


@dataclass
class PingRun:
    sent: int
    answered: list[int]  # icmp_seq of every reply

    @property
    def outage(self) -> float:
        """The longest time without replies inside the run (unanswered requests in a row times
        the interval); the whole run if nothing answered."""
        if not self.answered:
            return self.sent * PING_INTERVAL
        seqs = sorted(set(self.answered))
        gaps = [b - a - 1 for a, b in pairwise(seqs)]
        return max(gaps, default=0) * PING_INTERVAL


class Pinger:
    """`ping -i 0.1` from a node in the background; `stop()` returns what was answered."""

    def __init__(self, lab: Lab, node: str, address: str) -> None:
        argv = ["ping", "-n", "-i", str(PING_INTERVAL), "-W", "1", address]
        self._proc = subprocess.Popen(
            system.exec_argv(lab.ns(node), argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def stop(self) -> PingRun:
        self._proc.send_signal(signal.SIGINT)  # ping prints its summary and exits
        try:
            out, _ = self._proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, _ = self._proc.communicate()
        answered = [int(m) for m in re.findall(r"icmp_seq=(\d+)", out)]
        m = re.search(r"(\d+) packets transmitted", out)
        return PingRun(int(m.group(1)) if m else 0, answered)


def settle(seconds: float) -> None:
    time.sleep(seconds)


AVAHI_CONF = """[server]
host-name={host}
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces={interface}
enable-dbus=no
ratelimit-interval-usec=0

[publish]
publish-addresses=yes
publish-workstation=no

[reflector]
enable-reflector=no
"""

SERVICE_XML = """<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>{name}</name>
  <service>
    <type>{type}</type>
    <port>{port}</port>
    <txt-record>node={name}</txt-record>
  </service>
</service-group>
"""


def start_avahi(
    lab: Lab,
    node: str,
    workdir: Path,
    interface: str,
    service: tuple[str, int] | None = None,
    host: str | None = None,
) -> subprocess.Popen[Any]:
    """avahi-daemon on `interface` of the node, without D-Bus, publishing `service` (type,
    port) under the node's name from a static service file. It runs in a mount namespace of its
    own with a private /run and its own /etc/avahi/services, so daemons of several namespaces do
    not share a PID file, socket or services."""
    exe = need("avahi-daemon")
    base = workdir / f"{node}.avahi"
    services = base / "services"
    services.mkdir(parents=True, exist_ok=True)
    name = host or f"{node}-{lab.run_id}"
    if service is not None:
        xml = SERVICE_XML.format(name=name, type=service[0], port=service[1])
        (services / f"{node}.service").write_text(xml)
    conf = base / "avahi-daemon.conf"
    conf.write_text(AVAHI_CONF.format(host=name, interface=interface))
    script = (
        "mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon && "
        f"mount --bind {services} /etc/avahi/services && "
        f"exec {exe} -f {conf} --no-drop-root --no-chroot --no-rlimits --no-proc-title"
    )
    return spawn(lab, node, ["unshare", "--mount", "sh", "-c", script], log=f"{base}.log")


# --- a small mDNS browser (RFC 6762/6763), to ask the avahi daemons without D-Bus --------------

MDNS_GROUP, MDNS_PORT = "224.0.0.251", 5353
_PTR, _SRV, _A = 12, 33, 1


def _name(data: bytes, off: int) -> tuple[str, int]:
    """A DNS name at `off` (with compression pointers) and the offset after it."""
    labels: list[str] = []
    end = -1
    for _ in range(128):  # bounded: a pointer loop cannot hang us
        length = data[off]
        if length >= 0xC0:
            if end < 0:
                end = off + 2
            off = ((length & 0x3F) << 8) | data[off + 1]
            continue
        if length == 0:
            return ".".join(labels), end if end >= 0 else off + 1
        labels.append(data[off + 1 : off + 1 + length].decode(errors="replace"))
        off += 1 + length
    raise ValueError("DNS name too long")


def _records(data: bytes) -> list[tuple[str, int, bytes, int]]:
    """(owner, type, rdata, rdata offset) of every answer, authority and additional record."""
    qd, an, ns, ar = struct.unpack_from(">4H", data, 4)
    off = 12
    for _ in range(qd):
        off = _name(data, off)[1] + 4
    out = []
    for _ in range(an + ns + ar):
        owner, off = _name(data, off)
        rtype, _cls, _ttl, length = struct.unpack_from(">HHIH", data, off)
        off += 10
        out.append((owner, rtype, data[off : off + length], off))
        off += length
    return out


def _query(service: str) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in service.split(".")) + b"\0"
    return struct.pack(">6H", 0, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", _PTR, 1)


# <linux/in.h>: 0 = deliver only the groups this socket joined, on the interfaces it joined them
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)


def browse(service: str, local_ip: str, seconds: float, want: int = 0) -> dict[str, dict[str, Any]]:
    """Ask for `service` (e.g. "_http._tcp.local") on the interface with `local_ip` every second
    from port 5353 (so answers come back by multicast too) for up to `seconds`, or until `want`
    instances answered with their port and address. Instance name -> {"port", "host", "addr"}."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", MDNS_PORT))
    # only the group joined on this interface: the host's daemon joins it on the others too
    sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    mreq = socket.inet_aton(MDNS_GROUP) + socket.inet_aton(local_ip)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local_ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)  # RFC 6762 §11
    found: dict[str, dict[str, Any]] = {}
    addrs: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    next_query = 0.0
    while (now := time.monotonic()) < deadline:
        if now >= next_query:
            sock.sendto(_query(service), (MDNS_GROUP, MDNS_PORT))
            next_query = now + 1.0
        sock.settimeout(max(0.01, min(next_query, deadline) - now))
        try:
            data, _src = sock.recvfrom(9000)
        except TimeoutError:
            continue
        try:
            _learn(data, service, found, addrs)
        except (ValueError, IndexError, struct.error):
            continue  # not ours to judge: a malformed answer is skipped
        complete = [i for i in found.values() if "port" in i and i.get("host") in addrs]
        for info in complete:
            info["addr"] = addrs[info["host"]]
        if want and len(complete) >= want:
            break
    sock.close()
    return found


def _learn(
    data: bytes, service: str, found: dict[str, dict[str, Any]], addrs: dict[str, str]
) -> None:
    if len(data) < 12 or not data[2] & 0x80:  # answers only
        return
    for owner, rtype, rdata, at in _records(data):
        if rtype == _PTR and owner.lower() == service.lower():
            instance = _name(data, at)[0]
            found.setdefault(instance.split(".")[0], {})
        elif rtype == _SRV and owner.lower().endswith(service.lower()):
            port = struct.unpack_from(">H", rdata, 4)[0]
            info = found.setdefault(owner.split(".")[0], {})
            info["port"], info["host"] = port, _name(data, at + 6)[0]
        elif rtype == _A and len(rdata) == 4:
            addrs[owner] = socket.inet_ntoa(rdata)


def browse_from(
    lab: Lab, node: str, service: str, local_ip: str, seconds: float, want: int = 0
) -> dict[str, dict[str, Any]]:
    """`browse` run inside the node's namespace (a child process: the sockets live there)."""
    argv = [sys.executable, "-m", "pyn2n.lab.cluster", service, local_ip, str(seconds), str(want)]
    proc = lab.run(node, argv, capture_output=True, text=True, timeout=seconds + 20, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"mDNS browse on {node} failed: {proc.stderr.strip()[-300:]}")
    result: dict[str, dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    """`python -m pyn2n.lab.cluster SERVICE LOCAL_IP SECONDS [WANT]`: browse, print JSON."""
    service, local_ip, seconds = argv[0], argv[1], float(argv[2])
    want = int(argv[3]) if len(argv) > 3 else 0
    print(json.dumps(browse(service, local_ip, seconds, want)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
