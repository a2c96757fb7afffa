"""Layer-2 rules both data paths (standard PACKETs and the fast path) share: one home each.

`off` is where the Ethernet header starts in the buffer: 0 for a plain frame, 10 behind a
virtio_net_hdr. The functions are small and branch-light because they run once per frame.
"""

from __future__ import annotations

from pyn2n.constants import EDGE_MAX_BRIDGED_HOSTS

_BROADCAST = b"\xff" * 6
_IPV4 = b"\x08\x00"


def is_multicast(frame: bytes | bytearray | memoryview, off: int = 0) -> bool:
    """IPv4 (01:00:5E, lower half) or IPv6 (33:33) multicast destination MAC."""
    b0 = frame[off]
    if b0 == 0x01:
        return frame[off + 1] == 0x00 and frame[off + 2] == 0x5E and frame[off + 3] < 0x80
    return b0 == 0x33 and frame[off + 1] == 0x33


def foreign_source(
    frame: bytes | bytearray | memoryview, off: int, ip4: bytes, local4: frozenset[bytes]
) -> bool:
    """Outgoing: an IPv4 frame whose source is none of our addresses (n2n without -r sends only
    its own IPv4 traffic). `ip4` is the edge's address, `local4` every IPv4 address on its TAP
    too (secondary ones, a keepalived VIP), packed; `ip4` is compared first because it is the
    common case and costs no hash. ARP is not judged: a gratuitous ARP for a VIP passes."""
    return (
        frame[off + 12 : off + 14] == _IPV4
        and frame[off + 26 : off + 30] != ip4
        and frame[off + 26 : off + 30] not in local4
    )


def foreign_destination(
    frame: bytes | bytearray | memoryview, off: int, ip4: bytes, local4: frozenset[bytes]
) -> bool:
    """Incoming: an IPv4 unicast frame for an address not ours (n2n without -r passes only IPv4
    to us, and broadcast; "ours" as in `foreign_source`). Frames too short to carry an IPv4
    header are not judged here."""
    return (
        frame[off + 12 : off + 14] == _IPV4
        and len(frame) >= off + 34
        and frame[off + 30 : off + 34] != ip4
        and frame[off : off + 6] != _BROADCAST
        and frame[off + 30 : off + 34] not in local4
    )


class BridgedHost:
    __slots__ = ("edge", "seen")

    def __init__(self, edge: bytes, seen: float) -> None:
        self.edge = edge  # MAC of the edge the host sits behind
        self.seen = seen


class HostTable:
    """-r: bridged host MAC -> the edge behind it, learned from incoming frames' source MACs
    (n2n `known_hosts`); bounded, purged by age."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[bytes, BridgedHost] = {}

    def learn(
        self, frame: bytes | bytearray | memoryview, off: int, edge_mac: bytes, now: float
    ) -> bool:
        """Record that the frame's source host sits behind `edge_mac`; False if the table is
        full (the frame is still delivered)."""
        host = bytes(frame[off + 6 : off + 12])
        if host[0] & 1:
            return True
        entry = self.entries.get(host)
        if entry is not None:
            entry.edge = edge_mac
            entry.seen = now
            return True
        if len(self.entries) >= EDGE_MAX_BRIDGED_HOSTS:
            return False
        self.entries[host] = BridgedHost(edge_mac, now)
        return True

    def edge_for(self, dst: bytes) -> bytes:
        """The edge MAC to send a frame for `dst` to (`dst` itself if no host is known)."""
        entry = self.entries.get(dst)
        return dst if entry is None else entry.edge

    def purge(self, older_than: float) -> None:
        for host in [h for h, v in self.entries.items() if v.seen < older_than]:
            del self.entries[host]

    def __len__(self) -> int:
        return len(self.entries)
