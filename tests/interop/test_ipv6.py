"""A mixed IPv4/IPv6 community: the pyn2n supernode listens on both; a real n2n edge (IPv4
only) registers over IPv4 and a pyn2n edge over IPv6, and they still reach each other (through
the supernode, or directly over IPv4 once the pyn2n edge, dual-stack, punches to the C edge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyn2n.constants import N2N_SN_LPORT_DEFAULT
from pyn2n.lab import Lab
from tests.interop.harness import (
    VARIANTS_BY_NAME,
    Binaries,
    Overlay,
    Topology,
    edge_argv,
    supernode_argv,
)
from tests.interop.test_ping import require_runtime

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]


class DualStackOverlay(Overlay):
    """e1 (C) gets the supernode's IPv4 address, e2 (pyn2n) its IPv6 address."""

    def start(self) -> None:
        community_file = self.workdir / "community.list"
        community_file.write_text("p2ninterop\n")
        self._spawn("sn", supernode_argv("py", self.bins, self.variant, community_file))
        self._wait_bound("sn", N2N_SN_LPORT_DEFAULT)
        v4 = self.lab.supernode_endpoint("sn", N2N_SN_LPORT_DEFAULT)
        v6 = f"[{self.lab.underlay_ip6('sn')}]:{N2N_SN_LPORT_DEFAULT}"
        for host, impl, endpoint in (("e1", "c", v4), ("e2", "py", v6)):
            cidr = self.lab.overlay_cidr(host)
            self._spawn(host, edge_argv(impl, self.bins, self.variant, endpoint, cidr))  # type: ignore[arg-type]


def test_c_edge_on_ipv4_and_pyn2n_edge_on_ipv6(n2n_bins: Binaries, tmp_path: Path) -> None:
    topology = Topology("py", ("c", "py"))
    require_runtime(topology)
    with (
        Lab(2, dual=True) as lab,
        DualStackOverlay(lab, topology, VARIANTS_BY_NAME["aes"], n2n_bins, tmp_path) as net,
    ):
        net.wait_until_reachable("e1", "e2")
        net.wait_until_reachable("e2", "e1")
        socks = [str(r["sockaddr"]) for r in net.registered_edges()]
        assert any(s.startswith(f"[{lab.underlay_ip6('e2')}]:") for s in socks), socks
        assert any(s.startswith(f"{lab.public_ip('e1')}:") for s in socks), socks
        assert net.ping("e1", "e2") == 3, net.logs()
        assert net.ping("e2", "e1") == 3, net.logs()
        net.check_alive()
