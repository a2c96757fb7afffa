"""The kernel path's control plane (sans-IO): which fast-path peers also get unicast through
the kernel's VXLAN, proven by probes first and torn down when they stop. The driver
(`io/kernelpath.py`) carries out the decisions (`KernelCommand`s); design and measurements:
docs/kernel-path.md.

Life of one peer: the fast path's HELLO carried both edges' kernel-path extension (port,
underlay IP, VNI) and the session is established -> PREPARE (the driver lets the peer's underlay
IP through the filter and points the peer's probe MAC at the VXLAN port) -> probes (a frame to
the peer's probe MAC, written to our TAP, which the bridge sends over VXLAN; the peer's bridge
hands it to the peer's TAP and its pyn2n answers over the same path) -> the first answer:
ACTIVATE (the peer's MAC goes to the VXLAN port: unicast no longer reaches pyn2n) -> keep-alive
probes; no answer for DEAD s: DEACTIVATE (back to the fast path, probes go on more slowly). The
fast session ending (peer gone, direct path changed) or our public socket changing: REMOVE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import StrEnum

from pyn2n.core.api import Addr, KernelCommand
from pyn2n.wire.hello import KernelExt, decode_kernel_ext, encode_kernel_ext

__all__ = [
    "DEAD",
    "KEEPALIVE",
    "KP_ACTIVATE",
    "KP_DEACTIVATE",
    "KP_PREPARE",
    "KP_REMOVE",
    "PROBE_ETHERTYPE",
    "KState",
    "KernelCommand",
    "KernelPath",
    "probe_mac",
    "vni_for",
]

KP_PREPARE = "prepare"  # filter lets the peer's IP in; its probe MAC -> VXLAN (ip, port)
KP_ACTIVATE = "activate"  # the peer's MAC -> VXLAN (ip, port): its unicast leaves pyn2n
KP_DEACTIVATE = "deactivate"  # the peer's MAC back to the TAP (fast or standard path)
KP_REMOVE = "remove"  # everything of this peer gone

PROBE_ETHERTYPE = b"\x88\xb5"  # IEEE 802 local experimental EtherType 1
PROBE_MAGIC = b"pyKP"
PROBE, ACK = 1, 2
PROBE_SIZE = 60  # a minimal Ethernet frame

TICK = 0.5
PROBE_FAST = 1.0  # probing a new peer: once a second...
PROBE_FAST_TRIES = 8  # ...this many times, then every PROBE_SLOW
PROBE_SLOW = 5.0
KEEPALIVE = 1.0  # an active path is probed this often
DEAD = 4.0  # no answer for this long: back to the user-space paths
NONCES = 8  # outstanding probe nonces kept per peer
NOTES_MAX = 1024  # why-not notes kept (one per peer)


def probe_mac(mac: bytes) -> bytes:
    """The MAC a peer's probes are sent to (its bridge sends frames to it to its TAP): `mac`
    with the locally administered bit set and bit 2 of the first byte flipped."""
    return bytes([((mac[0] ^ 0x04) | 0x02) & 0xFE]) + mac[1:]


def vni_for(community: bytes) -> int:
    """The VXLAN network identifier of a community (24 bits of a hash of its name, with or
    without the NUL padding of the wire field; never 0)."""
    name = community.rstrip(b"\x00")
    vni = int.from_bytes(hashlib.sha256(b"pyn2n kernel path " + name).digest()[:3], "big")
    return vni or 1


class KState(StrEnum):
    """Where one peer's kernel path stands; the value is what management shows."""

    PROBING = "probing"
    ACTIVE = "kernel"


class KPeer:
    __slots__ = ("ip", "last_ack", "mac", "next_probe", "nonces", "port", "state", "tries")

    def __init__(self, mac: bytes, ip: str, port: int, now: float) -> None:
        self.mac = mac
        self.ip = ip
        self.port = port
        self.state = KState.PROBING
        self.nonces: list[bytes] = []
        self.next_probe = now
        self.last_ack = now
        self.tries = 0


