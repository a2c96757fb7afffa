"""What every part of the edge shares: its identity (MAC, address, community), the peer and
supernode tables, the drop counters, the outgoing datagram queue and the senders that fill it.

The collaborators (registration, discovery, data path, dispatch) each keep their own state and
read this one; nothing here knows about message handling."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from enum import IntEnum, StrEnum

from pyn2n.constants import (
    EDGE_MAX_PEERS,
    EDGE_MAX_SUPERNODES,
    N2N_AUTH_ID_TOKEN_SIZE,
    N2N_AUTH_SIMPLE_ID,
    N2N_DEFAULT_TTL,
    N2N_FORWARDED_REG_COOKIE,
)
from pyn2n.core.api import Addr
from pyn2n.core.edge.security import Security
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.events import Event, OperatorWarning, PeerAction, PeerEvent, RateLimit
from pyn2n.core.fastpath import FastPath
from pyn2n.core.peers import Peer, PeerTable
from pyn2n.core.selection import KnownSupernode, SupernodeList
from pyn2n.wire.messages import Common, Message, Register, encode, pad_community
from pyn2n.wire.types import Auth, IpSubnet, Sock, endpoint_text, mac_to_str, random_mac

_INVALID_PEER_HOSTS = frozenset(("127.0.0.1", "0.0.0.0", "::1", "::"))


class Phase(StrEnum):
    """Bootstrap phases (n2n edge.c runlevels 0-1, 2-3, then the main loop)."""

    PING = "ping"  # several supernodes: PING them, take the first to answer
    AUTOIP = "autoip"  # no address configured: ask the supernode for one
    RUN = "run"


class SnWait(IntEnum):
    """n2n `sn_wait`: is a REGISTER_SUPER outstanding?"""

    REGISTERED = 0  # the last one was answered
    WAITING = 1  # one is outstanding
    REREGISTER = 2  # RE_REGISTER_SUPER: register again now (new keys)


def peer_addr(sock: Sock | None, ipv6: bool = False) -> Addr | None:
    """A socket usable as a peer address (n2n `is_valid_peer_sock`); IPv6 only for an edge
    with an IPv6 socket (`ipv6`)."""
    if sock is None or sock.addr in _INVALID_PEER_HOSTS or sock.port == 0:
        return None
    if sock.is_ipv6 and not ipv6:
        return None
    return (sock.addr, sock.port)


def fmt(addr: Addr | None) -> str:
    return "" if addr is None else endpoint_text(addr)


class RxContext:
    """One control datagram as the dispatcher saw it: header, where it came from, the supernode
    it claims to come from (None: from a peer), its time stamp (-H) and who signed that stamp."""

    __slots__ = ("addr", "common", "community", "now", "sender", "sn", "stamp")

    def __init__(
        self,
        common: Common,
        addr: Addr,
        sn: KnownSupernode | None,
        stamp: int | None,
        sender: object,
        now: float,
    ) -> None:
        self.common = common
        self.addr = addr
        self.sn = sn
        self.stamp = stamp
        self.sender = sender
        self.now = now
        self.community = common.community


class EdgeState:
    """The edge's shared facts and outputs (see the module docstring)."""

    def __init__(
        self,
        config: EdgeConfig,
        rng: Callable[[int], bytes],
        wall_clock: Callable[[], float] | None,
    ) -> None:
        self.config = config
        self.rng = rng
        self.wall_clock = wall_clock
        self.mac: bytes = config.mac_bytes or random_mac(rng)
        self.ip: str | None = config.ip
        self.prefix: int = config.prefix
        self.ip4 = bytes(4)
        self.ipint = 0
        self.fast: FastPath | None = None
        # the routing filter's own addresses: ip4 and every address the driver saw on the TAP
        # (secondary ones, a keepalived VIP), packed; IPv6 ones are kept for the views only
        self.tap4: frozenset[bytes] = frozenset()
        self.tap6: frozenset[bytes] = frozenset()
        self.local4: frozenset[bytes] = frozenset((self.ip4,))
        self.set_ip(config.ip, config.prefix)
        community = config.community.encode()
        self.community20 = pad_community(community)
        self.common = Common(0, N2N_DEFAULT_TTL, 0, community)
        self.desc = config.desc.encode()
        self.interval = float(config.register_interval)
        self.p2p_fresh = self.interval / 2  # n2n: peer timeout (= interval) / 2
        self.allow_p2p = not config.no_p2p
        self.ipv6 = config.ipv6
        self.auth = Auth(N2N_AUTH_SIMPLE_ID, rng(N2N_AUTH_ID_TOKEN_SIZE))
        self.secure: Security | None = None
        if config.header_encryption:
            if wall_clock is None:
                raise ValueError(
                    "header encryption needs a wall_clock (UTC seconds) for its stamps"
                )
            self.secure = Security(config, rng, wall_clock, self.auth)
        self.sns = SupernodeList(config.supernodes, config.selection, EDGE_MAX_SUPERNODES)
        self.peers = PeerTable(EDGE_MAX_PEERS)
        self.drops: Counter[str] = Counter()
        self.last_sup: float | None = None  # last real REGISTER_SUPER_ACK (None: not yet)
        self.out: list[tuple[bytes, Addr]] = []
        self.events: list[Event] = []
        self.warned = RateLimit()  # warnings: once a minute per cause

    def warn(self, code: str, subject: object, now: float, text: str) -> None:
        """A warning for the log, at most once a minute per (code, subject)."""
        if self.warned.due((code, subject), now):
            self.events.append(OperatorWarning(code, text))

    def set_ip(self, ip: str | None, prefix: int) -> None:
        self.ip = ip
        self.prefix = prefix
        if ip is None:
            self.ip4 = bytes(4)
            self.ipint = 0
        else:
            self.ip4 = ipaddress.IPv4Address(ip).packed
            self.ipint = int(ipaddress.IPv4Address(ip))
        if self.fast is not None:
            self.fast.ip4 = self.ip4
        self._set_local4()

    def set_tap_addresses(self, addrs: Iterable[bytes]) -> None:
        """The TAP's addresses as the driver sees them now (4 bytes IPv4, 16 bytes IPv6)."""
        found = frozenset(addrs)
        self.tap4 = frozenset(a for a in found if len(a) == 4)
        self.tap6 = frozenset(a for a in found if len(a) == 16)
        self._set_local4()

    def _set_local4(self) -> None:
        self.local4 = self.tap4 | {self.ip4}
        if self.fast is not None:
            self.fast.local4 = self.local4

    def dev_addr(self) -> IpSubnet:
        return IpSubnet(self.ipint, self.prefix if self.ip else 0)

    # -- senders ---------------------------------------------------------------------------

    def send(self, msg: Message, addr: Addr, p2p: bool = False) -> None:
        """Encode a control message for our community and queue it."""
        if p2p and not self.allow_p2p:
            return
        self.send_sealed(encode(self.common, msg), addr)

    def send_sealed(self, data: bytes, addr: Addr) -> None:
        """Queue an already encoded message, header-encrypted with -H."""
        if self.secure is not None:
            data = self.secure.seal(data)
        self.out.append((data, addr))

    def out_append(self, data: bytes, addr: Addr) -> None:
        self.out.append((data, addr))

    def send_register(self, addr: Addr, mac: bytes, cookie: int, now: float) -> None:
        """REGISTER to a peer or (cookie FORWARDED) to the supernode for relay; none with -S1."""
        if not self.allow_p2p or addr[1] == 0:
            return
        self.send(Register(cookie, self.mac, mac, None, self.dev_addr(), self.desc), addr)
        if cookie != N2N_FORWARDED_REG_COOKIE:
            peer = self.peers.pending.get(mac) or self.peers.known.get(mac)
            if peer is not None:
                peer.reg_sent = now

    def peer_event(self, action: PeerAction, peer: Peer) -> None:
        self.events.append(PeerEvent(action, mac_to_str(peer.mac), fmt(peer.sock)))
