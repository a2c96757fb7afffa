"""When the TAP should hand out super-frames and the socket merge datagrams: the fast path's
offload and loss policy (bulk flows, mixed traffic to standard-path peers, heavy loss, UDP_GRO)
and its timing constants. Why these numbers: docs/fastpath.md ("Offloads", "Loss")."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyn2n.core.fastpath.session import Session

TICK = 0.5  # housekeeping period: retries, keep-alives, expiry, these decisions
OFFER_ATTEMPTS = 4  # OFFERs (and CONFIRMs) sent before giving up
KEEPALIVE = 2.0  # a control datagram when nothing else left for this long
SESSION_IDLE = 10.0  # no authenticated datagram for this long: back to the standard path
OLD_SESSION_GRACE = 3.0  # a replaced session still decrypts stragglers this long
FEEDBACK_INTERVAL = 0.05  # loss feedback at most this often...
# ...and only after the peer's packet numbers moved this far (packets it sent, lost ones too, so
# heavy loss cannot starve the feedback; a trickle waits for a keep-alive)
FEEDBACK_PACKETS = 32
PARTIAL_MAX = 128  # packets in reassembly per session
PARTIAL_AGE = 1.0
# loss: above LOSS_FALLBACK datagram loss the TAP gives single frames (one datagram each, the
# loss TCP sees is the wire's), for at least HOLD_MIN; single frames measure the wire's loss
# directly, so super-frames come back once a sample shows at most LOSS_RETURN, without probing
LOSS_SAMPLE = 4096  # datagrams sent per loss estimate...
LOSS_SAMPLE_PACKETS = 48  # ...or this many packets of 2+ datagrams each (loss shows at once)
LOSS_FALLBACK = 0.005
# ...and before a sample is complete when LOSS_EARLY packets are lost and the estimate is past
# 4 x LOSS_FALLBACK (5 % loss makes TCP collapse on super-frames: few are sent; the single
# frames a flow starts with can show it before TSO goes on)
LOSS_EARLY = 4
LOSS_RETURN = 0.0025
HOLD_MIN = 2.0
# cutting super-frames in Python for peers without the fast path halves their throughput, so
# offloads stay off while such traffic is more than a trickle
MIXED_FRAMES = 256  # unicast frames to standard-path peers per TICK that turn them off
MIXED_HOLD = 5.0
# TSO stays off until the fast path carries a flow (idle pings measured slower with it on)
BULK_FRAMES = 64  # frames sent on the fast path since the last TICK that turn TSO on
BULK_HOLD = 2.0  # ...and it stays on this long after the last such TICK
GRO_IDLE = 2.0  # UDP_GRO stays on this long after the last packet of many datagrams


class OffloadPolicy:
    """The offload decisions of one edge's fast path (the base of `FastPath`: the data path sets
    `bulk`, `gro` and the counters inline, without a call per frame)."""

    tx: dict[bytes, Session]
    by_conn: dict[int, Session]

    def __init__(self) -> None:
        self.tx_packets = 0  # frames (segments) sent on the fast path
        self.tx_bytes = 0  # their bytes (the frames, without virtio headers)
        self.std_unicast = 0  # unicast frames the edge sent the standard way (counted by it)
        self._mixed_until = 0.0
        self.mixed = False  # much traffic to standard-path peers: TAP offloads off
        self.lossy = False  # some session sees heavy loss: TAP offloads off
        # UDP_GRO on the socket while packets of many datagrams arrive (and a while after):
        # merged reads cost small datagrams more than plain ones (recvmsg, control messages)
        self.gro = False
        self._bulk_rx = float("-inf")
        self.bulk = False  # a flow on the fast path: TSO on (`offload`)
        self._tx_mark = 0  # tx_packets at the last TICK
        self._bulk_until = float("-inf")

    @property
    def offload(self) -> bool:
        """Whether the driver should have the TAP hand out super-frames (TSO, checksums)."""
        return self.bulk and bool(self.tx) and not self.mixed and not self.lossy

    def count_standard(self, frames: int, now: float) -> None:
        """The edge sent `frames` unicast frames the standard way: past MIXED_FRAMES in a TICK the
        TAP offloads go off at once (and stay off MIXED_HOLD after such traffic ends)."""
        self.std_unicast += frames
        if self.std_unicast >= MIXED_FRAMES and not self.mixed:
            self.mixed = True
            self._mixed_until = now + MIXED_HOLD

    def _policy_tick(self, now: float) -> None:
        """Once per TICK: mixed traffic, GRO and bulk-flow decisions for the next one."""
        if self.std_unicast >= MIXED_FRAMES:
            self._mixed_until = now + MIXED_HOLD
        self.std_unicast = 0
        self.mixed = now < self._mixed_until
        self.gro = bool(self.by_conn) and now - self._bulk_rx < GRO_IDLE
        if self.tx_packets - self._tx_mark >= BULK_FRAMES:
            self._bulk_until = now + BULK_HOLD
        self._tx_mark = self.tx_packets
        self.bulk = now < self._bulk_until

    def _feedback(self, sess: Session, top: int, count: int, now: float) -> None:
        """The peer's (highest packet number, packets received): single frames under heavy loss,
        super-frames again when a sample shows the loss gone."""
        dtop = top - sess.fb_top
        if dtop <= 0:
            return
        pkts = sess.tx_pn - sess.pn_mark
        frags_sent = pkts + sess.extra_frags
        dcount = count - sess.fb_count
        frags = frags_sent / max(1, pkts)
        lost = max(0.0, 1.0 - dcount / dtop)
        # per-datagram loss from the per-packet loss of packets of `frags` datagrams
        loss = 1.0 - (1.0 - min(lost, 0.999)) ** (1.0 / max(1.0, frags))
        if frags_sent < LOSS_SAMPLE and (pkts < LOSS_SAMPLE_PACKETS or frags < 2):
            early = dtop - dcount >= LOSS_EARLY and loss > 4 * LOSS_FALLBACK
            if not (early and sess.hold_until is None):
                return  # the sample goes on
        sess.fb_top, sess.fb_count = top, count
        sess.pn_mark, sess.extra_frags = sess.tx_pn, 0
        sess.loss = loss
        if sess.hold_until is None:
            if loss > LOSS_FALLBACK:
                # single frames until a clean sample (the tick never ends an infinite hold)
                sess.hold_until = math.inf
                sess.hold = now + HOLD_MIN
                self.lossy = True  # at once, not at the next tick
        elif loss <= LOSS_RETURN and now >= sess.hold:
            sess.hold_until = None  # (`lossy` follows at the next tick)
