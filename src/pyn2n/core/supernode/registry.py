"""The supernode's registry: communities, their edges and associations (spec §7.2, §7.3, §7.6).

Communities come from the community file (fixed, never purged) or are created on the fly by a
REGISTER_SUPER (no `-c` file, or a name matching one of its patterns) and get an auto-IP subnet.
Edges are stored under their MAC; associations remember which supernode holds a MAC we do not.
Timers: edges go 60 s after their last REGISTER_SUPER, empty on-the-fly communities with them,
associations after 180 s, auto-IP reservations (`Offer`) after 60 s. Every table is bounded by the configuration; a full one drops.
Edges are counted per source IP and in total (`limits`): new edges are admitted there, and every
edge enters and leaves through `add_edge` / `remove_edge`, which keep the counts and the index of
TAP addresses. Join and leave notices for the log are limited to NOTICE_RATE a second (the rest
are counted and summed up at the next purge), so a flood cannot flood the log.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from pyn2n.constants import (
    FEDERATION_ASSOCIATION_TIMEOUT,
    MSG_TYPE_REGISTER_SUPER_ACK,
    N2N_DEFAULT_TTL,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_SOCKET,
    N2N_PKT_VERSION,
    REGISTRATION_TIMEOUT,
)
from pyn2n.core.api import Addr
from pyn2n.core.community import CommunityList, assign_subnet, community_field
from pyn2n.core.config import ConfigError, SupernodeConfig
from pyn2n.core.events import Event, OperatorNotice, PeerAction, PeerEvent
from pyn2n.core.secure import HeaderCrypto
from pyn2n.core.supernode.limits import VICTIMS_PER_SCAN, Source, SourceLimits
from pyn2n.crypto.auth import SharedSecret, dynamic_key, federation_private_key
from pyn2n.crypto.timestamp import StampTracker
from pyn2n.wire import Common, ReRegisterSuper, encode
from pyn2n.wire.types import Auth, IpSubnet, Sock, decode_auth, encode_auth, mac_to_str

if TYPE_CHECKING:
    from pyn2n.core.supernode.node import Supernode

NOTICE_RATE = 20.0  # join/leave lines a second in the log, on average
NOTICE_BURST = 200.0
_ACK_COMMON = struct.Struct(">BBH20s")
_DEV_ADDR = struct.Struct(">IB")
_ACK_FLAGS = N2N_FLAGS_SOCKET | N2N_FLAGS_FROM_SUPERNODE | MSG_TYPE_REGISTER_SUPER_ACK


class HeaderMode(Enum):
    """Whether a community's headers are encrypted (§6); UNKNOWN until a datagram decides."""

    UNKNOWN = 0
    PLAIN = 1
    ENCRYPTED = 2


@dataclass(slots=True)
class SupernodeStats:
    """n2n's `sn_stats_t` (§8 packetstats, timestamps). Times are monotonic `now` values."""

    fwd: int = 0
    broadcast: int = 0
    broadcast_skipped: int = 0  # pyn2n: edges a sender served directly (docs/multicast.md)
    reg_super: int = 0
    reg_super_nak: int = 0
    errors: int = 0  # send failures, reported by the driver (`send_failed`)
    last_fwd: float | None = None
    last_reg_super: float | None = None


@dataclass(slots=True)
class User:
    name: str
    public_key: bytes
    secret: SharedSecret


class EdgeEntry:
    """One registered edge, compact (a supernode holds up to `max_edges` of them): `reg` is the
    REGISTER_SUPER's dev_addr, dev_desc and auth fields as they came on the wire (§4), decoded
    only when asked; `addr`'s IP string is its `Source`'s, shared by every edge of that source."""

    __slots__ = ("addr", "last_seen", "mac", "preferred", "reg")

    def __init__(
        self, mac: bytes, addr: Addr, reg: bytes, last_seen: float, preferred: Sock | None
    ) -> None:
        self.mac = mac
        self.addr = addr
        self.reg = reg
        self.last_seen = last_seen
        self.preferred = preferred

    @property
    def dev_addr(self) -> IpSubnet:
        return IpSubnet(*_DEV_ADDR.unpack_from(self.reg))

    @property
    def net_addr(self) -> int:
        return int.from_bytes(self.reg[:4], "big")

    @property
    def desc(self) -> bytes:
        return self.reg[5:21].rstrip(b"\x00")

    @property
    def auth(self) -> Auth:
        return decode_auth(self.reg, 21)[0]

    def __repr__(self) -> str:
        return f"EdgeEntry({edge_text(self)})"


