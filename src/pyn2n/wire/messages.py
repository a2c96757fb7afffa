"""The n2n v3 common header and the 12 message types (spec §2, §4, §10.3).

Common header, 24 bytes: `u8 version (3) | u8 ttl | u16 flags | 20-byte community` where the low 5
flag bits are the packet code and the upper 11 bits the flags (0x20 FROM_SUPERNODE, 0x40 SOCKET).
The community is NUL-padded; a valid plaintext header has byte 23 == 0 (§2, §6).

Bodies (`[x]` = present only with the SOCKET flag; `sock!` = always present):

| pc | message            | body |
|----|--------------------|------|
| 1  | REGISTER           | cookie u32, srcMac, dstMac, [sock], dev_addr u32, bitlen u8, dev_desc 16 |
| 2  | DEREGISTER         | undefined by n2n: kept raw |
| 3  | PACKET             | srcMac, dstMac, [sock], compression u8, transform u8, payload… |
| 4  | REGISTER_ACK       | cookie u32, dstMac, srcMac, [sock] (dstMac first!) |
| 5  | REGISTER_SUPER     | cookie u32, edgeMac, [sock], dev_addr, bitlen, dev_desc 16, auth, key_time u32 |
| 6  | UNREGISTER_SUPER   | auth, srcMac (auth first, no cookie) |
| 7  | REGISTER_SUPER_ACK | cookie u32, srcMac, dev_addr, bitlen, lifetime u16, sock!, auth, num_sn u8, num_sn × 26-byte entries, key_time u32 |
| 8  | REGISTER_SUPER_NAK | cookie u32, srcMac, auth |
| 9  | FEDERATION         | undefined by n2n: kept raw |
| 10 | PEER_INFO          | aflags u16, srcMac, mac, sock!, [preferred_sock], load u32, uptime u32, version 20 |
| 11 | QUERY_PEER         | srcMac, targetMac, aflags u16 (aflags last, unlike PEER_INFO) |
| 12 | RE_REGISTER_SUPER  | empty |

Decoding is strict about lengths (n2n silently decodes short messages with zeros; it never sends
them) and tolerant of trailing bytes, as n2n is: REGISTER_SUPER(_ACK) may carry a 16-byte auth tag
after the message in user/password mode (§7.3). `decode_with_end` tells where the message ended.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from pyn2n.constants import (
    COMMON_HEADER_SIZE,
    MSG_TYPE_DEREGISTER,
    MSG_TYPE_FEDERATION,
    MSG_TYPE_PACKET,
    MSG_TYPE_PEER_INFO,
    MSG_TYPE_QUERY_PEER,
    MSG_TYPE_RE_REGISTER_SUPER,
    MSG_TYPE_REGISTER,
    MSG_TYPE_REGISTER_ACK,
    MSG_TYPE_REGISTER_SUPER,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    MSG_TYPE_UNREGISTER_SUPER,
    N2N_COMMUNITY_SIZE,
    N2N_DESC_SIZE,
    N2N_FLAGS_BITS_MASK,
    N2N_FLAGS_SOCKET,
    N2N_FLAGS_TYPE_MASK,
    N2N_PKT_VERSION,
    N2N_VERSION_STRING_SIZE,
    REG_LIFETIME,
)
from pyn2n.wire.errors import WireError
from pyn2n.wire.types import (
    SN_ENTRY_SIZE,
    Auth,
    BytesLike,
    IpSubnet,
    Sock,
    SupernodeEntry,
    check_mac,
    decode_auth,
    decode_sn_entry,
    decode_sock,
    encode_auth,
    encode_sn_entry,
    encode_sock,
    pad_fixed,
)

_COMMON = struct.Struct(">BBH20s")
_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_COOKIE_2MAC = struct.Struct(">I6s6s")  # REGISTER head, REGISTER_ACK
_COOKIE_MAC = struct.Struct(">I6s")  # REGISTER_SUPER head, REGISTER_SUPER_NAK head
_DEV = struct.Struct(">IB16s")  # dev_addr, bitlen, dev_desc
_MAC = struct.Struct(">6s")
_2MAC = struct.Struct(">6s6s")
_2U8 = struct.Struct(">BB")
_RSA_HEAD = struct.Struct(">I6sIBH")  # cookie, srcMac, dev_addr, bitlen, lifetime
_PI_HEAD = struct.Struct(">H6s6s")  # aflags, srcMac, mac
_PI_TAIL = struct.Struct(">II20s")  # load, uptime, version
_QP = struct.Struct(">6s6sH")


# --- common header (§2) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Common:
    """`flags` holds the upper 11 bits only; `community` is the name without NUL padding
    (at most 19 bytes). `encode` takes pc from the message and ignores `pc` here."""

    pc: int
    ttl: int
    flags: int
    community: bytes


def pad_community(name: bytes) -> bytes:
    """The 20-byte NUL-padded community field (max 19 bytes + NUL, §2); used by the fast path."""
    if len(name) >= N2N_COMMUNITY_SIZE:
        raise ValueError(f"community name longer than {N2N_COMMUNITY_SIZE - 1} bytes: {name!r}")
    if b"\x00" in name:
        raise ValueError(f"community name contains a NUL byte: {name!r}")
    return name.ljust(N2N_COMMUNITY_SIZE, b"\x00")


def decode_common(data: BytesLike) -> tuple[Common, int]:
    """Decode the 24-byte header of any packet code (also unknown ones, so that extensions can
    dispatch themselves); returns it and the body offset (24)."""
    if len(data) < COMMON_HEADER_SIZE:
        raise WireError(f"packet of {len(data)} bytes is shorter than the common header")
    version, ttl, flags, community = _COMMON.unpack_from(data)
    if version != N2N_PKT_VERSION:
        raise WireError(f"packet version {version}, expected {N2N_PKT_VERSION}")
    # a plaintext header always ends its community with NUL (§2); also what n2n's SN checks (§6)
    if community[-1]:
        raise WireError("community field not NUL-terminated")
    return (
        Common(
            flags & N2N_FLAGS_TYPE_MASK,
            ttl,
            flags & N2N_FLAGS_BITS_MASK,
            community[: community.index(0)],
        ),
        COMMON_HEADER_SIZE,
    )


# --- messages (§4) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register:
    """REGISTER (1), edge→edge. Edges send no sock; a relaying SN adds the sender's public sock."""

    PC: ClassVar[int] = MSG_TYPE_REGISTER
    cookie: int
    src_mac: bytes
    dst_mac: bytes
    sock: Sock | None
    dev_addr: IpSubnet
    dev_desc: bytes


