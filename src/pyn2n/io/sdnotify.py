"""systemd's service notification protocol (sd_notify(3)): READY=1, WATCHDOG=1, STOPPING=1, STATUS=.

A datagram to the AF_UNIX socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract
namespace). Without that variable every call does nothing, so a node started by hand or by a
test behaves as before. Written here rather than taken from a library: it is a dozen lines, and
the PyPI `sdnotify` is unmaintained while `systemd-python` needs libsystemd headers to build.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends state lines to the service manager; `watchdog_interval` is how often to ping (half of
    `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises) or None when no watchdog is asked for."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        self._addr = _address(env.get("NOTIFY_SOCKET", ""))
        self._sock: socket.socket | None = None
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if self._addr and usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            self.watchdog_interval = int(usec) / 2e6
        self._connected = False
        if self._addr:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # connected now, while the path is reachable: after `-u` it may not be
            try:
                self._sock.connect(self._addr)
                self._connected = True
            except OSError:
                pass

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> bool:
        """Send `lines` ("READY=1", "STATUS=...") as one datagram; False if it could not go."""
        if self._sock is None:
            return False
        data = "\n".join(lines).encode()
        try:
            if self._connected:
                self._sock.send(data)
            else:
                self._sock.sendto(data, self._addr)
        except OSError:
            return False  # the manager went away: nothing a node could do about it
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _address(value: str) -> str | bytes:
    """`@name` is the abstract namespace (a leading NUL byte); a path is used as it is."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value if value.startswith("/") else ""
