"""The fast-path negotiation message (HELLO: OFFER, ACCEPT, REFUSE) between pyn2n edges: an n2n
message with packet code MSG_TYPE_PYN2N_FASTPATH (20), which n2n does not use (C edges drop it,
spec §2). Its bytes and meaning: docs/fastpath.md ("Negotiation").

    0   3 | ttl 2 | flags u16 = 20 | community 20                 (common header, spec §2)
    24  source MAC 6 | destination MAC 6
    36  kind u8: 1 OFFER, 2 ACCEPT, 3 REFUSE
    37  protocol version u8 (1)
    38  AEAD u8: 0 none, 1 AES-256-GCM, 2 ChaCha20-Poly1305
    39  capabilities u8 (bit 0: writes GSO super-frames to its TAP) / REFUSE: reason
    40  connection id u32: the sender receives fast datagrams under this id
    44  offer salt 16 (the offerer's; echoed in ACCEPT and REFUSE)
    60  accept salt 16 (the answerer's; zero in OFFER)
    76  (end; longer messages are accepted, the rest ignored)
    76  extensions (pyn2n): type u8 | length u8 | value, repeated; unknown types are skipped.
        Type 1, the kernel path (docs/kernel-path.md): version u8 (1) | UDP port u16 |
        underlay IPv4 4 | VNI u24. Edges that do not know them ignore the bytes (above).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pyn2n.constants import MSG_TYPE_PYN2N_FASTPATH, N2N_DEFAULT_TTL, N2N_PKT_VERSION

__all__ = [
    "AEAD_AES256GCM",
    "AEAD_CHACHA20POLY1305",
    "AEAD_NAMES",
    "AEAD_NONE",
    "CAP_GSO",
    "EXT_KERNEL",
    "FASTPATH_VERSION",
    "HELLO_ACCEPT",
    "HELLO_OFFER",
    "HELLO_REFUSE",
    "HELLO_SIZE",
    "REFUSE_CAPABILITY",
    "REFUSE_DISABLED",
    "REFUSE_MISMATCH",
    "REFUSE_TEXT",
    "Hello",
    "KernelExt",
    "decode_hello",
    "decode_kernel_ext",
    "encode_hello",
    "encode_kernel_ext",
    "refusal",
]

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


class Hello:
    """One negotiation message (see the module docstring for its bytes)."""

    __slots__ = (
        "accept_salt",
        "aead",
        "conn",
        "dst",
        "ext",
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
        ext: bytes = b"",
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
        self.ext = ext  # extensions after the fixed part (see the module docstring)


def encode_hello(community20: bytes, hello: Hello) -> bytes:
    return (
        _HELLO.pack(
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
        + hello.ext
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
    ext = data[HELLO_SIZE:] if len(data) > HELLO_SIZE else b""
    return Hello(kind, src, dst, aead, info, conn, o_salt, a_salt, version, ext)


def refusal(community20: bytes, own_mac: bytes, offer: Hello, reason: int) -> bytes:
    """A REFUSE answering `offer`."""
    return encode_hello(
        community20,
        Hello(HELLO_REFUSE, own_mac, offer.src, offer.aead, reason, 0, offer.offer_salt),
    )


EXT_KERNEL = 1
KERNEL_EXT_VERSION = 1
_KERNEL_EXT = struct.Struct(">BBBH4s3s")  # type, length, version, port, IPv4, VNI


class KernelExt(NamedTuple):
    """The kernel-path extension: where the sender takes VXLAN and for which network."""

    port: int
    ip: str
    vni: int


def encode_kernel_ext(ext: KernelExt) -> bytes:
    ip = bytes(int(part) for part in ext.ip.split("."))
    return _KERNEL_EXT.pack(
        EXT_KERNEL, _KERNEL_EXT.size - 2, KERNEL_EXT_VERSION, ext.port, ip, ext.vni.to_bytes(3)
    )


def decode_kernel_ext(data: bytes) -> KernelExt | None:
    """The kernel-path extension among a HELLO's extensions (None: absent or malformed)."""
    off = 0
    while off + 2 <= len(data):
        kind, length = data[off], data[off + 1]
        if off + 2 + length > len(data):
            return None
        if kind == EXT_KERNEL and length >= _KERNEL_EXT.size - 2:
            _k, _n, version, port, ip, vni = _KERNEL_EXT.unpack_from(data, off)
            if version != KERNEL_EXT_VERSION or not port or ip[0] in (0, 127) or ip[0] >= 224:
                return None
            return KernelExt(port, ".".join(map(str, ip)), int.from_bytes(vni))
        off += 2 + length
    return None
