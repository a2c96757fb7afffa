"""Primitive n2n v3 field encodings (spec §3 and the REGISTER_SUPER_ACK entry of §4).

Bytes on the wire (big-endian unless said otherwise):

* MAC: 6 raw bytes; pyn2n keeps a MAC as a 6-byte `bytes` object everywhere.
* sock: `u16 flags | u16 port | addr`; flag 0x8000 = IPv6 (16-byte address) else IPv4 (4 bytes),
  0x4000 = TCP (dev only). 8 bytes for IPv4, 20 for IPv6. Other flag bits are ignored, as n2n does.
* ip_subnet (dev_addr): `u32 net_addr | u8 bitlen` (5 bytes).
* auth: `u16 scheme | u16 token_size | token` with token_size <= 48.
* desc (16 bytes) and version (20 bytes): NUL-padded strings. Decoded values keep everything up to the
  last non-NUL byte, so padding them again gives back exactly the bytes received (n2n hashes all 16
  desc bytes for auto-IP, §7.2).
* supernode entry of REGISTER_SUPER_ACK (26 bytes, the #1029 layout, §10.2):
  `u8 family (raw AF_ value) | 0x00 | u16 port LITTLE-endian | 16-byte address (IPv4 in the first 4) | 6-byte MAC`.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from pyn2n.constants import N2N_AUTH_MAX_TOKEN_SIZE
from pyn2n.wire.errors import WireError

BytesLike: TypeAlias = bytes | bytearray | memoryview

MAC_SIZE = 6
NULL_MAC = b"\x00" * MAC_SIZE
BROADCAST_MAC = b"\xff" * MAC_SIZE
_IPV4_MCAST_PREFIX = b"\x01\x00\x5e"
_IPV6_MCAST_PREFIX = b"\x33\x33"

SOCK_FLAG_IPV6 = 0x8000
SOCK_FLAG_TCP = 0x4000
SOCK_IPV4_SIZE = 8
SOCK_IPV6_SIZE = 20

AF_INET = 2
AF_INET6_LINUX = 10
# AF_INET6 of Windows, macOS, FreeBSD: a C supernode on those writes its own value (§4, §10.2)
AF_INET6_VALUES = frozenset((AF_INET6_LINUX, 23, 30, 28))
SN_ENTRY_SIZE = 26

_SOCK_HEAD = struct.Struct(">HH")
_SOCK_V4 = struct.Struct(">HH4B")
_AUTH_HEAD = struct.Struct(">HH")
_SN_ENTRY = struct.Struct("<BxH16s6s")  # "<": no alignment, port little-endian (§10.2)
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


# --- MAC (§3) -------------------------------------------------------------------------------


def mac_to_str(mac: BytesLike) -> str:
    """`00:01:0A:…` — upper case like n2n's `macaddr_str` (management output matches)."""
    return bytes(mac).hex(":").upper()


def random_mac(rng: Callable[[int], bytes]) -> bytes:
    """A random unicast, locally administered MAC (what n2n draws without `-m`)."""
    raw = bytearray(rng(6))
    raw[0] = (raw[0] & 0xFC) | 0x02
    return bytes(raw)


def mac_from_str(text: str) -> bytes:
    """Parse `aa:bb:cc:dd:ee:ff` (also `-` separated, any case); ValueError otherwise."""
    parts = text.strip().replace("-", ":").split(":")
    if len(parts) != MAC_SIZE or not all(
        len(p) == 2 and p[0] in _HEXDIGITS and p[1] in _HEXDIGITS for p in parts
    ):
        raise ValueError(
            f"not a MAC address: {text!r} (expected six hex pairs like 02:00:00:00:00:01)"
        )
    return bytes.fromhex("".join(parts))


def is_multi_broadcast(mac: BytesLike) -> bool:
    """n2n's `is_multi_broadcast` (§3): broadcast, 01:00:5E with byte 3 < 0x80, or 33:33:xx."""
    if len(mac) < MAC_SIZE:
        return False
    return (
        mac[:MAC_SIZE] == BROADCAST_MAC
        or (mac[:3] == _IPV4_MCAST_PREFIX and mac[3] < 0x80)
        or mac[:2] == _IPV6_MCAST_PREFIX
    )


def check_mac(mac: BytesLike, what: str = "MAC") -> None:
    """Encoders call this: struct's `6s` would silently pad or cut a wrong-sized MAC."""
    if len(mac) != MAC_SIZE:
        raise ValueError(f"{what} must be {MAC_SIZE} bytes, got {len(mac)}")


# --- IPv4 helpers ---------------------------------------------------------------------------


def ipv4_to_int(text: str) -> int:
    """`"10.0.0.1"` -> 0x0A000001 (the host-order value n2n writes big-endian)."""
    return int(ipaddress.IPv4Address(text))


