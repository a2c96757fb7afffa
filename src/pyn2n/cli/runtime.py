"""What `pyn2n edge` and `pyn2n supernode` do alike once their node is built: open the UDP and
management sockets (a failure names the flag to change), serve the management port, pass events
to the log and to subscribers, stop on SIGINT/SIGTERM, and close everything in order."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from pyn2n.cli.common import UsageError
from pyn2n.cli.logsetup import event_extra
from pyn2n.cli.watch import Background, Ticker
from pyn2n.core.api import FastEdgeNode, Node
from pyn2n.core.events import (
    Event,
    OperatorNotice,
    OperatorWarning,
    PeerEvent,
    RegistrationRefused,
)
from pyn2n.io.loop import EdgeLoop, EventLoop, FastEdgeLoop
from pyn2n.io.tap import TapDevice
from pyn2n.io.udp import ManagementSocket, UdpSocket
from pyn2n.io.underlay import Underlay
from pyn2n.mgmt.protocol import Control, Management

# called for node events before they are logged/posted; True: handled, do not log it
OnEvent = Callable[[Event], bool]


def bind_udp(
    bind: str, port: int, flag: str = "-p", *, ipv6: str | None = None, tcp: str | None = None
) -> UdpSocket:
    """The node's UDP socket; `ipv6` also binds that IPv6 address ("::": all) on the same port
    number; `tcp="listen"` (a supernode) also accepts n2n's TCP links on it, `tcp="dial"` (an
    edge with -S2) reaches its supernodes over TCP (`io/underlay.py`)."""
    try:
        if ipv6 is None and tcp is None:
            return UdpSocket(bind, port)
        return Underlay(bind, port, ipv6=ipv6, tcp=tcp)
    except OSError as exc:
        raise UsageError(
            f"{flag} {bind}:{port}: cannot bind ({exc.strerror}); pick another port with {flag}"
        ) from None


def open_management(port: int) -> ManagementSocket:
    try:
        return ManagementSocket(port)
    except OSError as exc:
        # the socket's own message already advises -t; name the flag once
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UsageError(
            f"-t {port}: cannot open the management port ({why}); pick another with -t"
        ) from None


class Runtime:
    """One node without a TAP (a supernode) bound to its sockets; `run()` serves until a signal or
    a management `stop`. `views` answers the management methods (`mgmt_<method>`, `status_text`);
    by default the node itself."""

    tap: TapDevice | None = None

    def __init__(
        self,
        node: Node,
        role: str,  # "edge" | "supernode"
        udp: UdpSocket,
        mgmt_sock: ManagementSocket,
        control: Control,
        password: str,
        log: logging.Logger,
        *,
        on_event: OnEvent | None = None,
        views: object | None = None,
    ) -> None:
        self.node = node
        self.role = role
        self.udp = udp
        self.mgmt_sock = mgmt_sock
        self.log = log
        self.on_event = on_event
        self.mgmt = Management(
            node if views is None else views,
            role=role,
            password=password,
            control=control,
            io_drops=self._io_drops,
        )
        self._loop = self._make_loop()
        if isinstance(udp, Underlay):
            udp.attach(self._loop, node.receive_datagram)
        control.on_stop = self._loop.stop
        self._loop.add_reader(mgmt_sock, self._serve_management)
        self._loop.stop_on_signals((signal.SIGINT, signal.SIGTERM))
        self._wake_hooks: list[Callable[[], None]] = []
        self._loop.on_wake = self._on_wake
        self._threads: list[Background] = []
        self._start_hooks: list[Callable[[], None]] = []
        self._stop_hooks: list[Callable[[], None]] = []

    def add_start_hook(self, hook: Callable[[], None]) -> None:
        """Run `hook()` when `run()` starts, before any helper thread (the privilege drop,
        READY=1)."""
        self._start_hooks.append(hook)

    def add_stop_hook(self, hook: Callable[[], None]) -> None:
        """Run `hook()` when the loop has stopped, before the goodbye (STOPPING=1)."""
        self._stop_hooks.append(hook)

    def add_wake_hook(self, hook: Callable[[], None], *, tick: bool = False) -> None:
        """Run `hook()` in the loop after each wake-up (a signal, another thread); `tick`: wake
        the loop every second too (`cli/watch.py`)."""
        self._wake_hooks.append(hook)
        if tick and not any(isinstance(t, Ticker) for t in self._threads):
            self._threads.append(Ticker(self._loop.wake))

    def add_event_hook(self, hook: Callable[[Event], None]) -> None:
        """Also hand every node event to `hook` (in the loop, before it is logged)."""
        first = self.on_event

        def on_event(event: Event) -> bool:
            hook(event)
            return first is not None and first(event)

        self.on_event = on_event

    def add_thread(self, thread: Background) -> None:
        """A helper thread (it may call `loop.wake()`): started by `run()`, stopped before the
        loop's wake-up pipe is closed."""
        self._threads.append(thread)

    def _on_wake(self) -> None:
        for hook in self._wake_hooks:
            hook()
        self._loop.flush()

    def _make_loop(self) -> EventLoop:
        return EventLoop(self.node, self.udp, on_event=self._event)

    def _io_drops(self) -> dict[str, int]:
        """The drivers' own counts, shown with the node's in the management `drops`."""
        drops = {"udp_recv_error": self.udp.recv_errors}
        tcp = self.udp.tcp if isinstance(self.udp, Underlay) else None
        if tcp is not None:
            drops["tcp_dropped"] = tcp.dropped
            drops["tcp_refused"] = tcp.refused
        if self.tap is not None:
            drops["tap_write_failed"] = self.tap.write_errors
        return drops

    def io_drops(self) -> dict[str, int]:
        """The drivers' own drop counts (for `--metrics` and `--http`)."""
        return self._io_drops()

    @property
    def loop(self) -> EventLoop:
        return self._loop

    def _event(self, event: Event) -> None:
        if self.on_event is not None and self.on_event(event):
            pass
        elif isinstance(event, OperatorWarning):
            # cause and fix, rate-limited by the core
            self.log.warning("%s", event.text, extra=event_extra(event.kind, event.data()))
        elif isinstance(event, OperatorNotice):
            self.log.info("%s", event.text, extra=event_extra(event.kind, event.data()))
        elif isinstance(event, RegistrationRefused):
            self.log.debug("%s %s", event.kind, event.data())  # its warning says it once a minute
        elif not isinstance(event, PeerEvent):
            fields = event.data()
            self.log.info("%s %s", event.kind, fields, extra=event_extra(event.kind, fields))
        for data, addr in self.mgmt.post(event):
            self.mgmt_sock.sendto(data, addr)

    def _serve_management(self) -> None:
        while (req := self.mgmt_sock.recvfrom()) is not None:
            for data, addr in self.mgmt.handle(req[0], req[1], time.monotonic()):
                self.mgmt_sock.sendto(data, addr)

    def run(self) -> int:
        for hook in self._start_hooks:
            hook()
        for thread in self._threads:
            thread.start()
        try:
            self._loop.run()
        finally:
            for thread in self._threads:
                thread.stop()
            for thread in self._threads:
                thread.join(1.0)
            self.log.info("stopping")
            for hook in self._stop_hooks:
                hook()
            self.node.shutdown(time.monotonic())  # an edge's UNREGISTER_SUPER
            self._loop.flush()
            self._loop.close()
            if self.tap is not None:
                self.tap.close()
            self.udp.close()
            self.mgmt_sock.close()
        return 0


class EdgeRuntime(Runtime):
    """An edge bound to its sockets and TAP: the fast path's loop when the TAP was opened with
    virtio headers (`vnet_hdr=True`), the plain one otherwise."""

    def __init__(
        self,
        node: FastEdgeNode,
        udp: UdpSocket,
        mgmt_sock: ManagementSocket,
        control: Control,
        password: str,
        log: logging.Logger,
        tap: TapDevice,
        *,
        on_event: OnEvent | None = None,
        views: object | None = None,
    ) -> None:
        self.edge = node
        self.tap = self._edge_tap = tap
        super().__init__(
            node, "edge", udp, mgmt_sock, control, password, log, on_event=on_event, views=views
        )

    def _make_loop(self) -> EventLoop:
        tap = self._edge_tap
        if tap.vnet_hdr:
            return FastEdgeLoop(self.edge, self.udp, tap, on_event=self._event)
        return EdgeLoop(self.edge, self.udp, tap, on_event=self._event)
