"""IGMP/MLD snooping on the TAP (sans-IO): which multicast groups the host behind the TAP joined.

`LocalGroups.snoop(frame, now)` reads the IGMPv1/v2/v3 and MLDv1/v2 reports (and leaves) the host
sends; `queries(mac)` builds the general queries pyn2n writes into the TAP as its querier, so the
host's kernel reports again (an IGMPv3 query keeps Linux on IGMPv3, an MLDv2 query on MLDv2).
Groups are kept by their MAC address (01:00:5e + 23 bits, 33:33 + 32 bits): that is what a
sender looks at per frame. Link-local groups (224.0.0.0/24, ff01::/16, ff02::/16) are never
pruned, so they are not kept. Every table is bounded; a frame that does not parse is ignored.
"""

from __future__ import annotations

import struct

from pyn2n.wire.membership import MAX_GROUPS

QUERY_INTERVAL = 60.0  # s between general queries (RFC 3376 default: 125)
QUERY_RESPONSE = 10.0  # s, the max response time of a periodic query
FIRST_RESPONSE = 2.0  # s, of the first query (the edge is new: learn quickly)
MEMBERSHIP_TIMEOUT = 2 * QUERY_INTERVAL + QUERY_RESPONSE  # RFC 3376 8.4 (robustness 2)
MAX_REPORTERS = 32  # hosts per group (more than one only behind a bridged TAP, -r)

_IPV4 = b"\x08\x00"
_IPV6 = b"\x86\xdd"
_JOIN_RECORDS = (2, 4)  # MODE_IS_EXCLUDE, CHANGE_TO_EXCLUDE: any source
_INCLUDE_RECORDS = (1, 3, 5)  # MODE_IS_INCLUDE, CHANGE_TO_INCLUDE, ALLOW_NEW: with sources


def group_mac4(group: bytes) -> bytes:
    return b"\x01\x00\x5e" + bytes((group[1] & 0x7F,)) + group[2:4]


def group_mac6(group: bytes) -> bytes:
    return b"\x33\x33" + group[12:16]


def prune_key(frame: bytes | bytearray | memoryview) -> bytes | None:
    """The group MAC a multicast frame may be pruned by, or None: deliver to every peer
    (broadcast, link-local groups, anything that is not IP multicast)."""
    b0 = frame[0]
    if b0 == 0x01:
        if frame[12:14] == _IPV4 and len(frame) >= 34 and frame[1] == 0 and frame[2] == 0x5E:
            if frame[30] == 224 and frame[31] == 0 and frame[32] == 0:
                return None  # 224.0.0.0/24: control traffic (VRRP, OSPF, IGMP...)
            return bytes(frame[:6])
        return None
    if b0 == 0x33 and frame[1] == 0x33 and frame[12:14] == _IPV6 and len(frame) >= 54:
        if frame[38] != 0xFF or frame[39] & 0x0F <= 2:
            return None  # ff01::/16, ff02::/16 (neighbour discovery, mDNS...) and reserved
        return bytes(frame[:6])
    return None


def _v4_link_local(group: bytes) -> bool:
    return group[0] == 224 and group[1] == 0 and group[2] == 0


def _v6_link_local(group: bytes) -> bool:
    return group[0] != 0xFF or group[1] & 0x0F <= 2


