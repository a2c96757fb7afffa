"""Count the multicast probe's frames (`pyn2n.lab.mcast`) on an interface, with a raw AF_PACKET
socket: what the kernel of a node sees, whether or not any socket joined the group.

    python -m pyn2n.lab.tapcap --iface edge0 --seconds 20 [--group 239.255.1.1]

Prints `{"ready": true}` once listening, then one JSON object when `--seconds` have passed (or
on SIGTERM): `frames` (probe datagrams seen arriving on the interface, to `--group` if given),
`distinct` sequence numbers, and `max_gap` (the longest silence between two of them, seconds).

`probes(lab, ...)` runs such captures and `pyn2n.lab.mcast` receivers in a lab's namespaces for
the length of a `with` block; `send(lab, ...)` runs the probe's sender.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyn2n.lab.lab import Lab
from pyn2n.lab.mcast import MAGIC
from pyn2n.lab.overlay import spawn

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def capture(iface: str, seconds: float, group: str | None = None) -> dict[str, Any]:
    want = socket.inet_aton(group) if group else None
    stop = [False]

    def halt(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, halt)
    frames = 0
    seqs: set[int] = set()
    last: float | None = None
    gap = 0.0
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((iface, 0))
        sock.settimeout(0.2)
        print(json.dumps({"ready": True}), flush=True)
        end = time.monotonic() + seconds
        while not stop[0] and time.monotonic() < end:
            try:
                data, where = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            if where[2] == PACKET_OUTGOING or len(data) < 42 or data[12:14] != b"\x08\x00":
                continue
            ihl = (data[14] & 0x0F) * 4
            if data[23] != 17 or (want is not None and data[30:34] != want):
                continue
            body = data[14 + ihl + 8 :]
            if not body.startswith(MAGIC):
                continue
            now = time.monotonic()
            frames += 1
            with contextlib.suppress(ValueError):
                seqs.add(int(body[len(MAGIC) :].split(b".", 1)[0]))
            if last is not None:
                gap = max(gap, now - last)
            last = now
    return {"frames": frames, "distinct": len(seqs), "max_gap": round(gap, 3)}


def _ready(proc: subprocess.Popen[str], what: str) -> None:
    line = proc.stdout.readline() if proc.stdout else ""
    if '"ready"' not in line:
        raise RuntimeError(f"{what} did not start: {line!r}")


def _result(lab: Lab, proc: subprocess.Popen[str]) -> dict[str, Any]:
    if proc.poll() is None:
        lab.stop(proc, signal.SIGTERM)
    out = proc.stdout.read() if proc.stdout else ""
    lines = [x for x in out.splitlines() if x.strip()]
    if not lines:
        return {"error": "printed nothing"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextmanager
def probes(
    lab: Lab,
    subscribers: Sequence[str],
    watched: Sequence[str],
    *,
    group: str,
    port: int,
    seconds: float,
    tap: str = "edge0",
    settle: float = 1.0,
) -> Iterator[dict[str, dict[str, Any]]]:
    """Receivers that joined `group` on the `subscribers` (by their overlay address), raw
    captures on the `watched` nodes' TAPs; when the block ends, the yielded dict holds their
    results as "recv:<node>" and "cap:<node>". `settle` s pass after the joins before the block
    runs (so the joins reach the senders)."""
    me = [sys.executable, "-m"]
    procs: dict[str, subprocess.Popen[str]] = {}
    results: dict[str, dict[str, Any]] = {}
    try:
        for node in watched:
            argv = [*me, "pyn2n.lab.tapcap", "--iface", tap, "--seconds", str(seconds)]
            procs[f"cap:{node}"] = spawn(
                lab, node, [*argv, "--group", group], stdout=subprocess.PIPE, text=True
            )
        for node in subscribers:
            argv = [*me, "pyn2n.lab.mcast", "recv", "--iface", lab.overlay_ip(node)]
            argv += ["--group", group, "--port", str(port), "--timeout", str(seconds)]
            argv += ["--count", "1000000"]
            procs[f"recv:{node}"] = spawn(lab, node, argv, stdout=subprocess.PIPE, text=True)
        for name, proc in procs.items():
            _ready(proc, name)
        time.sleep(settle)
        yield results
    finally:
        for name, proc in procs.items():
            try:
                results[name] = _result(lab, proc)
            finally:
                if proc.poll() is None:
                    lab.stop(proc, signal.SIGKILL)
                if proc.stdout is not None:
                    proc.stdout.close()


def send(
    lab: Lab, node: str, *, group: str, port: int, count: int, interval: float
) -> subprocess.Popen[str]:
    """Start the probe's sender on `node` (its overlay address); wait for it yourself."""
    argv = [sys.executable, "-m", "pyn2n.lab.mcast", "send", "--iface", lab.overlay_ip(node)]
    argv += ["--group", group, "--port", str(port), "--count", str(count)]
    argv += ["--interval", str(interval)]
    return spawn(lab, node, argv, stdout=subprocess.PIPE, text=True)


def sent(lab: Lab, proc: subprocess.Popen[str], timeout: float) -> int:
    """How many datagrams the sender from `send` sent (waits for it)."""
    try:
        proc.wait(timeout)
    finally:
        result = _result(lab, proc)
        if proc.stdout is not None:
            proc.stdout.close()
    return int(result.get("sent", -1))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyn2n.lab.tapcap", description=__doc__)
    p.add_argument("--iface", required=True)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--group", default=None)
    ns = p.parse_args(argv)
    print(json.dumps(capture(ns.iface, ns.seconds, ns.group)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
