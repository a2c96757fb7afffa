"""The shape every sans-IO node (edge, supernode) offers its drivers — aioquic's, in short.

Inputs: `receive_datagram(data, addr, now)`, `receive_frame(frame, now)` (edge), `handle_timer(now)`.
Outputs, drained by the driver after each input: `datagrams_to_send()`, `frames_to_write()` (edge),
`events()`, and `get_timer()` — the absolute time (same clock as `now`) of the next deadline.
A node never raises on remote input: it drops and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Addr = tuple[str, int]  # (IPv4 address text, UDP port)


@dataclass(slots=True)
class Event:
    """Something a driver or the management port may want to know (peer added, registered …)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class MgmtError(Exception):
    """Raised by a node's `mgmt_<method>` to answer with an n2n error word, e.g. "noaccess"."""


class Node(Protocol):
    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]: ...

    def events(self) -> list[Event]: ...


class EdgeNode(Node, Protocol):
    def receive_frame(self, frame: bytes, now: float) -> None: ...

    def frames_to_write(self) -> list[bytes]: ...