class LocalGroups:
    """The host's groups: group MAC -> {reporter address: expiry}. `changed` is set when the
    set of groups changed (the edge then tells its peers); `overflow` when a report did not
    fit (then the list is not complete and peers must not prune to it)."""

    __slots__ = ("changed", "groups", "overflow", "reports")

    def __init__(self) -> None:
        self.groups: dict[bytes, dict[bytes, float]] = {}
        self.changed = False
        self.overflow = False
        self.reports = 0  # IGMP/MLD reports and leaves seen (link-local ones too)

    def macs(self) -> tuple[bytes, ...]:
        return tuple(self.groups)

    # -- reports from the host ------------------------------------------------------------

    def snoop(self, frame: bytes, now: float) -> None:
        """A group frame read from the TAP: learn from it if it is an IGMP or MLD report."""
        try:
            kind = frame[12:14]
            if kind == _IPV4 and len(frame) >= 34 and frame[23] == 2:
                ihl = (frame[14] & 0x0F) * 4
                self._igmp(frame, 14 + ihl, frame[26:30], now)
            elif kind == _IPV6 and len(frame) >= 62:
                nh, off = frame[20], 54
                if nh == 0:  # hop-by-hop options (router alert) first
                    nh, off = frame[54], 54 + (frame[55] + 1) * 8
                if nh == 58:
                    self._mld(frame, off, frame[22:38], now)
        except (IndexError, struct.error):
            return  # truncated: not a report we can use

    def _igmp(self, frame: bytes, off: int, reporter: bytes, now: float) -> None:
        kind = frame[off]
        if kind in (0x12, 0x16, 0x17, 0x22):
            self.reports += 1
        if kind in (0x12, 0x16):  # v1 / v2 report
            self._join4(frame[off + 4 : off + 8], reporter, now)
        elif kind == 0x17:  # v2 leave
            self._leave(
                group_mac4(frame[off + 4 : off + 8]),
                reporter,
                _v4_link_local(frame[off + 4 : off + 8]),
            )
        elif kind == 0x22:  # v3 report
            self._records(frame, off, 4, reporter, now)

    def _mld(self, frame: bytes, off: int, reporter: bytes, now: float) -> None:
        kind = frame[off]
        if kind in (131, 132, 143):
            self.reports += 1
        if kind == 131:  # MLDv1 report
            self._join6(frame[off + 8 : off + 24], reporter, now)
        elif kind == 132:  # MLDv1 done
            group = frame[off + 8 : off + 24]
            if len(group) == 16:
                self._leave(group_mac6(group), reporter, _v6_link_local(group))
        elif kind == 143:  # MLDv2 report
            self._records(frame, off, 16, reporter, now)

    def _records(self, frame: bytes, off: int, width: int, reporter: bytes, now: float) -> None:
        """The group records of an IGMPv3 (`width` 4) or MLDv2 (16) report: a type, an aux
        length in words, a source count, the group, its sources (the same layout for both)."""
        (count,) = struct.unpack_from(">H", frame, off + 6)
        pos = off + 8
        for _ in range(min(count, 256)):
            rtype, aux, nsrc = struct.unpack_from(">BBH", frame, pos)
            group = frame[pos + 4 : pos + 4 + width]
            if len(group) < width:
                return
            if width == 4:
                mac, local = group_mac4(group), _v4_link_local(group)
            else:
                mac, local = group_mac6(group), _v6_link_local(group)
            self._record(rtype, nsrc, mac, local, reporter, now)
            pos += 4 + width + width * nsrc + 4 * aux

    def _record(
        self, rtype: int, nsrc: int, mac: bytes, local: bool, reporter: bytes, now: float
    ) -> None:
        """One IGMPv3/MLDv2 group record: EXCLUDE (any source) or INCLUDE with sources is a
        membership; INCLUDE of nothing is a leave; BLOCK_OLD changes nothing here."""
        if rtype in _JOIN_RECORDS or (rtype in _INCLUDE_RECORDS and nsrc):
            self._join(mac, local, reporter, now)
        elif rtype in (1, 3) and not nsrc:
            self._leave(mac, reporter, local)

    def _join4(self, group: bytes, reporter: bytes, now: float) -> None:
        if len(group) == 4:
            self._join(group_mac4(group), _v4_link_local(group), reporter, now)

    def _join6(self, group: bytes, reporter: bytes, now: float) -> None:
        if len(group) == 16:
            self._join(group_mac6(group), _v6_link_local(group), reporter, now)

    def _join(self, mac: bytes, local: bool, reporter: bytes, now: float) -> None:
        if local:
            return
        hosts = self.groups.get(mac)
        if hosts is None:
            if len(self.groups) >= MAX_GROUPS:
                self.overflow = True
                return
            hosts = self.groups[mac] = {}
            self.changed = True
        if reporter in hosts or len(hosts) < MAX_REPORTERS:
            hosts[bytes(reporter)] = now + MEMBERSHIP_TIMEOUT

    def _leave(self, mac: bytes, reporter: bytes, local: bool) -> None:
        hosts = None if local else self.groups.get(mac)
        if hosts is None:
            return
        hosts.pop(bytes(reporter), None)
        if not hosts:
            del self.groups[mac]
            self.changed = True

    def expire(self, now: float) -> None:
        for mac in list(self.groups):
            hosts = self.groups[mac]
            for who in [w for w, t in hosts.items() if t <= now]:
                del hosts[who]
            if not hosts:
                del self.groups[mac]
                self.changed = True
        if len(self.groups) < MAX_GROUPS:
            self.overflow = False


# -- the querier's general queries ---------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def querier_mac(edge_mac: bytes) -> bytes:
    """The source MAC of our queries: locally administered, not the host's own."""
    return bytes((edge_mac[0] | 0x02,)) + edge_mac[1:5] + bytes((edge_mac[5] ^ 0xFF,))


def igmp_query(src_mac: bytes, response: float) -> bytes:
    """An IGMPv3 general query to 224.0.0.1 from 0.0.0.0 (RFC 4541 2.1.1: a snooping switch's
    proxy query), with the router alert option and TTL 1."""
    igmp = bytearray(struct.pack(">BBH4sBBH", 0x11, int(response * 10), 0, bytes(4), 2, 60, 0))
    struct.pack_into(">H", igmp, 2, _checksum(bytes(igmp)))
    ip = bytearray(
        struct.pack(
            ">BBHHHBBH4s4s4s",
            0x46,
            0xC0,
            24 + len(igmp),
            0,
            0,
            1,
            2,
            0,
            bytes(4),
            bytes((224, 0, 0, 1)),
            b"\x94\x04\x00\x00",
        )
    )
    struct.pack_into(">H", ip, 10, _checksum(bytes(ip)))
    return b"\x01\x00\x5e\x00\x00\x01" + src_mac + _IPV4 + bytes(ip) + bytes(igmp)


def mld_query(src_mac: bytes, response: float) -> bytes:
    """An MLDv2 general query to ff02::1 from our link-local address (RFC 3810: hosts ignore
    queries from other sources), hop-by-hop router alert, hop limit 1."""
    src = b"\xfe\x80" + bytes(6) + bytes((src_mac[0] ^ 0x02,)) + src_mac[1:3] + b"\xff\xfe"
    src += src_mac[3:6]
    dst = b"\xff\x02" + bytes(13) + b"\x01"
    mld = bytearray(
        struct.pack(">BBHHH16sBBH", 130, 0, 0, int(response * 1000), 0, bytes(16), 2, 60, 0)
    )
    pseudo = src + dst + struct.pack(">I3xB", len(mld), 58)
    struct.pack_into(">H", mld, 2, _checksum(pseudo + bytes(mld)))
    hbh = b"\x3a\x00\x05\x02\x00\x00\x01\x00"
    ip6 = struct.pack(">IHBB", 0x60000000, len(hbh) + len(mld), 0, 1) + src + dst
    return b"\x33\x33\x00\x00\x00\x01" + src_mac + _IPV6 + ip6 + hbh + bytes(mld)
