"""`UdpSocket.send_runs`: runs of same-size datagrams to one address leave in one UDP_SEGMENT
send and arrive as the same datagrams, in order; mixed batches too (loopback, real sockets)."""

from __future__ import annotations

import socket
import time

from pyn2n.io.udp import UdpSocket


def _receive(sock: socket.socket, n: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + 5
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(sock.recv(65536))
        except BlockingIOError:
            time.sleep(0.01)
    return got


def test_runs_arrive_as_the_datagrams_they_were() -> None:
    a, b = (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
    )
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    to_a, to_b = a.getsockname(), b.getsockname()
    batch = [(bytes([i]) * 1000, to_a) for i in range(5)]
    batch += [(b"short", to_a), (b"x" * 1000, to_b), (b"y" * 300, to_b), (b"z" * 900, to_a)]
    with UdpSocket("127.0.0.1") as udp:
        assert udp.send_runs(batch) == 0
        assert udp.send_runs(batch[:1]) == 0
    assert _receive(a, 8) == [d for d, addr in batch if addr == to_a] + [batch[0][0]]
    assert _receive(b, 2) == [d for d, addr in batch if addr == to_b]
    a.close()
    b.close()
