"""Hostile input against running pyn2n processes: 20,000 datagrams (random bytes, truncated valid
messages of every type, valid headers with garbage bodies, oversized ones up to 65,507 bytes, and
REGISTER_SUPERs spoofing e1's MAC from another socket) sent at the supernode and at edge e1 from
a third host. Afterwards both processes are alive, their `drops` counters have grown, e1 is still
registered from its own socket and the overlay still works.

Run as a script, this file is the attacker:
`attack SN_IP:PORT EDGE_IP:PORT E1_MAC E1_CIDR COMMUNITY COUNT SEED` prints JSON counts by kind;
`mgmt PORT COUNT SEED` fuzzes a management port on 127.0.0.1 (text and JSON writes without the
password among random bytes); afterwards nothing it could change has changed.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay
from pyn2n.wire import (
    MSG_TYPE_PACKET,
    Auth,
    Common,
    Deregister,
    Federation,
    IpSubnet,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    Sock,
    SupernodeEntry,
    UnregisterSuper,
    WireError,
    decode,
    encode,
    mac_from_str,
)

pytestmark = pytest.mark.root

DATAGRAMS = 20_000
MAX_UDP = 65_507
MSG_TYPES = 16  # the 4-bit packet code space, including unused codes


def valid_messages(rng: random.Random, community: bytes) -> list[bytes]:
    """One well-formed datagram of every message type, with random fields."""

    def mac() -> bytes:
        return bytes([rng.randrange(256) & 0xFE, *rng.randbytes(5)])

    def sock() -> Sock:
        return Sock(f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}", rng.randrange(65536))

    sub = IpSubnet(rng.getrandbits(32), 24)
    auth = Auth(1, rng.randbytes(16))
    msgs = [
        Register(rng.getrandbits(32), mac(), mac(), sock(), sub, b"x"),
        Deregister(rng.randbytes(12)),
        Packet(mac(), mac(), None, 0, 1, rng.randbytes(60)),
        RegisterAck(rng.getrandbits(32), mac(), mac(), sock()),
        RegisterSuper(rng.getrandbits(32), mac(), None, sub, b"y", auth),
        UnregisterSuper(auth, mac()),
        RegisterSuperAck(
            rng.getrandbits(32), mac(), sub, sock(), auth, (SupernodeEntry(sock(), mac()),)
        ),
        RegisterSuperNak(rng.getrandbits(32), mac()),
        Federation(rng.randbytes(8)),
        PeerInfo(0, mac(), mac(), sock()),
        QueryPeer(mac(), mac()),
        ReRegisterSuper(),
    ]
    return [encode(Common(0, 2, 0, community), m) for m in msgs]


def undecodable(data: bytes) -> bool:
    try:
        decode(data)
    except WireError:
        return True
    return False


def hostile(rng: random.Random, community: bytes, valid: list[bytes]) -> tuple[str, bytes]:
    """One hostile datagram (kind, bytes), some made from the `valid` messages. Nothing here is a
    well-formed PACKET, which an open community would legitimately carry to the TAPs."""
    roll = rng.random()
    if roll < 0.01:
        size = rng.randrange(1401, MAX_UDP + 1)
        head = rng.choice(valid)[:24] if rng.random() < 0.5 else b""
        return "oversized", head + rng.randbytes(size - len(head))
    if roll < 0.35:
        return "random", rng.randbytes(rng.randrange(0, 1400))
    if roll < 0.70:
        for _ in range(50):
            msg = rng.choice(valid)
            cut = msg[: rng.randrange(0, len(msg))]
            if undecodable(cut):
                return "truncated", cut
        return "random", rng.randbytes(rng.randrange(0, 1400))
    # a valid common header (§2: version 3, ttl, flags|code, our community), any other code,
    # then a garbage body
    pc = rng.choice([c for c in range(MSG_TYPES) if c != MSG_TYPE_PACKET])
    flags = rng.getrandbits(11) << 5
    head = bytes([3, rng.randrange(256), (flags | pc) >> 8, (flags | pc) & 0xFF])
    return "garbage_body", head + community.ljust(20, b"\x00") + rng.randbytes(rng.randrange(200))


def spoofed_register_super(rng: random.Random, community: bytes, mac: bytes, cidr: str) -> bytes:
    """e1's MAC, address and name, someone else's token: a registration hijack attempt."""
    msg = RegisterSuper(
        rng.getrandbits(32), mac, None, IpSubnet.from_str(cidr), b"e1", Auth(1, rng.randbytes(16))
    )
    return encode(Common(0, 2, 0, community), msg)


def attack(
    sn: tuple[str, int], edge: tuple[str, int], mac: bytes, cidr: str, community: bytes, count: int,
    seed: int,
) -> dict[str, dict[str, int]]:  # fmt: skip
    rng = random.Random(seed)
    valid = [m for _ in range(20) for m in valid_messages(rng, community)]
    sent: dict[str, Counter[str]] = {"supernode": Counter(), "edge": Counter()}
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofer,
    ):
        for i in range(count):
            to_sn = i % 2 == 0
            sock = junk
            if to_sn and rng.random() < 0.04:
                kind, sock = "spoofed_register_super", spoofer
                data = spoofed_register_super(rng, community, mac, cidr)
            else:
                kind, data = hostile(rng, community, valid)
            try:
                sock.sendto(data, sn if to_sn else edge)
            except OSError:
                kind = "send_error"
            sent["supernode" if to_sn else "edge"][kind] += 1
            if i % 100 == 99:
                time.sleep(0.01)  # a steady flood the daemons can read, not a socket-buffer test
    return {k: dict(v) for k, v in sent.items()}


# management writes and near-misses, none with the right password ("n2n")
MGMT_WRITES = [
    b"+verb", b"-verb", b"+verb ", b"-verb\n", b"+verb wrong", b"-verb n2", b"+verbose",
    b"stop", b"stop\n", b"stop n", b"stop N2N", b"reload_communities",
    b"w 1 verbose 0", b"w 1 verbose 20", b"w 1:1:wrong verbose 0", b"w 1:1 verbose 0",
    b"w 1:0:n2n verbose 0", b"w 1 stop", b"w 1:1:n2x stop", b"s 1 debug", b"s 1:1:bad peer",
    b"w 1 reload_communities", b"w 1:1: verbose 0", b"r 1:1:bad verbose 0",
]  # fmt: skip


def mgmt_attack(port: int, count: int, seed: int) -> dict[str, int]:
    """Hostile datagrams at a management port: writes without the password, mutated writes,
    random bytes; the replies are read and thrown away."""
    rng = random.Random(seed)
    sent: Counter[str] = Counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for i in range(count):
            roll = rng.random()
            if roll < 0.5:
                kind, data = "write", rng.choice(MGMT_WRITES)
            elif roll < 0.75:
                msg = bytearray(rng.choice(MGMT_WRITES))
                for _ in range(rng.randrange(1, 4)):
                    msg[rng.randrange(len(msg))] = rng.randrange(256)
                kind, data = "mutated", bytes(msg)
            else:
                kind, data = "random", rng.randbytes(rng.randrange(0, 200))
            s.sendto(data, ("127.0.0.1", port))
            sent[kind] += 1
            if i % 50 == 49:
                time.sleep(0.01)
                with contextlib.suppress(OSError):
                    while s.recv(65536):
                        pass
    return dict(sent)


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def run_attack(lab: Lab, node: str, sn: str, edge: str, mac: str, cidr: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "attack", sn, edge, mac, cidr, "mynet", str(DATAGRAMS), "7"]
    done = lab.run(node, argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_hostile_datagrams_leave_the_overlay_working(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(3)  # e3 is the attacker's host; no edge runs there
    ov = Overlay(lab, log_dir=tmp_path).start(["e1", "e2"])
    ov.wait_registered()
    ov.wait_mesh()
    ov.wait_path("e1", "e2", "direct")
    [e1_row] = [r for r in ov.ctl("sn", "edges") if r["desc"] == "e1"]
    before = {node: ov.drops(node) for node in ("sn", "e1")}

    sent = run_attack(
        lab, "e3", lab.supernode_endpoint(), str(e1_row["sockaddr"]), str(e1_row["macaddr"]),
        lab.overlay_cidr("e1"),
    )  # fmt: skip
    assert sum(sent["supernode"].values()) + sum(sent["edge"].values()) == DATAGRAMS
    assert "send_error" not in sent["supernode"] and "send_error" not in sent["edge"], sent
    assert sent["supernode"]["spoofed_register_super"] > 100 and sent["edge"]["oversized"] > 10

    ov.check_alive()  # supernode and both edges survived
    after = {node: ov.drops(node) for node in ("sn", "e1")}
    for node in ("sn", "e1"):
        grown = sum(after[node].values()) - sum(before[node].values())
        # most of the 10,000 each are refused by reason (some may be lost in socket buffers)
        assert grown > 5000, (node, before[node], after[node])
    spoofs = after["sn"].get("spoofed_mac", 0) - before["sn"].get("spoofed_mac", 0)
    assert spoofs > sent["supernode"]["spoofed_register_super"] // 2, after["sn"]

    # e1's registration was not hijacked: same MAC, same socket
    [row] = [r for r in ov.ctl("sn", "edges") if r["desc"] == "e1"]
    assert (row["macaddr"], row["sockaddr"]) == (e1_row["macaddr"], e1_row["sockaddr"])
    assert ov.ping("e2", "e1", count=3, interval=0.1) == 3
    assert ov.ping("e1", "e2", count=3, interval=0.1) == 3
    ov.wait_path("e2", "e1", "direct", timeout=5)
    ov.check_alive()


def test_hostile_management_input_changes_nothing(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2)
    ov = Overlay(lab, log_dir=tmp_path).start(["e1", "e2"])
    ov.wait_registered()
    levels = {node: ov.ctl(node, "verbose")[0]["traceLevel"] for node in ("sn", "e1")}
    ports = {"sn": 5645, "e1": 5644}  # the defaults the lab uses
    for node, port in ports.items():
        argv = [sys.executable, __file__, "mgmt", str(port), "3000", "11"]
        done = lab.run(node, argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        sent = json.loads(done.stdout)
        assert sent["write"] > 1000 and sent["random"] > 500, sent
    ov.check_alive()  # nobody stopped
    for node, level in levels.items():
        assert ov.ctl(node, "verbose")[0]["traceLevel"] == level, node
    topics = ov.ctl("e1", "help.events")
    assert all(row["sockaddr"] == "?:?" for row in topics), topics  # no subscription taken
    assert ov.registered() == ["e1", "e2"]
    assert ov.ping("e1", "e2", count=2, interval=0.1) == 2


def main(argv: list[str]) -> int:
    if argv[0] == "mgmt":
        print(json.dumps(mgmt_attack(int(argv[1]), int(argv[2]), int(argv[3]))))
        return 0
    role, sn, edge, mac, cidr, community, count, seed = argv
    assert role == "attack"
    result = attack(
        _addr(sn), _addr(edge), mac_from_str(mac), cidr, community.encode(), int(count), int(seed)
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
