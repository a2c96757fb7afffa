"""An in-memory simulated network for pyn2n's sans-IO nodes.

A fake clock drives everything. Nodes that follow `pyn2n.core.api` (edges and supernodes, or toy
nodes in tests) are attached to a host's address:port; the simulator delivers their datagrams
through an event heap of (time, seq, action) with per-link delay, jitter and loss (a seeded rng),
fires their timers at the deadlines `get_timer()` names, and records every datagram in a log so
tests can tell a direct edge→edge path from a relay through the supernode. A fast edge
(`FastEdgeNode`) is driven as its fast loop drives it: its GSO buffers travel as one log record
each (`Datagram.segment`) and reach a fast receiver as one GRO run (`receive_gro`), and the
frames it writes behind a virtio_net_hdr are kept apart from its plain ones.

Addresses: public hosts get 198.18.0.0/18 addresses, NAT public sides 198.18.64.0/18, and the
private LAN behind the k-th NAT is 198.18.(128+k).0/24 — everything stays inside the testbed
underlay 198.18.0.0/16 even though none of it touches a real interface.

NATs follow RFC 4787's vocabulary:

| kind                 | mapping                        | filtering                       |
|----------------------|--------------------------------|---------------------------------|
| FULL_CONE            | endpoint-independent (EIM)     | endpoint-independent (EIF)      |
| ADDRESS_RESTRICTED   | endpoint-independent (EIM)     | address-dependent (ADF)         |
| PORT_RESTRICTED      | endpoint-independent (EIM)     | address-and-port-dependent      |
| SYMMETRIC            | address-and-port-dependent     | address-and-port-dependent      |

Mappings (and the filter permissions they carry) are refreshed by outbound traffic only and expire
after `timeout` seconds of outbound silence; hairpinning is off (a host sending to its own NAT's
public address is dropped); hosts behind the same NAT reach each other on the LAN directly.

Usage:

    net = SimNet(seed=1, delay=0.01)                  # default link: 10 ms, no loss
    net.add_nat("nat1", NatType.PORT_RESTRICTED)
    net.add_host("h1", nat="nat1"); net.add_host("h2")
    net.attach("a", node_a, "h1", 5000)               # anything with the core contract
    net.send_frame("a", frame)                        # edges: as if read from the TAP
    net.send_vnet_frames("a", [vnet_frame])           # fast edges: a TAP read behind vnet hdrs
    net.run_for(5.0)                                  # deliver, fire timers at their deadlines
    net.frames_received("b"); net.vnet_frames_received("b"); net.events("b", "peer")
    net.log.select(src="a", dst="b")                  # a GSO send is one record (`segment`)
    net.partition("a", "h2"); net.kill("b"); net.set_link("a", "b", delay=0.2, loss=0.1)

A timer called at its deadline whose node still names that instant (or an earlier one) is fired
again an instant later, as a real clock would, and counted in `timer_stalls`; a node that never
moves its deadline on raises `SimError`.

`n2n_supernode` / `n2n_edge` build pyn2n's core nodes with the network's seeded rng and fake wall
clock and attach them; `star_net`, `ping_pong` and friends are the scenario tests' kit. The
module also builds the Ethernet frames the tests inject into edges: unicast IPv4/UDP, ARP,
broadcast, IPv4 multicast (01:00:5E + low 23 bits of the group) and IPv6 multicast (33:33 + low
32 bits of the group).

The last section is the edge unit tests' kit: one edge driven by hand with a fake `Clock`, the
tests answering for the supernode and the peers (`registered_edge`, `make_known`, `run_until`);
`tests/conftest.py` offers its common set-ups as fixtures.
"""

from __future__ import annotations

import enum
import heapq
import ipaddress
import math
import random
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyn2n.constants import (
    COMMON_HEADER_SIZE,
    MSG_TYPE_PYN2N_GROUPS,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_OPTIONS,
    N2N_FLAGS_TYPE_MASK,
    N2N_PKT_VERSION,
    N2N_SN_LPORT_DEFAULT,
)
from pyn2n.core.api import Addr, Event
from pyn2n.wire import (
    Auth,
    Common,
    IpSubnet,
    Message,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    Sock,
    SupernodeEntry,
    decode,
    encode,
)

if TYPE_CHECKING:
    from pyn2n.core.edge import Edge
    from pyn2n.core.edge_config import EdgeConfig
    from pyn2n.core.supernode import Supernode

WALL_EPOCH = 1_700_000_000.0  # the fake wall clock (UTC seconds) at fake-clock time 0
MAX_UDP_PAYLOAD = 65507
MSG_TYPE_PACKET = 3  # spec §2
_SPIN_LIMIT = 10_000  # consecutive timer firings that do not move a node's deadline: a busy loop


class SimError(RuntimeError):
    """The simulation itself was misused, or a node misbehaves in a way no network could cause."""


class NatType(enum.Enum):
    FULL_CONE = "full_cone"
    ADDRESS_RESTRICTED = "address_restricted"
    PORT_RESTRICTED = "port_restricted"
    SYMMETRIC = "symmetric"


# ---------------------------------------------------------------------------------------------
# NAT


@dataclass
class Mapping:
    """One NAT binding: a private endpoint (and, for SYMMETRIC, one remote) ↔ a public port."""

    private: Addr
    public: Addr
    remote: Addr | None  # the single destination of a SYMMETRIC mapping; None for EIM
    last_out: float
    permitted: dict[Addr, float] = field(default_factory=dict)  # remote → last outbound time


