"""The event loops that bind one sans-IO node (core/api.py) to its UDP socket and TAP device.

One thread, one `select.epoll` (used directly: the `selectors` wrapper's bookkeeping per wake-up
showed in profiles), non-blocking fds read one item per wake-up, or drained up to `batch` items while
busy (`BUSY`), then the node's outputs flushed (frames to the TAP first, then datagrams). Stock asyncio datagram transports are
3x slower here (docs/runtime-facts.md), so the data path never goes through asyncio.

The caller says which node it binds, and the loop calls only what `core/api.py` declares for it:
`EventLoop` a `Node` without a TAP (a supernode), `EdgeLoop` an `EdgeNode` on a plain TAP,
`FastEdgeLoop` a `FastEdgeNode` on a TAP opened with `vnet_hdr=True`, whose frames keep their
virtio header; its flush takes those frames, the GSO buffers and the offloads the node asks
for (TSO/checksum offloads on the TAP, UDP_GRO on the socket) from one `node.fast_outputs()`. Datagrams the kernel refused are
reported with `node.send_failed(count)` after the flush that met them. What one small frame
costs here, stage by stage: docs/performance.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Protocol

from pyn2n.core.api import EdgeNode, FastEdgeNode, Node, Offload
from pyn2n.core.events import Event
from pyn2n.io.addrwatch import AddressWatch
from pyn2n.io.linux import TUN_F_FASTPATH
from pyn2n.io.tap import TapDevice
from pyn2n.io.udp import UdpSocket

BATCH = 64
# A descriptor woken again within this many seconds of the end of its last wake-up is busy: its
# next wakes drain it up to BATCH items (until a drain finds a single one). Otherwise a wake-up
# reads one item: a lone frame (a ping, a request) then costs one read, not a second one ending
# in EAGAIN (an exception in Python: about as much as the read itself), and a level-triggered
# epoll wakes the loop again at once if more were waiting. (Measured from the end, so that a
# slow wake-up under a flood does not pass for a pause.)
BUSY = 50e-6
# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_HEAP_KEEP = 32 << 20

Clock = Callable[[], float]
OnEvent = Callable[[Event], None]


def keep_heap() -> bool:
    """Have glibc keep freed heap memory instead of returning it to the kernel at once.

    A batch of 64 KiB super-frames (TAP reads, GRO reads, sealed packets) is freed after each
    flush; with glibc's default trim threshold the top of the heap then goes back to the kernel
    and the next batch page-faults it in again, which cost about a fifth of each fast-path edge's
    CPU time (docs/fastpath.md). Up to 32 MiB of free heap stay mapped, and blocks below 1 MiB
    come from the heap rather than their own mmap. False where the C library has no `mallopt`.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    ok: bool = mallopt(_M_MMAP_THRESHOLD, 1 << 20) == 1
    trimmed: bool = mallopt(_M_TRIM_THRESHOLD, _HEAP_KEEP) == 1
    return trimmed and ok


def _ignore() -> None:
    pass


class HasFileno(Protocol):
    def fileno(self) -> int: ...


