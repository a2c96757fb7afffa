"""Load generator of `pyn2n bench supernode`: synthetic edges registering with a supernode.

One process holds up to ~19,000 UDP sockets (the file-descriptor limit), one per synthetic edge,
bound to the source addresses it is given and connected to the supernode, so that every edge has
its own socket as the supernode sees it. Its REGISTER_SUPER datagrams (distinct MACs, TAP
addresses and tokens) are built once. Commands come as JSON lines on stdin, answers go as JSON
lines to stdout:

* `{"op": "register"}`: every edge registers once, at most `window` unanswered at a time
  (resent after a silence); answers acked, sent and seconds.
* `{"op": "steady", "seconds": S, "interval": 20}`: each edge re-registers every `interval`
  seconds, spread evenly; answers acked and sent.
* `{"op": "broadcast", "count": N, "gap": G}`: edge 0 sends N broadcast PACKETs, G s apart.
* `{"op": "quit"}`.

Run: python -m pyn2n.bench.sngen SN_IP:PORT COMMUNITY FIRST_INDEX COUNT IP[,IP...] [WINDOW]
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import socket
import sys
import time

from pyn2n.constants import N2N_AUTH_SIMPLE_ID
from pyn2n.wire import Common, RegisterSuper, encode, encode_packet, pad_community
from pyn2n.wire.types import Auth, IpSubnet

RESEND_AFTER = 0.25  # seconds of silence after which unanswered registrations are sent again
BROADCAST = b"\xff" * 6


def edge_mac(i: int) -> bytes:
    return bytes([0x02, 0x5B]) + i.to_bytes(4, "big")


def register_super(community: bytes, i: int) -> bytes:
    """Edge i's REGISTER_SUPER: its MAC, TAP address 10.x.y.z/8 and simple-id token."""
    reg = RegisterSuper(
        i,
        edge_mac(i),
        None,
        IpSubnet(0x0A000000 | (i & 0xFFFFFF), 8),
        b"synthetic",
        Auth(N2N_AUTH_SIMPLE_ID, i.to_bytes(16, "big")),
    )
    return encode(Common(0, 2, 0, community), reg)


class Generator:
    def __init__(
        self, sn: tuple[str, int], community: bytes, first: int, count: int, ips: list[str]
    ) -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.community = community
        self.first = first
        self.fds: list[int] = []
        self.socks: list[socket.socket] = []
        for k in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ips[k % len(ips)], 0))
            s.connect(sn)
            s.setblocking(False)
            self.socks.append(s)
            self.fds.append(s.fileno())
        self.index = {fd: k for k, fd in enumerate(self.fds)}
        self.regs = [register_super(community, first + k) for k in range(count)]
        self.epoll = select.epoll()
        for fd in self.fds:
            self.epoll.register(fd, select.EPOLLIN)

    def _drain(self, timeout: float, answered: set[int] | None) -> int:
        """Read every answer waiting (up to `timeout` s for the first); returns how many."""
        got = 0
        read = os.read
        for fd, _ in self.epoll.poll(timeout, 4096):
            while True:
                try:
                    read(fd, 2048)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                got += 1
                if answered is not None:
                    answered.add(self.index[fd])
        return got

    def register(self, window: int) -> dict[str, float]:
        write = os.write
        n = len(self.fds)
        answered: set[int] = set()
        pending: list[int] = []  # sent, not answered yet
        nxt = sent = 0
        start = last_answer = time.perf_counter()
        while len(answered) < n:
            while nxt < n and len(pending) < window:
                write(self.fds[nxt], self.regs[nxt])
                pending.append(nxt)
                nxt += 1
                sent += 1
            if self._drain(0.05, answered):
                last_answer = time.perf_counter()
                pending = [k for k in pending if k not in answered]
            elif time.perf_counter() - last_answer > RESEND_AFTER:
                pending = [k for k in pending if k not in answered]
                for k in pending:
                    write(self.fds[k], self.regs[k])
                    sent += 1
                last_answer = time.perf_counter()
                if time.perf_counter() - start > 600:
                    break
        seconds = time.perf_counter() - start
        return {"acked": len(answered), "sent": sent, "seconds": seconds}

    def steady(self, seconds: float, interval: float) -> dict[str, float]:
        write = os.write
        n = len(self.fds)
        rate = n / interval
        start = time.perf_counter()
        sent = acked = 0
        k = 0
        while True:
            now = time.perf_counter() - start
            if now >= seconds:
                break
            due = min(int(now * rate) + 1, int(seconds * rate))
            while sent < due:
                with contextlib.suppress(OSError):
                    write(self.fds[k], self.regs[k])
                sent += 1
                k = (k + 1) % n
            acked += self._drain(0.01, None)
        acked += self._drain(0.5, None)
        return {"acked": acked, "sent": sent, "seconds": seconds}

    def broadcast(self, count: int, gap: float, size: int) -> dict[str, float]:
        field = pad_community(self.community)
        data = encode_packet(field, edge_mac(self.first), BROADCAST, 1, 1, bytes(size))
        for _ in range(count):
            os.write(self.fds[0], data)
            time.sleep(gap)
        return {"sent": count}

    def drain_all(self) -> int:
        got = 0
        while True:
            n = self._drain(0.0, None)
            if not n:
                return got
            got += n


def main(argv: list[str]) -> int:
    host, _, port = argv[0].rpartition(":")
    window = int(argv[5]) if len(argv) > 5 else 512
    gen = Generator(
        (host, int(port)), argv[1].encode(), int(argv[2]), int(argv[3]), argv[4].split(",")
    )
    print(json.dumps({"ready": len(gen.fds)}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "register":
            out = gen.register(window)
        elif op == "steady":
            out = gen.steady(float(cmd["seconds"]), float(cmd.get("interval", 20.0)))
        elif op == "broadcast":
            out = gen.broadcast(int(cmd["count"]), float(cmd["gap"]), int(cmd.get("size", 64)))
        elif op == "drain":
            out = {"drained": gen.drain_all()}
        else:
            break
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
