"""Multicast in a mixed community (docs/multicast.md): a C edge and two pyn2n edges, under a
pyn2n supernode and under a C one. The pyn2n edges send group frames to each other directly and
to the C edge through the supernode: every stream must reach every subscriber exactly once, the
C edge's as well as the pyn2n edges' (a C supernode relays to everyone, so there the pyn2n
receivers drop the second copy). Frames are counted on the TAPs with raw sockets too."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pyn2n.lab import Lab, tapcap
from tests.interop.harness import (
    VARIANTS_BY_NAME,
    Binaries,
    Overlay,
    Topology,
    Variant,
    WireWatch,
    wait_direct,
)
from tests.interop.test_ping import require_runtime

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]

GROUP = "239.255.9.9"
PORT = 5009
COUNT = 200
INTERVAL = 0.01
TOPOLOGIES = [Topology("py", ("c", "py", "py")), Topology("c", ("c", "py", "py"))]


@pytest.fixture
def lab3() -> Iterator[Lab]:
    with Lab(3) as built:
        yield built


def stream(lab: Lab, sender: str, receivers: list[str]) -> dict[str, dict[str, object]]:
    """COUNT datagrams from `sender` to GROUP, which every receiver joined."""
    with tapcap.probes(
        lab, receivers, receivers, group=GROUP, port=PORT, seconds=COUNT * INTERVAL + 8
    ) as got:
        proc = tapcap.send(lab, sender, group=GROUP, port=PORT, count=COUNT, interval=INTERVAL)
        assert tapcap.sent(lab, proc, timeout=COUNT * INTERVAL + 30) == COUNT
        time.sleep(1.5)
    return got


# -E: a C edge drops multicast unless told to accept it (pyn2n carries it by default)
VARIANTS = [
    replace(v, edge_flags=(*v.edge_flags, "-E"))
    for v in (VARIANTS_BY_NAME["aes"], VARIANTS_BY_NAME["header"])
]


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda t: t.id)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_mixed_community_gets_every_group_frame_once(
    lab3: Lab, n2n_bins: Binaries, tmp_path: Path, topology: Topology, variant: Variant
) -> None:
    require_runtime(topology)
    watch = WireWatch(lab3)
    with Overlay(lab3, topology, variant, n2n_bins, tmp_path) as net:
        for a, b in itertools.permutations(("e1", "e2", "e3"), 2):
            net.wait_until_reachable(a, b)
        for a, b in itertools.combinations(("e1", "e2", "e3"), 2):
            wait_direct(net, watch, a, b)
        time.sleep(5)  # the pyn2n edges know each other (GROUPS) and the C edge as C
        results = {
            "e2": stream(lab3, "e2", ["e1", "e3"]),  # pyn2n sender: to C and pyn2n
            "e1": stream(lab3, "e1", ["e2", "e3"]),  # C sender: to both pyn2n edges
        }
        net.check_alive()
    for sender, got in results.items():
        for name, counts in got.items():
            where = f"{sender}->{name} [{topology.id}, {variant.name}]: {got}"
            if name.startswith("recv:"):
                assert counts["distinct"] == COUNT and counts["duplicates"] == 0, where
            else:
                assert counts["frames"] == COUNT, where  # once on the TAP, not twice
