"""A supernode and edges as services would run them: sd_notify to a datagram socket the test
owns (READY=1 once the port is bound and the TAP configured, WATCHDOG=1 pings from the loop,
STOPPING=1 at shutdown), and `-u`/`-g` leaving the running process with the uid, gid and
capabilities it should have while traffic still flows."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyn2n.io.privileges import proc_status
from pyn2n.lab import Lab

PYN2N = [sys.executable, "-m", "pyn2n.cli.main"]
NOBODY = "65534"
NO_CAPS = "0000000000000000"
NET_ADMIN = f"{1 << 12:016x}"
WATCHDOG_USEC = 2_000_000  # pings every second


class NotifyListener:
    """A datagram socket standing in for systemd's notify socket; records (time, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def env(self) -> dict[str, str]:
        return dict(os.environ, NOTIFY_SOCKET=str(self.path), WATCHDOG_USEC=str(WATCHDOG_USEC))

    def wait_for(self, line: str, timeout: float = 20.0) -> float:
        """The arrival time of the first message holding `line`."""
        deadline = time.monotonic() + timeout
        while True:
            for at, msg in self.messages:
                if line in msg.split("\n"):
                    return at
            left = deadline - time.monotonic()
            assert left > 0, f"no {line} on {self.path.name}; got {self.messages}"
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def drain(self) -> None:
        """Record what has arrived so far."""
        self.sock.setblocking(False)
        try:
            while True:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
        except BlockingIOError:
            pass

    def count(self, line: str, after: float) -> int:
        return sum(1 for at, msg in self.messages if at > after and line in msg.split("\n"))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[Callable[[str], NotifyListener]]:
    made: list[NotifyListener] = []

    def make(name: str) -> NotifyListener:
        listener = NotifyListener(tmp_path / f"{name}.notify")
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.close()


