"""The address plan of a lab: which namespaces exist, how they are wired, which addresses they get.

Pure data (no system calls), so it can be checked without root and saved to a state file.

Underlay 198.18.0.0/16, routed by one router namespace (`p2n<id>-r`, no multicast routing):

| node   | namespace      | public subnet     | host address                                |
|--------|----------------|-------------------|---------------------------------------------|
| `sn`   | `p2n<id>-sn`   | 198.18.0.0/24     | 198.18.0.2                                  |
| `sn2`  | `p2n<id>-sn2`  | 198.18.200.0/24   | 198.18.200.2 (optional standby supernode)   |
| `e<i>` | `p2n<id>-e<i>` | 198.18.<i>.0/24   | 198.18.<i>.2, or behind NAT 198.18.<100+i>.2 |
| `n<i>` | `p2n<id>-n<i>` | 198.18.<i>.0/24   | 198.18.<i>.2 (the NAT in front of edge i)   |

The router holds `.1` of every public subnet. A NATed edge sits in 198.18.<100+i>.0/24 behind
`n<i>` (which MASQUERADEs onto 198.18.<i>.2); the router has no route to the private subnets.
Overlay (for the edges' TAP devices): edge i is 198.19.0.<i>/24; supernodes have none.
An IPv6 lab (`ipv6=True`) has the same shape with 2001:db8:18:<i>::/64 for 198.18.<i>.0/24, no
IPv4 underlay and no NAT.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

UNDERLAY = ipaddress.IPv4Network("198.18.0.0/16")
OVERLAY = ipaddress.IPv4Network("198.19.0.0/16")
OVERLAY_PREFIXLEN = 24
MAX_EDGES = 99  # edge i's NAT-private subnet is 198.18.<100+i>.0/24, so i <= 99
NS_PREFIX = "p2n"
ROUTER = "r"
SUPERNODE = "sn"
STANDBY = "sn2"
# Interface names, local to each namespace (so they never collide between runs or with the host).
HOST_IF = "eth0"
NAT_WAN_IF = "wan0"
NAT_LAN_IF = "lan0"

_SUBNET_INDEX = {SUPERNODE: 0, STANDBY: 200}
_RUN_ID = re.compile(r"[0-9a-f]{6}")


class LabError(RuntimeError):
    """A lab could not be planned, built or used; the message names the fix."""


@dataclass(frozen=True)
class Host:
    """One end host (supernode or edge) of the underlay."""

    name: str
    ns: str
    router_if: str  # the router's side of this host's link
    subnet: str  # the public subnet at the router, e.g. 198.18.1.0/24
    gateway: str  # the router's (or the NAT's) address this host routes through
    underlay_ip: str  # the address on the host's own eth0
    public_ip: str  # the address the router and other hosts see (the NAT's, if NATed)
    overlay_ip: str | None  # edges only
    nat_ns: str | None = None
    nat_private_subnet: str | None = None

    @property
    def nat(self) -> bool:
        return self.nat_ns is not None

    @property
    def router_ip(self) -> str:
        """The router's address on this host's public subnet."""
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


@dataclass(frozen=True)
class Plan:
    """Everything a lab creates, derived from its run id and options."""

    run_id: str
    edges: int
    nat_edges: tuple[int, ...]
    standby: bool
    hosts: tuple[Host, ...]
    ipv6: bool = False  # an IPv6-only underlay (2001:db8:18:<i>::/64), see make_plan
    dual: bool = False  # IPv4 as usual, and every host's IPv6 twin address as well

    @property
    def router_ns(self) -> str:
        return ns_name(self.run_id, ROUTER)

    @property
    def namespaces(self) -> list[str]:
        """All namespaces, in creation order (router first; a NAT before the edge behind it)."""
        names = [self.router_ns]
        for host in self.hosts:
            if host.nat_ns:
                names.append(host.nat_ns)
            names.append(host.ns)
        return names

    @property
    def nodes(self) -> dict[str, str]:
        """Node name (`r`, `sn`, `sn2`, `e1`, `n1`, ...) -> namespace name."""
        nodes = {ROUTER: self.router_ns}
        for host in self.hosts:
            nodes[host.name] = host.ns
            if host.nat_ns:
                nodes[f"n{edge_index(host.name)}"] = host.nat_ns
        return nodes

    @property
    def edge_names(self) -> list[str]:
        return [h.name for h in self.hosts if h.overlay_ip is not None]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no host {name!r} in lab {self.run_id}; hosts: {self.host_names()}")

    def host_names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "edges": self.edges,
            "nat_edges": list(self.nat_edges),
            "standby": self.standby,
            "hosts": [asdict(h) for h in self.hosts],
            "ipv6": self.ipv6,
            "dual": self.dual,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Plan:
        hosts = data["hosts"]
        nat_edges = data["nat_edges"]
        if not isinstance(hosts, list) or not isinstance(nat_edges, list):
            raise LabError("malformed lab plan: hosts and nat_edges must be lists")
        return cls(
            run_id=check_run_id(str(data["run_id"])),
            edges=int(str(data["edges"])),
            nat_edges=tuple(int(i) for i in nat_edges),
            standby=bool(data["standby"]),
            hosts=tuple(Host(**h) for h in hosts),
            ipv6=bool(data.get("ipv6", False)),
            dual=bool(data.get("dual", False)),
        )


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):
        raise LabError(f"bad lab run id {run_id!r}: expected 6 lowercase hex digits")
    return run_id


def ns_name(run_id: str, node: str) -> str:
    return f"{NS_PREFIX}{run_id}-{node}"


def edge_index(name: str) -> int:
    if not re.fullmatch(r"e[1-9][0-9]?", name):
        raise LabError(f"{name!r} is not an edge name (e1..e{MAX_EDGES})")
    return int(name[1:])


def overlay_ip(index: int) -> str:
    return str(OVERLAY.network_address + index)


def make_plan(
    run_id: str,
    edges: int,
    *,
    nat: bool | Iterable[int] = False,
    standby: bool = False,
    ipv6: bool = False,
    dual: bool = False,
) -> Plan:
    """Plan a lab with a supernode host, optionally a standby, and `edges` edges.

    `nat` is True (every edge behind its own NAT) or the indices of the edges to NAT. `ipv6`:
    the underlay is IPv6 only, host i in 2001:db8:18:<i>::/64 (no NAT; the overlay stays IPv4).
    `dual`: IPv4 as usual, plus those IPv6 addresses (`ipv6_twin`).
    """
    check_run_id(run_id)
    if not 1 <= edges <= MAX_EDGES:
        raise LabError(f"a lab has 1..{MAX_EDGES} edges, not {edges}")
    nat_edges = tuple(range(1, edges + 1)) if nat is True else tuple(sorted(set(nat or ())))
    bad = [i for i in nat_edges if not 1 <= i <= edges]
    if bad:
        raise LabError(f"NAT asked for edges {bad}, but the lab has edges 1..{edges}")

    if (ipv6 or dual) and nat_edges:
        raise LabError("an IPv6 or dual-stack lab has no NAT: leave out --nat")
    if ipv6 and dual:
        raise LabError("a lab is IPv6-only or dual-stack, not both")

    def public(index: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if ipv6:
            return ipaddress.IPv6Network(f"2001:db8:18:{index:x}::/64")
        return ipaddress.IPv4Network(f"198.18.{index}.0/24")

    hosts: list[Host] = []
    for name in [SUPERNODE, *([STANDBY] if standby else [])]:
        net = public(_SUBNET_INDEX[name])
        hosts.append(
            Host(
                name=name,
                ns=ns_name(run_id, name),
                router_if=f"to-{name}",
                subnet=str(net),
                gateway=str(net.network_address + 1),
                underlay_ip=str(net.network_address + 2),
                public_ip=str(net.network_address + 2),
                overlay_ip=None,
            )
        )
    for i in range(1, edges + 1):
        name = f"e{i}"
        net = public(i)
        wan_ip = str(net.network_address + 2)
        if i in nat_edges:
            private = public(100 + i)
            host = Host(
                name=name,
                ns=ns_name(run_id, name),
                router_if=f"to-{name}",
                subnet=str(net),
                gateway=str(private.network_address + 1),
                underlay_ip=str(private.network_address + 2),
                public_ip=wan_ip,
                overlay_ip=overlay_ip(i),
                nat_ns=ns_name(run_id, f"n{i}"),
                nat_private_subnet=str(private),
            )
        else:
            host = Host(
                name=name,
                ns=ns_name(run_id, name),
                router_if=f"to-{name}",
                subnet=str(net),
                gateway=str(net.network_address + 1),
                underlay_ip=wan_ip,
                public_ip=wan_ip,
                overlay_ip=overlay_ip(i),
            )
        hosts.append(host)
    return Plan(
        run_id=run_id,
        edges=edges,
        nat_edges=nat_edges,
        standby=standby,
        hosts=tuple(hosts),
        ipv6=ipv6,
        dual=dual,
    )


def ipv6_twin(subnet: str) -> ipaddress.IPv6Network:
    """The IPv6 subnet of a dual-stack lab that goes with 198.18.<i>.0/24: 2001:db8:18:<i>::/64."""
    index = ipaddress.IPv4Network(subnet).network_address.packed[2]
    return ipaddress.IPv6Network(f"2001:db8:18:{index:x}::/64")
