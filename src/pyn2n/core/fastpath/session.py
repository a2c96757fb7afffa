"""Fast-path sessions: a session's state and role, its keys, packet numbers, replay window,
reassembly table and loss bookkeeping (`Session`), and what the fast path keeps per peer
(`PeerState`: the session in use, the one being negotiated, a replaced one still draining)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pyn2n.core.api import Addr
from pyn2n.core.fastpath.policy import PARTIAL_AGE
from pyn2n.core.peers import Peer
from pyn2n.core.replay import ReplayWindow
from pyn2n.wire.hello import Hello

__all__ = [
    "ANSWERED",
    "CONFIRMING",
    "ESTABLISHED",
    "OFFERING",
    "PeerState",
    "Role",
    "Session",
    "State",
]


class State(StrEnum):
    """Where a session stands; the value is what management shows while it negotiates."""

    OFFERING = "offering"  # offerer: OFFER sent, waiting for ACCEPT
    CONFIRMING = "confirming"  # offerer: keys derived, CONFIRM sent, waiting for an answer on them
    ANSWERED = "answered"  # answerer: ACCEPT sent, waiting for the CONFIRM
    ESTABLISHED = "established"  # an authenticated datagram came back: carries data


class Role(StrEnum):
    OFFERER = "offerer"
    ANSWERER = "answerer"


# module-level names: the data path compares against these once per packet
OFFERING = State.OFFERING
CONFIRMING = State.CONFIRMING
ANSWERED = State.ANSWERED
ESTABLISHED = State.ESTABLISHED


class Session:
    """One negotiated fast path to one peer (one direction's keys each way)."""

    __slots__ = (
        "addr",
        "attempts",
        "extra_frags",
        "fb_count",
        "fb_rx",
        "fb_sent",
        "fb_top",
        "hold",
        "hold_until",
        "last_rx",
        "last_tx",
        "loss",
        "mac",
        "next_try",
        "offer",
        "partial",
        "peer",
        "peer_ext",
        "pn_mark",
        "reply",
        "role",
        "rx_aead",
        "rx_conn",
        "rx_count",
        "state",
        "tx_aead",
        "tx_conn",
        "tx_pn",
        "window",
    )

    def __init__(self, mac: bytes, peer: Peer, rx_conn: int, role: Role, now: float) -> None:
        self.mac = mac
        self.peer = peer
        self.addr: Addr = peer.sock
        self.rx_conn = rx_conn
        self.tx_conn = 0
        self.role = role
        self.state = OFFERING if role is Role.OFFERER else ANSWERED
        self.offer: Hello | None = None
        self.reply: bytes = b""  # the ACCEPT we sent (answered again for a repeated OFFER)
        self.peer_ext = b""  # the extensions of the peer's OFFER or ACCEPT (the kernel path)
        self.tx_aead: Any = None
        self.rx_aead: Any = None
        self.tx_pn = 0
        self.window = ReplayWindow()
        # packet number -> [fragment count, {index: fragment}, first seen, kind]
        self.partial: dict[int, list[Any]] = {}
        self.attempts = 0
        self.next_try = now
        self.last_rx = now
        self.last_tx = now
        self.rx_count = 0
        self.fb_sent = now
        self.fb_rx = 0  # the highest packet number received when we last sent feedback
        self.fb_top = -1  # the last loss feedback we used (as the sender)
        self.fb_count = 0
        # the loss sample's packets sent are tx_pn - pn_mark (nothing to count per single
        # frame), its datagrams those plus extra_frags (the 2nd..nth datagram of each packet)
        self.pn_mark = 0
        self.extra_frags = 0
        self.loss = 0.0  # the last datagram loss estimate
        self.hold = 0.0  # single frames at least until then (`policy._feedback`)
        self.hold_until: float | None = None  # single frames until then (inf: a clean sample)

    def expire_partials(self, now: float) -> int:
        """Drop packets in reassembly for longer than PARTIAL_AGE; how many."""
        old = [pn for pn, e in self.partial.items() if now - e[2] > PARTIAL_AGE]
        for pn in old:
            del self.partial[pn]
        return len(old)


class PeerState:
    """Everything the fast path keeps about one peer: the session in use, the one being
    negotiated, a replaced one still draining, and why there is none."""

    __slots__ = ("cur", "next", "note", "old", "old_until")

    def __init__(self) -> None:
        self.cur: Session | None = None
        self.next: Session | None = None
        self.old: Session | None = None
        self.old_until = 0.0
        self.note = ""
