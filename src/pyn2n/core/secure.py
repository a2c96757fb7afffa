"""Header encryption policy shared by edge and supernode (spec §6, §7.3).

`pyn2n.crypto.header` encrypts and decrypts one header with given keys; this module decides
*which* keys and *how much* of a datagram, the way n2n does:

* **Which key** (§6): REGISTER_SUPER, REGISTER_SUPER_ACK and REGISTER_SUPER_NAK use the
  community's *static* key, every other message the *dynamic* key. They are the same key unless
  the community uses user/password authentication (§7.3), where the dynamic key comes from the
  supernode's key_time.
* **How much** (§6 "What header_len covers"): the whole datagram, except PACKET, where it is the
  PACKET header up to the transform byte, plus the first min(16, payload) bytes (the cipher IV)
  with user/password authentication.
* **Receiving**: the dynamic key over the whole datagram, then (user/password communities only)
  the static key over all but the last 16 bytes — the hash tag that follows a header-encrypted
  REGISTER_SUPER/_ACK there (§7.3). `Received.static` says which worked; check the tag with
  `pyn2n.crypto.auth.verify_packet_tag` on the datagram as received.
* **Time stamps** (§6 "Checks"): every sealed datagram carries a stamp from the sender's
  `TimeStamper`; the receiver checks it with `verify_stamp` against a per-sender
  `StampTracker` (n2n: the supernode entry for datagrams flagged FROM_SUPERNODE, else the source
  MAC), with the jitter allowance n2n gives that message type.

Usage (both node kinds):

    hc = HeaderCrypto(community_name, user_pw=False)
    wire = hc.seal(plain, stamper(wall_clock()), rng(4))               # outgoing
    wire = hc.seal(plain, stamp, rnd, tag=secret)                      # user/pw REGISTER_SUPER(_ACK)
    got = hc.open(datagram)                                            # incoming -> Received | None
    ok = verify_stamp(tracker, sender, got.stamp, wall, pc, at_supernode=True)

`is_plaintext_header` is the supernode's guess whether a datagram's header is unencrypted.

Differences from n2n: `seal` appends 16 zero bytes as the "tag" of a user/password
REGISTER_SUPER_NAK, where n2n sends whatever its hash buffer holds (the edge never checks it).
"""

from __future__ import annotations

from collections.abc import Hashable

from pyn2n.constants import (
    COMMON_HEADER_SIZE,
    MSG_TYPE_MAX_TYPE,
    MSG_TYPE_PACKET,
    MSG_TYPE_REGISTER_SUPER,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    N2N_FLAGS_OPTIONS,
    N2N_FLAGS_SOCKET,
    N2N_FLAGS_TYPE_MASK,
    N2N_PKT_VERSION,
)
from pyn2n.crypto.auth import SharedSecret, packet_tag
from pyn2n.crypto.header import (
    HASH_TAG_SIZE,
    HeaderKeys,
    Received,
    decrypt,
    encrypt,
    header_len_for,
)
from pyn2n.crypto.timestamp import StampTracker, jitter_allowed

__all__ = [
    "STATIC_KEY_TYPES",
    "HeaderCrypto",
    "Received",
    "is_plaintext_header",
    "packet_payload_offset",
    "verify_stamp",
]

STATIC_KEY_TYPES = frozenset(
    (MSG_TYPE_REGISTER_SUPER, MSG_TYPE_REGISTER_SUPER_ACK, MSG_TYPE_REGISTER_SUPER_NAK)
)
_PACKET_HEAD = COMMON_HEADER_SIZE + 12  # + srcMac + dstMac
_NAK_FILLER = bytes(HASH_TAG_SIZE)


