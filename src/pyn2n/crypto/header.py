"""n2n header encryption, `-H` (spec §6; n2n `src/header_encryption.c`).

Keys: `K = pearson_hash_128(community, 20 bytes NUL-padded)`; the header cipher is
Speck128/128(K), the IV cipher Speck128/128(pearson_hash_128(K)). A 16-byte dynamic key
(user/password communities, spec §7.3) gives keys by the same derivation applied to
`pearson_hash_128(dynamic_key)`.

An encrypted packet, from a plaintext packet P of length n with header length h (24 <= h <= n):

    0..15   IV = SpeckECB(iv key, BE64(cs ^ stamp>>32) ‖ BE32(stamp & 0xffffffff) ‖ 4 random bytes)
            where cs = pearson_hash_64(P)
    16..19  BE32(0x6E320000 + h)  ─┐
    20..23  P[0:4] (version, ttl, flags)   ├─ XOR Speck-CTR(header key, IV)
    24..h-1 P[24:h]                         ─┘
    h..n-1  P[h:] unchanged (an already transformed payload)

The community name (P[4:24]) is not sent: the receiver puts its own back and the checksum
`cs` (whose high 32 bits survive in the IV) only matches if it is the same name.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pyn2n.constants import (
    COMMON_HEADER_SIZE,
    HEADER_LEN_MAGIC,
    MSG_TYPE_PACKET,
    N2N_COMMUNITY_SIZE,
)
from pyn2n.crypto.pearson import pearson_hash_64, pearson_hash_128
from pyn2n.crypto.speck import Speck128

__all__ = [
    "HASH_TAG_SIZE",
    "HeaderKeys",
    "Received",
    "community_field",
    "decrypt",
    "decrypt_received",
    "encrypt",
    "header_len_for",
]

_M64 = 0xFFFFFFFFFFFFFFFF
_BE_Q = struct.Struct(">Q")
_BE_I = struct.Struct(">I")
_BE_QI = struct.Struct(">QI")
_LE_2Q = struct.Struct("<2Q")

# spec §6/§7.3: with user/password auth the header encryption also covers the cipher IV
_CIPHER_IV_SIZE = 16
# spec §7.3: REGISTER_SUPER(_ACK/_NAK) of user/password communities carry a 16-byte tag
HASH_TAG_SIZE = 16
# header bytes decrypted before the length is known (whole 16-byte blocks)
_SPECULATIVE_BYTES = 64


def community_field(name: bytes) -> bytes:
    """The 20-byte NUL-padded community field for `name` (spec §2)."""
    if len(name) > N2N_COMMUNITY_SIZE:
        raise ValueError(f"community name {name!r} is longer than {N2N_COMMUNITY_SIZE} bytes")
    return name.ljust(N2N_COMMUNITY_SIZE, b"\x00")


class HeaderKeys:
    """One header-encryption key pair (n2n `he_context_t` ctx + ctx_iv)."""

    __slots__ = ("cipher", "iv_cipher", "key")

    def __init__(self, key: bytes) -> None:
        """`key` is the 16-byte header key K; the IV key is pearson_hash_128(K)."""
        if len(key) != 16:
            raise ValueError(f"header key must be 16 bytes, got {len(key)}")
        self.key = bytes(key)
        self.cipher = Speck128(self.key)
        self.iv_cipher = Speck128(pearson_hash_128(self.key))

    @classmethod
    def from_community(cls, name: bytes) -> HeaderKeys:
        """Static keys of a community (n2n `packet_header_setup_key`)."""
        return cls(pearson_hash_128(community_field(name)))

    @classmethod
    def from_dynamic_key(cls, dynamic_key: bytes) -> HeaderKeys:
        """Keys from a 16-byte dynamic key (n2n `packet_header_change_dynamic_key`, §7.3)."""
        if len(dynamic_key) != 16:
            raise ValueError(f"dynamic key must be 16 bytes, got {len(dynamic_key)}")
        return cls(pearson_hash_128(dynamic_key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderKeys) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"HeaderKeys(<{pearson_hash_64(self.key) & 0xFFFF:04x}>)"


def header_len_for(pc: int, packet_len: int, payload_offset: int, user_pw: bool) -> int:
    """How many bytes of a packet the header encryption covers (spec §6).

    Everything, except for PACKET: the PACKET header up to its transform byte
    (`payload_offset`), plus with user/password auth the first min(16, payload) bytes,
    the cipher's IV.
    """
    if pc != MSG_TYPE_PACKET:
        return packet_len
    if user_pw:
        return payload_offset + min(packet_len - payload_offset, _CIPHER_IV_SIZE)
    return payload_offset


def encrypt(pkt: bytes, header_len: int, keys: HeaderKeys, stamp: int, rand4: bytes) -> bytes:
    """Encrypt the header of the plaintext packet `pkt` (n2n `packet_header_encrypt`).

    `stamp` is the u64 time stamp (`timestamp.TimeStamper`), `rand4` 4 random bytes.
    Raises ValueError on arguments no correct caller passes.
    """
    n = len(pkt)
    if n < COMMON_HEADER_SIZE:
        raise ValueError(f"packet of {n} bytes is shorter than the common header")
    if not COMMON_HEADER_SIZE <= header_len <= min(n, 0xFFFF):
        raise ValueError(f"header length {header_len} outside {COMMON_HEADER_SIZE}..{n}")
    if len(rand4) != 4:
        raise ValueError("rand4 must be 4 bytes")
    cs = pearson_hash_64(pkt)
    pre_iv = _BE_QI.pack(cs ^ ((stamp >> 32) & 0xFFFFFFFF), stamp & 0xFFFFFFFF) + rand4
    iv = keys.iv_cipher.encrypt_block(pre_iv)
    region = b"".join((_BE_I.pack(HEADER_LEN_MAGIC + header_len), pkt[0:4], pkt[24:header_len]))
    return b"".join((iv, keys.cipher.ctr(iv, region), pkt[header_len:]))


def decrypt(pkt: bytes, keys: HeaderKeys, community: bytes) -> tuple[bytes, int] | None:
    """Decrypt the header of `pkt` with `keys` (n2n `packet_header_decrypt`).

    Returns (plaintext packet with `community` put back, time stamp), or None if `pkt` was
    not encrypted with these keys for this community (or is corrupt/truncated). Never raises
    on any `pkt`; `community` is the receiver's community name (padded to 20 bytes here).
    """
    n = len(pkt)
    if n < COMMON_HEADER_SIZE:
        return None
    iv = bytes(pkt[0:16])
    cipher = keys.cipher
    # Decrypt up to 4 blocks at once before knowing the header length: that costs the same
    # as the single block holding the length field, and usually covers the whole header.
    head = cipher.ctr(iv, pkt[16 : 16 + _SPECULATIVE_BYTES])
    header_len = int.from_bytes(head[0:4], "big") - HEADER_LEN_MAGIC
    # n2n only checks header_len <= packet_len; no sender emits less than a common header
    if not COMMON_HEADER_SIZE <= header_len <= n:
        return None
    if header_len - 16 > len(head):
        lo, hi = _LE_2Q.unpack(iv)
        next_iv = _LE_2Q.pack((lo + _SPECULATIVE_BYTES // 16) & _M64, hi)
        head += cipher.ctr(next_iv, pkt[16 + _SPECULATIVE_BYTES : header_len])
    else:
        head = head[: header_len - 16]
    pre_iv = keys.iv_cipher.decrypt_block(iv)
    plain = b"".join((head[4:8], community_field(community), head[8:], pkt[header_len:]))
    cs = pearson_hash_64(plain)
    if cs >> 32 != _BE_I.unpack_from(pre_iv, 0)[0]:
        return None
    stamp = _BE_Q.unpack_from(pre_iv, 4)[0] ^ ((cs << 32) & _M64)
    return plain, stamp


class Received(NamedTuple):
    """A header-decrypted datagram."""

    packet: bytes  # plaintext packet, without the hash tag if `static`
    stamp: int
    static: bool  # True: the static key worked on all but the last 16 bytes (the tag)


def decrypt_received(
    datagram: bytes, dynamic: HeaderKeys, community: bytes, static: HeaderKeys | None = None
) -> Received | None:
    """Receiver-side key choice (spec §6 "Which key"): dynamic key over the whole datagram,
    then — only where static differs from dynamic, i.e. user/password communities — the static
    key over all but the last 16 bytes (REGISTER_SUPER/_ACK/_NAK with a hash tag appended,
    to be checked with `auth.verify_packet_tag`). None if neither works; never raises.
    """
    got = decrypt(datagram, dynamic, community)
    if got is not None:
        return Received(got[0], got[1], False)
    if static is None or static == dynamic:
        return None
    got = decrypt(datagram[: len(datagram) - HASH_TAG_SIZE], static, community)
    if got is not None:
        return Received(got[0], got[1], True)
    return None
