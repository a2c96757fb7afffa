"""n2n edge options against the real n2n edge: the same `-R` rule set on a C edge and on a
pyn2n edge gives the same verdicts on the same TCP probes (and ping still passes); a C edge and
a pyn2n edge behind one NAT talk over their LAN addresses (with `-e auto`, and through n2n's LAN
multicast discovery without it); DHCP mode carries a lease between a C and a pyn2n edge; -L
(short-TTL, port-predicting REGISTERs) still punches between them behind NATs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import OverlayError, wait_until
from tests.dhcp_helpers import start_dnsmasq, udhcpc
from tests.interop.harness import (
    COMMUNITY,
    PING_COUNT,
    VARIANTS_BY_NAME,
    Binaries,
    Impl,
    Overlay,
    Topology,
    Variant,
    WireWatch,
    ping,
    pyn2n_argv,
    wait_direct,
)
from tests.interop.test_ping import require_runtime
from tests.shared_nat import OVERLAY, SN_IP, SharedNat
from tests.tcp_probe import connects, serve

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]

PORTS = (5001, 5002, 5003)
TAP = "edge0"  # both edges' default TAP name


def rule_set(lab: Lab, host: str) -> tuple[str, ...]:
    """Block TCP 5001-5003 to `host`, except 5002 from the overlay (a longer prefix wins)."""
    ip = lab.overlay_ip(host)
    return (
        "-R",
        f"0.0.0.0/0,0.0.0.0/0:[{PORTS[0]},{PORTS[-1]}],TCP-",
        "-R",
        f"198.19.0.0/16,{ip}/32:{PORTS[1]},TCP+",
    )


def verdicts(
    lab: Lab, tmp_path: Path, filtering: str, impl: Impl, bins: Binaries
) -> dict[int, bool]:
    """Start C supernode, a plain pyn2n e1 and `filtering`=e2 (impl c/py) with the rules; probe."""
    topology = Topology("c", ("py", impl))
    require_runtime(topology)
    null = VARIANTS_BY_NAME["null"]
    ruled = Variant("rules", (*null.edge_flags, *rule_set(lab, filtering)))
    work = tmp_path / impl
    work.mkdir()
    with Overlay(lab, topology, null, bins, work, edge_variants={filtering: ruled}) as net:
        net.wait_until_reachable("e1", "e2")
        server = serve(lab, "e2", PORTS, str(work / "srv.log"))
        try:
            seen = {port: connects(lab, "e1", lab.overlay_ip("e2"), port) for port in PORTS}
        finally:
            lab.stop(server)
        assert net.ping("e1", "e2") == PING_COUNT, net.logs()
        return seen


@pytest.fixture
def lab_each() -> Iterator[Callable[[], Lab]]:
    """Fresh labs on demand (one per implementation), all torn down after the test."""
    labs: list[Lab] = []

    def make() -> Lab:
        lab = Lab(2)
        lab.up()
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.down()


def test_rules_same_verdicts_as_n2n(
    lab_each: Callable[[], Lab], n2n_bins: Binaries, tmp_path: Path
) -> None:
    c_seen = verdicts(lab_each(), tmp_path, "e2", "c", n2n_bins)
    py_seen = verdicts(lab_each(), tmp_path, "e2", "py", n2n_bins)
    assert c_seen == {5001: False, 5002: True, 5003: False}, c_seen
    assert py_seen == c_seen


@pytest.mark.parametrize("flags", [("-e", "auto"), ()], ids=["preferred", "multicast"])
def test_lan_path_with_a_c_edge_on_the_same_lan(
    flags: tuple[str, ...], n2n_bins: Binaries, tmp_path: Path
) -> None:
    """C supernode outside; a C edge (a) and a pyn2n edge (b) on one LAN behind one NAT. With
    -e auto they find each other's LAN socket through PEER_INFO; without, through n2n's
    multicast REGISTER on the LAN (224.0.0.68:1968). Either way they talk on the LAN."""
    require_runtime(Topology("c", ("c", "py")))
    with SharedNat(tmp_path) as net:
        net.spawn("sn", [str(n2n_bins.supernode), "-f", "-p", "7654", "-v"])
        common = ["-f", "-c", COMMUNITY, "-l", f"{SN_IP}:7654", *flags, "-v"]
        net.spawn("a", [str(n2n_bins.edge), *common, "-a", f"{OVERLAY['a']}/24", "-A1"])
        net.spawn("b", [*pyn2n_argv("edge"), *common, "-a", f"{OVERLAY['b']}/24", "-A1"])

        def on_lan() -> bool:
            net.reset()
            return net.ping("a", "b", size=1000) == 1 and net.counts()["wan_large"] == 0

        try:
            wait_until(lambda: net.ping("a", "b") == 1, timeout=30, what="a to ping b")
            wait_until(on_lan, timeout=30, what="a and b to talk on the LAN")
        except OverlayError as exc:
            raise AssertionError(f"{exc}\n{net.logs()}") from None
        net.reset()
        assert net.ping("a", "b", count=5, size=1000) == 5, net.logs()
        assert net.ping("b", "a", count=5, size=1000) == 5, net.logs()
        counts = net.counts()
        assert counts["lan_direct"] >= 5 and counts["wan_large"] == 0, counts


@pytest.mark.parametrize(
    "topology",
    [Topology("c", ("c", "py")), Topology("c", ("py", "c"))],
    ids=["c_server-py_client", "py_server-c_client"],
)
def test_dhcp_mode_across_implementations(
    topology: Topology, lab: Lab, n2n_bins: Binaries, tmp_path: Path
) -> None:
    """dnsmasq on e1's TAP (an edge with -r), e2 in DHCP mode (-r -a dhcp:0.0.0.0) runs
    udhcpc on its TAP: the lease crosses the overlay between a C and a pyn2n edge both ways
    round, and the two ping."""
    require_runtime(topology)
    null = VARIANTS_BY_NAME["null"]
    server = Variant("dhcp-server", (*null.edge_flags, "-r"))
    client = Variant("dhcp-client", (*null.edge_flags, "-r", "-a", "dhcp:0.0.0.0"))
    variants = {"e1": server, "e2": client}
    with Overlay(lab, topology, null, n2n_bins, tmp_path, edge_variants=variants) as net:
        net.wait_registered(2)
        dnsmasq = start_dnsmasq(lab, "e1", TAP, tmp_path)
        try:
            address, output = udhcpc(lab, "e2", TAP, tmp_path)
            assert address is not None, f"{output}\n{net.logs()}"
            ip = address.partition("/")[0]
            assert net.ping("e2", "e1") == PING_COUNT, net.logs()
            assert ping(lab, "e1", ip) == PING_COUNT, net.logs()
        finally:
            lab.stop(dnsmasq)


def test_register_ttl_with_a_c_edge_behind_nats(n2n_bins: Binaries, tmp_path: Path) -> None:
    """A C edge and a pyn2n edge, each behind its own NAT, both with -L 2 (n2n's port
    prediction with short-TTL REGISTERs): they still punch a direct path and ping over it."""
    topology = Topology("c", ("c", "py"))
    require_runtime(topology)
    null = VARIANTS_BY_NAME["null"]
    ttl = Variant("ttl", (*null.edge_flags, "-L", "2"))
    with Lab(2, nat=True) as lab, Overlay(lab, topology, ttl, n2n_bins, tmp_path) as net:
        net.wait_until_reachable("e1", "e2", deadline=30)
        watch = WireWatch(lab)
        wait_direct(net, watch, "e1", "e2", deadline=40)
        assert net.ping("e1", "e2") == PING_COUNT and net.ping("e2", "e1") == PING_COUNT
