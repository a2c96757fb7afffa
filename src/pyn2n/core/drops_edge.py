"""Every reason an edge (standard and fast path) drops a datagram or frame: the key it counts
under in `drops` (management `drops`) and what it means, in one line each."""

from __future__ import annotations

EDGE_DROPS: dict[str, str] = {
    # datagrams from the network, any type
    "decode": "a datagram (or fast-path HELLO) that does not decode",
    "he_decrypt": "-H: a datagram that does not open with the community's header key",
    "wrong_key": "user/password: a datagram under the static key other than REGISTER_SUPER_ACK/NAK",
    "unknown_community": "a datagram for another community",
    "unknown_supernode": "FROM_SUPERNODE set, but not from (or a PONG not from) a known supernode",
    "replay": "-H: a time stamp too old or not newer than the sender's last",
    "unexpected_type": "a message type the edge does not take (RE_REGISTER_SUPER without -J/-P)",
    # registration
    "unsolicited": "a REGISTER_SUPER_ACK/NAK while none of our REGISTER_SUPERs is outstanding",
    "cookie": "a REGISTER_SUPER_ACK/NAK whose cookie is not that of our last REGISTER_SUPER",
    "auth": "user/password: a REGISTER_SUPER_ACK with a bad tag or an unanswered challenge",
    "no_ip_assigned": "an auto-IP answer without a usable address (prefix outside 1..32)",
    # peers
    "not_for_us": "a REGISTER/REGISTER_ACK (or HELLO) addressed to another MAC",
    "bad_mac": "a PACKET or REGISTER claiming a group, null or our own MAC as source",
    "table_full": "no room left in the peer table for a new peer",
    "register_ack_unknown": "a REGISTER_ACK from a peer we did not register with",
    "not_from_supernode": "a PEER_INFO not sent by a known supernode",
    "invalid_sock": "a PEER_INFO with an unusable socket (IPv6, 127.0.0.1, 0.0.0.0, port 0)",
    "peer_info_unknown": "a PEER_INFO for a peer we did not ask about",
    # PACKETs from the network
    "not_registered": "a PACKET or HELLO before our first REGISTER_SUPER_ACK",
    "transform_id": "a PACKET under another transform (cipher) than ours",
    "transform": "a PACKET whose payload does not decrypt",
    "compression": "a PACKET with an unknown compression id",
    "decompress": "a PACKET whose payload does not decompress",
    "short_frame": "a received frame shorter than an Ethernet header",
    "multicast": "a received multicast frame with -E (drop_multicast)",
    "routed": "without -r: a received IPv4 unicast frame for an address not ours",
    "hosts_full": "-r: no room left to learn a bridged host (the frame is still delivered)",
    # frames from the TAP
    "tap_short": "a TAP frame shorter than an Ethernet header",
    "tap_multicast": "a multicast TAP frame with -E (drop_multicast)",
    "tap_not_registered": "a TAP frame before our first REGISTER_SUPER_ACK",
    "tap_routed": "without -r: an outgoing IPv4 frame whose source is not our address",
    "tap_offload": "a TAP super-frame or checksum request that cannot be cut into plain frames",
    # the driver
    "send_failed": "datagrams the UDP driver could not send",
    # fast path (core/fastpath.py)
    "fast_hello": "a fast-path HELLO that does not decode",
    "fast_unknown_peer": "a fast-path HELLO from an edge that is not a known peer",
    "fast_glare": "both edges offered at once: our offer wins, theirs is dropped",
    "fast_stale_hello": "a fast-path HELLO answering an offer that is no longer current",
    "fast_too_big": "a super-frame needing more fragments than the fast path allows",
    "fast_decode": "a fast-path datagram that does not decode",
    "fast_replay": "a fast-path datagram outside or already seen in the replay window",
    "fast_incomplete": "a fast-path frame whose fragments did not all arrive in time",
    "fast_duplicate": "a fast-path fragment that arrived twice",
    "fast_auth": "a fast-path datagram that fails authentication",
}
