"""The io drivers against the real kernel: TAP, rtnetlink configuration, UDP, and the event loop.

The code under test runs in child processes inside network namespaces created here (unique names,
198.18.0.0/16 underlay, 198.19.0.0/16 overlay, no route out), so this process never leaves the
root namespace. The loop test uses a protocol-free echo node, proving the drivers end to end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces and TAP"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's `ip`"),
    pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="needs /dev/net/tun"),
]

CHILD_TIMEOUT = 30.0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def netns(count: int = 1) -> Iterator[list[str]]:
    """Fresh namespaces with loopback up; removed afterwards whatever happened."""
    names: list[str] = []
    try:
        for _ in range(count):
            name = "p2n" + secrets.token_hex(4)
            _ip("netns", "add", name)
            names.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def run_in_ns(ns: str, code: str, *args: str) -> dict:
    """Run Python `code` inside `ns`; it prints one JSON object as its last line."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ns_ip_json(ns: str, *args: str) -> list[dict]:
    out = subprocess.run(
        ["ip", "-n", ns, "-j", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout
    return json.loads(out) if out.strip() else []


def arp_request(sender_mac: bytes, sender_ip: str, target_ip: str) -> bytes:
    eth = b"\xff" * 6 + sender_mac + b"\x08\x06"
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    arp += sender_mac + socket.inet_aton(sender_ip) + b"\x00" * 6 + socket.inet_aton(target_ip)
    return eth + arp


TAP_CHILD = """
import json, select, struct, sys, time
from pyn2n.io import netconf
from pyn2n.io.linux import TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6
from pyn2n.wire.vnet import VNET_HDR_LEN
from pyn2n.io.tap import TapDevice

vnet = sys.argv[1] == "vnet"
request = bytes.fromhex(sys.argv[2])
hdr = b"\\0" * VNET_HDR_LEN if vnet else b""
out = {}
tap = TapDevice.open("edge0", vnet_hdr=vnet)
out["name"] = tap.name
out["read_when_empty"] = tap.read()
out["write_while_down"] = tap.write(hdr + request)
out["write_errors"] = tap.write_errors
if vnet:
    tap.set_offload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
else:
    try:
        tap.set_offload(TUN_F_CSUM)
        out["offload_without_vnet"] = "accepted"
    except ValueError:
        out["offload_without_vnet"] = "refused"
netconf.configure_tap("edge0", bytes.fromhex("02a0b0c0d001"), "198.19.1.1/24", mtu=1400)
# A second call must be harmless (the address exists already).
netconf.configure_tap("edge0", bytes.fromhex("02a0b0c0d001"), "198.19.1.1/24", mtu=1400)
link = netconf.get_link("edge0")
out["link"] = {"mac": link.mac.hex(), "mtu": link.mtu, "up": link.up}
out["get_mac"] = netconf.get_mac("edge0").hex()
out["addresses"] = netconf.get_addresses("edge0")
out["write_up"] = tap.write(hdr + request)
replies = []
deadline = time.monotonic() + 5
while not replies and time.monotonic() < deadline:
    select.select([tap], [], [], 0.2)
    for frame in tap.read_batch(16):
        body = frame[len(hdr):]
        if body[12:14] == b"\\x08\\x06" and body[20:22] == b"\\x00\\x02":  # ARP reply
            replies.append(frame.hex())
out["replies"] = replies
print(json.dumps(out), flush=True)
# Hold the device open until the parent has looked at it from outside.
sys.stdin.readline()
tap.close()
try:
    netconf.get_link("edge0")
    out = {"after_close": "present"}
except LookupError:
    out = {"after_close": "gone"}
out["delete_missing"] = netconf.delete_link("edge0")
print(json.dumps(out), flush=True)
"""


@pytest.mark.parametrize("mode", ["plain", "vnet"])
def test_tap_configured_answers_arp_and_vanishes_on_close(mode: str) -> None:
    peer_mac = bytes.fromhex("02a0b0c0d002")
    request = arp_request(peer_mac, "198.19.1.2", "198.19.1.1")
    with netns() as (ns,):
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", TAP_CHILD, mode, request.hex()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = proc.stdout.readline()
            if not line:
                proc.kill()
                pytest.fail(f"TAP child failed: {proc.stderr.read() if proc.stderr else ''}")
            got = json.loads(line)
            # Seen from outside the child, by iproute2 itself.
            (link,) = ns_ip_json(ns, "link", "show", "edge0")
            (addrs,) = ns_ip_json(ns, "-4", "addr", "show", "edge0")
            proc.stdin.write("\n")
            proc.stdin.flush()
            after = json.loads(proc.stdout.readline())
            assert proc.wait(timeout=CHILD_TIMEOUT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        remaining = [entry["ifname"] for entry in ns_ip_json(ns, "link", "show")]

    assert got["name"] == "edge0"
    assert got["read_when_empty"] is None
    # The kernel refuses frames while the interface is down; counted, not raised.
    assert got["write_while_down"] is False and got["write_errors"] == 1
    if mode == "plain":
        assert got["offload_without_vnet"] == "refused"
    assert got["link"] == {"mac": "02a0b0c0d001", "mtu": 1400, "up": True}
    assert got["get_mac"] == "02a0b0c0d001"
    assert got["addresses"] == ["198.19.1.1/24"]
    assert link["address"] == "02:a0:b0:c0:d0:01"
    assert link["mtu"] == 1400
    assert "UP" in link["flags"]
    assert [(a["local"], a["prefixlen"]) for a in addrs["addr_info"]] == [("198.19.1.1", 24)]

    assert got["write_up"] is True
    assert len(got["replies"]) == 1
    frame = bytes.fromhex(got["replies"][0])
    if mode == "vnet":
        assert len(frame) > 10
        frame = frame[10:]  # virtio_net_hdr in front of every frame
    assert frame[0:6] == peer_mac
    assert frame[6:12] == bytes.fromhex("02a0b0c0d001")
    htype, ptype, hlen, plen, oper = struct.unpack("!HHBBH", frame[14:22])
    assert (htype, ptype, hlen, plen, oper) == (1, 0x0800, 6, 4, 2)
    assert frame[22:28] == bytes.fromhex("02a0b0c0d001")
    assert socket.inet_ntoa(frame[28:32]) == "198.19.1.1"
    assert frame[32:38] == peer_mac
    assert socket.inet_ntoa(frame[38:42]) == "198.19.1.2"

    assert after == {"after_close": "gone", "delete_missing": False}
    assert remaining == ["lo"]


UDP_CHILD = """
import json, selectors, socket
from pyn2n.io.linux import IP_MTU_DISCOVER, IP_PMTUDISC_DONT
from pyn2n.io.udp import ManagementSocket, UdpSocket

out = {}
a = UdpSocket("127.0.0.1", 0)
b = UdpSocket("127.0.0.1", 0)
out["rcvbuf"], out["sndbuf"] = b.rcvbuf, b.sndbuf
with socket.fromfd(b.fileno(), socket.AF_INET, socket.SOCK_DGRAM) as dup:
    out["pmtudisc"] = dup.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER) == IP_PMTUDISC_DONT
out["empty"] = b.recv_batch()
sent = [bytes([i]) * (1 + 13 * i) for i in range(150)]
a.send_batch([(d, ("127.0.0.1", b.local_port)) for d in sent[:100]])
for d in sent[100:]:
    assert a.sendto(d, ("127.0.0.1", b.local_port))
sel = selectors.DefaultSelector()
sel.register(b, selectors.EVENT_READ)
got, sizes = [], []
while len(got) < len(sent) and sel.select(2.0):
    batch = b.recv_batch(max_n=64)
    sizes.append(len(batch))
    got.extend(batch)
out["in_order"] = [d for d, _ in got] == sent
out["senders"] = sorted({tuple(addr) for _, addr in got})
out["a_port"] = a.local_port
out["max_batch"] = max(sizes)
# Truncation at the receive size, like n2n's fixed buffer.
a.sendto(b"z" * 3000, ("127.0.0.1", b.local_port))
sel.select(2.0)
out["long_len"] = len(b.recv_batch(bufsize=2048)[0][0])
# No route anywhere in this namespace: refused locally, counted, never raised.
out["unroutable"] = a.sendto(b"x", ("198.18.255.1", 7654))
refused = a.send_batch([(b"x", ("198.18.255.1", 7654))] * 3)
out["send_drops"] = int(not out["unroutable"]) + refused

m = ManagementSocket(0)
out["mgmt_empty"] = m.recvfrom()
a.sendto(b"help", ("127.0.0.1", m.local_port))
sel.register(m, selectors.EVENT_READ)
sel.select(2.0)
data, addr = m.recvfrom()
out["mgmt_request"] = data.decode()
m.sendto(b"ok " + data, addr)
sel.select(2.0)
out["mgmt_reply"] = [d.decode() for d, _ in b.recv_batch() + a.recv_batch()]
print(json.dumps(out))
"""


def test_udp_batches_truncation_drops_and_management_socket() -> None:
    with netns() as (ns,):
        got = run_in_ns(ns, UDP_CHILD)
    # As root the buffers go past rmem_max; the kernel reports double the asked 4 MiB.
    assert got["rcvbuf"] >= 4 * 1024 * 1024
    assert got["sndbuf"] >= 4 * 1024 * 1024
    assert got["pmtudisc"] is True
    assert got["empty"] == []
    assert got["in_order"] is True
    assert got["senders"] == [["127.0.0.1", got["a_port"]]]
    assert got["max_batch"] <= 64
    assert got["long_len"] == 2048
    assert got["unroutable"] is False
    assert got["send_drops"] == 4
    assert got["mgmt_empty"] is None
    assert got["mgmt_request"] == "help"
    assert got["mgmt_reply"] == ["ok help"]


# An echo node: TAP frames go out as datagrams to the one peer, datagrams come in as frames.
# A timer ticks every 0.1 s and reports an event; shutdown() queues a goodbye datagram.
LOOP_CHILD = """
import json, sys, time
from pyn2n.core.events import TestEvent
from pyn2n.io import netconf
from pyn2n.io.loop import EdgeLoop
from pyn2n.io.tap import TapDevice
from pyn2n.io.udp import ManagementSocket, UdpSocket

overlay_ip, peer_ip, port, mgmt_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


class EchoNode:
    def __init__(self, peer):
        self.peer = peer
        self.out_dgrams, self.out_frames, self.out_events = [], [], []
        self.stats = {"frames_in": 0, "dgrams_in": 0, "ticks": 0, "byes": 0, "send_drops": 0}
        self.next_tick = time.monotonic() + 0.1

    def receive_frame(self, frame, now):
        self.stats["frames_in"] += 1
        self.out_dgrams.append((frame, self.peer))

    def receive_datagram(self, data, addr, now):
        if data == b"bye":
            self.stats["byes"] += 1
            return
        self.stats["dgrams_in"] += 1
        self.out_frames.append(data)

    def get_timer(self):
        return self.next_tick

    def send_failed(self, count):
        self.stats["send_drops"] += count

    def handle_timer(self, now):
        self.stats["ticks"] += 1
        self.next_tick = now + 0.1
        self.out_events.append(TestEvent(str(self.stats["ticks"])))

    def shutdown(self):
        self.out_dgrams.append((b"bye", self.peer))

    def datagrams_to_send(self):
        out, self.out_dgrams = self.out_dgrams, []
        return out

    def frames_to_write(self):
        out, self.out_frames = self.out_frames, []
        return out

    def events(self):
        out, self.out_events = self.out_events, []
        return out


node = EchoNode((peer_ip, port))
tap = TapDevice.open("edge0")
netconf.configure_tap("edge0", None, overlay_ip, mtu=1400)
udp = UdpSocket("0.0.0.0", port)
mgmt = ManagementSocket(mgmt_port)
events = []
loop = EdgeLoop(node, udp, tap, on_event=events.append)


def on_mgmt():
    request = mgmt.recvfrom()
    if request is not None:
        mgmt.sendto(json.dumps(node.stats).encode(), request[1])


loop.add_reader(mgmt, on_mgmt)
loop.stop_on_signals()
print("ready", flush=True)
loop.run()
node.shutdown()
loop.flush()
loop.close()
tap.close()
node.stats["events"] = len(events)
node.stats["event_kinds"] = sorted({e.kind for e in events})
print(json.dumps(node.stats), flush=True)
"""

MGMT_QUERY = """
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"stats", ("127.0.0.1", int(sys.argv[1])))
print(s.recv(2048).decode())
"""


def test_loop_with_echo_node_carries_ping_between_namespaces() -> None:
    port, mgmt_port = 7654, 5644
    procs: list[subprocess.Popen[str]] = []
    with netns(2) as (ns_a, ns_b):
        try:
            _ip(
                "-n",
                ns_a,
                "link",
                "add",
                "ul0",
                "type",
                "veth",
                "peer",
                "name",
                "ul0",
                "netns",
                ns_b,
            )
            for ns, underlay in ((ns_a, "198.18.0.1/24"), (ns_b, "198.18.0.2/24")):
                _ip("-n", ns, "addr", "add", underlay, "dev", "ul0")
                _ip("-n", ns, "link", "set", "ul0", "up")
            for ns, overlay, peer in (
                (ns_a, "198.19.0.1/24", "198.18.0.2"),
                (ns_b, "198.19.0.2/24", "198.18.0.1"),
            ):
                cmd = ["ip", "netns", "exec", ns, sys.executable, "-c", LOOP_CHILD]
                cmd += [overlay, peer, str(port), str(mgmt_port)]
                procs.append(
                    subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                )
            for proc in procs:
                assert proc.stdout is not None and proc.stderr is not None
                if proc.stdout.readline().strip() != "ready":
                    proc.kill()
                    pytest.fail(f"loop child did not start: {proc.stderr.read()}")

            ping = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns_a,
                    "ping",
                    "-n",
                    "-c",
                    "3",
                    "-i",
                    "0.2",
                    "-W",
                    "3",
                    "198.19.0.2",
                ],
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT,
            )
            assert ping.returncode == 0, ping.stdout + ping.stderr
            assert " 0% packet loss" in ping.stdout

            live = json.loads(
                subprocess.run(
                    ["ip", "netns", "exec", ns_b, sys.executable, "-c", MGMT_QUERY, str(mgmt_port)],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=CHILD_TIMEOUT,
                ).stdout
            )

            # Stop A first: its goodbye must reach B, which is still running.
            results = []
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=CHILD_TIMEOUT)
                assert proc.returncode == 0, err
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    stats_a, stats_b = results
    # Three echo requests crossed A->B and three replies B->A, each as one datagram per frame
    # (plus ARP and whatever IPv6 chatter the kernels sent).
    for stats in (stats_a, stats_b):
        assert stats["frames_in"] >= 3
        assert stats["dgrams_in"] >= 3
        assert stats["ticks"] >= 1
        assert stats["events"] == stats["ticks"]
        assert stats["event_kinds"] == ["test"]
        assert stats["send_drops"] == 0
    assert live["dgrams_in"] >= 3
    assert stats_b["byes"] == 1
    assert stats_a["byes"] == 0


