"""The UDP driver's parity parts against the real kernel, on loopback only: `send_with_ttl` sets the
IP TTL of those datagrams alone; `reopen` puts a fresh socket behind the same descriptor (a new
port, or the -p one), options kept; the loop watches it again after `rewatch`."""

from __future__ import annotations

import socket
import threading
import time

from pyn2n.core.events import Event
from pyn2n.io.loop import EventLoop
from pyn2n.io.udp import UdpSocket


class Recorder:
    """A node that only records the datagrams it gets."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        self.got.append(data)

    def handle_timer(self, now: float) -> None:
        pass

    def get_timer(self) -> float | None:
        return None

    def datagrams_to_send(self) -> list[tuple[bytes, tuple[str, int]]]:
        return []

    def events(self) -> list[Event]:
        return []

    def send_failed(self, count: int) -> None:
        pass

    def shutdown(self, now: float) -> None:
        pass


IP_RECVTTL = 12  # <linux/in.h>; the socket module does not export it


def test_send_with_ttl_touches_only_those_datagrams() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    rx.settimeout(2)
    with UdpSocket("127.0.0.1", 0) as udp:
        dest = rx.getsockname()
        assert udp.send_with_ttl(((b"a", dest), (b"b", dest)), 3) == 0
        assert udp.sendto(b"c", dest)
        ttls = []
        for _ in range(3):
            _data, anc, _flags, _addr = rx.recvmsg(100, socket.CMSG_SPACE(4))
            ttls.append(int.from_bytes(anc[0][2], "little"))
    rx.close()
    assert ttls == [3, 3, 64]


def test_reopen_and_rewatch() -> None:
    node = Recorder()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    with UdpSocket("127.0.0.1", 0) as udp:
        udp.set_tos(0x10)
        loop = EventLoop(node, udp)  # type: ignore[arg-type]
        runner = threading.Thread(target=loop.run, daemon=True)
        runner.start()
        try:
            fd, old = udp.fileno(), udp.local_addr
            tx.sendto(b"before", old)
            deadline = time.monotonic() + 5
            while node.got != [b"before"] and time.monotonic() < deadline:
                time.sleep(0.01)
            new = udp.reopen()
            loop.rewatch(udp.fileno())
            assert udp.fileno() == fd and new[0] == "127.0.0.1" and new[1] != old[1]
            assert udp._sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x10
            tx.sendto(b"after", new)
            while node.got != [b"before", b"after"] and time.monotonic() < deadline:
                time.sleep(0.01)
            assert node.got == [b"before", b"after"]
        finally:
            loop.stop()
            runner.join(5)
            loop.close()
    # a fixed port (-p) is kept
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with UdpSocket("127.0.0.1", port) as fixed:
        assert fixed.reopen() == ("127.0.0.1", port)
        tx.sendto(b"x", ("127.0.0.1", port))
        time.sleep(0.1)
        assert fixed.recv_one() == (b"x", tx.getsockname())
    tx.close()
