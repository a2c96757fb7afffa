"""TCP between edge and supernode (n2n's `-S2`): links that carry n2n packets with n2n's framing
(`wire/stream.py`), beside the node's UDP socket (`io/underlay.py` routes datagrams to them).

A supernode accepts links on its UDP port number (as n2n's does, always); an edge with `-S2`
dials its supernodes on demand and re-dials with back-off. The node never knows: a packet from a
link is a datagram from the link's address.
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from pyn2n.io.udp import Addr
from pyn2n.wire.stream import MAX_PACKET, StreamDecoder, frame

log = logging.getLogger("pyn2n.tcp")

MAX_LINKS = 4096  # accepted links a supernode keeps; more are closed at once (n2n: FD_SETSIZE)
PENDING_BYTES = 256 * 1024  # unsent bytes a link may hold (a slow or stuck peer); more are dropped
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
CLOSED_KEEP = 4096  # addresses of closed links whose datagrams are dropped, not sent by UDP
_READ = 65536
_RETRY_ERRNOS = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINPROGRESS, errno.ENOTCONN)

Deliver = Callable[[bytes, Addr, float], None]


class Watcher(Protocol):
    """What the links need of the event loop (`io/loop.py`)."""

    def watch(self, fd: int, callback: Callable[[], None], *, writable: bool = False) -> None: ...
    def set_writable(self, fd: int, on: bool) -> None: ...
    def unwatch(self, fd: int) -> None: ...


class _Link:
    __slots__ = ("addr", "connected", "decoder", "pending", "sock", "writable")

    def __init__(self, sock: socket.socket, addr: Addr, connected: bool) -> None:
        self.sock = sock
        self.addr = addr
        self.connected = connected
        self.writable = not connected  # watched for EPOLLOUT: connecting, or bytes waiting
        self.decoder = StreamDecoder()
        self.pending = bytearray()


class TcpLinks:
    """The TCP links of one node: `listen_on` (a supernode) accepts them on an address,
    `dial=True` (an edge with -S2) opens one to every address the node sends to."""

    __slots__ = (
        "_backoff",
        "_closed",
        "_deliver",
        "_links",
        "_listener",
        "_loop",
        "_retry_at",
        "dial",
        "dropped",
        "refused",
    )

    def __init__(self, *, listen_on: Addr | None = None, dial: bool = False) -> None:
        self.dial = dial
        self._links: dict[Addr, _Link] = {}
        self._closed: OrderedDict[Addr, None] = OrderedDict()
        self._retry_at: dict[Addr, float] = {}
        self._backoff: dict[Addr, float] = {}
        self._loop: Watcher | None = None
        self._deliver: Deliver | None = None
        self._listener: socket.socket | None = None
        self.dropped = 0  # packets not sent: a link full, down, or waiting to re-dial
        self.refused = 0  # links closed for bad framing or over MAX_LINKS
        if listen_on is not None:
            self._listener = self._listen(*listen_on)

    @staticmethod
    def _listen(bind_addr: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in bind_addr else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((bind_addr, port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def attach(self, loop: Watcher, deliver: Deliver) -> None:
        """Serve the links from `loop`; packets go to `deliver(packet, addr, now)` (the node's
        `receive_datagram`)."""
        self._loop = loop
        self._deliver = deliver
        if self._listener is not None:
            loop.watch(self._listener.fileno(), self._accept)

    @property
    def links(self) -> int:
        return len(self._links)

    @property
    def busy(self) -> bool:
        """Whether any datagram may be for a link (else all go by UDP, unexamined)."""
        return self.dial or bool(self._links) or bool(self._closed)

    def send(self, data: bytes, addr: Addr) -> bool:
        """Send `data` over the link to `addr` (dialled, with -S2); False when `addr` has no
        link and is not dialled, so the datagram goes by UDP. A packet that cannot go (the
        link full or down, re-dial pending) is dropped and counted."""
        link = self._links.get(addr)
        if link is None and self.dial:
            link = self._dial(addr)
        if link is not None:
            self._send(link, data)
            return True
        if self.dial or addr in self._closed:
            self.dropped += 1
            return True
        return False

    def _send(self, link: _Link, data: bytes) -> None:
        if len(data) > MAX_PACKET or len(link.pending) + len(data) + 2 > PENDING_BYTES:
            self.dropped += 1
            return
        if link.pending or not link.connected:
            link.pending += frame(data)
            return
        self._write(link, frame(data))

    def _write(self, link: _Link, data: bytes | bytearray) -> None:
        """Send `data` (new bytes, or the link's own `pending`); what the kernel does not take
        waits in `pending`, and the link is watched for room while anything waits."""
        try:
            sent = link.sock.send(data)
        except OSError as exc:
            if exc.errno not in _RETRY_ERRNOS:
                self._close(link, f"send failed ({exc.strerror})")
                return
            sent = 0
        if data is link.pending:
            del link.pending[:sent]
        elif sent < len(data):
            link.pending += memoryview(data)[sent:]
        waiting = bool(link.pending)
        if waiting is not link.writable and self._loop is not None:
            link.writable = waiting
            self._loop.set_writable(link.sock.fileno(), waiting)

    # ------------------------------------------------------------------ links

    def _dial(self, addr: Addr) -> _Link | None:
        if self._loop is None or time.monotonic() < self._retry_at.get(addr, 0.0):
            return None
        sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect(addr)
        except BlockingIOError:
            pass
        except OSError as exc:
            sock.close()
            self._failed(addr, exc.strerror or str(exc))
            return None
        link = self._links[addr] = _Link(sock, addr, connected=False)
        self._loop.watch(sock.fileno(), functools.partial(self._ready, link), writable=True)
        return link

    def _failed(self, addr: Addr, why: str) -> None:
        wait = self._backoff.get(addr, BACKOFF_FIRST)
        self._backoff[addr] = min(wait * 2, BACKOFF_MAX)
        self._retry_at[addr] = time.monotonic() + wait
        log.warning("TCP to supernode %s:%d: %s; retrying in %.0f s", addr[0], addr[1], why, wait)

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None and self._loop is not None
        while True:
            try:
                sock, addr = listener.accept()
            except OSError:
                return
            if len(self._links) >= MAX_LINKS:
                self.refused += 1
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer: Addr = (addr[0], addr[1])
            old = self._links.get(peer)
            if old is not None:
                self._close(old, None)
            self._closed.pop(peer, None)
            link = self._links[peer] = _Link(sock, peer, connected=True)
            self._loop.watch(sock.fileno(), functools.partial(self._ready, link))

    def _ready(self, link: _Link) -> None:
        """The link's socket is readable, writable or failed."""
        if self._links.get(link.addr) is not link:
            return
        if not link.connected and not self._connected(link):
            return
        if link.pending:
            self._write(link, link.pending)
            if self._links.get(link.addr) is not link:
                return
        self._read(link)

    def _connected(self, link: _Link) -> bool:
        err = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._close(link, f"cannot connect ({errno.errorcode.get(err, err)})")
            return False
        try:
            link.sock.getpeername()
        except OSError:
            return False  # still connecting
        link.connected = True
        self._backoff.pop(link.addr, None)
        self._retry_at.pop(link.addr, None)
        log.info("TCP link to supernode %s:%d up", link.addr[0], link.addr[1])
        if not link.pending and self._loop is not None:
            link.writable = False
            self._loop.set_writable(link.sock.fileno(), False)
        return True

    def _read(self, link: _Link) -> None:
        deliver = self._deliver
        assert deliver is not None
        try:
            data = link.sock.recv(_READ)
        except OSError as exc:
            if exc.errno not in _RETRY_ERRNOS:
                self._close(link, f"receive failed ({exc.strerror})")
            return
        if not data:
            self._close(link, "closed by the other side")
            return
        now = time.monotonic()
        for packet in link.decoder.feed(data):
            deliver(packet, link.addr, now)
        if link.decoder.broken:
            self.refused += 1
            self._close(link, "bad length prefix")

    def _close(self, link: _Link, why: str | None) -> None:
        if self._links.get(link.addr) is link:
            del self._links[link.addr]
        if self._loop is not None:
            self._loop.unwatch(link.sock.fileno())
        link.sock.close()
        if self.dial:
            if why is not None:
                self._failed(link.addr, why)
        else:
            self._closed[link.addr] = None
            if len(self._closed) > CLOSED_KEEP:
                self._closed.popitem(last=False)
            if why is not None:
                log.debug("TCP link from %s:%d closed: %s", link.addr[0], link.addr[1], why)

    def close(self) -> None:
        """Close every link and the listener (after the loop: nothing is unwatched here)."""
        self._loop = None
        for link in list(self._links.values()):
            self._close(link, None)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
