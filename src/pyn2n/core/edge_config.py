"""`EdgeConfig`: everything an edge core needs, checked once (n2n-v3-features.md §B).

Names are resolved before: supernodes are `(IPv4 text, port)` pairs. The CLI maps n2n's flags:
`-c` community, `-l` supernodes, `-a [static:]ip/n` ip + prefix (+ static), none = auto-IP from the
supernode, `-m` mac, `-M` mtu, `-k` key, `-A` transform, `-z` compression, `-H`
header_encryption, `-I` desc (also the username with `-J`), `-J` password, `-P`
federation_pubkey, `-i` register_interval, `-r` allow_routing, `--drop-multicast`
drop_multicast (`-E` is accepted and changes nothing: pyn2n carries multicast by default),
`-S1` no_p2p, `--select-rtt`/`--select-mac` selection, `--management-password` mgmt_password,
`-R` rules, `-L` register_ttl, `-e` preferred_sock, `-a dhcp:0.0.0.0` dhcp, LAN multicast
discovery local_discovery (the CLI turns it on unless `--no-local-discovery`, `-e` or `-S1`),
`--sn-probe` sn_probe (pyn2n: seconds of silence from the supernode before the liveness probe
PINGs it; 0: no probe).
`fastpath` (pyn2n): negotiate the fast path with other pyn2n edges (core/fastpath/); the CLI
turns it on unless `--no-fastpath`, and then feeds TAP frames with virtio headers.
Mistakes raise `ConfigError` naming the problem and the fix.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pyn2n.constants import (
    DEFAULT_MGMT_PASSWORD,
    DEFAULT_MTU,
    N2N_COMMUNITY_SIZE,
    N2N_COMPRESSION_ID_LZO,
    N2N_COMPRESSION_ID_NONE,
    N2N_COMPRESSION_ID_ZSTD,
    N2N_DESC_SIZE,
    N2N_PKT_BUF_SIZE,
    N2N_TRANSFORM_ID_AES,
    N2N_TRANSFORM_ID_CHACHA20,
    N2N_TRANSFORM_ID_NULL,
    N2N_TRANSFORM_ID_SPECK,
    REGISTER_SUPER_INTERVAL_DFL,
)
from pyn2n.core.api import Addr
from pyn2n.core.config import ConfigError
from pyn2n.core.rules import parse_rule
from pyn2n.core.selection import STRATEGIES

__all__ = ["EdgeConfig"]

_TRANSFORMS = range(1, 6)
_COMPRESSIONS = (N2N_COMPRESSION_ID_NONE, N2N_COMPRESSION_ID_LZO, N2N_COMPRESSION_ID_ZSTD)
# largest MTU whose frames still fit n2n's 2048-byte buffers after the PACKET header (38 B),
# a 16-byte cipher IV/prefix, up to 15 bytes of CTS padding and the Ethernet header (14 B)
MAX_MTU = N2N_PKT_BUF_SIZE - 38 - 16 - 15 - 14
MIN_MTU = 576
_KEY_ALPHABET = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-")
_KEY_CHARS = 43  # 32 bytes in n2n's 6-bit encoding (§7.3)
# the supernode liveness probe (core/edge/registration.py): default seconds of silence before a
# PING, and the range `--sn-probe` accepts besides 0 (off)
SN_PROBE_IDLE = 2.5
SN_PROBE_RANGE = (0.5, 3600.0)


@dataclass
class EdgeConfig:
    community: str
    supernodes: list[Addr]
    ip: str | None = None  # None: ask the supernode (auto-IP)
    prefix: int = 24
    static: bool = False  # `-a static:…` (n2n treats a bare address the same way)
    mac: bytes | str | None = None  # None: random locally administered, drawn by the node
    mtu: int = DEFAULT_MTU
    key: str | None = None
    transform: int | None = None  # None: AES with a key, null without (n2n's rule)
    compression: int = N2N_COMPRESSION_ID_NONE
    header_encryption: bool = False
    username: str | None = None  # -I in user/password mode; defaults to desc
    password: str | None = None  # -J: user/password auth, forces header encryption
    federation_pubkey: str | None = None  # -P, 43 characters; None: derived from "Federation"
    register_interval: float = REGISTER_SUPER_INTERVAL_DFL
    allow_routing: bool = False
    drop_multicast: bool = False
    no_p2p: bool = False
    selection: str = "load"
    desc: str = ""
    mgmt_password: str = DEFAULT_MGMT_PASSWORD
    fastpath: bool = False
    ipv6: bool = False  # the driver has an IPv6 socket: peers' IPv6 sockets are usable
    # -R rules in n2n's syntax (core/rules.py); the fast path is off with rules, because its
    # super-frames would pass them by
    rules: list[str] = field(default_factory=list)
    register_ttl: int = 0  # -L: IP TTL of the hole-punching REGISTERs (0: the system's)
    preferred_sock: Addr | None = None  # -e: our LAN socket, sent in REGISTER_SUPER
    dhcp: bool = False  # -a dhcp:0.0.0.0: the TAP gets its address from a DHCP server
    local_discovery: bool = False  # REGISTERs to n2n's LAN group 224.0.0.68:1968 (CLI: on)
    sn_probe: float = SN_PROBE_IDLE  # --sn-probe: silence before the liveness PING (0: none)

    def __post_init__(self) -> None:
        self._check_community()
        self._check_supernodes()
        self._check_address()
        self._check_mac()
        self._check_crypto()
        self._check_misc()
        self._check_parity()

    # -- derived values -------------------------------------------------------------------------

    @property
    def transform_id(self) -> int:
        assert self.transform is not None  # resolved in __post_init__
        return self.transform

    @property
    def auto_ip(self) -> bool:
        return self.ip is None and not self.dhcp

    @property
    def user_password(self) -> bool:
        return self.password is not None

    @property
    def community_bytes(self) -> bytes:
        """The 20-byte NUL-padded community field (§2)."""
        return self.community.encode().ljust(N2N_COMMUNITY_SIZE, b"\x00")

    @property
    def desc_bytes(self) -> bytes:
        """The 16-byte NUL-padded desc field (§3); the username in user/password mode."""
        return self.desc.encode().ljust(N2N_DESC_SIZE, b"\x00")

    @property
    def mac_bytes(self) -> bytes | None:
        assert not isinstance(self.mac, str)  # parsed in __post_init__
        return self.mac

    # -- checks ---------------------------------------------------------------------------------

    def _check_community(self) -> None:
        raw = self.community.encode()
        if not raw:
            raise ConfigError("no community: give one with -c <name>")
        if len(raw) > N2N_COMMUNITY_SIZE - 1:
            raise ConfigError(
                f"community {self.community!r} is {len(raw)} bytes: use at most "
                f"{N2N_COMMUNITY_SIZE - 1} (-c)"
            )
        if b"\x00" in raw:
            raise ConfigError("community contains a NUL byte: pick a plain name (-c)")

    def _check_supernodes(self) -> None:
        if not self.supernodes:
            raise ConfigError("no supernode: give at least one with -l <host:port>")
        checked: list[Addr] = []
        for entry in self.supernodes:
            try:
                host, port = entry
                ipaddress.ip_address(host)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"supernode {entry!r}: expected a resolved (IP, port) pair (-l host:port)"
                ) from exc
            if not isinstance(port, int) or not 0 < port <= 0xFFFF:
                raise ConfigError(f"supernode {host}:{port}: port must be 1..65535 (-l host:port)")
            checked.append((str(host), port))
        self.supernodes = checked

    def _check_address(self) -> None:
        if self.ip is None:
            if self.static:
                raise ConfigError("static address mode without an address: use -a static:<ip>/<n>")
            return
        try:
            addr = ipaddress.IPv4Address(self.ip)
        except ValueError as exc:
            raise ConfigError(f"TAP address {self.ip!r} is not IPv4: use -a <a.b.c.d>/<n>") from exc
        if not 1 <= self.prefix <= 32:
            raise ConfigError(f"prefix /{self.prefix} out of range: use -a <ip>/<1..32>")
        if addr.is_multicast or addr.is_unspecified or int(addr) == 0xFFFFFFFF:
            raise ConfigError(f"TAP address {self.ip} cannot be a host address: pick a unicast one")

    def _check_mac(self) -> None:
        if self.mac is None:
            return
        if isinstance(self.mac, str):
            text = self.mac.strip().replace("-", ":")
            parts = text.split(":")
            try:
                if len(parts) != 6 or any(len(p) != 2 for p in parts):
                    raise ValueError(text)
                self.mac = bytes(int(p, 16) for p in parts)
            except ValueError as exc:
                raise ConfigError(
                    f"MAC {self.mac!r} is not six hex pairs: use -m 02:xx:xx:xx:xx:xx"
                ) from exc
        if len(self.mac) != 6:
            raise ConfigError("MAC must be 6 bytes: use -m 02:xx:xx:xx:xx:xx")
        self.mac = bytes(self.mac)
        if self.mac[0] & 1 or self.mac == bytes(6):
            raise ConfigError(
                f"MAC {self.mac.hex(':')} is multicast or null: use a unicast one (-m 02:…)"
            )

    def _check_crypto(self) -> None:
        if self.key == "":
            self.key = None
        if self.transform is None:
            self.transform = N2N_TRANSFORM_ID_AES if self.key else N2N_TRANSFORM_ID_NULL
        if self.transform not in _TRANSFORMS:
            raise ConfigError(f"transform -A{self.transform} unknown: use -A1 .. -A5")
        if self.transform == N2N_TRANSFORM_ID_NULL and self.key:
            raise ConfigError("a key (-k) with -A1 (no encryption): drop -k or choose -A2 .. -A5")
        if self.transform != N2N_TRANSFORM_ID_NULL and not self.key:
            raise ConfigError(f"-A{self.transform} encrypts and needs a key: add -k <key>")
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(
                f"compression id {self.compression} unknown: use -z1 (LZO) or -z2 (zstd)"
            )
        if self.password is not None:
            self._check_user_password()
        elif self.username:
            raise ConfigError("a username without a password: add -J <password> or drop it")
        if self.federation_pubkey is not None:
            self._check_federation_key(self.federation_pubkey)

    def _check_user_password(self) -> None:
        if self.password == "":
            raise ConfigError("empty password (-J): give one or drop -J")
        if self.transform not in (N2N_TRANSFORM_ID_CHACHA20, N2N_TRANSFORM_ID_SPECK):
            raise ConfigError(
                "user/password authentication (-J) needs ChaCha20 (-A4) or Speck (-A5)"
            )
        if self.username and self.desc and self.username != self.desc:
            raise ConfigError(
                f"username {self.username!r} and description {self.desc!r} differ: "
                "in user/password mode -I is the username"
            )
        name = self.username or self.desc
        if not name:
            raise ConfigError("user/password authentication (-J) needs a username: add -I <user>")
        self.username = self.desc = name
        self.header_encryption = True  # n2n forces -H with -J

    def _check_federation_key(self, key: str) -> None:
        if self.password is None:
            raise ConfigError("-P (federation public key) only matters with -J: drop it")
        if len(key) != _KEY_CHARS or not set(key) <= _KEY_ALPHABET:
            raise ConfigError(
                "federation public key (-P) must be the 43 characters `pyn2n keygen -F` prints"
            )

    def _check_misc(self) -> None:
        if not MIN_MTU <= self.mtu <= MAX_MTU:
            raise ConfigError(f"MTU {self.mtu} out of range: use -M {MIN_MTU}..{MAX_MTU}")
        if not self.register_interval >= 1:
            raise ConfigError(
                f"register interval {self.register_interval} too short: use -i 1 or more"
            )
        lo, hi = SN_PROBE_RANGE
        if self.sn_probe != 0 and not lo <= self.sn_probe <= hi:
            raise ConfigError(
                f"--sn-probe {self.sn_probe:g}: give 0 (no probe) or {lo:g} to {hi:g} seconds "
                f"(default {SN_PROBE_IDLE:g})"
            )
        if self.selection not in STRATEGIES:
            raise ConfigError(
                f"selection {self.selection!r} unknown: default load, --select-rtt or --select-mac"
            )
        raw = self.desc.encode()
        if len(raw) > N2N_DESC_SIZE - 1:
            if self.password is not None:
                raise ConfigError(
                    f"username {self.desc!r} longer than {N2N_DESC_SIZE - 1} bytes: shorten -I"
                )
            # n2n silently keeps the first 15 bytes of a long hostname; so do we
            self.desc = raw[: N2N_DESC_SIZE - 1].decode("utf-8", "ignore")

    def _check_parity(self) -> None:
        """-R, -L, -e and DHCP mode."""
        for text in self.rules:
            parse_rule(text)  # RuleError (a ConfigError) names the fix
        if self.rules:
            self.fastpath = False
        if not 0 <= self.register_ttl <= 255:
            raise ConfigError(f"-L {self.register_ttl}: a TTL is 1..255 (0: the system's)")
        if self.preferred_sock is not None:
            host, port = self.preferred_sock
            try:
                ipaddress.IPv4Address(host)
            except ValueError as exc:
                raise ConfigError(f"-e {host!r}: not an IPv4 address (or use -e auto)") from exc
            if not 0 <= port <= 0xFFFF:
                raise ConfigError(f"-e {host}: port {port} out of range")
        if self.dhcp and not self.allow_routing:
            raise ConfigError("DHCP mode (-a dhcp:0.0.0.0) needs -r: add -r")
