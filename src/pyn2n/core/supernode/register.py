"""Supernode registration (spec §7.2, §7.3, §7.6): REGISTER_SUPER, UNREGISTER_SUPER, auth, auto-IP.

An edge is stored under its MAC with its public socket, dev_addr, desc and auth token. A MAC (or
TAP IP) already registered with another token is refused with REGISTER_SUPER_NAK and stays where
it was (`-M` turns this off for simple-id communities); the right token from a new socket moves
it (NAT rebinding). Null MAC = auto-IP request: the ACK carries the address, which stays
reserved for that asker (its socket and desc) for 60 s: no address registered or reserved is
handed out twice (the reservation table is bounded like the edge table). Edges joining, leaving
and refused, and communities not allowed, are told to the log (rate-limited events).
User/password communities (§7.3) check the hash tag and the user's public key and answer with
the wrapped dynamic key. Successful registrations are forwarded to every active member (§7.6); a
member receiving one learns the association and drops its own stale entry.
"""

from __future__ import annotations

import struct
from enum import Enum
from typing import TYPE_CHECKING

from pyn2n.constants import (
    N2N_AUTH_MAX_TOKEN_SIZE,
    N2N_AUTH_NONE,
    N2N_AUTH_SIMPLE_ID,
    N2N_AUTH_USER_PASSWORD,
    N2N_DEFAULT_TTL,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_SOCKET,
    N2N_PKT_VERSION,
    REG_LIFETIME,
    REGISTRATION_TIMEOUT,
)
from pyn2n.core.api import Addr
from pyn2n.core.community import assign_host
from pyn2n.core.events import OperatorWarning, PeerAction
from pyn2n.core.supernode.registry import (
    Community,
    EdgeEntry,
    HeaderMode,
    Offer,
    User,
    edge_text,
    joined,
    left,
    peer_event,
)
from pyn2n.core.supernode.relay import FWD_FLAGS
from pyn2n.crypto.auth import AUTH_PW_TOKEN_SIZE, KEY_SIZE, answer_token, verify_packet_tag
from pyn2n.wire import (
    MSG_TYPE_REGISTER_SUPER,
    Common,
    RegisterSuper,
    RegisterSuperNak,
    UnregisterSuper,
    encode,
)
from pyn2n.wire.types import (
    NULL_MAC,
    Auth,
    IpSubnet,
    Sock,
    encode_auth,
    encode_sn_entry,
    encode_sock,
    mac_to_str,
)

if TYPE_CHECKING:
    from pyn2n.core.supernode.node import Rx, Supernode

ZERO_AUTH = Auth()
NULL_SUBNET = IpSubnet(0, 0)
# REGISTER_SUPER_ACK, built here without the generic encoder (it answers every registration, §4)
_RSA_HEAD = struct.Struct(">I6sIBH")  # cookie, srcMac, dev_addr, bitlen, lifetime
_U8 = struct.Struct(">B")
_AUTH_SCHEME = struct.Struct(">H")
ZERO_AUTH_BYTES = encode_auth(ZERO_AUTH)
KEY_TIME_ZERO = bytes(4)
_NO_DEV_LIFETIME = struct.pack(">IBH", 0, 0, REG_LIFETIME)  # dev_addr 0.0.0.0/0, lifetime
_NO_ENTRIES = bytes(1)
_PLAIN_REG_SUPER = bytes((0, MSG_TYPE_REGISTER_SUPER))  # flags bytes of an edge's own
_PLAIN = HeaderMode.PLAIN
_REG_SUPER_SIZE = 63  # without a sock: header, cookie, MAC, dev_addr, desc, auth head, key_time
_SIMPLE_ID = N2N_AUTH_SIMPLE_ID.to_bytes(2, "big")
_OPEN_SCHEMES = (N2N_AUTH_NONE.to_bytes(2, "big"), _SIMPLE_ID)
SEEN_STEP = 0.25  # seconds: the resolution of edges' last_seen (purged after 60 s)


class Outcome(Enum):
    """What `_update_edge` made of a registration."""

    OK = "ok"
    REFUSED = "refused"  # answered with a NAK
    FULL = "full"  # edge table full: silence


