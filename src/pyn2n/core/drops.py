"""Every drop reason a core counts (`drops`, management `drops`), declared once with its meaning.

A datagram a core cannot use is never an error: it is counted under one of these reasons.
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
    "unknown_destination": "no edge, association or active member to forward to",
    "unknown_edge": "UNREGISTER_SUPER for an edge not registered here",
    "unexpected": "message type or sender that makes no sense there",
    "register_ack": "REGISTER_ACK sent via the supernode (edges send it peer to peer)",
    "register_multicast": "REGISTER to a multicast or broadcast MAC",
    "from_self": "REGISTER_SUPER carrying our own MAC",
    "cookie": "REGISTER_SUPER_ACK whose cookie is not the one we sent",
    "table_full_communities": "community table full (max_communities)",
    "table_full_edges": "edge table of the community full (max_edges_per_community)",
    "table_full_associations": "association table full (max_associations)",
    "table_full_supernodes": "federation table full (max_supernodes)",
    "auth": "unknown edge or bad credentials (answered with REGISTER_SUPER_NAK)",
    "spoofed_mac": "MAC or TAP IP registered with another token (answered with a NAK)",
}
