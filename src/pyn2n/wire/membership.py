"""The multicast membership message between pyn2n edges (GROUPS): an n2n message with packet
code MSG_TYPE_PYN2N_GROUPS (21), which n2n does not use (C edges drop it, spec §2). It says "I
am a pyn2n edge that takes broadcast and multicast straight from its peers" and lists the
multicast groups the sender's host joined (their MAC addresses). Meaning: docs/multicast.md.

    0   3 | ttl 2 | flags u16 = 21 | community 20                 (common header, spec §2)
    24  source MAC 6 | destination MAC 6
    36  version u8 (1)
    37  flags u8: bit 0 COMPLETE (the list is the host's whole membership: prune to it),
                  bit 1 REPLY (answer with your own GROUPS)
    38  count u8 (at most MAX_GROUPS)
    39  reserved u8 (0)
    40  epoch u32 (counts the sender's membership changes; the latest message counts)
    44  count x group MAC 6
    (longer messages are accepted, the rest ignored)

Also here: the mark on a PACKET to a pyn2n supernode naming the edges the sender served directly
(SOCKET flag with the null sock, then the skip list after the payload), and the QUERY_PEER /
PEER_INFO `aflags` value by which a pyn2n supernode says it honours that mark.
"""

from __future__ import annotations

import struct

from pyn2n.constants import (
    MSG_TYPE_PYN2N_GROUPS,
    N2N_DEFAULT_TTL,
    N2N_FLAGS_SOCKET,
    N2N_PKT_VERSION,
)
from pyn2n.wire.types import Sock

__all__ = [
    "GROUPS_COMPLETE",
    "GROUPS_REPLY",
    "GROUPS_SIZE",
    "MAX_GROUPS",
    "MAX_SKIP",
    "SKIP_CAPABLE",
    "SKIP_MARK",
    "Groups",
    "decode_groups",
    "encode_groups",
    "mark_packet",
    "split_skip",
]

GROUPS_VERSION = 1
GROUPS_COMPLETE = 0x01
GROUPS_REPLY = 0x02
MAX_GROUPS = 200  # 44 + 1200 bytes: one datagram
MAX_SKIP = 64  # edges named in one PACKET's skip list
# QUERY_PEER ping / PEER_INFO pong aflags: "pyn2n supernode, honours the skip list" ("mc")
SKIP_CAPABLE = 0x6D63
# the sock a marked PACKET carries (no edge sends one; a C supernode overwrites it)
SKIP_MARK = Sock("0.0.0.0", 0)

_HEAD = struct.Struct(">BBH20s6s6sBBBBI")
GROUPS_SIZE = _HEAD.size  # 44


class Groups:
    """One GROUPS message (see the module docstring)."""

    __slots__ = ("dst", "epoch", "flags", "groups", "src")

    def __init__(
        self, src: bytes, dst: bytes, flags: int, epoch: int, groups: tuple[bytes, ...]
    ) -> None:
        self.src = src
        self.dst = dst
        self.flags = flags
        self.epoch = epoch
        self.groups = groups


def encode_groups(community20: bytes, msg: Groups) -> bytes:
    groups = msg.groups[:MAX_GROUPS]
    head = _HEAD.pack(
        N2N_PKT_VERSION,
        N2N_DEFAULT_TTL,
        MSG_TYPE_PYN2N_GROUPS,
        community20,
        msg.src,
        msg.dst,
        GROUPS_VERSION,
        msg.flags & 0xFF,
        len(groups),
        0,
        msg.epoch & 0xFFFFFFFF,
    )
    return head + b"".join(groups)


def decode_groups(data: bytes) -> Groups | None:
    """The message in a (header-decrypted) datagram; None if it is not a whole GROUPS."""
    if len(data) < GROUPS_SIZE:
        return None
    ver, _ttl, flags, _comm, src, dst, version, gflags, count, _r, epoch = _HEAD.unpack_from(data)
    if ver != N2N_PKT_VERSION or flags & 0x1F != MSG_TYPE_PYN2N_GROUPS or version < 1:
        return None
    if count > MAX_GROUPS or len(data) < GROUPS_SIZE + 6 * count:
        return None
    groups = tuple(data[i : i + 6] for i in range(GROUPS_SIZE, GROUPS_SIZE + 6 * count, 6))
    return Groups(src, dst, gflags, epoch, groups)


# the SKIP_MARK sock bytes (encode_sock of 0.0.0.0:0)
_MARK_BYTES = bytes(8)


def mark_packet(pkt: bytes, skip: list[bytes]) -> bytes:
    """A PACKET without sock (edge to supernode) marked for a pyn2n supernode: the SOCKET flag,
    the null sock, and after the payload the MACs of the edges not to relay to, then their
    count (u8)."""
    skip = skip[:MAX_SKIP]
    flags = pkt[3] | N2N_FLAGS_SOCKET
    return b"".join(
        (pkt[:3], bytes((flags,)), pkt[4:36], _MARK_BYTES, pkt[36:], *skip, bytes((len(skip),)))
    )


def split_skip(plain: bytes, off: int) -> tuple[int, frozenset[bytes]] | None:
    """A marked PACKET's payload end and skip list (`off`: where its payload starts); None if
    the trailer does not fit."""
    if len(plain) <= off:
        return None
    count = plain[-1]
    end = len(plain) - 1 - 6 * count
    if count > MAX_SKIP or end < off:
        return None
    return end, frozenset(plain[i : i + 6] for i in range(end, end + 6 * count, 6))