class Registration:
    """REGISTER_SUPER and UNREGISTER_SUPER from edges (members' REGISTER_SUPER: `federation`)."""

    def __init__(self, sn: Supernode) -> None:
        self._sn = sn
        self._config = sn.config
        self._seen_at = float("-inf")

    def _seen(self, now: float) -> float:
        """`now` for an edge's last_seen, one float object per SEEN_STEP seconds: 100,000 edges
        then share a few hundred floats, not one each (32 bytes an edge)."""
        if now - self._seen_at >= SEEN_STEP or now < self._seen_at:
            self._seen_at = now
        return self._seen_at

    def known_edge(self, data: bytes, addr: Addr, now: float) -> bool:
        """The registrations' fast lane (§7.2, as `_register_edge` would do it, without
        decoding): an edge's REGISTER_SUPER without flags or sock, for an exact community field
        of a plaintext community without users, with a fixed TAP address and no federation to
        tell. A registered edge from the same socket with the same fields is refreshed; a new
        one (unknown MAC and TAP address, a none or simple-id token) is admitted and stored.
        Both are answered here. False: anything else, which takes the generic way."""
        if (
            data[2:4] != _PLAIN_REG_SUPER
            or data[0] != N2N_PKT_VERSION
            or not data[1]
            or len(data) < _REG_SUPER_SIZE
            or len(data) != _REG_SUPER_SIZE + (data[57] << 8 | data[58])
        ):
            return False
        sn = self._sn
        comm = sn.registry.by_field.get(data[4:24])
        if comm is None or comm.he is not _PLAIN or comm.users or sn.federation.has_members():
            return False
        net = int.from_bytes(data[34:38], "big")
        if net in (0, 0xFFFFFFFF) or not data[38] or (net & 0xFFFF0000) == 0xA9FE0000:
            return False  # auto-IP requests take the generic way
        reg = data[34:-4]
        if data[57] << 8 | data[58] > N2N_AUTH_MAX_TOKEN_SIZE:
            return False
        mac = data[28:34]
        edge = comm.edges.get(mac)
        if edge is None:
            if data[55:57] not in _OPEN_SCHEMES or mac in (sn.mac, NULL_MAC) or net in comm.by_ip:
                return False
            self._count(now)
            if not self._new_edge(comm, mac, reg, addr, now):
                return True  # dropped and counted by the bound that stopped it
        elif edge.addr != addr or edge.reg != reg:
            return False
        else:
            self._count(now)
            edge.preferred = None
            edge.last_seen = self._seen(now)
        sn.send(b"".join((comm.ack_head, data[24:28], sn.mac, _NO_DEV_LIFETIME, self._sock(addr),
                          ZERO_AUTH_BYTES, _NO_ENTRIES, KEY_TIME_ZERO)), addr)  # fmt: skip
        return True

    def _count(self, now: float) -> None:
        stats = self._sn.stats
        stats.last_reg_super = now
        stats.reg_super += 1

    def _new_edge(self, comm: Community, mac: bytes, reg: bytes, addr: Addr, now: float) -> bool:
        registry = self._sn.registry
        src = registry.admit(comm, addr[0], now)
        if src is None:
            return False
        if reg[21:23] == _SIMPLE_ID and not self._config.spoofing_protection:
            reg = reg[:21] + _AUTH_SCHEME.pack(N2N_AUTH_NONE) + reg[23:]  # -M
        entry = EdgeEntry(mac, (src.ip, addr[1]), reg, self._seen(now), None)
        registry.add_edge(comm, entry, src)
        registry.tell(now, joined, comm, entry, "")
        return True

    def on_register_super(self, rx: Rx, reg: RegisterSuper) -> None:
        sn, comm, common = self._sn, rx.comm, rx.common
        if comm is None:
            # unknown communities stay silent (n2n: do not reveal the supernode)
            if not common.community or not sn.registry.allowed_on_the_fly(common.community):
                sn.drop("community_not_allowed")
                self._not_allowed(rx)
                return
            comm = sn.registry.new_community(common.community, rx.addr[0], rx.now)
            if comm is None:
                return
        user: User | None = None
        if comm.users:
            user = comm.users.get(reg.auth.token[:KEY_SIZE])
            if user is not None and not verify_packet_tag(user.secret, rx.data):
                sn.drop("auth_tag")
                why = f"user {user.name!r}: its hash tag does not verify (check the edge's -P)"
                self._refused(rx.addr, comm, reg.edge_mac, why, rx.now)
                return
        if reg.edge_mac == sn.mac:
            sn.drop("from_self")
        elif comm.is_federation:
            sn.fed_link.on_register_super(rx, comm, reg)
        else:
            self._register_edge(rx, comm, reg, user)

    def _register_edge(
        self, rx: Rx, comm: Community, reg: RegisterSuper, user: User | None
    ) -> None:
        sn, common, addr, now = self._sn, rx.common, rx.addr, rx.now
        from_sn = bool(common.flags & N2N_FLAGS_FROM_SUPERNODE)
        dev_addr = NULL_SUBNET
        if _wants_auto_ip(reg.dev_addr):
            dev_addr = self._assign_ip(comm, reg.dev_desc, addr, now)
        add = not from_sn and reg.edge_mac != NULL_MAC
        result, answer = self._update_edge(comm, common, reg, rx.plain, addr, add, now)
        if result is Outcome.FULL:
            return
        reply_common = Common(0, N2N_DEFAULT_TTL, FWD_FLAGS, comm.name)
        if result is Outcome.REFUSED:
            nak = RegisterSuperNak(reg.cookie, reg.edge_mac, ZERO_AUTH)
            sn.send(sn.header.seal(comm, encode(reply_common, nak)), addr)
            sn.stats.reg_super_nak += 1
            return
        if from_sn and common.flags & N2N_FLAGS_SOCKET:
            # an edge registered with another supernode: remember where, forget it here
            sn.registry.associate(comm, reg.edge_mac, addr, now)
            if sn.registry.remove_edge(comm, reg.edge_mac) is not None:
                sn.emit(peer_event(PeerAction.CLEAR, reg.edge_mac, addr))
            return
        secret = user.secret if user else None
        members = sn.federation.active(now)
        if members and not from_sn and reg.edge_mac != NULL_MAC:
            sock = Sock(addr[0], addr[1])
            copy = RegisterSuper(
                reg.cookie, reg.edge_mac, sock, reg.dev_addr, reg.dev_desc, reg.auth, reg.key_time
            )
            sn.relay.to_federation(sn.header.seal(comm, encode(reply_common, copy), secret), now)
        entries = sn.federation.ack_entries(addr, now, sn.rand_below) if members else ()
        ack = b"".join(
            (
                comm.ack_head,
                _RSA_HEAD.pack(
                    reg.cookie, sn.mac, dev_addr.net_addr, dev_addr.bitlen, REG_LIFETIME
                ),
                self._sock(addr),
                ZERO_AUTH_BYTES if answer is ZERO_AUTH else encode_auth(answer),
                _U8.pack(len(entries)),
                *(encode_sn_entry(e) for e in entries),
                KEY_TIME_ZERO,
            )
        )
        sn.send(sn.header.seal(comm, ack, secret), addr)

    def _sock(self, addr: Addr) -> bytes:
        """The encoded sock of `addr` (§3), its IPv4 address packed once per source."""
        src = self._sn.registry.limits.by_ip.get(addr[0])
        if src is None:
            return encode_sock(Sock(addr[0], addr[1]))
        return src.sock(addr[1])

    def _update_edge(
        self,
        comm: Community,
        common: Common,
        reg: RegisterSuper,
        data: bytes,
        addr: tuple[str, int],
        add: bool,
        now: float,
    ) -> tuple[Outcome, Auth]:
        """n2n `update_edge`: the outcome and the answer auth for the ACK."""
        mac = reg.edge_mac
        wire = _wire_fields(data, reg)
        edge = comm.edges.get(mac)
        if edge is None and mac != NULL_MAC and reg.dev_addr.net_addr != 0:
            # unknown MAC but known TAP IP: the same edge with a new MAC, if it can prove it
            known = comm.by_ip.get(reg.dev_addr.net_addr)
            edge = comm.edges.get(known) if known is not None else None
        preferred = reg.sock if common.flags & N2N_FLAGS_SOCKET else None
        if edge is None:
            ok, answer = _remote_auth(comm, reg.auth)
            if not ok:
                self._sn.drop("auth")
                self._refused(addr, comm, mac, _auth_trouble(comm, reg.auth), now)
                return Outcome.REFUSED, ZERO_AUTH
            if add:
                registry = self._sn.registry
                src = registry.admit(comm, addr[0], now)
                if src is None:
                    return Outcome.FULL, ZERO_AUTH
                stored = wire
                if reg.auth.scheme == N2N_AUTH_SIMPLE_ID and not self._config.spoofing_protection:
                    stored = wire[:21] + _AUTH_SCHEME.pack(N2N_AUTH_NONE) + wire[23:]  # -M
                entry = EdgeEntry(mac, (src.ip, addr[1]), stored, self._seen(now), preferred)
                registry.add_edge(comm, entry, src)
                registry.tell(now, joined, comm, entry, "")
            return Outcome.OK, answer
        if not comm.users and edge.reg[21:] == wire[21:]:
            ok, answer = True, ZERO_AUTH  # the same none/simple-id token as stored
        else:
            ok, answer = auth_edge(comm, edge.auth, reg.auth)
        if not ok:
            self._sn.drop("spoofed_mac")
            what = "MAC" if edge.mac == mac else "address"
            why = f"its {what} is registered by another {edge_text(edge)} (another token)"
            self._refused(addr, comm, mac, why, now)
            return Outcome.REFUSED, ZERO_AUTH
        registry = self._sn.registry
        if edge.mac != mac:
            registry.rename_edge(comm, edge, mac)
        if edge.addr != addr:
            registry.move_edge(edge, addr, now)
        if edge.reg[:21] != wire[:21]:
            registry.rewrite(comm, edge, wire)
        edge.preferred = preferred
        edge.last_seen = self._seen(now)
        return Outcome.OK, answer

    def on_unregister_super(self, rx: Rx, msg: UnregisterSuper) -> None:
        sn, comm = self._sn, rx.comm
        assert comm is not None  # scope: an edge's own message
        edge = comm.edges.get(msg.src_mac)
        if edge is None:
            sn.drop("unknown_edge")
            return
        if not auth_edge(comm, edge.auth, msg.auth)[0]:
            sn.drop("auth")
            return
        sn.registry.remove_edge(comm, msg.src_mac)
        sn.emit(peer_event(PeerAction.CLEAR, msg.src_mac, edge.addr))
        sn.registry.tell(rx.now, left, comm, edge, "UNREGISTER_SUPER")

    # -- what the log is told --------------------------------------------------------------------

    def _refused(self, addr: Addr, comm: Community, mac: bytes, why: str, now: float) -> None:
        """An edge answered with a NAK (or dropped for its tag): once a minute per socket."""
        sn = self._sn
        if sn.warned.due(("refused", addr, comm.name), now):
            who = "auto-IP request" if mac == NULL_MAC else f"edge {mac_to_str(mac)}"
            text = f"refused {who} from {addr[0]}:{addr[1]} in community {comm.display!r}: {why}"
            sn.emit(OperatorWarning("edge_refused", text))

    def _not_allowed(self, rx: Rx) -> None:
        """A REGISTER_SUPER for a community not served: the edge hears nothing, the log does."""
        sn, addr, name = self._sn, rx.addr, rx.common.community
        if sn.warned.due(("not_allowed", addr, name), rx.now):
            shown = name.decode("utf-8", "replace")
            why = "not in the community file" if shown else "an empty community name"
            text = f"edge {addr[0]}:{addr[1]} asked for community {shown!r}: {why}"
            sn.emit(OperatorWarning("community_not_allowed", text))

    # -- auto-IP ---------------------------------------------------------------------------------

    def _assign_ip(self, comm: Community, desc: bytes, addr: Addr, now: float) -> IpSubnet:
        """An address for the asker at `addr`: the one reserved for it if still free (a retry),
        else the first free by n2n's rule, neither registered nor reserved for someone else."""
        if comm.subnet is None:
            return NULL_SUBNET
        used = set(comm.by_ip)
        offers = comm.offers
        key = (addr, desc)
        mine = offers.pop(key, None)
        if mine is not None and mine.until > now and mine.host not in used:
            host = mine.host
        else:
            used.update(o.host for o in offers.values() if o.until > now)
            found = assign_host(comm.subnet, desc, used)
            if found is None:
                return NULL_SUBNET
            host = found
        if len(offers) >= self._sn.registry.per_community:
            del offers[next(iter(offers))]  # the oldest reservation goes first
        offers[key] = Offer(host, now + REGISTRATION_TIMEOUT)
        return IpSubnet(host, comm.subnet[1])


