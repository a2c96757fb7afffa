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
"""

from __future__ import annotations

import struct

from pyn2n.constants import MSG_TYPE_PYN2N_FASTPATH, N2N_DEFAULT_TTL, N2N_PKT_VERSION

__all__ = [
    "AEAD_AES256GCM",
    "AEAD_CHACHA20POLY1305",
    "AEAD_NAMES",
    "AEAD_NONE",
    "CAP_GSO",
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
    "decode_hello",
    "encode_hello",
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