def edge_reg(dev_addr: IpSubnet, desc: bytes, auth: Auth) -> bytes:
    """`EdgeEntry.reg` from decoded fields (tests and the -M rewrite)."""
    return (
        _DEV_ADDR.pack(dev_addr.net_addr, dev_addr.bitlen)
        + desc.ljust(16, b"\x00")[:16]
        + encode_auth(auth)
    )


@dataclass(slots=True)
class Offer:
    """An address an auto-IP answer handed out, reserved for its asker until `until`."""

    host: int
    until: float


@dataclass(slots=True)
class Assoc:
    addr: Addr
    last_seen: float


@dataclass(slots=True)
class Community:
    name: bytes
    purgeable: bool
    is_federation: bool = False
    he: HeaderMode = HeaderMode.PLAIN
    crypto: HeaderCrypto | None = None
    users: dict[bytes, User] = field(default_factory=dict)
    edges: dict[bytes, EdgeEntry] = field(default_factory=dict)
    assoc: dict[bytes, Assoc] = field(default_factory=dict)
    # auto-IP answers by asker (its socket and desc: the request carries a null MAC)
    offers: dict[tuple[Addr, bytes], Offer] = field(default_factory=dict)
    subnet: tuple[int, int] | None = None
    dynamic_key: bytes | None = None
    stamps: StampTracker = field(default_factory=StampTracker)
    field20: bytes = b""
    # TAP address -> MAC of the edge registered with it (a new MAC on a known address, §7.2)
    by_ip: dict[int, bytes] = field(default_factory=dict)
    creator: Source | None = None  # the source that made it on the fly (it counts there)
    ack_head: bytes = b""  # the common header of our REGISTER_SUPER_ACKs (plaintext)

    def __post_init__(self) -> None:
        self.field20 = community_field(self.name)
        self.ack_head = _ACK_COMMON.pack(
            N2N_PKT_VERSION, N2N_DEFAULT_TTL, _ACK_FLAGS, community_field(self.name)
        )

    @property
    def display(self) -> str:
        return "-/-" if self.is_federation else self.name.decode("utf-8", "replace")


def peer_event(action: PeerAction, mac: bytes, addr: Addr) -> Event:
    return PeerEvent(action, mac_to_str(mac), f"{addr[0]}:{addr[1]}")


def edge_text(edge: EdgeEntry) -> str:
    """An edge as the log names it: MAC, desc, address and socket."""
    desc = edge.desc.split(b"\x00", 1)[0].decode("utf-8", "replace")
    ip = ""
    if edge.dev_addr.net_addr:
        ip = f" {ipaddress.IPv4Address(edge.dev_addr.net_addr)}/{edge.dev_addr.bitlen}"
    return f"edge {mac_to_str(edge.mac)} {desc!r}{ip} at {edge.addr[0]}:{edge.addr[1]}"


def joined(comm: Community, edge: EdgeEntry, _why: str = "") -> Event:
    return OperatorNotice("edge_joined", f"{edge_text(edge)} joined community {comm.display!r}")


def left(comm: Community, edge: EdgeEntry, why: str) -> Event:
    return OperatorNotice("edge_left", f"{edge_text(edge)} left community {comm.display!r}: {why}")


