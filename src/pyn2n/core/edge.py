"""The sans-IO edge (spec §5, §6, §7.1–§7.5; n2n `edge.c`, `edge_utils.c`).

An `Edge` is fed datagrams from its UDP socket, Ethernet frames from its TAP device and timer
ticks; it hands back datagrams to send, frames to write and events (contract: `core/api.py`).
It never touches a socket, the clock or a random source: `now` (monotonic seconds) comes with
every input, randomness from the injected `rng`, wall-clock time (header-encryption stamps,
management time stamps) from the optional injected `wall_clock`.

Life cycle (§7.1, §7.2):
1. bootstrap — with more than one supernode (and no user/password auth) PING them
   (QUERY_PEER with a null target) and take the best by the first PONG, re-pinging every 3 s;
   without a configured address, ask the current supernode for one (REGISTER_SUPER with a null
   MAC and IP 0), trying the next supernode every 3 s, and announce it with
   `Event("ip_assigned")` so the driver configures the TAP. The TAP's MAC is `Edge.mac`
   (configured or drawn from the rng at construction), so the driver creates the TAP with it.
2. running — REGISTER_SUPER every `register_interval` (20 s), retried every interval/10 (2 s)
   while unanswered; three unanswered attempts mark the supernode bad and move to the best other.
   Every 30 s: re-sort the supernodes (switching with UNREGISTER_SUPER + REGISTER_SUPER when
   another is better), PING up to 5, purge peers unseen for 60 s.
   Frames from the TAP and PACKETs from the network are dropped until the first real
   REGISTER_SUPER_ACK; then two gratuitous ARPs announce our address.

Data path (§5, §7.4, §7.5): unicast to a known peer with direct traffic in the last
interval/2 (10 s) goes straight to it; anything else via the current supernode, which also
triggers (at most once per interval per MAC) a REGISTER relayed by the supernode plus a
QUERY_PEER, whose PEER_INFO answer leads to direct REGISTERs; a REGISTER_ACK makes the peer
known. Broadcast and multicast go to the supernode in one PACKET (to every known peer while no
supernode answers). Payload: compression (only if strictly smaller), then the transform.

Fast path (pyn2n extension, `config.fastpath`, see `core/fastpath.py`): frames from a TAP with
virtio headers come in through `receive_vnet_frame`; unicast to a peer that negotiated the fast
path leaves as whole super-frames (`gso_datagrams_to_send`, `vnet_frames_to_write`), everything
else is cut into plain frames and takes the standard path below.

Hot path: `receive_frame` and the PACKET branch of `receive_datagram` use the wire fast-path
functions, precomputed community bytes and plain counters; no dataclass, log line or Event per
frame.

Differences from n2n (deliberate):
* Multicast (01:00:5E, 33:33) is carried by default; `drop_multicast` gives n2n's default
  (`-E` is accepted and changes nothing).
* Frames to any other group MAC (e.g. 01:80:C2:…) are sent like broadcasts (to the supernode or
  the peers) instead of being treated as unicast to a peer that cannot exist (n2n would
  QUERY_PEER for them and fill its pending table).
* The "no supernode" broadcast fallback starts when the outstanding REGISTER_SUPER has been
  unanswered for interval/10 (2 s), not the instant a REGISTER_SUPER leaves (n2n's `sn_wait`),
  so the regular re-registration does not divert broadcasts from the supernode for a moment.
* PEER_INFO is only accepted from a supernode in our list with FROM_SUPERNODE set (n2n takes it
  from anyone); PACKETs/REGISTERs claiming our own MAC, a group MAC or the null MAC as source,
  and REGISTER_ACKs not addressed to us, are dropped.
* IPv6 and 127.0.0.1 sockets announced by supernodes are not used as peer addresses (n2n cannot
  send to IPv6 either and excludes 127.0.0.1 the same way).
* No LAN multicast discovery (224.0.0.68:1968), no `-e` preferred socket, no `-L` port
  prediction, no TCP (`-S2`), no DHCP mode, no `-R` traffic filter; the UDP socket is not
  re-opened after repeated supernode failures.
* A known peer whose direct path went stale (10 s without direct traffic) keeps getting frames
  directly while no supernode answers, and a relayed frame to it also probes its last direct
  socket with a REGISTER; n2n drops the peer and, with the supernode dead, loses it for good.
* Gratuitous ARPs are only sent when the edge has an IPv4 address.
* A PONG's load is read byte-swapped exactly like a C edge (see `selection.py`); RTT is measured
  in real milliseconds.
* Management: `info` reports the public socket the supernode saw (n2n: the `-e` socket);
  time stamps are wall-clock seconds when a `wall_clock` is given, else monotonic seconds;
  `peers` and `drops` are pyn2n extras; every malformed or refused datagram is counted in
  `drops` by reason instead of being logged.
* A REGISTER_ACK matched to a pending peer by socket (MAC change) makes the peer known under the
  MAC that acknowledged (n2n keeps the old MAC).
* REGISTER_SUPER retries wait interval/10 from when the last one actually left; after a
  RE_REGISTER_SUPER the random offset only moves the next regular re-registration earlier (n2n
  would retry at once when the offset exceeds 2 s, burning its three attempts).
* An auto-IP answer with a prefix outside 1..32 assigns nothing; a supernode's `last_seen` also
  counts accepted REGISTER_SUPER_ACKs, not only PONGs.
* Times are floats, so "every 2 s" is exactly 2 s (n2n's whole seconds and strict comparisons
  make it 3 s).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyn2n import __version__
from pyn2n.constants import (
    BOOTSTRAP_TIMEOUT,
    DEFAULT_FEDERATION,
    EDGE_MAX_BRIDGED_HOSTS,
    EDGE_MAX_PEERS,
    EDGE_MAX_SUPERNODES,
    MAC_LEARNING_EXPIRE,
    MSG_TYPE_PYN2N_FASTPATH,
    N2N_AUTH_ID_TOKEN_SIZE,
    N2N_AUTH_SIMPLE_ID,
    N2N_AUTH_USER_PASSWORD,
    N2N_COMPRESSION_ID_NONE,
    N2N_DEFAULT_TTL,
    N2N_EDGE_SUP_ATTEMPTS,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_FLAGS_SOCKET,
    N2N_FORWARDED_REG_COOKIE,
    N2N_LOCAL_REG_COOKIE,
    N2N_REGULAR_REG_COOKIE,
    NUMBER_SN_PINGS_INITIAL,
    PEER_PURGE_TIMEOUT,
    PURGE_REGISTRATION_FREQ,
    REGISTER_SUPER_INTERVAL_DFL,
    SN_SELECTION_PING_COUNT,
    SWEEP_TIME,
)
from pyn2n.core.api import Addr, MgmtError, Offload
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.events import (
    Event,
    IpAssigned,
    PeerAction,
    PeerEvent,
    Registered,
    RegistrationRefused,
    SupernodeChanged,
)
from pyn2n.core.fastpath import (
    FAST_MAGIC,
    HELLO_OFFER,
    REFUSE_DISABLED,
    FastPath,
    aead_for_transform,
    decode_hello,
    frame_segments,
    refusal,
    to_plain_frames,
)
from pyn2n.core.peers import NO_SOCK, Peer, PeerTable
from pyn2n.core.secure import HeaderCrypto, Received, verify_stamp
from pyn2n.core.selection import NULL_MAC, Supernode, SupernodeList
from pyn2n.crypto.auth import (
    AUTH_CHALLENGE_SIZE,
    SharedSecret,
    ascii_to_bin,
    federation_public_key,
    generate_public_key,
    open_answer_token,
    register_super_token,
    user_private_key,
    verify_packet_tag,
)
from pyn2n.crypto.timestamp import StampTracker, TimeStamper
from pyn2n.transforms import Compression, TransformError, make_compression, make_transform
from pyn2n.wire.errors import WireError
from pyn2n.wire.eth import gratuitous_arp
from pyn2n.wire.messages import (
    MSG_TYPE_PACKET,
    MSG_TYPE_PEER_INFO,
    MSG_TYPE_RE_REGISTER_SUPER,
    MSG_TYPE_REGISTER,
    MSG_TYPE_REGISTER_ACK,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    Common,
    Message,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    UnregisterSuper,
    decode_with_end,
    encode,
    pad_community,
)
from pyn2n.wire.packet import decode_packet_header, encode_packet
from pyn2n.wire.types import Auth, IpSubnet, Sock, mac_to_str, random_mac

__all__ = ["Edge", "MgmtError"]

# every Offload value, made once: offload() is asked after each flush
_OFFLOADS = (
    (Offload(False, False), Offload(False, True)),
    (Offload(True, False), Offload(True, True)),
)
_BROADCAST = b"\xff" * 6
_IPV4_ETHERTYPE = b"\x08\x00"
_INVALID_PEER_HOSTS = frozenset(("127.0.0.1", "0.0.0.0"))

# bootstrap phases (n2n edge.c runlevels 0-1, 2-3, then the main loop)
PHASE_PING = "ping"
PHASE_AUTOIP = "autoip"
PHASE_RUN = "run"


def _is_group(mac: bytes) -> bool:
    return bool(mac[0] & 1)


def _peer_addr(sock: Sock | None) -> Addr | None:
    """A socket usable as a peer address (n2n `is_valid_peer_sock`, plus no IPv6)."""
    if sock is None or sock.is_ipv6 or sock.addr in _INVALID_PEER_HOSTS or sock.port == 0:
        return None
    return (sock.addr, sock.port)


def _fmt(addr: Addr | None) -> str:
    return "" if addr is None else f"{addr[0]}:{addr[1]}"


class _Security:
    """The edge's header encryption (`-H`) and user/password auth (`-I`/`-J`/`-P`), §6, §7.3,
    on top of `core.secure.HeaderCrypto` and `crypto.auth`."""

    def __init__(
        self,
        config: EdgeConfig,
        rng: Callable[[int], bytes],
        wall_clock: Callable[[], float],
        simple_auth: Auth,
    ) -> None:
        self.user_pw = config.user_password
        self.hc = HeaderCrypto(config.community.encode(), user_pw=self.user_pw)
        self._rng = rng
        self.wall = wall_clock
        self._stamper = TimeStamper()
        self.tracker = StampTracker(2 * EDGE_MAX_PEERS)
        self._simple_auth = simple_auth
        self.raw = b""  # the last datagram as received (the user/password tag covers it)
        self.secret: SharedSecret | None = None
        self._public = b""
        self._challenge = b""
        if self.user_pw:
            assert config.password is not None
            private = user_private_key(config.desc, config.password)
            self._public = generate_public_key(private)
            fed = (
                ascii_to_bin(config.federation_pubkey)
                if config.federation_pubkey
                else federation_public_key(DEFAULT_FEDERATION)
            )
            self.secret = SharedSecret.derive(private, fed)
            # until the supernode hands out the real one: a random dynamic key, so nothing
            # of a merely header-encrypted community with the same name gets through (n2n)
            self.hc.set_dynamic_key(rng(AUTH_CHALLENGE_SIZE))

    def open(self, data: bytes) -> Received | None:
        self.raw = data
        return self.hc.open(data)

    def key_ok(self, pc: int, static: bool) -> bool:
        """User/password: the static key only for REGISTER_SUPER_ACK/_NAK (n2n)."""
        if not self.user_pw:
            return True
        if pc in (MSG_TYPE_REGISTER_SUPER_ACK, MSG_TYPE_REGISTER_SUPER_NAK):
            return static
        return not static

    def check_stamp(self, sender: object, stamp: int, pc: int) -> bool:
        return verify_stamp(self.tracker, sender, stamp, self.wall(), pc, at_supernode=False)

    def seal(self, data: bytes) -> bytes:
        return self.hc.seal(data, self._stamper(self.wall()), self._rng(4), tag=self.secret)

    def local_auth(self) -> Auth:
        """n2n `get_local_auth`: user/password tokens carry a fresh challenge every time."""
        if self.secret is None:
            return self._simple_auth
        self._challenge = self._rng(AUTH_CHALLENGE_SIZE)
        return Auth(
            N2N_AUTH_USER_PASSWORD,
            register_super_token(self._public, self.secret, self._challenge),
        )

    def accept_ack(self, ack: RegisterSuperAck) -> bool:
        """User/password: check the tag and the answered challenge, install the dynamic key."""
        if self.secret is None:
            return True
        if not verify_packet_tag(self.secret, self.raw):
            return False
        key = open_answer_token(ack.auth.token, self.secret, self._challenge)
        if key is None:
            return False
        self.hc.set_dynamic_key(key)
        return True


class Edge:
    """One edge of one community. See the module docstring; the contract is `api.EdgeNode`."""

    def __init__(
        self,
        config: EdgeConfig,
        rng: Callable[[int], bytes],
        now: float,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self._rng = rng
        self._wall_clock = wall_clock
        self._fast: FastPath | None = None
        self.mac: bytes = config.mac_bytes or random_mac(rng)
        self.ip: str | None = config.ip
        self.prefix: int = config.prefix
        self._ip4 = bytes(4)
        self._ipint = 0
        self._set_ip(config.ip, config.prefix)
        community = config.community.encode()
        self._community20 = pad_community(community)
        self._common = Common(0, N2N_DEFAULT_TTL, 0, community)
        self._desc = config.desc.encode()
        self._tid = config.transform_id
        self._transform = make_transform(self._tid, config.key, rng)
        self._compression = (
            make_compression(config.compression)
            if config.compression != N2N_COMPRESSION_ID_NONE
            else None
        )
        self._decompressors: dict[int, Compression] = {}
        self._interval = float(config.register_interval)
        self._p2p_fresh = self._interval / 2  # n2n: peer timeout (= interval) / 2
        self._allow_p2p = not config.no_p2p
        self._drop_multicast = config.drop_multicast
        self._routing = config.allow_routing
        self._auth = Auth(N2N_AUTH_SIMPLE_ID, rng(N2N_AUTH_ID_TOKEN_SIZE))
        self._secure: _Security | None = None
        if config.header_encryption:
            if wall_clock is None:
                raise ValueError(
                    "header encryption needs a wall_clock (UTC seconds) for its stamps"
                )
            self._secure = _Security(config, rng, wall_clock, self._auth)

        self.sns = SupernodeList(config.supernodes, config.selection, EDGE_MAX_SUPERNODES)
        self.peers = PeerTable(EDGE_MAX_PEERS)
        # -r: bridged host MAC -> [edge MAC, last seen] (n2n known_hosts)
        self.hosts: dict[bytes, list[Any]] = {}

        # registration state (n2n: sn_wait 0/1/2, sup_attempts, last_register_req, last_sup)
        self.sn_wait = 1
        self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
        self.last_register_req: float | None = None  # minus a random offset after RE_REGISTER
        self._reg_sent_at = now  # when the last REGISTER_SUPER really left (retry timing)
        self._rereg_at = now
        self._wait_since: float | None = None
        self.last_sup: float | None = None
        self.last_p2p: float | None = None
        self.start_time = now
        self.public_sock: Addr | None = None
        self._registered_sn: Supernode | None = None
        self._ping_count = NUMBER_SN_PINGS_INITIAL
        self.last_sweep = now
        self._last_purge_known = now
        self._last_purge_pending = now
        self._last_purge_hosts = now
        self.keep_running = True
        self.reg_super_nak = 0

        # bootstrap
        multi = len(self.sns) > 1 and not config.user_password
        self.phase = PHASE_PING if multi else (PHASE_AUTOIP if config.auto_ip else PHASE_RUN)
        self._boot_deadline = now  # first handle_timer starts the bootstrap
        if self.phase == PHASE_RUN:
            self._enter_run(now, register=False)  # the first handle_timer registers

        # counters (n2n packetstats)
        self.transop_tx = 0
        self.transop_rx = 0
        self.tx_p2p = 0
        self.rx_p2p = 0
        self.tx_sup = 0
        self.rx_sup = 0
        self.tx_sup_broadcast = 0
        self.rx_sup_broadcast = 0
        self.drops: Counter[str] = Counter()

        self._out: list[tuple[bytes, Addr]] = []
        self._frames: list[bytes] = []
        self._events: list[Event] = []
        if config.fastpath:
            self._fast = FastPath(
                mac=self.mac,
                community20=self._community20,
                passphrase=config.key,
                aead=aead_for_transform(self._tid),
                peers=self.peers,
                p2p_fresh=self._p2p_fresh,
                rng=rng,
                send_hello=self._send_sealed,
                send_datagram=self._out_append,
                drops=self.drops,
                routing_hosts=self.hosts if self._routing else None,
            )
            self._fast.ip4 = self._ip4

    # ================================================================ contract outputs

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def frames_to_write(self) -> list[bytes]:
        out, self._frames = self._frames, []
        return out

    # fast path outputs (empty without `config.fastpath`)

    def gso_datagrams_to_send(self) -> list[tuple[bytes, int, Addr]]:
        """(buffer, segment size, addr): datagrams of `segment size` bytes back to back, for one
        UDP_SEGMENT send each (the last datagram may be shorter)."""
        fast = self._fast
        if fast is None or not fast.gso_out:
            return []
        out, fast.gso_out = fast.gso_out, []
        return out

    def vnet_frames_to_write(self) -> list[bytes]:
        """Frames from fast-path peers, each behind its virtio_net_hdr (for a IFF_VNET_HDR TAP)."""
        fast = self._fast
        if fast is None or not fast.frames:
            return []
        out, fast.frames = fast.frames, []
        return out

    @property
    def fastpath(self) -> FastPath | None:
        return self._fast

    def offload(self) -> Offload:
        fast = self._fast
        return _OFFLOADS[0][0] if fast is None else _OFFLOADS[fast.offload][fast.gro]

    def send_failed(self, count: int) -> None:
        self.drops["udp_send_failed"] += count

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        if self.phase != PHASE_RUN:
            return self._boot_deadline
        if self.sn_wait == 2 or self.last_register_req is None:
            t = self._rereg_at
        elif self.sn_wait:
            t = self._reg_sent_at + self._interval / 10
        else:
            t = self.last_register_req + self._interval
        t = min(t, self.last_sweep + SWEEP_TIME, self._last_purge_pending + PURGE_REGISTRATION_FREQ)
        if not self.sn_wait:
            t = min(t, self._last_purge_known + PURGE_REGISTRATION_FREQ)
        if self._routing:
            t = min(t, self._last_purge_hosts + SWEEP_TIME)
        if self._fast is not None:
            fast_t = self._fast.get_timer()
            if fast_t is not None:
                t = min(t, fast_t)
        return t

    # ================================================================ timers

    def handle_timer(self, now: float) -> None:
        if self.phase == PHASE_PING:
            if now >= self._boot_deadline:
                self._bootstrap_ping(now)
            return
        if self.phase == PHASE_AUTOIP:
            if now >= self._boot_deadline:
                if self.last_register_req is not None:  # timed out: try the next one (n2n)
                    self.sns.next_after_current()
                self._send_register_super(now, bootstrap=True)
                self.last_register_req = now
                self._boot_deadline = now + BOOTSTRAP_TIMEOUT
            return
        self._update_supernode_reg(now)
        self._purge(now)
        self._sort_supernodes(now)
        if self._fast is not None:
            self._fast.handle_timer(now)

    def _bootstrap_ping(self, now: float) -> None:
        self._send_pings(self.sns.ping_targets(NUMBER_SN_PINGS_INITIAL, self._rng), now)
        self._boot_deadline = now + BOOTSTRAP_TIMEOUT

    def _leave_ping_phase(self, now: float) -> None:
        """First PONG during bootstrap: take the best supernode, go on (n2n runlevel 1 -> 2)."""
        self.sns.select_best()
        if self.config.auto_ip:
            self.phase = PHASE_AUTOIP
            self.last_register_req = None
            self._send_register_super(now, bootstrap=True)
            self.last_register_req = now
            self._boot_deadline = now + BOOTSTRAP_TIMEOUT
        else:
            self._enter_run(now)

    def _enter_run(self, now: float, register: bool = True) -> None:
        """End of bootstrap (n2n edge.c after runlevel 4); the first REGISTER_SUPER follows."""
        self.phase = PHASE_RUN
        self._ping_count = NUMBER_SN_PINGS_INITIAL
        self.sns.reset_criteria(0, self.config.header_encryption)
        self.sns.sort()
        # first regular PING round 6 s from now (n2n: last_sweep = now - SWEEP_TIME + 2 * 3)
        self.last_sweep = now - SWEEP_TIME + 2 * BOOTSTRAP_TIMEOUT
        self.sn_wait = 1
        self.last_register_req = None  # REGISTER_SUPER at once
        self._rereg_at = now
        if register:
            self._update_supernode_reg(now)

    def _update_supernode_reg(self, now: float) -> None:
        """n2n `update_supernode_reg`: (re-)register, retry, give up on a supernode."""
        wait = self.sn_wait
        last = self.last_register_req
        if last is not None and wait != 2:
            due = self._reg_sent_at + self._interval / 10 if wait else last + self._interval
            if now < due:
                return
        off = 0.0
        if wait == 2:
            # spread the re-registrations of all edges after a key change (n2n)
            off = (int.from_bytes(self._rng(4), "big") / 2**32) * self._interval * 3 / 4
        if self.sup_attempts == 0:
            old = self.sns.current
            new = self.sns.give_up_current()
            self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
            if new is not old:
                self._events.append(
                    SupernodeChanged(_fmt(old.addr), _fmt(new.addr), "unresponsive")
                )
        else:
            self.sup_attempts -= 1
        self._send_register_super(now)
        if wait == 1:
            # no answer from the supernode: keep the direct paths alive ourselves (n2n)
            for peer in list(self.peers.known.values()):
                if now - peer.last_seen > REGISTER_SUPER_INTERVAL_DFL:
                    self._send_register(peer.sock, peer.mac, peer.last_cookie, now)
        if not self.sn_wait or self._wait_since is None:
            self._wait_since = now
        self.sn_wait = 1
        self.last_register_req = now - off
        self._reg_sent_at = now

    def _purge(self, now: float) -> None:
        before = now - PEER_PURGE_TIMEOUT
        # known peers are kept while no supernode answers (n2n)
        # deadlines are compared exactly as get_timer() computes them (float rounding)
        if not self.sn_wait and now >= self._last_purge_known + PURGE_REGISTRATION_FREQ:
            for peer in self.peers.purge_known(before):
                self._peer_event(PeerAction.PURGE, peer)
            self._last_purge_known = now
        if now >= self._last_purge_pending + PURGE_REGISTRATION_FREQ:
            for peer in self.peers.purge_pending(before):
                self._peer_event(PeerAction.PURGE, peer)
            self._last_purge_pending = now
        if self._routing and now >= self._last_purge_hosts + SWEEP_TIME:
            old = now - MAC_LEARNING_EXPIRE
            for host in [h for h, v in self.hosts.items() if v[1] < old]:
                del self.hosts[host]
            self._last_purge_hosts = now

    def _sort_supernodes(self, now: float) -> None:
        """n2n `sort_supernodes`, every 30 s: switch to the best, then PING for the next round."""
        if now < self.last_sweep + SWEEP_TIME:
            return
        sns = self.sns
        if not self.sn_wait:
            sns.sort()
        best = sns.entries[0]
        if sns.current is not best:
            old = sns.current
            self._send_unregister_super(now)
            sns.current = best
            self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
            self._send_register_super(now)
            self.last_register_req = self._reg_sent_at = now
            if not self.sn_wait:
                self._wait_since = now
            self.sn_wait = 1
            self._events.append(
                SupernodeChanged(_fmt(old.addr), _fmt(best.addr), "selection")
            )
        sns.reset_criteria(len(self.peers.pending), self.config.header_encryption)
        self._send_pings(sns.ping_targets(self._ping_count, self._rng), now)
        self._ping_count = SN_SELECTION_PING_COUNT
        self.last_sweep = now

    # ================================================================ TAP -> network

    def receive_frame(self, frame: bytes, now: float) -> None:
        """An Ethernet frame read from the TAP device (n2n `edge_read_from_tap`)."""
        if len(frame) < 14:
            self.drops["tap_short"] += 1
            return
        group = frame[0] & 1
        if (
            group
            and self._drop_multicast
            and (
                (frame[0] == 0x01 and frame[1] == 0x00 and frame[2] == 0x5E and frame[3] < 0x80)
                or (frame[0] == 0x33 and frame[1] == 0x33)
            )
        ):
            self.drops["tap_multicast"] += 1
            return
        if self.last_sup is None:
            self.drops["tap_not_registered"] += 1
            return
        self._send_frame(frame, group, now)

    def receive_vnet_frames(self, frames: list[bytes], now: float) -> None:
        """A batch read from a TAP opened with IFF_VNET_HDR (10-byte virtio_net_hdr + frame).

        Hot path: finished plain frames to peers without a fast session go straight to the
        standard path; super-frames, frames still needing a checksum and frames for fast peers
        take `receive_vnet_frame`."""
        receive_vnet_frame = self.receive_vnet_frame
        receive_frame = self.receive_frame
        fast = self._fast
        if fast is not None and fast.tx and fast.hosts is None:
            tx = fast.tx
            std = 0
            send_frame = self._send_frame
            registered = self.last_sup is not None
            for data in frames:
                if data[1] or data[0] & 1 or data[10:16] in tx:
                    receive_vnet_frame(data, now)
                elif data[10] & 1 or not registered or len(data) < 24:
                    receive_frame(data[10:], now)  # group, short, or not yet registered
                else:
                    std += 1
                    send_frame(data[10:], 0, now)  # (receive_frame's checks, done above)
            if std:
                fast.count_standard(std, now)  # (many such frames turn the TAP offloads off)
        elif fast is not None and fast.tx:  # -r: bridged hosts, MACs are mapped per frame
            for data in frames:
                receive_vnet_frame(data, now)
        else:
            for data in frames:
                if data[0] & 1 or data[1]:  # NEEDS_CSUM or GSO: cut into plain frames
                    receive_vnet_frame(data, now)
                else:
                    receive_frame(data[10:], now)

    def receive_vnet_frame(self, data: bytes, now: float) -> None:
        """A frame read from a TAP opened with IFF_VNET_HDR: virtio_net_hdr + Ethernet frame,
        maybe a GSO super-frame or one whose checksum is still to be filled in."""
        fast = self._fast
        if (
            fast is not None
            and fast.tx
            and len(data) >= 24
            and not data[10] & 1
            and fast.send(data, now)
        ):
            return
        if fast is not None and not data[10] & 1:
            # many such frames turn the TAP offloads off: a super-frame counts as its segments,
            # so a bulk flow to a standard-path peer stops being cut in Python within a few
            fast.count_standard(frame_segments(data) if data[1] else 1, now)
        if data[0] & 1 or data[1]:
            # NEEDS_CSUM or GSO: the standard path carries finished frames only
            try:
                frames = to_plain_frames(data)
            except ValueError:
                self.drops["tap_offload"] += 1
                return
            for frame in frames:
                self.receive_frame(frame, now)
        else:
            self.receive_frame(data[10:], now)

    def _send_frame(self, frame: bytes, group: int, now: float) -> None:
        """n2n `edge_send_packet2net` + `send_packet`."""
        if not self._routing:
            # only our own IPv4 traffic leaves (n2n without -r)
            if frame[12:14] == _IPV4_ETHERTYPE and frame[26:30] != self._ip4:
                self.drops["tap_routed"] += 1
                return
            dst = frame[:6]
        else:
            dst = frame[:6]
            if not group:
                host = self.hosts.get(dst)
                if host is not None:
                    dst = host[0]
        comp = N2N_COMPRESSION_ID_NONE
        data = frame
        compression = self._compression
        if compression is not None:
            packed = compression.compress(frame)
            if packed is not None:
                comp = compression.id
                data = packed
        pkt = encode_packet(
            self._community20, self.mac, dst, comp, self._tid, self._transform.encode(data)
        )
        if self._secure is not None:
            pkt = self._secure.seal(pkt)
        self.transop_tx += 1
        out = self._out
        if group:
            self.tx_sup += 1
            self.tx_sup_broadcast += 1
            if self._sn_unreachable(now):
                # no supernode answers: straight to every known peer (n2n send_packet)
                for peer in self.peers.known.values():
                    out.append((pkt, peer.sock))
                return
            out.append((pkt, self.sns.current.addr))
            return
        peer = self.peers.known.get(dst)
        if peer is not None:
            last = peer.last_p2p
            if (last is not None and now - last < self._p2p_fresh) or self._sn_unreachable(now):
                # fresh path; or no supernode to relay through, so the last direct path is the
                # only one left (n2n would drop the peer here and lose it for good)
                self.tx_p2p += 1
                out.append((pkt, peer.sock))
                return
            # too long without direct traffic: the path may be gone (n2n find_peer_destination)
            self.peers.remove_known(dst)
            self._peer_event(PeerAction.DEL_P2P, peer)
            stale_sock = peer.sock
        else:
            stale_sock = NO_SOCK
        self.tx_sup += 1
        out.append((pkt, self.sns.current.addr))
        self._check_query_peer_info(dst, now, stale_sock)

    def _sn_unreachable(self, now: float) -> bool:
        """The outstanding REGISTER_SUPER has gone unanswered for interval/10 (2 s)."""
        wait_since = self._wait_since
        return (
            bool(self.sn_wait)
            and wait_since is not None
            and now - wait_since >= self._interval / 10
        )

    def _check_query_peer_info(self, mac: bytes, now: float, sock: Addr = NO_SOCK) -> None:
        """Relayed unicast: at most once per interval ask the supernode about the peer, and
        probe its last direct socket if it had one (pyn2n: that path often still works, and a
        REGISTER_ACK brings it back without the supernode, which may be gone)."""
        peer = self.peers.pending.get(mac)
        if peer is None:
            peer = self.peers.add_pending(mac, sock, now)
            if peer is None:
                self.drops["table_full"] += 1
                return
        last = peer.last_sent_query
        if last is None or now - last > self._interval:
            sn = self.sns.current.addr
            if peer.sock != NO_SOCK:
                self._send_register(peer.sock, mac, N2N_REGULAR_REG_COOKIE, now)
            self._send_register(sn, mac, N2N_FORWARDED_REG_COOKIE, now)
            self._send(QueryPeer(self.mac, mac), sn, now)
            peer.last_sent_query = now

    # ================================================================ network -> edge

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        """A datagram from the edge's UDP socket (n2n `process_udp`)."""
        fast = self._fast
        if fast is not None and data and data[0] == FAST_MAGIC and fast.receive(data, addr, now):
            return
        try:
            if self._secure is not None:
                opened = self._secure.open(data)
                if opened is None:
                    self.drops["he_decrypt"] += 1
                    return
                data, stamp, static = opened
                if not self._secure.key_ok(data[3] & 0x1F, static):
                    self.drops["wrong_key"] += 1
                    return
            else:
                stamp = None
            if len(data) > 3 and data[3] & 0x1F == MSG_TYPE_PACKET:
                self._rx_packet(data, addr, now, stamp)
            else:
                self._rx_control(data, addr, now, stamp)
        except WireError:
            self.drops["decode"] += 1

    def _rx_packet(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        src, dst, sock, comp, tid, off = decode_packet_header(data)
        if data[4:24] != self._community20:
            self.drops["unknown_community"] += 1
            return
        from_sn = data[3] & N2N_FLAGS_FROM_SUPERNODE
        sn = None
        if from_sn:
            sn = self.sns.current
            if sn.addr != addr:
                sn = self.sns.find_by_addr(addr)
                if sn is None:
                    self.drops["unknown_supernode"] += 1
                    return
        if stamp is not None and not self._secure.check_stamp(  # type: ignore[union-attr]
            sn if from_sn else src, stamp, MSG_TYPE_PACKET
        ):
            self.drops["replay"] += 1
            return
        if self.last_sup is None:
            self.drops["not_registered"] += 1
            return
        if src[0] & 1 or src == self.mac or src == NULL_MAC:
            self.drops["bad_mac"] += 1
            return
        peers = self.peers
        if from_sn:
            orig = _peer_addr(sock) or addr
        else:
            orig = addr
            # direct traffic: the peer is reachable, no longer "pending" (n2n)
            peers.pending.pop(src, None)
        # n2n check_peer_registration_needed
        peer = peers.known.get(src)
        if peer is not None:
            if not from_sn:
                peer.last_p2p = now
            if peer.sock == orig:
                peer.last_seen = now
            elif not from_sn and (
                now - peer.last_seen >= 1.0 or peer.last_cookie < N2N_REGULAR_REG_COOKIE
            ):
                self._known_sock_changed(peer, orig, None, None, now)
        else:
            self._unknown_sender(bool(from_sn), src, None, None, orig, now)
        # n2n handle_PACKET
        if from_sn:
            if dst[0] & 1:
                self.rx_sup_broadcast += 1
            self.rx_sup += 1
            self.last_sup = now
        else:
            self.rx_p2p += 1
            self.last_p2p = now
        if tid != self._tid:
            self.drops["transform_id"] += 1
            return
        try:
            frame = self._transform.decode(data[off:])
        except TransformError:
            self.drops["transform"] += 1
            return
        self.transop_rx += 1
        if comp != N2N_COMPRESSION_ID_NONE:
            frame = self._decompress(comp, frame)
            if frame is None:
                return
        if len(frame) < 14:
            self.drops["short_frame"] += 1
            return
        multicast = (
            frame[0] == 0x01 and frame[1] == 0x00 and frame[2] == 0x5E and frame[3] < 0x80
        ) or (frame[0] == 0x33 and frame[1] == 0x33)
        if multicast:
            if self._drop_multicast:
                self.drops["multicast"] += 1
                return
        elif (
            not self._routing
            and frame[12:14] == _IPV4_ETHERTYPE
            and len(frame) >= 34
            and frame[30:34] != self._ip4
            and frame[:6] != _BROADCAST
        ):
            # only IPv4 unicast addressed to us passes, and broadcast (n2n without -r)
            self.drops["routed"] += 1
            return
        if self._routing:
            host_mac = frame[6:12]
            if not host_mac[0] & 1:
                entry = self.hosts.get(host_mac)
                if entry is not None:
                    entry[0] = src
                    entry[1] = now
                elif len(self.hosts) < EDGE_MAX_BRIDGED_HOSTS:
                    self.hosts[host_mac] = [src, now]
                else:
                    self.drops["hosts_full"] += 1
        self._frames.append(frame)

    def receive_gro(self, buf: bytes, segment: int, addr: Addr, now: float) -> None:
        """A UDP_GRO read: datagrams of `segment` bytes from `addr` back to back."""
        if self._fast is not None:
            self._fast.receive_gro(buf, segment, addr, now, self.receive_datagram)
            return
        for off in range(0, len(buf), segment):
            self.receive_datagram(buf[off : off + segment], addr, now)

    def _decompress(self, comp: int, data: bytes) -> bytes | None:
        """Everyone decompresses whatever a peer chose (n2n), so one decompressor per id."""
        method = self._decompressors.get(comp)
        if method is None:
            try:
                method = make_compression(comp)
            except ValueError:  # unknown id, 0 included
                self.drops["compression"] += 1
                return None
            self._decompressors[comp] = method
        try:
            return method.decompress(data)
        except TransformError:
            self.drops["decompress"] += 1
            return None

    def _rx_control(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        if len(data) > 3 and data[3] & 0x1F == MSG_TYPE_PYN2N_FASTPATH:
            self._rx_fast_hello(data, addr, now, stamp)
            return
        common, msg, _end = decode_with_end(data)
        if data[4:24] != self._community20:
            self.drops["unknown_community"] += 1
            return
        pc = common.pc
        from_sn = common.flags & N2N_FLAGS_FROM_SUPERNODE
        sn = None
        if from_sn:
            sn = self.sns.find_by_addr(addr)
            if sn is None:
                self.drops["unknown_supernode"] += 1
                return
        if pc == MSG_TYPE_REGISTER:
            assert isinstance(msg, Register)
            self._on_register(msg, bool(from_sn), sn, addr, stamp, now)
        elif pc == MSG_TYPE_REGISTER_ACK:
            assert isinstance(msg, RegisterAck)
            self._on_register_ack(msg, sn, addr, stamp, now)
        elif pc == MSG_TYPE_REGISTER_SUPER_ACK:
            assert isinstance(msg, RegisterSuperAck)
            self._on_register_super_ack(msg, sn, stamp, now)
        elif pc == MSG_TYPE_REGISTER_SUPER_NAK:
            assert isinstance(msg, RegisterSuperNak)
            self._on_register_super_nak(msg, sn, stamp, now)
        elif pc == MSG_TYPE_PEER_INFO:
            assert isinstance(msg, PeerInfo)
            self._on_peer_info(msg, common, sn, addr, stamp, now)
        elif pc == MSG_TYPE_RE_REGISTER_SUPER:
            self._on_re_register_super(sn, stamp, now)
        else:
            self.drops["unexpected_type"] += 1

    def _stamp_ok(self, sender: object, stamp: int | None, pc: int, now: float) -> bool:
        if stamp is None or self._secure.check_stamp(sender, stamp, pc):  # type: ignore[union-attr]
            return True
        self.drops["replay"] += 1
        return False

    def _rx_fast_hello(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        """Fast-path negotiation from another pyn2n edge (core/fastpath.py)."""
        if data[4:24] != self._community20:
            self.drops["unknown_community"] += 1
            return
        hello = decode_hello(data)
        if hello is None:
            self.drops["decode"] += 1
            return
        if not self._stamp_ok(hello.src, stamp, MSG_TYPE_PYN2N_FASTPATH, now):
            return
        if self.last_sup is None:
            self.drops["not_registered"] += 1
            return
        if self._fast is not None:
            self._fast.on_hello(data, addr, now)
        elif hello.kind == HELLO_OFFER and hello.dst == self.mac and self._allow_p2p:
            self._send_sealed(refusal(self._community20, self.mac, hello, REFUSE_DISABLED), addr)
        else:
            self.drops["unexpected_type"] += 1

    # -- peer messages -------------------------------------------------------------------------

    def _on_register(
        self,
        reg: Register,
        from_sn: bool,
        sn: Supernode | None,
        addr: Addr,
        stamp: int | None,
        now: float,
    ) -> None:
        """Another edge registers with us, directly or relayed (spec §7.4)."""
        if not self._stamp_ok(sn if from_sn else reg.src_mac, stamp, MSG_TYPE_REGISTER, now):
            return
        orig = _peer_addr(reg.sock) or addr
        if reg.dst_mac != self.mac:
            self.drops["not_for_us"] += 1
            return
        src = reg.src_mac
        if src[0] & 1 or src == self.mac or src == NULL_MAC:
            self.drops["bad_mac"] += 1
            return
        if not from_sn:
            self.peers.pending.pop(src, None)
            self._send(RegisterAck(reg.cookie, src, self.mac), orig, now, p2p=True)
        dev = None
        if reg.dev_addr.net_addr and reg.dev_addr.bitlen:
            dev = (str(ipaddress.IPv4Address(reg.dev_addr.net_addr)), reg.dev_addr.bitlen)
        desc = reg.dev_desc.split(b"\x00", 1)[0].decode("utf-8", "replace")
        peer = self.peers.known.get(src)
        if peer is None:
            self._unknown_sender(from_sn, src, dev, desc, orig, now)
            return
        if not from_sn:
            peer.last_p2p = now
        if dev is not None:
            peer.dev_addr = dev
        peer.desc = desc
        if peer.sock == orig:
            peer.last_seen = now
        elif not from_sn and (now - peer.last_seen >= 1.0 or reg.cookie > peer.last_cookie):
            self._known_sock_changed(peer, orig, dev, desc, now)

    def _unknown_sender(
        self,
        from_sn: bool,
        mac: bytes,
        dev: tuple[str, int] | None,
        desc: str | None,
        orig: Addr,
        now: float,
    ) -> None:
        """A MAC not among the known peers (n2n check_peer_registration_needed, first half)."""
        peers = self.peers
        moved = peers.find_known_by_sock(orig)
        if moved is not None:
            # same socket, new MAC: the edge restarted with another MAC (n2n)
            peers.rename_known(moved, mac)
            moved.last_cookie = 0
            if not from_sn:
                moved.last_p2p = now
            moved.last_seen = now
            return
        self._register_with_new_peer(from_sn, mac, dev, desc, orig, now)

    def _register_with_new_peer(
        self,
        from_sn: bool,
        mac: bytes,
        dev: tuple[str, int] | None,
        desc: str | None,
        sock: Addr,
        now: float,
    ) -> None:
        """n2n `register_with_new_peer`: add to pending and punch (direct + via supernode)."""
        peers = self.peers
        peer = peers.pending.get(mac)
        if peer is None:
            peer = peers.add_pending(mac, sock, now)
            if peer is None:
                self.drops["table_full"] += 1
                return
            self._send_register(sock, mac, N2N_REGULAR_REG_COOKIE, now)
            if from_sn:
                self._send_register(self.sns.current.addr, mac, N2N_FORWARDED_REG_COOKIE, now)
        else:
            peer.sock = sock
        peer.last_seen = now
        if dev is not None:
            peer.dev_addr = dev
        if desc is not None:
            peer.desc = desc

    def _known_sock_changed(
        self,
        peer: Peer,
        sock: Addr,
        dev: tuple[str, int] | None,
        desc: str | None,
        now: float,
    ) -> None:
        """A known peer speaks directly from another socket: it is no longer known (n2n)."""
        self.peers.remove_known(peer.mac)
        self._peer_event(PeerAction.DEL_P2P, peer)
        self._register_with_new_peer(False, peer.mac, dev, desc, sock, now)

    def _on_register_ack(
        self, ack: RegisterAck, sn: Supernode | None, addr: Addr, stamp: int | None, now: float
    ) -> None:
        """A peer answers our REGISTER: pending -> known (n2n peer_set_p2p_confirmed)."""
        if not self._stamp_ok(
            sn if sn is not None else ack.src_mac, stamp, MSG_TYPE_REGISTER_ACK, now
        ):
            return
        if ack.dst_mac != self.mac:
            self.drops["not_for_us"] += 1
            return
        peers = self.peers
        mac = ack.src_mac
        peer = peers.pending.get(mac)
        if peer is None:
            peer = peers.find_pending_by_sock(addr)
            if peer is not None:
                peer.last_cookie = 0
        if peer is None:
            self.drops["register_ack_unknown"] += 1
            return
        del peers.pending[peer.mac]
        other = peers.find_known_by_sock(addr)
        if other is not None:
            # the socket already belongs to a known peer: it changed its MAC (n2n)
            self._peer_event(PeerAction.DEL_P2P, peer)
            if peer.reg_sent is not None:
                other.reg_sent = peer.reg_sent
            peers.rename_known(other, mac)
            other.last_cookie = 0
            peer = other
        else:
            peer.mac = mac
            # ignore ACKs from lower ranked ways for a while (n2n)
            if now - peer.last_seen > PEER_PURGE_TIMEOUT / 4 or ack.cookie > peer.last_cookie:
                peer.sock = addr
                peer.last_cookie = ack.cookie
            if not peers.add_known(peer):
                self.drops["table_full"] += 1
                return
        peer.last_p2p = now
        peer.last_seen = now
        if peer.reg_sent is not None:
            peer.rtt = now - peer.reg_sent
            peer.reg_sent = None
        self._peer_event(PeerAction.ADD_P2P, peer)
        if self._fast is not None:
            self._fast.peer_up(peer, now)

    # -- supernode messages --------------------------------------------------------------------

    def _on_register_super_ack(
        self, ack: RegisterSuperAck, sn: Supernode | None, stamp: int | None, now: float
    ) -> None:
        if not self.sn_wait:
            self.drops["unsolicited"] += 1
            return
        if not self._stamp_ok(
            sn if sn is not None else ack.src_mac, stamp, MSG_TYPE_REGISTER_SUPER_ACK, now
        ):
            return
        cur = self.sns.current
        if ack.cookie != cur.last_cookie:
            self.drops["cookie"] += 1
            return
        if self._secure is not None and not self._secure.accept_ack(ack):
            self.drops["auth"] += 1
            return
        if cur.mac == NULL_MAC:
            cur.mac = ack.src_mac
        cur.last_seen = now
        for entry in ack.supernodes:
            where = _peer_addr(entry.sock)
            if where is not None:
                self.sns.learn(where, entry.mac)
        self.public_sock = (ack.sock.addr, ack.sock.port)
        self.sn_wait = 0
        self._wait_since = None
        self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
        if self.phase == PHASE_AUTOIP:
            if ack.dev_addr.net_addr and 0 < ack.dev_addr.bitlen <= 32:
                ip = str(ipaddress.IPv4Address(ack.dev_addr.net_addr))
                self._set_ip(ip, ack.dev_addr.bitlen)
                net = ipaddress.IPv4Network(f"{ip}/{ack.dev_addr.bitlen}", strict=False)
                self._events.append(
                    IpAssigned(
                        ip4addr=ip,
                        prefix=ack.dev_addr.bitlen,
                        ip4netmask=str(net.netmask),
                        macaddr=mac_to_str(self.mac),
                        supernode=_fmt(cur.addr),
                    )
                )
            else:
                self.drops["no_ip_assigned"] += 1
            self._enter_run(now)
            return
        first = self.last_sup is None
        self.last_sup = now
        if first and self.ip is not None:
            # announce our address, twice like n2n
            arp = gratuitous_arp(self.mac, self._ipint, reply=True)
            self._send_frame(arp, 1, now)
            self._send_frame(arp, 1, now)
        if first or cur is not self._registered_sn:
            self._registered_sn = cur
            self._events.append(
                Registered(
                    supernode=_fmt(cur.addr), first=first, public_sock=_fmt(self.public_sock)
                )
            )

    def _on_register_super_nak(
        self, nak: RegisterSuperNak, sn: Supernode | None, stamp: int | None, now: float
    ) -> None:
        if not self.sn_wait:
            self.drops["unsolicited"] += 1
            return
        if not self._stamp_ok(
            sn if sn is not None else nak.src_mac, stamp, MSG_TYPE_REGISTER_SUPER_NAK, now
        ):
            return
        if nak.cookie != self.sns.current.last_cookie:
            self.drops["cookie"] += 1
            return
        self.reg_super_nak += 1
        if nak.src_mac == self.mac:
            # n2n logs and keeps trying (exiting would allow de-auth attacks)
            why = (
                "username or password not recognised"
                if self.config.user_password
                else "MAC or IP address already in use or not yet released"
            )
            self._events.append(
                RegistrationRefused(supernode=_fmt(self.sns.current.addr), reason=why)
            )

    def _on_peer_info(
        self,
        info: PeerInfo,
        common: Common,
        sn: Supernode | None,
        addr: Addr,
        stamp: int | None,
        now: float,
    ) -> None:
        if sn is None:
            self.drops["not_from_supernode"] += 1
            return
        if not self._stamp_ok(sn, stamp, MSG_TYPE_PEER_INFO, now):
            return
        if info.mac == NULL_MAC:
            # PONG: the answer to our PING (QUERY_PEER with a null target)
            found = self.sns.find(addr, info.src_mac)
            if found is None:
                self.drops["unknown_supernode"] += 1
                return
            found.uptime = info.uptime
            found.version = info.version.split(b"\x00", 1)[0].decode("utf-8", "replace")
            self.sns.on_pong(found, info.load, now, len(self.peers.known) + len(self.peers.pending))
            if self.phase == PHASE_PING:
                self._leave_ping_phase(now)
            elif self.phase == PHASE_AUTOIP:
                self.sns.sort_after_current()
            return
        where = _peer_addr(info.sock)
        if where is None:
            self.drops["invalid_sock"] += 1
            return
        peers = self.peers
        peer = peers.pending.get(info.mac)
        known = False
        if peer is None:
            peer = peers.known.get(info.mac)
            known = peer is not None
        if peer is None:
            self.drops["peer_info_unknown"] += 1
            return
        if known:
            peers.set_known_sock(peer, where)
        else:
            peer.sock = where
        if common.flags & N2N_FLAGS_SOCKET:
            preferred = _peer_addr(info.preferred_sock)
            if preferred is not None:
                peer.preferred_sock = preferred
                self._send_register(preferred, peer.mac, N2N_LOCAL_REG_COOKIE, now)
        self._send_register(where, peer.mac, N2N_REGULAR_REG_COOKIE, now)

    def _on_re_register_super(self, sn: Supernode | None, stamp: int | None, now: float) -> None:
        if not self.config.user_password:
            # only user/password communities change keys on the fly (n2n)
            self.drops["unexpected_type"] += 1
            return
        if not self._stamp_ok(sn or NULL_MAC, stamp, MSG_TYPE_RE_REGISTER_SUPER, now):
            return
        self.sn_wait = 2
        self._rereg_at = now

    # ================================================================ senders

    def _send(self, msg: Message, addr: Addr, now: float, p2p: bool = False) -> None:
        """Encode a control message for our community and queue it."""
        if p2p and not self._allow_p2p:
            return
        self._send_sealed(encode(self._common, msg), addr)

    def _send_sealed(self, data: bytes, addr: Addr) -> None:
        """Queue an already encoded message, header-encrypted with -H."""
        if self._secure is not None:
            data = self._secure.seal(data)
        self._out.append((data, addr))

    def _out_append(self, data: bytes, addr: Addr) -> None:
        self._out.append((data, addr))

    def _send_register(self, addr: Addr, mac: bytes, cookie: int, now: float) -> None:
        """REGISTER to a peer or (cookie FORWARDED) to the supernode for relay; none with -S1."""
        if not self._allow_p2p or addr[1] == 0:
            return
        reg = Register(
            cookie,
            self.mac,
            mac,
            None,
            IpSubnet(self._ipint, self.prefix if self.ip else 0),
            self._desc,
        )
        self._send(reg, addr, now)
        if cookie != N2N_FORWARDED_REG_COOKIE:
            peer = self.peers.pending.get(mac) or self.peers.known.get(mac)
            if peer is not None:
                peer.reg_sent = now

    def _send_register_super(self, now: float, bootstrap: bool = False) -> None:
        sn = self.sns.current
        sn.last_cookie = int.from_bytes(self._rng(4), "big")
        if bootstrap:
            # auto-IP request: null MAC and IP 0, the supernode only draws an address (§7.1)
            mac, dev = NULL_MAC, IpSubnet(0, 0)
        else:
            mac, dev = self.mac, IpSubnet(self._ipint, self.prefix if self.ip else 0)
        auth = self._secure.local_auth() if self._secure is not None else self._auth
        self._send(RegisterSuper(sn.last_cookie, mac, None, dev, self._desc, auth), sn.addr, now)

    def _send_unregister_super(self, now: float) -> None:
        auth = self._secure.local_auth() if self._secure is not None else self._auth
        self._send(UnregisterSuper(auth, self.mac), self.sns.current.addr, now)

    def _send_pings(self, targets: list[Supernode], now: float) -> None:
        ping = QueryPeer(self.mac, NULL_MAC)
        for sn in targets:
            sn.ping_sent = now
            self._send(ping, sn.addr, now)

    def shutdown(self, now: float) -> None:
        """Leaving: tell the current supernode (UNREGISTER_SUPER), as n2n does on exit."""
        self._send_unregister_super(now)
        self.keep_running = False

    # ================================================================ helpers

    def _set_ip(self, ip: str | None, prefix: int) -> None:
        self.ip = ip
        self.prefix = prefix
        if ip is None:
            self._ip4 = bytes(4)
            self._ipint = 0
        else:
            self._ip4 = ipaddress.IPv4Address(ip).packed
            self._ipint = int(ipaddress.IPv4Address(ip))
        if self._fast is not None:
            self._fast.ip4 = self._ip4

    def _peer_event(self, action: PeerAction, peer: Peer) -> None:
        self._events.append(PeerEvent(action, mac_to_str(peer.mac), _fmt(peer.sock)))

    def _wall(self, t: float | None, now: float) -> int:
        """A monotonic time as management shows it: wall-clock seconds if we can, 0 = never."""
        if t is None:
            return 0
        if self._wall_clock is None:
            return int(t)
        return int(self._wall_clock() - now + t)

    # ================================================================ management (spec §8)

    def mgmt_communities(self, now: float) -> list[dict[str, Any]]:
        if self.config.header_encryption:
            raise MgmtError("noaccess")
        return [{"community": self.config.community}]

    def mgmt_edges(self, now: float) -> list[dict[str, Any]]:
        rows = [self._edge_row(p, "pSp", now) for p in self.peers.pending.values()]
        rows += [self._edge_row(p, "p2p", now) for p in self.peers.known.values()]
        return rows

    def _edge_row(self, peer: Peer, mode: str, now: float) -> dict[str, Any]:
        return {
            "mode": mode,
            "ip4addr": "" if peer.dev_addr is None else f"{peer.dev_addr[0]}/{peer.dev_addr[1]}",
            "purgeable": int(peer.purgeable),
            "local": int(peer.local),
            "macaddr": mac_to_str(peer.mac),
            "sockaddr": _fmt(peer.sock),
            "desc": peer.desc,
            "last_p2p": self._wall(peer.last_p2p, now),
            "last_sent_query": self._wall(peer.last_sent_query, now),
            "last_seen": self._wall(peer.last_seen, now),
        }

    def mgmt_supernodes(self, now: float) -> list[dict[str, Any]]:
        rows = []
        for sn in self.sns:
            current = 0
            if sn is self.sns.current:
                current = 2 if self.sn_wait else 1
            rows.append(
                {
                    "version": sn.version,
                    "purgeable": int(sn.purgeable),
                    "current": current,
                    "macaddr": "" if sn.mac == NULL_MAC else mac_to_str(sn.mac),
                    "sockaddr": _fmt(sn.addr),
                    "selection": self.sns.selection_text(sn),
                    "last_seen": self._wall(sn.last_seen, now),
                    "uptime": sn.uptime,
                }
            )
        return rows

    def mgmt_info(self, now: float) -> list[dict[str, Any]]:
        netmask = "0.0.0.0"
        if self.ip is not None:
            netmask = str(ipaddress.IPv4Network(f"0.0.0.0/{self.prefix}").netmask)
        return [
            {
                "version": __version__,
                "macaddr": mac_to_str(self.mac),
                "ip4addr": self.ip or "0.0.0.0",
                "ip4netmask": netmask,
                "sockaddr": _fmt(self.public_sock) or "0.0.0.0:0",
            }
        ]

    def mgmt_timestamps(self, now: float) -> list[dict[str, Any]]:
        return [
            {
                "start_time": self._wall(self.start_time, now),
                "last_super": self._wall(self.last_sup, now),
                "last_p2p": self._wall(self.last_p2p, now),
            }
        ]

    def mgmt_packetstats(self, now: float) -> list[dict[str, Any]]:
        # fast-path frames count as the wire frames they stand for (a super-frame: its segments)
        fast_tx = fast_rx = 0
        if self._fast is not None:
            fast_tx, fast_rx = self._fast.tx_packets, self._fast.rx_packets
        return [
            {
                "type": "transop",
                "tx_pkt": self.transop_tx + fast_tx,
                "rx_pkt": self.transop_rx + fast_rx,
            },
            {"type": "p2p", "tx_pkt": self.tx_p2p + fast_tx, "rx_pkt": self.rx_p2p + fast_rx},
            {"type": "super", "tx_pkt": self.tx_sup, "rx_pkt": self.rx_sup},
            {
                "type": "super_broadcast",
                "tx_pkt": self.tx_sup_broadcast,
                "rx_pkt": self.rx_sup_broadcast,
            },
        ]

    def mgmt_peers(self, now: float) -> list[dict[str, Any]]:
        """Per peer: does our traffic to it go direct or via the supernode, and why (pyn2n)."""
        rows = []
        for state, table in (("pending", self.peers.pending), ("known", self.peers.known)):
            for peer in table.values():
                last = peer.last_p2p
                age = None if last is None else round(now - last, 3)
                direct = state == "known" and age is not None and age < self._p2p_fresh
                if direct:
                    why = ""
                elif not self._allow_p2p:
                    why = "p2p disabled (-S1)"
                elif state == "known":
                    why = f"no direct traffic for {self._p2p_fresh:g} s"
                elif peer.reg_sent is not None:
                    why = "no REGISTER_ACK to our REGISTER yet"
                elif peer.sock == NO_SOCK:
                    why = "socket unknown: asked the supernode (QUERY_PEER)"
                else:
                    why = "not yet registered"
                rows.append(
                    {
                        "macaddr": mac_to_str(peer.mac),
                        "ip4addr": "" if peer.dev_addr is None else peer.dev_addr[0],
                        "desc": peer.desc,
                        "state": state,
                        "path": "direct" if direct else "relayed",
                        "reason": why,
                        "last_direct_age": age,
                        "rtt_ms": None if peer.rtt is None else round(peer.rtt * 1000, 3),
                        "sockaddr": _fmt(peer.sock),
                        "preferred_sockaddr": _fmt(peer.preferred_sock),
                        "last_seen_age": round(now - peer.last_seen, 3),
                        "fastpath": "off" if self._fast is None else self._fast.status(peer.mac),
                    }
                )
        return rows

    def mgmt_drops(self, now: float) -> list[dict[str, Any]]:
        return [{"reason": r, "count": n} for r, n in sorted(self.drops.items())]

    def status_text(self, now: float) -> str:
        """n2n's legacy text status (any non-command datagram on the management port)."""
        lines = [
            "COMMUNITY '%s'\n"
            % (
                "-- header encrypted --" if self.config.header_encryption else self.config.community
            ),
            " ### | TAP             | MAC               | EDGE                  | HINT            | LAST SEEN |     UPTIME",
            "=" * 109,
            "SUPERNODE FORWARD",
        ]

        def peer_line(i: int, p: Peer) -> str:
            tap = "" if p.dev_addr is None else p.dev_addr[0]
            return (
                f"{i:4d} | {tap:<15} | {mac_to_str(p.mac):<17} | {_fmt(p.sock):<21} | "
                f"{p.desc:<15} | {int(now - p.last_seen):9d} |"
            )

        for i, p in enumerate(self.peers.pending.values(), 1):
            lines.append(peer_line(i, p))
        lines += ["-" * 109, "PEER TO PEER"]
        for i, p in enumerate(self.peers.known.values(), 1):
            lines.append(peer_line(i, p))
        lines += ["-" * 109, "SUPERNODES"]
        for sn in self.sns:
            mark = "." if self.sn_wait else "*"
            seen = "" if sn.last_seen is None else f"{int(now - sn.last_seen):9d}"
            lines.append(
                f"{sn.version:<19} {'' if sn.purgeable else 'l':1}"
                f"{mark if sn is self.sns.current else '':1} | "
                f"{'' if sn.mac == NULL_MAC else mac_to_str(sn.mac):<17} | {_fmt(sn.addr):<21} | "
                f"{self.sns.selection_text(sn):<15} | {seen:>9} | {sn.uptime or '':>10}"
            )

        def ago(t: float | None) -> str:
            return "never" if t is None else f"{int(now - t)} sec ago"

        lines += [
            "=" * 109,
            f"uptime {int(now - self.start_time)} | pend_peers {len(self.peers.pending)} | "
            f"known_peers {len(self.peers.known)} | transop {self.transop_tx},{self.transop_rx}",
            f"super {self.tx_sup},{self.rx_sup} | p2p {self.tx_p2p},{self.rx_p2p}",
            f"last_super {ago(self.last_sup)} | last_p2p {ago(self.last_p2p)}",
            "",
            'Type "help" to see more commands.',
            "",
        ]
        return "\n".join(lines) + "\n"
