"""Every drop reason pyn2n counts (`drops`, management `drops`), declared once with its meaning.

A datagram or frame a node cannot use is never an error: it is counted under one of these
reasons. `pyn2n ctl drops` shows the meaning beside each count; docs/operating.md lists them
(a test keeps it equal to these tables). A meaning that starts with "normal" marks a reason
that a healthy network counts too (`BENIGN_DROPS`): management rows say `benign: true`.
"""

from __future__ import annotations

SUPERNODE_DROPS: dict[str, str] = {
    "short": "datagram shorter than a common header",
    "decode": "header or message does not decode",
    "he_no_key": "no community key decrypts the header",
    "he_plaintext": "plaintext header for a community that encrypts headers (no downgrade)",
    "replay": "header time stamp stale, replayed or out of order for its sender",
    "static_key": "user/password community message under the wrong (static/dynamic) key",
    "auth_tag": "user/password REGISTER_SUPER whose hash tag does not verify",
    "ttl": "time to live exhausted",
    "unknown_community": "community not served here",
    "community_not_allowed": "community neither in the community file nor allowed by its patterns",
    "unknown_supernode": "FROM_SUPERNODE datagram from a socket that is no federation member",
    "unknown_destination": (
        "normal: no edge, association or active member to forward to (e.g. an edge that just left)"
    ),
    "unknown_edge": (
        "normal: UNREGISTER_SUPER for an edge not registered here (already purged or moved)"
    ),
    "unexpected": "message type or sender that makes no sense there",
    "register_ack": "REGISTER_ACK sent via the supernode (edges send it peer to peer)",
    "register_multicast": "REGISTER to a multicast or broadcast MAC",
    "from_self": "REGISTER_SUPER carrying our own MAC",
    "cookie": (
        "normal: REGISTER_SUPER_ACK whose cookie is not the one we sent (a late answer to a retry)"
    ),
    "table_full_communities": "community table full (max_communities)",
    "table_full_edges": "edge table full (--max-edges, or --max-edges-per-community for its community)",
    "table_full_associations": "association table full (max_associations)",
    "table_full_supernodes": "federation table full (max_supernodes)",
    "auth": "unknown edge or bad credentials (answered with REGISTER_SUPER_NAK)",
    "spoofed_mac": "MAC or TAP IP registered with another token (answered with a NAK)",
    "source_edges": "new edge from a source IP that holds its share of edges (--max-edges-per-ip)",
    "source_rate": "new edge from a source IP registering too fast (--new-edges-per-ip-rate, burst)",
    "source_communities": (
        "new on-the-fly community from a source IP that made its share (--max-communities-per-ip)"
    ),
    "table_full_sources": "source table full of sources that hold edges (its bound is --max-edges)",
}

