"""`-R` traffic rules, n2n's syntax and verdicts (n2n `network_traffic_filter.c`), sans-IO.

A rule is `src_ip[/len][:port|:[lo,hi]],dst_ip[/len][:port|:[lo,hi]],TCP±,UDP±,ICMP±`: a source
and a destination network (a bare address is /32), port ranges (all ports when left out; ICMP
ignores them) and, per protocol it names, accept (`+`) or drop (`-`). A frame takes the verdict of
the matching rule whose two prefix lengths add up to the most (the first given wins a tie); a
frame no rule matches, and anything but IPv4 TCP/UDP/ICMP (ARP, IPv6, IGMP...), passes. n2n
applies the rules to frames from the TAP and to frames from peers; so does the edge's data path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from pyn2n.core.config import ConfigError

__all__ = ["SYNTAX", "Rule", "RuleError", "TrafficFilter", "parse_rule"]

SYNTAX = "src_ip[/len][:port|:[lo,hi]],dst_ip[/len][:port|:[lo,hi]],TCP+|-,UDP+|-,ICMP+|-"

TCP, UDP, ICMP = 6, 17, 1
_PROTOS = {"TCP": TCP, "UDP": UDP, "ICMP": ICMP}

_END = r"(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d+))?(?::(?:\[(\d+),(\d+)\]|(\d+)))?"
_RULE = re.compile(rf"{_END},{_END}((?:,[A-Za-z]+[+-])*)")


class RuleError(ConfigError):
    """A rule that does not parse; the message names the problem and the fix."""


class Rule:
    """One parsed rule: two (network, mask, prefix, port range) ends and per-protocol verdicts."""

    __slots__ = ("dst", "score", "src", "text", "verdicts")

    def __init__(
        self,
        text: str,
        src: tuple[int, int, int, int],
        dst: tuple[int, int, int, int],
        verdicts: dict[int, bool],
        score: int,
    ) -> None:
        self.text = text
        self.src = src  # (network, mask, lowest port, highest port)
        self.dst = dst
        self.verdicts = verdicts
        self.score = score  # n2n: src len + 1 + dst len + 1

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"


def _end(
    text: str, groups: Sequence[str | None], which: str
) -> tuple[tuple[int, int, int, int], int]:
    ip, bits, lo, hi, single = groups
    assert ip is not None
    try:
        addr = int(ipaddress.IPv4Address(ip))
    except ValueError:
        raise RuleError(
            f"-R {text!r}: {which} address {ip!r} is not IPv4 (e.g. 198.19.0.0)"
        ) from None
    length = 32 if bits is None else int(bits)
    if length > 32:
        raise RuleError(f"-R {text!r}: {which} prefix /{bits} is longer than 32")
    mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0
    if addr & ~mask & 0xFFFFFFFF:
        net = ipaddress.IPv4Address(addr & mask)
        # n2n would take it and never match a frame: say so instead
        raise RuleError(
            f"-R {text!r}: {which} {ip}/{length} has host bits set; write {net}/{length}"
        )
    if single is not None:
        first = last = int(single)
    elif lo is not None and hi is not None:
        first, last = int(lo), int(hi)
    else:
        first, last = 0, 65535
    if last > 65535 or first > last:
        raise RuleError(
            f"-R {text!r}: {which} ports must be 0..65535, a range as [low,high] with low <= high"
        )
    return (addr, mask, first, last), length


def parse_rule(text: str) -> Rule:
    """One `-R` rule in n2n's syntax; `RuleError` names what is wrong."""
    m = _RULE.fullmatch(text.strip())
    if m is None:
        raise RuleError(
            f"-R {text!r}: not a traffic rule; write {SYNTAX}, "
            "e.g. -R 198.19.0.0/24,198.19.0.5:22,TCP-"
        )
    g = m.groups()
    src, src_len = _end(text, g[0:5], "source")
    dst, dst_len = _end(text, g[5:10], "destination")
    verdicts: dict[int, bool] = {}
    for item in filter(None, (g[10] or "").split(",")):
        name = item[:-1].upper()
        proto = _PROTOS.get(name)
        if proto is None:
            raise RuleError(f"-R {text!r}: unknown protocol {item[:-1]!r}; use TCP, UDP or ICMP")
        verdicts[proto] = item[-1] == "+"
    if not verdicts:
        raise RuleError(
            f"-R {text!r}: names no protocol, so it would match nothing; "
            "add TCP+/-, UDP+/- or ICMP+/- (e.g. ...,TCP-,UDP-,ICMP-)"
        )
    return Rule(text, src, dst, verdicts, src_len + dst_len + 2)


class TrafficFilter:
    """The rules of one edge; `allows(frame)` is the verdict on an Ethernet frame."""

    __slots__ = ("by_proto",)

    def __init__(self, rules: Sequence[Rule]) -> None:
        # per protocol, the rules naming it, best score first (stable: the first given wins ties)
        self.by_proto: dict[int, list[Rule]] = {
            proto: sorted((r for r in rules if proto in r.verdicts), key=lambda r: -r.score)
            for proto in (TCP, UDP, ICMP)
        }

    @classmethod
    def parse(cls, texts: Sequence[str]) -> TrafficFilter | None:
        """The filter of these `-R` rules, or None without any (no per-frame cost then)."""
        return cls([parse_rule(t) for t in texts]) if texts else None

    def allows(self, frame: bytes) -> bool:
        """n2n `filter_packet_from_tap` / `_from_peer`: False means drop."""
        if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] >> 4 != 4:
            return True  # not IPv4: ARP, IPv6, short frames pass (n2n)
        rules = self.by_proto.get(frame[23])
        if not rules:
            return True
        src = int.from_bytes(frame[26:30], "big")
        dst = int.from_bytes(frame[30:34], "big")
        if frame[23] == ICMP:
            sport = dport = 0
        else:
            off = 14 + (frame[14] & 0x0F) * 4
            ports = frame[off : off + 4]
            if len(ports) == 4:
                sport = (ports[0] << 8) | ports[1]
                dport = (ports[2] << 8) | ports[3]
            else:
                sport = dport = 0
        icmp = frame[23] == ICMP
        for rule in rules:
            s_net, s_mask, s_lo, s_hi = rule.src
            d_net, d_mask, d_lo, d_hi = rule.dst
            if (
                src & s_mask == s_net
                and dst & d_mask == d_net
                and (icmp or (s_lo <= sport <= s_hi and d_lo <= dport <= d_hi))
            ):
                return rule.verdicts[frame[23]]
        return True