@dataclass(frozen=True, slots=True)
class Deregister:
    """DEREGISTER (2): defined by n2n without an encoder or handler; any body is kept raw."""

    PC: ClassVar[int] = MSG_TYPE_DEREGISTER
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Packet:
    """PACKET (3): an encapsulated (compressed, transformed) Ethernet frame. `encode` accepts any
    bytes-like payload; decoded payloads are `bytes`."""

    PC: ClassVar[int] = MSG_TYPE_PACKET
    src_mac: bytes
    dst_mac: bytes
    sock: Sock | None
    compression: int
    transform: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class RegisterAck:
    """REGISTER_ACK (4). Wire order is dstMac (the acknowledged edge) then srcMac (§10.3)."""

    PC: ClassVar[int] = MSG_TYPE_REGISTER_ACK
    cookie: int
    dst_mac: bytes
    src_mac: bytes
    sock: Sock | None = None


@dataclass(frozen=True, slots=True)
class RegisterSuper:
    """REGISTER_SUPER (5), edge→SN and SN→SN."""

    PC: ClassVar[int] = MSG_TYPE_REGISTER_SUPER
    cookie: int
    edge_mac: bytes
    sock: Sock | None
    dev_addr: IpSubnet
    dev_desc: bytes
    auth: Auth
    key_time: int = 0


@dataclass(frozen=True, slots=True)
class UnregisterSuper:
    """UNREGISTER_SUPER (6): auth comes before the MAC on the wire (§10.3)."""

    PC: ClassVar[int] = MSG_TYPE_UNREGISTER_SUPER
    auth: Auth
    src_mac: bytes


@dataclass(frozen=True, slots=True)
class RegisterSuperAck:
    """REGISTER_SUPER_ACK (7). `sock` (the edge's public address) is mandatory whatever the
    flags say; `supernodes` are the 26-byte little-endian entries (§4, §10.2)."""

    PC: ClassVar[int] = MSG_TYPE_REGISTER_SUPER_ACK
    cookie: int
    src_mac: bytes
    dev_addr: IpSubnet
    sock: Sock
    auth: Auth
    supernodes: tuple[SupernodeEntry, ...] = ()
    lifetime: int = REG_LIFETIME
    key_time: int = 0


