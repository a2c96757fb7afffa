"""A TCP transfer checked end to end: `python -m pyn2n.lab.tcpcheck sink PORT` prints "ready",
takes one connection and prints {"bytes", "sha256"} of what came; `source IP PORT NBYTES KIND`
sends `payload(NBYTES, KIND)`. `transfer()` runs both in lab namespaces; compare its result with
`expected()`.

KIND "random" is incompressible; "text" compresses well (so -z is really used) and still shows
any reordering.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import subprocess
import sys
from typing import Any

from pyn2n.lab.lab import Lab

_LINE = b"%08d pyn2n overlay transfer, the quick brown fox jumps over the lazy dog\n"


def payload(n: int, kind: str = "random") -> bytes:
    if kind == "random":
        return random.Random(n).randbytes(n)
    if kind == "text":
        return b"".join(_LINE % i for i in range(n // len(_LINE % 0) + 1))[:n]
    raise ValueError(f"payload kind {kind!r}: use 'random' or 'text'")


def expected(n: int, kind: str = "random") -> dict[str, Any]:
    return {"bytes": n, "sha256": hashlib.sha256(payload(n, kind)).hexdigest()}


def sink(port: int, timeout: float = 60.0) -> int:
    with socket.create_server(("0.0.0.0", port)) as server:
        server.settimeout(timeout)
        print("ready", flush=True)
        conn, _ = server.accept()
        digest, total = hashlib.sha256(), 0
        with conn:
            conn.settimeout(timeout)
            while chunk := conn.recv(1 << 20):
                digest.update(chunk)
                total += len(chunk)
    print(json.dumps({"bytes": total, "sha256": digest.hexdigest()}), flush=True)
    return 0


def source(ip: str, port: int, n: int, kind: str = "random") -> int:
    with socket.create_connection((ip, port), timeout=60) as conn:
        conn.sendall(payload(n, kind))
    return 0


def transfer(
    lab: Lab, src: str, dst: str, n: int, *, port: int = 5201, kind: str = "random"
) -> dict[str, Any]:
    """Send n bytes over TCP from lab node src to dst's overlay address; the sink's report."""
    me = [sys.executable, "-m", "pyn2n.lab.tcpcheck"]
    proc = lab.spawn(
        dst, [*me, "sink", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"tcp sink on {dst} did not start: {proc.communicate()[1]}")
        sent = lab.run(
            src,
            [*me, "source", lab.overlay_ip(dst), str(port), str(n), kind],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if sent.returncode != 0:
            raise RuntimeError(f"{src}->{dst}: {sent.stderr}")
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"tcp sink on {dst}: {err}")
        return dict(json.loads(out.strip().splitlines()[-1]))
    finally:
        if proc.poll() is None:
            lab.stop(proc)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["sink"] and len(argv) == 2:
        return sink(int(argv[1]))
    if argv[:1] == ["source"] and len(argv) in (4, 5):
        return source(argv[1], int(argv[2]), int(argv[3]), *argv[4:])
    print("usage: python -m pyn2n.lab.tcpcheck sink PORT | source IP PORT NBYTES [KIND]")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
