"""`prepare_service` against a stand-in runtime: READY=1 when the runtime starts, STOPPING=1 when
it stops, and WATCHDOG=1 only from the loop's wake-up hook (the ticker thread only wakes the
loop, so a loop that stops running its hooks stops the pings)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.cli.common import UsageError
from pyn2n.cli.service import ServiceArgs, prepare_service
from pyn2n.cli.watch import Background


class FakeLoop:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


class FakeRuntime:
    role = "edge"

    def __init__(self) -> None:
        self.loop = FakeLoop()
        self.start: list[Callable[[], None]] = []
        self.stop: list[Callable[[], None]] = []
        self.wake: list[Callable[[], None]] = []
        self.threads: list[Background] = []

    def add_start_hook(self, hook: Callable[[], None]) -> None:
        self.start.append(hook)

    def add_stop_hook(self, hook: Callable[[], None]) -> None:
        self.stop.append(hook)

    def add_wake_hook(self, hook: Callable[[], None], *, tick: bool = False) -> None:
        self.wake.append(hook)

    def add_thread(self, thread: Background) -> None:
        self.threads.append(thread)


def _recv_all(sock: socket.socket) -> list[bytes]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(256))
    except BlockingIOError:
        return out


def test_ready_pings_from_the_loop_and_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "2")  # due at every wake-up
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    rt = FakeRuntime()
    try:
        prepare_service(rt, ServiceArgs())  # type: ignore[arg-type]
        assert _recv_all(server) == []  # nothing before the runtime starts
        for hook in rt.start:
            hook()
        assert _recv_all(server) == [b"READY=1\nSTATUS=edge running"]
        (ticker,) = rt.threads
        ticker.start()  # wakes the (fake) loop; sends nothing itself
        ticker.join(0.05)
        assert _recv_all(server) == []
        for _ in range(3):  # the loop runs its wake-up hooks
            for hook in rt.wake:
                hook()
        assert _recv_all(server) == [b"WATCHDOG=1"] * 3
        ticker.stop()
        for hook in rt.stop:
            hook()
        assert _recv_all(server) == [b"STOPPING=1"]
    finally:
        server.close()


def test_without_systemd_only_the_drop_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    rt = FakeRuntime()
    prepare_service(rt, ServiceArgs())  # type: ignore[arg-type]
    assert len(rt.start) == 1 and not rt.stop and not rt.wake and not rt.threads
    rt.start[0]()  # no -u: nothing to drop


def test_unknown_user_fails_before_anything_runs() -> None:
    with pytest.raises(UsageError, match="-u no-such-user-pyn2n: no such user"):
        prepare_service(FakeRuntime(), ServiceArgs(user="no-such-user-pyn2n"))  # type: ignore[arg-type]
