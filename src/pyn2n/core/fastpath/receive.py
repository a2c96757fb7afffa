"""The fast path's receiving side: single datagrams and UDP_GRO reads, reassembly of packets cut
into several datagrams, the replay check, opening (AEAD), and delivering DATA frames to the TAP
under the layer-2 rules (core/l2rules.py)."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from pyn2n.core.api import Addr
from pyn2n.core.fastpath.framing import (
    CONTROL,
    CTL_CONFIRM,
    CTL_KEEPALIVE,
    DGRAM,
    DGRAM_HEADER,
    FAST_MAGIC,
    KIND_DATA,
    NONCE_PAD,
    PREFIX,
)
from pyn2n.core.fastpath.negotiation import Negotiation
from pyn2n.core.fastpath.policy import FEEDBACK_INTERVAL, FEEDBACK_PACKETS, PARTIAL_MAX
from pyn2n.core.fastpath.session import ESTABLISHED, Role, Session
from pyn2n.core.l2rules import foreign_destination
from pyn2n.core.peers import KEYS_DIFFER
from pyn2n.core.replay import WINDOW_MASK
from pyn2n.wire.vnet import frame_segments


class Receiver(Negotiation):
    """Receiving (a layer of `FastPath`; its constructor sets these attributes)."""

    frames: list[bytes]
    rx_packets: int
    rx_bytes: int

    def receive(self, data: bytes, addr: Addr, now: float) -> bool:
        """One datagram starting with FAST_MAGIC: False if no session has its connection id
        (then it may be a header-encrypted n2n datagram)."""
        if len(data) < DGRAM_HEADER:
            return False
        _m, kind, conn, pn, idx, cnt = DGRAM.unpack_from(data)
        sess = self.by_conn.get(conn)
        if sess is None:
            return False
        if cnt == 1 and idx == 0:
            self._open(sess, kind, pn, data[DGRAM_HEADER:], addr, now)
        else:
            self._fragment(sess, kind, pn, idx, cnt, memoryview(data)[DGRAM_HEADER:], addr, now)
        return True

    def receive_gro(
        self,
        buf: bytes,
        segment: int,
        addr: Addr,
        now: float,
        other: Callable[[bytes, Addr, float], None],
    ) -> None:
        """A UDP_GRO read: datagrams of `segment` bytes back to back (the last may be shorter).
        Datagrams that are not ours (no session has their connection id) go to `other`."""
        view = memoryview(buf)
        unpack = DGRAM.unpack_from
        by_conn = self.by_conn
        layout = self._layout
        own = layout.segment
        end = len(buf)
        off = 0
        while off < end:
            nxt = min(off + segment, end)
            sess = None
            if nxt - off >= DGRAM_HEADER and buf[off] == FAST_MAGIC:
                _m, kind, conn, pn, idx, cnt = unpack(buf, off)
                sess = by_conn.get(conn)
            if sess is None:
                other(buf[off:nxt], addr, now)
                off = nxt
                continue
            if idx == 0 and cnt > 1 and segment == own:
                # the usual case: the whole packet in order in this read (one UDP_SEGMENT send)
                last = off + (cnt - 1) * segment
                if last + DGRAM_HEADER <= end and layout.whole(buf, off, cnt):
                    self._bulk_rx = now
                    stop = min(last + segment, end)
                    body = layout.strips(cnt - 1).unpack_from(buf, off)
                    self._open(sess, kind, pn, b"".join((*body, buf[last + 16 : stop])), addr, now)
                    off = stop
                    continue
            if cnt == 1 and idx == 0:
                self._open(sess, kind, pn, buf[off + DGRAM_HEADER : nxt], addr, now)
            else:
                self._fragment(sess, kind, pn, idx, cnt, view[off + DGRAM_HEADER : nxt], addr, now)
            off = nxt

    def _fragment(
        self,
        sess: Session,
        kind: int,
        pn: int,
        idx: int,
        cnt: int,
        body: memoryview,
        addr: Addr,
        now: float,
    ) -> None:
        partial = sess.partial
        entry = partial.get(pn)
        self.gro = True  # packets of many datagrams: have the kernel merge them
        self._bulk_rx = now
        if idx >= cnt:
            self.drops["fast_decode"] += 1
            return
        if entry is None:
            if not sess.window.check(pn):
                self.drops["fast_replay"] += 1
                return
            if len(partial) >= PARTIAL_MAX:
                del partial[min(partial)]
                self.drops["fast_incomplete"] += 1
            entry = partial[pn] = [cnt, {}, now, kind]
        elif entry[0] != cnt or entry[3] != kind:
            self.drops["fast_decode"] += 1
            return
        parts = entry[1]
        if idx in parts:
            self.drops["fast_duplicate"] += 1
            return
        parts[idx] = bytes(body)
        if len(parts) == cnt:
            del partial[pn]
            self._open(sess, kind, pn, b"".join([parts[i] for i in range(cnt)]), addr, now)

    def _open(
        self, sess: Session, kind: int, pn: int, sealed: bytes, addr: Addr, now: float
    ) -> None:
        window = sess.window
        if pn <= window.top and not window.check(pn):
            self.drops["fast_replay"] += 1
            return
        aead = sess.rx_aead
        if aead is None:
            plain = sealed
        else:
            try:
                plain = aead.decrypt(
                    NONCE_PAD + pn.to_bytes(8, "big"),
                    sealed,
                    PREFIX.pack(FAST_MAGIC, kind, sess.rx_conn, pn),
                )
            except InvalidTag:
                self.drops["fast_auth"] += 1
                sess.peer.trouble = (now, KEYS_DIFFER)
                return
        top = window.top
        if pn > top and pn >> 6 == top >> 6:  # the usual: next in the current block
            window.bitmap[(pn >> 6) & WINDOW_MASK] |= 1 << (pn & 63)
            window.top = pn
        elif not window.update(pn):
            self.drops["fast_replay"] += 1
            return
        sess.rx_count += 1
        sess.last_rx = now
        peer = sess.peer
        if addr == sess.addr:
            peer.last_p2p = now
            peer.last_seen = now
        if sess.state is not ESTABLISHED:
            st = self.states.get(sess.mac)
            if st is not None and st.next is sess:
                self._establish(st, sess, now)  # the peer has the same keys: use it
        if kind == KIND_DATA:
            self._deliver(sess, plain, now)
            # feedback while a flow runs, and at once after a gap (lost packets: the sender
            # may be collapsing on super-frames that never arrive whole)
            if now - sess.fb_sent >= FEEDBACK_INTERVAL and (
                pn - sess.fb_rx >= FEEDBACK_PACKETS or pn - top > 1
            ):
                self._control(sess, CTL_KEEPALIVE, now)
        else:
            self._on_control(sess, plain, now)

    def _on_control(self, sess: Session, plain: bytes, now: float) -> None:
        """A CONTROL packet: the peer's loss feedback, and CONFIRM."""
        if len(plain) < CONTROL.size:
            self.drops["fast_decode"] += 1
            return
        ctl, top, count = CONTROL.unpack_from(plain)
        self._feedback(sess, top, count, now)
        if ctl == CTL_CONFIRM and sess.role is Role.ANSWERER:
            self._control(sess, CTL_KEEPALIVE, now)  # our own CONFIRM may have been lost

    def _deliver(self, sess: Session, frame: bytes, now: float) -> None:
        if len(frame) < 24:  # virtio header and Ethernet header
            self.drops["short_frame"] += 1
            return
        hosts = self.hosts
        if hosts is None:
            # (10: behind the virtio header)
            if foreign_destination(frame, 10, self.ip4, self.local4):
                self.drops["routed"] += 1  # only IPv4 to us passes, and broadcast (no -r)
                return
        elif not hosts.learn(frame, 10, sess.mac, now):
            self.drops["hosts_full"] += 1  # (the frame is still delivered)
        self.rx_packets += frame_segments(frame) if frame[1] else 1
        self.rx_bytes += len(frame) - 10
        self.frames.append(frame)
