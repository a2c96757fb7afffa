"""The lab itself, checked with plain kernel tools: routing, no multicast, NAT, loss, teardown."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.lab import Lab, destroy, read_state
from pyn2n.lab.system import ns_exists, pid_alive, pids_in

pytestmark = pytest.mark.root

PORT = 40000
GROUP = "239.1.2.3"

# Prints "ready" once bound (and joined to GROUP on the interface with address argv[1]), then one
# line "<payload> <source ip> <source port>" per datagram until it gets b"end" or times out.
RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[2])))
if sys.argv[3] != "-":
    mreq = socket.inet_aton(sys.argv[3]) + socket.inet_aton(sys.argv[1])
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
print("ready", flush=True)
s.settimeout(10)
try:
    while True:
        data, (ip, port) = s.recvfrom(2048)
        print(data.decode(), ip, port, flush=True)
        if data == b"end":
            break
except TimeoutError:
    print("timeout", flush=True)
"""

# argv: own address, then "payload@ip:port" items, sent in order (multicast with TTL 8, so a
# drop cannot be blamed on TTL 1).
SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
s.bind((sys.argv[1], 0))
for item in sys.argv[2:]:
    payload, dest = item.split("@")
    ip, port = dest.split(":")
    s.sendto(payload.encode(), (ip, int(port)))
    time.sleep(0.02)