@dataclass(frozen=True, slots=True)
class RegisterSuperNak:
    """REGISTER_SUPER_NAK (8); src_mac is the refused edge's MAC."""

    PC: ClassVar[int] = MSG_TYPE_REGISTER_SUPER_NAK
    cookie: int
    src_mac: bytes
    auth: Auth = field(default_factory=Auth)


@dataclass(frozen=True, slots=True)
class Federation:
    """FEDERATION (9): defined by n2n, never sent; any body is kept raw."""

    PC: ClassVar[int] = MSG_TYPE_FEDERATION
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """PEER_INFO (10), SN→edge. aflags first; `sock` mandatory, `preferred_sock` flag-gated.
    load/uptime/version are garbage in a peer answer from a C SN (§4)."""

    PC: ClassVar[int] = MSG_TYPE_PEER_INFO
    aflags: int
    src_mac: bytes
    mac: bytes
    sock: Sock
    preferred_sock: Sock | None = None
    load: int = 0
    uptime: int = 0
    version: bytes = b""


@dataclass(frozen=True, slots=True)
class QueryPeer:
    """QUERY_PEER (11), edge→SN; aflags last. A null target_mac is a PING."""

    PC: ClassVar[int] = MSG_TYPE_QUERY_PEER
    src_mac: bytes
    target_mac: bytes
    aflags: int = 0


@dataclass(frozen=True, slots=True)
class ReRegisterSuper:
    """RE_REGISTER_SUPER (12): header only."""

    PC: ClassVar[int] = MSG_TYPE_RE_REGISTER_SUPER


Message: TypeAlias = (
    Register
    | Deregister
    | Packet
    | RegisterAck
    | RegisterSuper
    | UnregisterSuper
    | RegisterSuperAck
    | RegisterSuperNak
    | Federation
    | PeerInfo
    | QueryPeer
    | ReRegisterSuper
)


# --- encoders: each returns (body, optional sock or False when the message has none) ---------
# The optional sock decides the SOCKET flag (§4); False leaves the caller's flags untouched.

_Body: TypeAlias = tuple[bytes, Sock | bool | None]


def _dev(dev_addr: IpSubnet, dev_desc: bytes) -> bytes:
    return _DEV.pack(
        dev_addr.net_addr, dev_addr.bitlen, pad_fixed(dev_desc, N2N_DESC_SIZE, "dev_desc")
    )


def _opt_sock(sock: Sock | None) -> bytes:
    return b"" if sock is None else encode_sock(sock)


def _enc_register(m: Register) -> _Body:
    check_mac(m.src_mac, "src_mac")
    check_mac(m.dst_mac, "dst_mac")
    head = _COOKIE_2MAC.pack(m.cookie, m.src_mac, m.dst_mac)
    return head + _opt_sock(m.sock) + _dev(m.dev_addr, m.dev_desc), m.sock


def _enc_raw(m: Deregister | Federation) -> _Body:
    return bytes(m.body), False


def _enc_packet(m: Packet) -> _Body:
    check_mac(m.src_mac, "src_mac")
    check_mac(m.dst_mac, "dst_mac")
    head = _2MAC.pack(m.src_mac, m.dst_mac) + _opt_sock(m.sock)
    return head + _2U8.pack(m.compression, m.transform) + m.payload, m.sock


def _enc_register_ack(m: RegisterAck) -> _Body:
    check_mac(m.dst_mac, "dst_mac")
    check_mac(m.src_mac, "src_mac")
    return _COOKIE_2MAC.pack(m.cookie, m.dst_mac, m.src_mac) + _opt_sock(m.sock), m.sock


def _enc_register_super(m: RegisterSuper) -> _Body:
    check_mac(m.edge_mac, "edge_mac")
    body = b"".join(
        (
            _COOKIE_MAC.pack(m.cookie, m.edge_mac),
            _opt_sock(m.sock),
            _dev(m.dev_addr, m.dev_desc),
            encode_auth(m.auth),
            _U32.pack(m.key_time),
        )
    )
    return body, m.sock


def _enc_unregister_super(m: UnregisterSuper) -> _Body:
    check_mac(m.src_mac, "src_mac")
    return encode_auth(m.auth) + m.src_mac, False


