"""Registration with the supernodes (spec §7.1, §7.2; n2n `update_supernode_reg`,
`sort_supernodes`): the bootstrap phases (PING the supernodes, ask for an address), the
REGISTER_SUPER timer with its retries and give-up, the 30 s supernode sweep, and the answers
REGISTER_SUPER_ACK/_NAK, PONG and RE_REGISTER_SUPER. Selection rules live in
`core/selection.py`; every deadline is stored once (`next_register`, `next_sweep`).
A NAK for an address that came from auto-IP sends the edge back to ask for another; silence
from every supernode for 10 s and NAKs are warnings naming the cause and the fix.

Silent supernode loss (a dead host answers nothing, not even ICMP): with a standby to move to,
the edge PINGs its supernode after `--sn-probe` seconds (PROBE_IDLE, 2.5, by default; 0: no
probe) without an answer from it, and gives it up when PROBE_TRIES PINGs PROBE_SPACING apart all
go unanswered — at most 4 s after the loss by default instead of the next registration plus
three tries (up to 26 s). The cost at idle, when nothing else came from the supernode: one PING
and its PONG per idle time (docs/edge.md)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable

from pyn2n.constants import (
    BOOTSTRAP_TIMEOUT,
    N2N_EDGE_SUP_ATTEMPTS,
    NUMBER_SN_PINGS_INITIAL,
    REGISTER_SUPER_INTERVAL_DFL,
    SN_SELECTION_PING_COUNT,
    SWEEP_TIME,
)
from pyn2n.core.edge.discovery import after_give_up
from pyn2n.core.edge.state import EdgeState, Phase, RxContext, SnWait, fmt, peer_addr
from pyn2n.core.edge_config import SN_PROBE_IDLE
from pyn2n.core.events import IpAssigned, Registered, RegistrationRefused, SupernodeChanged
from pyn2n.core.selection import NULL_MAC, KnownSupernode
from pyn2n.wire.eth import gratuitous_arp
from pyn2n.wire.messages import (
    PeerInfo,
    QueryPeer,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    UnregisterSuper,
)
from pyn2n.wire.types import IpSubnet, Sock, mac_to_str

SILENCE_WARN = 10.0  # seconds without any answer from a supernode before the warning
# the liveness probe of the current supernode (only with another supernode to move to)
PROBE_IDLE = SN_PROBE_IDLE  # seconds without an answer from it before a PING (--sn-probe)
PROBE_SPACING = 0.5  # between the PINGs of one probe
PROBE_TRIES = 3  # unanswered PINGs that give the supernode up


class Registration:
    """The registration state machine: phase, `sn_wait`, attempts and their deadlines."""

    def __init__(self, st: EdgeState, now: float) -> None:
        self.st = st
        self.sn_wait = SnWait.WAITING
        self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
        self.give_ups = 0  # supernodes given up on without a direct peer (socket re-open)
        self.last_register_req: float | None = None  # minus a random offset after RE_REGISTER
        self.reg_sent_at = now  # when the last REGISTER_SUPER really left (retry timing)
        self.rereg_at = now
        self.wait_since: float | None = None
        self.next_register = now
        self.next_sweep = now + SWEEP_TIME
        self.public_sock: tuple[str, int] | None = None
        self.registered_sn: KnownSupernode | None = None
        self.ping_count = NUMBER_SN_PINGS_INITIAL
        self.reg_super_nak = 0
        self.heard_at = now  # last answer (ACK, NAK, PONG) from any supernode
        self.sn_heard = now  # last answer from the current supernode (the probe's base)
        self.probes = 0  # PINGs of the running probe, unanswered so far
        # --sn-probe: the idle time before a PING (0 turns the probe off: never)
        self.probe_idle = st.config.sn_probe or math.inf
        self.next_probe = now + self.probe_idle
        self.probe_pings = 0  # PINGs the probe sent, for the management counters
        # gratuitous ARPs after the first registration go out like TAP frames (the data path)
        self.send_frame: Callable[[bytes, int, float], None] = lambda frame, group, now: None
        multi = len(st.sns) > 1 and not st.config.user_password
        self.phase = Phase.PING if multi else (Phase.AUTOIP if st.config.auto_ip else Phase.RUN)
        self.boot_deadline = now  # first handle_timer starts the bootstrap
        if self.phase is Phase.RUN:
            self.enter_run(now, register=False)  # the first handle_timer registers

    def _plan(self) -> None:
        """Store the next REGISTER_SUPER deadline after any change of the state behind it."""
        last = self.last_register_req
        if self.sn_wait is SnWait.REREGISTER or last is None:
            self.next_register = self.rereg_at
        elif self.sn_wait:
            self.next_register = self.reg_sent_at + self.st.interval / 10
        else:
            self.next_register = last + self.st.interval

    def sn_unreachable(self, now: float) -> bool:
        """The outstanding REGISTER_SUPER has gone unanswered for interval/10 (2 s)."""
        wait_since = self.wait_since
        return (
            bool(self.sn_wait)
            and wait_since is not None
            and now - wait_since >= self.st.interval / 10
        )

    def heard_current(self, now: float) -> None:
        """An answer from the current supernode: the probe starts over (none is needed without
        another supernode to move to)."""
        self.sn_heard = now
        self.probes = 0
        self.next_probe = now + self.probe_idle if len(self.st.sns) > 1 else math.inf

    def probe_timer(self, now: float) -> None:
        """Between registrations: PING a supernode that said nothing for `probe_idle`, give it
        up after PROBE_TRIES unanswered PINGs (the next REGISTER_SUPER goes to the best other)."""
        if now < self.next_probe:
            return
        st = self.st
        if self.sn_wait or self.phase is not Phase.RUN or len(st.sns) < 2:
            # registration retries watch it meanwhile; nowhere to go with one supernode
            self.heard_current(now)
            return
        if self.probes >= PROBE_TRIES:
            self.probes = 0
            self.sup_attempts = 0  # register_timer gives it up and registers elsewhere
            self.next_register = now
            self.register_timer(now)
            self.next_probe = now + self.probe_idle
            return
        self.probes += 1
        self.probe_pings += 1
        self.send_pings([st.sns.current], now)
        self.next_probe = now + PROBE_SPACING

    # -- bootstrap ---------------------------------------------------------------------------

    def _check_silence(self, now: float) -> None:
        """No answer from any supernode for 10 s: say so, naming where we send."""
        if self.phase is not Phase.RUN:
            since = self.heard_at
        elif self.sn_wait and self.wait_since is not None:
            since = max(self.wait_since, self.heard_at)  # our first unanswered REGISTER_SUPER
        else:
            return
        quiet = now - since
        if quiet < SILENCE_WARN:
            return
        st = self.st
        where = ", ".join(fmt(sn.addr) for sn in list(st.sns)[:4])
        st.warn(
            "no_supernode_answer",
            None,
            now,
            f"no answer from any supernode for {quiet:.0f} s: is {where} reachable over UDP? "
            f"(a supernode also stays silent for a community it does not serve: is "
            f"{st.config.community!r} in its community file?)",
        )

    def bootstrap_timer(self, now: float) -> None:
        if now < self.boot_deadline:
            return
        self._check_silence(now)
        if self.phase is Phase.PING:
            self.send_pings(self.st.sns.ping_targets(NUMBER_SN_PINGS_INITIAL, self.st.rng), now)
        else:
            if self.last_register_req is not None:  # timed out: try the next one (n2n)
                self.st.sns.next_after_current()
            self.send_register_super(now, bootstrap=True)
            self.last_register_req = now
        self.boot_deadline = now + BOOTSTRAP_TIMEOUT

    def _leave_ping_phase(self, now: float) -> None:
        """First PONG during bootstrap: take the best supernode, go on (n2n runlevel 1 -> 2)."""
        self.st.sns.select_best()
        if self.st.config.auto_ip:
            self.phase = Phase.AUTOIP
            self.send_register_super(now, bootstrap=True)
            self.last_register_req = now
            self.boot_deadline = now + BOOTSTRAP_TIMEOUT
        else:
            self.enter_run(now)

    def enter_run(self, now: float, register: bool = True) -> None:
        """End of bootstrap (n2n edge.c after runlevel 4); the first REGISTER_SUPER follows."""
        self.phase = Phase.RUN
        self.ping_count = NUMBER_SN_PINGS_INITIAL
        self.st.sns.reset_criteria(0, self.st.config.header_encryption)
        self.st.sns.sort()
        # first regular PING round 6 s from now (n2n: last_sweep = now - SWEEP_TIME + 2 * 3)
        self.next_sweep = (now - SWEEP_TIME + 2 * BOOTSTRAP_TIMEOUT) + SWEEP_TIME
        self.sn_wait = SnWait.WAITING
        self.last_register_req = None  # REGISTER_SUPER at once
        self.rereg_at = now
        self._plan()
        if register:
            self.register_timer(now)

    # -- running -----------------------------------------------------------------------------

    def register_timer(self, now: float) -> None:
        """n2n `update_supernode_reg`: (re-)register, retry, give up on a supernode."""
        if now < self.next_register:
            return
        st = self.st
        wait = self.sn_wait
        off = 0.0
        if wait is SnWait.REREGISTER:
            # spread the re-registrations of all edges after a key change (n2n)
            off = (int.from_bytes(st.rng(4), "big") / 2**32) * st.interval * 3 / 4
        if self.sup_attempts == 0:
            old = st.sns.current
            new = st.sns.give_up_current()
            self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
            self.give_ups = after_give_up(st, self.give_ups)  # may ask for a socket re-open
            if new is not old:
                st.events.append(SupernodeChanged(fmt(old.addr), fmt(new.addr), "unresponsive"))
        else:
            self.sup_attempts -= 1
        self.send_register_super(now)
        if wait is SnWait.WAITING:
            # no answer from the supernode: keep the direct paths alive ourselves (n2n)
            for peer in list(st.peers.known.values()):
                if now - peer.last_seen > REGISTER_SUPER_INTERVAL_DFL:
                    st.send_register(peer.sock, peer.mac, peer.last_cookie, now)
        if not self.sn_wait or self.wait_since is None:
            self.wait_since = now
        self.sn_wait = SnWait.WAITING
        self.last_register_req = now - off
        self.reg_sent_at = now
        self._plan()
        self._check_silence(now)

    def sweep_timer(self, now: float) -> None:
        """n2n `sort_supernodes`, every 30 s: switch to the best, then PING for the next round."""
        if now < self.next_sweep:
            return
        st = self.st
        sns = st.sns
        if not self.sn_wait:
            sns.sort()
        best = sns.entries[0]
        if sns.current is not best:
            old = sns.current
            self.send_unregister_super()
            sns.current = best
            self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
            self.send_register_super(now)
            self.last_register_req = self.reg_sent_at = now
            if not self.sn_wait:
                self.wait_since = now
            self.sn_wait = SnWait.WAITING
            self._plan()
            st.events.append(SupernodeChanged(fmt(old.addr), fmt(best.addr), "selection"))
        sns.reset_criteria(len(st.peers.pending), st.config.header_encryption)
        self.send_pings(sns.ping_targets(self.ping_count, st.rng), now)
        self.ping_count = SN_SELECTION_PING_COUNT
        self.next_sweep = now + SWEEP_TIME

    # -- answers from the supernodes -----------------------------------------------------------

    def on_super_ack(self, ctx: RxContext, ack: RegisterSuperAck) -> None:
        st = self.st
        cur = st.sns.current
        if ack.cookie != cur.last_cookie:
            st.drops["cookie"] += 1
            return
        if st.secure is not None and not st.secure.accept_ack(ack):
            st.drops["auth"] += 1
            return
        now = ctx.now
        self.heard_at = now
        if cur.mac == NULL_MAC:
            cur.mac = ack.src_mac
        cur.last_seen = now
        for entry in ack.supernodes:
            where = peer_addr(entry.sock, st.ipv6)
            if where is not None:
                st.sns.learn(where, entry.mac)
        self.heard_current(now)  # (after learning: a standby to move to makes the probe run)
        self.public_sock = (ack.sock.addr, ack.sock.port)
        self.sn_wait = SnWait.REGISTERED
        self.wait_since = None
        self.sup_attempts = N2N_EDGE_SUP_ATTEMPTS
        self._plan()
        if self.phase is Phase.AUTOIP:
            self._take_address(ack, cur)
            self.enter_run(now)
            return
        first = st.last_sup is None
        st.last_sup = now
        if first and st.ip is not None:
            # announce our address, twice like n2n
            arp = gratuitous_arp(st.mac, st.ipint, reply=True)
            self.send_frame(arp, 1, now)
            self.send_frame(arp, 1, now)
        if first or cur is not self.registered_sn:
            self.registered_sn = cur
            st.events.append(
                Registered(supernode=fmt(cur.addr), first=first, public_sock=fmt(self.public_sock))
            )

    def _take_address(self, ack: RegisterSuperAck, cur: KnownSupernode) -> None:
        """The auto-IP answer: our address, announced so the driver configures the TAP."""
        st = self.st
        bits = ack.dev_addr.bitlen
        if not (ack.dev_addr.net_addr and 0 < bits <= 32):
            st.drops["no_ip_assigned"] += 1
            return
        ip = str(ipaddress.IPv4Address(ack.dev_addr.net_addr))
        if ip == st.ip and bits == st.prefix:
            return  # asked again (refused) and got the same: nothing to re-address
        st.set_ip(ip, bits)
        net = ipaddress.IPv4Network(f"{ip}/{bits}", strict=False)
        st.events.append(
            IpAssigned(
                ip4addr=ip,
                prefix=bits,
                ip4netmask=str(net.netmask),
                macaddr=mac_to_str(st.mac),
                supernode=fmt(cur.addr),
            )
        )

    def on_super_nak(self, ctx: RxContext, nak: RegisterSuperNak) -> None:
        st = self.st
        if nak.cookie != st.sns.current.last_cookie:
            st.drops["cookie"] += 1
            return
        self.reg_super_nak += 1
        self.heard_at = ctx.now
        self.heard_current(ctx.now)
        if nak.src_mac != st.mac:
            return
        # n2n logs and keeps trying (exiting would allow de-auth attacks)
        sn = fmt(st.sns.current.addr)
        config = st.config
        if config.user_password:
            why = "username or password not recognised"
            user = config.username or config.desc
            text = (
                f"supernode {sn} refused user {user!r} in community {config.community!r}: "
                f"wrong -J password, or -I {user} is not in its community file"
            )
        else:
            why = "MAC or IP address already in use or not yet released"
            text = (
                f"supernode {sn} refused us in community {config.community!r}: our MAC "
                f"{mac_to_str(st.mac)} or address {st.ip} is registered by another edge"
            )
            if config.auto_ip and self.phase is Phase.RUN:
                text += "; asking for another address"
            else:
                text += " (change -a or -m; a restarted edge's old entry expires after 60 s)"
        st.events.append(RegistrationRefused(supernode=sn, reason=why))
        st.warn("registration_refused", sn, ctx.now, text)
        if config.auto_ip and not config.user_password and self.phase is Phase.RUN:
            self._ask_again(ctx.now)

    def _ask_again(self, now: float) -> None:
        """Our auto-IP address is taken: back to the auto-IP phase for another (the new
        `IpAssigned` makes the driver re-address the TAP). The request leaves at the pace of a
        refused registration's retries (2 s), so a NAK for our MAC cannot make a fast loop."""
        self.phase = Phase.AUTOIP
        self.last_register_req = None  # the first request goes to the current supernode
        self.boot_deadline = now + self.st.interval / 10

    def on_pong(self, ctx: RxContext, info: PeerInfo) -> None:
        """The answer to our PING (QUERY_PEER with a null target)."""
        st = self.st
        found = st.sns.find(ctx.addr, info.src_mac)
        if found is None:
            st.drops["unknown_supernode"] += 1
            return
        found.uptime = info.uptime
        self.heard_at = ctx.now
        if found is st.sns.current and self.probes:
            # the probe's answer: alive; selection keeps the sweep's measurements
            found.last_seen = ctx.now
            self.heard_current(ctx.now)
            return
        if found is st.sns.current:
            self.heard_current(ctx.now)
        found.version = info.version.split(b"\x00", 1)[0].decode("utf-8", "replace")
        peers = st.peers
        st.sns.on_pong(found, info.load, ctx.now, len(peers.known) + len(peers.pending))
        if self.phase is Phase.PING:
            self._leave_ping_phase(ctx.now)
        elif self.phase is Phase.AUTOIP:
            st.sns.sort_after_current()

    def on_re_register(self, ctx: RxContext, msg: ReRegisterSuper) -> None:
        """New keys in a user/password community: register again at once."""
        self.sn_wait = SnWait.REREGISTER
        self.rereg_at = ctx.now
        self._plan()

    # -- senders -------------------------------------------------------------------------------

    def send_register_super(self, now: float, bootstrap: bool = False) -> None:
        st = self.st
        sn = st.sns.current
        sn.last_cookie = int.from_bytes(st.rng(4), "big")
        if bootstrap:
            # auto-IP request: null MAC and IP 0, the supernode only draws an address (§7.1)
            mac, dev = NULL_MAC, IpSubnet(0, 0)
        else:
            mac, dev = st.mac, st.dev_addr()
        auth = st.secure.local_auth() if st.secure is not None else st.auth
        pref = st.config.preferred_sock  # -e: peers on our LAN REGISTER there (LOCAL cookie)
        sock = Sock(*pref) if pref is not None else None
        st.send(RegisterSuper(sn.last_cookie, mac, sock, dev, st.desc, auth), sn.addr)

    def send_unregister_super(self) -> None:
        st = self.st
        auth = st.secure.local_auth() if st.secure is not None else st.auth
        st.send(UnregisterSuper(auth, st.mac), st.sns.current.addr)

    def send_pings(self, targets: list[KnownSupernode], now: float) -> None:
        ping = QueryPeer(self.st.mac, NULL_MAC)
        for sn in targets:
            sn.ping_sent = now
            self.st.send(ping, sn.addr)
