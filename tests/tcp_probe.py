"""TCP reachability over an overlay, for the `-R` traffic-rule tests: a listener on some ports in
one namespace, a connect attempt (with a deadline) from another. Real kernel sockets only."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyn2n.lab import Lab

# Runs in the listening namespace: accept on every given port and answer "ok".
_SERVE = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port))); s.listen(8); sel.register(s, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        conn.sendall(b"ok"); conn.close()
"""

# Runs in the connecting namespace: exit 0 when the listener answered, 1 otherwise.
_CONNECT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as c:
        sys.exit(0 if c.recv(2) == b"ok" else 1)
except OSError:
    sys.exit(1)
"""


def serve(lab: Lab, node: str, ports: Sequence[int], log: str) -> subprocess.Popen[Any]:
    """Start the listener in `node` (stopped with `lab.stop`); returns once it listens."""
    proc = lab.spawn(node, [sys.executable, "-c", _SERVE, *map(str, ports)], log=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(log, errors="replace") as f:
            if "listening" in f.read():
                return proc
        time.sleep(0.05)
    raise AssertionError(f"TCP listener in {node} did not start")


def connects(lab: Lab, node: str, address: str, port: int, timeout: float = 3.0) -> bool:
    """Whether a TCP connection from `node` to address:port gets the listener's answer."""
    proc = lab.run(
        node,
        [sys.executable, "-c", _CONNECT, address, str(port), str(timeout)],
        capture_output=True,
        timeout=timeout + 20,
        check=False,
    )
    return proc.returncode == 0
