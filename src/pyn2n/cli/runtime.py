"""What `pyn2n edge` and `pyn2n supernode` do alike once their node is built: open the UDP and
management sockets (a failure names the flag to change), serve the management port, pass events
to the log and to subscribers, stop on SIGINT/SIGTERM, and close everything in order."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyn2n.cli.common import UsageError
from pyn2n.core.events import Event, PeerEvent
from pyn2n.io.loop import EventLoop
from pyn2n.io.tap import TapDevice
from pyn2n.io.udp import ManagementSocket, UdpSocket
from pyn2n.mgmt.protocol import Control, Management


def bind_udp(bind: str, port: int, flag: str = "-p") -> UdpSocket:
    try:
        return UdpSocket(bind, port)
    except OSError as exc:
        raise UsageError(
            f"{flag} {bind}:{port}: cannot bind ({exc.strerror}); pick another port with {flag}"
        ) from None


def open_management(port: int) -> ManagementSocket:
    try:
        return ManagementSocket(port)
    except OSError as exc:
        raise UsageError(
            f"-t {port}: management port busy ({exc.strerror}); pick another with -t"
        ) from None


@dataclass
class Runtime:
    """One node bound to its sockets (and TAP); `run()` serves until a signal or `stop`."""

    node: Any
    role: str  # "edge" | "supernode"
    udp: UdpSocket
    mgmt_sock: ManagementSocket
    control: Control
    password: str
    log: logging.Logger
    tap: TapDevice | None = None
    # called for node events before they are logged/posted; True: handled, do not log it
    on_event: Callable[[Event], bool] | None = None
    # what management reads (`mgmt_<method>`, `status_text`); default: the node itself
    views: Any = None
    _loop: EventLoop = field(init=False)

    def __post_init__(self) -> None:
        views = self.node if self.views is None else self.views
        self.mgmt = Management(views, role=self.role, password=self.password, control=self.control)
        self._loop = EventLoop(self.node, self.udp, self.tap, on_event=self._event)
        self.control.on_stop = self._loop.stop
        self._loop.add_reader(self.mgmt_sock, self._serve_management)
        self._loop.stop_on_signals((signal.SIGINT, signal.SIGTERM))

    @property
    def loop(self) -> EventLoop:
        return self._loop

    def _event(self, event: Event) -> None:
        if self.on_event is not None and self.on_event(event):
            pass
        elif not isinstance(event, PeerEvent):
            self.log.info("%s %s", event.kind, event.data())
        for data, addr in self.mgmt.post(event):
            self.mgmt_sock.sendto(data, addr)

    def _serve_management(self) -> None:
        while (req := self.mgmt_sock.recvfrom()) is not None:
            for data, addr in self.mgmt.handle(req[0], req[1], time.monotonic()):
                self.mgmt_sock.sendto(data, addr)

    def run(self) -> int:
        try:
            self._loop.run()
        finally:
            self.log.info("stopping")
            self.node.shutdown(time.monotonic())  # an edge's UNREGISTER_SUPER
            self._loop.flush()
            self._loop.close()
            if self.tap is not None:
                self.tap.close()
            self.udp.close()
            self.mgmt_sock.close()
        return 0
