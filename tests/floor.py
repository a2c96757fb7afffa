"""The floor of a Python overlay: the least a process that wakes once per frame can do.

`tap` forwards between a TAP and one UDP peer (a fixed 38-byte header, no protocol); `relay`
passes datagrams between two hosts, as a supernode relays. Not a test (speed is never asserted):
docs/performance.md compares them with n2n and pyn2n in one lab. Run inside the lab's
namespaces, e.g. `ip netns exec <lab>-e1 python -m tests.floor tap fw0 198.19.9.1/24
198.18.1.2 7000 198.18.2.2`.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import socket
import struct
import subprocess
import time

TUNSETIFF = 0x400454CA
IFF_TAP_NO_PI = 0x0002 | 0x1000
HEADER = bytes(38)  # the size of an n2n PACKET header


def tap(name: str, cidr: str, local: str, port: int, peer: str, spin: float) -> None:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP_NO_PI))
    subprocess.run(["ip", "addr", "add", cidr, "dev", name], check=True)
    subprocess.run(["ip", "link", "set", name, "up", "mtu", "1290"], check=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local, port))
    sock.setblocking(False)
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN)
    ep.register(sock.fileno(), select.EPOLLIN)
    to = (peer, port)
    last = 0.0
    print("ready", flush=True)
    while True:
        # spin > 0: poll without sleeping for `spin` seconds after the last frame (busy polling)
        ready = ep.poll(0 if time.monotonic() - last < spin else -1)
        if ready and spin:
            last = time.monotonic()
        for f, _mask in ready:
            if f == fd:
                sock.sendto(HEADER + os.read(fd, 2048), to)
            else:
                os.write(fd, sock.recvfrom(2048)[0][38:])


def relay(local: str, port: int, a: str, b: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local, port))
    sock.setblocking(False)
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    other = {a: (b, port), b: (a, port)}
    print("ready", flush=True)
    while True:
        for _f, _mask in ep.poll():
            data, src = sock.recvfrom(2048)
            sock.sendto(data, other[src[0]])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.floor", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tap", help="TAP <-> UDP peer")
    t.add_argument("name")
    t.add_argument("cidr")
    t.add_argument("local")
    t.add_argument("port", type=int)
    t.add_argument("peer")
    t.add_argument("--spin", type=float, default=0.0, help="busy-poll seconds after a frame")
    r = sub.add_parser("relay", help="UDP relay between two hosts")
    r.add_argument("local")
    r.add_argument("port", type=int)
    r.add_argument("a")
    r.add_argument("b")
    args = parser.parse_args()
    if args.what == "tap":
        tap(args.name, args.cidr, args.local, args.port, args.peer, args.spin)
    else:
        relay(args.local, args.port, args.a, args.b)


if __name__ == "__main__":
    main()
