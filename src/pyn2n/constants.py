"""Protocol constants, with n2n's names and values (spec: docs/n2n-v3-wire.md).

Intervals and timeouts are in seconds (floats are fine: the core takes `now` as a float).
"""

# §1 transport
N2N_SN_LPORT_DEFAULT = 7654
N2N_EDGE_MGMT_PORT = 5644
N2N_SN_MGMT_PORT = 5645
N2N_PKT_BUF_SIZE = 2048
N2N_MULTICAST_GROUP = "224.0.0.68"
N2N_MULTICAST_PORT = 1968

# §2 common header
N2N_PKT_VERSION = 3
N2N_DEFAULT_TTL = 2
N2N_COMMUNITY_SIZE = 20
COMMON_HEADER_SIZE = 24
N2N_FLAGS_TYPE_MASK = 0x001F
N2N_FLAGS_BITS_MASK = 0xFFE0
N2N_FLAGS_FROM_SUPERNODE = 0x0020
N2N_FLAGS_SOCKET = 0x0040
N2N_FLAGS_OPTIONS = 0x0080

# §3
N2N_DESC_SIZE = 16
N2N_AUTH_MAX_TOKEN_SIZE = 48
N2N_VERSION_STRING_SIZE = 20
N2N_AUTH_NONE = 0
N2N_AUTH_SIMPLE_ID = 1
N2N_AUTH_USER_PASSWORD = 2
N2N_AUTH_ID_TOKEN_SIZE = 16

# §4 REGISTER cookies
N2N_FORWARDED_REG_COOKIE = 0x00001000
N2N_PORT_REG_COOKIE = 0x00004000
N2N_REGULAR_REG_COOKIE = 0x00010000
N2N_MCAST_REG_COOKIE = 0x00400000
N2N_LOCAL_REG_COOKIE = 0x01000000

REG_LIFETIME = 15
REG_SUPER_ACK_PAYLOAD_ENTRY_SIZE = 26
REG_SUPER_ACK_MAX_SUPERNODES = 44

# §5 transforms and compression
N2N_TRANSFORM_ID_NULL = 1
N2N_TRANSFORM_ID_TWOFISH = 2
N2N_TRANSFORM_ID_AES = 3
N2N_TRANSFORM_ID_CHACHA20 = 4
N2N_TRANSFORM_ID_SPECK = 5
N2N_COMPRESSION_ID_NONE = 1
N2N_COMPRESSION_ID_LZO = 2
N2N_COMPRESSION_ID_ZSTD = 3
N2N_ZSTD_LEVEL = 7

# §6 header encryption
HEADER_LEN_MAGIC = 0x6E320000
TIME_STAMP_FRAME = 0x0000001000000000  # ±16 s
TIME_STAMP_JITTER = 0x0000000027100000  # ≈160 ms
TIME_STAMP_ALLOW_JITTER = 1
TIME_STAMP_NO_JITTER = 0

# §7 timings
REGISTER_SUPER_INTERVAL_DFL = 20.0
N2N_EDGE_SUP_ATTEMPTS = 3
BOOTSTRAP_TIMEOUT = 3.0
SWEEP_TIME = 30.0
REGISTRATION_TIMEOUT = 60.0  # supernode purges edges
PURGE_REGISTRATION_FREQ = 30.0
PEER_PURGE_TIMEOUT = 60.0  # edge purges pending/known peers
RE_REG_AND_PURGE_FREQUENCY = 10.0  # federation
LAST_SEEN_SN_ACTIVE = 20.0
LAST_SEEN_SN_INACTIVE = 90.0
FEDERATION_ASSOCIATION_TIMEOUT = 180.0
SN_SELECTION_PING_COUNT = 5
MAC_LEARNING_EXPIRE = 300.0

# defaults
DEFAULT_MTU = 1290
DEFAULT_TAP_NAME = "edge0"
DEFAULT_MGMT_PASSWORD = "n2n"
DEFAULT_FEDERATION = "*Federation"
DEFAULT_AUTOIP_RANGE = ("10.128.0.0", "10.255.255.0", 24)

# edge (pyn2n additions; n2n names where n2n has them)
NUMBER_SN_PINGS_INITIAL = 15  # supernodes pinged during bootstrap and the first sweep after it
EDGE_MAX_PEERS = 8192  # bound of each peer table (pending, known); n2n has none
EDGE_MAX_SUPERNODES = 64  # bound of the edge's supernode list (learned ones included)
EDGE_MAX_BRIDGED_HOSTS = 16384  # -r: bridged host MAC -> edge MAC entries

# §2 packet codes (n2n_pc_t / MSG_TYPE_*); pyn2n.wire re-exports them
MSG_TYPE_REGISTER = 1
MSG_TYPE_DEREGISTER = 2
MSG_TYPE_PACKET = 3
MSG_TYPE_REGISTER_ACK = 4
MSG_TYPE_REGISTER_SUPER = 5
MSG_TYPE_UNREGISTER_SUPER = 6
MSG_TYPE_REGISTER_SUPER_ACK = 7
MSG_TYPE_REGISTER_SUPER_NAK = 8
MSG_TYPE_FEDERATION = 9
MSG_TYPE_PEER_INFO = 10
MSG_TYPE_QUERY_PEER = 11
MSG_TYPE_MAX_TYPE = 11  # n2n's last "plaintext" code (§6 detection)
MSG_TYPE_RE_REGISTER_SUPER = 12

# §7.6 federation: supernodes learned from an ACK list count as this many seconds old (they get a
# REGISTER_SUPER at the next round and stay out of ACK lists until they answer)
LAST_SEEN_SN_NEW = LAST_SEEN_SN_INACTIVE - 3 * RE_REG_AND_PURGE_FREQUENCY

# pyn2n extension: fast-path negotiation between pyn2n edges (core/fastpath/, codec in wire/hello.py); n2n itself uses
# packet codes 0..12 and drops unknown ones
MSG_TYPE_PYN2N_FASTPATH = 20
# pyn2n extension: multicast membership between pyn2n edges (core/edge/groups.py, codec in
# wire/membership.py)
MSG_TYPE_PYN2N_GROUPS = 21
