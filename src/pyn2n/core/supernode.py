"""The sans-IO supernode (spec §6, §7.2–§7.6; n2n `src/sn_utils.c`).

Inputs are datagrams `(bytes, (ip, port), now)` and timer ticks; outputs are datagrams to send,
events and the next deadline (`pyn2n.core.api`). `now` is monotonic seconds; header encryption
stamps and management time stamps use UTC seconds from `wall_clock` (default: `now` itself,
which suits tests whose fake clock starts at a realistic epoch value).

What it does, in n2n's order of processing a datagram:

1. Header: a plaintext-looking header (§6) is looked up by community name; a community that uses
   header encryption drops it ("he_plaintext": no downgrade), a community-file community of
   unknown kind is locked to plaintext. Anything else is trial-decrypted with the keys of every
   community that may encrypt (most recently successful first) and locks that community to
   "encrypted". Replays and stale datagrams are dropped by time stamp, per sender (§6).
2. Datagrams flagged FROM_SUPERNODE must come from a known federation member (except a
   supernode's own REGISTER_SUPER); ttl 0 is dropped, forwarded copies carry ttl − 1.
3. REGISTER_SUPER (§7.2): communities are created on the fly (no `-c` file, or a name matching a
   file regex) and get an auto-IP subnet; the edge is stored under its MAC with its public
   socket, dev_addr, desc and auth token. A MAC (or TAP IP) already registered with another
   token is refused with REGISTER_SUPER_NAK and the registration stays where it was (`-M` turns
   this off for simple-id communities); the right token from a new socket moves it (NAT
   rebinding). Null MAC = auto-IP request: the ACK carries the address, nothing is stored. The
   ACK carries the public socket, the address, lifetime 15, a list of other supernodes and, to
   supernodes, key_time. User/password communities (§7.3) check the hash tag and the user's
   public key, answer with the wrapped dynamic key and tag their ACK. Successful edge
   registrations are forwarded to every active federation member (§7.6); a member receiving
   one learns the association and drops its own stale entry.
4. PACKET / REGISTER relay (§7.4, §7.5): unicast to the registered edge with
   SOCKET|FROM_SUPERNODE and the sender's public socket added, else to the supernode the MAC is
   associated with, else to all active members (from an edge only); broadcast and multicast
   PACKETs to every other edge of the community and, when they came from an edge, to every
   member heard from within 90 s.
5. QUERY_PEER → PEER_INFO; a null target is a PING answered with a PONG; unknown targets are
   asked of the federation and the owner's PEER_INFO is passed back to the asking edge.
6. Timers: edges are purged 60 s after their last REGISTER_SUPER (checked every 30 s), empty
   on-the-fly communities with them, associations after 180 s; every 10 s the supernode
   registers with members silent for more than 20 s and purges learned members silent for 90 s.

Drop reasons (`drops`, management `drops`): short, decode, he_no_key (no community key fits),
he_plaintext (plaintext for an encrypted community), replay (time stamp), static_key
(user/password message under the wrong key), auth_tag, ttl, unknown_community,
community_not_allowed, unknown_supernode, unknown_destination, unknown_edge, unexpected
(message type or sender that makes no sense there), register_ack, register_multicast, from_self,
cookie, table_full_{communities,edges,associations,supernodes}; and, answered with a NAK,
auth (unknown edge, bad credentials) and spoofed_mac (registered MAC or TAP IP, other token).

Differences from n2n (deliberate):

* Datagrams never crash or corrupt state: wrong lengths, unknown types and unauthorised senders
  are counted in `drops` by reason; every table is bounded (config) and a full table is counted
  ("table_full_*") instead of growing.
* A community of unknown header-encryption kind is locked only by a datagram that decodes.
* REGISTER_SUPER_NAK and PEER_INFO are accepted only from federation members, so that an edge
  cannot delete another edge's registration with a forged NAK or hand out false peer sockets;
  forwarded edge registrations only from members too (n2n accepts them from anyone, who can
  then redirect unicast for that MAC to itself); messages in the federation community must
  carry FROM_SUPERNODE.
* A user/password re-registration or UNREGISTER_SUPER must present the same public key as the
  stored registration (n2n accepts any listed user's key, so one user could take over another
  user's MAC); REGISTER_SUPER in a user/password community must carry the tag.
* The TAP-IP fallback of the MAC lookup ignores 0.0.0.0 and null MACs (n2n re-keys an unrelated
  DHCP edge to the null MAC of an auto-IP request), and re-keys an edge only when the
  authentication succeeds (n2n re-keys before checking and keeps the damage on failure).
* A known edge's dev_addr, desc and preferred socket are updated on every re-registration, not
  only when its socket changes; associations are refreshed by every forwarded registration
  (n2n's refresh branch is unreachable) and each expires on its own 180 s (n2n tests the age
  of the first one for all).
* QUERY_PEER for an unknown MAC goes to the supernode the MAC is associated with when known,
  else to all active members (n2n always asks all).
* PONG load = number of communities plus edges, doubled for encrypted communities like n2n, but
  sent so that n2n edges (which byte-swap what they read) see the real number (a C supernode
  on x86 sends 0); peer-answer PEER_INFOs carry our load/uptime/version instead of garbage.
* `reg_super_nak` counts the NAKs sent (n2n never increments it); "errors" are send failures,
  which only the driver can know (`stats.errors`).
* An edge's time stamps are tracked from its first datagram (n2n only once it stored the
  edge), so a replayed first REGISTER_SUPER is refused too.
* Broadcasts are sealed once and the identical datagram goes to every recipient, as in n2n.
* TCP edges (`-S2`) are not handled by the core.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pyn2n.constants import (
    FEDERATION_ASSOCIATION_TIMEOUT,
    LAST_SEEN_SN_NEW,
    N2N_AUTH_ID_TOKEN_SIZE,
    N2N_AUTH_NONE,
    N2N_AUTH_SIMPLE_ID,
    N2N_AUTH_USER_PASSWORD,
    N2N_DEFAULT_TTL,
    N2N_DESC_SIZE,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_SOCKET,
    PURGE_REGISTRATION_FREQ,
    RE_REG_AND_PURGE_FREQUENCY,
    REG_LIFETIME,
    REGISTRATION_TIMEOUT,
)
from pyn2n.core.api import Addr
from pyn2n.core.community import (
    CommunityList,
    assign_host,
    assign_subnet,
    community_field,
    parse_community_file,
)
from pyn2n.core.config import ConfigError, SupernodeConfig
from pyn2n.core.events import Event, PeerAction, PeerEvent
from pyn2n.core.federation import Federation, Member
from pyn2n.core.secure import STATIC_KEY_TYPES, HeaderCrypto, is_plaintext_header, verify_stamp
from pyn2n.crypto.auth import (
    AUTH_PW_TOKEN_SIZE,
    KEY_SIZE,
    SharedSecret,
    answer_token,
    dynamic_key,
    federation_private_key,
    verify_packet_tag,
)
from pyn2n.crypto.timestamp import StampTracker, TimeStamper, time_stamp_verify
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
    PeerInfo,
    QueryPeer,
    Register,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    UnregisterSuper,
    WireError,
    decode_common,
    decode_packet_header,
    decode_with_end,
    encode,
    encode_packet,
    random_mac,
)
from pyn2n.wire.types import NULL_MAC, Auth, IpSubnet, Sock, is_multi_broadcast, mac_to_str

__all__ = ["Supernode", "SupernodeStats"]

HE_UNKNOWN, HE_NONE, HE_ENABLED = 0, 1, 2
_FWD_FLAGS = N2N_FLAGS_SOCKET | N2N_FLAGS_FROM_SUPERNODE
_ZERO_AUTH = Auth()
_NULL_SUBNET = IpSubnet(0, 0)


@dataclass(slots=True)
class SupernodeStats:
    """n2n's `sn_stats_t` (§8 packetstats, timestamps). Times are monotonic `now` values."""

    fwd: int = 0
    broadcast: int = 0
    reg_super: int = 0
    reg_super_nak: int = 0
    errors: int = 0  # send failures, counted by the driver
    last_fwd: float | None = None
    last_reg_super: float | None = None


