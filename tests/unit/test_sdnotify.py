"""sd_notify datagrams and the -u/-g identity, without systemd or root."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pyn2n.io.privileges import Identity, cap_names, proc_status, resolve_identity
from pyn2n.io.sdnotify import Notifier


def test_without_notify_socket_nothing_is_sent() -> None:
    n = Notifier(env={})
    assert not n.enabled and n.watchdog_interval is None
    assert n.notify("READY=1") is False


def test_path_socket_gets_the_lines_and_the_watchdog_interval_is_half(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
    try:
        assert n.watchdog_interval == 2.0
        assert n.notify("READY=1", "STATUS=edge running")
        assert server.recv(100) == b"READY=1\nSTATUS=edge running"
    finally:
        n.close()
        server.close()


def test_abstract_socket() -> None:
    name = f"pyn2n-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    server.settimeout(2)
    n = Notifier(env={"NOTIFY_SOCKET": "@" + name})
    try:
        assert n.notify("WATCHDOG=1") and server.recv(100) == b"WATCHDOG=1"
    finally:
        n.close()
        server.close()


def test_watchdog_for_another_pid_or_a_bad_value_is_ignored(tmp_path: Path) -> None:
    path = str(tmp_path / "n")
    other = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier(env=other).watchdog_interval is None
    assert Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "x"}).watchdog_interval is None
    assert Notifier(env={"NOTIFY_SOCKET": "relative"}).enabled is False


def test_a_vanished_manager_is_not_an_error(tmp_path: Path) -> None:
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert n.enabled and n.notify("READY=1") is False
    n.close()


def test_identity_by_name_number_and_group() -> None:
    root = resolve_identity("root", None)
    assert root == Identity(0, 0, "root")
    assert resolve_identity("0", "0") == Identity(0, 0, "0")
    nobody = resolve_identity("nobody", None)
    assert nobody.uid == 65534
    assert resolve_identity("nobody", "root").gid == 0


@pytest.mark.parametrize(
    ("user", "group", "message"),
    [
        ("no-such-user-pyn2n", None, "-u no-such-user-pyn2n: no such user"),
        ("nobody", "no-such-group-pyn2n", "-g no-such-group-pyn2n: no such group"),
        (None, "nogroup", "-g needs -u"),
        ("64999", None, "needs -g GROUP"),
    ],
)
def test_identity_errors_name_the_flag(user: str | None, group: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_identity(user, group)


def test_status_lines_and_names() -> None:
    status = proc_status()
    assert {"Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs"} <= set(status)
    assert cap_names([12]) == "CAP_NET_ADMIN" and cap_names([]) == "none"
