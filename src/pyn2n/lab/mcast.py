"""Multicast probe: a sender and a receiver bound to one interface address, counts as JSON.

    python -m pyn2n.lab.mcast recv --iface 198.19.0.2 [--group 239.255.1.1] [--port 5001]
                                   [--count N] [--timeout S] [--idle S]
    python -m pyn2n.lab.mcast send --iface 198.19.0.1 [--group ...] [--port ...] [--count 200]
                                   [--interval 0.002] [--ttl 1]

The interface is chosen by its address: the sender sets IP_MULTICAST_IF to it (so on an edge the
overlay address sends through the TAP `edge0`, the underlay address through `eth0`), the receiver
joins the group there (IP_ADD_MEMBERSHIP with that address) and, with IP_MULTICAST_ALL off, gets
only what arrives for its own membership. Datagrams carry `pyn2n-mcast <seq>`, so the receiver
counts distinct sequence numbers, duplicates and the senders.

The receiver prints `{"ready": true, ...}` once it has joined, then one JSON object when it
ends: after `--count` distinct datagrams, `--idle` seconds after the last one, `--timeout`
seconds in all, or on SIGTERM/SIGINT. The sender prints one JSON object: how many it sent.
Exit status 0 (the counts are the result, not the status).

`stream(lab, ...)` runs receivers and one sender in a lab's namespaces and collects the counts.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pyn2n.lab.lab import Lab
from pyn2n.lab.overlay import spawn

DEFAULT_GROUP = "239.255.1.1"
DEFAULT_PORT = 5001
MAGIC = b"pyn2n-mcast "
# IP_MULTICAST_ALL (Linux, <linux/in.h>): 0 = deliver only groups this socket joined itself.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)


class McastError(RuntimeError):
    """A probe process in the lab did not start or report."""


def payload(seq: int, size: int) -> bytes:
    head = MAGIC + str(seq).encode()
    return head + b"." * max(0, size - len(head))


def send(
    iface: str,
    *,
    group: str = DEFAULT_GROUP,
    port: int = DEFAULT_PORT,
    count: int = 200,
    interval: float = 0.002,
    ttl: int = 1,
    size: int = 64,
) -> dict[str, Any]:
    """Send `count` numbered datagrams to group:port out of the interface with address `iface`
    (IPv4, or IPv6 when the group is: `ttl` is then the hop limit)."""
    with _sender(iface, group, ttl) as sock:
        sent = errors = 0
        for seq in range(count):
            try:
                sock.sendto(payload(seq, size), (group, port))
                sent += 1
            except OSError:
                errors += 1
            if interval:
                time.sleep(interval)
    return {
        "role": "send",
        "iface": iface,
        "group": group,
        "port": port,
        "ttl": ttl,
        "sent": sent,
        "errors": errors,
    }


def receive(
    iface: str,
    *,
    group: str = DEFAULT_GROUP,
    port: int = DEFAULT_PORT,
    count: int = 0,
    timeout: float = 10.0,
    idle: float = 0.0,
    ready: Callable[[], None] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Join group on the interface with address `iface` and count what arrives on `port`.

    Ends after `count` distinct datagrams (0: no limit), `idle` s without one once some arrived
    (0: never), `timeout` s in all, or when `stopped()` (polled every 0.2 s) turns true.
    `ready()` is called once joined.
    """
    seqs: Counter[int] = Counter()
    sources: Counter[str] = Counter()
    other = 0
    with _receiver(iface, group, port) as sock:
        if ready is not None:
            ready()
        start = last = time.monotonic()
        while not (count and len(seqs) >= count) and not stopped():
            ends = [start + timeout]
            if idle and seqs:
                ends.append(last + idle)
            left = min(ends) - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(min(left, 0.2))
            try:
                data, src = sock.recvfrom(65536)
            except TimeoutError:
                continue
            last = time.monotonic()
            seq = _seq(data)
            if seq is None:
                other += 1
            else:
                seqs[seq] += 1
                sources[src[0]] += 1
    return {
        "role": "recv",
        "iface": iface,
        "group": group,
        "port": port,
        "received": sum(seqs.values()),
        "distinct": len(seqs),
        "duplicates": sum(seqs.values()) - len(seqs),
        "sources": dict(sources),
        "other": other,
    }