EDGE_DROPS: dict[str, str] = {
    # datagrams from the network, any type
    "decode": "a datagram (or fast-path HELLO) that does not decode",
    "he_decrypt": "-H: a datagram that does not open with the community's header key",
    "wrong_key": (
        "user/password: a datagram under the static key other than REGISTER_SUPER_ACK/NAK"
    ),
    "unknown_community": "a datagram for another community",
    "unknown_supernode": "FROM_SUPERNODE set, but not from (or a PONG not from) a known supernode",
    "replay": "-H: a time stamp too old or not newer than the sender's last",
    "unexpected_type": "a message type the edge does not take (RE_REGISTER_SUPER without -J/-P)",
    # registration
    "unsolicited": (
        "normal: a REGISTER_SUPER_ACK/NAK while none of ours is outstanding "
        "(a late answer to a retry)"
    ),
    "cookie": (
        "normal: a REGISTER_SUPER_ACK/NAK for an earlier REGISTER_SUPER than our "
        "last (a late answer)"
    ),
    "auth": "user/password: a REGISTER_SUPER_ACK with a bad tag or an unanswered challenge",
    "no_ip_assigned": "an auto-IP answer without a usable address (prefix outside 1..32)",
    # peers
    "not_for_us": "a REGISTER/REGISTER_ACK (or HELLO) addressed to another MAC",
    "bad_mac": "a PACKET or REGISTER claiming a group, null or our own MAC as source",
    "table_full": "no room left in the peer table for a new peer",
    "register_ack_unknown": (
        "normal: a REGISTER_ACK from a peer we did not register with "
        "(both sides registered at once, or it was purged)"
    ),
    "not_from_supernode": "a PEER_INFO not sent by a known supernode",
    "invalid_sock": (
        "a PEER_INFO with an unusable socket (127.0.0.1, ::1, 0.0.0.0, port 0; IPv6 for an edge"
        " without an IPv6 supernode)"
    ),
    "peer_info_unknown": (
        "normal: a PEER_INFO for a peer we did not ask about (a late "
        "answer; the peer is known by now)"
    ),
    # PACKETs from the network
    "not_registered": "normal at start-up: a PACKET or HELLO before our first REGISTER_SUPER_ACK",
    "transform_id": "a PACKET under another transform (cipher) than ours",
    "transform": "a PACKET whose payload does not decrypt",
    "compression": "a PACKET with an unknown compression id",
    "decompress": "a PACKET whose payload does not decompress",
    "short_frame": "a received frame shorter than an Ethernet header",
    "multicast": "normal with -E (drop_multicast): a received multicast frame",
    "routed": "without -r: a received IPv4 unicast frame for an address not ours",
    "hosts_full": "-r: no room left to learn a bridged host (the frame is still delivered)",
    # frames from the TAP
    "tap_short": "a TAP frame shorter than an Ethernet header",
    "tap_multicast": "normal with -E (drop_multicast): a multicast TAP frame",
    "tap_not_registered": "normal at start-up: a TAP frame before our first REGISTER_SUPER_ACK",
    "tap_routed": "without -r: an outgoing IPv4 frame whose source is not our address",
    "tap_filtered": "-R: an outgoing frame a traffic rule drops",
    "filtered": "-R: a received frame a traffic rule drops",
    "local_self": "normal: our own LAN discovery REGISTER, looped back by the multicast group",
    "local_unexpected": "a datagram on the LAN discovery port other than a multicast REGISTER",
    "tap_offload": "a TAP super-frame or checksum request that cannot be cut into plain frames",
    # the driver
    "send_failed": "datagrams the UDP driver could not send",
    # fast path (core/fastpath/)
    "fast_hello": "a fast-path HELLO that does not decode",
    "fast_unknown_peer": (
        "normal: a fast-path HELLO from an edge not yet a known peer (it offers again)"
    ),
    "fast_glare": (
        "normal: both edges offered the fast path at once; our offer wins, theirs is dropped"
    ),
    "fast_stale_hello": "normal: a fast-path HELLO answering an offer that is no longer current",
    "fast_too_big": "a super-frame needing more fragments than the fast path allows",
    "fast_decode": "a fast-path datagram that does not decode",
    "fast_replay": "a fast-path datagram outside or already seen in the replay window",
    "fast_incomplete": "a fast-path frame whose fragments did not all arrive in time",
    "fast_duplicate": "normal: a fast-path fragment that arrived twice",
    "fast_auth": "a fast-path datagram that fails authentication",
    # broadcast and multicast between pyn2n edges (core/edge/groups.py)
    "group_duplicate": (
        "normal: the second copy of a group frame that came both directly and via a supernode"
    ),
    "group_unknown_peer": "a GROUPS message from an edge that is no peer (not even pending)",
    "group_not_joined": (
        "normal: a relayed multicast frame for a group our host did not join (IGMP/MLD)"
    ),
}

# counted by the drivers (io/) rather than the node, shown with the node's
IO_DROPS: dict[str, str] = {
    "udp_recv_error": "an ICMP error for an earlier datagram surfaced on a UDP read",
    "tap_write_failed": "the kernel refused a frame written to the TAP (e.g. while it is down)",
    "tcp_dropped": "a packet for a TCP link (-S2) not sent: the link is down, full or re-dialling",
    "tcp_refused": "a TCP link closed for a bad length prefix, or refused over the link limit",
}


BENIGN_DROPS: frozenset[str] = frozenset(
    reason
    for table in (SUPERNODE_DROPS, EDGE_DROPS, IO_DROPS)
    for reason, meaning in table.items()
    if meaning.startswith("normal")
)
"""Reasons a healthy network counts too (late answers, races both sides resolve, start-up)."""


def is_benign(role: str, reason: str) -> bool:
    """Whether `reason` (of an "edge" or a "supernode") is nothing to worry about."""
    return meanings(role).get(reason, "").startswith("normal")


def meanings(role: str) -> dict[str, str]:
    """The drop reasons of an "edge" or a "supernode", with the drivers' own."""
    return {**(EDGE_DROPS if role == "edge" else SUPERNODE_DROPS), **IO_DROPS}