def ipv4_from_int(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


# --- sock (§3) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sock:
    """A UDP (or TCP, `tcp=True`) endpoint. `addr` is IPv4 dotted text or IPv6 text (a colon
    selects the 20-byte IPv6 form); decoded IPv6 addresses are in compressed form."""

    addr: str
    port: int
    tcp: bool = False

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.addr

    def to_addr(self) -> tuple[str, int]:
        return (self.addr, self.port)

    @classmethod
    def from_addr(cls, addr: tuple[str, int], tcp: bool = False) -> Sock:
        return cls(addr[0], addr[1], tcp)

    def __str__(self) -> str:
        return endpoint_text((self.addr, self.port))


def endpoint_text(addr: tuple[str, int]) -> str:
    """`ip:port`, or `[ip]:port` for IPv6 (n2n's sock_to_cstr forms)."""
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


@lru_cache(maxsize=4096)
def encode_sock(sock: Sock) -> bytes:
    """The 8/20-byte sock field. Cached: a supernode re-encodes the same few socks per relay."""
    if not 0 <= sock.port <= 0xFFFF:
        raise ValueError(f"sock port out of range: {sock.port}")
    try:
        if ":" in sock.addr:
            flags, packed = SOCK_FLAG_IPV6, ipaddress.IPv6Address(sock.addr).packed
        else:
            flags, packed = 0, ipaddress.IPv4Address(sock.addr).packed
    except ValueError as exc:
        raise ValueError(f"sock address {sock.addr!r} is neither IPv4 nor IPv6") from exc
    if sock.tcp:
        flags |= SOCK_FLAG_TCP
    return _SOCK_HEAD.pack(flags, sock.port) + packed


@lru_cache(maxsize=1024)
def _ipv6_text(packed: bytes) -> str:
    return ipaddress.IPv6Address(packed).compressed


def decode_sock(data: BytesLike, off: int) -> tuple[Sock, int]:
    """Decode a sock at `off`; returns it and the offset after it."""
    end = off + SOCK_IPV4_SIZE
    if len(data) < end:
        raise WireError("truncated sock")
    flags, port, a, b, c, d = _SOCK_V4.unpack_from(data, off)
    if flags & SOCK_FLAG_IPV6:
        end = off + SOCK_IPV6_SIZE
        if len(data) < end:
            raise WireError("truncated IPv6 sock")
        addr = _ipv6_text(bytes(data[off + 4 : end]))
    else:
        addr = f"{a}.{b}.{c}.{d}"
    return Sock(addr, port, bool(flags & SOCK_FLAG_TCP)), end


# --- ip_subnet (§3) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpSubnet:
    """dev_addr: IPv4 address as an int (host order value, sent big-endian) and prefix length.
    Any u8 bitlen decodes (n2n does not check it); the core judges validity."""

    net_addr: int = 0
    bitlen: int = 0

    @classmethod
    def from_str(cls, text: str) -> IpSubnet:
        """`"10.0.0.1/24"`; ValueError otherwise."""
        addr, sep, bits = text.partition("/")
        if not sep or not bits.isdigit() or not 0 <= int(bits) <= 32:
            raise ValueError(f"not an IPv4 address/prefix: {text!r} (expected e.g. 10.0.0.1/24)")
        return cls(ipv4_to_int(addr), int(bits))

    def __str__(self) -> str:
        return f"{ipv4_from_int(self.net_addr & 0xFFFFFFFF)}/{self.bitlen}"


# --- auth (§3) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Auth:
    """scheme 0 none, 1 simple-id (16-byte token), 2 user/password (48 bytes, §7.3)."""

    scheme: int = 0
    token: bytes = b""


def encode_auth(auth: Auth) -> bytes:
    if len(auth.token) > N2N_AUTH_MAX_TOKEN_SIZE:
        raise ValueError(f"auth token longer than {N2N_AUTH_MAX_TOKEN_SIZE} bytes")
    return _AUTH_HEAD.pack(auth.scheme, len(auth.token)) + auth.token


def decode_auth(data: bytes, off: int) -> tuple[Auth, int]:
    if len(data) < off + 4:
        raise WireError("truncated auth")
    scheme, size = _AUTH_HEAD.unpack_from(data, off)
    # n2n copies token_size bytes into a 48-byte buffer unchecked; we refuse instead
    if size > N2N_AUTH_MAX_TOKEN_SIZE:
        raise WireError(f"auth token_size {size} > {N2N_AUTH_MAX_TOKEN_SIZE}")
    off += 4
    end = off + size
    if len(data) < end:
        raise WireError("truncated auth token")
    return Auth(scheme, data[off:end]), end


# --- fixed-size strings (desc, version) -----------------------------------------------------


def pad_fixed(value: bytes, size: int, what: str) -> bytes:
    """NUL-pad `value` to the field size (desc 16, version 20)."""
    if len(value) > size:
        raise ValueError(f"{what} longer than {size} bytes: {value!r}")
    return value.ljust(size, b"\x00")


def c_string(raw: bytes) -> str:
    """Display form of a NUL-padded field: up to the first NUL, undecodable bytes replaced."""
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


# --- REGISTER_SUPER_ACK supernode entry (§4, §10.2) -----------------------------------------


@dataclass(frozen=True, slots=True)
class SupernodeEntry:
    """One 26-byte entry of REGISTER_SUPER_ACK's supernode list. The entry carries no TCP bit:
    `sock.tcp` is not encoded and decodes as False."""

    sock: Sock
    mac: bytes


def encode_sn_entry(entry: SupernodeEntry) -> bytes:
    check_mac(entry.mac, "supernode MAC")
    sock = entry.sock
    if not 0 <= sock.port <= 0xFFFF:
        raise ValueError(f"supernode port out of range: {sock.port}")
    try:
        if sock.is_ipv6:
            family, packed = AF_INET6_LINUX, ipaddress.IPv6Address(sock.addr).packed
        else:
            family, packed = AF_INET, ipaddress.IPv4Address(sock.addr).packed
    except ValueError as exc:
        raise ValueError(f"supernode address {sock.addr!r} is neither IPv4 nor IPv6") from exc
    return _SN_ENTRY.pack(family, sock.port, packed, entry.mac)


def decode_sn_entry(data: bytes, off: int) -> SupernodeEntry:
    if len(data) < off + SN_ENTRY_SIZE:
        raise WireError("truncated supernode entry")
    family, port, packed, mac = _SN_ENTRY.unpack_from(data, off)
    if family == AF_INET:
        addr = f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
    elif family in AF_INET6_VALUES:
        addr = _ipv6_text(packed)
    else:
        raise WireError(f"supernode entry with unknown address family {family}")
    return SupernodeEntry(Sock(addr, port), mac)
