"""`pyn2n supernode` flags: n2n v3's `supernode` options with n2n's meanings (features §C)."""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyn2n import constants as C
from pyn2n.cli.common import Parser, UsageError, add_version
from pyn2n.cli.edge_args import MAC_RE, _int, _port, parse_supernode
from pyn2n.cli.observe import add_observe_flags, parse_listen
from pyn2n.cli.service import ServiceArgs, add_service_flags, service_args


@dataclass
class SupernodeArgs:
    port: int = C.N2N_SN_LPORT_DEFAULT
    bind: str = "0.0.0.0"
    mgmt_port: int = C.N2N_SN_MGMT_PORT
    mgmt_password: str = C.DEFAULT_MGMT_PASSWORD
    federation: str = C.DEFAULT_FEDERATION
    anchors: list[tuple[str, int]] = field(default_factory=list)
    community_file: str | None = None
    autoip: tuple[str, str, int] | None = None
    spoofing_protection: bool = True
    mac: str | None = None
    version: str | None = None
    verbosity: int = 2
    service: ServiceArgs = field(default_factory=ServiceArgs)  # -u -g --syslog --log-format
    metrics: tuple[str, int] | None = None  # --metrics [ADDR:]PORT
    http: tuple[str, int] | None = None  # --http [ADDR:]PORT
    # capacity and flood defence: SupernodeConfig field -> value (only the flags given)
    limits: dict[str, float] = field(default_factory=dict)


# flag -> (SupernodeConfig field, metavar, help); whole numbers >= 1 except the rate
LIMIT_FLAGS: dict[str, tuple[str, str, str]] = {
    "--max-edges": (
        "max_edges",
        "N",
        "edges in all communities (default: a quarter of the RAM at 1 KiB per edge, "
        "4096 to 1000000)",
    ),
    "--max-edges-per-community": ("max_edges_per_community", "N", "edges in one community"),
    "--max-edges-per-ip": ("max_edges_per_ip", "N", "edges from one source IP (default 1024)"),
    "--new-edges-per-ip-rate": (
        "new_edges_per_ip_rate",
        "R",
        "new registrations a second from one source IP (default 100)",
    ),
    "--new-edges-per-ip-burst": (
        "new_edges_per_ip_burst",
        "N",
        "new registrations at once from one source IP (default 1024)",
    ),
    "--max-communities-per-ip": (
        "max_communities_per_ip",
        "N",
        "on-the-fly communities one source IP may create (default 64)",
    ),
}
EDGE_BYTES_BUDGET = 1024  # RAM reserved per edge for --max-edges' default (records and indexes)


