"""The lab's address plan, state files and CLI argument handling: no root needed."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from pyn2n.lab import OVERLAY, UNDERLAY, Lab, LabError, LabState, make_plan
from pyn2n.lab.cli import main as lab_main
from pyn2n.lab.state import list_states, read_state, write_state


def test_plan_addresses_are_disjoint_and_inside_the_testbed_ranges() -> None:
    plan = make_plan("0a1b2c", 4, nat={2, 4}, standby=True)
    assert plan.host_names() == ["sn", "sn2", "e1", "e2", "e3", "e4"]
    assert plan.edge_names == ["e1", "e2", "e3", "e4"]
    assert len(set(plan.namespaces)) == len(plan.namespaces) == 1 + 6 + 2
    assert all(ns.startswith("p2n0a1b2c-") for ns in plan.namespaces)
    assert plan.namespaces[0] == plan.router_ns == "p2n0a1b2c-r"
    assert plan.nodes["n2"] == "p2n0a1b2c-n2" and "n1" not in plan.nodes

    subnets = [ipaddress.IPv4Network(h.subnet) for h in plan.hosts]
    privates = [ipaddress.IPv4Network(h.nat_private_subnet) for h in plan.hosts if h.nat]
    everything = subnets + privates
    assert all(net.subnet_of(UNDERLAY) for net in everything)
    assert all(not a.overlaps(b) for i, a in enumerate(everything) for b in everything[i + 1 :])

    for host, net in zip(plan.hosts, subnets, strict=True):
        assert ipaddress.IPv4Address(host.router_ip) == net.network_address + 1
        assert ipaddress.IPv4Address(host.public_ip) in net
        if host.nat:
            private = ipaddress.IPv4Network(host.nat_private_subnet)
            assert ipaddress.IPv4Address(host.underlay_ip) in private
            assert ipaddress.IPv4Address(host.gateway) in private
            assert host.underlay_ip != host.public_ip
        else:
            assert host.underlay_ip == host.public_ip
            assert host.gateway == host.router_ip
    overlays = [h.overlay_ip for h in plan.hosts if h.overlay_ip]
    assert len(set(overlays)) == 4
    assert all(ipaddress.IPv4Address(ip) in OVERLAY for ip in overlays)
    assert plan.host("sn").overlay_ip is None and plan.host("sn").public_ip == "198.18.0.2"


@pytest.mark.parametrize(
    ("run_id", "edges", "nat"),
    [("0a1b2c", 0, False), ("0a1b2c", 100, False), ("0a1b2c", 3, {4}), ("0A1B2C", 1, False)],
)
def test_plan_rejects_bad_options(run_id: str, edges: int, nat: set[int] | bool) -> None:
    with pytest.raises(LabError):
        make_plan(run_id, edges, nat=nat)


def test_state_round_trips_and_guards_against_foreign_namespaces(tmp_path: Path) -> None:
    state = LabState(plan=make_plan("abc123", 2, nat=True), loss=0.25)
    state.processes.append({"pid": 42, "node": "sn", "argv": ["true"]})
    write_state(tmp_path, state)
    back = read_state(tmp_path, "abc123")
    assert back.plan == state.plan and back.loss == 0.25 and back.processes == state.processes
    assert back.owned_namespaces() == state.plan.namespaces

    # a tampered file naming someone else's namespace: `down` must not touch it
    data = json.loads(state.to_json())
    data["plan"]["hosts"][0]["ns"] = "important"
    tampered = LabState.from_json(json.dumps(data))
    assert "important" not in tampered.owned_namespaces()

    (tmp_path / "lab-ffffff.json").write_text("{not json")
    states, errors = list_states(tmp_path)
    assert [s.run_id for s in states] == ["abc123"]
    assert [p.name for p, _ in errors] == ["lab-ffffff.json"]
    with pytest.raises(LabError):
        read_state(tmp_path, "000000")


def test_lab_refuses_use_before_up() -> None:
    lab = Lab(1, state_dir=None)
    assert lab.overlay_cidr("e1") == "198.19.0.1/24"
    with pytest.raises(LabError, match="not up"):
        lab.run("e1", ["true"])
    with pytest.raises(LabError, match="only edges"):
        lab.overlay_ip("sn")
    with pytest.raises(LabError, match="no node"):
        lab.ns("e2")
    with pytest.raises(LabError):
        Lab(1, loss=1.5, state_dir=None)


def test_cli_down_needs_ids_or_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab_main(["--state-dir", str(tmp_path), "down"]) == 2
    assert lab_main(["--state-dir", str(tmp_path), "down", "--all"]) == 0
    assert lab_main(["--state-dir", str(tmp_path), "status"]) == 0
    assert "no labs" in capsys.readouterr().out