class KernelPath:
    """The kernel-path decisions of one edge (see the module docstring).

    `write_frame(frame)` queues a probe for the TAP; the commands wait in `commands` for the
    driver; `local_ipv4` (from the driver) and `public_ip` (our socket as the supernode saw it)
    decide whether we can offer it at all: only without NAT in between.
    """

    def __init__(
        self,
        *,
        mac: bytes,
        community: bytes,
        port: int,
        rng: Callable[[int], bytes],
        write_frame: Callable[[bytes], None],
        public_sock: Callable[[], Addr | None] = lambda: None,
    ) -> None:
        self.mac = mac
        self.probe_mac = probe_mac(mac)
        self.vni = vni_for(community)
        self.port = port
        self._rng = rng
        self._write = write_frame
        self.local_ipv4: frozenset[str] = frozenset()
        self._public_sock = public_sock
        self.advertised: str | None = None  # the IP our last extension carried
        self.peers: dict[bytes, KPeer] = {}
        self.notes: dict[bytes, str] = {}  # why a fast-path peer has no kernel path
        self.commands: list[KernelCommand] = []
        self._next_tick: float | None = None
        self.probes_rx = 0

    @property
    def public_ip(self) -> str | None:
        """Our socket's IP as the supernode saw it."""
        sock = self._public_sock()
        return None if sock is None else sock[0]

    # ------------------------------------------------------------------ negotiation

    def hello_ext(self) -> bytes:
        """The extension our HELLOs carry (empty while we cannot offer the kernel path)."""
        ip = self.public_ip
        if ip is None or ip not in self.local_ipv4:
            return b""
        self.advertised = ip
        return encode_kernel_ext(KernelExt(self.port, ip, self.vni))

    def session_up(self, mac: bytes, sock: Addr, ext: bytes, now: float) -> None:
        """The fast-path session to `mac` (at `sock`) is established; `ext` is the extension
        its HELLO carried."""
        why = self._refusal(sock, ext)
        if len(self.notes) >= NOTES_MAX:
            self.notes.clear()  # bound: one per fast-path peer ever seen
        if why:
            self.notes[mac] = why
            self._drop(mac)
            return
        info = decode_kernel_ext(ext)
        assert info is not None
        old = self.peers.get(mac)
        if old is not None and (old.ip, old.port) == (info.ip, info.port):
            return  # a new session on the same path: keep what runs
        self._drop(mac)
        self.notes.pop(mac, None)
        self.peers[mac] = KPeer(mac, info.ip, info.port, now)
        self.commands.append(KernelCommand(KP_PREPARE, mac, info.ip, info.port))
        if self._next_tick is None:
            self._next_tick = now

    def _refusal(self, sock: Addr, ext: bytes) -> str:
        if not ext:
            return "not offered by the peer"
        info = decode_kernel_ext(ext)
        if info is None or info.vni != self.vni:
            return "the peer's offer does not match"
        if info.ip != sock[0]:
            return "NAT between us"
        public = self.public_ip
        if self.advertised is None or self.advertised != public or public not in self.local_ipv4:
            return "not offered by us (NAT or no public socket yet)"
        return ""

    def session_down(self, mac: bytes, why: str) -> None:
        """The fast-path session to `mac` ended: so does its kernel path."""
        if mac in self.peers:
            self._drop(mac)
            self.notes[mac] = why

    def _drop(self, mac: bytes) -> None:
        kp = self.peers.pop(mac, None)
        if kp is not None:
            self.commands.append(KernelCommand(KP_REMOVE, mac, kp.ip, kp.port))

    # ------------------------------------------------------------------ probes

    def on_probe(self, frame: bytes, now: float) -> None:
        """A frame to our probe MAC came out of the TAP: a peer's probe or an answer."""
        if len(frame) < 33 or frame[12:14] != PROBE_ETHERTYPE or frame[14:18] != PROBE_MAGIC:
            return
        kind, sender, nonce = frame[18], frame[19:25], frame[25:33]
        kp = self.peers.get(sender)
        if kp is None:
            return
        self.probes_rx += 1
        if kind == PROBE:
            self._write(_probe_frame(sender, self.mac, ACK, nonce))
        elif kind == ACK and nonce in kp.nonces:
            kp.nonces.clear()
            kp.last_ack = now
            kp.tries = 0
            if kp.state is KState.PROBING:
                kp.state = KState.ACTIVE
                self.notes.pop(sender, None)
                self.commands.append(KernelCommand(KP_ACTIVATE, sender, kp.ip, kp.port))
                kp.next_probe = now + KEEPALIVE

    def _probe(self, kp: KPeer, now: float) -> None:
        nonce = self._rng(8)
        kp.nonces.append(nonce)
        del kp.nonces[:-NONCES]
        kp.tries += 1
        self._write(_probe_frame(kp.mac, self.mac, PROBE, nonce))
        if kp.state is KState.ACTIVE:
            kp.next_probe = now + KEEPALIVE
        else:
            kp.next_probe = now + (PROBE_FAST if kp.tries < PROBE_FAST_TRIES else PROBE_SLOW)

    # ------------------------------------------------------------------ timer

    def get_timer(self) -> float | None:
        return self._next_tick

    def handle_timer(self, now: float) -> None:
        if self._next_tick is None or now < self._next_tick:
            return
        public = self.public_ip
        if self.advertised is not None and (
            public != self.advertised or public not in self.local_ipv4
        ):
            for mac in list(self.peers):
                self._drop(mac)
                self.notes[mac] = "our public socket changed"
            self.advertised = None
        for kp in self.peers.values():
            if kp.state is KState.ACTIVE and now - kp.last_ack > DEAD:
                kp.state = KState.PROBING
                kp.tries = PROBE_FAST_TRIES  # probe on, slowly
                self.notes[kp.mac] = "no answer on the kernel path"
                self.commands.append(KernelCommand(KP_DEACTIVATE, kp.mac, kp.ip, kp.port))
            if now >= kp.next_probe:
                self._probe(kp, now)
        self._next_tick = now + TICK if self.peers else None

    # ------------------------------------------------------------------ views

    def drain(self) -> list[KernelCommand]:
        out = self.commands
        if out:
            self.commands = []
        return out

    def status(self, mac: bytes) -> str:
        """The `kernel` column of the management `peers` rows."""
        kp = self.peers.get(mac)
        if kp is not None and kp.state is KState.ACTIVE:
            return "on"
        note = self.notes.get(mac, "")
        if kp is not None:
            return "probing" + (f" ({note})" if note else "")
        return note or "no"

    def active(self, mac: bytes) -> bool:
        kp = self.peers.get(mac)
        return kp is not None and kp.state is KState.ACTIVE


def _probe_frame(dst_mac: bytes, src_mac: bytes, kind: int, nonce: bytes) -> bytes:
    """A probe (or its answer) to `dst_mac`'s probe MAC, from `src_mac`'s."""
    frame = (
        probe_mac(dst_mac)
        + probe_mac(src_mac)
        + PROBE_ETHERTYPE
        + PROBE_MAGIC
        + bytes([kind])
        + src_mac
        + nonce
    )
    return frame + bytes(PROBE_SIZE - len(frame))