def is_plaintext_header(data: bytes) -> bool:
    """n2n supernode's test for an unencrypted header (§6): version 3, community NUL-terminated,
    a packet code up to QUERY_PEER and no flag from OPTIONS upwards. ~99.9996 % reliable."""
    return (
        len(data) >= COMMON_HEADER_SIZE
        and data[23] == 0
        and data[0] == N2N_PKT_VERSION
        and data[3] & N2N_FLAGS_TYPE_MASK <= MSG_TYPE_MAX_TYPE
        and (data[2] << 8 | data[3]) < N2N_FLAGS_OPTIONS
    )


def packet_payload_offset(packet: bytes) -> int:
    """Offset of a plaintext PACKET's payload (after compression and transform bytes)."""
    off = _PACKET_HEAD
    if packet[3] & N2N_FLAGS_SOCKET:
        off += 20 if packet[off] & 0x80 else 8  # sock flag 0x8000 = IPv6 (§3)
    return off + 2


class HeaderCrypto:
    """Header encryption state of one community: static keys from the name, dynamic keys from
    the user/password dynamic key (otherwise the static ones)."""

    __slots__ = ("community", "dynamic", "static", "user_pw")

    def __init__(self, community: bytes, user_pw: bool = False) -> None:
        self.community = community
        self.user_pw = user_pw
        self.static = HeaderKeys.from_community(community)
        self.dynamic = self.static

    def set_dynamic_key(self, dynamic_key: bytes | None) -> None:
        """Install a 16-byte dynamic key (§7.3), or None to use the static keys again."""
        self.dynamic = (
            self.static if dynamic_key is None else HeaderKeys.from_dynamic_key(dynamic_key)
        )

    def seal(
        self, packet: bytes, stamp: int, rand4: bytes, tag: SharedSecret | None = None
    ) -> bytes:
        """Header-encrypt a plaintext datagram for sending.

        `stamp` comes from the sender's `TimeStamper`, `rand4` is 4 random bytes. In a
        user/password community a REGISTER_SUPER or REGISTER_SUPER_ACK needs `tag` (the user's
        shared secret) for the 16-byte hash tag; a REGISTER_SUPER_NAK gets 16 filler bytes.
        """
        pc = packet[3] & N2N_FLAGS_TYPE_MASK
        keys = self.static if pc in STATIC_KEY_TYPES else self.dynamic
        offset = packet_payload_offset(packet) if pc == MSG_TYPE_PACKET else 0
        header_len = header_len_for(pc, len(packet), offset, self.user_pw)
        sealed = encrypt(packet, header_len, keys, stamp, rand4)
        if self.user_pw and pc in STATIC_KEY_TYPES:
            if pc == MSG_TYPE_REGISTER_SUPER_NAK:
                return sealed + _NAK_FILLER
            if tag is None:
                raise ValueError("a user/password REGISTER_SUPER(_ACK) needs the tag secret")
            return sealed + packet_tag(tag, sealed)
        return sealed

    def open(self, datagram: bytes) -> Received | None:
        """Decrypt a received datagram's header (dynamic key, then static without the tag);
        None if it was not sealed for this community. Never raises."""
        got = decrypt(datagram, self.dynamic, self.community)
        if got is not None:
            return Received(got[0], got[1], False)
        if self.user_pw:
            # also while dynamic == static: an edge's first ACK comes before its dynamic key
            got = decrypt(datagram[: len(datagram) - HASH_TAG_SIZE], self.static, self.community)
            if got is not None:
                return Received(got[0], got[1], True)
        return None


def verify_stamp(
    tracker: StampTracker,
    sender: Hashable,
    stamp: int,
    wall: float,
    pc: int,
    *,
    at_supernode: bool,
    multicast: bool = False,
) -> bool:
    """n2n's replay check for a datagram of type `pc` from `sender` (§6 "Checks"): within ±16 s
    of `wall` (UTC seconds) and newer than the sender's last accepted stamp, with the jitter
    allowance for the types that may arrive out of order. Updates the tracker on success."""
    return tracker.verify(
        sender, stamp, wall, jitter_allowed(pc, at_supernode=at_supernode, multicast=multicast)
    )
