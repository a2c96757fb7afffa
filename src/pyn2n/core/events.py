"""Typed events a core gives its driver and the management port (as aioquic's `events.py`).

Each class names its management topic (`kind`, spec §8 subscriptions) and gives the JSON row
management subscribers see (`data()`); drivers match on the class.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any, ClassVar

# a warning's cause is told once per this many seconds (by the core's `now`)
WARN_PERIOD = 60.0


class PeerAction(IntEnum):
    """§8 `peer` event codes, shared by edge and supernode."""

    PURGE = 1
    CLEAR = 2
    DEL_P2P = 3
    ADD_P2P = 4


@dataclass(slots=True, frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True, frozen=True)
class PeerEvent(Event):
    """A peer left a table (§8 `peer` topic): `sockaddr` is "ip:port"."""

    kind: ClassVar[str] = "peer"
    action: PeerAction
    macaddr: str
    sockaddr: str

    def data(self) -> dict[str, Any]:
        return {"action": int(self.action), "macaddr": self.macaddr, "sockaddr": self.sockaddr}


@dataclass(slots=True, frozen=True)
class IpAssigned(Event):
    """The supernode gave the edge an address (auto-IP): the driver configures the TAP."""

    kind: ClassVar[str] = "ip_assigned"
    ip4addr: str
    prefix: int
    ip4netmask: str
    macaddr: str
    supernode: str


@dataclass(slots=True, frozen=True)
class Registered(Event):
    kind: ClassVar[str] = "registered"
    supernode: str
    first: bool
    public_sock: str


@dataclass(slots=True, frozen=True)
class SupernodeChanged(Event):
    kind: ClassVar[str] = "supernode_changed"
    from_: str
    to: str
    reason: str  # "unresponsive" | "selection"

    def data(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to, "reason": self.reason}


@dataclass(slots=True, frozen=True)
class RegistrationRefused(Event):
    kind: ClassVar[str] = "register_super_nak"
    supernode: str
    reason: str


@dataclass(slots=True, frozen=True)
class OperatorNotice(Event):
    """Something the operator wants in the log (INFO): an edge joined or left a supernode.
    `code` names the cause for machines, `text` is the one log line."""

    kind: ClassVar[str] = "notice"
    code: str
    text: str


@dataclass(slots=True, frozen=True)
class OperatorWarning(OperatorNotice):
    """A wrong setting or an unreachable partner (WARNING): `text` names the cause and the fix.
    Codes and what to do: docs/operating.md, "When something is wrong"."""

    kind: ClassVar[str] = "warning"


class RateLimit:
    """Once per cause per `period` seconds of `now`; remembers at most `bound` causes (the
    oldest is forgotten first), so remote input cannot grow it."""

    __slots__ = ("_last", "bound", "period")

    def __init__(self, period: float = WARN_PERIOD, bound: int = 256) -> None:
        self.period = period
        self.bound = bound
        self._last: dict[Hashable, float] = {}

    def due(self, cause: Hashable, now: float) -> bool:
        """True (and remembered) if `cause` was not told within the last `period` seconds."""
        last = self._last.pop(cause, None)
        if last is not None and now - last < self.period:
            self._last[cause] = last
            return False
        if len(self._last) >= self.bound:
            del self._last[next(iter(self._last))]
        self._last[cause] = now
        return True


@dataclass(slots=True, frozen=True)
class TestEvent(Event):
    """Management's `post.test`: echoed to `test` subscribers."""

    kind: ClassVar[str] = "test"
    test: str