def _enc_register_super_ack(m: RegisterSuperAck) -> _Body:
    check_mac(m.src_mac, "src_mac")
    if len(m.supernodes) > 0xFF:
        raise ValueError("REGISTER_SUPER_ACK carries at most 255 supernode entries")
    body = b"".join(
        (
            _RSA_HEAD.pack(m.cookie, m.src_mac, m.dev_addr.net_addr, m.dev_addr.bitlen, m.lifetime),
            encode_sock(m.sock),
            encode_auth(m.auth),
            _U8.pack(len(m.supernodes)),
            *(encode_sn_entry(e) for e in m.supernodes),
            _U32.pack(m.key_time),
        )
    )
    return body, False


def _enc_register_super_nak(m: RegisterSuperNak) -> _Body:
    check_mac(m.src_mac, "src_mac")
    return _COOKIE_MAC.pack(m.cookie, m.src_mac) + encode_auth(m.auth), False


def _enc_peer_info(m: PeerInfo) -> _Body:
    check_mac(m.src_mac, "src_mac")
    check_mac(m.mac, "mac")
    body = b"".join(
        (
            _PI_HEAD.pack(m.aflags, m.src_mac, m.mac),
            encode_sock(m.sock),
            _opt_sock(m.preferred_sock),
            _PI_TAIL.pack(
                m.load, m.uptime, pad_fixed(m.version, N2N_VERSION_STRING_SIZE, "version")
            ),
        )
    )
    return body, m.preferred_sock


def _enc_query_peer(m: QueryPeer) -> _Body:
    check_mac(m.src_mac, "src_mac")
    check_mac(m.target_mac, "target_mac")
    return _QP.pack(m.src_mac, m.target_mac, m.aflags), False


def _enc_re_register_super(m: ReRegisterSuper) -> _Body:
    return b"", False


_ENCODERS: dict[type, Callable[[Any], _Body]] = {
    Register: _enc_register,
    Deregister: _enc_raw,
    Packet: _enc_packet,
    RegisterAck: _enc_register_ack,
    RegisterSuper: _enc_register_super,
    UnregisterSuper: _enc_unregister_super,
    RegisterSuperAck: _enc_register_super_ack,
    RegisterSuperNak: _enc_register_super_nak,
    Federation: _enc_raw,
    PeerInfo: _enc_peer_info,
    QueryPeer: _enc_query_peer,
    ReRegisterSuper: _enc_re_register_super,
}


def encode(common: Common, msg: Message) -> bytes:
    """Encode a message. The packet code comes from the message type; for messages with an
    optional sock the SOCKET flag follows its presence, other flags are taken from `common`.
    Raises ValueError (or TypeError for a non-message) on fields that do not fit."""
    encoder = _ENCODERS.get(type(msg))
    if encoder is None:
        raise TypeError(f"not an n2n message: {type(msg).__name__}")
    flags = common.flags & N2N_FLAGS_BITS_MASK
    try:
        body, sock = encoder(msg)
        if sock is not False:
            flags = flags & ~N2N_FLAGS_SOCKET | (N2N_FLAGS_SOCKET if sock is not None else 0)
        header = _COMMON.pack(
            N2N_PKT_VERSION, common.ttl, flags | msg.PC, pad_community(common.community)
        )
    except struct.error as exc:
        raise ValueError(f"{type(msg).__name__}: a field is out of range ({exc})") from exc
    return header + body


# --- decoders: (data, body offset, flags) -> (message, end offset) --------------------------


