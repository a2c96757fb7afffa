"""`pyn2n edge` flags: n2n v3's `edge` options with n2n's meanings (n2n-v3-features.md §B).

Parsing only: values are checked and normalised here so that every mistake is reported with the
flag's name and the fix; `pyn2n.cli.edge` turns the result into an `EdgeConfig`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyn2n import constants as C
from pyn2n.cli.common import Parser, UsageError, add_version
from pyn2n.cli.observe import add_observe_flags, parse_listen
from pyn2n.cli.service import ServiceArgs, add_service_flags, service_args
from pyn2n.core.edge_config import SN_PROBE_IDLE

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")
TRANSFORMS = {1: "null", 2: "Twofish", 3: "AES", 4: "ChaCha20", 5: "Speck"}


@dataclass
class EdgeArgs:
    community: str
    supernodes: list[tuple[str, int]]
    ip: str | None = None  # "a.b.c.d" or None for auto-IP from the supernode
    prefix: int = 24
    ip_mode: str = "static"  # static | auto
    key: str | None = None
    transform: int = C.N2N_TRANSFORM_ID_NULL
    compression: int = C.N2N_COMPRESSION_ID_NONE
    header_encryption: bool = False
    drop_multicast: bool = False
    allow_routing: bool = False
    mtu: int = C.DEFAULT_MTU
    mac: str | None = None
    device: str = C.DEFAULT_TAP_NAME
    bind: str = "0.0.0.0"
    local_port: int = 0
    mgmt_port: int = C.N2N_EDGE_MGMT_PORT
    mgmt_password: str = C.DEFAULT_MGMT_PASSWORD
    register_interval: float = C.REGISTER_SUPER_INTERVAL_DFL
    desc: str | None = None
    username: str | None = None
    password: str | None = None
    federation_pubkey: str | None = None
    no_p2p: bool = False
    tcp: bool = False  # -S2: packets to the supernode over TCP (implies no_p2p)
    selection: str = "load"
    tos: int | None = None
    pmtu_discovery: bool = False
    fastpath: bool = True  # pyn2n: negotiate the fast path with other pyn2n edges
    verbosity: int = 2
    rules: list[str] = field(default_factory=list)  # -R
    register_ttl: int = 0  # -L
    preferred: str | None = None  # -e: an IPv4 address or "auto"
    local_discovery: bool = True  # n2n's LAN multicast discovery (off with -e or -S1)
    kernel_path: bool = True  # pyn2n: unencrypted unicast to pyn2n peers via kernel VXLAN
    kernel_path_port: int = 4789
    extras: dict[str, str] = field(default_factory=dict)
    service: ServiceArgs = field(default_factory=ServiceArgs)  # -u -g --syslog --log-format
    multicast_route: bool = False  # pyn2n: route 224.0.0.0/4 (and ff00::/8) through the TAP
    metrics: tuple[str, int] | None = None  # --metrics [ADDR:]PORT
    http: tuple[str, int] | None = None  # --http [ADDR:]PORT
    mgmt_open_verbosity: bool = False  # n2n's text +verb/-verb without the management password
    sn_probe: float = SN_PROBE_IDLE  # pyn2n: --sn-probe, seconds of supernode silence before a PING


def build_parser() -> Parser:
    p = Parser(
        prog="pyn2n edge",
        description="Join an n2n community: a TAP device whose frames travel over UDP to the "
        "other edges, introduced by supernodes. Flags are n2n v3's. A first argument without "
        "a dash names a config file (one option per line).",
        epilog="example: pyn2n edge -c mynet -l sn.example:7654 -a 198.19.0.1/24 -k secret",
    )
    a = p.add_argument
    a("-c", "--community", help="community name (max 19 chars); env N2N_COMMUNITY")
    a(
        "-l",
        "--supernode-list",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="supernode address, repeatable",
    )
    a(
        "-a",
        dest="address",
        metavar="[static:]IP[/N]",
        help="TAP IPv4 address and prefix (default /24); without -a the supernode assigns one",
    )
    a("-k", dest="key", help="encryption key; env N2N_KEY; alone it means AES (-A3)")
    a(
        "-A",
        dest="transform",
        nargs="?",
        const="3",
        metavar="N",
        help="payload cipher: -A1 none, -A2 Twofish, -A3 AES, -A4 ChaCha20, -A5 Speck",
    )
    a(
        "-z",
        dest="compression",
        nargs="?",
        const="1",
        metavar="N",
        help="compress payloads: -z1 LZO1X, -z2 zstd",
    )
    a("-H", dest="header_encryption", action="store_true", help="encrypt packet headers")
    a(
        "-E",
        dest="accept_multicast",
        action="store_true",
        help="accept multicast (pyn2n does by default; kept for n2n compatibility)",
    )
    a(
        "--drop-multicast",
        action="store_true",
        help="drop IPv4/IPv6 multicast frames as n2n does by default",
    )
    a(
        "-r",
        dest="allow_routing",
        action="store_true",
        help="allow routing/bridging: pass frames not from/to the TAP's own IP",
    )
    a("-M", dest="mtu", type=str, metavar="MTU", help=f"TAP MTU (default {C.DEFAULT_MTU})")
    a("-m", dest="mac", metavar="MAC", help="TAP MAC address (default: random)")
    a(
        "-d",
        "--tap-device",
        dest="device",
        default=C.DEFAULT_TAP_NAME,
        metavar="DEV",
        help=f"TAP device name (default {C.DEFAULT_TAP_NAME})",
    )
    a("-p", dest="local", metavar="[IP:]PORT", help="local UDP port and/or bind address")
    a(
        "-t",
        dest="mgmt_port",
        metavar="PORT",
        help=f"management port (default {C.N2N_EDGE_MGMT_PORT})",
    )
    a(
        "--management-password",
        default=None,
        metavar="PW",
        help="management write password (default n2n)",
    )
    a(
        "-i",
        dest="register_interval",
        metavar="SEC",
        help="REGISTER_SUPER interval / NAT keep-alive (default 20)",
    )
    a("-I", dest="desc", metavar="DESC", help="description; the username with -J")
    a("-J", dest="password", metavar="PW", help="user password (env N2N_PASSWORD); implies -H")
    a("-P", dest="federation_pubkey", metavar="KEY", help="federation public key (pyn2n keygen -F)")
    a(
        "-S",
        dest="no_p2p",
        nargs="?",
        const="1",
        metavar="N",
        help="-S1: no peer-to-peer, always relay through the supernode; -S2: the same, over TCP",
    )
    a("--select-rtt", action="store_true", help="choose the supernode by round-trip time")
    a("--select-mac", action="store_true", help="choose the supernode with the lowest MAC")
    a("-T", dest="tos", metavar="TOS", help="IP TOS of the UDP socket (decimal or 0x..)")
    a("-D", dest="pmtu", action="store_true", help="enable path-MTU discovery")
    a(
        "--no-fastpath",
        dest="no_fastpath",
        action="store_true",
        help="pyn2n: no fast path (whole TCP super-frames, AEAD) to other pyn2n edges; "
        "standard n2n PACKETs only",
    )
    a(
        "--multicast-route",
        action="store_true",
        help="pyn2n: route multicast (224.0.0.0/4, and ff00::/8 with IPv6) through the TAP, "
        "for programs that send multicast without choosing an interface",
    )
    a(
        "--management-open-verbosity",
        dest="mgmt_open_verbosity",
        action="store_true",
        help="n2n compatibility: the text console's +verb/-verb work without the management "
        "password (pyn2n asks for it: `+verb PASSWORD`)",
    )
    a(
        "--no-kernel-path",
        dest="no_kernel_path",
        action="store_true",
        help="pyn2n: no kernel path (unencrypted unicast to pyn2n peers through a VXLAN port "
        "of a bridge named by -d); docs/kernel-path.md",
    )
    a(
        "--kernel-path-port",
        dest="kernel_path_port",
        metavar="PORT",
        help="pyn2n: UDP port of the kernel path's VXLAN (default 4789)",
    )
    a("-f", dest="foreground", action="store_true", help="foreground (the default; accepted)")
    a("-v", "--verbose", dest="verbose", action="count", default=0, help="more verbose")
    a("-V", dest="quiet", action="count", default=0, help="less verbose")
    add_service_flags(p)
    add_observe_flags(a)
    a(
        "-R",
        dest="rules",
        action="append",
        default=[],
        metavar="RULE",
        help="traffic rule, repeatable, n2n's syntax: SRC[:PORTS],DST[:PORTS],TCP+|-,UDP+|-,ICMP+|- "
        "(SRC, DST: ip/len; PORTS: a port or [lo,hi]); the fast path is off with rules",
    )
    a(
        "-L",
        dest="register_ttl",
        metavar="TTL",
        help="IP TTL of hole-punching REGISTERs: 1 sends none (no NAT in front), more sends 16 "
        "to the next ports at that TTL (NAT levels + 1)",
    )
    a(
        "-e",
        dest="preferred",
        metavar="IP|auto",
        help="local address to advertise to peers on the same LAN (auto: the one towards "
        "the supernode)",
    )
    a(
        "--no-local-discovery",
        action="store_true",
        help="no REGISTERs to n2n's LAN multicast group 224.0.0.68:1968 (peers on our LAN)",
    )
    a(
        "--sn-probe",
        dest="sn_probe",
        metavar="SECONDS",
        help="pyn2n: with a standby supernode, PING the current one after this long without an "
        "answer and leave it after 3 unanswered PINGs 0.5 s apart (default 2.5; 0: no probe)",
    )
    add_version(p)
    # n2n options pyn2n does not offer: recognised, so the error can say so plainly
    for flag in ("-n", "-x"):
        a(flag, dest="unsupported_" + flag[1], metavar="X", help=argparse.SUPPRESS)
    return p


def parse_supernode(text: str, flag: str = "-l") -> tuple[str, int]:
    """HOST:PORT, or [IPV6]:PORT."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(
            f"{flag} {text!r}: put an IPv6 address in brackets, e.g. [2001:db8::1]:7654"
        )
    if not sep or not host:
        raise UsageError(f"{flag} {text!r}: give HOST:PORT, e.g. {flag} 198.18.0.2:7654")
    return host, _port(port, flag)


