"""Real clustering stacks over the overlay, with default edge flags (no -r, no -E): keepalived
VRRP moves a virtual IP between edges, avahi finds services on the other edges by mDNS. Each
test has its negative control on the bare underlay, whose router routes no multicast: there the
same daemons never hear each other."""

from __future__ import annotations

import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyn2n.lab import Lab, mcast
from pyn2n.lab import cluster as C
from pyn2n.lab.overlay import TAP_NAME, Overlay
from pyn2n.lab.topology import HOST_IF

pytestmark = pytest.mark.root

VIP = "198.19.0.100"
UNDERLAY_VIP = "198.18.250.100"  # the control: the same VRRP set-up on the underlay interfaces
SERVICE = "_pyn2n-test._tcp"
# VRRP with keepalived's default advert interval (1 s); a stopped master sends priority 0, so the
# backup takes over at once; measured 0.6 s here. The bound leaves room for a loaded machine.
MAX_OUTAGE = 3.0
MAX_CRASH_OUTAGE = 3.5  # 3 x 0.5 s adverts and the skew time; measured about 1.7 s


def test_keepalived_vip_fails_over_between_edges_with_default_flags(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    C.need("keepalived")
    lab = make_lab(3)
    ov = Overlay(lab, log_dir=tmp_path).start()
    ov.wait_mesh()
    keepalived = {}
    for edge, priority in (("e1", 150), ("e2", 100)):
        conf = C.keepalived_conf(
            edge,
            C.vrrp_instance("overlay", TAP_NAME, priority, f"{VIP}/24"),
            C.vrrp_instance("underlay", HOST_IF, priority, f"{UNDERLAY_VIP}/32", vrid=52),
        )
        keepalived[edge] = C.start_keepalived(lab, edge, conf, tmp_path)
    C.wait_address(lab, "e1", TAP_NAME, VIP)
    # the control: on the underlay the adverts do not cross the router, both claim the VIP
    C.wait_address(lab, "e1", HOST_IF, UNDERLAY_VIP)
    C.wait_address(lab, "e2", HOST_IF, UNDERLAY_VIP)
    # over the overlay e2 hears e1's adverts and stays backup
    assert not C.has_address(lab, "e2", TAP_NAME, VIP)
    assert lab.ping("e3", VIP, count=5, interval=0.1) == 5

    pinger = C.Pinger(lab, "e3", VIP)
    C.settle(1.0)  # a second of replies from e1 first
    lab.stop(keepalived["e1"], signal.SIGTERM)  # the master's keepalived, by PID
    C.wait_address(lab, "e2", TAP_NAME, VIP)
    ov.wait(lambda: not C.has_address(lab, "e1", TAP_NAME, VIP), "the VIP gone from e1")
    ov.wait(lambda: lab.ping("e3", VIP, count=3, interval=0.1) == 3, "the VIP answering again")
    run = pinger.stop()
    print(f"VRRP failover: {run.outage:.1f} s without replies ({len(run.answered)}/{run.sent})")
    assert run.answered and run.outage <= MAX_OUTAGE
    # the VIP answers from e2 now: its neighbour entry names e2's MAC
    neigh = lab.run("e3", ["ip", "neigh", "show", VIP], capture_output=True, text=True).stdout
    tap = lab.run("e2", ["cat", f"/sys/class/net/{TAP_NAME}/address"], capture_output=True)
    assert tap.stdout.decode().strip() in neigh
    assert ov.drops("e2").get("routed", 0) == 0 and ov.drops("e2").get("tap_routed", 0) == 0


def test_keepalived_takes_over_from_a_crashed_master(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    """The master's host dies (its edge and keepalived SIGKILLed, no goodbye): the backup takes
    the VIP after three missed adverts, here 0.5 s apart (VRRPv3); measured about 1.7 s."""
    C.need("keepalived")
    lab = make_lab(3)
    ov = Overlay(lab, log_dir=tmp_path).start()
    ov.wait_mesh()
    keepalived = {}
    for edge, priority in (("e1", 150), ("e2", 100)):
        instance = C.vrrp_instance("overlay", TAP_NAME, priority, f"{VIP}/24", advert_int=0.5)
        conf = C.keepalived_conf(edge, instance, version=3)
        keepalived[edge] = C.start_keepalived(lab, edge, conf, tmp_path)
    C.wait_address(lab, "e1", TAP_NAME, VIP)
    C.settle(2.0)  # e2 has heard e1's adverts for a while and stays backup
    assert not C.has_address(lab, "e2", TAP_NAME, VIP)
    pinger = C.Pinger(lab, "e3", VIP)
    C.settle(1.0)
    lab.stop(keepalived["e1"], signal.SIGKILL)
    ov.kill("e1")
    C.wait_address(lab, "e2", TAP_NAME, VIP)
    ov.wait(lambda: lab.ping("e3", VIP, count=3, interval=0.1) == 3, "the VIP answering again")
    run = pinger.stop()
    print(f"VRRP takeover after a crash: {run.outage:.1f} s without replies")
    assert run.answered and run.outage <= MAX_CRASH_OUTAGE


def test_avahi_finds_the_services_of_the_other_edges(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    C.need("avahi-daemon")
    lab = make_lab(3)
    ov = Overlay(lab, log_dir=tmp_path).start()
    ov.wait_mesh()
    port = 7000
    for edge in lab.edges:  # avahi publishes on both interfaces: the control uses the same daemons
        C.start_avahi(lab, edge, tmp_path, f"{TAP_NAME},{HOST_IF}", (SERVICE, port))
    service = f"{SERVICE}.local"

    def over(edge: str) -> dict[str, dict[str, object]]:
        return C.browse_from(lab, edge, service, lab.overlay_ip(edge), 15.0, want=3)

    with ThreadPoolExecutor(3) as pool:
        found = dict(zip(lab.edges, pool.map(over, lab.edges), strict=True))
    for edge, instances in found.items():
        for other in lab.edges:
            if other == edge:
                continue
            info = instances.get(f"{other}-{lab.run_id}")
            assert info is not None, f"{edge} did not find {other}: {instances}"
            assert info["port"] == port and info["addr"] == lab.overlay_ip(other)
    # the control: asked on the underlay, nobody but the asker's own daemon answers
    under = C.browse_from(lab, "e3", service, lab.underlay_ip("e3"), 4.0)
    assert set(under) <= {f"e3-{lab.run_id}"}, under


def test_multicast_route_takes_multicast_without_a_chosen_interface_to_the_overlay(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(3)
    ov = Overlay(lab, log_dir=tmp_path)
    for sn in ov.supernodes:
        ov.start_supernode(sn)
    ov.start_edge("e1", ["--multicast-route"])
    for edge in ("e2", "e3"):
        ov.start_edge(edge)
    ov.wait_mesh()

    def routes(edge: str) -> str:
        argv = ["sh", "-c", "ip -4 route show 224.0.0.0/4; ip -6 route show ff00::/8"]
        return str(lab.run(edge, argv, capture_output=True, text=True, timeout=10).stdout)

    assert TAP_NAME in routes("e1") and "ff00::/8" in routes("e1")
    # a sender that leaves the interface to the kernel (IP_MULTICAST_IF 0.0.0.0, bound to any)
    count = 50

    def from_any(sender: str) -> list[int]:
        receivers = [(e, lab.overlay_ip(e)) for e in lab.edges if e != sender]
        _sent, got = mcast.stream(lab, (sender, "0.0.0.0"), receivers, count=count, grace=2.0)
        return [r["distinct"] for r in got]

    assert from_any("e1") == [count, count]
    # the control: without the route the kernel follows the default route to the underlay
    assert from_any("e2") == [0, 0]
    ov.stop("e1")
    assert "224.0.0.0/4" not in routes("e1")
