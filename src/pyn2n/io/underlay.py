"""The underlay of a node that has more than one IPv4 UDP socket to reach it: an IPv6 UDP socket
on the same port number (a dual-stack supernode, an edge registering over IPv6) and n2n's TCP
links (`io/tcp.py`). `Underlay` is the UDP socket the loops already drive; it sends each
datagram the node gives it the way its address says: an address with a link over TCP, an IPv6
address by the IPv6 socket, the rest as before. Reads from the extra sockets go to the node as
datagrams from the plain `(host, port)` of their sender.
"""

from __future__ import annotations

import logging
import socket
import time

from pyn2n.io.tcp import Deliver, TcpLinks, Watcher
from pyn2n.io.udp import Addr, UdpSocket

log = logging.getLogger("pyn2n.underlay")

_V6_BATCH = 64


class Underlay(UdpSocket):
    """The node's IPv4 UDP socket, plus an optional IPv6 one (`ipv6`) and TCP links (`tcp`)."""

    __slots__ = ("_deliver", "ipv6", "tcp")

    def __init__(
        self,
        bind_addr: str = "0.0.0.0",
        port: int = 0,
        *,
        ipv6: str | None = None,
        tcp: str | None = None,
    ) -> None:
        """`ipv6`: the IPv6 address to bind as well ("::" for all); `tcp`: "listen" (accept
        n2n's TCP links on the UDP port number) or "dial" (-S2)."""
        super().__init__(bind_addr, port)
        port = self.local_port  # the same number on every socket, also when chosen by the kernel
        self.ipv6: UdpSocket | None = None
        self.tcp: TcpLinks | None = None
        self._deliver: Deliver | None = None
        try:
            if ipv6 is not None:
                self.ipv6 = UdpSocket(ipv6, port, family=socket.AF_INET6)
            if tcp == "listen":
                self.tcp = TcpLinks(listen_on=(bind_addr, port))
            elif tcp == "dial":
                self.tcp = TcpLinks(dial=True)
        except OSError:
            self.close()
            raise

    def attach(self, loop: Watcher, deliver: Deliver) -> None:
        """Serve the extra sockets from `loop`, handing their packets to `deliver`."""
        self._deliver = deliver
        if self.tcp is not None:
            self.tcp.attach(loop, deliver)
        if self.ipv6 is not None:
            loop.watch(self.ipv6.fileno(), self._read_ipv6)

    def _read_ipv6(self) -> None:
        assert self.ipv6 is not None and self._deliver is not None
        deliver = self._deliver
        now = time.monotonic()
        for data, addr in self.ipv6.recv_batch(_V6_BATCH):
            deliver(data, (addr[0], addr[1]), now)  # drop flowinfo and scope id

    def send_batch(self, datagrams: list[tuple[bytes, Addr]]) -> int:
        plain, failed = self._divert(datagrams)
        return failed + (super().send_batch(plain) if plain else 0)

    def send_runs(self, datagrams: list[tuple[bytes, Addr]]) -> int:
        plain, failed = self._divert(datagrams)
        return failed + (super().send_runs(plain) if plain else 0)

    def _divert(self, datagrams: list[tuple[bytes, Addr]]) -> tuple[list[tuple[bytes, Addr]], int]:
        """Send the datagrams for TCP links and IPv6 addresses; return the IPv4 ones, and how
        many of the others the kernel refused."""
        tcp, v6 = self.tcp, self.ipv6
        links = tcp is not None and tcp.busy
        if not links and v6 is None:
            return datagrams, 0
        plain: list[tuple[bytes, Addr]] = []
        failed = 0
        for data, addr in datagrams:
            if links and tcp.send(data, addr):  # type: ignore[union-attr]
                continue
            if ":" in addr[0]:
                if v6 is None or not v6.sendto(data, addr):
                    failed += 1
            else:
                plain.append((data, addr))
        return plain, failed

    def send_gso(self, buf: bytes | bytearray, segment: int, addr: Addr) -> int:
        if ":" in addr[0]:
            return 1 if self.ipv6 is None else self.ipv6.send_gso(buf, segment, addr)
        return super().send_gso(buf, segment, addr)

    def close(self) -> None:
        """Close every socket (after the loop: nothing is unwatched here)."""
        if self.tcp is not None:
            self.tcp.close()
        if self.ipv6 is not None:
            self.ipv6.close()
        super().close()
