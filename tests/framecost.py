"""Per-stage cost of one small frame through a pyn2n edge (docs/performance.md).

Not a test (speed is never asserted): a synthetic, in-memory run of the real loop and the real
core. Two edges `a` and `b` meet on a SimNet (tests/simnet.py, the standard path or the fast
path), then each gets a real loopback UDP socket and a "TAP" that is one end of an AF_UNIX
SOCK_DGRAM socketpair (one message per read or write and EAGAIN when empty: the syscall shape of
a TAP). The driver plays the kernel: it writes a 98-byte ICMP echo into a's TAP, turns a's loop
once (TAP -> UDP), turns b's loop once (UDP -> TAP), reads the frame from b's TAP, writes the
reply, and back; the clock advances 10 ms per round trip (`ping -i 0.01`), so timers fire as
they would.

    python -m tests.framecost [--fast] [--n 400]        # µs per stage (perf_counter_ns)
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        --dump-before=getppid --callgrind-out-file=cg.%p python -m tests.framecost [--fast]
    python -m tests.framecost [--fast] --parse cg.PID   # instructions per stage
    python -m tests.framecost [--fast] --gaps --n 200   # round trip after sleeping/spinning

Instruction counts are load-independent (user space only: syscalls count their libc and Python
side, not the kernel's); the µs are not (the machine's cores are shared).
"""

from __future__ import annotations

import argparse
import glob
import ipaddress
import os
import re
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from functools import reduce
from typing import Any

from pyn2n.core.edge import Edge
from pyn2n.core.fastpath.framing import DGRAM
from pyn2n.io.loop import EdgeLoop, EventLoop, FastEdgeLoop
from pyn2n.io.tap import TapDevice
from pyn2n.io.udp import UdpSocket
from pyn2n.wire.packet import decode_packet_header, encode_packet
from pyn2n.wire.vnet import ZERO_VNET_HDR
from tests.simnet import SimNet, n2n_edge, n2n_supernode

Stage = tuple[str, Callable[[], None] | None, Callable[[], None]]


def icmp_echo(src: Edge, dst: Edge, reply: bool = False) -> bytes:
    """A 98-byte Ethernet frame: IPv4 ICMP echo with 56 bytes of data (what `ping` sends)."""
    assert src.ip is not None and dst.ip is not None
    icmp = struct.pack(">BBHHH", 0 if reply else 8, 0, 0, 1, 1) + bytes(range(56))
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(icmp),
        0,
        0x4000,
        64,
        1,
        0,
        ipaddress.IPv4Address(src.ip).packed,
        ipaddress.IPv4Address(dst.ip).packed,
    )
    frame = dst.mac + src.mac + b"\x08\x00" + ip + icmp
    assert len(frame) == 98
    return frame


class Side:
    """One edge with real fds: a loopback UdpSocket and a socketpair standing in for its TAP."""

    def __init__(self, edge: Edge, fast: bool, clock: Callable[[], float]) -> None:
        self.edge = edge
        self.udp = UdpSocket("127.0.0.1", 0)
        mine, self.kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        mine.setblocking(False)
        self.kernel.setblocking(False)
        self._keep = mine
        self.tap = TapDevice(mine.fileno(), "fc0", fast, 65536)
        loop_cls: Any = FastEdgeLoop if fast else EdgeLoop
        self.loop: EventLoop = loop_cls(edge, self.udp, self.tap, clock=clock)
        self.vnet = ZERO_VNET_HDR if fast else b""


def turn(loop: EventLoop) -> None:
    """One turn of `EventLoop.run` (its body, kept equal to it by hand)."""
    node = loop._node
    deadline = node.get_timer()
    if deadline is None:
        timeout = -1.0
    else:
        now = loop._clock()
        if deadline <= now:
            node.handle_timer(now)
            loop.flush()
            deadline = node.get_timer()
        timeout = -1.0 if deadline is None else max(0.0, deadline - now)
    handlers = loop._handlers
    for fd, _mask in loop._epoll.poll(timeout):
        handlers[fd]()


