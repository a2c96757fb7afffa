"""Cost per frame of a bulk TCP flow through two pyn2n edges in single frames (docs/fastpath.md,
"Loss"): what the fast path pays when its loss policy has the TAP hand out MTU-sized frames,
against the standard path (`--no-fastpath`).

Not a test (speed is never asserted): the rig of tests/framecost.py (two real loops, loopback
UDP sockets, socketpair "TAPs"), driven with bursts of `--burst` 1304-byte TCP segments from a
to b and one 66-byte ACK back per two segments; the clock advances 33 µs per segment (about
300 Mbit/s), so the fast path's loss feedback and policy ticks run as often as they would.

    python -m tests.bulkcost [--fast] [--n 2000] [--burst 16]     # µs per segment (noisy)
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        python -m tests.bulkcost [--fast] --n 300 [--stage K]      # instructions / (n × burst)

Stages (`--stage`): 0 a's TAP -> UDP (the segments), 1 b's UDP -> TAP, 2 b's TAP -> UDP (the
ACKs), 3 a's UDP -> TAP; without it, the whole round. Run it in `unshare -n` with `lo` up, as
tests/framecost.py.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import struct
import sys
import time
from collections.abc import Callable
from functools import reduce

from pyn2n.core.edge import Edge
from tests.framecost import Side, build, turn

SEGMENT_PAYLOAD = 1238  # the 1290-byte MTU less IPv4 and TCP (with time stamps) headers
PER_SEGMENT = 33e-6


def tcp_frame(src: Edge, dst: Edge, payload: int) -> bytes:
    """An Ethernet + IPv4 + TCP (32-byte header) frame with `payload` bytes of data."""
    assert src.ip is not None and dst.ip is not None
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, 1, 1, 0x80, 0x10, 512, 0, 0) + bytes(12)
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(tcp) + payload,
        0,
        0x4000,
        64,
        6,
        0,
        ipaddress.IPv4Address(src.ip).packed,
        ipaddress.IPv4Address(dst.ip).packed,
    )
    return dst.mac + src.mac + b"\x08\x00" + ip + tcp + bytes(payload)


def drain_to_tap(side: Side) -> int:
    """Turn the loop until its UDP socket and TAP are quiet; frames the kernel got back."""
    got = 0
    for _ in range(64):
        turn_quiet(side)
        n = 0
        while True:
            try:
                side.kernel.recv(65536)
            except BlockingIOError:
                break
            n += 1
        got += n
        if not side.loop._epoll.poll(0):
            return got
    return got


def turn_quiet(side: Side) -> None:
    loop = side.loop
    if loop._epoll.poll(0):
        turn(loop)


class Bulk:
    def __init__(self, fast: bool, burst: int) -> None:
        self.sa, self.sb, self.t, _req, _rep = build(fast)
        self.fast = fast
        self.burst = burst
        self.delivered = 0
        self.only: int | None = None  # collect this stage only (`--stage`)
        self.n = 0
        vnet = self.sa.vnet
        a, b = self.sa.edge, self.sb.edge
        self.data = vnet + tcp_frame(a, b, SEGMENT_PAYLOAD)
        self.ack = vnet + tcp_frame(b, a, 0)
        for side in (self.sa, self.sb):
            fp = side.edge.fastpath
            if fp is not None:  # the loss policy's single frames, held
                fp.lossy = True
                for st in fp.states.values():
                    if st.cur is not None:
                        st.cur.hold_until = math.inf
                        st.cur.loss = 0.05

    def round(self) -> None:
        sa, sb = self.sa, self.sb
        self.t[0] += PER_SEGMENT * self.burst
        send = sa.kernel.send
        for _ in range(self.burst):
            send(self.data)
        self.stage(0, self.tx_data)  # a: TAP -> UDP
        self.stage(1, self.rx_data)  # b: UDP -> TAP
        send = sb.kernel.send
        for _ in range(self.burst // 2):
            send(self.ack)
        self.stage(2, self.tx_ack)  # b: the ACKs, TAP -> UDP
        self.stage(3, self.rx_ack)  # a: UDP -> TAP

    def stage(self, k: int, body: Callable[[], None]) -> None:
        if self.only == k:  # `--stage k`: only this one inside callgrind's collection
            reduce(_stage, (body,), None)
        else:
            body()

    def tx_data(self) -> None:
        while self.sa.loop._epoll.poll(0):
            turn(self.sa.loop)

    def rx_data(self) -> None:
        self.delivered += drain_to_tap(self.sb)

    def tx_ack(self) -> None:
        while self.sb.loop._epoll.poll(0):
            turn(self.sb.loop)

    def rx_ack(self) -> None:
        drain_to_tap(self.sa)


def _call(_acc: None, body: Bulk) -> None:
    for _ in range(body.n):
        body.round()


def _stage(_acc: None, body: Callable[[], None]) -> None:
    body()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fast", action="store_true")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--burst", type=int, default=16)
    p.add_argument("--stage", type=int, help="collect only stage 0 a tx, 1 b rx, 2 b tx, 3 a rx")
    args = p.parse_args(argv)
    bulk = Bulk(args.fast, args.burst)
    bulk.n = 50
    _call(None, bulk)  # warm up (outside the collected function)
    bulk.n = args.n
    t0 = time.process_time()
    if args.stage is None:
        reduce(_call, (bulk,), None)  # everything collected
    else:
        bulk.only = args.stage
        _call(None, bulk)
    dt = time.process_time() - t0
    segs = args.n * args.burst
    print(f"{'fast' if args.fast else 'standard'}: {dt / segs * 1e6:.2f} µs CPU per segment "
          f"(with its ACK share), {segs} segments")  # fmt: skip
    print(f"segments delivered to b's TAP: {bulk.delivered}")


if __name__ == "__main__":
    main(sys.argv[1:])
