"""The fast path's sending side: a virtio frame from the TAP sealed once and cut into datagrams
(one UDP_SEGMENT buffer), and the CONTROL datagrams (CONFIRM, keep-alive with loss feedback)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pyn2n.core.api import Addr
from pyn2n.core.fastpath.framing import (
    CONTROL,
    DGRAM,
    FAST_MAGIC,
    KIND_CONTROL,
    KIND_DATA,
    MAX_FRAGMENTS,
    NONCE_PAD,
    PREFIX,
    Layout,
)
from pyn2n.core.fastpath.policy import BULK_FRAMES, BULK_HOLD, OffloadPolicy
from pyn2n.core.fastpath.session import Session
from pyn2n.core.l2rules import HostTable, foreign_source
from pyn2n.core.peers import PeerTable
from pyn2n.wire.vnet import frame_segments


class Sender(OffloadPolicy):
    """Sealing and sending (a layer of `FastPath`; its constructor sets these attributes)."""

    peers: PeerTable
    hosts: HostTable | None
    ip4: bytes
    local4: frozenset[bytes]
    drops: Counter[str]
    segment: int
    _frag: int
    _layout: Layout
    gso_out: list[tuple[bytes | bytearray, int, Addr]]
    _send_datagram: Callable[[bytes, Addr], None]

    def send(self, data: bytes, now: float) -> bool:
        """A virtio frame from the TAP: True if it went (or was dropped) on the fast path,
        False if the standard path should take it (no established, fresh session)."""
        dst = data[10:16]
        hosts = self.hosts
        if hosts is not None:
            dst = hosts.edge_for(dst)  # -r: a bridged host's edge
        sess = self.tx.get(dst)
        if sess is None:
            return False
        peer = sess.peer
        if self.peers.known.get(dst) is not peer or peer.sock != sess.addr:
            return False
        if hosts is None and foreign_source(data, 10, self.ip4, self.local4):
            self.drops["tap_routed"] += 1  # only our own IPv4 traffic leaves (n2n without -r)
            return True
        if sess.tx_aead is None and len(data) <= self._frag:
            # a small frame without an AEAD (a ping): `_seal_out`'s first case, inlined
            pn = sess.tx_pn
            sess.tx_pn = pn + 1
            sess.last_tx = now
            dgram = DGRAM.pack(FAST_MAGIC, KIND_DATA, sess.tx_conn, pn, 0, 1) + data
            self._send_datagram(dgram, sess.addr)
        else:
            self._seal_out(sess, KIND_DATA, data, now)
        self.tx_packets += frame_segments(data) if data[1] else 1
        self.tx_bytes += len(data) - 10  # the frame, without its virtio header
        if not self.bulk and self.tx_packets - self._tx_mark >= BULK_FRAMES:
            self.bulk = True  # a flow: super-frames from now on
            self._bulk_until = now + BULK_HOLD
        return True

    def _control(self, sess: Session, ctl: int, now: float) -> None:
        sess.fb_sent = now
        top = sess.window.top
        sess.fb_rx = top
        self._seal_out(
            sess, KIND_CONTROL, CONTROL.pack(ctl, top if top >= 0 else 0, sess.rx_count), now
        )

    def _seal_out(self, sess: Session, kind: int, plain: bytes, now: float) -> None:
        pn = sess.tx_pn
        sess.tx_pn = pn + 1
        if sess.tx_aead is None and 0 < len(plain) <= self._frag:
            # the usual small frame without an AEAD: one datagram, its header in one pack
            # (the bytes of `prefix + b"\x00\x01" + sealed` below)
            sess.last_tx = now
            self._send_datagram(
                DGRAM.pack(FAST_MAGIC, kind, sess.tx_conn, pn, 0, 1) + plain, sess.addr
            )
            return
        prefix = PREFIX.pack(FAST_MAGIC, kind, sess.tx_conn, pn)
        aead = sess.tx_aead
        sealed = plain if aead is None else aead.encrypt(NONCE_PAD + prefix[6:], plain, prefix)
        count = -(-len(sealed) // self._frag)
        sess.last_tx = now
        sess.extra_frags += count - 1
        if count == 1:
            self._send_datagram(b"".join((prefix, b"\x00\x01", sealed)), sess.addr)
            return
        if count > MAX_FRAGMENTS:
            self.drops["fast_too_big"] += 1
            return
        self.gso_out.append((self._layout.cut(prefix, sealed, count), self.segment, sess.addr))
