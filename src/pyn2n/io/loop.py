"""The event loop that binds one sans-IO node (core/api.py) to its UDP socket and TAP device.

One thread, one `select.epoll` (used directly: the `selectors` wrapper's bookkeeping per wake-up
showed in profiles), non-blocking fds drained up to `batch` items per wake-up, then the node's
outputs flushed (frames to the TAP first, then datagrams). Stock asyncio datagram transports are
3x slower here (docs/runtime-facts.md), so the data path never goes through asyncio.

An edge with the fast path (core/fastpath.py) runs on a TAP opened with `vnet_hdr=True`: frames
are read with their virtio header (stripped here while no fast-path peer exists, so the standard
path costs what it did). The fast path says when the TAP's TSO/checksum offloads should be on
(`FastPath.offload`: while a flow runs on it and little traffic goes to peers without it) and
when the socket's UDP_GRO should be (`FastPath.gro`: while packets of many datagrams arrive);
the loop applies both after each flush.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from pyn2n.core.api import EdgeNode, Event, Node
from pyn2n.io.linux import TUN_F_FASTPATH
from pyn2n.io.tap import TapDevice
from pyn2n.io.udp import UdpSocket

BATCH = 64
# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_HEAP_KEEP = 32 << 20


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
    ok = mallopt(_M_MMAP_THRESHOLD, 1 << 20) == 1
    return mallopt(_M_TRIM_THRESHOLD, _HEAP_KEEP) == 1 and ok


class HasFileno(Protocol):
    def fileno(self) -> int: ...


class EventLoop:
    """Runs `node` until `stop()`; the TAP is optional (a supernode has none).

    Typical shutdown: `loop.stop_on_signals()`, `loop.run()` returns after SIGINT/SIGTERM, the caller
    asks the node to say goodbye (UNREGISTER_SUPER), then `loop.flush()` sends it.
    """

    def __init__(
        self,
        node: Node,
        udp: UdpSocket,
        tap: TapDevice | None = None,
        *,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        batch: int = BATCH,
    ) -> None:
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
        # the edge's fast path, when its frames come with virtio headers
        self._fast = getattr(node, "fastpath", None) if tap is not None and tap.vnet_hdr else None
        if self._fast is not None:
            keep_heap()
        self.offload_on = False  # TAP TSO/checksum offloads
        self.gro_on = False
        self.flush = self._make_flush(node, udp, tap, on_event)
        self._register(udp.fileno(), self._make_udp_reader(node, udp, batch))
        if tap is not None:
            self._register(tap.fileno(), self._make_tap_reader(node, tap, batch))

    def _register(self, fd: int, handler: Callable[[], None]) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._handlers[fd] = handler

    # The per-fd handlers are closures so that every name the hot path touches is a local.

    def _make_flush(
        self,
        node: Node,
        udp: UdpSocket,
        tap: TapDevice | None,
        on_event: Callable[[Event], None] | None,
    ) -> Callable[[], None]:
        datagrams_to_send = node.datagrams_to_send
        send_batch = udp.send_batch
        events = node.events
        frames_to_write = cast(EdgeNode, node).frames_to_write if tap is not None else None
        write_batch = tap.write_batch if tap is not None else None
        fast = self._fast
        if fast is not None and tap is not None:
            gso_to_send = cast(Any, node).gso_datagrams_to_send
            vnet_frames_to_write = cast(Any, node).vnet_frames_to_write
            send_gso = udp.send_gso
            write_vnet_batch = tap.write_vnet_batch
            set_offload = self._set_offload

            def flush_fast() -> None:
                for buf, segment, addr in gso_to_send():
                    send_gso(buf, segment, addr)
                if fast.offload != self.offload_on or fast.gro != self.gro_on:
                    set_offload(tap, udp, fast.offload, fast.gro)

        def flush() -> None:
            """Hand everything the node has queued to the kernel (and its events to `on_event`).

            Frames go to the TAP before datagrams leave: a reply the kernel makes to a frame
            (an echo, an ACK) is then ready for the next TAP read sooner."""
            if frames_to_write is not None and write_batch is not None:
                frames = frames_to_write()
                if frames:
                    write_batch(frames)
                if fast is not None:
                    vnet_frames = vnet_frames_to_write()
                    if vnet_frames:
                        write_vnet_batch(vnet_frames)
            datagrams = datagrams_to_send()
            if datagrams:
                send_batch(datagrams)
            if fast is not None:
                flush_fast()
            # Drained even without a listener so the node's queue cannot grow.
            pending = events()
            if on_event is not None:
                for event in pending:
                    on_event(event)

        return flush

    def _set_offload(self, tap: TapDevice, udp: UdpSocket, tso: bool, gro: bool) -> None:
        """TSO/checksum offloads on the TAP and UDP_GRO on the socket, for the fast path."""
        if tso != self.offload_on:
            self.offload_on = tso
            with contextlib.suppress(OSError):  # refused: super-frames just never appear
                tap.set_offload(TUN_F_FASTPATH if tso else 0)
        if gro != self.gro_on:
            self.gro_on = gro
            udp.set_gro(gro)

    def _make_udp_reader(self, node: Node, udp: UdpSocket, batch: int) -> Callable[[], None]:
        recv_batch = udp.recv_batch
        receive_datagram = node.receive_datagram
        clock = self._clock
        flush = self.flush
        if self._fast is None:

            def on_udp() -> None:
                now = clock()
                for data, addr in recv_batch(batch):
                    receive_datagram(data, addr, now)
                flush()

            return on_udp

        recv_gro_batch = udp.recv_gro_batch
        receive_gro = cast(Any, node).receive_gro

        def on_udp_fast() -> None:
            now = clock()
            if udp.gro_reading:
                for data, segment, addr in recv_gro_batch(batch):
                    if segment and len(data) > segment:
                        receive_gro(data, segment, addr, now)
                    else:
                        receive_datagram(data, addr, now)
            else:
                for data, addr in recv_batch(batch):
                    receive_datagram(data, addr, now)
            flush()

        return on_udp_fast

    def _make_tap_reader(self, node: Node, tap: TapDevice, batch: int) -> Callable[[], None]:
        read_batch = tap.read_batch
        receive_frame = cast(EdgeNode, node).receive_frame
        clock = self._clock
        flush = self.flush
        if not tap.vnet_hdr:

            def on_tap() -> None:
                now = clock()
                for frame in read_batch(batch):
                    receive_frame(frame, now)
                flush()

            return on_tap

        receive_vnet_frames = cast(Any, node).receive_vnet_frames

        def on_vnet_tap() -> None:
            receive_vnet_frames(read_batch(batch), clock())
            flush()

        return on_vnet_tap

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

    def remove_reader(self, fileobj: int | HasFileno) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._epoll.unregister(fd)
        del self._handlers[fd]

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
                handler = handlers.get(fd)  # None: an earlier handler removed this reader
                if handler is not None:
                    handler()

    def close(self) -> None:
        """Release the epoll and wake-up pipe; the UDP socket and TAP stay the caller's."""
        self._epoll.close()
        if self._wake_w >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            # Stale numbers could be reused by unrelated files that stop() would then write to.
            self._wake_r = self._wake_w = -1