def _ifindex(address: str) -> int:
    """The index of the interface (in this namespace) that has `address`."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for msg in ipr.get_addr(address=address):
            return int(msg["index"])
    raise McastError(f"no interface has the address {address}")


def _sender(iface: str, group: str, ttl: int) -> socket.socket:
    if ":" not in group:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    else:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, _ifindex(iface))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    sock.bind((iface, 0))
    return sock


def _receiver(iface: str, group: str, port: int) -> socket.socket:
    """A socket that gets only datagrams addressed to the group (not unicast to `port`)."""
    six = ":" in group
    sock = socket.socket(socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((group, port))
    if six:
        mreq6 = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", _ifindex(iface))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        mreq = socket.inet_aton(group) + socket.inet_aton(iface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    return sock


def stream(
    lab: Lab,
    sender: tuple[str, str],
    receivers: Sequence[tuple[str, str]],
    *,
    group: str = DEFAULT_GROUP,
    port: int = DEFAULT_PORT,
    count: int = 200,
    interval: float = 0.002,
    ttl: int = 1,
    grace: float = 1.5,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send `count` datagrams from `sender` = (node, interface address) to group:port while
    `receivers` (node, interface address) listen; return the sender's and receivers' counts
    (with `node` added), in order. Receivers still waiting `grace` s after the last datagram left
    are stopped (SIGTERM) and report what they got."""
    me = [sys.executable, "-m", __name__]
    common = ["--group", group, "--port", str(port), "--count", str(count)]
    procs: list[subprocess.Popen[str]] = []
    try:
        for node, iface in receivers:
            proc = spawn(
                lab,
                node,
                [*me, "recv", "--iface", iface, *common, "--timeout", "60"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
        for proc, (node, _) in zip(procs, receivers, strict=True):
            line = proc.stdout.readline() if proc.stdout else ""
            if '"ready"' not in line:
                raise McastError(f"multicast receiver on {node} did not start: {_stderr(proc)}")
        argv = [*me, "send", "--iface", sender[1], *common, "--interval", str(interval)]
        done = lab.run(
            sender[0],
            [*argv, "--ttl", str(ttl)],
            capture_output=True,
            text=True,
            timeout=count * interval + 30,
        )
        if done.returncode != 0:
            raise McastError(f"multicast sender on {sender[0]} failed: {done.stderr.strip()}")
        sent = {"node": sender[0], **json.loads(done.stdout)}
        deadline = time.monotonic() + grace
        results = []
        for proc, (node, _) in zip(procs, receivers, strict=True):
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                lab.stop(proc, signal.SIGTERM)
            out = proc.stdout.read() if proc.stdout else ""
            lines = [x for x in out.splitlines() if x.strip()]
            if not lines:
                raise McastError(f"multicast receiver on {node} printed nothing: {_stderr(proc)}")
            results.append({"node": node, **json.loads(lines[-1])})
        return sent, results
    finally:
        for proc in procs:
            if proc.poll() is None:
                lab.stop(proc, signal.SIGKILL)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def _stderr(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        return "(still running)"
    return proc.stderr.read().strip() if proc.stderr else ""


def _seq(data: bytes) -> int | None:
    if not data.startswith(MAGIC):
        return None
    digits = data[len(MAGIC) :].split(b".", 1)[0]
    return int(digits) if digits.isdigit() else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pyn2n.lab.mcast", description=__doc__.split("\n\n")[0]
    )
    sub = p.add_subparsers(dest="role", required=True)
    for role in ("send", "recv"):
        s = sub.add_parser(role)
        s.add_argument("--iface", required=True, help="address of the interface to use")
        s.add_argument("--group", default=DEFAULT_GROUP)
        s.add_argument("--port", type=int, default=DEFAULT_PORT)
        s.add_argument("--count", type=int, default=200 if role == "send" else 0)
    send_p, recv_p = sub.choices["send"], sub.choices["recv"]
    send_p.add_argument("--interval", type=float, default=0.002, help="seconds between datagrams")
    send_p.add_argument("--ttl", type=int, default=1, help="IP_MULTICAST_TTL (>1: routable)")
    send_p.add_argument("--size", type=int, default=64, help="UDP payload bytes")
    recv_p.add_argument("--timeout", type=float, default=10.0)
    recv_p.add_argument("--idle", type=float, default=0.0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role == "send":
        result = send(
            args.iface,
            group=args.group,
            port=args.port,
            count=args.count,
            interval=args.interval,
            ttl=args.ttl,
            size=args.size,
        )
    else:
        # a signal only sets the flag (the blocking recv resumes, PEP 475), so the counts so far
        # are still printed
        stop: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: stop.append(signum))

        def ready() -> None:
            print(json.dumps({"ready": True, "iface": args.iface}), flush=True)

        result = receive(
            args.iface,
            group=args.group,
            port=args.port,
            count=args.count,
            timeout=args.timeout,
            idle=args.idle,
            ready=ready,
            stopped=lambda: bool(stop),
        )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
