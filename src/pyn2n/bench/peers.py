"""The measuring ends of the bench's experiments, run inside lab hosts as
`python -m pyn2n.bench.peers ROLE ARGS...`.

Every server role prints `ready` once it listens; every role that measures prints its result as
one JSON object on the last line of stdout. Times are taken with `time.perf_counter()`.

Roles (ports and addresses come from the caller):

- `tcp-sink PORT`: accept one TCP connection, discard what arrives; result
  `{"bytes", "seconds", "total"}`: bytes and time after the first read to end of stream,
  and all bytes received.
- `tcp-source HOST PORT BYTES`: send BYTES of incompressible data (a 1 MiB random block sent
  over and over: no per-frame compressor can shrink it) and close.
- `zmq-local-thr BIND SIZE COUNT`, `zmq-remote-thr CONNECT SIZE COUNT`: libzmq's
  perf/local_thr.cpp and remote_thr.cpp (PUSH -> PULL); the receiver times from the first
  message to the last, result `{"messages", "size", "seconds"}` (messages: those timed,
  COUNT - 1). Messages are zero-filled, as remote_thr's are.
- `zmq-rep BIND SIZE COUNT`, `zmq-req CONNECT SIZE COUNT [SECONDS]`: REQ/REP round trips,
  each timed by the requester after one untimed round trip (the connection's set-up: the
  replier answers COUNT + 1); result `{"rtt_us": [...]}` (every timed round trip, µs). With SECONDS
  (> 0) the requester stops early when they have passed and sends an empty message, which ends
  the replier too.
- `mcast-recv GROUP PORT IFADDR SECONDS`: join GROUP on the interface with IFADDR and count
  distinct sequence numbers until the sender's end marker (or SECONDS pass); result
  `{"received", "duplicates", "first", "last"}` (first/last arrival times, perf_counter).
- `mcast-send GROUP PORT IFADDR SIZE RATE SECONDS`: send datagrams of SIZE bytes carrying a
  sequence number at RATE per second (0: as fast as possible) for SECONDS, then end markers;
  result `{"sent", "seconds"}`.
- `mcast-lat-recv GROUP PORT IFADDR SECONDS`, `mcast-lat-send GROUP PORT IFADDR SIZE RATE SECONDS`:
  as above, but each datagram also carries its send time (`time.monotonic_ns()`, one clock for
  every namespace of the machine), so the receiver reports one-way latencies:
  `{"received", "duplicates", "oneway_us": [...]}`.
- `sn-count SECONDS`: count UDP datagrams to and from port 7654 (the supernode) on every
  interface of the host with a raw socket, until SECONDS pass or SIGTERM; result `{"in", "out"}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence

import zmq

BLOCK = 1 << 20
SEQ = struct.Struct("!Q")
END_MARKER = b"pyn2n-bench-end"
END_REPEATS = 20  # the marker goes over a lossy path too, so it is sent many times


def _ready() -> None:
    print("ready", flush=True)


def _result(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def tcp_sink(port: str) -> None:
    with socket.create_server(("0.0.0.0", int(port)), reuse_port=False) as server:
        _ready()
        conn, _ = server.accept()
        with conn:
            buf = bytearray(BLOCK)
            view = memoryview(buf)
            first = conn.recv_into(view)  # the clock starts at the first byte: not timed
            start = time.perf_counter()
            timed = 0
            while n := conn.recv_into(view):
                timed += n
            seconds = time.perf_counter() - start
    _result({"bytes": timed, "total": first + timed, "seconds": seconds})


def tcp_source(host: str, port: str, nbytes: str) -> None:
    left = int(nbytes)
    block = memoryview(os.urandom(BLOCK))
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.settimeout(None)
        while left > 0:
            chunk = block[: min(left, BLOCK)]
            conn.sendall(chunk)
            left -= len(chunk)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)  # wait for the sink to close: all bytes are then delivered


def zmq_local_thr(bind: str, size: str, count: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.bind(bind)
    _ready()
    n = int(count)
    sock.recv(copy=False)
    start = time.perf_counter()
    for _ in range(n - 1):
        sock.recv(copy=False)
    seconds = time.perf_counter() - start
    sock.close()
    ctx.term()
    # Like local_thr: the clock starts at the first message, so n - 1 messages are timed.
    _result({"messages": n - 1, "size": int(size), "seconds": seconds})


def zmq_remote_thr(connect: str, size: str, count: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, -1)  # deliver all before exit
    sock.connect(connect)
    payload = bytes(int(size))
    send = sock.send
    for _ in range(int(count)):
        send(payload)
    sock.close()
    ctx.term()


def zmq_rep(bind: str, size: str, count: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind(bind)
    _ready()
    for _ in range(int(count) + 1):  # + the requester's warm-up
        msg = sock.recv()
        sock.send(msg)
        if not msg:  # the requester stopped early
            break
    sock.close()
    ctx.term()


def zmq_req(connect: str, size: str, count: str, seconds: str = "0") -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.connect(connect)
    payload = bytes(max(int(size), 1))  # an empty message is the stop signal
    clock = time.perf_counter_ns
    sock.send(payload)  # warm-up: the first round trip waits for TCP's and ZMTP's handshakes
    sock.recv()
    limit = float(seconds)
    deadline = clock() + int(limit * 1e9) if limit > 0 else None
    rtts = []
    for _ in range(int(count)):
        t0 = clock()
        if deadline is not None and t0 >= deadline:
            sock.send(b"")
            sock.recv()
            break
        sock.send(payload)
        sock.recv()
        rtts.append((clock() - t0) / 1000)
    sock.close()
    ctx.term()
    _result({"rtt_us": [round(r, 1) for r in rtts]})


def _group_socket(group: str, port: str, ifaddr: str) -> socket.socket:
    """A socket that joined `group` on the interface with `ifaddr` and gets its datagrams."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((group, int(port)))
    mreq = socket.inet_aton(group) + socket.inet_aton(ifaddr)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    return sock


