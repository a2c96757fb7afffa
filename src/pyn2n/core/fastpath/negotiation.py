"""Fast-path negotiation and session life cycle: OFFER after a peer answered our REGISTER,
ACCEPT or REFUSE, CONFIRM under the new keys, glare (the lower MAC's OFFER wins), retries,
replacing and ending sessions. Protocol: docs/fastpath.md ("Negotiation")."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyn2n.core.api import Addr
from pyn2n.core.fastpath.framing import CTL_CONFIRM, CTL_KEEPALIVE
from pyn2n.core.fastpath.keys import derive_keys, make_aead
from pyn2n.core.fastpath.policy import (
    KEEPALIVE,
    OFFER_ATTEMPTS,
    OLD_SESSION_GRACE,
    SESSION_IDLE,
    TICK,
)
from pyn2n.core.fastpath.send import Sender
from pyn2n.core.fastpath.session import (
    ANSWERED,
    CONFIRMING,
    ESTABLISHED,
    OFFERING,
    PeerState,
    Role,
    Session,
)
from pyn2n.core.peers import KEYS_DIFFER, Peer
from pyn2n.wire.hello import (
    AEAD_NONE,
    CAP_GSO,
    FASTPATH_VERSION,
    HELLO_ACCEPT,
    HELLO_OFFER,
    REFUSE_CAPABILITY,
    REFUSE_DISABLED,
    REFUSE_MISMATCH,
    REFUSE_TEXT,
    Hello,
    decode_hello,
    encode_hello,
    refusal,
)

if TYPE_CHECKING:
    from pyn2n.core.kernelpath import KernelPath


class Negotiation(Sender):
    """Negotiation and life cycle (a layer of `FastPath`; its constructor sets these)."""

    mac: bytes
    community20: bytes
    aead: int
    enabled: bool
    states: dict[bytes, PeerState]
    _passphrase: bytes
    _rng: Callable[[int], bytes]
    _send_hello: Callable[[bytes, Addr], None]
    _next_tick: float | None
    kernel: KernelPath | None = None  # the kernel path rides on established sessions

    def _ext(self) -> bytes:
        return b"" if self.kernel is None else self.kernel.hello_ext()

    def peer_up(self, peer: Peer, now: float) -> None:
        """`peer` answered our REGISTER: offer it the fast path unless one is running."""
        if not self.enabled:
            return
        st = self.states.get(peer.mac)
        if st is None:
            st = self.states[peer.mac] = PeerState()
        elif (st.cur is not None and st.cur.peer is peer and st.cur.addr == peer.sock) or (
            st.next is not None and st.next.peer is peer and st.next.addr == peer.sock
        ):
            return
        sess = Session(peer.mac, peer, self._new_conn(), Role.OFFERER, now)
        sess.offer = Hello(
            HELLO_OFFER,
            self.mac,
            peer.mac,
            self.aead,
            CAP_GSO,
            sess.rx_conn,
            self._rng(16),
            ext=self._ext(),
        )
        self._replace_next(st, sess)
        st.note = "offered"
        self._retry(sess, now)
        self._schedule(now)

    def on_hello(self, data: bytes, addr: Addr, now: float) -> None:
        """A negotiation message (header already decrypted, community checked)."""
        hello = decode_hello(data)
        if hello is None:
            self.drops["fast_hello"] += 1
            return
        if hello.dst != self.mac or hello.src[0] & 1 or hello.src == self.mac:
            self.drops["not_for_us"] += 1
            return
        if hello.kind == HELLO_OFFER:
            self._on_offer(hello, addr, now)
        elif hello.kind == HELLO_ACCEPT:
            self._on_accept(hello, addr, now)
        else:
            self._on_refuse(hello, now)

    def _refuse_reason(self, offer: Hello) -> int:
        """Why we cannot take `offer` (0: we can)."""
        if not self.enabled:
            return REFUSE_DISABLED
        if offer.version != FASTPATH_VERSION or offer.aead != self.aead:
            return REFUSE_MISMATCH
        if not offer.info & CAP_GSO:
            return REFUSE_CAPABILITY
        return 0

    def _on_offer(self, offer: Hello, addr: Addr, now: float) -> None:
        reason = self._refuse_reason(offer)
        if reason:
            self._send_hello(refusal(self.community20, self.mac, offer, reason), addr)
            return
        peer = self.peers.known.get(offer.src)
        if peer is None or peer.sock != addr:
            # not (yet) a direct peer here: the offerer tries again
            self.drops["fast_unknown_peer"] += 1
            return
        st = self.states.get(offer.src)
        if st is None:
            st = self.states[offer.src] = PeerState()
        for sess in (st.next, st.cur):
            if (
                sess is not None
                and sess.role is Role.ANSWERER
                and sess.offer is not None
                and sess.offer.offer_salt == offer.offer_salt
            ):
                if sess.reply:  # a repeated OFFER: our ACCEPT got lost
                    self._send_hello(sess.reply, addr)
                return
        nxt = st.next
        if nxt is not None and nxt.state is OFFERING and self.mac < offer.src:
            self.drops["fast_glare"] += 1  # both offered: ours wins, they answer it
            return
        sess = Session(offer.src, peer, self._new_conn(), Role.ANSWERER, now)
        accept = Hello(
            HELLO_ACCEPT,
            self.mac,
            offer.src,
            self.aead,
            CAP_GSO,
            sess.rx_conn,
            offer.offer_salt,
            self._rng(16),
            ext=self._ext(),
        )
        sess.offer = offer
        sess.peer_ext = offer.ext
        sess.tx_conn = offer.conn
        self._keys(sess, offer, accept, offerer=False)
        sess.reply = encode_hello(self.community20, accept)
        self._replace_next(st, sess)
        st.note = "answered"
        self._send_hello(sess.reply, addr)
        self._schedule(now)

    def _on_accept(self, accept: Hello, addr: Addr, now: float) -> None:
        st = self.states.get(accept.src)
        sess = None if st is None else st.next
        if (
            st is None
            or sess is None
            or sess.state is not OFFERING
            or sess.offer is None
            or accept.offer_salt != sess.offer.offer_salt
            or addr != sess.addr
        ):
            self.drops["fast_stale_hello"] += 1
            return
        if accept.aead != self.aead or accept.version != FASTPATH_VERSION:
            self._end(st, sess, REFUSE_TEXT[REFUSE_MISMATCH])
            return
        sess.tx_conn = accept.conn
        sess.peer_ext = accept.ext
        self._keys(sess, sess.offer, accept, offerer=True)
        sess.state = CONFIRMING
        sess.attempts = 0
        st.note = "confirming"
        self._retry(sess, now)

    def _on_refuse(self, refuse: Hello, now: float) -> None:
        st = self.states.get(refuse.src)
        sess = None if st is None else st.next
        if (
            st is None
            or sess is None
            or sess.offer is None
            or refuse.offer_salt != sess.offer.offer_salt
        ):
            self.drops["fast_stale_hello"] += 1
            return
        self._end(st, sess, "refused: " + REFUSE_TEXT.get(refuse.info, f"reason {refuse.info}"))

    def _keys(self, sess: Session, offer: Hello, accept: Hello, offerer: bool) -> None:
        if self.aead == AEAD_NONE:
            return
        fwd, back = derive_keys(self._passphrase, self.aead, offer, accept)
        tx, rx = (fwd, back) if offerer else (back, fwd)
        sess.tx_aead = make_aead(self.aead, tx)
        sess.rx_aead = make_aead(self.aead, rx)

    def _new_conn(self) -> int:
        while True:
            conn = int.from_bytes(self._rng(4), "big")
            if conn and conn not in self.by_conn:
                return conn

    # ---------------------------------------------------------------- life cycle

    def _schedule(self, now: float) -> None:
        if self._next_tick is None:
            self._next_tick = now + TICK

    def _retry(self, sess: Session, now: float) -> None:
        sess.attempts += 1
        sess.next_try = now + TICK * (1 << min(sess.attempts, 3))
        if sess.state is OFFERING:
            assert sess.offer is not None
            self._send_hello(encode_hello(self.community20, sess.offer), sess.addr)
        else:
            self._control(sess, CTL_CONFIRM, now)

    def _replace_next(self, st: PeerState, sess: Session) -> None:
        if st.next is not None:
            self._forget(st.next)
        st.next = sess
        self.by_conn[sess.rx_conn] = sess

    def _forget(self, sess: Session) -> None:
        if self.by_conn.get(sess.rx_conn) is sess:
            del self.by_conn[sess.rx_conn]

    def _end(self, st: PeerState, sess: Session, why: str) -> None:
        """Stop using `sess`: the standard path takes over."""
        self._forget(sess)
        if st.cur is sess:
            if self.kernel is not None:
                self.kernel.session_down(sess.mac, why)
            st.cur = None
            if self.tx.get(sess.mac) is sess:
                del self.tx[sess.mac]
        if st.next is sess:
            st.next = None
        st.note = why

    def _establish(self, st: PeerState, sess: Session, now: float) -> None:
        if st.next is sess:
            st.next = None
        old = st.cur
        if old is not None and old is not sess:
            if st.old is not None:
                self._forget(st.old)
            st.old, st.old_until = old, now + OLD_SESSION_GRACE
        st.cur = sess
        st.note = ""
        sess.state = ESTABLISHED
        self.tx[sess.mac] = sess
        if self.kernel is not None:
            self.kernel.session_up(sess.mac, sess.addr, sess.peer_ext, now)
        if sess.role is Role.ANSWERER:
            self._control(sess, CTL_CONFIRM, now)  # establishes the offerer

    def _expire(self, st: PeerState, peer: Peer | None, now: float) -> None:
        """End sessions whose direct path changed or went silent; expire stale reassembly."""
        for sess in (st.cur, st.next):
            if sess is None:
                continue
            if peer is not sess.peer or peer.sock != sess.addr:
                self._end(st, sess, "the direct path changed")
            elif sess.state in (ESTABLISHED, ANSWERED) and now - sess.last_rx > SESSION_IDLE:
                # its datagrams arrive but do not authenticate: say so, not "no answer"
                bad = sess.peer.trouble is not None and sess.peer.trouble[1] == KEYS_DIFFER
                self._end(st, sess, "keys differ" if bad else "no answer on the fast path")
            elif sess.partial:
                expired = sess.expire_partials(now)
                if expired:
                    self.drops["fast_incomplete"] += expired

    def _tick_peer(self, mac: bytes, st: PeerState, now: float) -> None:
        """Once per TICK: expiry, retries and keep-alives of one peer's sessions."""
        peer = self.peers.known.get(mac)
        if st.old is not None and now >= st.old_until:
            self._forget(st.old)
            st.old = None
        self._expire(st, peer, now)
        sess = st.next
        if sess is not None and sess.state in (OFFERING, CONFIRMING) and now >= sess.next_try:
            if sess.attempts >= OFFER_ATTEMPTS:
                why = "no answer to OFFER" if sess.state is OFFERING else "keys differ"
                self._end(st, sess, why)
            else:
                self._retry(sess, now)
        sess = st.cur
        if sess is not None:
            if sess.hold_until is not None and now >= sess.hold_until:
                sess.hold_until = None  # try super-frames again
            if now - sess.last_tx >= KEEPALIVE:
                self._control(sess, CTL_KEEPALIVE, now)
        if st.cur is None and st.next is None and st.old is None and (peer is None or not st.note):
            del self.states[mac]
