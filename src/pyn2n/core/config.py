"""Local configuration of the core nodes, checked once at start-up.

`ConfigError` is what every local mistake raises (a bad flag value, a broken community file):
its message names the problem and how to fix it. Remote input never raises it.

`SupernodeConfig` collects the `supernode` options of n2n v3 (features §C) in the form the sans-IO
core wants them: addresses already resolved, the community file already parsed
(`pyn2n.core.community.parse_community_file`), the MAC as bytes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyn2n import __version__
from pyn2n.constants import (
    DEFAULT_AUTOIP_RANGE,
    DEFAULT_FEDERATION,
    DEFAULT_MGMT_PASSWORD,
    N2N_COMMUNITY_SIZE,
    N2N_SN_LPORT_DEFAULT,
    N2N_VERSION_STRING_SIZE,
)

if TYPE_CHECKING:
    from pyn2n.core.api import Addr
    from pyn2n.core.community import CommunityList


class ConfigError(ValueError):
    """A local configuration mistake; the message says what is wrong and how to fix it."""


def decode_text(data: bytes, name: str) -> str:
    """A configuration file's bytes as text; ConfigError `name:line: ...` unless UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            f"{name}: the file is UTF-16 (it starts with a byte-order mark); save it as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lineno = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{name}:{lineno}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None


def bitlen2mask(bitlen: int) -> int:
    """n2n's `bitlen2mask`: the IPv4 netmask (as an int) of a prefix length 0..32."""
    return (0xFFFFFFFF << (32 - bitlen)) & 0xFFFFFFFF if bitlen else 0


@dataclass(frozen=True, slots=True)
class AutoIpRange:
    """The `-a MIN-MAX/BITS` pool: community subnets of prefix `bitlen` between `min_net` and
    `max_net` (both subnet addresses as ints, inclusive)."""

    min_net: int
    max_net: int
    bitlen: int

    @classmethod
    def from_strings(cls, lo: str, hi: str, bitlen: int) -> AutoIpRange:
        """Checked like n2n's `-a`: both ends valid, non-zero, ordered, host bits clear, prefix
        1..30."""
        hint = "write e.g. -a 10.128.0.0-10.255.255.0/24"
        try:
            a = int(ipaddress.IPv4Address(lo))
            b = int(ipaddress.IPv4Address(hi))
        except ValueError:
            raise ConfigError(
                f"auto-IP range {lo}-{hi}/{bitlen}: not IPv4 addresses; {hint}"
            ) from None
        if not 1 <= bitlen <= 30:
            raise ConfigError(f"auto-IP range: prefix /{bitlen} must be 1..30; {hint}")
        mask = bitlen2mask(bitlen)
        if a == 0 or b == 0 or a == 0xFFFFFFFF or b == 0xFFFFFFFF:
            raise ConfigError(
                f"auto-IP range {lo}-{hi}: 0.0.0.0/255.255.255.255 are not networks; {hint}"
            )
        if a > b:
            raise ConfigError(
                f"auto-IP range {lo}-{hi}: the first network must not be above the last"
            )
        if a & ~mask & 0xFFFFFFFF or b & ~mask & 0xFFFFFFFF:
            raise ConfigError(
                f"auto-IP range {lo}-{hi}/{bitlen}: both ends must be /{bitlen} network addresses "
                f"(host bits zero); {hint}"
            )
        return cls(a, b, bitlen)

    @property
    def subnet_count(self) -> int:
        return ((self.max_net - self.min_net) >> (32 - self.bitlen)) + 1


def _default_autoip() -> AutoIpRange:
    return AutoIpRange.from_strings(*DEFAULT_AUTOIP_RANGE)


@dataclass
class SupernodeConfig:
    """Options of one supernode (n2n names in brackets).

    * `port` (-p): informational for the core (the driver binds it).
    * `federation` (-F): stored with the leading `*` like n2n; "Federation" and "*Federation" are
      the same name. At most 18 characters with the star (n2n silently truncates; we refuse).
    * `anchors` (-l): other supernodes as resolved `(ipv4, port)` pairs; never purged.
    * `mac` (-m): 6 bytes; None draws a random locally administered unicast MAC from the rng.
    * `spoofing_protection` (off with -M): for simple-id communities only; user/password
      communities always check.
    * `version` (-V): the text sent in PONGs (max 19 bytes).
    * `communities` (-c): the parsed community file, or None to accept any community on the fly.
    * `autoip` (-a): the subnet pool for communities without a fixed subnet.
    * `mgmt_password` (--management-password): for the management engine.
    * bounds: table sizes; a datagram that would grow a full table is dropped and counted.
    """

    port: int = N2N_SN_LPORT_DEFAULT
    federation: str = DEFAULT_FEDERATION
    anchors: list[Addr] = field(default_factory=list)
    mac: bytes | None = None
    spoofing_protection: bool = True
    version: str = f"pyn2n {__version__}"
    communities: CommunityList | None = None
    autoip: AutoIpRange = field(default_factory=_default_autoip)
    mgmt_password: str = DEFAULT_MGMT_PASSWORD
    max_communities: int = 1024
    max_edges_per_community: int = 1_000_000
    max_associations: int = 16384
    max_supernodes: int = 64
    # capacity and flood defence (core/supernode/limits.py; docs/operating.md)
    max_edges: int = 1_000_000  # all communities together
    max_edges_per_ip: int = 1024  # edges registered from one source IP
    new_edges_per_ip_rate: float = 100.0  # new registrations per second per source IP
    new_edges_per_ip_burst: int = 1024  # ... and at once
    max_communities_per_ip: int = 64  # on-the-fly communities one source IP may create

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise ConfigError(f"port {self.port}: use 0..65535 (-p)")
        fed = self.federation if self.federation.startswith("*") else "*" + self.federation
        if len(fed) < 2 or len(fed.encode()) > N2N_COMMUNITY_SIZE - 2:
            raise ConfigError(
                f"federation name {self.federation!r}: use 1 to {N2N_COMMUNITY_SIZE - 3} "
                "characters after the '*' (-F)"
            )
        self.federation = fed
        for addr in self.anchors:
            host, port = addr
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ConfigError(
                    f"anchor supernode {host}:{port}: resolve the host name to an IP address "
                    "before building the configuration (-l)"
                ) from None
            if not 1 <= port <= 0xFFFF:
                raise ConfigError(f"anchor supernode {host}:{port}: port must be 1..65535 (-l)")
        if self.mac is not None:
            if len(self.mac) != 6:
                raise ConfigError("supernode MAC must be 6 bytes (-m 02:xx:xx:xx:xx:xx)")
            if self.mac[0] & 0x01 or self.mac == bytes(6):
                raise ConfigError(
                    "supernode MAC must be a unicast, non-zero address (-m 02:xx:xx:xx:xx:xx)"
                )
        if len(self.version.encode()) > N2N_VERSION_STRING_SIZE - 1:
            raise ConfigError(
                f"version text {self.version!r}: at most {N2N_VERSION_STRING_SIZE - 1} bytes (-V)"
            )
        for name in (
            "max_communities",
            "max_edges_per_community",
            "max_associations",
            "max_supernodes",
            "max_edges",
            "max_edges_per_ip",
            "new_edges_per_ip_burst",
            "max_communities_per_ip",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
