"""n2n edge options on real processes in lab namespaces: -R traffic rules (a blocked TCP port
really blocked, both when the rule sits on the receiver and on the sender, while allowed ports
and ping pass), -L (short-TTL REGISTERs leave, the path still goes direct), -e and LAN discovery (two edges
behind one NAT talk over their LAN addresses), and the socket re-open after supernode failures."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import PYN2N, Overlay, OverlayError, wait_until
from tests.shared_nat import LAN_IPS, OVERLAY, SN_IP, SharedNat
from tests.tcp_probe import connects, serve

pytestmark = pytest.mark.root

BLOCKED, OPEN = 5001, 5002


def test_rules_block_a_port_both_ways(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(3)
    ov = Overlay(lab, log_dir=tmp_path)
    e2_ip, e3_ip = lab.overlay_ip("e2"), lab.overlay_ip("e3")
    try:
        ov.start_supernode()
        ov.start_edge("e1")
        # e2 filters what reaches it; e3 filters what it sends (n2n applies rules both ways)
        ov.start_edge("e2", ["-R", f"0.0.0.0/0,{e2_ip}:{BLOCKED},TCP-"])
        ov.start_edge("e3", ["-R", f"{e3_ip},0.0.0.0/0:[{BLOCKED},{BLOCKED}],TCP-,ICMP+"])
        ov.wait_mesh()
        servers = [
            serve(lab, n, [BLOCKED, OPEN], str(tmp_path / f"srv-{n}.log")) for n in ("e1", "e2")
        ]
        try:
            assert connects(lab, "e1", e2_ip, OPEN)
            assert not connects(lab, "e1", e2_ip, BLOCKED)
            assert connects(lab, "e3", lab.overlay_ip("e1"), OPEN)
            assert not connects(lab, "e3", lab.overlay_ip("e1"), BLOCKED)
            assert connects(lab, "e2", lab.overlay_ip("e1"), BLOCKED)  # no rule on e2's way out
        finally:
            for proc in servers:
                lab.stop(proc)
        assert ov.drops("e2").get("filtered", 0) >= 1, ov.drops("e2")
        assert ov.drops("e3").get("tap_filtered", 0) >= 1, ov.drops("e3")
        assert ov.ping("e1", "e2", count=3) == 3 and ov.ping("e3", "e1", count=3) == 3
        ov.check_alive()
    finally:
        ov.stop_all()


def test_register_ttl_still_punches(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    """-L 2 behind NAT: the REGISTERs with TTL 2 open our NAT (one hop) and the path goes
    direct; -L 1 (no NAT in front) relies on the peer answering the forwarded REGISTER."""
    lab = make_lab(2, nat=True)
    ov = Overlay(lab, log_dir=tmp_path)
    # the router sees the short-TTL REGISTERs arrive with TTL 1 (the NAT took one) and drops them
    count = ["-t", "mangle", "-A", "PREROUTING", "-p", "udp", "-m", "ttl", "--ttl-eq", "1"]
    lab.run("r", ["iptables", "-w", *count], check=True)
    try:
        ov.start_supernode()
        ov.start_edge("e1", ["-L", "2"])
        ov.start_edge("e2", ["-L", "2"])
        ov.wait_mesh(timeout=30)
        ov.wait_path("e1", "e2", "direct", timeout=40)
        ov.wait_path("e2", "e1", "direct", timeout=40)
        assert ov.ping("e1", "e2", count=3) == 3  # frames at the normal TTL: the TTL came back
        out = lab.run(
            "r",
            ["iptables", "-w", "-t", "mangle", "-n", "-v", "-x", "-L", "PREROUTING"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        short_ttl = int(out.splitlines()[2].split()[0])
        assert short_ttl >= 16, out  # at least one burst of predicted ports
        ov.check_alive()
    finally:
        ov.stop_all()


def lan_pair(tmp_path: Path, extra: Callable[[str], list[str]]) -> dict[str, int]:
    """pyn2n supernode outside, pyn2n edges a and b on one LAN behind one NAT, each with
    `extra(host)`: the counters of five 1000-byte pings a -> b once the path has settled."""
    tmp_path.mkdir()
    with SharedNat(tmp_path) as net:
        net.spawn("sn", [*PYN2N, "supernode", "-p", "7654"])
        for host in ("a", "b"):
            argv = [*PYN2N, "edge", "-c", "lan", "-l", f"{SN_IP}:7654", "-d", "edge0"]
            net.spawn(host, [*argv, "-a", f"{OVERLAY[host]}/24", "-I", host, *extra(host)])

        def settled() -> bool:
            # -e: the LOCAL REGISTER to the advertised LAN socket gives a direct LAN path;
            # without: the multicast REGISTER on the LAN does
            net.reset()
            return net.ping("a", "b", size=1000) == 1 and net.counts()["wan_large"] == 0

        try:
            wait_until(lambda: net.ping("a", "b") == 1, timeout=30, what="a to ping b")
            if extra("a") != ["--no-local-discovery"]:
                wait_until(settled, timeout=30, what="a and b to talk on the LAN")
            else:
                time.sleep(3)  # time to punch, which cannot work here (the NAT does no hairpin)
        except OverlayError as exc:
            raise AssertionError(f"{exc}\n{net.logs()}") from None
        net.reset()
        assert net.ping("a", "b", count=5, size=1000) == 5, net.logs()
        return net.counts()


def test_preferred_socket_keeps_lan_peers_on_the_lan(tmp_path: Path) -> None:
    without = lan_pair(tmp_path / "without", lambda host: ["--no-local-discovery"])
    assert without["lan_direct"] == 0 and without["wan_large"] >= 10, without  # relayed
    multicast = lan_pair(tmp_path / "multicast", lambda host: [])  # n2n's LAN discovery
    assert multicast["lan_direct"] >= 5 and multicast["wan_large"] == 0, multicast
    auto = lan_pair(tmp_path / "auto", lambda host: ["-e", "auto"])
    assert auto["lan_direct"] >= 5 and auto["wan_large"] == 0, auto
    explicit = lan_pair(tmp_path / "explicit", lambda host: ["-e", LAN_IPS[host]])
    assert explicit["lan_direct"] >= 5 and explicit["wan_large"] == 0, explicit


def test_socket_reopened_after_repeated_supernode_failures(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    """e1 (-i 1: a retry every 0.1 s) loses the supernode; after 15 rounds without an answer
    and without a direct peer it re-opens its UDP socket on a new port, and comes back once
    the supernode is reachable again."""
    lab = make_lab(2)
    ov = Overlay(lab, log_dir=tmp_path)
    try:
        ov.start_supernode()
        ov.start_edge("e1", ["-i", "1"])
        ov.wait_registered(["e1"])
        lab.block("e1", "sn")
        ov.wait(
            lambda: "re-opened the UDP socket" in ov.log_tail("e1", 40),
            "e1 to re-open its socket",
            timeout=40,
        )
        lab.unblock("e1", "sn")
        log = ov.log_path("e1").read_text()
        first = re.search(r"UDP port (\d+)", log)
        fresh = re.search(r"re-opened the UDP socket, now port (\d+)", log)
        assert first and fresh and first.group(1) != fresh.group(1), log
        ov.start_edge("e2")
        ov.wait_ping("e2", "e1", timeout=30)
        ov.check_alive()
    finally:
        ov.stop_all()