def mcast_recv(group: str, port: str, ifaddr: str, seconds: str) -> None:
    sock = _group_socket(group, port, ifaddr)
    _ready()
    seen: set[int] = set()
    duplicates = 0
    first = last = 0.0
    deadline = time.monotonic() + float(seconds)
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if data.startswith(END_MARKER):
            break
        if len(data) < SEQ.size:
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        (seq,) = SEQ.unpack_from(data)
        if seq in seen:
            duplicates += 1
        else:
            seen.add(seq)
    _result({"received": len(seen), "duplicates": duplicates, "first": first, "last": last})


def _group_sender(ifaddr: str) -> socket.socket:
    """A socket that sends multicast out of the interface with `ifaddr` (TTL 1, no loop)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    sock.bind((ifaddr, 0))
    return sock


def mcast_send(group: str, port: str, ifaddr: str, size: str, rate: str, seconds: str) -> None:
    sock = _group_sender(ifaddr)
    dest = (group, int(port))
    payload = bytearray(max(int(size), SEQ.size))
    pps, duration = float(rate), float(seconds)
    sent = 0
    start = time.perf_counter()
    clock = time.perf_counter
    while (elapsed := clock() - start) < duration:
        # Paced: catch up to where the schedule says we should be, then nap briefly.
        due = int(elapsed * pps) + 1 if pps > 0 else sent + 64
        if sent >= due:
            time.sleep(0.0002)
            continue
        while sent < due:
            SEQ.pack_into(payload, 0, sent)
            # ENOBUFS (a full device queue) loses the datagram here: offered, never delivered.
            with contextlib.suppress(OSError):
                sock.sendto(payload, dest)
            sent += 1
    elapsed = clock() - start
    time.sleep(0.2)  # let the tail drain before the receivers stop
    for _ in range(END_REPEATS):
        sock.sendto(END_MARKER, dest)
        time.sleep(0.01)
    _result({"sent": sent, "seconds": elapsed})


LAT = struct.Struct("!QQ")  # sequence number, monotonic_ns at sending


def mcast_lat_recv(group: str, port: str, ifaddr: str, seconds: str) -> None:
    sock = _group_socket(group, port, ifaddr)
    _ready()
    seen: set[int] = set()
    duplicates = 0
    oneway: list[float] = []
    deadline = time.monotonic() + float(seconds)
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        now = time.monotonic_ns()
        if data.startswith(END_MARKER):
            break
        if len(data) < LAT.size:
            continue
        seq, sent_ns = LAT.unpack_from(data)
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        oneway.append(round((now - sent_ns) / 1000, 1))
    _result({"received": len(seen), "duplicates": duplicates, "oneway_us": oneway})


def mcast_lat_send(group: str, port: str, ifaddr: str, size: str, rate: str, seconds: str) -> None:
    sock = _group_sender(ifaddr)
    dest = (group, int(port))
    payload = bytearray(max(int(size), LAT.size))
    gap, duration = 1.0 / float(rate), float(seconds)
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < duration:
        LAT.pack_into(payload, 0, sent, time.monotonic_ns())
        with contextlib.suppress(OSError):
            sock.sendto(payload, dest)
        sent += 1
        time.sleep(max(0.0, start + sent * gap - time.monotonic()))
    elapsed = time.monotonic() - start
    time.sleep(0.3)
    for _ in range(END_REPEATS):
        sock.sendto(END_MARKER, dest)
        time.sleep(0.01)
    _result({"sent": sent, "seconds": elapsed})


def sn_count(seconds: str) -> None:
    import signal

    stop = [False]

    def halt(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, halt)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.settimeout(0.2)
    _ready()
    port = (7654).to_bytes(2, "big")
    counts = {"in": 0, "out": 0}
    deadline = time.monotonic() + float(seconds)
    while not stop[0] and time.monotonic() < deadline:
        try:
            data, where = sock.recvfrom(65535)
        except (TimeoutError, InterruptedError):
            continue
        if len(data) < 42 or data[12:14] != b"\x08\x00" or data[23] != 17:
            continue
        udp = 14 + (data[14] & 0x0F) * 4
        if where[2] == 4 and data[udp : udp + 2] == port:  # PACKET_OUTGOING from the supernode
            counts["out"] += 1
        elif where[2] != 4 and data[udp + 2 : udp + 4] == port:
            counts["in"] += 1
    sock.close()
    _result(dict(counts))


ROLES: dict[str, Callable[..., None]] = {
    "tcp-sink": tcp_sink,
    "tcp-source": tcp_source,
    "zmq-local-thr": zmq_local_thr,
    "zmq-remote-thr": zmq_remote_thr,
    "zmq-rep": zmq_rep,
    "zmq-req": zmq_req,
    "mcast-recv": mcast_recv,
    "mcast-send": mcast_send,
    "mcast-lat-recv": mcast_lat_recv,
    "mcast-lat-send": mcast_lat_send,
    "sn-count": sn_count,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ROLES:
        print(f"usage: python -m pyn2n.bench.peers {{{','.join(ROLES)}}} ARGS...", file=sys.stderr)
        return 2
    ROLES[args[0]](*args[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