def _dec_register(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    cookie, src, dst = _COOKIE_2MAC.unpack_from(data, off)
    off += 16
    sock = None
    if flags & N2N_FLAGS_SOCKET:
        sock, off = decode_sock(data, off)
    net, bits, desc = _DEV.unpack_from(data, off)
    return Register(cookie, src, dst, sock, IpSubnet(net, bits), desc.rstrip(b"\x00")), off + 21


def _dec_deregister(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    return Deregister(data[off:]), len(data)


def _dec_federation(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    return Federation(data[off:]), len(data)


def _dec_packet(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    src, dst = _2MAC.unpack_from(data, off)
    off += 12
    sock = None
    if flags & N2N_FLAGS_SOCKET:
        sock, off = decode_sock(data, off)
    compression, transform = _2U8.unpack_from(data, off)
    return Packet(src, dst, sock, compression, transform, data[off + 2 :]), len(data)


def _dec_register_ack(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    cookie, dst, src = _COOKIE_2MAC.unpack_from(data, off)
    off += 16
    sock = None
    if flags & N2N_FLAGS_SOCKET:
        sock, off = decode_sock(data, off)
    return RegisterAck(cookie, dst, src, sock), off


def _dec_register_super(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    cookie, mac = _COOKIE_MAC.unpack_from(data, off)
    off += 10
    sock = None
    if flags & N2N_FLAGS_SOCKET:
        sock, off = decode_sock(data, off)
    net, bits, desc = _DEV.unpack_from(data, off)
    auth, off = decode_auth(data, off + 21)
    (key_time,) = _U32.unpack_from(data, off)
    msg = RegisterSuper(
        cookie, mac, sock, IpSubnet(net, bits), desc.rstrip(b"\x00"), auth, key_time
    )
    return msg, off + 4


def _dec_unregister_super(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    auth, off = decode_auth(data, off)
    (mac,) = _MAC.unpack_from(data, off)
    return UnregisterSuper(auth, mac), off + 6


def _dec_register_super_ack(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    cookie, mac, net, bits, lifetime = _RSA_HEAD.unpack_from(data, off)
    sock, off = decode_sock(data, off + 17)  # mandatory regardless of the SOCKET flag (§10.3)
    auth, off = decode_auth(data, off)
    (num_sn,) = _U8.unpack_from(data, off)
    off += 1
    end = off + num_sn * SN_ENTRY_SIZE
    if len(data) < end + 4:
        raise WireError(f"REGISTER_SUPER_ACK truncated in its {num_sn} supernode entries")
    entries = tuple(decode_sn_entry(data, o) for o in range(off, end, SN_ENTRY_SIZE))
    (key_time,) = _U32.unpack_from(data, end)
    msg = RegisterSuperAck(
        cookie, mac, IpSubnet(net, bits), sock, auth, entries, lifetime, key_time
    )
    return msg, end + 4


def _dec_register_super_nak(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    cookie, mac = _COOKIE_MAC.unpack_from(data, off)
    auth, off = decode_auth(data, off + 10)
    return RegisterSuperNak(cookie, mac, auth), off


def _dec_peer_info(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    aflags, src, mac = _PI_HEAD.unpack_from(data, off)
    sock, off = decode_sock(data, off + 14)
    preferred = None
    if flags & N2N_FLAGS_SOCKET:
        preferred, off = decode_sock(data, off)
    load, uptime, version = _PI_TAIL.unpack_from(data, off)
    msg = PeerInfo(aflags, src, mac, sock, preferred, load, uptime, version.rstrip(b"\x00"))
    return msg, off + 28


def _dec_query_peer(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    src, target, aflags = _QP.unpack_from(data, off)
    return QueryPeer(src, target, aflags), off + 14


def _dec_re_register_super(data: bytes, off: int, flags: int) -> tuple[Message, int]:
    return ReRegisterSuper(), off


# indexed by packet code; None = not an n2n message (0 "ping" is unused, §2)
_DECODERS = [
    None,
    _dec_register,
    _dec_deregister,
    _dec_packet,
    _dec_register_ack,
    _dec_register_super,
    _dec_unregister_super,
    _dec_register_super_ack,
    _dec_register_super_nak,
    _dec_federation,
    _dec_peer_info,
    _dec_query_peer,
    _dec_re_register_super,
] + [None] * (N2N_FLAGS_TYPE_MASK + 1 - 13)


def decode_with_end(data: BytesLike) -> tuple[Common, Message, int]:
    """Decode a whole message; also return the offset just past it (bytes after it, such as the
    §7.3 16-byte auth tag, are ignored). Raises only WireError."""
    if not isinstance(data, bytes):
        data = bytes(data)
    common, off = decode_common(data)
    decoder = _DECODERS[common.pc]
    if decoder is None:
        raise WireError(f"unknown packet code {common.pc}")
    try:
        msg, end = decoder(data, off, common.flags)
    except struct.error as exc:
        raise WireError(f"truncated message (packet code {common.pc})") from exc
    return common, msg, end


def decode(data: BytesLike) -> tuple[Common, Message]:
    """Decode a whole message (trailing bytes ignored). Raises only WireError."""
    common, msg, _ = decode_with_end(data)
    return common, msg