class Nat:
    """A NAT in front of a private LAN; `outbound` and `inbound` are called by `SimNet`."""

    def __init__(
        self,
        name: str,
        kind: NatType,
        public_ip: str,
        lan: ipaddress.IPv4Network,
        *,
        timeout: float,
        first_port: int,
    ) -> None:
        self.name = name
        self.kind = kind
        self.public_ip = public_ip
        self.lan = lan
        self.timeout = timeout
        self._next_port = first_port
        self._by_key: dict[tuple[Addr, Addr | None], Mapping] = {}
        self._by_port: dict[int, Mapping] = {}
        self.drops: Counter[str] = Counter()

    def _expired(self, m: Mapping, now: float) -> bool:
        return now - m.last_out > self.timeout

    def _remove(self, m: Mapping) -> None:
        self._by_key.pop((m.private, m.remote), None)
        self._by_port.pop(m.public[1], None)

    def _alloc_port(self, now: float) -> int:
        # Sequential allocation, like many home routers: port prediction (-L) can work against it.
        while True:
            port = self._next_port
            self._next_port = 1024 + (self._next_port - 1024 + 1) % (65536 - 1024)
            old = self._by_port.get(port)
            if old is None:
                return port
            if self._expired(old, now):
                self._remove(old)
                return port

    def outbound(self, private: Addr, remote: Addr, now: float) -> Addr:
        """Translate a datagram leaving the LAN; returns the public source address it gets."""
        key = (private, remote if self.kind is NatType.SYMMETRIC else None)
        m = self._by_key.get(key)
        if m is not None and self._expired(m, now):
            self._remove(m)
            m = None
        if m is None:
            m = Mapping(private, (self.public_ip, self._alloc_port(now)), key[1], now)
            self._by_key[key] = m
            self._by_port[m.public[1]] = m
        m.last_out = now
        m.permitted[remote] = now
        return m.public

    def inbound(self, public_port: int, src: Addr, now: float) -> tuple[Addr | None, str]:
        """Filter and translate a datagram arriving at the public side: (private dest, drop reason)."""
        m = self._by_port.get(public_port)
        if m is not None and self._expired(m, now):
            self._remove(m)
            m = None
        if m is None:
            return None, "nat_no_mapping"
        if self.kind is NatType.FULL_CONE:
            return m.private, ""
        fresh = [r for r, t in m.permitted.items() if now - t <= self.timeout]
        if self.kind is NatType.ADDRESS_RESTRICTED:
            ok = any(r[0] == src[0] for r in fresh)
        else:  # PORT_RESTRICTED and SYMMETRIC filter on the exact remote endpoint
            ok = src in fresh
        return (m.private, "") if ok else (None, "nat_filtered")

    def peek(self, public_port: int, now: float) -> Addr | None:
        """The private endpoint behind a public port, without filtering (None: no live binding)."""
        m = self._by_port.get(public_port)
        return None if m is None or self._expired(m, now) else m.private

    def public_addr_of(self, private: Addr, now: float, remote: Addr | None = None) -> Addr | None:
        """The public address `private` currently has (towards `remote` for SYMMETRIC)."""
        key = (private, remote if self.kind is NatType.SYMMETRIC else None)
        m = self._by_key.get(key)
        return None if m is None or self._expired(m, now) else m.public

    def flush(self) -> None:
        """Forget every binding, as a NAT reboot would."""
        self._by_key.clear()
        self._by_port.clear()


# ---------------------------------------------------------------------------------------------
# hosts, attached nodes, the datagram log


@dataclass
class Host:
    name: str
    ip: str
    nat: Nat | None = None


@dataclass
class _Attached:
    name: str
    node: Any
    host: Host
    port: int
    alive: bool = True
    deadline: float | None = None
    timer_gen: int = 0
    fired_at: float | None = None  # when its timer last fired
    stalls: int = 0  # consecutive firings after which the deadline did not move on
    frames: list[tuple[float, bytes]] = field(default_factory=list)
    vnet_frames: list[tuple[float, bytes]] = field(default_factory=list)  # behind a virtio_net_hdr
    events: list[tuple[float, Event]] = field(default_factory=list)

    @property
    def addr(self) -> Addr:
        return (self.host.ip, self.port)

    @property
    def is_edge(self) -> bool:
        return hasattr(self.node, "frames_to_write")

    @property
    def is_fast(self) -> bool:
        """A `FastEdgeNode`: GSO buffers out, GRO runs in, frames behind a virtio_net_hdr."""
        return hasattr(self.node, "gso_datagrams_to_send")


@dataclass
class Datagram:
    """One datagram a node sent, and what became of it.

    A GSO send (`segment` set) is one record for the whole buffer: datagrams of `segment` bytes
    back to back (the last may be shorter) on one path, so NAT, loss and partitions take them
    together; a receiver with `receive_gro` gets the buffer as one GRO run."""

    seq: int
    t_sent: float
    src: str  # sending node's name
    sent_from: Addr  # the sender's own (possibly private) address
    sent_to: Addr  # the address the sender used
    data: bytes
    seen_from: Addr | None = None  # the source address the receiver saw (after NAT)
    dst: str | None = (
        None  # the node it is heading for (as far as known when sent), then who got it
    )
    t_arrived: float | None = None
    fate: str = "in_flight"  # delivered, lost, partitioned, nat_filtered, nat_no_mapping, …
    segment: int | None = None  # a GSO buffer of datagrams of this size; None: one datagram

    @property
    def datagrams(self) -> list[bytes]:
        """The UDP datagrams on the wire: `data` itself, or a GSO buffer cut into its segments."""
        if self.segment is None:
            return [self.data]
        return [self.data[i : i + self.segment] for i in range(0, len(self.data), self.segment)]

    @property
    def pc(self) -> int | None:
        """The n2n packet code if the header is plaintext (spec §2, the SN's heuristic §6), else None."""
        d = self.data
        if len(d) < COMMON_HEADER_SIZE or d[0] != N2N_PKT_VERSION or d[23] != 0:
            return None
        flags = (d[2] << 8) | d[3]
        return flags & N2N_FLAGS_TYPE_MASK if flags < N2N_FLAGS_OPTIONS else None


class DatagramLog:
    """Every datagram sent in the simulation, in sending order."""

    def __init__(self) -> None:
        self.records: list[Datagram] = []

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Any:
        return iter(self.records)

    def select(
        self,
        *,
        src: str | None = None,
        dst: str | None = None,
        fate: str | None = None,
        since: float | None = None,
        until: float | None = None,
        pc: int | None = None,
    ) -> list[Datagram]:
        """Records matching every given criterion (times compare with `t_sent`)."""
        return [
            r
            for r in self.records
            if (src is None or r.src == src)
            and (dst is None or r.dst == dst)
            and (fate is None or r.fate == fate)
            and (since is None or r.t_sent >= since)
            and (until is None or r.t_sent <= until)
            and (pc is None or r.pc == pc)
        ]

    def count(self, **criteria: Any) -> int:
        return len(self.select(**criteria))

    def fates(self, **criteria: Any) -> Counter[str]:
        return Counter(r.fate for r in self.select(**criteria))