def default_max_edges() -> int:
    """A quarter of the RAM at EDGE_BYTES_BUDGET per edge, 4096 to 1,000,000."""
    try:
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return 262_144
    return max(4096, min(1_000_000, kib * 1024 // 4 // EDGE_BYTES_BUDGET))


def _limits(ns: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {"max_edges": default_max_edges()}
    for flag, (name, _, _) in LIMIT_FLAGS.items():
        text = getattr(ns, name)
        if text is None:
            continue
        if name == "new_edges_per_ip_rate":
            try:
                rate = float(text)
            except ValueError:
                rate = 0.0
            if not 0 < rate < float("inf"):
                raise UsageError(
                    f"{flag} {text!r}: give a positive number of registrations a second"
                )
            out[name] = rate
        else:
            out[name] = _int(text, flag, 1, 100_000_000, "the bound")
    return out


def build_parser() -> Parser:
    p = Parser(
        prog="pyn2n supernode",
        description="Introduce edges to each other, relay while they have no direct path, "
        "copy broadcast and multicast to the community. Flags are n2n v3's. A first argument "
        "without a dash names a config file (one option per line).",
        epilog="example: pyn2n supernode -p 7654",
    )
    a = p.add_argument
    a(
        "-p",
        "--local-port",
        dest="local",
        metavar="[IP:]PORT",
        help=f"UDP port and optional bind address (default {C.N2N_SN_LPORT_DEFAULT})",
    )
    a(
        "-t",
        "--mgmt-port",
        dest="mgmt_port",
        metavar="PORT",
        help=f"management port (default {C.N2N_SN_MGMT_PORT})",
    )
    a("--management-password", default=None, metavar="PW", help="management write password")
    a(
        "-c",
        "--communities",
        dest="community_file",
        metavar="FILE",
        help="community list: allowed names/regexes, subnets, users",
    )
    a(
        "-F",
        dest="federation",
        metavar="NAME",
        help="federation name (default Federation); env N2N_FEDERATION",
    )
    a(
        "-l",
        dest="anchors",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="another supernode of the federation (repeatable)",
    )
    a(
        "-a",
        "--autoip",
        dest="autoip",
        metavar="MIN-MAX/N",
        help="auto-IP pool, e.g. 10.128.0.0-10.255.255.0/24",
    )
    a(
        "-M",
        dest="no_spoofing_protection",
        action="store_true",
        help="disable MAC/IP anti-spoofing (edges may re-register at once after a crash)",
    )
    a("-m", dest="mac", metavar="MAC", help="supernode MAC (default: random)")
    a("-V", dest="version", metavar="TEXT", help="version text sent to edges (max 19 chars)")
    a("-f", "--foreground", dest="foreground", action="store_true", help="foreground (the default)")
    a("-v", "--verbose", dest="verbose", action="count", default=0, help="more verbose")
    add_service_flags(p)
    add_observe_flags(a)
    for flag, (name, metavar, text) in LIMIT_FLAGS.items():
        a(flag, dest=name, metavar=metavar, help=text)
    add_version(p)
    return p


def parse_supernode_args(argv: Sequence[str], env: dict[str, str] | None = None) -> SupernodeArgs:
    env = dict(os.environ) if env is None else env
    ns = build_parser().parse_argv(argv)
    out = SupernodeArgs(service=service_args(ns))
    if ns.local:
        _local(out, ns.local)
    if ns.mgmt_port is not None:
        out.mgmt_port = _port(ns.mgmt_port, "-t")
    if ns.management_password is not None:
        out.mgmt_password = ns.management_password
    fed = ns.federation if ns.federation is not None else env.get("N2N_FEDERATION")
    if fed:
        out.federation = _federation(fed)
    out.anchors = [parse_supernode(s, "-l") for s in ns.anchors]
    out.community_file = ns.community_file
    if ns.autoip:
        out.autoip = parse_autoip(ns.autoip)
    out.spoofing_protection = not ns.no_spoofing_protection
    if ns.mac is not None:
        if not MAC_RE.match(ns.mac):
            raise UsageError(f"-m {ns.mac!r}: write a MAC as six hex pairs, e.g. 02:00:00:00:00:01")
        out.mac = ns.mac.replace("-", ":").lower()
    if ns.version is not None:
        if len(ns.version.encode()) > C.N2N_VERSION_STRING_SIZE - 1:
            raise UsageError("-V: the version text has at most 19 characters")
        out.version = ns.version
    out.verbosity = 2 + ns.verbose
    out.metrics = parse_listen(ns.metrics, "--metrics")
    out.http = parse_listen(ns.http, "--http")
    out.limits = _limits(ns)
    return out


def _local(out: SupernodeArgs, local: str) -> None:
    """-p [BIND:]PORT."""
    bind, sep, port = local.rpartition(":")
    out.port = _port(port, "-p")
    if sep:
        try:
            ipaddress.IPv4Address(bind)
        except ValueError:
            raise UsageError(
                f"-p {local!r}: the bind address must be IPv4 (without one, the supernode listens"
                " on IPv4 and IPv6)"
            ) from None
        out.bind = bind


def _federation(fed: str) -> str:
    """-F NAME (or N2N_FEDERATION), stored with its leading '*'."""
    fed = fed.lstrip("*")
    if not fed or len(fed.encode()) > C.N2N_COMMUNITY_SIZE - 3:  # '*' + name + NUL fit n2n's 19
        raise UsageError(f"-F {fed!r}: a federation name has 1 to 17 characters")
    return "*" + fed


def parse_autoip(text: str) -> tuple[str, str, int]:
    span, slash, bits = text.partition("/")
    lo, dash, hi = span.partition("-")
    hint = "write -a MIN-MAX/N, e.g. -a 198.19.0.0-198.19.255.0/24"
    if not (slash and dash):
        raise UsageError(f"-a {text!r}: {hint}")
    try:
        a, b = ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)
    except ValueError:
        raise UsageError(f"-a {text!r}: {hint}") from None
    n = _int(bits, "-a", 8, 30, "the prefix length")
    if int(a) > int(b):
        raise UsageError(f"-a {text!r}: MIN must not be above MAX")
    return str(a), str(b), n