def _port(text: str, flag: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise UsageError(f"{flag} {text!r}: a port is a number from 1 to 65535")
    return value


def _int(text: str, flag: str, lo: int, hi: int, what: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: {what} must be a whole number") from None
    if not lo <= value <= hi:
        raise UsageError(f"{flag} {value}: {what} must be between {lo} and {hi}")
    return value


def parse_edge_args(argv: Sequence[str], env: dict[str, str] | None = None) -> EdgeArgs:
    env = dict(os.environ) if env is None else env
    ns = build_parser().parse_argv(argv)
    _reject_unsupported(ns)
    out = _parse_community(ns, env)
    if ns.address:
        _parse_address(ns.address, out)
    else:
        out.ip_mode = "auto"
    _parse_cipher(ns, env, out)
    _parse_frames(ns, out)
    _parse_sockets(ns, out)
    _parse_user(ns, env, out)
    _parse_paths(ns, out)
    _parse_parity(ns, out)
    out.verbosity = max(0, 2 + ns.verbose - ns.quiet)
    out.service = service_args(ns)
    out.metrics = parse_listen(ns.metrics, "--metrics")
    out.http = parse_listen(ns.http, "--http")
    return out


def _reject_unsupported(ns: argparse.Namespace) -> None:
    for flag in ("n", "x"):
        if getattr(ns, "unsupported_" + flag) is not None:
            hint = " (n2n 3.1 removed it too; use routes)" if flag == "n" else ""
            raise UsageError(f"-{flag} is an n2n option pyn2n does not support{hint}; remove it")


def _parse_community(ns: argparse.Namespace, env: dict[str, str]) -> EdgeArgs:
    """-c and -l: the community and its supernodes."""
    community = ns.community or env.get("N2N_COMMUNITY")
    if not community:
        raise UsageError("no community: give -c NAME (or set N2N_COMMUNITY)")
    if len(community.encode()) > C.N2N_COMMUNITY_SIZE - 1:
        raise UsageError(f"-c {community!r}: a community name has at most 19 characters")
    if not ns.supernode_list:
        raise UsageError("no supernode: give -l HOST:PORT (repeatable)")
    return EdgeArgs(community=community, supernodes=[parse_supernode(s) for s in ns.supernode_list])


def _parse_cipher(ns: argparse.Namespace, env: dict[str, str], out: EdgeArgs) -> None:
    """-k, -A, -z: key, cipher and compression."""
    if ns.key == "":
        raise UsageError(
            "-k '': the key is empty (an unset variable in a script?); give the community key, "
            "or leave -k out for an unencrypted community"
        )
    out.key = ns.key if ns.key is not None else env.get("N2N_KEY")
    if ns.transform is not None:
        out.transform = _int(ns.transform, "-A", 1, 5, "the cipher number")
    elif out.key:
        out.transform = C.N2N_TRANSFORM_ID_AES
    if out.transform == C.N2N_TRANSFORM_ID_NULL and out.key:
        raise UsageError("-A1 (no encryption) with -k: drop -k, or choose a cipher with -A2..-A5")
    if out.transform != C.N2N_TRANSFORM_ID_NULL and not out.key:
        raise UsageError(
            f"-A{out.transform} ({TRANSFORMS[out.transform]}) needs a key: add -k KEY or set N2N_KEY"
        )
    if ns.compression is not None:
        level = _int(ns.compression, "-z", 1, 2, "the compression number")
        out.compression = {1: C.N2N_COMPRESSION_ID_LZO, 2: C.N2N_COMPRESSION_ID_ZSTD}[level]
    out.header_encryption = ns.header_encryption


def _parse_frames(ns: argparse.Namespace, out: EdgeArgs) -> None:
    """-E, -r, -M, -m, -d: what the TAP carries and how it is named."""
    out.drop_multicast = ns.drop_multicast
    if ns.accept_multicast and ns.drop_multicast:
        raise UsageError("-E accepts multicast and --drop-multicast drops it: choose one")
    out.allow_routing = ns.allow_routing
    if ns.mtu is not None:
        out.mtu = _int(ns.mtu, "-M", 576, 9000, "the MTU")
    if ns.mac is not None:
        if not MAC_RE.match(ns.mac):
            raise UsageError(f"-m {ns.mac!r}: write a MAC as six hex pairs, e.g. 02:00:00:00:00:01")
        out.mac = ns.mac.replace("-", ":").lower()
        if int(out.mac[:2], 16) & 1:
            raise UsageError(f"-m {ns.mac}: a multicast MAC cannot be a TAP address")
    if len(ns.device) > 15:
        raise UsageError(f"-d {ns.device!r}: interface names have at most 15 characters")
    out.device = ns.device
    out.multicast_route = ns.multicast_route


def _parse_sockets(ns: argparse.Namespace, out: EdgeArgs) -> None:
    """-p, -t, --management-password, -i: local sockets and the registration interval."""
    if ns.local:
        bind, sep, port = ns.local.rpartition(":")
        out.local_port = _port(port, "-p")
        if sep:
            _ipv4(bind, "-p")
            out.bind = bind
    if ns.mgmt_port is not None:
        out.mgmt_port = _port(ns.mgmt_port, "-t")
    if ns.management_password is not None:
        out.mgmt_password = ns.management_password
    if ns.register_interval is not None:
        out.register_interval = float(_int(ns.register_interval, "-i", 1, 3600, "the interval"))


def _parse_user(ns: argparse.Namespace, env: dict[str, str], out: EdgeArgs) -> None:
    """-I, -J, -P: description, user/password auth and the federation key."""
    out.desc = ns.desc
    out.password = ns.password if ns.password is not None else env.get("N2N_PASSWORD")
    if out.password:
        if not out.desc:
            raise UsageError("-J needs the username as -I USERNAME")
        if out.transform not in (C.N2N_TRANSFORM_ID_CHACHA20, C.N2N_TRANSFORM_ID_SPECK):
            raise UsageError("-J (user/password) needs -A4 (ChaCha20) or -A5 (Speck) and a -k key")
        out.username = out.desc
        out.header_encryption = True
    out.federation_pubkey = ns.federation_pubkey


def _parse_paths(ns: argparse.Namespace, out: EdgeArgs) -> None:
    """-S, --select-*, -T, --pmtu, --no-fastpath: how datagrams travel."""
    if ns.no_p2p is not None:
        if ns.no_p2p not in ("1", "2"):
            raise UsageError(
                f"-S{ns.no_p2p}: use -S1 (relay everything through the supernode) or -S2 (the"
                " same, over TCP)"
            )
        out.no_p2p = True
        out.tcp = ns.no_p2p == "2"
    if ns.select_rtt and ns.select_mac:
        raise UsageError("--select-rtt and --select-mac exclude each other: choose one")
    out.selection = "rtt" if ns.select_rtt else "mac" if ns.select_mac else "load"
    if ns.tos is not None:
        out.tos = _int(ns.tos, "-T", 0, 255, "the TOS")
    out.pmtu_discovery = ns.pmtu
    out.fastpath = not ns.no_fastpath
    out.mgmt_open_verbosity = ns.mgmt_open_verbosity
    out.kernel_path = not ns.no_kernel_path
    if ns.kernel_path_port is not None:
        out.kernel_path_port = _port(ns.kernel_path_port, "--kernel-path-port")
        if not out.kernel_path_port:
            raise UsageError("--kernel-path-port 0: give a port from 1 to 65535 (default 4789)")


def _ipv4(text: str, flag: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not an IPv4 address (e.g. 198.19.0.1)") from None


def _parse_address(text: str, out: EdgeArgs) -> None:
    mode, sep, rest = text.partition(":")
    if not sep:
        mode, rest = "static", text
    if mode == "dhcp":
        # n2n: the TAP stays without an address and a DHCP client on it asks other edges
        out.ip_mode = "dhcp"
        return
    if mode != "static":
        raise UsageError(f"-a {text!r}: write -a IP[/N] or -a static:IP[/N]")
    ip, slash, bits = rest.partition("/")
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        raise UsageError(f"-a {text!r}: not an IPv4 address (e.g. 198.19.0.1/24)") from None
    if slash:
        try:
            out.prefix = int(bits, 10)
        except ValueError:
            out.prefix = -1
        if not 1 <= out.prefix <= 30:
            raise UsageError(f"-a {text!r}: the prefix length must be between 1 and 30")
    net = ipaddress.IPv4Network(f"{addr}/{out.prefix}", strict=False)
    if addr in (net.network_address, net.broadcast_address):
        which = "network" if addr == net.network_address else "broadcast"
        raise UsageError(
            f"-a {text!r}: {addr} is the {which} address of {net}; give a host address "
            f"such as {net.network_address + 1}/{out.prefix}"
        )
    out.ip_mode = mode
    out.ip = ip


def _parse_parity(ns: argparse.Namespace, out: EdgeArgs) -> None:
    """-R, -L, -e, DHCP mode and LAN discovery."""
    from pyn2n.core.rules import RuleError, parse_rule

    for text in ns.rules:
        try:
            parse_rule(text)
        except RuleError as exc:
            raise UsageError(str(exc)) from None
    out.rules = list(ns.rules)
    if ns.register_ttl is not None:
        out.register_ttl = _int(ns.register_ttl, "-L", 1, 255, "the TTL")
    if ns.preferred is not None:
        if ns.preferred != "auto":
            _ipv4(ns.preferred, "-e")
        out.preferred = ns.preferred
    if out.ip_mode == "dhcp" and not out.allow_routing:
        raise UsageError("-a dhcp:0.0.0.0 needs -r (DHCP answers come from another edge's host)")
    out.local_discovery = not (ns.no_local_discovery or ns.preferred or out.no_p2p)
    if ns.sn_probe is not None:
        out.sn_probe = _seconds(ns.sn_probe, "--sn-probe")


def _seconds(text: str, flag: str) -> float:
    """A duration in seconds, 0 or more (the range is EdgeConfig's to check)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise UsageError(f"{flag} {text!r}: give a number of seconds, e.g. {flag} 10 (0: off)")
    return value