def _wire_fields(data: bytes, reg: RegisterSuper) -> bytes:
    """dev_addr, dev_desc and auth of a decoded REGISTER_SUPER as they are on the wire (§4):
    after the common header, cookie, MAC and the optional sock."""
    start = 34
    if reg.sock is not None:
        start += 20 if ":" in reg.sock.addr else 8
    return data[start : start + 25 + len(reg.auth.token)]


def _remote_auth(comm: Community, auth: Auth) -> tuple[bool, Auth]:
    """n2n `handle_remote_auth` for an edge not registered yet."""
    if bool(comm.users) != (auth.scheme == N2N_AUTH_USER_PASSWORD):
        return False, ZERO_AUTH
    if auth.scheme in (N2N_AUTH_NONE, N2N_AUTH_SIMPLE_ID):
        return True, ZERO_AUTH
    if auth.scheme == N2N_AUTH_USER_PASSWORD:
        return _user_answer(comm, auth)
    return False, ZERO_AUTH


def auth_edge(comm: Community, stored: Auth, presented: Auth) -> tuple[bool, Auth]:
    """n2n `auth_edge` for a registered edge."""
    if stored.scheme == N2N_AUTH_NONE:
        return True, ZERO_AUTH
    if stored.scheme == N2N_AUTH_SIMPLE_ID and presented.scheme == N2N_AUTH_SIMPLE_ID:
        return stored.token == presented.token, ZERO_AUTH
    if (
        stored.scheme == N2N_AUTH_USER_PASSWORD
        and presented.scheme == N2N_AUTH_USER_PASSWORD
        and stored.token[:KEY_SIZE] == presented.token[:KEY_SIZE]
    ):
        return _user_answer(comm, presented)
    return False, ZERO_AUTH