def build(fast: bool) -> tuple[Side, Side, list[float], bytes, bytes]:
    net = SimNet(delay=0.0)
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host")
    edges = []
    for i in (1, 2):
        net.add_host(f"h{i}")
        edges.append(
            n2n_edge(
                net,
                f"e{i}",
                f"h{i}",
                supernodes=["sn"],
                community="mynet",
                ip=f"198.19.0.{i}",
                fastpath=fast,
            )
        )
    net.run_for(1.0)
    a, b = edges
    req, rep = icmp_echo(a, b), icmp_echo(b, a, reply=True)
    net.send_frame("e1", req)
    net.send_frame("e2", rep)
    net.run_for(2.0)
    if fast:
        assert a.fastpath is not None and a.fastpath.tx and b.fastpath is not None
    t = [net.now]

    def clock() -> float:  # a fake clock, advanced by the driver
        return t[0]

    sa, sb = Side(a, fast, clock), Side(b, fast, clock)
    for me, other in ((sa, sb), (sb, sa)):
        peer = me.edge.peers.known[other.edge.mac]
        me.edge.peers.set_known_sock(peer, other.udp.local_addr)
        if fast:
            fp = me.edge.fastpath
            assert fp is not None
            for sess in fp.by_conn.values():
                sess.addr = peer.sock
    return sa, sb, t, req, rep


class Pieces:
    """The stages of one frame, each a method measured alone: a's side for TAP -> UDP, b's side
    for UDP -> TAP, on the real objects of `build`."""

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.sa, self.sb, self.t, self.req, rep = build(fast)
        self.a, self.b = self.sa.edge, self.sb.edge
        self.vreq, self.vrep = self.sa.vnet + self.req, self.sb.vnet + rep
        self.now = self.t[0]
        self.poller = select.epoll()
        self.poller.register(self.sa.tap.fileno(), select.EPOLLIN)
        self.p1, self.p2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        # the fast loop's entry for a single frame (since #11; before, a batch of one)
        self.one_vnet = self.a.receive_vnet_frame if hasattr(self.a, "fast_outputs") else None
        self.src, self.dst_addr = self.sa.udp.local_addr, self.sb.udp.local_addr
        self.pkt = self.datagram()

    # -- the driver: the kernel's side of both edges

    def deliver(self, side: Side) -> None:
        """Turn the loop until the frame reaches the TAP (a control datagram may come first)."""
        while True:
            turn(side.loop)
            try:
                side.kernel.recv(65536)
                return
            except BlockingIOError:
                pass

    def round_trip(self) -> None:
        self.t[0] += 0.01
        self.sa.kernel.send(self.vreq)
        turn(self.sa.loop)  # a: TAP -> UDP
        self.deliver(self.sb)  # b: UDP -> TAP
        self.sb.kernel.send(self.vrep)
        turn(self.sb.loop)  # b: TAP -> UDP
        self.deliver(self.sa)  # a: UDP -> TAP

    def kernel_pair(self) -> None:
        self.p1.send(self.vreq)
        self.p2.recv(65536)

    def kernel_write(self) -> None:
        self.sa.kernel.send(self.vreq)

    def kernel_write_drained(self) -> None:  # exactly one frame waiting
        self.sa.tap.read_batch(64)
        self.sa.kernel.send(self.vreq)

    def calm(self) -> None:
        """The stages before sent many frames at one instant: no bulk flow here."""
        fp = self.a.fastpath
        if fp is not None:
            fp.bulk = False
            fp._tx_mark = fp.tx_packets
            fp._bulk_until = float("-inf")

    def datagram(self) -> bytes:
        self.receive()
        ((d, _addr),) = self.a.datagrams_to_send()
        return d

    def fresh(self) -> None:  # a new datagram (the fast path's replay window refuses a repeat)
        self.pkt = self.datagram()

    def fresh_rx(self) -> None:
        self.fresh()
        self.rx()

    def calm_receive(self) -> None:
        self.calm()
        self.receive()

    # -- the stages

    def nothing(self) -> None:
        pass

    def wake(self) -> None:
        for _fd, _mask in self.poller.poll(0):
            pass

    def timer(self) -> None:
        self.a.get_timer()

    def tap_os_read(self) -> None:
        os.read(self.sa.tap.fileno(), 65536)

    def tap_read_batch(self) -> None:
        self.sa.tap.read_batch(64)

    def tap_read(self) -> None:
        self.sa.tap.read()

    def receive(self) -> None:
        if not self.fast:
            self.a.receive_frame(self.req, self.now)
        elif self.one_vnet is not None:
            self.one_vnet(self.vreq, self.now)
        else:
            self.a.receive_vnet_frames([self.vreq], self.now)

    def core_tx(self) -> None:
        self.receive()
        self.a.datagrams_to_send()

    def encode(self) -> None:
        encode_packet(self.a.st.community20, self.a.mac, self.b.mac, 1, 1, self.req)

    def cached_header(self) -> None:
        headers = getattr(self.a.data, "_headers", {})
        headers.get(self.b.mac, b"") + self.req

    def transform(self) -> None:
        self.a.data.transform.encode(self.req)

    def lookup(self) -> None:
        self.a.peers.known.get(self.b.mac)

    def drains(self) -> None:
        self.sa.loop.flush()  # nothing queued: the drains and checks alone

    def flush_a(self) -> None:
        self.sa.loop.flush()
        self.sb.udp.recv_batch(64)

    def udp_send(self) -> None:
        self.sa.udp.sendto(self.pkt, self.dst_addr)

    def udp_send_recv(self) -> None:
        self.udp_send()
        self.sb.udp.recv_batch(1)

    def udp_recv_batch(self) -> None:
        self.sb.udp.recv_batch(64)

    def udp_recv_one(self) -> None:
        getattr(self.sb.udp, "recv_one", self.sb.udp.recv_batch)()

    def gro_recv_batch(self) -> None:
        self.sb.udp.recv_gro_batch(64)

    def rx(self) -> None:
        self.b.receive_datagram(self.pkt, self.src, self.now)

    def core_rx(self) -> None:
        self.rx()
        self.b.frames_to_write()
        getattr(self.b, "vnet_frames_to_write", list)()

    def decode(self) -> None:
        if self.fast:
            DGRAM.unpack_from(self.pkt)
        else:
            decode_packet_header(self.pkt)

    def flush_b(self) -> None:
        self.sb.loop.flush()
        self.sb.kernel.recv(65536)


