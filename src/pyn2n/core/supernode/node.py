"""The supernode facade: the driver contract (`pyn2n.core.api`), its timers and the dispatcher.

Inputs are datagrams `(bytes, (ip, port), now)` and timer ticks; outputs are datagrams to send,
events and the next deadline. `now` is monotonic seconds; header-encryption stamps and
management times use UTC seconds from `wall_clock` (default: `now` itself). A datagram passes
the header (`header`: decryption, common header, locking), the sender check (FROM_SUPERNODE
only from members, except a supernode's own REGISTER_SUPER; ttl 0 dropped), its decoder, its
type's scope and time-stamp rules (`_route_table`) and then its handler. Timers: every 10 s
re-register with silent members and purge learned members silent for 90 s; every 30 s purge
edges, communities and associations (`registry`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from enum import Enum
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from pyn2n.constants import (
    COMMON_HEADER_SIZE,
    N2N_AUTH_ID_TOKEN_SIZE,
    N2N_AUTH_SIMPLE_ID,
    N2N_FLAGS_FROM_SUPERNODE,
    PURGE_REGISTRATION_FREQ,
    RE_REG_AND_PURGE_FREQUENCY,
)
from pyn2n.core.api import Addr
from pyn2n.core.community import parse_community_file
from pyn2n.core.config import SupernodeConfig
from pyn2n.core.events import Event, RateLimit
from pyn2n.core.supernode.federation import Federation, FederationLink, Member
from pyn2n.core.supernode.header import HeaderGuard
from pyn2n.core.supernode.register import Registration
from pyn2n.core.supernode.registry import Community, Registry, SupernodeStats
from pyn2n.core.supernode.relay import Relay
from pyn2n.wire import (
    MSG_TYPE_PACKET,
    MSG_TYPE_PEER_INFO,
    MSG_TYPE_QUERY_PEER,
    MSG_TYPE_REGISTER,
    MSG_TYPE_REGISTER_ACK,
    MSG_TYPE_REGISTER_SUPER,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    MSG_TYPE_UNREGISTER_SUPER,
    Common,
    WireError,
    decode_packet_header,
    decode_with_end,
    random_mac,
)
from pyn2n.wire.types import Auth

__all__ = ["Rx", "Supernode"]


class Rx:
    """One received datagram on its way through the dispatcher (the receive context)."""

    __slots__ = ("addr", "comm", "common", "data", "now", "plain", "sn", "stamp", "static")

    comm: Community | None  # None: a community not served here
    plain: bytes  # the datagram with its header decrypted (set by `header.open`)
    stamp: int | None  # header time stamp; None for plaintext headers
    static: bool  # opened with the static key (user/password communities)
    common: Common  # set by `header.open`
    sn: Member | None  # the member it came from, when flagged FROM_SUPERNODE

    def __init__(self, data: bytes, addr: Addr, now: float) -> None:
        self.data = data
        self.addr = addr
        self.now = now
        self.comm = None
        self.stamp = None
        self.static = False
        self.sn = None


class Scope(Enum):
    """Which community and sender a message type must have; else it is dropped."""

    ANY = "any"  # the handler decides
    COMMUNITY = "community"  # an edge community
    EDGE = "edge"  # an edge community, not from a supernode
    MEMBER = "member"  # an edge community, from a member
    MEMBER_REPLY = "member_reply"  # as MEMBER, and anything else is "unexpected"
    FEDERATION = "federation"  # the federation community, from a member


class Tally(Enum):
    """The statistics a message type counts before its time stamp is checked."""

    NONE = 0
    FWD = 1  # last_fwd
    REG_SUPER = 2  # reg_super, last_reg_super


class Route(NamedTuple):
    """How one message type is handled: `signer(msg)` is the MAC its time stamp is tracked
    under (unless it came from a supernode)."""

    handler: Callable[[Rx, Any], None]
    signer: Callable[[Any], bytes]
    scope: Scope
    tally: Tally


_SRC_MAC = attrgetter("src_mac")
# per datagram: a module global is ~10x cheaper than an enum class attribute on Python 3.11
_ANY, _COMMUNITY, _EDGE, _MEMBER = Scope.ANY, Scope.COMMUNITY, Scope.EDGE, Scope.MEMBER
_MEMBER_REPLY, _FEDERATION = Scope.MEMBER_REPLY, Scope.FEDERATION
_FWD, _REG_SUPER = Tally.FWD, Tally.REG_SUPER


class Supernode:
    """A supernode core. See the package docstring; `pyn2n.core.api` for the driver contract.

    `rng(n)` returns n random bytes; `wall_clock()` UTC seconds (None: use `now`). The driver
    re-reads the community file and hands its text to `reload_communities`.
    """

    def __init__(
        self,
        config: SupernodeConfig,
        rng: Callable[[int], bytes],
        now: float,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self._rng = rng
        self._wall = wall_clock
        self._now = now
        self.mac = bytes(config.mac) if config.mac is not None else random_mac(rng)
        self.auth = Auth(N2N_AUTH_SIMPLE_ID, rng(N2N_AUTH_ID_TOKEN_SIZE))
        self.version = config.version.encode()
        self.stats = SupernodeStats()
        self.drops: Counter[str] = Counter()
        self.start_time = now
        self.keep_running = True
        self._out: list[tuple[bytes, Addr]] = []
        self._events: list[Event] = []
        self.warned = RateLimit()  # warnings: once a minute per cause

        self.federation = Federation(
            config.federation.encode(), config.max_supernodes, list(config.anchors)
        )
        self.registry = Registry(self, config)
        self.header = HeaderGuard(self, self.registry.fed, config.max_supernodes, rng)
        self.relay = Relay(self)
        self.registration = Registration(self)
        self._plain_packet = self.relay.plain_packet
        self._known_edge = self.registration.known_edge
        self.fed_link = FederationLink(self)
        self._routes = self._route_table()
        if config.communities is not None:
            self.registry.install(config.communities)
        # n2n's loop starts with last_* = 0: the first rounds are due at once
        self._next_rereg = now
        self._next_purge = now

    def _route_table(self) -> dict[int, Route]:
        return {
            MSG_TYPE_PACKET: Route(self.relay.on_packet, itemgetter(0), Scope.COMMUNITY, Tally.FWD),
            MSG_TYPE_REGISTER: Route(self.relay.on_register, _SRC_MAC, Scope.COMMUNITY, Tally.FWD),
            MSG_TYPE_REGISTER_SUPER: Route(
                self.registration.on_register_super,
                attrgetter("edge_mac"),
                Scope.ANY,
                Tally.REG_SUPER,
            ),
            MSG_TYPE_UNREGISTER_SUPER: Route(
                self.registration.on_unregister_super, _SRC_MAC, Scope.EDGE, Tally.NONE
            ),
            MSG_TYPE_QUERY_PEER: Route(self.relay.on_query_peer, _SRC_MAC, Scope.ANY, Tally.NONE),
            MSG_TYPE_PEER_INFO: Route(self.relay.on_peer_info, _SRC_MAC, Scope.MEMBER, Tally.NONE),
            MSG_TYPE_REGISTER_SUPER_ACK: Route(
                self.fed_link.on_register_super_ack, _SRC_MAC, Scope.FEDERATION, Tally.NONE
            ),
            MSG_TYPE_REGISTER_SUPER_NAK: Route(
                self.fed_link.on_register_super_nak, _SRC_MAC, Scope.MEMBER_REPLY, Tally.NONE
            ),
        }

    @property
    def dynamic_key_time(self) -> int:
        return self.registry.dynamic_key_time

    # -- driver contract ------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        out = self._out[:]
        self._out.clear()  # the same list stays: the relay's fast lane appends to it
        return out

    @property
    def outbox(self) -> list[tuple[bytes, Addr]]:
        """The list outgoing datagrams are appended to (for the relay's fast lane)."""
        return self._out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def send_failed(self, count: int) -> None:
        """The driver could not send `count` datagrams: management's packetstats "errors"."""
        self.stats.errors += count

    def get_timer(self) -> float | None:
        return min(self._next_rereg, self._next_purge)

    def handle_timer(self, now: float) -> None:
        self._now = now
        if now >= self._next_rereg:
            self._next_rereg = now + RE_REG_AND_PURGE_FREQUENCY
            self.federation.purge(now)
            self.fed_link.register(now, forced=False)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_REGISTRATION_FREQ
            self.registry.purge(now)

    def shutdown(self, now: float) -> None:
        """Nothing to unregister: a supernode just stops answering."""
        self._now = now
        self.keep_running = False

    # -- commands -------------------------------------------------------------------------------

    def reload_communities(self, text: str, now: float) -> None:
        """Replace the community file (management `reload_communities`). Like n2n: user/password
        edges get RE_REGISTER_SUPER, every community (and its edges) is dropped, the new list
        is loaded with a new key_time, and the federation is told at once. Raises ConfigError
        (and changes nothing) if `text` is not a valid community file."""
        self._now = now
        self.registry.replace(parse_community_file(text))
        self.fed_link.register(now, forced=True)

    # -- for the collaborators ------------------------------------------------------------------

    def wall_now(self) -> float:
        """UTC seconds now (the latest input's `now` without a wall clock)."""
        return self._wall() if self._wall is not None else self._now

    def wall_at(self, now: float) -> float:
        """UTC seconds at monotonic `now`, for management views (changes nothing)."""
        return self._wall() if self._wall is not None else now

    def rand32(self) -> int:
        return int.from_bytes(self._rng(4), "big")

    def rand_below(self, n: int) -> int:
        return self.rand32() % n

    def drop(self, reason: str) -> None:
        """Count a dropped datagram (reasons: `pyn2n.core.drops.SUPERNODE_DROPS`)."""
        self.drops[reason] += 1

    def send(self, data: bytes, addr: Addr) -> None:
        self._out.append((data, addr))

    def emit(self, event: Event) -> None:
        self._events.append(event)

    # -- receive --------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self._now = now
        data = bytes(data)
        if self._plain_packet(data, addr, now) or self._known_edge(data, addr, now):
            return  # an edge's plaintext PACKET or periodic registration: the fast lanes
        if len(data) < COMMON_HEADER_SIZE:
            self.drop("short")
            return
        rx = Rx(data, addr, now)
        if self.header.open(rx) and self._sender_ok(rx):
            self._dispatch(rx)

    def _sender_ok(self, rx: Rx) -> bool:
        """FROM_SUPERNODE only from members (a supernode's own REGISTER_SUPER excepted), the
        federation community only with it; ttl left."""
        common, comm = rx.common, rx.comm
        if common.flags & N2N_FLAGS_FROM_SUPERNODE:
            rx.sn = self.federation.by_addr(rx.addr)
            if rx.sn is None and not (
                common.pc == MSG_TYPE_REGISTER_SUPER and comm is not None and comm.is_federation
            ):
                self.drop("unknown_supernode")
                return False
        elif comm is not None and comm.is_federation:
            self.drop("unexpected")
            return False
        if common.ttl < 1:
            self.drop("ttl")
            return False
        return True

    def _dispatch(self, rx: Rx) -> None:
        """Decode, then the type's scope, statistics, time stamp and handler."""
        pc = rx.common.pc
        try:
            if pc == MSG_TYPE_PACKET:
                msg: Any = decode_packet_header(rx.plain)
            else:
                msg = decode_with_end(rx.plain)[1]
        except WireError:
            self.drop("decode")
            return
        route = self._routes.get(pc)
        if route is None:
            # edges never send REGISTER_ACK via the supernode (§4)
            self.drop("register_ack" if pc == MSG_TYPE_REGISTER_ACK else "unexpected")
            return
        if not self._in_scope(route.scope, rx):
            return
        tally = route.tally
        if tally is _FWD:
            self.stats.last_fwd = rx.now
        elif tally is _REG_SUPER:
            self.stats.last_reg_super = rx.now
            self.stats.reg_super += 1
        if rx.stamp is None or self.header.stamp_ok(rx, route.signer(msg), pc):
            route.handler(rx, msg)

    def _in_scope(self, scope: Scope, rx: Rx) -> bool:
        comm = rx.comm
        if scope is _COMMUNITY and comm is not None and not comm.is_federation:
            return True
        if scope is _ANY:
            return True
        if scope is _FEDERATION or scope is _MEMBER_REPLY:
            wants_fed = scope is _FEDERATION
            if comm is None or comm.is_federation != wants_fed or rx.sn is None:
                self.drop("unexpected")
                return False
            return True
        if comm is None or (comm.is_federation and scope is not _EDGE):
            self.drop("unknown_community")
            return False
        if (scope is _EDGE and (rx.sn is not None or comm.is_federation)) or (
            scope is _MEMBER and rx.sn is None
        ):
            self.drop("unexpected")
            return False
        return True