def _user_answer(comm: Community, auth: Auth) -> tuple[bool, Auth]:
    user = comm.users.get(auth.token[:KEY_SIZE])
    if user is None or len(auth.token) != AUTH_PW_TOKEN_SIZE or comm.dynamic_key is None:
        return False, ZERO_AUTH
    token = answer_token(auth.token, user.secret, comm.dynamic_key)
    return True, Auth(N2N_AUTH_USER_PASSWORD, token)


def _auth_trouble(comm: Community, auth: Auth) -> str:
    """Why `_remote_auth` refused, for the log."""
    if comm.users and auth.scheme != N2N_AUTH_USER_PASSWORD:
        return "the community needs a user and password (-I/-J), the edge sent none"
    if not comm.users and auth.scheme == N2N_AUTH_USER_PASSWORD:
        return "the edge sent a user and password (-J), the community has no users"
    if comm.users:
        return "unknown user or wrong password (its public key is not in the community file)"
    return f"unknown authentication scheme {auth.scheme}"


def _wants_auto_ip(dev: IpSubnet) -> bool:
    """§4 REGISTER_SUPER: 0.0.0.0, 255.255.255.255, prefix 0 or 169.254/16 ask for an address."""
    return (
        dev.net_addr in (0, 0xFFFFFFFF)
        or dev.bitlen == 0
        or (dev.net_addr & 0xFFFF0000) == 0xA9FE0000
    )
