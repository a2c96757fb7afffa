"""The fast path between two pyn2n edges: whole 64 KiB GSO super-frames, one AEAD per super-frame.

A TAP opened with IFF_VNET_HDR and TSO hands out TCP super-frames of up to 64 KiB, each behind a
10-byte virtio_net_hdr (docs/runtime-facts.md). Between two pyn2n edges that have a
direct path, such a super-frame travels whole: sealed once (AES-256-GCM, ChaCha20-Poly1305, or
nothing without `-k`), cut into UDP datagrams that leave in one `sendmsg` with UDP_SEGMENT,
reassembled at the other edge and written to its TAP with the virtio header unchanged, so neither
Python nor the kernel segments or checksums it on the way. Everything else (broadcast and
multicast, relayed peers, C edges, pyn2n edges started with `--no-fastpath`) keeps the standard
n2n PACKETs; `to_plain_frames` cuts super-frames for them.

Negotiation — one n2n message with a packet code n2n does not use (C edges drop unknown codes,
spec §2), sent directly to a peer once it answered our REGISTER (REGISTER_ACK, §7.4), sealed with
`-H` like every other message. Bytes (big-endian):

    0   3 | ttl 2 | flags u16 = MSG_TYPE_PYN2N_FASTPATH (20) | community 20    (common header, §2)
    24  source MAC 6 | destination MAC 6
    36  kind u8: 1 OFFER, 2 ACCEPT, 3 REFUSE
    37  protocol version u8 (1)
    38  AEAD u8: 0 none, 1 AES-256-GCM, 2 ChaCha20-Poly1305
    39  capabilities u8 (bit 0: writes GSO super-frames to its TAP) / REFUSE: reason
        (1 disabled, 2 different AEAD or version, 3 missing capability)
    40  connection id u32: the sender receives fast datagrams under this id
    44  offer salt 16 (the offerer's, random per session; echoed in ACCEPT and REFUSE)
    60  accept salt 16 (the answerer's, random per session; zero in OFFER)
    76  (end; longer messages are accepted, the rest ignored)

Session keys: HKDF-SHA256 over the `-k` passphrase, salt = offer salt ‖ accept salt, info =
"pyn2n fastpath v1" ‖ AEAD ‖ offerer MAC ‖ answerer MAC ‖ offerer id ‖ answerer id; the first 32
bytes key the offerer→answerer direction, the next 32 the other. Both salts are fresh per session,
so keys are too, and a session's nonces (its packet numbers) never repeat. An OFFER or ACCEPT
changed on the way gives the two ends different keys, so it cannot establish anything.

A session is used for data only after an authenticated datagram came back on it: the offerer
sends a CONFIRM control datagram once it has the ACCEPT (again every 0.5 s until answered), the
answerer establishes on it and answers with a control datagram of its own, which establishes the
offerer. Until then (and with different keys: forever) both keep sending standard PACKETs.
Simultaneous OFFERs: the one from the lower MAC wins.

Fast datagrams — never start with 3 (n2n's version byte), so the edge tells them apart by their
first byte (with `-H` an n2n datagram may start with anything; then an unknown connection id sends
it on to header decryption). Bytes:

    0   0xFD
    1   kind u8: 0 DATA, 1 CONTROL
    2   connection id u32 (the receiver's)
    6   packet number u64 (per session and direction, from 0; the AEAD nonce is 4 zero bytes ‖ it)
    14  fragment index u8 | fragment count u8 (1..255)
    16  fragment: bytes [index * (segment - 16), ...) of the sealed packet

The sealed packet is the AEAD ciphertext ‖ 16-byte tag of the plaintext, with bytes 0..13 as the
associated data (no tag without a key). DATA plaintext: virtio_net_hdr 10 ‖ Ethernet frame (a
super-frame or a single frame). CONTROL plaintext: type u8 (1 CONFIRM, 2 KEEPALIVE) ‖ highest
packet number received u64 ‖ packets received u64 (loss feedback). Every datagram of a packet
has `segment` bytes except the last, so one packet leaves in one UDP_SEGMENT send; receivers
take fragments in any order and grouping (UDP_GRO or one datagram at a time). A replay window of
4,032 packet numbers (RFC 6479: a ring of 64-bit blocks) drops duplicates and replays; a packet
that fails authentication is dropped and counted (`drops["fast_auth"]`).

Loss: one lost datagram loses its whole packet. Receivers report (highest packet number,
packets received) every 50 ms while data flows (after at least 32 packets; a trickle waits for
the keep-alive); from every 4,096 datagrams sent the
sender estimates the loss rate of single datagrams. Above 0.5 % (an underlay that drops
datagrams one by one at that rate) whole super-frames cost TCP more than they save (docs/
fastpath.md has the measurements), so the edge has its TAP hand out single frames instead (TSO
off: the kernel segments) for a while — 5 s, doubling up to 60 s while the loss lasts — and then
tries super-frames again. The session stays, so each frame still costs only one datagram.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pyn2n.constants import (
    MSG_TYPE_PYN2N_FASTPATH,
    N2N_DEFAULT_TTL,
    N2N_PKT_VERSION,
    N2N_TRANSFORM_ID_CHACHA20,
    N2N_TRANSFORM_ID_NULL,
)
from pyn2n.core.api import Addr
from pyn2n.core.l2rules import HostTable
from pyn2n.core.peers import Peer, PeerTable
from pyn2n.transforms.registry import passphrase_bytes

__all__ = [
    "AEAD_AES256GCM",
    "AEAD_CHACHA20POLY1305",
    "AEAD_NAMES",
    "AEAD_NONE",
    "FAST_MAGIC",
    "FastPath",
    "Hello",
    "ReplayWindow",
    "aead_for_transform",
    "decode_hello",
    "encode_hello",
    "frame_segments",
    "tap_gso_max_size",
    "to_plain_frames",
]

# ---------------------------------------------------------------- virtio_net_hdr and TSO

VNET_HDR_LEN = 10
_VNET = struct.Struct("<BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_F_NEEDS_CSUM = 0x01
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_TCPV6 = 4
GSO_ECN = 0x80
ZERO_VNET_HDR = bytes(VNET_HDR_LEN)

_TCP_FIN = 0x01
_TCP_PSH = 0x08
_TCP_CWR = 0x80
_VLAN_TYPES = (b"\x81\x00", b"\x88\xa8")
_UDP_CSUM_OFFSET = 6  # a UDP checksum that computes to 0 is sent as 0xFFFF


def _sum16(data: bytes | bytearray | memoryview) -> int:
    """Ones'-complement sum of `data` as 16-bit big-endian words, modulo 0xFFFF (0 stands for
    0xFFFF). 2**16 is 1 modulo 0xFFFF, so the sum of the words is the number's value modulo
    0xFFFF: one C-level pass instead of a Python loop."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return value % 0xFFFF