def _udp_bound(lab: Lab, node: str, port: int) -> bool:
    out = lab.run(
        node, ["ss", "-H", "-n", "-u", "-l", f"sport = :{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return f":{port}" in out


def _tap(lab: Lab, node: str, dev: str) -> dict[str, object]:
    out = lab.run(node, ["ip", "-j", "addr", "show", "dev", dev], capture_output=True, text=True)
    return json.loads(out.stdout)[0] if out.returncode == 0 else {}


def _ipv4(link: dict[str, object]) -> list[str]:
    infos = link.get("addr_info", [])
    assert isinstance(infos, list)
    return [f"{a['local']}/{a['prefixlen']}" for a in infos if a.get("family") == "inet"]


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _tcp_ok(lab: Lab, server_ip: str) -> bool:
    """200 KB over TCP from e1 to a listener on e2 (python, no extra tools)."""
    server = lab.spawn(
        "e2",
        [sys.executable, "-c",
         "import socket; s=socket.create_server(('0.0.0.0', 7000)); c,_=s.accept(); n=0\n"
         "while (b:=c.recv(65536)): n+=len(b)\nprint(n)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        send = (
            "import socket,sys; c=socket.create_connection((sys.argv[1], 7000), timeout=10); "
            "c.sendall(b'x' * 200000); c.close()"
        )
        sent = lab.run("e1", [sys.executable, "-c", send, server_ip], timeout=30)
        out, _ = server.communicate(timeout=15)
    finally:
        lab.stop(server)
    return sent.returncode == 0 and out.strip() == "200000"


def _assert_dropped(pid: int, caps: str) -> dict[str, str]:
    status = proc_status(pid)
    assert status["Uid"].split() == [NOBODY] * 4, status
    assert status["Gid"].split() == [NOBODY] * 4, status
    assert status["Groups"].split() == [NOBODY], status
    assert status["CapEff"] == caps and status["CapPrm"] == caps, status
    assert status["CapBnd"] == caps and status["CapInh"] == NO_CAPS, status
    assert status["CapAmb"] == NO_CAPS and status["NoNewPrivs"] == "1", status
    return status


@pytest.mark.root
@pytest.mark.slow
def test_notify_watchdog_and_privilege_drop(
    make_lab: Callable[..., Lab],
    listeners: Callable[[str], NotifyListener],
    tmp_path: Path,
) -> None:
    lab = make_lab(2)
    sn_n, e1_n, e2_n = listeners("sn"), listeners("e1"), listeners("e2")
    sn = lab.spawn(
        "sn",
        [*PYN2N, "supernode", "-p", "7654", "-a", "198.19.100.0-198.19.200.0/24",
         "-u", "nobody", "-g", NOBODY],
        log=tmp_path / "sn.log", env=sn_n.env(),
    )  # fmt: skip
    sn_n.wait_for("READY=1")
    assert _udp_bound(lab, "sn", 7654)  # READY came after the bind
    # e2: auto-IP, so CAP_NET_ADMIN stays (the address arrives after the drop);
    # e1: a static address in e2's subnet, so nothing is kept
    e2 = lab.spawn(
        "e2",
        [*PYN2N, "edge", "-c", "svc", "-k", "key", "-l", lab.supernode_endpoint(),
         "-d", "svc0", "-u", NOBODY, "-g", "nogroup"],
        log=tmp_path / "e2.log", env=e2_n.env(),
    )  # fmt: skip
    e2_n.wait_for("READY=1")
    assert "UP" in _tap(lab, "e2", "svc0").get("flags", [])
    e2_status = _assert_dropped(e2.pid, NET_ADMIN)
    _wait(lambda: bool(_ipv4(_tap(lab, "e2", "svc0"))), "the auto-IP address on e2")
    e2_cidr = _ipv4(_tap(lab, "e2", "svc0"))[0]
    e1_cidr = str(ipaddress.IPv4Interface(e2_cidr).network.broadcast_address - 1) + "/24"
    assert e2_cidr.startswith("198.19.") and e1_cidr != e2_cidr
    e1 = lab.spawn(
        "e1",
        [*PYN2N, "edge", "-c", "svc", "-k", "key", "-l", lab.supernode_endpoint(),
         "-a", e1_cidr, "-d", "svc0", "-u", "nobody", "-g", NOBODY, "--log-format", "json"],
        log=tmp_path / "e1.log", env=e1_n.env(),
    )  # fmt: skip
    e1_n.wait_for("READY=1")
    link = _tap(lab, "e1", "svc0")  # READY came after the TAP was configured
    assert "UP" in link.get("flags", []) and _ipv4(link) == [e1_cidr], link
    sn_status = _assert_dropped(sn.pid, NO_CAPS)
    e1_status = _assert_dropped(e1.pid, NO_CAPS)

    e1_ip, e2_ip = e1_cidr.split("/")[0], e2_cidr.split("/")[0]
    _wait(lambda: lab.ping("e1", e2_ip, count=1) == 1, "a ping from e1 to e2")
    assert lab.ping("e1", e2_ip, count=5) >= 4
    assert lab.ping("e2", e1_ip, count=5) >= 4
    # TCP through the fast path (its offloads are toggled by the unprivileged edge)
    _wait(lambda: _tcp_ok(lab, e2_ip), "a TCP transfer from e1 to e2")

    # the loop keeps feeding the watchdog (every WATCHDOG_USEC / 2)
    mark = time.monotonic()
    time.sleep(3.5)
    for listener in (sn_n, e1_n, e2_n):
        listener.drain()
        assert listener.count("WATCHDOG=1", after=mark) >= 2, listener.messages

    for proc, listener in ((e1, e1_n), (e2, e2_n), (sn, sn_n)):
        assert lab.stop(proc, signal.SIGTERM) == 0
        listener.wait_for("STOPPING=1", timeout=5)
    # a JSON log line per significant event, from the dropped process too
    lines = [json.loads(x) for x in (tmp_path / "e1.log").read_text().splitlines() if x]
    assert any("running as nobody" in x["message"] for x in lines)
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    print("supernode", sn_status, "\nedge static", e1_status, "\nedge auto-IP", e2_status)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = "/usr/bin/systemd-analyze"
    assert os.access(analyze, os.X_OK), "systemd-analyze is missing: apt-get install systemd"
    deploy = Path(__file__).parents[2] / "deploy"
    # the units name the installed command; point them at this interpreter's pyn2n
    pyn2n = Path(sys.executable).parent / "pyn2n"
    assert pyn2n.exists()
    units = []
    for name in ("pyn2n-supernode.service", "pyn2n-edge@.service"):
        text = (deploy / name).read_text().replace("/usr/local/bin/pyn2n", str(pyn2n))
        (tmp_path / name).write_text(text)
    (tmp_path / "pyn2n-edge@office.service").symlink_to("pyn2n-edge@.service")
    units = [str(tmp_path / "pyn2n-supernode.service"), str(tmp_path / "pyn2n-edge@office.service")]
    proc = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    # unknown keys and bad values are only warnings to systemd: none are allowed here
    assert proc.stderr.strip() == "", proc.stderr
    edge = (deploy / "pyn2n-edge@.service").read_text()
    assert "DeviceAllow=/dev/net/tun rw" in edge and "Type=notify" in edge
    assert "ExecStart=/usr/local/bin/pyn2n edge /etc/pyn2n/edge-%i.conf" in edge
