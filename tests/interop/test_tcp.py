"""`-S2` against real n2n: edges reach the supernode over TCP (n2n's 2-byte length framing) while
the lab router forwards no UDP at all, with the C supernode and pyn2n edges, and the pyn2n
supernode and C edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyn2n.lab import Lab
from tests.interop.harness import Binaries, Overlay, Topology, Variant
from tests.interop.test_ping import require_runtime

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

TCP = Variant("tcp", ("-S2",))


@pytest.mark.parametrize(
    "topology",
    [Topology("c", ("c", "py")), Topology("py", ("c", "c")), Topology("py", ("py", "c"))],
    ids=lambda t: t.id,
)
def test_tcp_to_the_supernode(
    lab: Lab, n2n_bins: Binaries, tmp_path: Path, topology: Topology
) -> None:
    require_runtime(topology)
    lab.run("r", ["iptables", "-w", "-I", "FORWARD", "-p", "udp", "-j", "DROP"], check=True)
    with Overlay(lab, topology, TCP, n2n_bins, tmp_path) as net:
        net.wait_until_reachable("e1", "e2")
        net.wait_until_reachable("e2", "e1")
        assert net.ping("e1", "e2") == 3, net.logs()
        assert net.ping("e2", "e1") == 3, net.logs()
        net.check_alive()
