"""n2n's tools and DHCP mode on real processes in lab namespaces: `pyn2n decode` on a tcpdump
capture of the underlay gives back exactly the frames that crossed the TAP; `pyn2n route` sends
traffic through a gateway edge and restores the table on SIGTERM; an edge in DHCP mode gets its
address from dnsmasq on another edge's host and pings."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import PYN2N, TAP_NAME, Overlay, wait_until
from tests.dhcp_helpers import POOL, start_dnsmasq, udhcpc

pytestmark = pytest.mark.root

KEY = "decode-s3cret"


def tcpdump(lab: Lab, node: str, iface: str, path: Path, filt: str) -> subprocess.Popen[Any]:
    """A capture in `node` (stopped with `lab.stop`), returned once tcpdump listens."""
    log = path.with_suffix(".log")
    proc = lab.spawn(
        node,
        ["tcpdump", "-n", "-U", "--immediate-mode", "-i", iface, "-w", str(path), filt],
        log=log,
    )
    wait_until(
        lambda: "listening on" in log.read_text(errors="replace"), timeout=10, what="tcpdump"
    )
    return proc


def frames(path: Path) -> list[bytes]:
    from scapy.utils import PcapReader

    with PcapReader(str(path)) as reader:
        return [bytes(p) for p in reader]


def test_decode_gives_back_the_tap_frames(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(2)
    ov = Overlay(lab, edge_args=["-A3", "-k", KEY, "--no-fastpath"], log_dir=tmp_path)
    try:
        ov.start()
        ov.wait_mesh()
        underlay, tap = tmp_path / "underlay.pcap", tmp_path / "tap.pcap"
        caps = [
            tcpdump(lab, "r", lab.plan.host("e2").router_if, underlay, "udp"),
            tcpdump(lab, "e2", TAP_NAME, tap, "icmp"),
        ]
        assert ov.ping("e1", "e2", count=5) == 5
        time.sleep(0.5)
        for proc in caps:
            lab.stop(proc)
    finally:
        ov.stop_all()
    out = tmp_path / "frames.pcap"
    decode = [*PYN2N, "decode", "-c", ov.community, "-k", KEY, "-A3", str(underlay)]
    proc = subprocess.run([*decode, "-w", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[20:24] == (1).to_bytes(4, "little")  # link type Ethernet
    seen_on_tap = frames(tap)
    assert len(seen_on_tap) == 10  # 5 echo requests in, 5 replies out
    decoded = frames(out)
    assert set(seen_on_tap) <= set(decoded), proc.stderr
    assert "frames written" in proc.stderr
    wrong = subprocess.run(
        [*PYN2N, "decode", "-c", ov.community, "-k", "other", "-A3", str(underlay), "-w", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 1 and "check -k and -A" in wrong.stderr
    assert frames(out) == []


def routes(lab: Lab, node: str) -> list[str]:
    out = lab.run(node, ["ip", "-4", "route", "show"], capture_output=True, text=True, check=True)
    return sorted(out.stdout.splitlines())


def route_get(lab: Lab, node: str, address: str) -> str:
    out = lab.run(node, ["ip", "route", "get", address], capture_output=True, text=True, check=True)
    return out.stdout


def test_route_through_a_gateway_edge(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    """e1 is the gateway (-r, forwarding, MASQUERADE to its underlay); `pyn2n route` on e2
    sends e2's traffic to e1's router address through it, keeps the supernode on the underlay,
    and leaves the table as it found it on SIGTERM."""
    lab = make_lab(2)
    ov = Overlay(lab, edge_args=["-r"], log_dir=tmp_path)
    gw_ip = lab.overlay_ip("e1")
    target = lab.plan.host("e1").router_ip  # reachable from e2 over its own underlay too
    sn_ip = lab.underlay_ip("sn")
    lab.run("e1", ["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    lab.run(
        "e1",
        ["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE"],
        check=True,
    )
    lab.run("e1", ["iptables", "-w", "-A", "FORWARD", "-i", TAP_NAME, "-p", "icmp"], check=True)
    try:
        ov.start()
        ov.wait_mesh()
        before = routes(lab, "e2")
        tool = lab.spawn("e2", [*PYN2N, "route", "-v", gw_ip], log=tmp_path / "route.log")
        wait_until(
            lambda: f"via {gw_ip}" in route_get(lab, "e2", target), timeout=20, what="the VPN route"
        )
        assert f"via {gw_ip}" not in route_get(lab, "e2", sn_ip)  # the supernode stays outside
        assert lab.ping("e2", target, count=3) == 3
        fwd = lab.run(
            "e1",
            ["iptables", "-w", "-n", "-v", "-x", "-L", "FORWARD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert int(fwd.splitlines()[2].split()[0]) >= 3, fwd  # the pings went through e1
        assert ov.ping("e2", "e1", count=2) == 2  # the overlay itself still works
        assert lab.stop(tool) == 0
        assert routes(lab, "e2") == before
        log = (tmp_path / "route.log").read_text()
        assert "routes restored" in log
    finally:
        ov.stop_all()


def test_route_flags() -> None:
    from pyn2n.cli.common import UsageError
    from pyn2n.cli.route import RoutePlan, parse_network, underlay_addresses

    assert parse_network("10.8.0.0/16", "198.19.0.1") == ("10.8.0.0/16", "198.19.0.1")
    assert parse_network("10.8.0.0/16:198.19.0.9", "x") == ("10.8.0.0/16", "198.19.0.9")
    with pytest.raises(UsageError, match="NET/LEN"):
        parse_network("10.8.0.1/16", "198.19.0.1")
    rows = [{"sockaddr": "198.18.1.2:7654"}, {"sockaddr": "[2001:db8::1]:7"}, {"x": 1}]
    assert underlay_addresses(rows) == ["198.18.1.2"]
    plan = RoutePlan("198.19.0.1", [], "198.18.2.1")
    assert plan.seen(["198.18.1.2", "198.19.0.1"], 0.0) == [("198.18.1.2/32", "198.18.2.1")]
    assert plan.seen(["198.18.1.2"], 10.0) == []
    assert plan.expired(50.0) == [] and plan.expired(100.0) == [("198.18.1.2/32", "198.18.2.1")]


def test_dhcp_mode_gets_an_address_from_dnsmasq(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2)
    ov = Overlay(lab, log_dir=tmp_path)
    try:
        ov.start_supernode()
        ov.start_edge("e1", ["-r"])  # the DHCP server's host: 198.19.0.1/24
        ov.start_edge("e2", ["-r", "-a", "dhcp:0.0.0.0"])
        wait_until(lambda: set(ov.registered()) == {"e1", "e2"}, timeout=20, what="registered")
        dnsmasq = start_dnsmasq(lab, "e1", TAP_NAME, tmp_path)
        address, output = udhcpc(lab, "e2", TAP_NAME, tmp_path)
        assert address is not None, f"{output}\n{ov.log_tail('e2')}"
        ip, _, prefix = address.partition("/")
        assert POOL[0] <= ip <= POOL[1] and len(ip) == len(POOL[0]) and prefix == "24", address
        assert lab.ping("e2", lab.overlay_ip("e1"), count=3) == 3
        assert lab.ping("e1", ip, count=3) == 3
        # the edge follows the TAP's new address (its registrations carry it)
        wait_until(
            lambda: f"DHCP mode: TAP address now {address}" in ov.log_tail("e2", 50),
            timeout=20,
            what="the edge to see its address",
        )
        lab.stop(dnsmasq)
    finally:
        ov.stop_all()