class EventLoop:
    """Runs a node without a TAP (a supernode) until `stop()`; `EdgeLoop` and `FastEdgeLoop` add
    the TAP.

    Typical shutdown: `loop.stop_on_signals()`, `loop.run()` returns after SIGINT/SIGTERM, the caller
    asks the node to say goodbye (UNREGISTER_SUPER), then `loop.flush()` sends it.
    """

    flush: Callable[[], None]

    def __init__(
        self,
        node: Node,
        udp: UdpSocket,
        *,
        on_event: OnEvent | None = None,
        clock: Clock = time.monotonic,
        batch: int = BATCH,
    ) -> None:
        self._open(node, clock)
        self.flush = _node_flush(node, udp, on_event)
        self._register(udp.fileno(), _udp_reader(node, udp, batch, clock, self.flush))

    def _open(self, node: Node, clock: Clock) -> None:
        """What every loop has: the node's timers, the epoll, and the wake-up pipe."""
        self._node = node
        self._clock = clock
        self._stopping = False
        # called in the loop after each wake-up; lets a signal handler defer work to the loop
        self.on_wake: Callable[[], None] | None = None
        # raw epoll: selectors' per-wake bookkeeping showed in profiles of the fast path
        self._epoll = select.epoll()
        self._handlers: dict[int, Callable[[], None]] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._register(self._wake_r, self._drain_wake)

    def _register(self, fd: int, handler: Callable[[], None]) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._handlers[fd] = handler

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        if self.on_wake is not None:
            self.on_wake()

    def add_reader(self, fileobj: int | HasFileno, callback: Callable[[], None]) -> None:
        """Call `callback()` whenever `fileobj` is readable (e.g. the management socket).

        The node's outputs are flushed after each call, so a callback may act on the node.
        """
        flush = self.flush

        def on_ready() -> None:
            callback()
            flush()

        self._register(fileobj if isinstance(fileobj, int) else fileobj.fileno(), on_ready)

    def watch(self, fd: int, callback: Callable[[], None], *, writable: bool = False) -> None:
        """As `add_reader`, for a descriptor that comes and goes (a TCP link): `writable` also
        wakes on room to write (a connect in progress, bytes waiting); `unwatch` removes it."""
        flush = self.flush

        def on_ready() -> None:
            callback()
            flush()

        self._epoll.register(fd, select.EPOLLIN | (select.EPOLLOUT if writable else 0))
        self._handlers[fd] = on_ready

    def set_writable(self, fd: int, on: bool) -> None:
        self._epoll.modify(fd, select.EPOLLIN | (select.EPOLLOUT if on else 0))

    def unwatch(self, fd: int) -> None:
        """Stop watching `fd` (before it is closed). Its handler becomes a no-op rather than
        going, since `run()` may still hold an event for it from the same poll."""
        if fd in self._handlers:
            self._epoll.unregister(fd)
            self._handlers[fd] = _ignore

    def watch_addresses(self, node: EdgeNode, watch: AddressWatch) -> None:
        """Tell `node` the TAP's addresses now and after every change the kernel reports (a VIP
        added by keepalived): the watch's netlink socket is polled with the others."""
        set_local_addresses = node.set_local_addresses
        set_local_addresses(watch.addresses)

        def on_change() -> None:
            changed = watch.read()
            if changed is not None:
                set_local_addresses(changed)

        self.add_reader(watch, on_change)

    def rewatch(self, fd: int) -> None:
        """The file behind `fd` was replaced (a re-opened socket, `UdpSocket.reopen`): watch the
        new one with the same handler (epoll dropped the closed one by itself)."""
        with contextlib.suppress(FileNotFoundError):
            self._epoll.unregister(fd)
        self._epoll.register(fd, select.EPOLLIN)

    def stop(self) -> None:
        """Make `run()` return soon; safe from a signal handler or another thread."""
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        """Interrupt the wait in `run()` (then `on_wake` runs); safe from a signal handler."""
        if self._wake_w >= 0:
            # A full pipe means a wake-up is already pending.
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"\0")

    def stop_on_signals(self, signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        """Install handlers that call `stop()` (main thread only, like any `signal.signal`)."""
        for signum in signums:
            signal.signal(signum, lambda _signum, _frame: self.stop())

    def run(self) -> None:
        """Serve I/O and timers until `stop()`; returns at once if `stop()` came earlier."""
        poll = self._epoll.poll
        handlers = self._handlers
        clock = self._clock
        get_timer = self._node.get_timer
        handle_timer = self._node.handle_timer
        flush = self.flush
        while not self._stopping:
            deadline = get_timer()
            if deadline is None:
                timeout = -1.0
            else:
                now = clock()
                if deadline <= now:
                    handle_timer(now)
                    flush()
                    deadline = get_timer()
                # Never negative: a node whose deadline stays in the past still lets I/O through.
                timeout = -1.0 if deadline is None else max(0.0, deadline - now)
            for fd, _mask in poll(timeout):
                handlers[fd]()

    def close(self) -> None:
        """Release the epoll and wake-up pipe; the UDP socket and TAP stay the caller's."""
        self._epoll.close()
        if self._wake_w >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            # Stale numbers could be reused by unrelated files that stop() would then write to.
            self._wake_r = self._wake_w = -1


class EdgeLoop(EventLoop):
    """Runs an edge on a plain TAP (one Ethernet frame per read and write)."""

    def __init__(
        self,
        node: EdgeNode,
        udp: UdpSocket,
        tap: TapDevice,
        *,
        on_event: OnEvent | None = None,
        clock: Clock = time.monotonic,
        batch: int = BATCH,
    ) -> None:
        self._open(node, clock)
        self.flush = flush = _edge_flush(node, udp, tap, on_event)
        # short frames (tap.priority): served after every batch turn of the others, too
        urgent = None
        if tap.priority is not None:
            urgent = _tap_reader(node, tap.priority, batch, clock, flush)
            self._register(tap.priority.fileno(), urgent)
        self._register(udp.fileno(), _udp_reader(node, udp, batch, clock, flush, urgent))
        self._register(tap.fileno(), _tap_reader(node, tap, batch, clock, flush, urgent))


class FastEdgeLoop(EventLoop):
    """Runs an edge with the fast path on a TAP opened with `vnet_hdr=True`."""

    def __init__(
        self,
        node: FastEdgeNode,
        udp: UdpSocket,
        tap: TapDevice,
        *,
        on_event: OnEvent | None = None,
        clock: Clock = time.monotonic,
        batch: int = BATCH,
    ) -> None:
        if not tap.vnet_hdr:
            raise ValueError("the fast path needs a TAP opened with vnet_hdr=True")
        self._open(node, clock)
        keep_heap()
        self.flush = flush = _fast_flush(node, udp, tap, on_event)
        urgent = None
        if tap.priority is not None:
            urgent = _vnet_tap_reader(node, tap.priority, batch, clock, flush)
            self._register(tap.priority.fileno(), urgent)
        self._register(udp.fileno(), _gro_udp_reader(node, udp, batch, clock, flush, urgent))
        self._register(tap.fileno(), _vnet_tap_reader(node, tap, batch, clock, flush, urgent))


def _apply_offload(tap: TapDevice, udp: UdpSocket, old: Offload, new: Offload) -> None:
    """TSO/checksum offloads on the TAP and UDP_GRO on the socket, as the node asks."""
    if new.tso != old.tso:
        with contextlib.suppress(OSError):  # refused: super-frames just never appear
            tap.set_offload(TUN_F_FASTPATH if new.tso else 0)
    if new.gro != old.gro:
        udp.set_gro(new.gro)


# The per-fd handlers and flushes are closures so that every name the hot path touches is a local.


def _node_flush(node: Node, udp: UdpSocket, on_event: OnEvent | None) -> Callable[[], None]:
    datagrams_to_send = node.datagrams_to_send
    send_batch = udp.send_runs  # a supernode: runs of relayed datagrams in one send each
    send_failed = node.send_failed
    events = node.events

    def flush() -> None:
        """Hand the node's datagrams to the kernel (and its events to `on_event`)."""
        datagrams = datagrams_to_send()
        if datagrams:
            failed = send_batch(datagrams)
            if failed:
                send_failed(failed)
        # Drained even without a listener so the node's queue cannot grow.
        pending = events()
        if pending and on_event is not None:
            for event in pending:
                on_event(event)

    return flush


def _edge_flush(
    node: EdgeNode, udp: UdpSocket, tap: TapDevice, on_event: OnEvent | None
) -> Callable[[], None]:
    frames_to_write = node.frames_to_write
    write_batch = tap.write_batch
    datagrams_to_send = node.datagrams_to_send
    send_batch = udp.send_batch
    send_failed = node.send_failed
    events = node.events

    def flush() -> None:
        """As a node's flush, with the frames first: they go to the TAP before datagrams leave, so
        a reply the kernel makes to a frame (an echo, an ACK) is ready for the next TAP read
        sooner."""
        frames = frames_to_write()
        if frames:
            write_batch(frames)
        datagrams = datagrams_to_send()
        if datagrams:
            failed = send_batch(datagrams)
            if failed:
                send_failed(failed)
        pending = events()
        if pending and on_event is not None:
            for event in pending:
                on_event(event)

    return flush


def _fast_flush(
    node: FastEdgeNode,
    udp: UdpSocket,
    tap: TapDevice,
    on_event: OnEvent | None,
) -> Callable[[], None]:
    frames_to_write = node.frames_to_write
    fast_outputs = node.fast_outputs
    write_batch = tap.write_batch
    write_vnet_batch = tap.write_vnet_batch
    datagrams_to_send = node.datagrams_to_send
    send_batch = udp.send_batch
    send_gso = udp.send_gso
    send_failed = node.send_failed
    events = node.events
    applied = Offload(tso=False, gro=False)  # in force on the TAP and the socket

    def flush() -> None:
        """As the edge's flush, plus frames behind their virtio header, GSO sends and the
        offloads the node asks for (all three from one `fast_outputs` call)."""
        nonlocal applied
        frames = frames_to_write()
        if frames:
            write_batch(frames)
        vnet_frames, gso, want = fast_outputs()
        if vnet_frames:
            write_vnet_batch(vnet_frames)
        datagrams = datagrams_to_send()
        failed = send_batch(datagrams) if datagrams else 0
        if gso:
            for buf, segment, addr in gso:
                failed += send_gso(buf, segment, addr)
        if failed:
            send_failed(failed)
        # the node answers with one of four constant objects: an identity test suffices
        if want is not applied:
            if want != applied:
                _apply_offload(tap, udp, applied, want)
            applied = want
        pending = events()
        if pending and on_event is not None:
            for event in pending:
                on_event(event)

    return flush


def _udp_reader(
    node: Node,
    udp: UdpSocket,
    batch: int,
    clock: Clock,
    flush: Callable[[], None],
    urgent: Callable[[], None] | None = None,
) -> Callable[[], None]:
    recv_batch = udp.recv_batch
    recv_one = udp.recv_one
    receive_datagram = node.receive_datagram
    busy = False
    last = float("-inf")

    def on_udp() -> None:
        # One read per wake unless the socket is busy (see `BUSY`): a lone datagram pays no
        # second recvfrom that only ends in EAGAIN.
        nonlocal busy, last
        now = clock()
        if busy:
            got = recv_batch(batch)
            for data, addr in got:
                receive_datagram(data, addr, now)
            busy = len(got) > 1
            flush()
            if urgent is not None:
                urgent()  # short TAP frames do not wait for the next poll
        else:
            one = recv_one()
            if one is not None:
                receive_datagram(one[0], one[1], now)
            busy = now - last < BUSY
            flush()
        last = clock()

    return on_udp


def _gro_udp_reader(
    node: FastEdgeNode,
    udp: UdpSocket,
    batch: int,
    clock: Clock,
    flush: Callable[[], None],
    urgent: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """While UDP_GRO is on, merged reads; otherwise the plain reader (one home for its rule)."""
    plain = _udp_reader(node, udp, batch, clock, flush, urgent)
    recv_gro_batch = udp.recv_gro_batch
    receive_datagram = node.receive_datagram
    receive_gro = node.receive_gro

    def on_udp_fast() -> None:
        if not udp.gro_reading:
            plain()
            return
        now = clock()
        for data, segment, addr in recv_gro_batch(batch):
            if segment and len(data) > segment:
                receive_gro(data, segment, addr, now)
            else:
                receive_datagram(data, addr, now)
        flush()
        if urgent is not None:
            urgent()

    return on_udp_fast


def _frame_reader(
    read_one: Callable[[], bytes | None],
    read_batch: Callable[[int], list[bytes]],
    one: Callable[[bytes, float], None],
    many: Callable[[list[bytes], float], None],
    batch: int,
    clock: Clock,
    flush: Callable[[], None],
    urgent: Callable[[], None] | None,
) -> Callable[[], None]:
    """A TAP reader: one frame per wake unless the device is busy (see `BUSY`), as `_udp_reader`;
    `urgent` (the short frames' queue) runs after each batch."""
    busy = False
    last = float("-inf")

    def on_tap() -> None:
        nonlocal busy, last
        now = clock()
        if busy:
            frames = read_batch(batch)
            many(frames, now)
            busy = len(frames) > 1
            flush()
            if urgent is not None:
                urgent()
        else:
            frame = read_one()
            if frame is not None:
                one(frame, now)
            busy = now - last < BUSY
            flush()
        last = clock()

    return on_tap


def _tap_reader(
    node: EdgeNode,
    tap: TapDevice,
    batch: int,
    clock: Clock,
    flush: Callable[[], None],
    urgent: Callable[[], None] | None = None,
) -> Callable[[], None]:
    receive_frame = node.receive_frame

    def receive_frames(frames: list[bytes], now: float) -> None:
        for frame in frames:
            receive_frame(frame, now)

    return _frame_reader(
        tap.read, tap.read_batch, receive_frame, receive_frames, batch, clock, flush, urgent
    )


def _vnet_tap_reader(
    node: FastEdgeNode,
    tap: TapDevice,
    batch: int,
    clock: Clock,
    flush: Callable[[], None],
    urgent: Callable[[], None] | None = None,
) -> Callable[[], None]:
    return _frame_reader(
        tap.read,
        tap.read_batch,
        node.receive_vnet_frame,
        node.receive_vnet_frames,
        batch,
        clock,
        flush,
        urgent,
    )