# ---------------------------------------------------------------------------------------------
# the network


@dataclass
class _Link:
    delay: float
    jitter: float
    loss: float


class SimNet:
    """The simulated network: a fake clock, hosts, NATs, links, attached nodes, an event heap."""

    def __init__(
        self,
        seed: int = 0,
        *,
        delay: float = 0.01,
        jitter: float = 0.0,
        loss: float = 0.0,
        start: float = 0.0,
        wall_epoch: float = WALL_EPOCH,
    ) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._now = start
        self.wall_epoch = wall_epoch
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.default_link = _Link(delay, jitter, loss)
        self._links: list[tuple[frozenset[str], frozenset[str], _Link]] = []
        self._partitions: list[tuple[frozenset[str], frozenset[str]]] = []
        self.hosts: dict[str, Host] = {}
        self._host_by_ip: dict[str, Host] = {}
        self.nats: dict[str, Nat] = {}
        self._nat_by_ip: dict[str, Nat] = {}
        self._nodes: dict[str, _Attached] = {}
        self._by_addr: dict[Addr, _Attached] = {}
        self._next_ephemeral: dict[str, int] = {}
        self.log = DatagramLog()
        # per node: timer firings after which get_timer() still named the instant it was called
        # for (a node whose deadline and due-check disagree, e.g. by float rounding)
        self.timer_stalls: Counter[str] = Counter()

    # -- clock and injected sources -----------------------------------------------------------

    @property
    def now(self) -> float:
        return self._now

    def wall_clock(self) -> float:
        """UTC seconds on the fake clock (for header-encryption time stamps)."""
        return self.wall_epoch + self._now

    def wall_clock_skewed(self, skew: float) -> Callable[[], float]:
        """A wall clock `skew` seconds off, for a node whose clock is wrong."""
        return lambda: self.wall_epoch + self._now + skew

    def rng_for(self, name: str) -> Callable[[int], bytes]:
        """A deterministic byte source for a node, derived from the network's seed and its name."""
        return random.Random(f"{self.seed}/{name}").randbytes

    # -- topology ------------------------------------------------------------------------------

    def add_nat(
        self, name: str, kind: NatType, *, timeout: float = 120.0, public_ip: str | None = None
    ) -> Nat:
        """A NAT with its own private LAN; put hosts behind it with `add_host(..., nat=name)`."""
        if name in self.nats or name in self.hosts:
            raise SimError(f"name {name!r} already used")
        k = len(self.nats)
        if k >= 120:
            raise SimError("at most 120 NATs")
        ip = public_ip or f"198.18.{64 + k // 250}.{k % 250 + 1}"
        self._claim_ip(ip)
        nat = Nat(
            name,
            kind,
            ip,
            ipaddress.IPv4Network(f"198.18.{128 + k}.0/24"),
            timeout=timeout,
            first_port=20000 + 1000 * k,
        )
        self.nats[name] = nat
        self._nat_by_ip[ip] = nat
        return nat

    def add_host(self, name: str, *, nat: str | None = None, ip: str | None = None) -> Host:
        """A host on the public underlay, or on the LAN behind NAT `nat`."""
        if name in self.hosts or name in self.nats:
            raise SimError(f"name {name!r} already used")
        behind = self.nats[nat] if nat is not None else None
        if ip is None:
            if behind is None:
                n = sum(1 for h in self.hosts.values() if h.nat is None)
                ip = f"198.18.{n // 250}.{n % 250 + 1}"
            else:
                n = sum(1 for h in self.hosts.values() if h.nat is behind)
                ip = str(behind.lan.network_address + n + 1)
        elif behind is not None and ipaddress.IPv4Address(ip) not in behind.lan:
            raise SimError(f"{ip} is not on NAT {nat}'s LAN {behind.lan}")
        self._claim_ip(ip)
        host = Host(name, ip, behind)
        self.hosts[name] = host
        self._host_by_ip[ip] = host
        return host

    def _claim_ip(self, ip: str) -> None:
        if ip in self._host_by_ip or ip in self._nat_by_ip:
            raise SimError(f"address {ip} already used")

    def attach(self, name: str, node: Any, host: str, port: int | None = None) -> Addr:
        """Attach `node` at host:port (an ephemeral port if None), from now on; returns the address.

        A dead node's name and address may be reused (a restart)."""
        old = self._nodes.get(name)
        if old is not None and old.alive:
            raise SimError(f"node {name!r} already attached and alive")
        h = self.hosts[host]
        if port is None:
            port = self._next_ephemeral.get(host, 40000)
            while (h.ip, port) in self._by_addr and self._by_addr[(h.ip, port)].alive:
                port += 1
            self._next_ephemeral[host] = port + 1
        holder = self._by_addr.get((h.ip, port))
        if holder is not None and holder.alive:
            raise SimError(f"{h.ip}:{port} is taken by {holder.name}")
        entry = _Attached(name, node, h, port)
        self._nodes[name] = entry
        self._by_addr[(h.ip, port)] = entry
        self._drain(entry)  # a node may have queued output (or a first deadline) at construction
        return entry.addr

    def kill(self, name: str) -> None:
        """The node stops: it no longer receives datagrams or timer calls."""
        entry = self._nodes[name]
        entry.alive = False
        entry.deadline = None
        entry.timer_gen += 1

    def is_alive(self, name: str) -> bool:
        return self._nodes[name].alive

    def node(self, name: str) -> Any:
        return self._nodes[name].node

    def addr(self, name: str) -> Addr:
        """The node's own (possibly private) address."""
        return self._nodes[name].addr

    def public_addr(self, name: str, remote: Addr | None = None) -> Addr | None:
        """Where the node's traffic appears to come from on the public side (None: no mapping yet)."""
        entry = self._nodes[name]
        if entry.host.nat is None:
            return entry.addr
        return entry.host.nat.public_addr_of(entry.addr, self._now, remote)

    def _hosts_named(self, name: str) -> frozenset[str]:
        """Host names a link/partition endpoint name stands for: a host, a node's host, or a NAT's LAN."""
        if name in self.hosts:
            return frozenset({name})
        if name in self._nodes:
            return frozenset({self._nodes[name].host.name})
        if name in self.nats:
            nat = self.nats[name]
            return frozenset(h.name for h in self.hosts.values() if h.nat is nat)
        raise SimError(f"unknown host, node or NAT {name!r}")

    def set_link(
        self,
        a: str,
        b: str,
        *,
        delay: float | None = None,
        jitter: float | None = None,
        loss: float | None = None,
    ) -> None:
        """Link properties between a and b (hosts, nodes or NATs, resolved to hosts now), both
        directions; later calls win."""
        base = self._link_params(self._hosts_named(a), self._hosts_named(b))
        link = _Link(
            base.delay if delay is None else delay,
            base.jitter if jitter is None else jitter,
            base.loss if loss is None else loss,
        )
        self._links.append((self._hosts_named(a), self._hosts_named(b), link))

    def _link_params(self, sa: frozenset[str], sb: frozenset[str]) -> _Link:
        for a, b, link in reversed(self._links):
            if (sa <= a and sb <= b) or (sa <= b and sb <= a):
                return link
        return self.default_link

    def partition(self, a: str, b: str) -> None:
        """Block all traffic between a and b (hosts, nodes or NATs, resolved to hosts now), both
        directions."""
        self._partitions.append((self._hosts_named(a), self._hosts_named(b)))

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """Lift the a↔b partition, or every partition when called without names."""
        if a is None or b is None:
            self._partitions.clear()
            return
        sa, sb = self._hosts_named(a), self._hosts_named(b)
        self._partitions = [p for p in self._partitions if p not in ((sa, sb), (sb, sa))]

    def _blocked(self, ha: str, hb: str) -> bool:
        return any((ha in a and hb in b) or (ha in b and hb in a) for a, b in self._partitions)

    # -- frames ----------------------------------------------------------------------------------

    def send_frame(self, name: str, frame: bytes) -> None:
        """Hand an Ethernet frame to an edge as if its TAP device had read it, now."""
        entry = self._nodes[name]
        if not entry.alive:
            raise SimError(f"node {name!r} is dead")
        self._call(entry, "receive_frame", frame, self._now)

    def send_vnet_frames(self, name: str, frames: list[bytes]) -> None:
        """Hand a fast edge frames behind a virtio_net_hdr, as if one TAP read batch gave them, now."""
        entry = self._nodes[name]
        if not entry.alive:
            raise SimError(f"node {name!r} is dead")
        self._call(entry, "receive_vnet_frames", frames, self._now)

    def frames_received(self, name: str, since: float | None = None) -> list[bytes]:
        """Frames the edge wrote to its TAP device (from `since` on, if given), oldest first."""
        return [f for t, f in self._nodes[name].frames if since is None or t >= since]

    def vnet_frames_received(self, name: str, since: float | None = None) -> list[bytes]:
        """Frames a fast edge wrote behind a virtio_net_hdr (`vnet_frames_to_write`), oldest first."""
        return [f for t, f in self._nodes[name].vnet_frames if since is None or t >= since]

    def events(self, name: str, kind: str | None = None) -> list[Event]:
        """Events the node emitted (of `kind`, if given), oldest first."""
        return [e for _, e in self._nodes[name].events if kind is None or e.kind == kind]

    def event_log(self, name: str, kind: str | None = None) -> list[tuple[float, Event]]:
        """(time, event) pairs the node emitted (of `kind`, if given), oldest first."""
        return [(t, e) for t, e in self._nodes[name].events if kind is None or e.kind == kind]

    # -- datagrams ---------------------------------------------------------------------------------

    def send_datagram(self, name: str, data: bytes, addr: Addr) -> Datagram:
        """Send `data` from node `name`'s socket to `addr` through the network (NAT, loss, delay)."""
        return self._send(self._nodes[name], data, addr)

    def call(self, name: str, method: str, *args: Any) -> Any:
        """Call any method of node `name` (a management write, a reload …) and send whatever
        it queued; returns the method's result."""
        entry = self._nodes[name]
        try:
            result = getattr(entry.node, method)(*args)
        finally:
            if entry.alive:
                self._drain(entry)
        return result

    def inject(self, name: str, data: bytes, src: Addr) -> None:
        """Deliver `data` straight to node `name` now, as if it came from `src` (bypasses the network)."""
        entry = self._nodes[name]
        if entry.alive:
            self._call(entry, "receive_datagram", data, src, self._now)

    def _push(self, t: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, action))

    def _send(
        self, entry: _Attached, data: bytes, dst: Addr, segment: int | None = None
    ) -> Datagram:
        if segment is not None and (segment <= 0 or not data):
            raise SimError(f"node {entry.name!r}: a GSO buffer of {len(data)} bytes by {segment}")
        rec = Datagram(
            len(self.log) + 1, self._now, entry.name, entry.addr, dst, bytes(data), segment=segment
        )
        self.log.records.append(rec)
        if (len(data) if segment is None else segment) > MAX_UDP_PAYLOAD:
            rec.fate = "too_big"
            return rec
        src_host = entry.host
        dst_ip = dst[0]
        nat = src_host.nat
        target_nat = self._nat_by_ip.get(dst_ip)
        dst_host = self._host_by_ip.get(dst_ip)
        if nat is not None and dst_ip == nat.public_ip:
            rec.fate = "hairpin"  # hairpinning is off
            return rec
        if dst_host is not None and dst_host.nat is not None and dst_host.nat is not nat:
            rec.fate = "no_route"  # a private address of another LAN
            return rec
        if dst_host is None and target_nat is None:
            rec.fate = "no_route"
            return rec
        if nat is not None and (dst_host is None or dst_host.nat is not nat):
            rec.seen_from = nat.outbound(entry.addr, dst, self._now)
        else:
            rec.seen_from = entry.addr
        # The host (and node) it is heading for; behind a NAT, whatever the binding points at now.
        target: Addr | None = dst
        if dst_host is None:
            assert target_nat is not None
            target = target_nat.peek(dst[1], self._now)
            dst_host = self._host_by_ip[target[0]] if target else None
        listener = self._by_addr.get(target) if target else None
        rec.dst = listener.name if listener else None
        link = (
            self._link_params(frozenset({src_host.name}), frozenset({dst_host.name}))
            if dst_host is not None
            else self.default_link
        )
        if link.loss and self._rng.random() < link.loss:
            rec.fate = "lost"
            return rec
        delay = link.delay + (self._rng.uniform(0.0, link.jitter) if link.jitter else 0.0)
        self._push(self._now + delay, lambda: self._arrive(rec, src_host))
        return rec

    def _arrive(self, rec: Datagram, src_host: Host) -> None:
        assert rec.seen_from is not None
        dst_ip, dst_port = rec.sent_to
        nat = self._nat_by_ip.get(dst_ip)
        if nat is not None:
            private, reason = nat.inbound(dst_port, rec.seen_from, self._now)
            if private is None:
                nat.drops[reason] += 1
                rec.fate = reason
                return
            target: Addr = private
        else:
            target = rec.sent_to
        entry = self._by_addr.get(target)
        dst_host = self._host_by_ip[target[0]]
        if self._blocked(src_host.name, dst_host.name):
            rec.fate = "partitioned"
            return
        if entry is None:
            rec.fate = "no_listener"
            return
        rec.dst = entry.name
        if not entry.alive:
            rec.fate = "dead"
            return
        rec.fate = "delivered"
        rec.t_arrived = self._now
        if rec.segment is None:
            self._call(entry, "receive_datagram", rec.data, rec.seen_from, self._now)
        elif entry.is_fast:  # one GRO run
            self._call(entry, "receive_gro", rec.data, rec.segment, rec.seen_from, self._now)
        else:  # a socket without UDP_GRO reads the datagrams one by one
            for part in rec.datagrams:
                self._call(entry, "receive_datagram", part, rec.seen_from, self._now)

    # -- driving nodes -----------------------------------------------------------------------------

    def _call(self, entry: _Attached, method: str, *args: Any) -> None:
        try:
            getattr(entry.node, method)(*args)
        except Exception as exc:
            exc.add_note(f"simnet: node {entry.name!r} at t={self._now:.3f} in {method}")
            raise
        self._drain(entry)

    def _drain(self, entry: _Attached) -> None:
        node = entry.node
        for data, addr in node.datagrams_to_send():
            self._send(entry, data, addr)
        if entry.is_fast:  # as the fast loop flushes: plain datagrams first, then GSO buffers
            for buf, segment, addr in node.gso_datagrams_to_send():
                self._send(entry, buf, addr, segment)
            entry.vnet_frames.extend((self._now, f) for f in node.vnet_frames_to_write())
        if entry.is_edge:
            entry.frames.extend((self._now, f) for f in node.frames_to_write())
        entry.events.extend((self._now, e) for e in node.events())
        if entry.alive:
            self._schedule_timer(entry)

    def _schedule_timer(self, entry: _Attached) -> None:
        deadline = entry.node.get_timer()
        if deadline == entry.deadline:
            return  # the pending heap entry stays valid
        entry.deadline = deadline
        entry.timer_gen += 1
        if deadline is None:
            return
        when = max(deadline, self._now)
        if entry.fired_at == self._now:
            if deadline <= self._now:
                # Called for its deadline, the node still names it (or an earlier one): a real
                # clock would have moved on a little before the next call, so ours does too.
                entry.stalls += 1
                self.timer_stalls[entry.name] += 1
                if entry.stalls > _SPIN_LIMIT:
                    raise SimError(
                        f"node {entry.name!r}'s timer does not advance past t={self._now}"
                    )
                when = math.nextafter(self._now, math.inf)
            else:
                entry.stalls = 0
        gen = entry.timer_gen
        self._push(when, lambda: self._fire(entry, gen))

    def _fire(self, entry: _Attached, gen: int) -> None:
        if not entry.alive or gen != entry.timer_gen:
            return  # superseded or dead
        entry.deadline = None  # fired: whatever get_timer says next is a new deadline
        entry.fired_at = self._now
        self._call(entry, "handle_timer", self._now)

    # -- running -----------------------------------------------------------------------------------

    def run_until(self, t: float, until: Callable[[], bool] | None = None) -> bool:
        """Process every event up to time t and leave the clock at t.

        With `until`, stop as soon as it returns True after an event (the clock stays at that
        event's time) and return True; return False if t was reached first."""
        if t < self._now:
            raise SimError(f"cannot run back to {t} from {self._now}")
        if until is not None and until():
            return True
        while self._heap and self._heap[0][0] <= t:
            when, _, action = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            action()
            if until is not None and until():
                return True
        self._now = t
        return False

    def run_for(self, dt: float, until: Callable[[], bool] | None = None) -> bool:
        """`run_until(now + dt)`."""
        return self.run_until(self._now + dt, until)

    def wait_for(self, cond: Callable[[], bool], timeout: float) -> bool:
        """Run until `cond()` holds (True) or `timeout` seconds of fake time passed (False)."""
        return self.run_until(self._now + timeout, cond)


