"""A mixed community: one real n2n (C) edge and two pyn2n edges (docs/fastpath.md).

The two pyn2n edges negotiate the fast path with packet code 20, which the C edge receives from
them too (each offers it once their direct path works) and must drop without harm. Every pair
must still ping directly, the pyn2n pair must carry its traffic on the fast path, and the C edge
must stay on standard PACKETs with both pyn2n edges.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyn2n.lab import Lab
from tests.interop.harness import (
    PING_COUNT,
    REACH_DEADLINE,
    VARIANTS_BY_NAME,
    Binaries,
    Overlay,
    Topology,
    Variant,
    WireWatch,
    direct,
    wait_direct,
)
from tests.interop.test_ping import require_runtime

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]

C_AND_TWO_PYN2N = Topology("c", ("c", "py", "py"))


@pytest.fixture
def lab3() -> Iterator[Lab]:
    with Lab(3) as built:
        yield built


def fastpath_by_peer(net: Overlay, host: str) -> dict[str, str]:
    """`host`'s `fastpath` column keyed by the peer's overlay IPv4 address."""
    return {row["ip4addr"]: row["fastpath"] for row in net.edge_peers(host)}


def wait_fastpath(net: Overlay, host: str, peer: str) -> dict[str, str]:
    """Poll `host`'s peers until its fast path to `peer` is on; return the last column."""
    address = net.lab.overlay_ip(peer)
    deadline = time.monotonic() + REACH_DEADLINE
    while True:
        column = fastpath_by_peer(net, host)
        if column.get(address, "").startswith("on"):
            return column
        if time.monotonic() >= deadline:
            raise AssertionError(f"{host}: no fast path to {peer}: {column}\n{net.logs()}")
        net.ping(host, peer, count=1)
        time.sleep(0.2)


@pytest.mark.parametrize(
    "variant", [VARIANTS_BY_NAME[n] for n in ("null", "aes", "header")], ids=lambda v: v.name
)
def test_c_edge_with_two_pyn2n_edges(
    lab3: Lab, n2n_bins: Binaries, tmp_path: Path, variant: Variant
) -> None:
    require_runtime(C_AND_TWO_PYN2N)
    watch = WireWatch(lab3)
    with Overlay(lab3, C_AND_TWO_PYN2N, variant, n2n_bins, tmp_path) as net:
        pairs = list(itertools.permutations(("e1", "e2", "e3"), 2))
        for a, b in pairs:
            net.wait_until_reachable(a, b)
        for a, b in itertools.combinations(("e1", "e2", "e3"), 2):
            wait_direct(net, watch, a, b)
        for host, peer in (("e2", "e3"), ("e3", "e2")):
            column = wait_fastpath(net, host, peer)
            # the C edge never answers an OFFER: it stays on standard PACKETs
            assert not column.get(lab3.overlay_ip("e1"), "").startswith("on"), column
        watch.reset()
        for a, b in pairs:
            assert net.ping(a, b) == PING_COUNT, f"{a}->{b}\n{net.logs()}"
        counts = watch.counts()
        net.check_alive()  # the C edge dropped packet code 20 without harm
        assert "packet type 20" in net.log("e1").read_text(errors="replace"), "no OFFER reached e1"
    for a, b in pairs:
        assert counts[direct(a, b)] >= 2 * PING_COUNT, f"{a}->{b} not direct: {counts}"
