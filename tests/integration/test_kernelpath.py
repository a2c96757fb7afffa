"""The kernel path between real pyn2n edges in a lab (docs/kernel-path.md): negotiation and a
ping that never wakes pyn2n, fallback when the VXLAN port is blocked on the way, a peer
leaving, a spoofed VXLAN datagram dropped, leftovers after SIGKILL removed, and encrypted
communities (or --no-kernel-path) keeping a plain TAP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyn2n.core.kernelpath import vni_for
from pyn2n.lab import Lab, system
from pyn2n.lab.overlay import DEFAULT_COMMUNITY, Overlay, OverlayError

pytestmark = pytest.mark.root

DEV = "edge0"  # the lab's -d
VXLAN_PORT = 4789
NFT = "pyn2n_edge0"  # the edge's nftables table


def start(make_lab: Callable[..., Lab], tmp_path: Path, edges: int = 2, **kw: Any) -> Overlay:
    lab = make_lab(edges)
    return Overlay(lab, log_dir=tmp_path, **kw).start(edges=[])


def row(ov: Overlay, edge: str, other: str) -> dict[str, Any]:
    got = ov.peer_row(edge, other)
    return {} if got is None else got


def row_or_none(ov: Overlay, edge: str, other: str) -> dict[str, Any]:
    """`row`, or {} while the management port does not answer in time (a loaded machine)."""
    try:
        return row(ov, edge, other)
    except OverlayError:
        return {}


def wait_path(ov: Overlay, edge: str, other: str, path: str, timeout: float = 40) -> None:
    ov.wait(
        lambda: row_or_none(ov, edge, other).get("path") == path,
        f"{edge}'s path to {other} to be {path!r}",
        timeout=timeout,
    )


def sh(lab: Lab, node: str, *argv: str) -> str:
    proc = lab.run(node, list(argv), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{' '.join(argv)} on {node}: {proc.stderr}"
    return str(proc.stdout)


def link_stats(lab: Lab, node: str, dev: str) -> dict[str, int]:
    """rx/tx packets of `dev` (for a TAP: rx = frames pyn2n wrote, tx = frames it read)."""
    info = json.loads(sh(lab, node, "ip", "-j", "-s", "link", "show", dev))[0]["stats64"]
    return {"rx": int(info["rx"]["packets"]), "tx": int(info["tx"]["packets"])}


def links(lab: Lab, node: str) -> dict[str, dict[str, Any]]:
    return {m["ifname"]: m for m in json.loads(sh(lab, node, "ip", "-j", "-d", "link", "show"))}


def fdb_macs(lab: Lab, node: str, dev: str) -> set[str]:
    """MACs the bridge sends to port `dev` (its static `master` entries)."""
    rows = json.loads(sh(lab, node, "bridge", "-j", "fdb", "show", "dev", dev))
    return {r["mac"] for r in rows if r.get("master") and "static" in r.get("state", "")}


def mac_of(ov: Overlay, edge: str) -> str:
    return str(ov.ctl(edge, "info")[0]["macaddr"]).lower()


def nft_tables(lab: Lab, node: str) -> str:
    return sh(lab, node, "nft", "list", "tables")


def mine_left(lab: Lab, node: str) -> list[str]:
    """What an edge of ours left in its namespace: our devices, our nftables table."""
    left = [n for n in links(lab, node) if n in (DEV, f"{DEV}-x", f"{DEV}-t")]
    if "pyn2n_" in nft_tables(lab, node):
        left.append("nftables table")
    return left


def kernel_pair(make_lab: Callable[..., Lab], tmp_path: Path, edges: int = 2) -> Overlay:
    ov = start(make_lab, tmp_path, edges)
    ov.start_edge("e1")
    ov.start_edge("e2")
    ov.wait_ping("e1", "e2")
    wait_path(ov, "e1", "e2", "kernel")
    wait_path(ov, "e2", "e1", "kernel")
    return ov


def test_peers_negotiate_the_kernel_path_and_unicast_never_wakes_pyn2n(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = kernel_pair(make_lab, tmp_path)
    lab = ov.lab
    r = row(ov, "e1", "e2")
    assert r["kernelpath"] == "on" and r["fastpath"] == "on (none)"
    # the interface users configure is the bridge: our MAC, address and MTU on it
    e1 = links(lab, "e1")
    assert e1[DEV]["linkinfo"]["info_kind"] == "bridge"
    assert e1[DEV]["address"] == mac_of(ov, "e1") and e1[DEV]["mtu"] == 1290
    assert lab.overlay_ip("e1") in sh(lab, "e1", "ip", "-4", "addr", "show", DEV)
    assert e1[f"{DEV}-x"]["linkinfo"]["info_kind"] == "vxlan"
    # the driver installs the entries within a tick (a second) of the answered probe
    for a, b in (("e1", "e2"), ("e2", "e1")):
        peer_mac = mac_of(ov, b)
        ov.wait(
            lambda a=a, m=peer_mac: m in fdb_macs(lab, a, f"{DEV}-x"),
            f"{a}'s forwarding entry for {b}",
            timeout=10,
        )
    before = {n: link_stats(lab, n, f"{DEV}-t") for n in ("e1", "e2")}
    vx_before = link_stats(lab, "e1", f"{DEV}-x")
    pings = 200
    got = lab.ping("e1", lab.overlay_ip("e2"), count=pings, interval=0.01, timeout=20)
    assert got >= pings - 2
    after = {n: link_stats(lab, n, f"{DEV}-t") for n in ("e1", "e2")}
    # 400 frames crossed between the two hosts; pyn2n read or wrote only its probes (about
    # two a second each way) and perhaps an ARP
    for n in ("e1", "e2"):
        moved = (after[n]["rx"] - before[n]["rx"]) + (after[n]["tx"] - before[n]["tx"])
        assert moved < 40, f"{n}'s TAP carried {moved} frames during {pings} pings"
    vx_after = link_stats(lab, "e1", f"{DEV}-x")
    assert vx_after["tx"] - vx_before["tx"] >= pings - 2
    assert vx_after["rx"] - vx_before["rx"] >= pings - 2
    ov.check_alive()


def test_blocking_the_vxlan_port_falls_back_and_unblocking_comes_back(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = kernel_pair(make_lab, tmp_path)
    lab = ov.lab
    router = lab.plan.router_ns
    rule = ["FORWARD", "-p", "udp", "--dport", str(VXLAN_PORT), "-j", "DROP"]
    system.iptables(router, "-I", *rule)
    try:
        wait_path(ov, "e1", "e2", "direct", timeout=30)
        wait_path(ov, "e2", "e1", "direct", timeout=30)
        assert row(ov, "e1", "e2")["kernelpath"].startswith("probing")
        e2_mac = mac_of(ov, "e2")
        ov.wait(
            lambda: e2_mac not in fdb_macs(lab, "e1", f"{DEV}-x"),
            "e1 to take e2's forwarding entry back",
            timeout=10,
        )
        assert lab.ping("e1", lab.overlay_ip("e2"), count=5, interval=0.1) >= 4
        assert row(ov, "e1", "e2")["fastpath"] == "on (none)"
    finally:
        system.iptables(router, "-D", *rule)
    wait_path(ov, "e1", "e2", "kernel", timeout=40)
    assert lab.ping("e1", lab.overlay_ip("e2"), count=5, interval=0.1) >= 4
    ov.check_alive()


def test_a_peer_leaving_removes_its_entries_and_its_own_devices(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = kernel_pair(make_lab, tmp_path)
    lab = ov.lab
    e2_mac = mac_of(ov, "e2")
    assert ov.stop("e2") == 0
    assert mine_left(lab, "e2") == []  # SIGTERM: bridge, VXLAN device and filter gone
    ov.wait(
        lambda: e2_mac not in fdb_macs(lab, "e1", f"{DEV}-x"),
        "e1 to remove e2's forwarding entry",
        timeout=30,
    )
    # and once its fast-path session has ended, its address leaves the filter's set
    ov.wait(
        lambda: (
            lab.underlay_ip("e2") not in sh(lab, "e1", "nft", "list", "set", "ip", NFT, "peers")
        ),
        "e1 to stop accepting VXLAN from e2's address",
        timeout=40,
    )
    ov.check_alive()


def vxlan_datagram(vni: int, dst_mac: str, src_mac: str) -> bytes:
    """VXLAN (RFC 7348) carrying an Ethernet frame with the probe EtherType."""
    inner = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    inner += b"\x88\xb5" + b"spoofed".ljust(46, b"\x00")
    return b"\x08\x00\x00\x00" + vni.to_bytes(3, "big") + b"\x00" + inner


def filter_drops(lab: Lab, node: str) -> int:
    """Datagrams the edge's filter dropped so far (its rule's counter)."""
    text = sh(lab, node, "nft", "list", "chain", "ip", NFT, "vxlan_in")
    return int(text.split("counter packets ")[1].split()[0])


def send_udp(lab: Lab, node: str, dst_ip: str, payload: bytes) -> None:
    code = (
        "import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
        f"s.sendto(bytes.fromhex('{payload.hex()}'),('{dst_ip}',{VXLAN_PORT}))"
    )
    sh(lab, node, "python3", "-c", code)


def test_a_spoofed_vxlan_datagram_is_dropped_and_a_peers_is_not(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = kernel_pair(make_lab, tmp_path, edges=3)  # e3 runs no edge: the spoofing host
    lab = ov.lab
    vni = vni_for(DEFAULT_COMMUNITY.encode())
    frame = vxlan_datagram(vni, mac_of(ov, "e1"), "02:00:00:00:0e:03")
    target = lab.underlay_ip("e1")
    dropped = filter_drops(lab, "e1")
    for _ in range(5):
        send_udp(lab, "e3", target, frame)
    assert filter_drops(lab, "e1") - dropped == 5  # every one of them, at the filter
    # the same datagram from a current kernel-path peer's address gets in (the check can fail)
    dropped = filter_drops(lab, "e1")
    before = link_stats(lab, "e1", f"{DEV}-x")["rx"]
    for _ in range(5):
        send_udp(lab, "e2", target, frame)
    assert link_stats(lab, "e1", f"{DEV}-x")["rx"] - before >= 5
    assert filter_drops(lab, "e1") == dropped
    ov.check_alive()


def test_leftovers_after_sigkill_are_removed_at_the_next_start(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    ov = kernel_pair(make_lab, tmp_path)
    lab = ov.lab
    ov.kill("e1")
    assert sorted(mine_left(lab, "e1")) == sorted([DEV, f"{DEV}-x", "nftables table"])
    # another address: the supernode holds the killed edge's for a minute
    ov.start_edge("e1", ["-a", "198.19.0.11/24"])
    ov.wait_ping("e1", "e2")
    wait_path(ov, "e1", "e2", "kernel")
    assert "removed leftovers of an earlier edge" in ov.log_path("e1").read_text()
    assert ov.stop("e1") == 0
    assert mine_left(lab, "e1") == []


@pytest.mark.parametrize("flags", [["-A3", "-k", "kp-key"], ["--no-kernel-path"]])
def test_encrypted_communities_and_no_kernel_path_keep_a_plain_tap(
    make_lab: Callable[..., Lab], tmp_path: Path, flags: list[str]
) -> None:
    lab = make_lab(2)
    ov = Overlay(lab, log_dir=tmp_path, edge_args=flags).start()
    ov.wait_ping("e1", "e2")
    ov.wait(
        lambda: str(row(ov, "e1", "e2").get("fastpath", "")).startswith("on"),
        "the fast path",
        timeout=30,
    )
    assert lab.ping("e1", lab.overlay_ip("e2"), count=5, interval=0.1) >= 4
    r = row(ov, "e1", "e2")
    assert r["path"] == "direct"
    assert r["kernelpath"] == "off"
    for edge in ("e1", "e2"):
        found = links(lab, edge)
        assert found[DEV]["linkinfo"]["info_kind"] == "tun"
        assert f"{DEV}-x" not in found and "pyn2n_" not in nft_tables(lab, edge)
    ov.check_alive()


def test_when_netlink_refuses_the_edge_says_so_once_and_keeps_a_plain_tap(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2)
    # a device of someone else's where the VXLAN port would go: creating it fails half way
    sh(lab, "e1", "ip", "link", "add", f"{DEV}-x", "type", "veth", "peer", "name", "kpv0")
    ov = Overlay(lab, log_dir=tmp_path).start()
    ov.wait_ping("e1", "e2")
    ov.wait(
        lambda: str(row_or_none(ov, "e2", "e1").get("fastpath", "")).startswith("on"),
        "the fast path",
        timeout=30,
    )
    log = ov.log_path("e1").read_text()
    assert log.count("kernel path off: cannot set up") == 1, log
    found = links(lab, "e1")
    assert found[DEV]["linkinfo"]["info_kind"] == "tun"  # the half-built bridge is gone
    assert found[f"{DEV}-x"]["linkinfo"]["info_kind"] == "veth"  # and theirs untouched
    assert "pyn2n_" not in nft_tables(lab, "e1")
    assert row(ov, "e2", "e1")["kernelpath"] == "not offered by the peer"
    assert lab.ping("e1", lab.overlay_ip("e2"), count=5, interval=0.1) >= 4
    ov.check_alive()