def stages(fast: bool) -> tuple[list[Stage], Side, Side]:
    p = Pieces(fast)
    out: list[Stage] = [
        ("loop overhead (empty)", None, p.nothing),
        ("round trip: 4 loop turns (a tx, b rx, b tx, a rx) + driver", None, p.round_trip),
        ("driver: one kernel-side send + recv of the frame", None, p.kernel_pair),
        ("wake: epoll_wait(0) on a ready fd", p.kernel_write_drained, p.wake),
        ("get_timer()", None, p.timer),
        ("TAP read: os.read of one frame", p.kernel_write, p.tap_os_read),
        ("TAP read_batch (frame + EAGAIN read)", p.kernel_write, p.tap_read_batch),
        ("TAP read_batch that finds nothing (EAGAIN only)", None, p.tap_read_batch),
        ("TAP read (one os.read: the idle path)", p.kernel_write, p.tap_read),
        ("core TAP->UDP: receive_frame / receive_vnet_frame(s)", None, p.core_tx),
        ("  encode_packet (header + payload)", None, p.encode),
        ("  cached PACKET header + payload", None, p.cached_header),
        ("  transform.encode (null)", None, p.transform),
        ("  peer lookup (dict get)", None, p.lookup),
        ("flush with nothing queued (drains, offload check)", p.calm, p.drains),
        ("flush of one datagram (+ sink recv)", p.calm_receive, p.flush_a),
        ("UDP sendto of one datagram (+ sink recv)", None, p.udp_send_recv),
        ("UDP recv_batch (datagram + EAGAIN)", p.udp_send, p.udp_recv_batch),
        ("UDP recv_gro_batch (recvmsg + EAGAIN)", p.udp_send, p.gro_recv_batch),
        ("UDP recv_one (one recvfrom: the idle path)", p.udp_send, p.udp_recv_one),
        ("core UDP->TAP: receive_datagram", p.fresh, p.core_rx),
        ("  header decode (decode_packet_header; fast: DGRAM)", None, p.decode),
        ("flush of one frame to the TAP (+ kernel read)", p.fresh_rx, p.flush_b),
    ]
    return out, p.sa, p.sb


