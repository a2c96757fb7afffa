"""Non-blocking UDP sockets for the data path and the management port.

`UdpSocket.recv_one` reads one datagram (the loop's idle case), `recv_batch` drains with plain
`recvfrom` until EAGAIN: measured here at about 1.6 µs
per 1400-byte datagram against about 2.2 µs for `recvfrom_into` a reused buffer plus the `bytes`
copy the node needs anyway. Sends never raise: local refusals (full buffer, no route, ICMP-induced
ECONNREFUSED, firewall EPERM) are returned as counts, which the loop reports to the node
(`send_failed`), the way a lossy link behaves. `recv_errors` counts ICMP errors that surfaced on
a read (the runtime shows them with the management `drops`).

For the fast path (core/fastpath/): `send_gso` hands the kernel many equal datagrams in one
`sendmsg` with a UDP_SEGMENT control message (falling back to one `sendto` each where the kernel
refuses); with `set_gro(True)` the kernel may merge datagrams of one flow, so `recv_gro_batch`
reads with `recvmsg` and returns each read's segment size from its UDP_GRO control message.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct

from pyn2n.constants import N2N_PKT_BUF_SIZE
from pyn2n.io.linux import (
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IPV6_MTU_DISCOVER,
    SO_RCVBUFFORCE,
    SO_SNDBUFFORCE,
    SOL_UDP,
    UDP_GRO,
    UDP_MAX_PAYLOAD,
    UDP_MAX_SEGMENTS,
    UDP_SEGMENT,
)
from pyn2n.io.steering import TURN_BYTES

Addr = tuple[str, int]

SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
GRO_READ = 65536  # a merged read holds at most one IPv4 datagram's worth
_GSO_REFUSED = frozenset((errno.EINVAL, errno.EIO, errno.EOPNOTSUPP, errno.ENOPROTOOPT))
_GSO_GIVE_UP = 8  # refusals after which this socket stops trying UDP_SEGMENT
_U16 = struct.Struct("=H")
_INT = struct.Struct("=i")
_GSO_CMSGS: dict[int, list[tuple[int, int, bytes]]] = {}


def _gso_cmsg(segment: int) -> list[tuple[int, int, bytes]]:
    """The UDP_SEGMENT control message for `segment`-byte datagrams (built once per size)."""
    cmsg = _GSO_CMSGS.get(segment)
    if cmsg is None:
        cmsg = _GSO_CMSGS[segment] = [(SOL_UDP, UDP_SEGMENT, _U16.pack(segment))]
    return cmsg


def _grow_buffer(sock: socket.socket, force_opt: int, plain_opt: int, size: int) -> int:
    """Ask for `size` bytes of kernel buffer; returns what the kernel granted (it doubles it)."""
    try:
        # Past net.core.[rw]mem_max, which is usually far below 4 MiB; needs CAP_NET_ADMIN.
        sock.setsockopt(socket.SOL_SOCKET, force_opt, size)
    except OSError:
        # Unprivileged: the kernel silently caps this at the sysctl maximum.
        sock.setsockopt(socket.SOL_SOCKET, plain_opt, size)
    return sock.getsockopt(socket.SOL_SOCKET, plain_opt)


SEND_WAIT = 0.05  # seconds a supernode's flush may wait for room in the send buffer


class UdpSocket:
    """The node's UDP socket (n2n edges and supernodes use a single port each); IPv4 unless
    `family` is AF_INET6 (then IPv6 only: `io/underlay.py` pairs the two)."""

    __slots__ = (
        "_bound",
        "_buffer_bytes",
        "_gro_drain",
        "_gso_refused",
        "_opts",
        "_sock",
        "bufsize",
        "gro",
        "gro_reading",
        "rcvbuf",
        "recv_errors",
        "sndbuf",
    )

    def __init__(
        self,
        bind_addr: str = "0.0.0.0",
        port: int = 0,
        *,
        bufsize: int = N2N_PKT_BUF_SIZE,
        buffer_bytes: int = SOCKET_BUFFER_BYTES,
        family: socket.AddressFamily = socket.AF_INET,
    ) -> None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            # Like n2n: let the kernel fragment rather than drop datagrams larger than the path MTU.
            if family == socket.AF_INET6:
                # IPv4 stays on its own socket, so IPv4 senders keep their plain addresses
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IP_PMTUDISC_DONT)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            self.rcvbuf = _grow_buffer(sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, buffer_bytes)
            self.sndbuf = _grow_buffer(sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, buffer_bytes)
            sock.bind((bind_addr, port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._bound = (bind_addr, port)  # for `reopen`: port 0 draws a new one
        self._buffer_bytes = buffer_bytes
        self._opts: dict[int, int] = {}  # IP-level options set since, re-applied by `reopen`
        # Longer datagrams are truncated to this; n2n's own receive buffer has the same size.
        self.bufsize = bufsize
        self.recv_errors = 0
        self.gro = False
        self._gro_drain = False
        # reads must go through `recv_gro_batch` (GRO on, or merged datagrams still queued); a
        # plain attribute, read on every wake-up of the fast loop
        self.gro_reading = False
        self._gso_refused = 0

    @property
    def local_port(self) -> int:
        return int(self._sock.getsockname()[1])

    def set_tos(self, tos: int) -> None:
        """IP TOS/DSCP of outgoing datagrams (n2n `-T`)."""
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        self._opts[socket.IP_TOS] = tos

    def set_pmtu_discovery(self, on: bool) -> None:
        """Path-MTU discovery (n2n `-D`); off by default, as in n2n."""
        self._sock.setsockopt(
            socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if on else IP_PMTUDISC_DONT
        )
        self._opts[IP_MTU_DISCOVER] = IP_PMTUDISC_DO if on else IP_PMTUDISC_DONT

    @property
    def local_addr(self) -> Addr:
        name = self._sock.getsockname()  # IPv6: (host, port, flowinfo, scope_id)
        return (name[0], name[1])

    def fileno(self) -> int:
        return self._sock.fileno()

    def recv_batch(self, max_n: int = 64, bufsize: int | None = None) -> list[tuple[bytes, Addr]]:
        """Up to `max_n` (datagram, sender) pairs, fewer when the queue empties."""
        recvfrom = self._sock.recvfrom
        size = self.bufsize if bufsize is None else bufsize
        out: list[tuple[bytes, Addr]] = []
        append = out.append
        for _ in range(max_n):
            try:
                append(recvfrom(size))
            except BlockingIOError:
                break
            except OSError:
                # A queued ICMP error surfaces once on recv; the next datagram is still there.
                self.recv_errors += 1
        return out

    def recv_one(self) -> tuple[bytes, Addr] | None:
        """One (datagram, sender) pair, or None when none is waiting (or an ICMP error surfaced
        instead: counted, and the next datagram is still there)."""
        try:
            return self._sock.recvfrom(self.bufsize)
        except BlockingIOError:
            return None
        except OSError:
            self.recv_errors += 1
            return None

    def sendto(self, data: bytes, addr: Addr) -> bool:
        """Send one datagram; False if the kernel refused it."""
        try:
            self._sock.sendto(data, addr)
        except OSError:
            return False
        return True

    def send_batch(self, datagrams: list[tuple[bytes, Addr]]) -> int:
        """Send each datagram; returns how many the kernel refused."""
        sendto = self._sock.sendto
        failed = 0
        for data, addr in datagrams:
            try:
                sendto(data, addr)
            except OSError:
                failed += 1
        return failed

    def reopen(self) -> Addr:
        """Close the socket and open a fresh one behind the same descriptor (n2n does after
        repeated supernode failures): the same address, the same port when one was given (-p),
        else a new one; buffers and options as before. The loop must watch the descriptor
        again (its epoll forgot the closed socket). Returns the new local address."""
        sock = self._sock
        fresh = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            fresh.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            _grow_buffer(fresh, SO_RCVBUFFORCE, socket.SO_RCVBUF, self._buffer_bytes)
            _grow_buffer(fresh, SO_SNDBUFFORCE, socket.SO_SNDBUF, self._buffer_bytes)
            for opt, value in self._opts.items():
                fresh.setsockopt(socket.IPPROTO_IP, opt, value)
            os.dup2(fresh.fileno(), sock.fileno(), inheritable=False)  # closes the old socket
        finally:
            fresh.close()
        sock.bind(self._bound)
        sock.setblocking(False)
        if self.gro:
            self.gro = False
            self.set_gro(True)
        return self.local_addr

    def send_with_ttl(self, datagrams: tuple[tuple[bytes, Addr], ...], ttl: int) -> int:
        """n2n -L: these datagrams with IP_TTL `ttl`, then the socket's TTL back (per send, so
        the data path never pays for it); returns how many the kernel refused."""
        sock = self._sock
        old = sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        try:
            return self.send_batch(list(datagrams))
        finally:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, old)

    def send_runs(self, datagrams: list[tuple[bytes, Addr]]) -> int:
        """As `send_batch`, but a run of datagrams to one address, of one size (its last may be
        shorter), goes in one UDP_SEGMENT send: a relaying supernode's flush is mostly such runs
        (one TCP flow's segments), and one send for a run costs about what one datagram did."""
        n = len(datagrams)
        if n < 2 or self._gso_refused >= _GSO_GIVE_UP:
            return self.send_batch(datagrams)
        sendto = self._sock.sendto
        failed = i = 0
        while i < n:
            data, addr = datagrams[i]
            size = len(data)
            j = i + 1
            while j < n and datagrams[j][1] == addr and len(datagrams[j][0]) == size:
                j += 1
            if j < n and datagrams[j][1] == addr and len(datagrams[j][0]) < size:
                j += 1  # a shorter last segment ends the run
            if j - i == 1:
                try:
                    sendto(data, addr)
                except BlockingIOError:
                    failed += not self._send_when_writable(data, addr)
                except OSError:
                    failed += 1
            else:
                failed += self.send_gso(b"".join([d for d, _ in datagrams[i:j]]), size, addr)
            i = j
        return failed

    def _send_when_writable(self, data: bytes, addr: Addr) -> bool:
        """The send buffer is full (a broadcast to thousands of edges): wait for room up to
        SEND_WAIT seconds, as n2n's blocking socket would, then send once more."""
        try:
            if not select.select((), (self._sock,), (), SEND_WAIT)[1]:
                return False
            self._sock.sendto(data, addr)
        except OSError:
            return False
        return True

    # ---------------------------------------------------------------- fast path

    def set_gro(self, on: bool) -> bool:
        """Let the kernel merge datagrams of a flow (UDP_GRO); False if it cannot."""
        try:
            self._sock.setsockopt(SOL_UDP, UDP_GRO, 1 if on else 0)
        except OSError:
            return False
        if self.gro and not on:
            self._gro_drain = True  # datagrams merged before this stay merged
        self.gro = on
        self.gro_reading = on or self._gro_drain
        return True

    def recv_gro_batch(self, max_n: int = 64) -> list[tuple[bytes, int, Addr]]:
        """Up to `max_n` (data, segment size or 0 if not merged, sender) reads, fewer after
        TURN_BYTES (io/steering.py)."""
        recvmsg = self._sock.recvmsg
        out: list[tuple[bytes, int, Addr]] = []
        append = out.append
        total = 0
        for _ in range(max_n):
            if total >= TURN_BYTES:
                break
            try:
                data, anc, _flags, addr = recvmsg(GRO_READ, 64)
            except BlockingIOError:
                self._gro_drain = False
                self.gro_reading = self.gro
                break
            except OSError:
                self.recv_errors += 1
                continue
            seg = 0
            for level, kind, value in anc:
                if level == SOL_UDP and kind == UDP_GRO and len(value) >= 4:
                    seg = _INT.unpack_from(value)[0]
            append((data, seg, addr))
            total += len(data)
        return out

    def send_gso(self, buf: bytes | bytearray, segment: int, addr: Addr) -> int:
        """Send `buf` as datagrams of `segment` bytes (the last may be shorter); returns how many
        sends the kernel refused (a refused UDP_SEGMENT send counts once)."""
        total = len(buf)
        failed = 0
        off = 0
        if self._gso_refused < _GSO_GIVE_UP:
            cmsg = _gso_cmsg(segment)
            step = segment * min(UDP_MAX_SEGMENTS, UDP_MAX_PAYLOAD // segment)
            if total <= step:  # the usual case: one packet, one send, no slicing
                try:
                    self._sock.sendmsg((buf,), cmsg, 0, addr)
                    return 0
                except OSError as exc:
                    if exc.errno not in _GSO_REFUSED:
                        return 1
                    self._gso_refused += 1
            else:
                off, failed = self._send_gso_steps(memoryview(buf), step, cmsg, addr)
        view = memoryview(buf)
        sendto = self._sock.sendto
        while off < total:  # one by one, where the kernel refuses UDP_SEGMENT
            try:
                sendto(view[off : off + segment], addr)
            except OSError:
                failed += 1
            off += segment
        return failed

    def _send_gso_steps(
        self, view: memoryview, step: int, cmsg: list[tuple[int, int, bytes]], addr: Addr
    ) -> tuple[int, int]:
        """`view` in UDP_SEGMENT sends of `step` bytes; returns where a refusal of UDP_SEGMENT
        stopped it (the end when none did) and how many sends failed otherwise."""
        sendmsg = self._sock.sendmsg
        total = len(view)
        off = failed = 0
        while off < total:
            try:
                sendmsg([view[off : off + step]], cmsg, 0, addr)
            except OSError as exc:
                if exc.errno in _GSO_REFUSED:
                    self._gso_refused += 1
                    return off, failed
                failed += 1
            off += step
        return total, failed

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> UdpSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_group_listener(group: str, port: int) -> socket.socket:
    """A non-blocking socket on `port` that has joined the IPv4 multicast `group` on the default
    interface (n2n's LAN discovery, 224.0.0.68:1968); shared with other edges on the host
    (SO_REUSEADDR, as n2n). Raises OSError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        mreq = socket.inet_aton(group) + socket.inet_aton("0.0.0.0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def local_address_towards(addr: Addr) -> str | None:
    """The local IPv4 address of the route to `addr` (n2n `-e auto`): a connected UDP socket
    sends nothing, the kernel only picks the source. None when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(addr)
        except OSError:
            return None
        return str(probe.getsockname()[0])


class ManagementSocket:
    """The n2n management port: text/JSON requests on localhost UDP, one datagram each."""

    __slots__ = ("_sock",)

    def __init__(self, port: int, bind_addr: str = "127.0.0.1") -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((bind_addr, port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno,
                f"cannot bind the management port {bind_addr}:{port} ({exc.strerror}); "
                "choose another with -t",
            ) from exc
        self._sock = sock

    @property
    def local_port(self) -> int:
        return int(self._sock.getsockname()[1])

    def fileno(self) -> int:
        return self._sock.fileno()

    def recvfrom(self, bufsize: int = N2N_PKT_BUF_SIZE) -> tuple[bytes, Addr] | None:
        """One request, or None when none is waiting."""
        try:
            data, addr = self._sock.recvfrom(bufsize)
        except OSError:  # EAGAIN, or a stale ICMP error: nothing to answer either way
            return None
        return data, addr

    def sendto(self, data: bytes, addr: Addr) -> bool:
        try:
            self._sock.sendto(data, addr)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ManagementSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