class Registry:
    """Communities by name (the federation community first), the community file, key_time."""

    def __init__(self, sn: Supernode, config: SupernodeConfig) -> None:
        self._sn = sn
        self.config = config
        fed_name = config.federation.encode()
        self.fed_private = federation_private_key(fed_name)
        fed = Community(fed_name, purgeable=False, is_federation=True, he=HeaderMode.ENCRYPTED)
        fed.crypto = HeaderCrypto(fed_name)
        self.fed = fed
        self.communities: dict[bytes, Community] = {fed_name: fed}
        # edge communities by their 20-byte header field (the relay's fast lane)
        self.by_field: dict[bytes, Community] = {}
        self.community_list: CommunityList | None = None
        self.dynamic_key_time = 0
        self.n_assoc = 0
        self.limits = SourceLimits(config)
        self.n_edges = 0
        self.evicted = 0  # edges that gave way to a newcomer (full table)
        self.per_community = min(config.max_edges_per_community, config.max_edges)
        self._victims: list[tuple[Community, bytes]] = []
        self._next_scan = float("-inf")
        self._notice_tokens = NOTICE_BURST
        self._notice_stamp = 0.0
        self._notices_held = 0

    def _check_size(self, cl: CommunityList) -> None:
        if len(cl.fixed) > self.config.max_communities:
            raise ConfigError(
                f"the community file lists {len(cl.fixed)} communities, more than "
                f"max_communities ({self.config.max_communities}) allows; raise the bound"
            )

    def install(self, cl: CommunityList) -> None:
        """Load a parsed community file (n2n `load_allowed_sn_community`, second half)."""
        self._check_size(cl)
        self.community_list = cl
        self.dynamic_key_time = int(self._sn.wall_now()) & 0xFFFFFFFF
        for fc in cl.fixed.values():
            comm = Community(fc.name, purgeable=False, he=HeaderMode.UNKNOWN)
            comm.stamps = StampTracker(2 * self.per_community)
            comm.crypto = HeaderCrypto(fc.name, user_pw=bool(fc.users))
            if fc.users:
                comm.he = HeaderMode.ENCRYPTED  # users force header encryption (§7.3)
                for pub, user in fc.users.items():
                    secret = SharedSecret.derive(self.fed_private, pub)
                    comm.users[pub] = User(user.name, pub, secret)
            comm.subnet = fc.subnet or self._auto_subnet(fc.name)
            self.communities[fc.name] = comm
            self.by_field[comm.field20] = comm
            self._sn.header.order.append(comm)
        self.compute_dynamic_keys()

    def replace(self, cl: CommunityList) -> None:
        """Reload: RE_REGISTER_SUPER to user/password edges, drop every community (and its
        edges), load the new list with a new key_time. Raises ConfigError, changing nothing."""
        self._check_size(cl)
        self.send_re_register_super()
        for comm in list(self.communities.values()):
            if not comm.is_federation:
                self.remove_community(comm)
        self.install(cl)

    def _auto_subnet(self, name: bytes) -> tuple[int, int] | None:
        taken = [
            c.subnet
            for c in self.communities.values()
            if c.subnet is not None and not c.is_federation and c.name != name
        ]
        return assign_subnet(name, self.config.autoip, taken)

    def compute_dynamic_keys(self) -> None:
        for comm in self.communities.values():
            if comm.users and comm.crypto is not None:
                comm.dynamic_key = dynamic_key(comm.name, self.fed.name, self.dynamic_key_time)
                comm.crypto.set_dynamic_key(comm.dynamic_key)

    def send_re_register_super(self) -> None:
        """RE_REGISTER_SUPER to every user/password edge (its dynamic key is about to change)."""
        for comm in self.communities.values():
            if not comm.users or comm.is_federation:
                continue
            plain = encode(
                Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, comm.name), ReRegisterSuper()
            )
            for edge in comm.edges.values():
                self._sn.send(self._sn.header.seal(comm, plain), edge.addr)

    def new_community(
        self, name: bytes, ip: str | None = None, now: float = 0.0
    ) -> Community | None:
        """An on-the-fly community asked for by a REGISTER_SUPER from `ip`; None (dropped and
        counted) when the table or that source's share of it is full."""
        if len(self.communities) >= self.config.max_communities + 1:  # + federation
            self._sn.drop("table_full_communities")
            return None
        src = None
        if ip is not None:
            src = self.limits.source(ip, now)
            if src is None or src.communities >= self.config.max_communities_per_ip:
                self._sn.drop("source_communities")
                return None
            src.communities += 1
        comm = Community(name, purgeable=True, he=HeaderMode.PLAIN)
        comm.creator = src
        comm.stamps = StampTracker(2 * self.per_community)
        comm.subnet = self._auto_subnet(name)
        self.communities[name] = comm
        self.by_field[comm.field20] = comm
        return comm

    def remove_community(self, comm: Community) -> None:
        self.n_assoc -= len(comm.assoc)
        for mac in list(comm.edges):
            self.remove_edge(comm, mac)
        if comm.creator is not None:
            comm.creator.communities -= 1
            comm.creator = None
        del self.communities[comm.name]
        self.by_field.pop(comm.field20, None)
        self._sn.header.forget(comm)

    # -- edges: admission, entry and exit ---------------------------------------------------------

    def admit(self, comm: Community, ip: str, now: float) -> Source | None:
        """The source of a new edge from `ip` if it may join `comm` (see `limits`); else None,
        the datagram dropped and counted by the bound that stopped it."""
        sn, limits = self._sn, self.limits
        src = limits.source(ip, now)
        if src is None:
            sn.drop("table_full_sources")
            return None
        if src.edges >= limits.per_ip:
            sn.drop("source_edges")
            return None
        if len(comm.edges) >= self.per_community < self.config.max_edges:
            sn.drop("table_full_edges")  # its own bound (else the total's, below, may evict)
            return None
        if not limits.take(src, now):
            sn.drop("source_rate")
            return None
        if self.n_edges >= self.config.max_edges and not self._evict_for(src, now):
            sn.drop("table_full_edges")
            return None
        return src

    def add_edge(self, comm: Community, edge: EdgeEntry, src: Source) -> None:
        comm.edges[edge.mac] = edge
        src.edges += 1
        self.n_edges += 1
        net = edge.net_addr
        if net:
            comm.by_ip[net] = edge.mac

    def remove_edge(self, comm: Community, mac: bytes) -> EdgeEntry | None:
        edge = comm.edges.pop(mac, None)
        if edge is None:
            return None
        self.n_edges -= 1
        src = self.limits.by_ip.get(edge.addr[0])
        if src is not None:
            src.edges -= 1
        net = edge.net_addr
        if net and comm.by_ip.get(net) == mac:
            del comm.by_ip[net]
        return edge

    def move_edge(self, edge: EdgeEntry, addr: Addr, now: float) -> None:
        """A known edge registered from another socket (NAT rebinding): its source changes."""
        if addr[0] != edge.addr[0]:
            old = self.limits.by_ip.get(edge.addr[0])
            if old is not None:
                old.edges -= 1
            src = self.limits.by_ip.get(addr[0]) or self.limits.source(addr[0], now)
            if src is not None:
                src.edges += 1
                addr = (src.ip, addr[1])
        else:
            addr = (edge.addr[0], addr[1])
        edge.addr = addr

    def rename_edge(self, comm: Community, edge: EdgeEntry, mac: bytes) -> None:
        """The edge proved its TAP address with a new MAC (§7.2): store it under that."""
        del comm.edges[edge.mac]
        edge.mac = mac
        comm.edges[mac] = edge
        net = edge.net_addr
        if net:
            comm.by_ip[net] = mac

    def rewrite(self, comm: Community, edge: EdgeEntry, reg: bytes) -> None:
        """The edge's dev_addr or desc changed (its auth stays as first stored): keep the index
        of TAP addresses."""
        old = edge.net_addr
        if old and comm.by_ip.get(old) == edge.mac:
            del comm.by_ip[old]
        edge.reg = reg[:21] + edge.reg[21:]
        net = edge.net_addr
        if net:
            comm.by_ip[net] = edge.mac

    def _evict_for(self, src: Source, now: float) -> bool:
        """The table is full: make room for `src`'s newcomer by evicting an edge of the source
        holding the most edges, if it holds more than `src` (one scan a second at most)."""
        if not self._victims and now >= self._next_scan:
            self._next_scan = now + 1.0
            heavy = self.limits.heaviest()
            if heavy is not None and heavy.edges > src.edges + 1:
                self._victims = self._stalest_of(heavy)
        while self._victims:
            comm, mac = self._victims.pop()
            edge = comm.edges.get(mac)
            if edge is None:
                continue
            heavy_src = self.limits.by_ip.get(edge.addr[0])
            if heavy_src is None or heavy_src.edges <= src.edges + 1:
                self._victims.clear()
                return False
            self.remove_edge(comm, mac)
            self.evicted += 1
            self.tell(now, left, comm, edge, "evicted for a newcomer (its source holds the most)")
            return True
        return False

    def _stalest_of(self, src: Source) -> list[tuple[Community, bytes]]:
        """Up to VICTIMS_PER_SCAN edges of `src`, the least recently registered last."""
        ip = src.ip
        found = [
            (edge.last_seen, comm, mac)
            for comm in self.communities.values()
            for mac, edge in comm.edges.items()
            if edge.addr[0] == ip
        ]
        found.sort(key=_first, reverse=True)
        return [(comm, mac) for _, comm, mac in found[-VICTIMS_PER_SCAN:]]

    def tell(
        self,
        now: float,
        make: Callable[[Community, EdgeEntry, str], Event],
        comm: Community,
        edge: EdgeEntry,
        why: str,
    ) -> None:
        """A join or leave line for the log, within NOTICE_RATE a second (else counted)."""
        tokens = min(NOTICE_BURST, self._notice_tokens + (now - self._notice_stamp) * NOTICE_RATE)
        self._notice_stamp = now
        if tokens < 1.0:
            self._notice_tokens = tokens
            self._notices_held += 1
            return
        self._notice_tokens = tokens - 1.0
        self._sn.emit(make(comm, edge, why))

    def _held_notices(self) -> None:
        if self._notices_held:
            text = (
                f"{self._notices_held} more edges joined or left (the log tells at most "
                f"{NOTICE_RATE:.0f} a second; `pyn2n ctl edges` lists them)"
            )
            self._sn.emit(OperatorNotice("edges_churn", text))
            self._notices_held = 0

    def allowed_on_the_fly(self, name: bytes) -> bool:
        cl = self.community_list
        return cl is None or cl.pattern_allows(name)

    def associate(self, comm: Community, mac: bytes, addr: Addr, now: float) -> None:
        """Remember that the supernode at `addr` holds `mac` (§7.6)."""
        assoc = comm.assoc.get(mac)
        if assoc is not None:
            assoc.addr = addr
            assoc.last_seen = now
        elif self.n_assoc >= self.config.max_associations:
            self._sn.drop("table_full_associations")
        else:
            comm.assoc[mac] = Assoc(addr, now)
            self.n_assoc += 1

    def load(self) -> int:
        """n2n `sn_selection_criterion_gather_data`: edges + 1 per community, doubled when the
        community encrypts headers."""
        total = 0
        for comm in self.communities.values():
            n = len(comm.edges) + 1
            total += 2 * n if comm.he is HeaderMode.ENCRYPTED else n
        return total

    def purge(self, now: float) -> None:
        """n2n `purge_expired_communities`."""
        edge_deadline = now - REGISTRATION_TIMEOUT
        assoc_deadline = now - FEDERATION_ASSOCIATION_TIMEOUT
        for comm in list(self.communities.values()):
            if comm.is_federation:
                continue
            stale = [mac for mac, edge in comm.edges.items() if edge.last_seen < edge_deadline]
            for mac in stale:
                edge = self.remove_edge(comm, mac)
                assert edge is not None
                self._sn.emit(peer_event(PeerAction.PURGE, mac, edge.addr))
                self.tell(now, left, comm, edge, "no REGISTER_SUPER for 60 s (purged)")
            for key, offer in list(comm.offers.items()):
                if offer.until <= now:
                    del comm.offers[key]
            for mac, assoc in list(comm.assoc.items()):
                if assoc.last_seen < assoc_deadline:
                    del comm.assoc[mac]
                    self.n_assoc -= 1
            if comm.purgeable and not comm.edges:
                self.remove_community(comm)
        self.limits.forget_idle()
        self._held_notices()


def _first(item: tuple[float, Community, bytes]) -> float:
    return item[0]
