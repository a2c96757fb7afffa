"""The fast path under 5 % per-datagram loss (the router drops datagrams one by one, the edges'
GSO batches split): the sending edge falls back to single frames, a checked TCP transfer does
not collapse against the standard path (`--no-fastpath`) in the same lab, and super-frames come
back once the loss ends. The speeds are compared, not bounded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.bench import loss
from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay
from pyn2n.lab.tcpcheck import expected, transfer

pytestmark = pytest.mark.root

SIZE = 16 << 20
PORT = 5302
KEY = ["-A3", "-k", "secret"]


def fastpath(ov: Overlay, edge: str, other: str) -> str:
    row = ov.peer_row(edge, other)
    return "" if row is None else str(row.get("fastpath"))


def wait_on(ov: Overlay, edge: str, other: str) -> None:
    ov.wait(lambda: fastpath(ov, edge, other).startswith("on"), f"{edge}'s fast path to {other}")


def timed_transfer(lab: Lab, n: int) -> float:
    """Bytes per second of a checked n-byte TCP transfer from e1 to e2."""
    t0 = time.monotonic()
    assert transfer(lab, "e1", "e2", n, port=PORT) == expected(n)
    return n / (time.monotonic() - t0)


def test_five_percent_loss_fast_path_keeps_up_with_the_standard_path(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2)
    rates: dict[str, float] = {}
    for mode in ("fast", "standard"):
        flags = KEY if mode == "fast" else [*KEY, "--no-fastpath"]
        ov = Overlay(lab, log_dir=tmp_path / mode, edge_args=flags).start(["e1", "e2"])
        try:
            ov.wait_registered(["e1", "e2"])
            ov.wait_ping("e1", "e2")
            if mode == "fast":
                wait_on(ov, "e1", "e2")
                wait_on(ov, "e2", "e1")
            loss.apply(lab, 5.0)
            try:
                rates[mode] = timed_transfer(lab, SIZE)
                if mode == "fast":
                    status = fastpath(ov, "e1", "e2")
                    assert status.startswith("on (AES-256-GCM), single frames: "), status
            finally:
                loss.apply(lab, 0.0)
            if mode == "fast":
                # the loss is gone: a flow measures it on single frames, super-frames return
                for _ in range(6):
                    timed_transfer(lab, SIZE // 4)
                    if fastpath(ov, "e1", "e2") == "on (AES-256-GCM)":
                        break
                assert fastpath(ov, "e1", "e2") == "on (AES-256-GCM)"
            ov.check_alive()
        finally:
            ov.stop_all()
    print(f"\n5 % loss, MB/s: fast path {rates['fast'] / 1e6:.1f}, "
          f"standard {rates['standard'] / 1e6:.1f}")  # fmt: skip
    # the collapse this guards against moved 0.05x; single runs on two busy cores ranged 0.8x
    # to 1.07x (the fast transfer includes the fall-back at its start), so half the standard
    # path leaves room for noise (the ratio itself lives in the bench's loss experiment)
    assert rates["fast"] >= 0.5 * rates["standard"], rates