class Probe:
    """A bare node for tests: it records what it receives and sends what it is told (via SimNet)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes, Addr]] = []
        self._out: list[tuple[bytes, Addr]] = []

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self.received.append((now, data, addr))

    def handle_timer(self, now: float) -> None:
        pass

    def get_timer(self) -> float | None:
        return None

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[Event]:
        return []


# ---------------------------------------------------------------------------------------------
# n2n nodes in the simulation (the core is imported lazily: the simulator does not need it)


def n2n_supernode(
    net: SimNet,
    name: str,
    host: str,
    port: int = N2N_SN_LPORT_DEFAULT,
    *,
    community_file: str | None = None,
    **options: Any,
) -> Supernode:
    """A `pyn2n.core.supernode.Supernode` at host:port with the network's rng and wall clock.

    `community_file` is the text of a `-c` file; `options` go to `SupernodeConfig`."""
    from pyn2n.core.community import parse_community_file
    from pyn2n.core.config import SupernodeConfig
    from pyn2n.core.supernode import Supernode

    communities = parse_community_file(community_file) if community_file is not None else None
    config = SupernodeConfig(port=port, communities=communities, **options)
    sn = Supernode(config, net.rng_for(name), net.now, wall_clock=net.wall_clock)
    net.attach(name, sn, host, port)
    return sn


def n2n_edge(
    net: SimNet,
    name: str,
    host: str,
    *,
    supernodes: list[str],
    port: int | None = None,
    wall_clock: Callable[[], float] | None = None,
    rng_name: str | None = None,
    **options: Any,
) -> Edge:
    """A `pyn2n.core.edge.Edge` on `host` registering with the named supernode nodes.

    `options` go to `EdgeConfig` (community, ip, mac, key, header_encryption, …); `rng_name`
    seeds its randomness (default: the node name — give another one for a restarted edge,
    which draws a new auth token)."""
    from pyn2n.core.edge import Edge
    from pyn2n.core.edge_config import EdgeConfig

    config = EdgeConfig(supernodes=[net.addr(s) for s in supernodes], **options)
    rng = net.rng_for(rng_name or name)
    edge = Edge(config, rng, net.now, wall_clock=wall_clock or net.wall_clock)
    net.attach(name, edge, host, port)
    return edge


def edge_frame(src: Edge, dst: Edge, payload: bytes, port: int = 9000) -> bytes:
    """A unicast IPv4/UDP frame from edge `src`'s TAP address to edge `dst`'s."""
    assert src.ip is not None and dst.ip is not None
    return ipv4_udp_frame(src.mac, dst.mac, src.ip, dst.ip, port, port, payload)


# A star of edges around one supernode, and traffic between them (the scenario tests' kit).

SIM_COMMUNITY = "simnet"


def sim_mac(i: int) -> bytes:
    """Edge e<i>'s TAP MAC, 02:00:00:00:00:<i>."""
    return bytes([0x02, 0, 0, 0, 0, i])


