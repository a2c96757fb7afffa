"""`pyn2n bench transforms`: frames/s and MB/s of every payload transform and compression
(the job of n2n's `n2n-benchmark`), encrypt and decrypt (compress and decompress) separately,
on 64-byte and 1400-byte frames. Prints a table, or JSON with `--json`.

Transforms run on random frames with os.urandom as their rng, as an edge would. Compression
runs on a synthetic, compressible frame (`compressible_frame`), since random bytes do not
compress and n2n then sends them uncompressed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import cryptography
from rich import box
from rich.console import Console
from rich.table import Table

from pyn2n.constants import (
    N2N_TRANSFORM_ID_AES,
    N2N_TRANSFORM_ID_CHACHA20,
    N2N_TRANSFORM_ID_NULL,
    N2N_TRANSFORM_ID_SPECK,
    N2N_TRANSFORM_ID_TWOFISH,
)
from pyn2n.transforms import make_transform
from pyn2n.transforms.compression import Compression, Lzo, Zstd

SHORT_KEY = "pyn2n-bench-key"  # ≤ 22 characters: AES-128, like most n2n keys
LONG_KEY = "pyn2n-bench-key-long-enough-for-aes-256"  # ≥ 33 characters: AES-256

# (label, n2n transform id, key)
TRANSFORMS: tuple[tuple[str, int, str | None], ...] = (
    ("null", N2N_TRANSFORM_ID_NULL, None),
    ("Twofish", N2N_TRANSFORM_ID_TWOFISH, SHORT_KEY),
    ("AES-128", N2N_TRANSFORM_ID_AES, SHORT_KEY),
    ("AES-256", N2N_TRANSFORM_ID_AES, LONG_KEY),
    ("ChaCha20", N2N_TRANSFORM_ID_CHACHA20, SHORT_KEY),
    ("Speck", N2N_TRANSFORM_ID_SPECK, SHORT_KEY),
)
DEFAULT_SIZES = (64, 1400)
ROUNDS = 5


@dataclass
class Row:
    kind: str  # "transform" or "compression"
    name: str
    id: int
    size: int  # frame bytes (the plaintext / uncompressed side)
    op: str  # encrypt, decrypt, compress, decompress
    frames: int
    seconds: float
    frames_per_s: float  # median over the rounds (see `measure`)
    mb_per_s: float  # frame bytes per second / 1e6, at that rate
    wire_size: int  # payload bytes on the wire for one frame


def compressible_frame(size: int) -> bytes:
    """A deterministic frame that compresses (also at 64 bytes): Ethernet/IPv4/UDP headers,
    then a payload of zero blocks and HTTP-like text."""
    headers = bytes.fromhex(
        "02a1b2c3d4e5 02f6e7d8c9ba 0800"  # Ethernet
        "4500 05ca 1c46 4000 4011 0000 c6130001 c6130002"  # IPv4, 198.19.0.1 -> .2
        "c350 0050 05b6 0000"  # UDP
    )
    chunk = bytes(16) + (
        b"GET /api/v1/items?page=2&sort=name HTTP/1.1\r\nHost: example.internal\r\n"
        b"User-Agent: pyn2n-bench/1.0\r\nAccept: application/json\r\n\r\n"
    )
    body = chunk * (size // len(chunk) + 1)
    return (headers + body)[:size]


def measure(fn: Callable[[bytes], object], arg: bytes, seconds: float) -> tuple[int, float, float]:
    """(calls, elapsed, calls/s) of calling fn(arg) for about `seconds`, in ROUNDS rounds.

    The rate is the median of the rounds' rates: other processes on a small machine then move
    it less than they would move the mean.
    """
    fn(arg)  # warm-up: lazy tables, caches
    per_round = seconds / ROUNDS
    total_calls, total_elapsed, rates = 0, 0.0, []
    batch = 1
    for _ in range(ROUNDS):
        calls = 0
        start = time.perf_counter()
        deadline = start + per_round
        while True:
            for _ in itertools.repeat(None, batch):
                fn(arg)
            calls += batch
            now = time.perf_counter()
            if now >= deadline:
                break
            if now - start < per_round / 20:  # grow batches while far from the deadline
                batch *= 2
        total_calls += calls
        total_elapsed += now - start
        rates.append(calls / (now - start))
    return total_calls, total_elapsed, statistics.median(rates)


def compressions() -> list[tuple[str, Compression]]:
    """Every compression method n2n has: LZO1X-1 and zstd."""
    return [("lzo1x", Lzo()), ("zstd", Zstd())]


def run(
    seconds: float, sizes: Sequence[int], progress: Callable[[str], None] = lambda _: None
) -> list[Row]:
    """Time every case for about `seconds`; `progress` hears what is being timed."""
    rows: list[Row] = []
    # (kind, name, id, frame size, wire size, op, function, its argument)
    cases: list[tuple[str, str, int, int, int, str, Callable[[bytes], object], bytes]] = []
    for name, transform_id, key in TRANSFORMS:
        for size in sizes:
            frame = os.urandom(size)
            transform = make_transform(transform_id, key, os.urandom)
            payload = transform.encode(frame)
            if transform.decode(payload) != frame:
                raise RuntimeError(f"{name} does not round-trip a {size}-byte frame")
            common = ("transform", name, transform_id, size, len(payload))
            cases.append((*common, "encrypt", transform.encode, frame))
            cases.append((*common, "decrypt", transform.decode, payload))
    for name, method in compressions():
        for size in sizes:
            frame = compressible_frame(size)
            packed = method.compress(frame)
            if packed is None or method.decompress(packed) != frame:
                raise RuntimeError(f"{name} does not compress and restore a {size}-byte frame")
            common = ("compression", name, method.id, size, len(packed))
            cases.append((*common, "compress", method.compress, frame))
            cases.append((*common, "decompress", method.decompress, packed))
    for kind, name, id_, size, wire, op, fn, arg in cases:
        progress(f"{name} {size} B {op}")
        calls, elapsed, rate = measure(fn, arg, seconds)
        rows.append(Row(kind, name, id_, size, op, calls, elapsed, rate, rate * size / 1e6, wire))
    return rows


def environment() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cryptography": cryptography.__version__,
    }


def render(rows: Sequence[Row], console: Console) -> None:
    table = Table(title="pyn2n payload transforms and compression (one core)", box=box.SIMPLE_HEAD)
    for column in ("case", "frame B", "op", "frames/s", "MB/s", "µs/frame", "wire B"):
        table.add_column(column, justify="left" if column in ("case", "op") else "right")
    for previous, row in zip([None, *rows], rows, strict=False):
        if previous is not None and (previous.kind, previous.name) != (row.kind, row.name):
            table.add_section()
        table.add_row(
            row.name,
            str(row.size),
            row.op,
            f"{row.frames_per_s:,.0f}",
            f"{row.mb_per_s:,.1f}",
            f"{1e6 / row.frames_per_s:,.2f}",
            str(row.wire_size),
        )
    console.print(table)
    console.print(" ".join(f"{k}={v}" for k, v in environment().items()), style="dim")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes as e.g. 64,1400") from None
    if not sizes or any(not 0 < s <= 2048 for s in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be 1..2048 bytes")
    return sizes


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("--seconds must be positive")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pyn2n bench transforms",
        description="Frames/s and MB/s of n2n's payload transforms and compressions.",
    )
    parser.add_argument(
        "--seconds", type=_seconds, default=0.5, metavar="S", help="time per case (default 0.5)"
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=DEFAULT_SIZES,
        metavar="B[,B...]",
        help="frame sizes in bytes (default 64,1400)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    status = Console(stderr=True)
    with status.status("benchmarking") as spinner:
        rows = run(args.seconds, args.sizes, lambda text: spinner.update(f"benchmarking {text}"))
    if args.json:
        json.dump(
            {
                "environment": environment(),
                "seconds_per_case": args.seconds,
                "rows": [asdict(row) for row in rows],
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        # rich assumes 80 columns when not on a terminal: too narrow for this table
        render(rows, Console() if sys.stdout.isatty() else Console(width=100))
    return 0