def _csum(total: int) -> bytes:
    """The checksum field for a ones'-complement sum taken modulo 0xFFFF."""
    return (0xFFFF - total % 0xFFFF if total % 0xFFFF else 0).to_bytes(2, "big")


def _l3_offset(frame: bytes | bytearray | memoryview) -> int:
    off = 14
    while bytes(frame[off - 2 : off]) in _VLAN_TYPES:
        off += 4
    return off


def frame_segments(vnet_frame: bytes) -> int:
    """How many wire frames a virtio frame stands for (1 unless it is a GSO super-frame)."""
    if not vnet_frame[1]:
        return 1
    hdr_len = vnet_frame[2] | vnet_frame[3] << 8
    gso_size = vnet_frame[4] | vnet_frame[5] << 8
    if not gso_size:
        return 1
    return max(1, -(-(len(vnet_frame) - VNET_HDR_LEN - hdr_len) // gso_size))


def _complete(frame: memoryview, csum_start: int, csum_offset: int) -> bytes:
    """A NEEDS_CSUM frame with its checksum filled in (what the kernel's skb_checksum_help does:
    the field holds the pseudo-header sum, the checksum covers csum_start to the end)."""
    out = bytearray(frame)
    at = csum_start + csum_offset
    if csum_start >= len(out) or at + 2 > len(out):
        raise ValueError("checksum offsets beyond the frame")
    field = _csum(_sum16(memoryview(out)[csum_start:]))
    if field == b"\x00\x00" and csum_offset == _UDP_CSUM_OFFSET:
        field = b"\xff\xff"
    out[at : at + 2] = field
    return bytes(out)


def to_plain_frames(vnet_frame: bytes) -> list[bytes]:
    """Ethernet frames with complete checksums, for a peer without the fast path: a TCP/IPv4 or
    TCP/IPv6 super-frame cut into its MSS-sized segments (as the kernel's tcp_gso_segment would:
    sequence numbers, IP ids and lengths, CWR only on the first, FIN/PSH only on the last), a
    NEEDS_CSUM frame completed, anything else as it is. Raises ValueError for what it cannot cut
    (UDP fragmentation offload, inconsistent headers)."""
    if len(vnet_frame) < VNET_HDR_LEN + 14:
        raise ValueError("frame shorter than a virtio header and an Ethernet header")
    flags, gso_type, _hdr_len, mss, csum_start, csum_offset = _VNET.unpack_from(vnet_frame)
    frame = memoryview(vnet_frame)[VNET_HDR_LEN:]
    kind = gso_type & ~GSO_ECN
    if kind == GSO_NONE:
        if flags & VNET_F_NEEDS_CSUM:
            return [_complete(frame, csum_start, csum_offset)]
        return [bytes(frame)]
    if kind not in (GSO_TCPV4, GSO_TCPV6) or not mss:
        raise ValueError(f"cannot segment GSO type {gso_type} (size {mss})")
    l3 = _l3_offset(frame)
    l4 = csum_start
    if l4 + 20 > len(frame):
        raise ValueError("TCP header beyond the frame")
    v4 = kind == GSO_TCPV4
    if v4:
        ihl = (frame[l3] & 0x0F) * 4
        if frame[l3] >> 4 != 4 or l4 != l3 + ihl or frame[l3 + 9] != 6:
            raise ValueError("not a TCP/IPv4 frame where the virtio header says")
        pseudo = _sum16(frame[l3 + 12 : l3 + 20]) + 6
    else:
        if frame[l3] >> 4 != 6 or l4 < l3 + 40:
            raise ValueError("not a TCP/IPv6 frame where the virtio header says")
        pseudo = _sum16(frame[l3 + 8 : l3 + 40]) + 6
    thl = (frame[l4 + 12] >> 4) * 4
    body = l4 + thl
    if thl < 20 or body > len(frame):
        raise ValueError("bad TCP header length")
    payload = frame[body:]
    count = -(-len(payload) // mss) if payload else 1
    head = bytes(frame[:body])
    seq0 = int.from_bytes(head[l4 + 4 : l4 + 8], "big")
    tcp_flags = head[l4 + 13]
    ip_id0 = int.from_bytes(head[l3 + 4 : l3 + 6], "big")
    out = []
    for i in range(count):
        chunk = payload[i * mss : (i + 1) * mss]
        h = bytearray(head)
        h[l4 + 4 : l4 + 8] = ((seq0 + i * mss) & 0xFFFFFFFF).to_bytes(4, "big")
        fl = tcp_flags
        if i:
            fl &= ~_TCP_CWR
        if i != count - 1:
            fl &= ~(_TCP_FIN | _TCP_PSH)
        h[l4 + 13] = fl
        if v4:
            h[l3 + 2 : l3 + 4] = (body - l3 + len(chunk)).to_bytes(2, "big")
            h[l3 + 4 : l3 + 6] = ((ip_id0 + i) & 0xFFFF).to_bytes(2, "big")
            h[l3 + 10 : l3 + 12] = b"\x00\x00"
            h[l3 + 10 : l3 + 12] = _csum(_sum16(h[l3:l4]))
        else:
            h[l3 + 4 : l3 + 6] = (body - l3 - 40 + len(chunk)).to_bytes(2, "big")
        h[l4 + 16 : l4 + 18] = b"\x00\x00"
        total = pseudo + thl + len(chunk) + _sum16(h[l4:]) + _sum16(chunk)
        h[l4 + 16 : l4 + 18] = _csum(total)
        out.append(b"".join((h, chunk)))
    return out


# ---------------------------------------------------------------- negotiation messages

HELLO_OFFER = 1
HELLO_ACCEPT = 2
HELLO_REFUSE = 3
FASTPATH_VERSION = 1
CAP_GSO = 0x01
REFUSE_DISABLED = 1
REFUSE_MISMATCH = 2
REFUSE_CAPABILITY = 3
REFUSE_TEXT = {
    REFUSE_DISABLED: "disabled by the peer (--no-fastpath)",
    REFUSE_MISMATCH: "the peer uses another AEAD or version",
    REFUSE_CAPABILITY: "the peer lacks TAP offloads",
}

AEAD_NONE = 0
AEAD_AES256GCM = 1
AEAD_CHACHA20POLY1305 = 2
AEAD_NAMES = {
    AEAD_NONE: "none",
    AEAD_AES256GCM: "AES-256-GCM",
    AEAD_CHACHA20POLY1305: "ChaCha20-Poly1305",
}

_HELLO = struct.Struct(">BBH20s6s6sBBBBI16s16s")
HELLO_SIZE = _HELLO.size  # 76
_KDF_LABEL = b"pyn2n fastpath v1"


def tap_gso_max_size(segment: int, max_datagrams: int) -> int:
    """The largest GSO size for the TAP so that a sealed super-frame fits one UDP_SEGMENT send
    of at most `max_datagrams` datagrams of `segment` bytes (bigger ones take two sends)."""
    room = max_datagrams * (segment - DGRAM_HEADER) - TAG_SIZE - VNET_HDR_LEN - 18
    return min(65536, room)


def aead_for_transform(transform_id: int) -> int:
    """-A1 (no key): none; -A4 (ChaCha20): ChaCha20-Poly1305; any other cipher: AES-256-GCM."""
    if transform_id == N2N_TRANSFORM_ID_NULL:
        return AEAD_NONE
    if transform_id == N2N_TRANSFORM_ID_CHACHA20:
        return AEAD_CHACHA20POLY1305
    return AEAD_AES256GCM


class Hello:
    """One negotiation message (see the module docstring for its bytes)."""

    __slots__ = (
        "accept_salt",
        "aead",
        "conn",
        "dst",
        "info",
        "kind",
        "offer_salt",
        "src",
        "version",
    )

    def __init__(
        self,
        kind: int,
        src: bytes,
        dst: bytes,
        aead: int,
        info: int,
        conn: int,
        offer_salt: bytes,
        accept_salt: bytes = bytes(16),
        version: int = FASTPATH_VERSION,
    ) -> None:
        self.kind = kind
        self.src = src
        self.dst = dst
        self.aead = aead
        self.info = info
        self.conn = conn
        self.offer_salt = offer_salt
        self.accept_salt = accept_salt
        self.version = version


def encode_hello(community20: bytes, hello: Hello) -> bytes:
    return _HELLO.pack(
        N2N_PKT_VERSION,
        N2N_DEFAULT_TTL,
        MSG_TYPE_PYN2N_FASTPATH,
        community20,
        hello.src,
        hello.dst,
        hello.kind,
        hello.version,
        hello.aead,
        hello.info,
        hello.conn,
        hello.offer_salt,
        hello.accept_salt,
    )


def decode_hello(data: bytes) -> Hello | None:
    """The message in a (header-decrypted) datagram, None if it is too short or not one."""
    if len(data) < HELLO_SIZE:
        return None
    (ver, _ttl, flags, _comm, src, dst, kind, version, aead, info, conn, o_salt, a_salt) = (
        _HELLO.unpack_from(data)
    )
    if ver != N2N_PKT_VERSION or flags & 0x1F != MSG_TYPE_PYN2N_FASTPATH:
        return None
    if kind not in (HELLO_OFFER, HELLO_ACCEPT, HELLO_REFUSE):
        return None
    return Hello(kind, src, dst, aead, info, conn, o_salt, a_salt, version)


def refusal(community20: bytes, own_mac: bytes, offer: Hello, reason: int) -> bytes:
    """A REFUSE answering `offer`."""
    return encode_hello(
        community20,
        Hello(HELLO_REFUSE, own_mac, offer.src, offer.aead, reason, 0, offer.offer_salt),
    )


def derive_keys(passphrase: bytes, aead: int, offer: Hello, accept: Hello) -> tuple[bytes, bytes]:
    """(offerer→answerer key, answerer→offerer key), 32 bytes each."""
    info = b"".join(
        (
            _KDF_LABEL,
            bytes((aead,)),
            offer.src,
            accept.src,
            offer.conn.to_bytes(4, "big"),
            accept.conn.to_bytes(4, "big"),
        )
    )
    okm = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=offer.offer_salt + accept.accept_salt, info=info
    ).derive(passphrase)
    return okm[:32], okm[32:]


def make_aead(aead: int, key: bytes) -> AESGCM | ChaCha20Poly1305 | None:
    if aead == AEAD_AES256GCM:
        return AESGCM(key)
    if aead == AEAD_CHACHA20POLY1305:
        return ChaCha20Poly1305(key)
    return None


# ---------------------------------------------------------------- replay window


class ReplayWindow:
    """RFC 6479 anti-replay window: a ring of 64-bit blocks, so moving the top never shifts
    the whole bitmap. Accepts any packet number newer than the top, and older ones not yet seen
    within the last `size` numbers."""

    BLOCKS = 64  # a power of two
    size = (BLOCKS - 1) * 64  # 4,032 packet numbers

    __slots__ = ("bitmap", "top")

    def __init__(self) -> None:
        self.top = -1
        self.bitmap = [0] * self.BLOCKS

    def check(self, pn: int) -> bool:
        """Could `pn` be new? (Before spending an AEAD decryption on it.)"""
        if pn > self.top:
            return True
        if self.top - pn >= self.size:
            return False
        return not (self.bitmap[(pn >> 6) & (self.BLOCKS - 1)] >> (pn & 63)) & 1

    def update(self, pn: int) -> bool:
        """Record an authenticated `pn`; False if it is a replay or too old."""
        mask = self.BLOCKS - 1
        if pn > self.top:
            cur = self.top >> 6
            new = pn >> 6
            for i in range(1, min(new - cur, self.BLOCKS) + 1):
                self.bitmap[(cur + i) & mask] = 0
            self.top = pn
        elif self.top - pn >= self.size:
            return False
        block = (pn >> 6) & mask
        bit = 1 << (pn & 63)
        if self.bitmap[block] & bit:
            return False
        self.bitmap[block] |= bit
        return True


_WINDOW_MASK = ReplayWindow.BLOCKS - 1

# ---------------------------------------------------------------- sessions

FAST_MAGIC = 0xFD
KIND_DATA = 0
KIND_CONTROL = 1
CTL_CONFIRM = 1
CTL_KEEPALIVE = 2

_DGRAM = struct.Struct(">BBIQBB")
_PREFIX = struct.Struct(">BBIQ")
DGRAM_HEADER = _DGRAM.size  # 16
_CONTROL = struct.Struct(">BQQ")
TAG_SIZE = 16
_NONCE_PAD = bytes(4)

DEFAULT_SEGMENT = 1472  # UDP payload in a 1500-byte IPv4 packet
MAX_FRAGMENTS = 255
TICK = 0.5  # housekeeping period: retries, keep-alives, expiry
OFFER_ATTEMPTS = 4  # OFFERs (and CONFIRMs) sent before giving up
KEEPALIVE = 2.0  # a control datagram when nothing else left for this long
SESSION_IDLE = 10.0  # no authenticated datagram for this long: back to the standard path
OLD_SESSION_GRACE = 3.0  # a replaced session still decrypts stragglers this long
FEEDBACK_INTERVAL = 0.05  # loss feedback at most this often...
FEEDBACK_PACKETS = 32  # ...and only after this many packets (a trickle waits for a keep-alive)
PARTIAL_MAX = 128  # packets in reassembly per session
PARTIAL_AGE = 1.0
# loss policy (docs/fastpath.md)
LOSS_SAMPLE = 4096  # datagrams sent per loss estimate
LOSS_FALLBACK = 0.005  # datagram loss above which the TAP gives single frames for a while
HOLD_MIN = 5.0
HOLD_MAX = 60.0
# TAP offloads (docs/fastpath.md): cutting super-frames in Python for peers without the fast
# path halves their throughput, so offloads stay off while such traffic is more than a trickle
MIXED_FRAMES = 256  # unicast frames to standard-path peers per TICK that turn them off
MIXED_HOLD = 5.0
# TSO stays off until the fast path carries a flow: with it on, idle pings measured slower
# (docs/fastpath.md); a bulk flow crosses the threshold within milliseconds
BULK_FRAMES = 64  # frames sent on the fast path since the last TICK that turn TSO on
BULK_HOLD = 2.0  # ...and it stays on this long after the last such TICK
GRO_IDLE = 2.0  # UDP_GRO stays on this long after the last packet of many datagrams

# per fragment count n: the fragment indices 0..n-1, one byte each
_INDICES = [bytes(range(n)) for n in range(MAX_FRAGMENTS + 1)]
_COUNTS = [bytes((n,)) for n in range(MAX_FRAGMENTS + 1)]


class _Layout:
    """Precompiled structs for packets cut into `segment`-byte datagrams: one C call each cuts
    a sealed packet into fragments, strips the headers off a received run of datagrams, or
    reads their headers (no Python loop per datagram, no memoryview per fragment)."""

    __slots__ = ("_chunks", "_heads", "_strips", "frag", "segment")

    def __init__(self, segment: int) -> None:
        self.segment = segment
        self.frag = segment - DGRAM_HEADER
        self._chunks: list[struct.Struct | None] = [None] * (MAX_FRAGMENTS + 1)
        self._strips: list[struct.Struct | None] = [None] * (MAX_FRAGMENTS + 1)
        self._heads: list[struct.Struct | None] = [None] * (MAX_FRAGMENTS + 1)

    def chunks(self, n: int) -> struct.Struct:
        """`n` fragments of `frag` bytes back to back."""
        st = self._chunks[n]
        if st is None:
            st = self._chunks[n] = struct.Struct(f"{self.frag}s" * n)
        return st

    def strips(self, n: int) -> struct.Struct:
        """The fragments of `n` whole datagrams back to back (their headers skipped)."""
        st = self._strips[n]
        if st is None:
            st = self._strips[n] = struct.Struct(f"{DGRAM_HEADER}x{self.frag}s" * n)
        return st

    def heads(self, n: int) -> struct.Struct:
        """Bytes 0..13 (all but fragment index and count) of `n` datagrams."""
        st = self._heads[n]
        if st is None:
            skip = self.segment - (DGRAM_HEADER - 2)
            st = self._heads[n] = struct.Struct(f"{DGRAM_HEADER - 2}s" + f"{skip}x14s" * (n - 1))
        return st

    def whole(self, buf: bytes, off: int, count: int) -> bool:
        """Do the `count` datagrams of `segment` bytes at `off` (the last may be shorter, but holds
        its header) carry fragments 0..count-1 of one packet?"""
        heads = self.heads(count).unpack_from(buf, off)
        if heads.count(heads[0]) != count:
            return False
        segment = self.segment
        stop = off + (count - 1) * segment + 1
        return (
            buf[off + 14 : stop + 14 : segment] == _INDICES[count]
            and buf[off + 15 : stop + 15 : segment] == bytes((count,)) * count
        )


# session states
OFFERING = "offering"
CONFIRMING = "confirming"
ANSWERED = "answered"
ESTABLISHED = "established"


class Session:
    """One negotiated fast path to one peer (one direction's keys each way)."""

    __slots__ = (
        "addr",
        "attempts",
        "fb_count",
        "fb_rx",
        "fb_sent",
        "fb_top",
        "frags_sent",
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
        "pkts_sent",
        "reply",
        "role",
        "rx_aead",
        "rx_bytes",
        "rx_conn",
        "rx_count",
        "rx_frames",
        "state",
        "tx_aead",
        "tx_bytes",
        "tx_conn",
        "tx_frames",
        "tx_pn",
        "window",
    )

    def __init__(self, mac: bytes, peer: Peer, rx_conn: int, role: str, now: float) -> None:
        self.mac = mac
        self.peer = peer
        self.addr: Addr = peer.sock
        self.rx_conn = rx_conn
        self.tx_conn = 0
        self.role = role
        self.state = OFFERING if role == "offerer" else ANSWERED
        self.offer: Hello | None = None
        self.reply: bytes = b""  # the ACCEPT we sent (answered again for a repeated OFFER)
        self.tx_aead: Any = None
        self.rx_aead: Any = None
        self.tx_pn = 0
        self.window = ReplayWindow()
        self.partial: dict[int, list[Any]] = {}
        self.attempts = 0
        self.next_try = now
        self.last_rx = now
        self.last_tx = now
        self.rx_count = 0
        self.fb_sent = now
        self.fb_rx = 0  # rx_count when we last sent feedback
        self.fb_top = -1  # the last loss feedback we used (as the sender)
        self.fb_count = 0
        self.frags_sent = 0
        self.pkts_sent = 0
        self.loss = 0.0  # the last datagram loss estimate
        self.hold = HOLD_MIN  # how long the next fallback to standard PACKETs lasts
        self.hold_until: float | None = None  # in a fallback until then
        self.tx_frames = 0
        self.rx_frames = 0
        self.tx_bytes = 0
        self.rx_bytes = 0


class _PeerState:
    """Everything the fast path keeps about one peer: the session in use, the one being
    negotiated, a replaced one still draining, and why there is none."""

    __slots__ = ("cur", "next", "note", "old", "old_until")

    def __init__(self) -> None:
        self.cur: Session | None = None
        self.next: Session | None = None
        self.old: Session | None = None
        self.old_until = 0.0
        self.note = ""


class FastPath:
    """The fast-path side of one edge (sans-IO; the edge calls it, see the module docstring).

    `send_hello(message, addr)` seals (header encryption) and queues a negotiation message,
    `send_datagram(data, addr)` queues one fast datagram; packets of several datagrams wait in
    `gso_out` as (buffer, segment size, addr) for one UDP_SEGMENT send each; received DATA waits in
    `frames` (virtio header + frame) for the TAP.
    """

    def __init__(
        self,
        *,
        mac: bytes,
        community20: bytes,
        passphrase: str | None,
        aead: int,
        peers: PeerTable,
        p2p_fresh: float,
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
        self.mac = mac
        self.community20 = community20
        self._passphrase = passphrase_bytes(passphrase) if passphrase else b""
        self.aead = aead
        self.peers = peers
        self.p2p_fresh = p2p_fresh
        self._rng = rng
        self._send_hello = send_hello
        self._send_datagram = send_datagram
        self.drops = drops
        self.enabled = enabled
        self.segment = segment
        self._frag = segment - DGRAM_HEADER
        self._layout = _Layout(segment)
        self.hosts = routing_hosts  # -r: bridged hosts behind other edges
        self.ip4 = bytes(4)  # our TAP address (frames to others are dropped without -r)
        self.states: dict[bytes, _PeerState] = {}
        self.tx: dict[bytes, Session] = {}  # MAC -> established session (the hot lookup)
        self.by_conn: dict[int, Session] = {}
        self.gso_out: list[tuple[bytes | bytearray, int, Addr]] = []
        self.frames: list[bytes] = []
        self._next_tick: float | None = None
        self.rx_packets = 0  # frames (segments) delivered, for the edge's counters
        self.tx_packets = 0
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

    # ---------------------------------------------------------------- outputs and timer

    @property
    def active(self) -> bool:
        """Some session carries our data."""
        return bool(self.tx)

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

    def get_timer(self) -> float | None:
        return self._next_tick

    def handle_timer(self, now: float) -> None:
        if self._next_tick is None or now < self._next_tick:
            return
        if self.std_unicast >= MIXED_FRAMES:
            self._mixed_until = now + MIXED_HOLD
        self.std_unicast = 0
        self.mixed = now < self._mixed_until
        self.gro = bool(self.by_conn) and now - self._bulk_rx < GRO_IDLE
        if self.tx_packets - self._tx_mark >= BULK_FRAMES:
            self._bulk_until = now + BULK_HOLD
        self._tx_mark = self.tx_packets
        self.bulk = now < self._bulk_until
        lossy = False
        for mac, st in list(self.states.items()):
            self._tick_peer(mac, st, now)
            lossy = lossy or (st.cur is not None and st.cur.hold_until is not None)
        self.lossy = lossy
        self._next_tick = now + TICK if self.states else None

    def _schedule(self, now: float) -> None:
        if self._next_tick is None:
            self._next_tick = now + TICK

    def _tick_peer(self, mac: bytes, st: _PeerState, now: float) -> None:
        peer = self.peers.known.get(mac)
        if st.old is not None and now >= st.old_until:
            self._forget(st.old)
            st.old = None
        for sess in (st.cur, st.next):
            if sess is None:
                continue
            if peer is not sess.peer or peer.sock != sess.addr:
                self._end(st, sess, "the direct path changed")
            elif sess.state in (ESTABLISHED, ANSWERED) and now - sess.last_rx > SESSION_IDLE:
                self._end(st, sess, "no answer on the fast path")
            else:
                self._expire_partials(sess, now)
        sess = st.next
        if sess is not None and sess.state in (OFFERING, CONFIRMING) and now >= sess.next_try:
            if sess.attempts >= OFFER_ATTEMPTS:
                self._end(
                    st, sess, "no answer to OFFER" if sess.state == OFFERING else "keys differ"
                )
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

    def _retry(self, sess: Session, now: float) -> None:
        sess.attempts += 1
        sess.next_try = now + TICK * (1 << min(sess.attempts, 3))
        if sess.state == OFFERING:
            assert sess.offer is not None
            self._send_hello(encode_hello(self.community20, sess.offer), sess.addr)
        else:
            self._control(sess, CTL_CONFIRM, now)

    # ---------------------------------------------------------------- negotiation

    def peer_up(self, peer: Peer, now: float) -> None:
        """`peer` answered our REGISTER: offer it the fast path unless one is running."""
        if not self.enabled:
            return
        st = self.states.get(peer.mac)
        if st is None:
            st = self.states[peer.mac] = _PeerState()
        elif (st.cur is not None and st.cur.peer is peer and st.cur.addr == peer.sock) or (
            st.next is not None and st.next.peer is peer and st.next.addr == peer.sock
        ):
            return
        sess = Session(peer.mac, peer, self._new_conn(), "offerer", now)
        sess.offer = Hello(
            HELLO_OFFER, self.mac, peer.mac, self.aead, CAP_GSO, sess.rx_conn, self._rng(16)
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

    def _on_offer(self, offer: Hello, addr: Addr, now: float) -> None:
        if not self.enabled:
            self._send_hello(refusal(self.community20, self.mac, offer, REFUSE_DISABLED), addr)
            return
        if offer.version != FASTPATH_VERSION or offer.aead != self.aead:
            self._send_hello(refusal(self.community20, self.mac, offer, REFUSE_MISMATCH), addr)
            return
        if not offer.info & CAP_GSO:
            self._send_hello(refusal(self.community20, self.mac, offer, REFUSE_CAPABILITY), addr)
            return
        peer = self.peers.known.get(offer.src)
        if peer is None or peer.sock != addr:
            # not (yet) a direct peer here: the offerer tries again
            self.drops["fast_unknown_peer"] += 1
            return
        st = self.states.get(offer.src)
        if st is None:
            st = self.states[offer.src] = _PeerState()
        for sess in (st.next, st.cur):
            if (
                sess is not None
                and sess.role == "answerer"
                and sess.offer is not None
                and sess.offer.offer_salt == offer.offer_salt
            ):
                if sess.reply:  # a repeated OFFER: our ACCEPT got lost
                    self._send_hello(sess.reply, addr)
                return
        nxt = st.next
        if nxt is not None and nxt.state == OFFERING and self.mac < offer.src:
            self.drops["fast_glare"] += 1  # both offered: ours wins, they answer it
            return
        sess = Session(offer.src, peer, self._new_conn(), "answerer", now)
        accept = Hello(
            HELLO_ACCEPT,
            self.mac,
            offer.src,
            self.aead,
            CAP_GSO,
            sess.rx_conn,
            offer.offer_salt,
            self._rng(16),
        )
        sess.offer = offer
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
            sess is None
            or sess.state != OFFERING
            or sess.offer is None
            or accept.offer_salt != sess.offer.offer_salt
            or addr != sess.addr
        ):
            self.drops["fast_stale_hello"] += 1
            return
        if accept.aead != self.aead or accept.version != FASTPATH_VERSION:
            assert st is not None
            self._end(st, sess, REFUSE_TEXT[REFUSE_MISMATCH])
            return
        sess.tx_conn = accept.conn
        self._keys(sess, sess.offer, accept, offerer=True)
        sess.state = CONFIRMING
        sess.attempts = 0
        assert st is not None
        st.note = "confirming"
        self._retry(sess, now)

    def _on_refuse(self, refuse: Hello, now: float) -> None:
        st = self.states.get(refuse.src)
        sess = None if st is None else st.next
        if sess is None or sess.offer is None or refuse.offer_salt != sess.offer.offer_salt:
            self.drops["fast_stale_hello"] += 1
            return
        assert st is not None
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

    def _replace_next(self, st: _PeerState, sess: Session) -> None:
        if st.next is not None:
            self._forget(st.next)
        st.next = sess
        self.by_conn[sess.rx_conn] = sess

    def _forget(self, sess: Session) -> None:
        if self.by_conn.get(sess.rx_conn) is sess:
            del self.by_conn[sess.rx_conn]

    def _end(self, st: _PeerState, sess: Session, why: str) -> None:
        """Stop using `sess`: the standard path takes over."""
        self._forget(sess)
        if st.cur is sess:
            st.cur = None
            if self.tx.get(sess.mac) is sess:
                del self.tx[sess.mac]
        if st.next is sess:
            st.next = None
        st.note = why

    def _establish(self, st: _PeerState, sess: Session, now: float) -> None:
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
        if sess.role == "answerer":
            self._control(sess, CTL_CONFIRM, now)  # establishes the offerer

    def end_all(self) -> None:
        """Forget every session (e.g. the edge left its community)."""
        self.states.clear()
        self.tx.clear()
        self.by_conn.clear()
        self._next_tick = None

    # ---------------------------------------------------------------- sending

    def send(self, data: bytes, now: float) -> bool:
        """A virtio frame from the TAP: True if it went (or was dropped) on the fast path,
        False if the standard path should take it (no established, fresh session)."""
        dst = data[10:16]
        hosts = self.hosts
        if hosts is not None:
            dst = hosts.edge_for(dst)
        sess = self.tx.get(dst)
        if sess is None:
            return False
        peer = sess.peer
        if self.peers.known.get(dst) is not peer or peer.sock != sess.addr:
            return False
        if hosts is None and data[22:24] == b"\x08\x00" and data[36:40] != self.ip4:
            self.drops["tap_routed"] += 1  # only our own IPv4 traffic leaves (n2n without -r)
            return True
        self._seal_out(sess, KIND_DATA, data, now)
        segs = frame_segments(data) if data[1] else 1
        sess.tx_frames += segs
        sess.tx_bytes += len(data) - VNET_HDR_LEN
        self.tx_packets += segs
        if not self.bulk and self.tx_packets - self._tx_mark >= BULK_FRAMES:
            self.bulk = True  # a flow: super-frames from now on
            self._bulk_until = now + BULK_HOLD
        return True

    def _control(self, sess: Session, ctl: int, now: float) -> None:
        sess.fb_sent = now
        sess.fb_rx = sess.rx_count
        top = sess.window.top
        self._seal_out(
            sess, KIND_CONTROL, _CONTROL.pack(ctl, top if top >= 0 else 0, sess.rx_count), now
        )

    def _seal_out(self, sess: Session, kind: int, plain: bytes, now: float) -> None:
        pn = sess.tx_pn
        sess.tx_pn = pn + 1
        prefix = _PREFIX.pack(FAST_MAGIC, kind, sess.tx_conn, pn)
        aead = sess.tx_aead
        sealed = plain if aead is None else aead.encrypt(_NONCE_PAD + prefix[6:], plain, prefix)
        size = self._frag
        count = -(-len(sealed) // size)
        sess.last_tx = now
        sess.pkts_sent += 1
        sess.frags_sent += count
        if count == 1:
            self._send_datagram(b"".join((prefix, b"\x00\x01", sealed)), sess.addr)
            return
        if count > MAX_FRAGMENTS:
            self.drops["fast_too_big"] += 1
            return
        # one C call cuts the fragments, one join puts a copy of the header in front of each,
        # and one strided assignment writes the fragment indices (the header's byte 14)
        segment = self.segment
        rest = (count - 1) * size
        out = bytearray(b"".join((prefix, b"\x00", _COUNTS[count]))).join(
            (b"", *self._layout.chunks(count - 1).unpack_from(sealed), sealed[rest:])
        )
        out[14 : (count - 1) * segment + 15 : segment] = _INDICES[count]
        self.gso_out.append((out, segment, sess.addr))

    # ---------------------------------------------------------------- receiving

    def receive(self, data: bytes, addr: Addr, now: float) -> bool:
        """One datagram starting with FAST_MAGIC: False if no session has its connection id
        (then it may be a header-encrypted n2n datagram)."""
        if len(data) < DGRAM_HEADER:
            return False
        _m, kind, conn, pn, idx, cnt = _DGRAM.unpack_from(data)
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
        unpack = _DGRAM.unpack_from
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

    def _expire_partials(self, sess: Session, now: float) -> None:
        old = [pn for pn, e in sess.partial.items() if now - e[2] > PARTIAL_AGE]
        for pn in old:
            del sess.partial[pn]
            self.drops["fast_incomplete"] += 1

    def _open(
        self, sess: Session, kind: int, pn: int, sealed: bytes | bytearray, addr: Addr, now: float
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
                    _NONCE_PAD + pn.to_bytes(8, "big"),
                    sealed,
                    _PREFIX.pack(FAST_MAGIC, kind, sess.rx_conn, pn),
                )
            except InvalidTag:
                self.drops["fast_auth"] += 1
                return
        top = window.top
        if pn > top and pn >> 6 == top >> 6:  # the usual: next in the current block
            window.bitmap[(pn >> 6) & _WINDOW_MASK] |= 1 << (pn & 63)
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
        if sess.state != ESTABLISHED:
            st = self.states.get(sess.mac)
            if st is not None and st.next is sess:
                self._establish(st, sess, now)  # the peer has the same keys: use it
        if kind == KIND_DATA:
            self._deliver(sess, plain)
            if (
                now - sess.fb_sent >= FEEDBACK_INTERVAL
                and sess.rx_count - sess.fb_rx >= FEEDBACK_PACKETS
            ):
                self._control(sess, CTL_KEEPALIVE, now)
        elif len(plain) >= _CONTROL.size:
            ctl, top, count = _CONTROL.unpack_from(plain)
            self._feedback(sess, top, count, now)
            if ctl == CTL_CONFIRM and sess.role == "answerer":
                self._control(sess, CTL_KEEPALIVE, now)  # our own CONFIRM may have been lost
        else:
            self.drops["fast_decode"] += 1

    def _deliver(self, sess: Session, frame: bytes) -> None:
        if len(frame) < VNET_HDR_LEN + 14:
            self.drops["short_frame"] += 1
            return
        if self.hosts is None:
            if (
                frame[22:24] == b"\x08\x00"
                and len(frame) >= 44
                and frame[40:44] != self.ip4
                and frame[10:16] != b"\xff" * 6
            ):
                self.drops["routed"] += 1
                return
        else:
            host = frame[16:22]
            if not host[0] & 1:
                entry = self.hosts.entries.get(host)
                if entry is not None:
                    entry.edge = sess.mac
                    entry.seen = sess.last_rx
        segs = frame_segments(frame) if frame[1] else 1
        sess.rx_frames += segs
        sess.rx_bytes += len(frame) - VNET_HDR_LEN
        self.rx_packets += segs
        self.frames.append(frame)

    def _feedback(self, sess: Session, top: int, count: int, now: float) -> None:
        """The peer's (highest packet number, packets received): single frames under heavy loss."""
        dtop = top - sess.fb_top
        if sess.frags_sent < LOSS_SAMPLE or dtop <= 0:
            return
        dcount = count - sess.fb_count
        frags = sess.frags_sent / max(1, sess.pkts_sent)
        sess.fb_top, sess.fb_count = top, count
        sess.frags_sent = sess.pkts_sent = 0
        lost = max(0.0, 1.0 - dcount / dtop)
        # per-datagram loss from the per-packet loss of packets of `frags` datagrams
        sess.loss = loss = 1.0 - (1.0 - min(lost, 0.999)) ** (1.0 / max(1.0, frags))
        if loss <= LOSS_FALLBACK:
            sess.hold = HOLD_MIN
        elif sess.hold_until is None:
            sess.hold_until = now + sess.hold
            sess.hold = min(HOLD_MAX, sess.hold * 2)
            self.lossy = True

    # ---------------------------------------------------------------- management

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
            return st.next.state
        return st.note or "no"