# Supernode-shaped use: no TAP. Datagrams are answered to their sender; stop() from another thread.
UDP_ONLY_LOOP_CHILD = """
import json, selectors, threading, time
from pyn2n.io.loop import EventLoop
from pyn2n.io.udp import UdpSocket


class Reflector:
    def __init__(self):
        self.out, self.timer_calls = [], []
        self.deadline = None
        self.failed = 0

    def receive_datagram(self, data, addr, now):
        self.out.append((b"re:" + data, addr))
        if data == b"arm":
            self.deadline = now + 0.2
        elif data == b"lost":  # no route in this namespace: the kernel refuses it
            self.out.append((data, ("198.18.255.1", 7654)))

    def send_failed(self, count):
        self.failed += count

    def handle_timer(self, now):
        self.timer_calls.append(now)
        self.deadline = None
        self.out.append((b"timer", self.client))

    def get_timer(self):
        return self.deadline

    def datagrams_to_send(self):
        out, self.out = self.out, []
        return out

    def events(self):
        return []


node = Reflector()
server = UdpSocket("127.0.0.1", 0)
client = UdpSocket("127.0.0.1", 0)
node.client = ("127.0.0.1", client.local_port)
out = {}

early = EventLoop(node, server)
early.stop()
t0 = time.monotonic()
early.run()
out["stopped_early_in"] = time.monotonic() - t0
early.close()
early.stop()  # harmless after close

loop = EventLoop(node, server)
worker = threading.Thread(target=loop.run)
worker.start()
sel = selectors.DefaultSelector()
sel.register(client, selectors.EVENT_READ)
got = []
client.sendto(b"arm", server.local_addr)
armed_at = time.monotonic()
client.send_batch([(b"%d" % i, server.local_addr) for i in range(200)])
client.sendto(b"lost", server.local_addr)
while len(got) < 203 and sel.select(3.0):
    got.extend(d for d, _ in client.recv_batch())
out["timer_after"] = node.timer_calls[0] - armed_at if node.timer_calls else None
loop.stop()
worker.join(5)
out["stopped"] = not worker.is_alive()
out["failed"] = node.failed
loop.close()
out["got"] = [d.decode() for d in got]
print(json.dumps(out))
"""


