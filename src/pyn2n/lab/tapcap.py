"""Count the multicast probe's frames (`pyn2n.lab.mcast`) on an interface, with a raw AF_PACKET
socket: what the kernel of a node sees, whether or not any socket joined the group.

    python -m pyn2n.lab.tapcap --iface edge0 --seconds 20 [--group 239.255.1.1]

Prints `{"ready": true}` once listening, then one JSON object when `--seconds` have passed (or
on SIGTERM): `frames` (probe datagrams seen arriving on the interface, to `--group` if given),
`distinct` sequence numbers, and `max_gap` (the longest silence between two of them, seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyn2n.lab.mcast import MAGIC

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def capture(iface: str, seconds: float, group: str | None = None) -> dict[str, Any]:
    want = socket.inet_aton(group) if group else None
    stop = [False]

    def halt(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, halt)
    frames = 0
    seqs: set[int] = set()
    last: float | None = None
    gap = 0.0
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((iface, 0))
        sock.settimeout(0.2)
        print(json.dumps({"ready": True}), flush=True)
        end = time.monotonic() + seconds
        while not stop[0] and time.monotonic() < end:
            try:
                data, where = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            if where[2] == PACKET_OUTGOING or len(data) < 42 or data[12:14] != b"\x08\x00":
                continue
            ihl = (data[14] & 0x0F) * 4
            if data[23] != 17 or (want is not None and data[30:34] != want):
                continue
            body = data[14 + ihl + 8 :]
            if not body.startswith(MAGIC):
                continue
            now = time.monotonic()
            frames += 1
            with contextlib.suppress(ValueError):
                seqs.add(int(body[len(MAGIC) :].split(b".", 1)[0]))
            if last is not None:
                gap = max(gap, now - last)
            last = now
    return {"frames": frames, "distinct": len(seqs), "max_gap": round(gap, 3)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyn2n.lab.tapcap", description=__doc__)
    p.add_argument("--iface", required=True)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--group", default=None)
    ns = p.parse_args(argv)
    print(json.dumps(capture(ns.iface, ns.seconds, ns.group)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