"""


def start_receiver(lab: Lab, node: str, own_ip: str, group: str = "-") -> subprocess.Popen[str]:
    proc = lab.spawn(
        node,
        [sys.executable, "-c", RECEIVER, own_ip, str(PORT), group],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def received(proc: subprocess.Popen[str]) -> list[tuple[str, str, int]]:
    out, _ = proc.communicate(timeout=15)
    lines = [line.split() for line in out.splitlines() if line != "timeout"]
    return [(payload, ip, int(port)) for payload, ip, port in lines]


def send(lab: Lab, node: str, *items: str) -> None:
    own = lab.underlay_ip(node)
    lab.run(node, [sys.executable, "-c", SENDER, own, *items], check=True, timeout=15)


def test_every_host_reaches_every_other_across_the_router(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(3, standby=True)
    assert lab.hosts == ["sn", "sn2", "e1", "e2", "e3"]
    for a in lab.hosts:
        for b in lab.hosts:
            if a != b:
                assert lab.ping(a, lab.underlay_ip(b)) == 1, f"{a} -> {b}"
        # each host is alone in its subnet: the path goes through the router (TTL 64 -> 63)
        other = next(h for h in lab.hosts if h != a)
        out = lab.run(
            a, ["ping", "-n", "-c1", lab.underlay_ip(other)], capture_output=True, text=True
        ).stdout
        assert "ttl=63" in out, out
    # no way out: the router has no default route and only its links to the lab's hosts
    routes = lab.run("r", ["ip", "-4", "route"], capture_output=True, text=True).stdout
    assert "default" not in routes
    links = lab.run("r", ["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines())
    assert names == sorted(["lo", "to-sn", "to-sn2", "to-e1", "to-e2", "to-e3"])
    assert lab.overlay_cidr("e2") == "198.19.0.2/24"
    assert lab.supernode_endpoint() == "198.18.0.2:7654"


def test_multicast_is_not_routed(lab: Lab) -> None:
    # e2 joins the group; so does the router, on its link to e1 (the control: the packets are on
    # the wire, they just do not cross the router).
    far = start_receiver(lab, "e2", lab.underlay_ip("e2"), GROUP)
    near = start_receiver(lab, "r", lab.plan.host("e1").router_ip, GROUP)
    mcast = [f"mcast{i}@{GROUP}:{PORT}" for i in range(5)]
    ends = [f"end@{lab.underlay_ip('e2')}:{PORT}", f"end@{lab.plan.host('e1').router_ip}:{PORT}"]
    send(lab, "e1", *mcast, *ends)
    far_got, near_got = received(far), received(near)
    assert [p for p, _, _ in near_got if p.startswith("mcast")] == [f"mcast{i}" for i in range(5)]
    # e2 was listening (it got the unicast marker) but no multicast reached it
    assert [p for p, _, _ in far_got] == ["end"]


def test_nat_hides_the_edge_behind_its_public_address(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(2, nat={1})
    assert lab.underlay_ip("e1") == "198.18.101.2"
    assert lab.public_ip("e1") == "198.18.1.2"
    assert lab.underlay_ip("e2") == lab.public_ip("e2") == "198.18.2.2"
    sn = start_receiver(lab, "sn", lab.underlay_ip("sn"))
    dest = f"{lab.underlay_ip('sn')}:{PORT}"
    send(lab, "e1", f"from-e1@{dest}")
    send(lab, "e2", f"end@{dest}")
    got = {payload: ip for payload, ip, _ in received(sn)}
    assert got == {"from-e1": lab.public_ip("e1"), "end": lab.underlay_ip("e2")}
    # the private side is unreachable from outside: the router has no route to it
    assert lab.ping("sn", lab.underlay_ip("e1"), timeout=1) == 0
    assert lab.ping("e1", lab.underlay_ip("e2")) == 1


def test_loss_and_block(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(2, loss=0.2)
    count = 200
    replies = lab.ping("e1", lab.underlay_ip("e2"), count=count, interval=0.01, timeout=1)
    # both the request and the reply cross the router: expected loss 1 - 0.8**2 = 36 %
    lost = 1 - replies / count
    assert 0.15 < lost < 0.6, lost
    lab.set_loss(0)
    assert lab.ping("e1", lab.underlay_ip("e2"), count=20, interval=0.01) == 20

    lab.block("e1", "e2")
    assert lab.ping("e1", lab.underlay_ip("e2"), count=2, interval=0.1, timeout=1) == 0
    assert lab.ping("e2", lab.underlay_ip("e1"), count=2, interval=0.1, timeout=1) == 0
    assert lab.ping("e1", lab.underlay_ip("sn")) == 1
    assert lab.ping("e2", lab.underlay_ip("sn")) == 1
    lab.block("e1", "e2")  # idempotent
    lab.unblock("e1", "e2")
    assert lab.ping("e1", lab.underlay_ip("e2")) == 1


def test_teardown_after_an_exception_removes_namespaces_and_processes(tmp_path: Path) -> None:
    lab = Lab(1, state_dir=tmp_path)
    state_file = tmp_path / f"lab-{lab.run_id}.json"
    with pytest.raises(RuntimeError, match="boom"), lab:
        assert state_file.exists()
        child = lab.spawn("e1", ["sleep", "60"])
        # a grandchild in its own session escapes the process-group kill: the namespace sweep
        # must still find it
        shell = lab.spawn(
            "e1", ["sh", "-c", "setsid sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True
        )
        assert shell.stdout is not None
        orphan = int(shell.stdout.readline())
        assert orphan in pids_in([lab.ns("e1")])
        raise RuntimeError("boom")
    assert not any(ns_exists(ns) for ns in lab.namespaces)
    assert child.poll() is not None and shell.poll() is not None
    assert not pid_alive(orphan)
    assert not state_file.exists()


def test_ctrl_c_tears_the_lab_down(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from pyn2n.lab import Lab\n"
        "with Lab(2, nat=True, state_dir=Path(sys.argv[1])) as lab:\n"
        "    print(' '.join(lab.namespaces), flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the KeyboardInterrupt traceback
        text=True,
    )
    try:
        assert proc.stdout is not None
        namespaces = proc.stdout.readline().split()
        assert len(namespaces) == 6 and all(ns_exists(ns) for ns in namespaces)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) != 0
        assert not any(ns_exists(ns) for ns in namespaces)
        assert list(tmp_path.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for state_file in tmp_path.glob("lab-*.json"):  # a failed run must not leak namespaces
            destroy(read_state(tmp_path, state_file.stem[4:]).owned_namespaces())


def test_cli_up_status_down(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pyn2n.cli.main", "lab", "--state-dir", str(tmp_path)]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=60, check=False
        )

    try:
        up = cli("up", "--edges", "2", "--nat", "--loss", "0.05")
        assert up.returncode == 0, up.stderr
        [state_file] = tmp_path.glob("lab-*.json")
        state = read_state(tmp_path, state_file.stem[4:])
        assert state.loss == 0.05
        assert all(ns_exists(ns) for ns in state.plan.namespaces)
        assert state.run_id in up.stdout

        status = cli("status")
        assert status.returncode == 0
        assert state.plan.router_ns in status.stdout and "gone" not in status.stdout

        assert cli("down").returncode == 2  # neither ids nor --all
        assert cli("down", "abcdef").returncode == 1  # no such lab
        assert all(ns_exists(ns) for ns in state.plan.namespaces)

        down = cli("down", state.run_id)
        assert down.returncode == 0, down.stdout
        assert not any(ns_exists(ns) for ns in state.plan.namespaces)
        assert not state_file.exists()
        assert "no labs" in cli("status").stdout
    finally:
        for state_file in tmp_path.glob("lab-*.json"):
            destroy(read_state(tmp_path, state_file.stem[4:]).owned_namespaces())


def test_spawned_process_runs_in_its_namespace_and_stops(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(1)
    log = tmp_path / "sn.log"
    proc = lab.spawn("sn", ["sh", "-c", "ip -4 -o addr show dev eth0; exec sleep 60"], log=log)
    deadline = time.monotonic() + 10
    while lab.underlay_ip("sn") not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"{lab.underlay_ip('sn')}/24" in log.read_text()
    assert proc.pid in pids_in([lab.ns("sn")])
    assert lab.stop(proc) == -signal.SIGTERM
