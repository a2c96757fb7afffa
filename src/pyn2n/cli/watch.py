"""What the edge's runtime does besides the loop: a 1 s ticker that wakes the loop, the `-v`
log of pyn2n's decisions read from the management views (peer paths and why, the current
supernode, registrations), and the retry of `-l` names that did not resolve at start-up.

Nothing here runs per frame: the watcher reads the views once a second, and only while the
`pyn2n` logger shows DETAIL (`-v`) or DEBUG (`-vv`) records.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pyn2n.cli.common import DETAIL

Addr = tuple[str, int]
TICK = 1.0  # seconds between wake-ups of the loop
RESOLVE_RETRY = 5.0  # seconds between DNS tries of a name that does not resolve


class Views(Protocol):
    def mgmt_peers(self, now: float) -> list[dict[str, Any]]: ...

    def mgmt_supernodes(self, now: float) -> list[dict[str, Any]]: ...

    def mgmt_timestamps(self, now: float) -> list[dict[str, Any]]: ...


class Background(Protocol):
    """A helper thread of the runtime (`Runtime.add_thread`)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class Ticker(threading.Thread):
    """Calls `wake()` every `interval` seconds until `stop()`; the loop then runs its hooks."""

    def __init__(self, wake: Callable[[], None], interval: float = TICK) -> None:
        super().__init__(name="pyn2n-ticker", daemon=True)
        self._wake = wake
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            self._wake()

    def stop(self) -> None:
        self._stopped.set()


def resolve_once(host: str, port: int) -> tuple[Addr | None, str]:
    """(address, "") or (None, why) for one `-l HOST:PORT`: an IPv4 address where the name has
    one, else an IPv6 address (an IPv6 underlay)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        return None, str(getattr(exc, "strerror", None) or exc)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return (str(infos[0][4][0]), port), ""


class Resolver(threading.Thread):
    """Retries the names that did not resolve (getaddrinfo blocks, so not in the loop); each
    name that resolves is queued for the loop (`drain()`), which adds the supernode."""

    def __init__(
        self,
        names: list[Addr],
        wake: Callable[[], None],
        resolve: Callable[[str, int], tuple[Addr | None, str]] = resolve_once,
        interval: float = RESOLVE_RETRY,
    ) -> None:
        super().__init__(name="pyn2n-resolver", daemon=True)
        self.pending = list(names)
        self._wake = wake
        self._resolve = resolve
        self._interval = interval
        self._stopped = threading.Event()
        self.resolved: queue.SimpleQueue[tuple[Addr, Addr]] = queue.SimpleQueue()

    def run(self) -> None:
        while self.pending and not self._stopped.wait(self._interval):
            self.try_all()

    def try_all(self) -> None:
        for name in list(self.pending):
            addr, _why = self._resolve(*name)
            if addr is not None and not self._stopped.is_set():
                self.pending.remove(name)
                self.resolved.put((name, addr))
                self._wake()

    def drain(self) -> list[tuple[Addr, Addr]]:
        out = []
        while True:
            try:
                out.append(self.resolved.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        self._stopped.set()


def _peer_name(row: dict[str, Any]) -> str:
    extra = ", ".join(str(v) for v in (row.get("desc"), row.get("ip4addr")) if v)
    return f"peer {row['macaddr']}" + (f" ({extra})" if extra else "")


def _path_text(row: dict[str, Any]) -> str:
    if row["path"] == "direct":
        rtt = row.get("rtt_ms")
        return f"direct at {row['sockaddr']}" + (f", rtt {rtt:g} ms" if rtt is not None else "")
    return f"relayed through the supernode: {row.get('reason') or 'no direct path yet'}"


class DecisionLog:
    """Logs what changed in the edge's peers, supernodes and registrations since the last tick:
    at DETAIL (-v) peer paths and why, the current supernode and the supernodes learned; at
    DEBUG (-vv) also every re-registration and the fast path's state per peer."""

    def __init__(self, views: Views, log: logging.Logger) -> None:
        self.views = views
        self.log = log
        self.peers: dict[str, dict[str, Any]] | None = None
        self.supernodes: dict[str, dict[str, Any]] | None = None
        self.last_super: int | None = None

    def tick(self, now: float) -> None:
        if not self.log.isEnabledFor(DETAIL):
            self.peers = self.supernodes = self.last_super = None
            return
        self._peers({r["macaddr"]: r for r in self.views.mgmt_peers(now)})
        self._supernodes({r["sockaddr"]: r for r in self.views.mgmt_supernodes(now)})
        self._registration(self.views.mgmt_timestamps(now))

    def _peers(self, rows: dict[str, dict[str, Any]]) -> None:
        old, self.peers = self.peers, rows
        if old is None:
            old = {}
        for mac, row in rows.items():
            before = old.get(mac)
            if before is None:
                self.log.log(DETAIL, "%s appeared: %s", _peer_name(row), _path_text(row))
            elif (before["path"], before["reason"]) != (row["path"], row["reason"]) or (
                row["path"] == "direct" and before["sockaddr"] != row["sockaddr"]
            ):
                self.log.log(DETAIL, "%s now %s", _peer_name(row), _path_text(row))
            if before is not None and before.get("fastpath") != row.get("fastpath"):
                self.log.debug("%s fast path: %s", _peer_name(row), row.get("fastpath"))
        for mac, row in old.items():
            if mac not in rows:
                self.log.log(DETAIL, "%s left the peer table", _peer_name(row))

    def _supernodes(self, rows: dict[str, dict[str, Any]]) -> None:
        old, self.supernodes = self.supernodes, rows
        if old is None:
            return
        for addr, row in rows.items():
            before = old.get(addr)
            if before is None:
                self.log.log(DETAIL, "supernode %s learned (%s)", addr, row.get("selection"))
            elif bool(before["current"]) != bool(row["current"]) and row["current"]:
                self.log.log(DETAIL, "current supernode now %s (%s)", addr, row.get("selection"))
            elif before["current"] != row["current"] and row["current"] == 2:
                self.log.debug("supernode %s: waiting for REGISTER_SUPER_ACK", addr)
        for addr in old:
            if addr not in rows:
                self.log.log(DETAIL, "supernode %s forgotten", addr)

    def _registration(self, rows: list[dict[str, Any]]) -> None:
        last = int(rows[0].get("last_super") or 0) if rows else 0
        if self.last_super is not None and last != self.last_super and last:
            current = [a for a, r in (self.supernodes or {}).items() if r["current"]]
            self.log.debug("registered at %s (REGISTER_SUPER_ACK)", ", ".join(current) or "?")
        self.last_super = last
