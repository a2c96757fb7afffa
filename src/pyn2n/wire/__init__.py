"""pyn2n.wire — the pure n2n v3 codec (spec §2–§4, §10 of n2n-v3-wire.md).

    encode(common, msg) -> bytes
    decode(data) -> (Common, Message)              # raises only WireError
    decode_with_end(data) -> (Common, Message, end) # end = bytes the message used
    decode_common(data) -> (Common, 24)
    encode_packet(...) / decode_packet_header(...)  # PACKET fast path

Modules: `types` (MAC, sock, ip_subnet, auth, supernode entry), `messages` (common header and the
12 message types), `packet` (PACKET fast path), `eth` (Ethernet frame peeks), `errors`.
"""

from pyn2n.constants import (
    MSG_TYPE_DEREGISTER,
    MSG_TYPE_FEDERATION,
    MSG_TYPE_PACKET,
    MSG_TYPE_PEER_INFO,
    MSG_TYPE_QUERY_PEER,
    MSG_TYPE_RE_REGISTER_SUPER,
    MSG_TYPE_REGISTER,
    MSG_TYPE_REGISTER_ACK,
    MSG_TYPE_REGISTER_SUPER,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    MSG_TYPE_UNREGISTER_SUPER,
)
from pyn2n.wire.errors import WireError
from pyn2n.wire.messages import (
    Common,
    Deregister,
    Federation,
    Message,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    UnregisterSuper,
    decode,
    decode_common,
    decode_with_end,
    encode,
    pad_community,
)
from pyn2n.wire.packet import PACKET_HEADER_SIZE, decode_packet_header, encode_packet
from pyn2n.wire.types import (
    BROADCAST_MAC,
    NULL_MAC,
    Auth,
    IpSubnet,
    Sock,
    SupernodeEntry,
    c_string,
    ipv4_from_int,
    ipv4_to_int,
    is_multi_broadcast,
    mac_from_str,
    mac_to_str,
    random_mac,
)

__all__ = [
    "BROADCAST_MAC",
    "MSG_TYPE_DEREGISTER",
    "MSG_TYPE_FEDERATION",
    "MSG_TYPE_PACKET",
    "MSG_TYPE_PEER_INFO",
    "MSG_TYPE_QUERY_PEER",
    "MSG_TYPE_REGISTER",
    "MSG_TYPE_REGISTER_ACK",
    "MSG_TYPE_REGISTER_SUPER",
    "MSG_TYPE_REGISTER_SUPER_ACK",
    "MSG_TYPE_REGISTER_SUPER_NAK",
    "MSG_TYPE_RE_REGISTER_SUPER",
    "MSG_TYPE_UNREGISTER_SUPER",
    "NULL_MAC",
    "PACKET_HEADER_SIZE",
    "Auth",
    "Common",
    "Deregister",
    "Federation",
    "IpSubnet",
    "Message",
    "Packet",
    "PeerInfo",
    "QueryPeer",
    "ReRegisterSuper",
    "Register",
    "RegisterAck",
    "RegisterSuper",
    "RegisterSuperAck",
    "RegisterSuperNak",
    "Sock",
    "SupernodeEntry",
    "UnregisterSuper",
    "WireError",
    "c_string",
    "decode",
    "decode_common",
    "decode_packet_header",
    "decode_with_end",
    "encode",
    "encode_packet",
    "ipv4_from_int",
    "ipv4_to_int",
    "is_multi_broadcast",
    "mac_from_str",
    "mac_to_str",
    "pad_community",
    "random_mac",
]