@dataclass(slots=True)
class _User:
    name: str
    public_key: bytes
    secret: SharedSecret


@dataclass(slots=True)
class _Edge:
    mac: bytes
    addr: Addr
    dev_addr: IpSubnet
    desc: bytes
    auth: Auth
    last_seen: float
    preferred: Sock | None
    last_cookie: int


@dataclass(slots=True)
class _Assoc:
    addr: Addr
    last_seen: float


@dataclass(slots=True)
class _Community:
    name: bytes
    purgeable: bool
    is_federation: bool = False
    he: int = HE_NONE
    crypto: HeaderCrypto | None = None
    users: dict[bytes, _User] = field(default_factory=dict)
    edges: dict[bytes, _Edge] = field(default_factory=dict)
    assoc: dict[bytes, _Assoc] = field(default_factory=dict)
    subnet: tuple[int, int] | None = None
    dynamic_key: bytes | None = None
    stamps: StampTracker = field(default_factory=StampTracker)
    field20: bytes = b""

    def __post_init__(self) -> None:
        self.field20 = community_field(self.name)

    @property
    def display(self) -> str:
        return "-/-" if self.is_federation else self.name.decode("utf-8", "replace")


class Supernode:
    """A supernode core. See the module docstring; `pyn2n.core.api` for the driver contract.

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
        self._stamper = TimeStamper()
        self._sn_stamps = StampTracker(max(16, 2 * config.max_supernodes))
        self._out: list[tuple[bytes, Addr]] = []
        self._events: list[Event] = []

        fed_name = config.federation.encode()
        self._fed_private = federation_private_key(fed_name)
        self.federation = Federation(fed_name, config.max_supernodes, list(config.anchors))
        fed = _Community(fed_name, purgeable=False, is_federation=True, he=HE_ENABLED)
        fed.crypto = HeaderCrypto(fed_name)
        self._fed = fed
        self.communities: dict[bytes, _Community] = {fed_name: fed}
        self._encrypted: list[_Community] = [fed]  # trial-decryption order, most recent first
        self.community_list: CommunityList | None = None
        self.dynamic_key_time = 0
        self._n_assoc = 0
        if config.communities is not None:
            self._install(config.communities)
        # n2n's loop starts with last_* = 0: the first rounds are due at once
        self._next_rereg = now
        self._next_purge = now

    # -- driver contract ------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        return min(self._next_rereg, self._next_purge)

    def handle_timer(self, now: float) -> None:
        self._now = now
        if now >= self._next_rereg:
            self._next_rereg = now + RE_REG_AND_PURGE_FREQUENCY
            self.federation.purge(now)
            self._register_with_federation(now, forced=False)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_REGISTRATION_FREQ
            self._purge(now)

    def send_failed(self, count: int) -> None:
        self.stats.errors += count

    def shutdown(self, now: float) -> None:
        """Nothing to unregister: a supernode just stops answering."""
        self._now = now
        self.keep_running = False

    # -- helpers ----------------------------------------------------------------------------------

    def _wall_now(self) -> float:
        return self._wall() if self._wall is not None else self._now

    def _wall_of(self, t: float | None) -> int:
        """A monotonic time as UTC seconds (0 for never), for management output."""
        if t is None:
            return 0
        return int(self._wall_now() - (self._now - t))

    def _rand32(self) -> int:
        return int.from_bytes(self._rng(4), "big")

    def _rand_below(self, n: int) -> int:
        return self._rand32() % n

    def _drop(self, reason: str) -> None:
        self.drops[reason] += 1

    def _send(self, data: bytes, addr: Addr) -> None:
        self._out.append((data, addr))

    def _seal(
        self, comm: _Community | None, plain: bytes, tag: SharedSecret | None = None
    ) -> bytes:
        if comm is None or comm.he != HE_ENABLED or comm.crypto is None:
            return plain
        return comm.crypto.seal(plain, self._stamper(self._wall_now()), self._rng(4), tag)

    def _stamp_ok(
        self,
        comm: _Community,
        sn: Member | None,
        mac: bytes,
        stamp: int | None,
        pc: int,
        addr: Addr,
    ) -> bool:
        """Replay check for header-encrypted datagrams (§6): the sender is the supernode when
        the datagram is flagged FROM_SUPERNODE, else the edge's MAC. The null MAC of auto-IP
        requests is shared by all bootstrapping edges: only the ±16 s check for it."""
        if comm.he != HE_ENABLED or stamp is None:
            return True
        wall = self._wall_now()
        if sn is not None or comm.is_federation:
            ok = verify_stamp(self._sn_stamps, addr, stamp, wall, pc, at_supernode=True)
        elif mac == NULL_MAC:
            ok = time_stamp_verify(stamp, wall, None, False)
        else:
            ok = verify_stamp(comm.stamps, mac, stamp, wall, pc, at_supernode=True)
        if not ok:
            self._drop("replay")
        return ok

    def _load(self) -> int:
        """n2n `sn_selection_criterion_gather_data`: edges + 1 per community, doubled when the
        community encrypts headers."""
        total = 0
        for comm in self.communities.values():
            n = len(comm.edges) + 1
            total += 2 * n if comm.he == HE_ENABLED else n
        return total

    # -- community table --------------------------------------------------------------------------

    def _install(self, cl: CommunityList) -> None:
        """Load a parsed community file (n2n `load_allowed_sn_community`, second half)."""
        if len(cl.fixed) > self.config.max_communities:
            raise ConfigError(
                f"the community file lists {len(cl.fixed)} communities, more than "
                f"max_communities ({self.config.max_communities}) allows; raise the bound"
            )
        self.community_list = cl
        self.dynamic_key_time = int(self._wall_now()) & 0xFFFFFFFF
        for fc in cl.fixed.values():
            comm = _Community(fc.name, purgeable=False, he=HE_UNKNOWN)
            comm.stamps = StampTracker(2 * self.config.max_edges_per_community)
            comm.crypto = HeaderCrypto(fc.name, user_pw=bool(fc.users))
            if fc.users:
                comm.he = HE_ENABLED  # users force header encryption (§7.3)
                for pub, user in fc.users.items():
                    secret = SharedSecret.derive(self._fed_private, pub)
                    comm.users[pub] = _User(user.name, pub, secret)
            comm.subnet = fc.subnet or self._auto_subnet(fc.name)
            self.communities[fc.name] = comm
            self._encrypted.append(comm)
        self._compute_dynamic_keys()

    def _auto_subnet(self, name: bytes) -> tuple[int, int] | None:
        taken = [
            c.subnet
            for c in self.communities.values()
            if c.subnet is not None and not c.is_federation and c.name != name
        ]
        return assign_subnet(name, self.config.autoip, taken)

    def _compute_dynamic_keys(self) -> None:
        for comm in self.communities.values():
            if comm.users and comm.crypto is not None:
                comm.dynamic_key = dynamic_key(comm.name, self._fed.name, self.dynamic_key_time)
                comm.crypto.set_dynamic_key(comm.dynamic_key)

    def _new_community(self, name: bytes) -> _Community | None:
        if len(self.communities) >= self.config.max_communities + 1:  # + federation
            self._drop("table_full_communities")
            return None
        comm = _Community(name, purgeable=True, he=HE_NONE)
        comm.stamps = StampTracker(2 * self.config.max_edges_per_community)
        comm.subnet = self._auto_subnet(name)
        self.communities[name] = comm
        return comm

    def _remove_community(self, comm: _Community) -> None:
        self._n_assoc -= len(comm.assoc)
        del self.communities[comm.name]
        if comm in self._encrypted:
            self._encrypted.remove(comm)

    def _allowed_on_the_fly(self, name: bytes) -> bool:
        cl = self.community_list
        return cl is None or cl.pattern_allows(name)

    def reload_communities(self, text: str, now: float) -> None:
        """Replace the community file (management `reload_communities`). Like n2n: user/password
        edges get RE_REGISTER_SUPER, every community (and its edges) is dropped, the new list
        is loaded with a new key_time, and the federation is told at once. Raises ConfigError
        (and changes nothing) if `text` is not a valid community file."""
        self._now = now
        cl = parse_community_file(text)
        if len(cl.fixed) > self.config.max_communities:
            raise ConfigError(
                f"the community file lists {len(cl.fixed)} communities, more than "
                f"max_communities ({self.config.max_communities}) allows; raise the bound"
            )
        self._send_re_register_super()
        for comm in list(self.communities.values()):
            if not comm.is_federation:
                self._remove_community(comm)
        self._install(cl)
        self._register_with_federation(now, forced=True)

    # -- receive ----------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self._now = now
        data = bytes(data)
        if len(data) < 24:
            self._drop("short")
            return
        comm: _Community | None
        stamp: int | None = None
        static = False
        if is_plaintext_header(data):
            comm = self.communities.get(data[4:24].split(b"\x00", 1)[0])
            if comm is not None and comm.he == HE_ENABLED:
                self._drop("he_plaintext")
                return
            plain = data
        else:
            for comm in self._encrypted:
                assert comm.crypto is not None
                got = comm.crypto.open(data)
                if got is not None:
                    break
            else:
                self._drop("he_no_key")
                return
            plain, stamp, static = got.packet, got.stamp, got.static
        try:
            common, _ = decode_common(plain)
        except WireError:
            self._drop("decode")
            return
        if comm is not None:
            if comm.he == HE_UNKNOWN:
                # the first datagram that decodes decides (n2n locks on any first datagram)
                if stamp is None:
                    comm.he = HE_NONE
                    comm.crypto = None
                    self._encrypted.remove(comm)
                else:
                    comm.he = HE_ENABLED
            if stamp is not None and self._encrypted[0] is not comm:
                self._encrypted.remove(comm)
                self._encrypted.insert(0, comm)
            # user/password communities: only the REGISTER_SUPER family uses the static key
            if comm.users and static != (common.pc in STATIC_KEY_TYPES):
                self._drop("static_key")
                return
        sn: Member | None = None
        from_sn = bool(common.flags & N2N_FLAGS_FROM_SUPERNODE)
        if from_sn:
            sn = self.federation.by_addr(addr)
            # only a supernode's own registration may come from an unknown supernode
            if sn is None and not (
                common.pc == MSG_TYPE_REGISTER_SUPER and comm is not None and comm.is_federation
            ):
                self._drop("unknown_supernode")
                return
        elif comm is not None and comm.is_federation:
            self._drop("unexpected")
            return
        if common.ttl < 1:
            self._drop("ttl")
            return
        pc = common.pc
        if pc == MSG_TYPE_PACKET:
            self._on_packet(comm, common, plain, addr, sn, stamp, now)
            return
        try:
            _, msg, _end = decode_with_end(plain)
        except WireError:
            self._drop("decode")
            return
        if pc == MSG_TYPE_REGISTER:
            assert isinstance(msg, Register)
            self._on_register(comm, common, msg, plain, addr, sn, stamp, now)
        elif pc == MSG_TYPE_REGISTER_SUPER:
            assert isinstance(msg, RegisterSuper)
            self._on_register_super(comm, common, msg, data, static, addr, sn, stamp, now)
        elif pc == MSG_TYPE_UNREGISTER_SUPER:
            assert isinstance(msg, UnregisterSuper)
            self._on_unregister_super(comm, msg, addr, sn, stamp)
        elif pc == MSG_TYPE_REGISTER_SUPER_ACK:
            assert isinstance(msg, RegisterSuperAck)
            self._on_register_super_ack(comm, msg, addr, sn, stamp, now)
        elif pc == MSG_TYPE_REGISTER_SUPER_NAK:
            assert isinstance(msg, RegisterSuperNak)
            self._on_register_super_nak(comm, common, msg, addr, sn, stamp)
        elif pc == MSG_TYPE_QUERY_PEER:
            assert isinstance(msg, QueryPeer)
            self._on_query_peer(comm, common, msg, addr, sn, stamp, now)
        elif pc == MSG_TYPE_PEER_INFO:
            assert isinstance(msg, PeerInfo)
            self._on_peer_info(comm, common, msg, addr, sn, stamp, now)
        elif pc == MSG_TYPE_REGISTER_ACK:
            self._drop("register_ack")  # edges never send it via the supernode (§4)
        else:
            self._drop("unexpected")

    # -- PACKET / REGISTER relay (§7.4, §7.5) -------------------------------------------------------

    def _on_packet(
        self,
        comm: _Community | None,
        common: Common,
        plain: bytes,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
        now: float,
    ) -> None:
        if comm is None or comm.is_federation:
            self._drop("unknown_community")
            return
        try:
            src, dst, _sock, compression, transform, off = decode_packet_header(plain)
        except WireError:
            self._drop("decode")
            return
        self.stats.last_fwd = now
        if not self._stamp_ok(comm, sn, src, stamp, MSG_TYPE_PACKET, addr):
            return
        if sn is None:
            # add the sender's public socket (§4 PACKET); ttl - 1, payload unchanged
            out = encode_packet(
                comm.field20,
                src,
                dst,
                compression,
                transform,
                plain[off:],
                ttl=common.ttl - 1,
                flags=common.flags | _FWD_FLAGS,
                sock=Sock(addr[0], addr[1]),
            )
        else:
            out = plain
        out = self._seal(comm, out)
        if is_multi_broadcast(dst):
            self._broadcast(comm, src, sn is not None, out, now)
        else:
            self._forward(comm, dst, sn is not None, out, now)

    def _on_register(
        self,
        comm: _Community | None,
        common: Common,
        reg: Register,
        plain: bytes,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
        now: float,
    ) -> None:
        if comm is None or comm.is_federation:
            self._drop("unknown_community")
            return
        self.stats.last_fwd = now
        if not self._stamp_ok(comm, sn, reg.src_mac, stamp, MSG_TYPE_REGISTER, addr):
            return
        if is_multi_broadcast(reg.dst_mac):
            self._drop("register_multicast")
            return
        if sn is None:
            fwd = Register(
                reg.cookie,
                reg.src_mac,
                reg.dst_mac,
                Sock(addr[0], addr[1]),
                reg.dev_addr,
                reg.dev_desc,
            )
            out = encode(Common(0, common.ttl - 1, common.flags | _FWD_FLAGS, comm.name), fwd)
        else:
            out = plain
        self._forward(comm, reg.dst_mac, sn is not None, self._seal(comm, out), now)

    def _forward(
        self, comm: _Community, dst: bytes, from_sn: bool, data: bytes, now: float
    ) -> None:
        """n2n `try_forward`: to the edge, else its supernode, else every active member."""
        edge = comm.edges.get(dst)
        if edge is not None:
            self._send(data, edge.addr)
            self.stats.fwd += 1
        elif from_sn:
            self._drop("unknown_destination")
        else:
            assoc = comm.assoc.get(dst)
            if assoc is not None:
                self._send(data, assoc.addr)
                self.stats.fwd += 1
            elif not self._to_federation(data, now):
                self._drop("unknown_destination")

    def _broadcast(
        self, comm: _Community, src: bytes, from_sn: bool, data: bytes, now: float
    ) -> None:
        """n2n `try_broadcast`: every edge but the sender, plus (from an edge) every active
        member."""
        if not from_sn:
            self._to_federation(data, now)
        for mac, edge in comm.edges.items():
            if mac != src:
                self._send(data, edge.addr)
                self.stats.broadcast += 1

    def _to_federation(self, data: bytes, now: float) -> int:
        """Send to every member heard from within 90 s; returns how many."""
        members = self.federation.active(now)
        for member in members:
            self._send(data, member.addr)
        self.stats.broadcast += len(members)
        return len(members)

    # -- REGISTER_SUPER (§7.2, §7.3, §7.6) --------------------------------------------------------

    def _on_register_super(
        self,
        comm: _Community | None,
        common: Common,
        reg: RegisterSuper,
        datagram: bytes,
        static: bool,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
        now: float,
    ) -> None:
        self.stats.last_reg_super = now
        self.stats.reg_super += 1
        if comm is not None and not self._stamp_ok(
            comm, sn, reg.edge_mac, stamp, MSG_TYPE_REGISTER_SUPER, addr
        ):
            return
        if comm is None:
            # unknown communities stay silent (n2n: do not reveal the supernode)
            if not common.community or not self._allowed_on_the_fly(common.community):
                self._drop("community_not_allowed")
                return
            comm = self._new_community(common.community)
            if comm is None:
                return
        user: _User | None = None
        if comm.users:
            user = comm.users.get(reg.auth.token[:KEY_SIZE])
            if user is not None and not verify_packet_tag(user.secret, datagram):
                self._drop("auth_tag")
                return
        if reg.edge_mac == self.mac:
            self._drop("from_self")
            return
        from_sn = bool(common.flags & N2N_FLAGS_FROM_SUPERNODE)
        forwarded = from_sn and bool(common.flags & N2N_FLAGS_SOCKET)
        sock = Sock(addr[0], addr[1])

        if comm.is_federation:
            member, _new = self.federation.learn(reg.edge_mac, addr)
            if member is None:
                self._drop("table_full_supernodes")
                return
            member.last_seen = now
            if reg.key_time > self.dynamic_key_time:
                self._adopt_key_time(reg.key_time, now)
            ack = RegisterSuperAck(
                reg.cookie,
                self.mac,
                _NULL_SUBNET,
                sock,
                _ZERO_AUTH,
                self.federation.ack_entries(addr, now, self._rand_below),
                REG_LIFETIME,
                self.dynamic_key_time,
            )
            ack_common = Common(0, N2N_DEFAULT_TTL, _FWD_FLAGS, comm.name)
            self._send(self._seal(comm, encode(ack_common, ack)), addr)
            return

        dev_addr = _NULL_SUBNET
        if _wants_auto_ip(reg.dev_addr):
            dev_addr = self._assign_ip(comm, reg.dev_desc)
        add = not from_sn and reg.edge_mac != NULL_MAC
        result, answer = self._update_edge(comm, common, reg, addr, add, now)
        if result == "full":
            return
        reply_common = Common(0, N2N_DEFAULT_TTL, _FWD_FLAGS, comm.name)
        if result == "fail":
            nak = RegisterSuperNak(reg.cookie, reg.edge_mac, _ZERO_AUTH)
            self._send(self._seal(comm, encode(reply_common, nak)), addr)
            self.stats.reg_super_nak += 1
            return
        if forwarded:
            # an edge registered with another supernode: remember where, forget it here
            self._associate(comm, reg.edge_mac, addr, now)
            if comm.edges.pop(reg.edge_mac, None) is not None:
                self._events.append(self._peer_event(PeerAction.CLEAR, reg.edge_mac, addr))
            return
        if not from_sn and reg.edge_mac != NULL_MAC:
            copy = RegisterSuper(
                reg.cookie, reg.edge_mac, sock, reg.dev_addr, reg.dev_desc, reg.auth, reg.key_time
            )
            fwd = self._seal(comm, encode(reply_common, copy), user.secret if user else None)
            self._to_federation(fwd, now)
        ack = RegisterSuperAck(
            reg.cookie,
            self.mac,
            dev_addr,
            sock,
            answer,
            self.federation.ack_entries(addr, now, self._rand_below),
            REG_LIFETIME,
            0,
        )
        self._send(self._seal(comm, encode(reply_common, ack), user.secret if user else None), addr)

    def _assign_ip(self, comm: _Community, desc: bytes) -> IpSubnet:
        if comm.subnet is None:
            return _NULL_SUBNET
        used = {e.dev_addr.net_addr for e in comm.edges.values()}
        host = assign_host(comm.subnet, desc, used)
        return _NULL_SUBNET if host is None else IpSubnet(host, comm.subnet[1])

    def _update_edge(
        self,
        comm: _Community,
        common: Common,
        reg: RegisterSuper,
        addr: Addr,
        add: bool,
        now: float,
    ) -> tuple[str, Auth]:
        """n2n `update_edge`: ("ok" | "fail" | "full", answer auth for the ACK)."""
        mac = reg.edge_mac
        edge = comm.edges.get(mac)
        if edge is None and mac != NULL_MAC and reg.dev_addr.net_addr != 0:
            # unknown MAC but known TAP IP: the same edge with a new MAC, if it can prove it
            for other in comm.edges.values():
                if other.dev_addr.net_addr == reg.dev_addr.net_addr:
                    edge = other
                    break
        preferred = reg.sock if common.flags & N2N_FLAGS_SOCKET else None
        if edge is None:
            ok, answer = self._remote_auth(comm, reg.auth)
            if not ok:
                self._drop("auth")
                return "fail", _ZERO_AUTH
            if add:
                if len(comm.edges) >= self.config.max_edges_per_community:
                    self._drop("table_full_edges")
                    return "full", _ZERO_AUTH
                stored = reg.auth
                if stored.scheme == N2N_AUTH_SIMPLE_ID and not self.config.spoofing_protection:
                    stored = Auth(N2N_AUTH_NONE, stored.token)  # -M
                comm.edges[mac] = _Edge(
                    mac, addr, reg.dev_addr, reg.dev_desc, stored, now, preferred, reg.cookie
                )
            return "ok", answer
        ok, answer = self._auth_edge(comm, edge.auth, reg.auth)
        if not ok:
            self._drop("spoofed_mac")
            return "fail", _ZERO_AUTH
        if edge.mac != mac:
            del comm.edges[edge.mac]
            edge.mac = mac
            comm.edges[mac] = edge
        edge.addr = addr
        edge.dev_addr = reg.dev_addr
        edge.desc = reg.dev_desc
        edge.preferred = preferred
        edge.last_cookie = reg.cookie
        edge.last_seen = now
        return "ok", answer

    def _remote_auth(self, comm: _Community, auth: Auth) -> tuple[bool, Auth]:
        """n2n `handle_remote_auth` for an edge not registered yet."""
        if bool(comm.users) != (auth.scheme == N2N_AUTH_USER_PASSWORD):
            return False, _ZERO_AUTH
        if auth.scheme in (N2N_AUTH_NONE, N2N_AUTH_SIMPLE_ID):
            return True, _ZERO_AUTH
        if auth.scheme == N2N_AUTH_USER_PASSWORD:
            return self._user_answer(comm, auth)
        return False, _ZERO_AUTH

    def _auth_edge(self, comm: _Community, stored: Auth, presented: Auth) -> tuple[bool, Auth]:
        """n2n `auth_edge` for a registered edge."""
        if stored.scheme == N2N_AUTH_NONE:
            return True, _ZERO_AUTH
        if stored.scheme == N2N_AUTH_SIMPLE_ID and presented.scheme == N2N_AUTH_SIMPLE_ID:
            return stored.token == presented.token, _ZERO_AUTH
        if (
            stored.scheme == N2N_AUTH_USER_PASSWORD
            and presented.scheme == N2N_AUTH_USER_PASSWORD
            and stored.token[:KEY_SIZE] == presented.token[:KEY_SIZE]
        ):
            return self._user_answer(comm, presented)
        return False, _ZERO_AUTH

    def _user_answer(self, comm: _Community, auth: Auth) -> tuple[bool, Auth]:
        user = comm.users.get(auth.token[:KEY_SIZE])
        if user is None or len(auth.token) != AUTH_PW_TOKEN_SIZE or comm.dynamic_key is None:
            return False, _ZERO_AUTH
        token = answer_token(auth.token, user.secret, comm.dynamic_key)
        return True, Auth(N2N_AUTH_USER_PASSWORD, token)

    def _associate(self, comm: _Community, mac: bytes, addr: Addr, now: float) -> None:
        assoc = comm.assoc.get(mac)
        if assoc is not None:
            assoc.addr = addr
            assoc.last_seen = now
        elif self._n_assoc >= self.config.max_associations:
            self._drop("table_full_associations")
        else:
            comm.assoc[mac] = _Assoc(addr, now)
            self._n_assoc += 1

    # -- other edge messages ------------------------------------------------------------------------

    def _on_unregister_super(
        self,
        comm: _Community | None,
        msg: UnregisterSuper,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
    ) -> None:
        if comm is None:
            self._drop("unknown_community")
            return
        if sn is not None or comm.is_federation:
            self._drop("unexpected")
            return
        if not self._stamp_ok(comm, sn, msg.src_mac, stamp, MSG_TYPE_UNREGISTER_SUPER, addr):
            return
        edge = comm.edges.get(msg.src_mac)
        if edge is None:
            self._drop("unknown_edge")
            return
        if not self._auth_edge(comm, edge.auth, msg.auth)[0]:
            self._drop("auth")
            return
        del comm.edges[msg.src_mac]
        self._events.append(self._peer_event(PeerAction.CLEAR, msg.src_mac, edge.addr))

    def _on_query_peer(
        self,
        comm: _Community | None,
        common: Common,
        query: QueryPeer,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
        now: float,
    ) -> None:
        if comm is None and not self._allowed_on_the_fly(common.community):
            self._drop("community_not_allowed")
            return
        if comm is not None and not self._stamp_ok(
            comm, sn, query.src_mac, stamp, MSG_TYPE_QUERY_PEER, addr
        ):
            return
        name = common.community
        if query.target_mac == NULL_MAC:
            # PING -> PONG (§4 PEER_INFO); the community need not exist here (federation)
            pong = PeerInfo(
                0,
                self.mac,
                NULL_MAC,
                Sock(addr[0], addr[1]),
                None,
                _swap32(self._load()),
                int(now - self.start_time),
                self.version,
            )
            self._send(
                self._seal(
                    comm, encode(Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, name), pong)
                ),
                addr,
            )
            return
        if comm is None or comm.is_federation:
            self._drop("unknown_community")
            return
        target = comm.edges.get(query.target_mac)
        if target is not None:
            info = PeerInfo(
                0,
                query.src_mac,
                query.target_mac,
                Sock(target.addr[0], target.addr[1]),
                target.preferred,
                _swap32(self._load()),
                int(now - self.start_time),
                self.version,
            )
            out = encode(Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, comm.name), info)
            self._send(self._seal(comm, out), addr)
            return
        if sn is not None:
            self._drop("unknown_destination")
            return
        # ask the federation; the owner answers us and _on_peer_info passes it on (§7.4)
        ask = encode(
            Common(0, common.ttl - 1, common.flags | N2N_FLAGS_FROM_SUPERNODE, comm.name), query
        )
        ask = self._seal(comm, ask)
        assoc = comm.assoc.get(query.target_mac)
        if assoc is not None:
            self._send(ask, assoc.addr)
        elif not self._to_federation(ask, now):
            self._drop("unknown_destination")

    def _on_peer_info(
        self,
        comm: _Community | None,
        common: Common,
        info: PeerInfo,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
        now: float,
    ) -> None:
        if comm is None or comm.is_federation:
            self._drop("unknown_community")
            return
        if sn is None:
            self._drop("unexpected")
            return
        if not self._stamp_ok(comm, sn, info.src_mac, stamp, MSG_TYPE_PEER_INFO, addr):
            return
        edge = comm.edges.get(info.src_mac)
        if edge is None or info.src_mac == NULL_MAC:
            self._drop("unknown_destination")
            return
        self._associate(comm, info.mac, addr, now)
        out = encode(Common(0, common.ttl - 1, common.flags, comm.name), info)
        self._send(self._seal(comm, out), edge.addr)

    # -- federation messages (§7.6) -------------------------------------------------------------

    def _on_register_super_ack(
        self,
        comm: _Community | None,
        ack: RegisterSuperAck,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
        now: float,
    ) -> None:
        if comm is None or not comm.is_federation or sn is None:
            self._drop("unexpected")
            return
        if not self._stamp_ok(comm, sn, ack.src_mac, stamp, MSG_TYPE_REGISTER_SUPER_ACK, addr):
            return
        member = self.federation.find(ack.src_mac, addr)
        if member is None:
            self._drop("unknown_supernode")
            return
        member.last_seen = now
        if ack.cookie != member.last_cookie:
            self._drop("cookie")
            return
        for entry in ack.supernodes:
            if entry.mac == self.mac or entry.sock.is_ipv6:
                continue
            learned, new = self.federation.learn(entry.mac, entry.sock.to_addr())
            if learned is None:
                self._drop("table_full_supernodes")
                break
            if new:
                learned.last_seen = now - LAST_SEEN_SN_NEW
        if ack.key_time > self.dynamic_key_time:
            self._adopt_key_time(ack.key_time, now)

    def _on_register_super_nak(
        self,
        comm: _Community | None,
        common: Common,
        nak: RegisterSuperNak,
        addr: Addr,
        sn: Member | None,
        stamp: int | None,
    ) -> None:
        if comm is None or comm.is_federation or sn is None:
            self._drop("unexpected")
            return
        if not self._stamp_ok(comm, sn, nak.src_mac, stamp, MSG_TYPE_REGISTER_SUPER_NAK, addr):
            return
        edge = comm.edges.pop(nak.src_mac, None)
        if edge is None:
            self._drop("unknown_destination")
            return
        # another supernode holds this MAC with another token: tell our edge, forget it
        out = encode(Common(0, common.ttl - 1, common.flags, comm.name), nak)
        self._send(self._seal(comm, out), edge.addr)
        self._events.append(self._peer_event(PeerAction.CLEAR, nak.src_mac, edge.addr))

    def _register_with_federation(self, now: float, forced: bool) -> None:
        """n2n `re_register_and_purge_supernodes`: REGISTER_SUPER to members silent > 20 s (to
        all when `forced`)."""
        members = list(self.federation) if forced else self.federation.due_for_registration(now)
        fed = self._fed
        common = Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, fed.name)
        for member in members:
            member.last_cookie = self._rand32()
            reg = RegisterSuper(
                member.last_cookie,
                self.mac,
                None,
                _NULL_SUBNET,
                b"",
                self.auth,
                self.dynamic_key_time,
            )
            self._send(self._seal(fed, encode(common, reg)), member.addr)

    def _adopt_key_time(self, key_time: int, now: float) -> None:
        """The federation uses the highest key_time (§7.3): old-key RE_REGISTER_SUPER to our
        user/password edges, new dynamic keys, and tell every member at once."""
        self._send_re_register_super()
        self.dynamic_key_time = key_time
        self._compute_dynamic_keys()
        self._register_with_federation(now, forced=True)

    def _send_re_register_super(self) -> None:
        for comm in self.communities.values():
            if not comm.users or comm.is_federation:
                continue
            plain = encode(
                Common(0, N2N_DEFAULT_TTL, N2N_FLAGS_FROM_SUPERNODE, comm.name), ReRegisterSuper()
            )
            for edge in comm.edges.values():
                self._send(self._seal(comm, plain), edge.addr)

    # -- purge (§7.2, §7.6) ---------------------------------------------------------------------

    def _purge(self, now: float) -> None:
        """n2n `purge_expired_communities`."""
        edge_deadline = now - REGISTRATION_TIMEOUT
        assoc_deadline = now - FEDERATION_ASSOCIATION_TIMEOUT
        for comm in list(self.communities.values()):
            if comm.is_federation:
                continue
            for mac, edge in list(comm.edges.items()):
                if edge.last_seen < edge_deadline:
                    del comm.edges[mac]
                    self._events.append(self._peer_event(PeerAction.PURGE, mac, edge.addr))
            for mac, assoc in list(comm.assoc.items()):
                if assoc.last_seen < assoc_deadline:
                    del comm.assoc[mac]
                    self._n_assoc -= 1
            if comm.purgeable and not comm.edges:
                self._remove_community(comm)

    @staticmethod
    def _peer_event(action: PeerAction, mac: bytes, addr: Addr) -> Event:
        return PeerEvent(action, mac_to_str(mac), f"{addr[0]}:{addr[1]}")

    # -- management (§8) --------------------------------------------------------------------------

    def mgmt_communities(self, now: float) -> list[dict[str, object]]:
        return [
            {
                "community": comm.display,
                "purgeable": int(comm.purgeable),
                "is_federation": int(comm.is_federation),
                "ip4addr": "" if comm.subnet is None else str(IpSubnet(*comm.subnet)),
            }
            for comm in self.communities.values()
        ]

    def mgmt_edges(self, now: float) -> list[dict[str, object]]:
        self._now = now
        rows: list[dict[str, object]] = []
        for comm in self.communities.values():
            if comm.is_federation:
                for m in self.federation:
                    rows.append(
                        {
                            "community": comm.display,
                            "ip4addr": "",
                            "purgeable": int(not m.anchor),
                            "macaddr": "" if m.mac == NULL_MAC else mac_to_str(m.mac),
                            "sockaddr": f"{m.addr[0]}:{m.addr[1]}",
                            "proto": "UDP",
                            "desc": "",
                            "last_seen": self._wall_of(m.last_seen),
                        }
                    )
                continue
            for edge in comm.edges.values():
                rows.append(
                    {
                        "community": comm.display,
                        "ip4addr": "" if edge.dev_addr.net_addr == 0 else str(edge.dev_addr),
                        "purgeable": 1,
                        "macaddr": "" if edge.mac == NULL_MAC else mac_to_str(edge.mac),
                        "sockaddr": f"{edge.addr[0]}:{edge.addr[1]}",
                        "proto": "UDP",
                        "desc": _desc(edge.desc),
                        "last_seen": self._wall_of(edge.last_seen),
                    }
                )
        return rows

    def mgmt_timestamps(self, now: float) -> list[dict[str, object]]:
        self._now = now
        return [
            {
                "start_time": self._wall_of(self.start_time),
                "last_fwd": self._wall_of(self.stats.last_fwd),
                "last_reg_super": self._wall_of(self.stats.last_reg_super),
            }
        ]

    def mgmt_packetstats(self, now: float) -> list[dict[str, object]]:
        s = self.stats
        return [
            {"type": "forward", "tx_pkt": s.fwd},
            {"type": "broadcast", "tx_pkt": s.broadcast},
            {"type": "reg_super", "rx_pkt": s.reg_super, "nak": s.reg_super_nak},
            {"type": "errors", "tx_pkt": s.errors},
        ]

    def mgmt_supernodes(self, now: float) -> list[dict[str, object]]:
        """Ours (n2n leaves it unimplemented on the supernode): the federation members."""
        self._now = now
        return [
            {
                "macaddr": "" if m.mac == NULL_MAC else mac_to_str(m.mac),
                "sockaddr": f"{m.addr[0]}:{m.addr[1]}",
                "purgeable": int(not m.anchor),
                "active": int(m.active(now)),
                "last_seen": self._wall_of(m.last_seen),
            }
            for m in self.federation
        ]

    def mgmt_drops(self, now: float) -> list[dict[str, object]]:
        return [{"reason": r, "count": n} for r, n in sorted(self.drops.items())]

    def status_text(self, now: float) -> str:
        """The legacy text console's status table (n2n `process_mgmt`)."""
        self._now = now
        lines = [
            " ### | TAP                 | MAC               | EDGE                      | HINT            | LAST SEEN",
            "=" * 104,
        ]
        n_edges = 0
        for i, comm in enumerate(self.communities.values()):
            if i:
                lines.append("-" * 104)
            kind = (
                "FEDERATION"
                if comm.is_federation
                else ("COMMUNITY" if comm.purgeable else "FIXED NAME COMMUNITY")
            )
            lines.append(f"{kind} '{comm.display}'")
            if comm.is_federation:
                rows = [
                    ("-l" if m.anchor else "", m.mac, m.addr, b"", m.last_seen)
                    for m in self.federation
                ]
            else:
                rows = [
                    (
                        "" if e.dev_addr.net_addr == 0 else str(e.dev_addr),
                        e.mac,
                        e.addr,
                        e.desc,
                        e.last_seen,
                    )
                    for e in comm.edges.values()
                ]
                n_edges += len(rows)
            for num, (tap, mac, addr, desc, seen) in enumerate(rows, 1):
                ago = "" if seen is None else f"{int(now - seen):9d}"
                lines.append(
                    f"{num:4d} | {tap:<19} | {'' if mac == NULL_MAC else mac_to_str(mac):<17} | "
                    f"{addr[0] + ':' + str(addr[1]):<21} {'':<3} | {_desc(desc):<15} | {ago:>9}"
                )
        s = self.stats
        lines.append("=" * 104)
        lines.append(
            f"uptime {int(now - self.start_time)} | edges {n_edges} | reg_sup {s.reg_super} | "
            f"reg_nak {s.reg_super_nak} | errors {s.errors} "
        )
        lines.append(f"fwd {s.fwd} | broadcast {s.broadcast} | cur_cmnts {len(self.communities)}")
        lines.append(f"last_fwd  {_ago(now, s.last_fwd)} | last reg  {_ago(now, s.last_reg_super)}")
        return "\n".join(lines) + "\n\n"

    def registrations_text(self, now: float) -> str:
        """The SIGHUP dump of n2n's supernode: every registered edge per community."""
        lines = ["===================================="]
        num = 0
        for comm in self.communities.values():
            lines.append(f"dumping community: {comm.display}")
            for edge in comm.edges.values():
                num += 1
                lines.append(
                    f"[id: {num}][MAC: {mac_to_str(edge.mac)}][edge: {edge.addr[0]}:{edge.addr[1]}]"
                    f"[last seen: {int(now - edge.last_seen)} sec ago]"
                )
        lines.append("====================================")
        return "\n".join(lines) + "\n"


def _wants_auto_ip(dev: IpSubnet) -> bool:
    """§4 REGISTER_SUPER: 0.0.0.0, 255.255.255.255, prefix 0 or 169.254/16 ask for an address."""
    return (
        dev.net_addr in (0, 0xFFFFFFFF)
        or dev.bitlen == 0
        or (dev.net_addr & 0xFFFF0000) == 0xA9FE0000
    )


def _swap32(value: int) -> int:
    """Byte-swapped u32: n2n edges apply be32toh to the PONG load they decoded (§7.2)."""
    return int.from_bytes(min(value, 0xFFFFFFFF).to_bytes(4, "big"), "little")


def _desc(desc: bytes) -> str:
    return desc[:N2N_DESC_SIZE].split(b"\x00", 1)[0].decode("utf-8", "replace")


def _ago(now: float, t: float | None) -> str:
    return "never" if t is None else f"{int(now - t)} sec ago"