def test_loop_without_tap_serves_datagrams_timers_and_stops() -> None:
    with netns() as (ns,):
        got = run_in_ns(ns, UDP_ONLY_LOOP_CHILD)
    assert got["stopped_early_in"] < 0.5
    assert got["stopped"] is True
    replies = got["got"]
    assert replies[0] == "re:arm"
    assert [r for r in replies if r.startswith("re:") and r not in ("re:arm", "re:lost")] == [
        f"re:{i}" for i in range(200)
    ]
    assert replies.count("timer") == 1
    assert "re:lost" in replies
    assert got["failed"] == 1  # the refused send reached the node
    # The deadline was 0.2 s after the datagram that armed it arrived.
    assert 0.15 <= got["timer_after"] < 2.0


PRIORITY_CHILD = """
import json, socket, subprocess, sys, time
from pyn2n.io import netconf
from pyn2n.io.tap import TapDevice
from pyn2n.wire.vnet import VNET_HDR_LEN

vnet = sys.argv[1] == "vnet"
tap = TapDevice.open("edge0", vnet_hdr=vnet, interactive=512)
out = {"priority": tap.priority is not None, "off": tap.priority_off}
netconf.configure_tap("edge0", bytes.fromhex("02a0b0c0d001"), "198.19.1.1/24", mtu=1400)
# a neighbour that never answers: the kernel sends straight to the TAP, no ARP first
subprocess.run(["ip", "neigh", "add", "198.19.1.2", "lladdr", "02:a0:b0:c0:d0:02", "dev",
                "edge0"], check=True)
time.sleep(0.3)  # the kernel's own frames (router solicitations, IGMP) first
tap.read_batch(64)
if tap.priority is not None:
    tap.priority.read_batch(64)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sizes = [20, 300, 1200, 40, 900, 440]
for size in sizes:
    sock.sendto(bytes(size), ("198.19.1.2", 9))
time.sleep(0.3)
hdr = VNET_HDR_LEN if vnet else 0
def udp_payloads(frames):  # IPv4/UDP to port 9 only: Ethernet 14 + IP 20 + UDP 8
    return [len(f) - hdr - 42 for f in frames if f[hdr + 12:hdr + 14] == b"\\x08\\x00"
            and f[hdr + 23] == 17]
out["bulk"] = udp_payloads(tap.read_batch(64))
out["interactive"] = udp_payloads(tap.priority.read_batch(64)) if tap.priority else []
tap.close()
try:
    netconf.get_link("edge0")
    out["after_close"] = "present"
except LookupError:
    out["after_close"] = "gone"
print(json.dumps(out), flush=True)
"""


@pytest.mark.parametrize("mode", ["plain", "vnet"])
def test_tap_interactive_queue_gets_the_short_frames(mode: str) -> None:
    """A TAP opened with `interactive=512` has a second queue; the kernel's steering program
    puts frames of at most 512 bytes there and the others on the first, in order."""
    with netns() as (ns,):
        out = run_in_ns(ns, PRIORITY_CHILD, mode)
    assert out["priority"], out["off"]
    # frames: payload + 42 bytes of headers; 512 bytes or less is a payload of 470 or less
    assert out["interactive"] == [20, 300, 40, 440], out
    assert out["bulk"] == [1200, 900], out
    assert out["after_close"] == "gone"