def _call(_acc: None, body: Callable[[], None]) -> None:
    body()


def run(fast: bool, n: int) -> None:
    """Each stage n times (after a warm-up), inside `functools.reduce` so that callgrind
    (`--collect-atstart=no --toggle-collect=functools_reduce`) counts the stage and not its prep;
    `os.getppid()` before each stage makes it dump (`--dump-before=getppid`)."""
    table, _sa, _sb = stages(fast)
    for name, prep, body in table:
        for _ in range(20):  # warm up
            if prep is not None:
                prep()
            body()
        os.getppid()
        best = 0
        for rep in range(5 if n > 0 else 0):  # µs: the best of 5 means of n
            total = 0
            for _ in range(n):
                if prep is not None:
                    prep()
                t0 = time.perf_counter_ns()
                reduce(_call, (body,), None)
                total += time.perf_counter_ns() - t0
            best = total if rep == 0 else min(best, total)
        print(f"{best / n / 1000:8.2f} µs  {name}", flush=True)
    os.getppid()


def parse(prefix: str, n: int, fast: bool) -> None:
    """Instructions per stage from the callgrind dumps (a stage's dump includes its prep and the
    timing calls: subtract the "loop overhead" row, and the driver rows where they apply)."""
    files = sorted(glob.glob(prefix + ".*"), key=lambda f: int(f.rsplit(".", 1)[1]))
    totals = []
    for f in files:
        with open(f) as fh:
            m = re.search(r"^(?:summary|totals): (\d+)", fh.read(), re.M)
        totals.append(int(m.group(1)) if m else 0)
    # dumps: the warm-up before the first marker, then one per stage (5n runs each)
    overhead = 0.0
    for (name, _p, _b), tot in zip(stages(fast)[0], totals[1:], strict=False):
        per = tot / (5 * n)
        if not overhead:
            overhead = per
        print(f"{per - overhead:10.0f} instr  {name}")


def gaps(fast: bool, n: int) -> None:
    """The round trip's wall time back to back, and after the process slept or spun a while:
    what an idle ping (one every 10 ms) meets is the slow, cache-cold case."""
    p = Pieces(fast)
    for _ in range(50):
        p.round_trip()

    def median_rt(gap: float, spin: bool) -> float:
        out = []
        for _ in range(n):
            if spin:
                end = time.perf_counter() + gap
                while time.perf_counter() < end:
                    pass
            elif gap:
                time.sleep(gap)
            t0 = time.perf_counter_ns()
            p.round_trip()
            out.append(time.perf_counter_ns() - t0)
        out.sort()
        return out[len(out) // 2] / 1000

    print(f"back to back         p50 {median_rt(0, False):7.1f} µs")
    for gap in (0.0001, 0.001, 0.01):
        print(f"after {gap * 1000:5.1f} ms sleep  p50 {median_rt(gap, False):7.1f} µs")
    for gap in (0.001, 0.01):
        print(f"after {gap * 1000:5.1f} ms spin   p50 {median_rt(gap, True):7.1f} µs")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fast", action="store_true")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--parse")
    p.add_argument("--gaps", action="store_true", help="round trips after sleeping or spinning")
    args = p.parse_args(argv)
    if args.gaps:
        gaps(args.fast, args.n)
    elif args.parse:
        parse(args.parse, args.n, args.fast)
    else:
        run(args.fast, args.n)


if __name__ == "__main__":
    main(sys.argv[1:])
