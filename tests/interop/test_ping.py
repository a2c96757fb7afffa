"""Ping across n2n overlays built from real n2n (C) and pyn2n nodes, under every transform option.

Each scenario runs a supernode on lab host `sn` and edges on `e1`, `e2` (underlay 198.18.0.0/16,
overlay 198.19.0.0/24), waits until e1 reaches e2 and e2 reaches e1 and their pings travel edge to
edge (not relayed by the supernode), then checks that patterned 1000-byte pings get every reply
both ways, directly, and that the option is really in effect on the wire (counted at the lab
router): a cipher hides the ping pattern, -z shrinks the datagrams, -H hides the community name.

- `test_c_only`: C supernode, two C edges: proves the harness and the lab against the real thing.
- `test_c_and_pyn2n_edge`: C supernode, C edge e1, pyn2n edge e2.
- `test_pyn2n_supernode`: pyn2n supernode, two C edges.
- `test_wrong_key_is_refused`: edges with different AES keys both register but cannot talk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyn2n.lab import Lab
from tests.interop.harness import (
    KEY,
    PING_COUNT,
    VARIANTS,
    VARIANTS_BY_NAME,
    Binaries,
    Overlay,
    Topology,
    Variant,
    WireWatch,
    direct,
    pyn2n_help_failure,
    wait_direct,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

C_ONLY = Topology("c", ("c", "c"))
MIXED_EDGES = Topology("c", ("c", "py"))
PY_SUPERNODE = Topology("py", ("c", "c"))


def require_runtime(topology: Topology) -> None:
    """Fail (never skip) when a pyn2n command this topology needs is broken."""
    needed = ["edge"] * ("py" in topology.edges) + ["supernode"] * (topology.supernode == "py")
    failures = [f for cmd in needed if (f := pyn2n_help_failure(cmd)) is not None]
    if failures:
        pytest.fail("\n".join(failures))


def check_wire(counts: dict[str, int], variant: Variant) -> None:
    """What the router saw must match what the option promises (see WireWatch.counts)."""
    if variant.encrypted_payload:
        assert counts["pattern"] == 0, f"ping payload in clear despite {variant.edge_flags}"
    elif not variant.compressed:
        assert counts["pattern"] > 0, "plain pings not seen on the wire: is the watch working?"
    if variant.compressed:
        assert counts["large"] == 0, f"1000-byte pings were not compressed by {variant.edge_flags}"
    else:
        assert counts["large"] > 0, "no large datagrams: did the pings cross the underlay?"
    if variant.header_encryption:
        assert counts["community"] == 0, "community name in clear despite -H"
    else:
        assert counts["community"] > 0, "community name never seen: is the watch working?"


def run_ping_scenario(
    lab: Lab, topology: Topology, variant: Variant, bins: Binaries, workdir: Path
) -> None:
    require_runtime(topology)
    watch = WireWatch(lab)
    with Overlay(lab, topology, variant, bins, workdir) as net:
        net.wait_until_reachable("e1", "e2")
        net.wait_until_reachable("e2", "e1")
        wait_direct(net, watch, "e1", "e2")
        watch.reset()
        assert net.ping("e1", "e2") == PING_COUNT, net.logs()
        assert net.ping("e2", "e1") == PING_COUNT, net.logs()
        counts = watch.counts()
        net.check_alive()
    # Each way: PING_COUNT requests of one ping and PING_COUNT replies of the other, all direct.
    for a, b in (("e1", "e2"), ("e2", "e1")):
        assert counts[direct(a, b)] >= 2 * PING_COUNT, f"{a}->{b} not direct: {counts}"
    check_wire(counts, variant)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_c_only(lab: Lab, n2n_bins: Binaries, tmp_path: Path, variant: Variant) -> None:
    run_ping_scenario(lab, C_ONLY, variant, n2n_bins, tmp_path)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_c_and_pyn2n_edge(lab: Lab, n2n_bins: Binaries, tmp_path: Path, variant: Variant) -> None:
    run_ping_scenario(lab, MIXED_EDGES, variant, n2n_bins, tmp_path)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_pyn2n_supernode(lab: Lab, n2n_bins: Binaries, tmp_path: Path, variant: Variant) -> None:
    run_ping_scenario(lab, PY_SUPERNODE, variant, n2n_bins, tmp_path)


@pytest.mark.parametrize("topology", [C_ONLY, MIXED_EDGES], ids=lambda t: t.id)
def test_wrong_key_is_refused(
    lab: Lab, n2n_bins: Binaries, tmp_path: Path, topology: Topology
) -> None:
    """A wrong key must not slip through: both edges register, yet no echo comes back."""
    require_runtime(topology)
    aes = VARIANTS_BY_NAME["aes"]
    other = Variant("aes-other-key", ("-A3", "-k", KEY + "-other"), encrypted_payload=True)
    with Overlay(lab, topology, aes, n2n_bins, tmp_path, edge_variants={"e2": other}) as net:
        net.wait_registered(2)
        assert net.ping("e1", "e2") == 0, net.logs()
        assert net.ping("e2", "e1") == 0, net.logs()
        net.check_alive()
