"""Ethernet frame helpers for the edge data path (spec §7.5 filters, §7.1 gratuitous ARP).

Frame layout: `dst MAC 6 | src MAC 6 | ethertype u16 | payload`, optionally with one 802.1Q/802.1ad
tag (`0x8100|0x88A8 | TCI u16`) before the real ethertype, making the L3 header start at 18.
ARP (RFC 826, Ethernet/IPv4): `htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op | sha 6 | spa 4 | tha 6 | tpa 4`.
IPv4: version/IHL byte, protocol at +9, source at +12, destination at +16.

The peeks never raise: frames come from remote peers too, so a frame too short or of another type
gives None (or False). IPv4 addresses are ints (host-order value, big-endian on the wire).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pyn2n.wire.types import BROADCAST_MAC, NULL_MAC, BytesLike

ETH_HLEN = 14
ETH_P_IPV4 = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ARP_REQUEST = 1
ARP_REPLY = 2
IPPROTO_IGMP = 2

_U16 = struct.Struct(">H")
_ARP = struct.Struct(">HHBBH6sI6sI")  # 28 bytes
_IPV4_ADDRS = struct.Struct(">II")
_GARP = struct.Struct(">6s6sHHHBBH6sI6sI")  # 42 bytes


def dst_mac(frame: BytesLike) -> bytes:
    return bytes(frame[0:6])


def src_mac(frame: BytesLike) -> bytes:
    return bytes(frame[6:12])


def l3(frame: BytesLike) -> tuple[int, int] | None:
    """(ethertype, offset of the L3 header), looking through one VLAN tag; None if too short."""
    if len(frame) < ETH_HLEN:
        return None
    (etype,) = _U16.unpack_from(frame, 12)
    if etype in (ETH_P_8021Q, ETH_P_8021AD):
        if len(frame) < ETH_HLEN + 4:
            return None
        (etype,) = _U16.unpack_from(frame, 16)
        return etype, ETH_HLEN + 4
    return etype, ETH_HLEN


def ethertype(frame: BytesLike) -> int | None:
    info = l3(frame)
    return None if info is None else info[0]


def is_broadcast(frame: BytesLike) -> bool:
    return len(frame) >= ETH_HLEN and frame[0:6] == BROADCAST_MAC


def is_ipv4_multicast(frame: BytesLike) -> bool:
    """Destination 01:00:5E:00:00:00–01:00:5E:7F:FF:FF (n2n's `is_ethMulticast`)."""
    return (
        len(frame) >= ETH_HLEN
        and frame[0] == 0x01
        and frame[1] == 0x00
        and frame[2] == 0x5E
        and frame[3] < 0x80
    )


def is_ipv6_multicast(frame: BytesLike) -> bool:
    """Destination 33:33:xx:xx:xx:xx (n2n's `is_ip6_discovery`)."""
    return len(frame) >= ETH_HLEN and frame[0] == 0x33 and frame[1] == 0x33


class ArpInfo(NamedTuple):
    op: int
    sender_mac: bytes
    sender_ip: int
    target_mac: bytes
    target_ip: int


def arp_peek(frame: BytesLike) -> ArpInfo | None:
    """The fields of an Ethernet/IPv4 ARP packet, else None."""
    info = l3(frame)
    if info is None or info[0] != ETH_P_ARP or len(frame) < info[1] + _ARP.size:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, info[1])
    if htype != 1 or ptype != ETH_P_IPV4 or hlen != 6 or plen != 4:
        return None
    return ArpInfo(op, sha, spa, tha, tpa)


def _ipv4_header(frame: BytesLike) -> int | None:
    """Offset of a plausible IPv4 header (version 4, IHL >= 5, whole header present)."""
    info = l3(frame)
    if info is None or info[0] != ETH_P_IPV4:
        return None
    off = info[1]
    if len(frame) < off + 20:
        return None
    vihl = frame[off]
    if vihl >> 4 != 4 or vihl & 0x0F < 5 or len(frame) < off + (vihl & 0x0F) * 4:
        return None
    return off


def ipv4_addrs(frame: BytesLike) -> tuple[int, int] | None:
    """(source, destination) IPv4 address of an IPv4 frame, else None."""
    off = _ipv4_header(frame)
    if off is None:
        return None
    src, dst = _IPV4_ADDRS.unpack_from(frame, off + 12)
    return src, dst


def igmp_type(frame: BytesLike) -> int | None:
    """Type byte of an IGMP message (0x11 query, 0x12/0x16/0x22 v1/v2/v3 report, 0x17 leave),
    else None (also for non-first fragments, which carry no IGMP header)."""
    off = _ipv4_header(frame)
    if off is None or frame[off + 9] != IPPROTO_IGMP:
        return None
    if (frame[off + 6] & 0x1F) or frame[off + 7]:  # fragment offset != 0
        return None
    start = off + (frame[off] & 0x0F) * 4
    if len(frame) <= start:
        return None
    return frame[start]


def gratuitous_arp(mac: bytes, ip: int, *, reply: bool = False) -> bytes:
    """A 42-byte broadcast gratuitous ARP announcing `ip` at `mac` (sender IP == target IP).

    Default: an ARP request with a null target MAC (RFC 5227 announcement). `reply=True` gives
    the byte-exact frame n2n's edge sends after registering (op 2, target MAC FF:FF:…).
    """
    if len(mac) != 6:
        raise ValueError(f"MAC must be 6 bytes, got {len(mac)}")
    if not 0 <= ip <= 0xFFFFFFFF:
        raise ValueError(f"not an IPv4 address value: {ip}")
    op, target_mac = (ARP_REPLY, BROADCAST_MAC) if reply else (ARP_REQUEST, NULL_MAC)
    return _GARP.pack(
        BROADCAST_MAC, mac, ETH_P_ARP, 1, ETH_P_IPV4, 6, 4, op, mac, ip, target_mac, ip
    )
