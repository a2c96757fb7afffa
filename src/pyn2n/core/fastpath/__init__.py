"""The fast path between two pyn2n edges: whole 64 KiB GSO super-frames, one AEAD per super-frame
(sans-IO; what it is and why: docs/fastpath.md). `FastPath` is the facade the edge uses; its
layers live in this package, one concern each:

    policy.py       offload and loss policy, timing constants (base class)
    send.py         sealing a frame once and cutting it into one UDP_SEGMENT buffer
    negotiation.py  OFFER/ACCEPT/REFUSE/CONFIRM, session life cycle
    receive.py      GRO reads, reassembly, replay check, opening, delivery
    session.py      session state and role, per-peer state
    framing.py      fast datagram bytes and the precompiled cutting structs
    keys.py         AEAD choice and HKDF session keys

The layers are base classes of `FastPath` rather than collaborators so the per-frame path pays
no extra attribute hop or call. The HELLO codec is `pyn2n.wire.hello`, virtio headers and
segmentation `pyn2n.wire.vnet`, the replay window `pyn2n.core.replay`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pyn2n.core.api import Addr
from pyn2n.core.fastpath.framing import (
    DEFAULT_SEGMENT,
    DGRAM_HEADER,
    FAST_MAGIC,
    TAG_SIZE,
    Layout,
    tap_gso_max_size,
)
from pyn2n.core.fastpath.keys import aead_for_transform
from pyn2n.core.fastpath.policy import TICK
from pyn2n.core.fastpath.receive import Receiver
from pyn2n.core.fastpath.session import PeerState, Session
from pyn2n.core.l2rules import HostTable
from pyn2n.core.peers import PeerTable
from pyn2n.transforms.registry import passphrase_bytes
from pyn2n.wire.hello import AEAD_NAMES, AEAD_NONE

__all__ = ["FAST_MAGIC", "FastPath", "aead_for_transform", "tap_gso_max_size"]


class FastPath(Receiver):
    """The fast-path side of one edge (sans-IO; the edge calls it).

    `send_hello(message, addr)` seals (header encryption) and queues a negotiation message,
    `send_datagram(data, addr)` queues one fast datagram; packets of several datagrams wait in
    `gso_out` as (buffer, segment size, addr) for one UDP_SEGMENT send each; received DATA waits in
    `frames` (virtio header + frame) for the TAP. `routing_hosts` is the edge's -r host table
    (None without -r: then only our own IPv4 traffic passes, `ip4` and `local4`).
    """

    def __init__(
        self,
        *,
        mac: bytes,
        community20: bytes,
        passphrase: str | None,
        aead: int,
        peers: PeerTable,
        rng: Callable[[int], bytes],
        send_hello: Callable[[bytes, Addr], None],
        send_datagram: Callable[[bytes, Addr], None],
        drops: Counter[str],
        enabled: bool = True,
        segment: int = DEFAULT_SEGMENT,
        routing_hosts: HostTable | None = None,
    ) -> None:
        if aead != AEAD_NONE and not passphrase:
            raise ValueError("an AEAD needs the community key (-k)")
        if not DGRAM_HEADER + TAG_SIZE < segment <= 65507:
            raise ValueError(f"segment size {segment} out of range")
        super().__init__()
        self.mac = mac
        self.community20 = community20
        self._passphrase = passphrase_bytes(passphrase) if passphrase else b""
        self.aead = aead
        self.peers = peers
        self._rng = rng
        self._send_hello = send_hello
        self._send_datagram = send_datagram
        self.drops = drops
        self.enabled = enabled
        self.segment = segment
        self._frag = segment - DGRAM_HEADER
        self._layout = Layout(segment)
        self.hosts = routing_hosts
        self.ip4 = bytes(4)  # our TAP address (frames to others are dropped without -r)
        self.local4: frozenset[bytes] = frozenset()  # and every address on the TAP (the edge's)
        self.states: dict[bytes, PeerState] = {}
        self.tx: dict[bytes, Session] = {}  # MAC -> established session (the hot lookup)
        self.by_conn: dict[int, Session] = {}
        self.gso_out: list[tuple[bytes | bytearray, int, Addr]] = []
        self.frames: list[bytes] = []
        self._next_tick: float | None = None
        self.rx_packets = 0  # frames (segments) delivered, for the edge's counters
        self.rx_bytes = 0  # their bytes (the frames, without virtio headers)

    @property
    def active(self) -> bool:
        """Some session carries our data."""
        return bool(self.tx)

    def get_timer(self) -> float | None:
        return self._next_tick

    def handle_timer(self, now: float) -> None:
        if self._next_tick is None or now < self._next_tick:
            return
        self._policy_tick(now)
        lossy = False
        for mac, st in list(self.states.items()):
            self._tick_peer(mac, st, now)
            lossy = lossy or (st.cur is not None and st.cur.hold_until is not None)
        self.lossy = lossy
        self._next_tick = now + TICK if self.states else None

    def status(self, mac: bytes) -> str:
        """The `fastpath` column of the management `peers` rows."""
        if not self.enabled:
            return "off (--no-fastpath)"
        st = self.states.get(mac)
        if st is None:
            return "no"
        if st.cur is not None:
            text = f"on ({AEAD_NAMES[self.aead]})"
            if st.cur.hold_until is not None:
                text += f", single frames: {st.cur.loss:.1%} datagram loss"
            return text
        if st.next is not None:
            return st.next.state.value
        return st.note or "no"
