"""The supernode's registry: communities, their edges and associations (spec §7.2, §7.3, §7.6).

Communities come from the community file (fixed, never purged) or are created on the fly by a
REGISTER_SUPER (no `-c` file, or a name matching one of its patterns) and get an auto-IP subnet.
Edges are stored under their MAC; associations remember which supernode holds a MAC we do not.
Timers: edges go 60 s after their last REGISTER_SUPER, empty on-the-fly communities with them,
associations after 180 s, auto-IP reservations (`Offer`) after 60 s. Every table is bounded by the configuration; a full one drops.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from pyn2n.constants import (
    FEDERATION_ASSOCIATION_TIMEOUT,
    N2N_DEFAULT_TTL,
    N2N_FLAGS_FROM_SUPERNODE,
    REGISTRATION_TIMEOUT,
)
from pyn2n.core.api import Addr
from pyn2n.core.community import CommunityList, assign_subnet, community_field
from pyn2n.core.config import ConfigError, SupernodeConfig
from pyn2n.core.events import Event, OperatorNotice, PeerAction, PeerEvent
from pyn2n.core.secure import HeaderCrypto
from pyn2n.crypto.auth import SharedSecret, dynamic_key, federation_private_key
from pyn2n.crypto.timestamp import StampTracker
from pyn2n.wire import Common, ReRegisterSuper, encode
from pyn2n.wire.types import Auth, IpSubnet, Sock, mac_to_str

if TYPE_CHECKING:
    from pyn2n.core.supernode.node import Supernode


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


@dataclass(slots=True)
class EdgeEntry:
    mac: bytes
    addr: Addr
    dev_addr: IpSubnet
    desc: bytes
    auth: Auth
    last_seen: float
    preferred: Sock | None
    last_cookie: int


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

    def __post_init__(self) -> None:
        self.field20 = community_field(self.name)

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


def joined(comm: Community, edge: EdgeEntry) -> Event:
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
        self.community_list: CommunityList | None = None
        self.dynamic_key_time = 0
        self.n_assoc = 0

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
            comm.stamps = StampTracker(2 * self.config.max_edges_per_community)
            comm.crypto = HeaderCrypto(fc.name, user_pw=bool(fc.users))
            if fc.users:
                comm.he = HeaderMode.ENCRYPTED  # users force header encryption (§7.3)
                for pub, user in fc.users.items():
                    secret = SharedSecret.derive(self.fed_private, pub)
                    comm.users[pub] = User(user.name, pub, secret)
            comm.subnet = fc.subnet or self._auto_subnet(fc.name)
            self.communities[fc.name] = comm
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

    def new_community(self, name: bytes) -> Community | None:
        if len(self.communities) >= self.config.max_communities + 1:  # + federation
            self._sn.drop("table_full_communities")
            return None
        comm = Community(name, purgeable=True, he=HeaderMode.PLAIN)
        comm.stamps = StampTracker(2 * self.config.max_edges_per_community)
        comm.subnet = self._auto_subnet(name)
        self.communities[name] = comm
        return comm

    def remove_community(self, comm: Community) -> None:
        self.n_assoc -= len(comm.assoc)
        del self.communities[comm.name]
        self._sn.header.forget(comm)

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
            for mac, edge in list(comm.edges.items()):
                if edge.last_seen < edge_deadline:
                    del comm.edges[mac]
                    self._sn.emit(peer_event(PeerAction.PURGE, mac, edge.addr))
                    self._sn.emit(left(comm, edge, "no REGISTER_SUPER for 60 s (purged)"))
            for key, offer in list(comm.offers.items()):
                if offer.until <= now:
                    del comm.offers[key]
            for mac, assoc in list(comm.assoc.items()):
                if assoc.last_seen < assoc_deadline:
                    del comm.assoc[mac]
                    self.n_assoc -= 1
            if comm.purgeable and not comm.edges:
                self.remove_community(comm)