def sim_ip(i: int) -> str:
    """Edge e<i>'s TAP address in the overlay 198.19.0.0/16."""
    return f"198.19.0.{i}"


def add_edge(
    net: SimNet, i: int, kind: NatType | None, supernodes: list[str], **options: Any
) -> str:
    """Edge "e<i>" on host "h<i>", behind its own NAT "nat<i>" of `kind` (None: a public host),
    in SIM_COMMUNITY with sim_ip(i)/24 and sim_mac(i) unless `options` say otherwise."""
    nat = None
    if kind is not None:
        nat = f"nat{i}"
        net.add_nat(nat, kind)
    net.add_host(f"h{i}", nat=nat)
    options = {"community": SIM_COMMUNITY, "ip": sim_ip(i), "mac": sim_mac(i), **options}
    n2n_edge(net, f"e{i}", f"h{i}", supernodes=supernodes, **options)
    return f"e{i}"


def star_net(
    kinds: list[NatType | None],
    seed: int = 1,
    sn_options: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[SimNet, list[str]]:
    """A public supernode "sn" (on host "sn_host") and an edge per entry of `kinds`."""
    net = SimNet(seed=seed)
    net.add_host("sn_host")
    n2n_supernode(net, "sn", "sn_host", **(sn_options or {}))
    names = [add_edge(net, i, kind, ["sn"], **options) for i, kind in enumerate(kinds, 1)]
    return net, names


def edge_of(net: SimNet, name: str) -> Edge:
    from pyn2n.core.edge import Edge

    node = net.node(name)
    assert isinstance(node, Edge)
    return node


def registered(net: SimNet, names: list[str]) -> bool:
    """Every named edge has had a real REGISTER_SUPER_ACK."""
    return all(edge_of(net, n).last_sup is not None for n in names)


def register_all(net: SimNet, names: list[str], timeout: float = 10.0) -> None:
    assert net.wait_for(lambda: registered(net, names), timeout), [
        (n, edge_of(net, n).drops) for n in names
    ]


def send_unicast(net: SimNet, src: str, dst: str, payload: bytes) -> tuple[bytes, Datagram]:
    """Hand edge `src` a unicast frame for edge `dst`; returns the frame and the datagram that
    carries it (the first one `src` sent; its `dst` is the peer when direct, else the supernode)."""
    frame = edge_frame(edge_of(net, src), edge_of(net, dst), payload)
    start = len(net.log)
    net.send_frame(src, frame)
    out = net.log.records[start:]
    assert out, f"{src} sent nothing for a unicast frame to {dst}"
    assert out[0].pc in (MSG_TYPE_PACKET, None)  # a PACKET, or header-encrypted
    return frame, out[0]


def copies(net: SimNet, name: str, frame: bytes, since: float | None = None) -> int:
    """How many times edge `name` wrote `frame` to its TAP."""
    return net.frames_received(name, since).count(frame)


def ping_pong(net: SimNet, a: str, b: str, rounds: int, period: float = 1.0) -> list[str | None]:
    """Frames a→b then b→a, one every period/2; each must arrive exactly once. Returns, per
    frame, the node its PACKET was addressed to (the peer: direct; a supernode: relayed)."""
    hops = []
    for i in range(rounds):
        for s, d in ((a, b), (b, a)):
            frame, first = send_unicast(net, s, d, f"{s}>{d} #{i} at {net.now:.3f}".encode())
            net.run_for(period / 2)
            assert copies(net, d, frame) == 1, (s, d, i, first.fate, first.dst)
            hops.append(first.dst)
    return hops


# ---------------------------------------------------------------------------------------------
# Ethernet frames

BROADCAST_MAC = b"\xff" * 6
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD


def mac(text: str) -> bytes:
    """'02:00:00:00:00:01' → 6 bytes."""
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_udp_packet(
    src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes, ttl: int = 64
) -> bytes:
    """An IPv4 header (with checksum) + UDP (checksum 0, allowed for IPv4) + payload."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    src, dst = ipaddress.IPv4Address(src_ip).packed, ipaddress.IPv4Address(dst_ip).packed
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, ttl, 17, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return hdr + udp


def ipv4_udp_frame(
    src_mac: bytes, dst_mac: bytes, src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes
) -> bytes:
    return ethernet(
        dst_mac, src_mac, ETH_P_IP, ipv4_udp_packet(src_ip, dst_ip, sport, dport, payload)
    )


def arp_frame(
    op: int,
    src_mac: bytes,
    src_ip: str,
    target_mac: bytes,
    target_ip: str,
    *,
    dst_mac: bytes | None = None,
) -> bytes:
    """ARP over Ethernet (op 1 request, 2 reply); requests go to broadcast unless dst_mac says otherwise."""
    body = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + src_mac
    body += (
        ipaddress.IPv4Address(src_ip).packed + target_mac + ipaddress.IPv4Address(target_ip).packed
    )
    dst = dst_mac if dst_mac is not None else (BROADCAST_MAC if op == 1 else target_mac)
    return ethernet(dst, src_mac, ETH_P_ARP, body)


def arp_request(src_mac: bytes, src_ip: str, target_ip: str) -> bytes:
    return arp_frame(1, src_mac, src_ip, b"\0" * 6, target_ip)


def broadcast_udp_frame(src_mac: bytes, src_ip: str, dport: int, payload: bytes) -> bytes:
    """An IPv4 UDP datagram to 255.255.255.255 in a frame to FF:FF:FF:FF:FF:FF."""
    return ipv4_udp_frame(src_mac, BROADCAST_MAC, src_ip, "255.255.255.255", dport, dport, payload)


def ipv4_multicast_mac(group: str) -> bytes:
    """RFC 1112: 01:00:5E followed by the low 23 bits of the group address."""
    g = ipaddress.IPv4Address(group)
    if not g.is_multicast:
        raise ValueError(f"{group} is not an IPv4 multicast group")
    low = int(g) & 0x7FFFFF
    return b"\x01\x00\x5e" + low.to_bytes(3, "big")


def ipv4_multicast_frame(
    src_mac: bytes, src_ip: str, group: str, dport: int, payload: bytes
) -> bytes:
    return ipv4_udp_frame(src_mac, ipv4_multicast_mac(group), src_ip, group, dport, dport, payload)


def ipv6_multicast_mac(group: str) -> bytes:
    """RFC 2464: 33:33 followed by the low 32 bits of the group address."""
    g = ipaddress.IPv6Address(group)
    if not g.is_multicast:
        raise ValueError(f"{group} is not an IPv6 multicast group")
    return b"\x33\x33" + g.packed[12:]


def ipv6_multicast_frame(
    src_mac: bytes, src_ip: str, group: str, dport: int, payload: bytes
) -> bytes:
    """IPv6 + UDP (with the mandatory checksum) to `group`, in a frame to 33:33:xx:xx:xx:xx."""
    src, dst = ipaddress.IPv6Address(src_ip).packed, ipaddress.IPv6Address(group).packed
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!I3xB", length, 17)
    udp0 = struct.pack("!HHHH", dport, dport, length, 0) + payload
    csum = _checksum(pseudo + udp0) or 0xFFFF
    udp = udp0[:6] + struct.pack("!H", csum) + udp0[8:]
    hdr = struct.pack("!IHBB", 6 << 28, length, 17, 1) + src + dst
    return ethernet(ipv6_multicast_mac(group), src_mac, ETH_P_IPV6, hdr + udp)


def udp_payload(frame: bytes) -> bytes | None:
    """The UDP payload of an IPv4 or IPv6 UDP frame (no extension headers), else None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == ETH_P_IP and len(frame) >= 34 and frame[23] == 17:
        ihl = (frame[14] & 0x0F) * 4
        return frame[14 + ihl + 8 :]
    if ethertype == ETH_P_IPV6 and len(frame) >= 62 and frame[20] == 17:
        return frame[62:]
    return None


# ---------------------------------------------------------------------------------------------
# A lone edge driven by hand (the edge unit tests' kit): a fake clock, a seeded rng and
# supernode replies built with pyn2n.wire, no network and no real supernode. The edge's
# datagrams are decoded from `datagrams_to_send()`; the tests answer for the supernode and peers.

COMMUNITY = "edgetest"
SN1 = ("198.18.0.1", 7654)
SN2 = ("198.18.0.2", 7654)
SN3 = ("198.18.0.3", 7654)
SN_MAC1 = bytes.fromhex("02aa00000001")
SN_MAC2 = bytes.fromhex("02aa00000002")
SN_MAC3 = bytes.fromhex("02aa00000003")
SN_MACS = {SN1: SN_MAC1, SN2: SN_MAC2, SN3: SN_MAC3}
MY_MAC = bytes.fromhex("02ee00000001")
MY_IP = "198.19.0.1"
PUBLIC = Sock("198.18.9.1", 40001)  # our public socket as the supernode sees it

PEER_MAC = bytes.fromhex("02ee00000002")
PEER_IP = "198.19.0.2"
PEER_ADDR = ("198.18.1.2", 50002)  # the peer's public socket
PEER_LAN = ("10.1.1.2", 50002)  # the peer's preferred (-e) socket
BCAST = b"\xff" * 6
NO_ADDR = IpSubnet(0, 0)
NO_AUTH = Auth()


class Clock:
    """A fake monotonic clock; `wall()` is UTC seconds for header-encryption stamps."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


def seeded(seed: int = 7) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def config(**kw: Any) -> EdgeConfig:
    """An EdgeConfig for the lone test edge (MY_MAC, MY_IP, supernode SN1) unless `kw` says."""
    from pyn2n.core.edge_config import EdgeConfig

    kw.setdefault("community", COMMUNITY)
    kw.setdefault("supernodes", [SN1])
    kw.setdefault("mac", MY_MAC)
    if "ip" not in kw:
        kw["ip"] = MY_IP
    return EdgeConfig(**kw)


def make_edge(clock: Clock | None = None, seed: int = 7, **kw: Any) -> tuple[Edge, Clock]:
    from pyn2n.core.edge import Edge

    clock = clock or Clock()
    edge = Edge(config(**kw), seeded(seed), clock(), wall_clock=clock.wall)
    return edge, clock


def common(flags: int = 0, community: str = COMMUNITY) -> Common:
    return Common(0, 2, flags, community.encode())


def from_sn(msg: Message, community: str = COMMUNITY) -> bytes:
    return encode(common(N2N_FLAGS_FROM_SUPERNODE, community), msg)


def plain(msg: Message, community: str = COMMUNITY) -> bytes:
    return encode(common(0, community), msg)


def drain(edge: Edge) -> list[tuple[Common, Message, tuple[str, int]]]:
    """Decoded datagrams the edge wants to send (plaintext headers only; pyn2n's GROUPS
    messages to peers, which n2n does not have, are left out)."""
    out = []
    for data, addr in edge.datagrams_to_send():
        if data[3] & 0x1F == MSG_TYPE_PYN2N_GROUPS:
            continue
        c, m = decode(data)
        out.append((c, m, addr))
    return out


def of_type(sent: list[tuple[Common, Message, tuple[str, int]]], kind: type) -> list[Any]:
    return [(m, a) for _, m, a in sent if isinstance(m, kind)]


def super_ack(
    reg: RegisterSuper,
    sn_mac: bytes = SN_MAC1,
    dev: IpSubnet = NO_ADDR,
    supernodes: tuple[SupernodeEntry, ...] = (),
    public: Sock = PUBLIC,
    auth: Auth = NO_AUTH,
) -> RegisterSuperAck:
    return RegisterSuperAck(reg.cookie, sn_mac, dev, public, auth, supernodes)


def answer_register_super(
    edge: Edge, clock: Clock, sent: list[tuple[Common, Message, tuple[str, int]]] | None = None
) -> RegisterSuper:
    """Answer the last REGISTER_SUPER in `sent` (default: what the edge has queued) with an ACK
    from the supernode it was sent to."""
    if sent is None:
        sent = drain(edge)
    regs = of_type(sent, RegisterSuper)
    assert regs, f"no REGISTER_SUPER among {sent}"
    reg, addr = regs[-1]
    edge.receive_datagram(from_sn(super_ack(reg, SN_MACS[addr])), addr, clock())
    return reg


def registered_edge(**kw: Any) -> tuple[Edge, Clock]:
    """An edge through its first real REGISTER_SUPER_ACK, outputs drained."""
    edge, clock = make_edge(**kw)
    edge.handle_timer(clock())
    if edge.phase == "ping":  # several supernodes: the first answers the PING
        drain(edge)
        first = edge.sns.entries[0].addr
        edge.receive_datagram(pong(sn_mac=SN_MACS[first]), first, clock())
    answer_register_super(edge, clock)
    if edge.last_sup is None:  # that was the auto-IP bootstrap; now the real one
        answer_register_super(edge, clock)
    assert edge.last_sup is not None
    edge.datagrams_to_send()
    edge.events()
    return edge, clock


def ipv4_frame(
    dst_mac: bytes,
    src_mac: bytes,
    src_ip: str,
    dst_ip: str,
    payload: bytes = b"x" * 32,
) -> bytes:
    """An Ethernet + IPv4 (UDP) frame; checksums are not needed anywhere here."""
    src = bytes(int(x) for x in src_ip.split("."))
    dst = bytes(int(x) for x in dst_ip.split("."))
    total = 20 + len(payload)
    ip = b"\x45\x00" + total.to_bytes(2, "big") + b"\x00\x00\x00\x00\x40\x11\x00\x00" + src + dst
    return dst_mac + src_mac + b"\x08\x00" + ip + payload


def packet(
    src: bytes,
    dst: bytes,
    frame: bytes,
    *,
    relayed: bool = False,
    sock: Sock | None = None,
    transform: int = 1,
    compression: int = 1,
    community: str = COMMUNITY,
) -> bytes:
    msg = Packet(src, dst, sock, compression, transform, frame)
    if relayed:
        return from_sn(msg, community)
    return plain(msg, community)


def register_msg(
    src: bytes = PEER_MAC,
    dst: bytes = MY_MAC,
    cookie: int = 0x10000,
    sock: Sock | None = None,
    ip: str = PEER_IP,
    desc: bytes = b"peer",
) -> Register:
    net = int.from_bytes(bytes(int(x) for x in ip.split(".")), "big")
    return Register(cookie, src, dst, sock, IpSubnet(net, 24), desc)


def make_known(
    edge: Edge, clock: Clock, mac: bytes = PEER_MAC, addr: tuple[str, int] = PEER_ADDR
) -> list[tuple[Common, Message, tuple[str, int]]]:
    """Run the hole-punching exchange with a peer at `addr`: its direct REGISTER, then its
    REGISTER_ACK to our REGISTER. Returns the decoded datagrams the edge sent meanwhile."""
    edge.receive_datagram(plain(register_msg(src=mac, dst=edge.mac)), addr, clock())
    sent = drain(edge)
    regs = [m for m, a in of_type(sent, Register) if a == addr]
    assert regs, sent
    edge.receive_datagram(plain(RegisterAck(regs[0].cookie, edge.mac, mac)), addr, clock())
    assert mac in edge.peers.known
    return sent


def pong(load: int = 0, sn_mac: bytes = SN_MAC1, version: bytes = b"sn-1") -> bytes:
    return from_sn(PeerInfo(0, sn_mac, bytes(6), PUBLIC, None, load, 77, version))


def nak(reg: RegisterSuper, mac: bytes = MY_MAC) -> bytes:
    return from_sn(RegisterSuperNak(reg.cookie, mac))


def run_until(
    edge: Edge, clock: Clock, until: float, answer: bool = True
) -> list[tuple[float, Message, tuple[str, int]]]:
    """Step the edge's timers up to `until`, answering each REGISTER_SUPER and PING like a
    supernode would when `answer`; returns everything sent as (time, message, address). Fails if a timer
    fires without moving on (with no input in between)."""
    log: list[tuple[float, Message, tuple[str, int]]] = []
    fired_at = None
    while True:
        t = edge.get_timer()
        assert t is not None and t >= clock() - 1e-9
        if t > until:
            break
        assert t != fired_at, f"the timer does not move past {t}"
        fired_at = t
        edge.handle_timer(clock.advance(t - clock()))
        sent = drain(edge)
        log += [(clock(), m, a) for _, m, a in sent]
        if answer:
            for reg, addr in of_type(sent, RegisterSuper):
                edge.receive_datagram(from_sn(super_ack(reg, SN_MACS[addr])), addr, clock())
                fired_at = None  # an input may legitimately make something due right now
            for query, addr in of_type(sent, QueryPeer):
                if query.target_mac == bytes(6) and addr in SN_MACS:  # a PING: PONG
                    edge.receive_datagram(pong(sn_mac=SN_MACS[addr]), addr, clock())
                    fired_at = None
            log += [(clock(), m, a) for _, m, a in drain(edge)]
    clock.advance(until - clock())
    return log
