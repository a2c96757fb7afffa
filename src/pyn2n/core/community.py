"""The supernode's community list file (`-c`, features §C) and auto-IP (spec §7.2).

File format (n2n `community.list`), one entry per line, `#` starts a comment:

* `name` — a fixed community name (at most 19 bytes), optionally followed by a subnet for
  auto-IP: `home 192.168.168.0/24` (prefix 1..30, host bits zero);
* a regular expression (any of `.*+?[]\\` in the name) that must match the *whole* community
  name; n2n's tiny-regex syntax: `.` `*` `+` `?` `[abc]` `[a-z]` `[^abc]` and the classes
  `\\s \\S \\w \\W \\d \\D` (ASCII), `\\x` = literal x; `^` and `$` are plain characters;
* `* <username> <public key>` (from `n2n-keygen`) adds a user to the preceding fixed community,
  which turns on user/password authentication and header encryption for it.

Auto-IP (§7.2) reproduces n2n's choices bit for bit, so a C supernode and ours hand out the same
subnets and host addresses: the community subnet is `pearson_hash_32(community[20]) % n_subnets`
of the `-a` pool, then the first free one downwards, then upwards; the host part is
`pearson_hash_32(dev_desc[16]) & hostmask` (never 0 or broadcast), then downwards, then upwards.

Differences from n2n (deliberate):

* Mistakes are errors naming the line and the fix, where n2n warns and carries on with a
  surprise: a name longer than 19 bytes (n2n truncates), a bad subnet (n2n auto-assigns one),
  a user line without a preceding fixed community (n2n turns `*` into a regex), a malformed key,
  a subnet after a regex (n2n ignores it), a duplicate name, an invalid regex (a quantifier with
  nothing to repeat, an unterminated `[`, a trailing `\\`), a file without any entry.
* Lines whose first non-blank character is `#` are comments, and so is everything from a word
  starting with `#`; n2n only knows `#` in the first column (`  # x` becomes a community "#").
* Regexes use Python `re.fullmatch` on the same character sets: n2n's matcher gives up after
  the first way a `?` can match (`ab?` refuses "ab"); ours finds any whole-name match. n2n's
  limits of 29 symbols and 40 class characters per pattern are not imposed.
* A subnet that overlaps another community is refused also when the other community has no
  subnet (n2n then counts 0.0.0.0/0 as taken and blocks every subnet); a host address is free
  when no edge of the community uses it (n2n's sorted scan can miss edges with static addresses
  from another subnet and hand out a used address).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from pyn2n.constants import N2N_COMMUNITY_SIZE, N2N_DESC_SIZE
from pyn2n.core.config import AutoIpRange, ConfigError, bitlen2mask
from pyn2n.crypto.auth import ascii_to_bin
from pyn2n.crypto.pearson import pearson_hash_32

__all__ = [
    "CommunityList",
    "CommunityPattern",
    "CommunityUser",
    "FixedCommunity",
    "assign_host",
    "assign_subnet",
    "compile_tiny_regex",
    "parse_community_file",
]

REGEX_CHARS = frozenset(".*+?[]\\")
USERNAME_MAX = N2N_DESC_SIZE - 1  # n2n reads it with %15s
PUBLIC_KEY_CHARS = 43  # 32 bytes in n2n's 6-bit ASCII
_KEY_ALPHABET = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-")


@dataclass(frozen=True, slots=True)
class CommunityUser:
    name: str
    public_key: bytes  # 32 bytes
    line: int


@dataclass(slots=True)
class FixedCommunity:
    name: bytes  # as on the wire, without NUL padding
    subnet: tuple[int, int] | None  # (network address, prefix length) from the file
    users: dict[bytes, CommunityUser] = field(default_factory=dict)  # by public key
    line: int = 0

    @property
    def display(self) -> str:
        return self.name.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class CommunityPattern:
    source: str
    regex: re.Pattern[str]
    line: int

    def matches(self, name: bytes) -> bool:
        # latin-1: one character per byte, as n2n's matcher walks a C string
        return self.regex.fullmatch(name.decode("latin-1")) is not None


@dataclass(slots=True)
class CommunityList:
    fixed: dict[bytes, FixedCommunity] = field(default_factory=dict)
    patterns: list[CommunityPattern] = field(default_factory=list)

    def pattern_allows(self, name: bytes) -> bool:
        return any(p.matches(name) for p in self.patterns)


# --- tiny-regex -> Python -------------------------------------------------------------------

_ALL = frozenset(chr(c) for c in range(1, 256))  # a C string cannot hold NUL
_DIGIT = frozenset("0123456789")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = frozenset(" \t\n\r\f\v")
_SHORTHAND = {
    "d": _DIGIT,
    "D": _ALL - _DIGIT,
    "w": _ALNUM,
    "W": _ALL - _ALNUM,
    "s": _SPACE,
    "S": _ALL - _SPACE,
}
_DOT = _ALL - frozenset("\n\r")


def _class_set(body: str) -> frozenset[str]:
    """The characters n2n's `matchcharclass` accepts for a `[...]` body (without brackets):
    at every position a range `a-z` (never matching '-' itself), an escape, or a literal; a '-'
    is literal only first or last."""
    chars: set[str] = set()
    n = len(body)
    k = 0
    while k < n:
        c = body[k]
        if c != "-" and k + 2 < n and body[k + 1] == "-":
            chars.update(chr(x) for x in range(ord(c), ord(body[k + 2]) + 1) if chr(x) != "-")
        if c == "\\":
            k += 1
            if k < n:
                chars |= _SHORTHAND.get(body[k], {body[k]})
        elif c != "-" or k == 0 or k == n - 1:
            chars.add(c)
        k += 1
    return frozenset(chars) & _ALL


def _set_re(chars: frozenset[str]) -> str:
    if not chars:
        return "(?!)"  # an empty class never matches
    if len(chars) == 1:
        return re.escape(next(iter(chars)))
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def compile_tiny_regex(pattern: str) -> re.Pattern[str]:
    """Translate an n2n community regex into a Python pattern for `fullmatch` over the name's
    bytes decoded as latin-1. Raises ValueError with the reason for patterns n2n would
    mis-parse."""
    src = pattern.encode("utf-8").decode("latin-1")  # n2n matches bytes
    out: list[str] = []
    quantifiable = False
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in "*+?":
            if not quantifiable:
                raise ValueError(f"'{c}' at position {i + 1} has nothing to repeat")
            out.append(c)
            quantifiable = False
            i += 1
            continue
        if c == ".":
            out.append(_set_re(_DOT))
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError("a trailing '\\' escapes nothing (write '\\\\' for a backslash)")
            i += 1
            out.append(_set_re(_SHORTHAND.get(src[i], frozenset(src[i]))))
        elif c == "[":
            inverted = i + 1 < n and src[i + 1] == "^"
            j = i + 2 if inverted else i + 1
            body: list[str] = []
            while j < n and src[j] != "]":
                if src[j] == "\\" and j + 1 < n:
                    body.append(src[j])
                    j += 1
                body.append(src[j])
                j += 1
            if j >= n:
                raise ValueError(f"the '[' at position {i + 1} is never closed with ']'")
            if not body:
                raise ValueError(f"the class at position {i + 1} is empty")
            chars = _class_set("".join(body))
            out.append(_set_re(_ALL - chars if inverted else chars))
            i = j
        else:
            out.append(re.escape(c))
        quantifiable = True
        i += 1
    return re.compile("".join(out), re.DOTALL)


# --- the file ---------------------------------------------------------------------------------


def _subnet(text: str, lineno: int) -> tuple[int, int]:
    hint = f"line {lineno}: write the subnet as NETWORK/BITS, e.g. 192.168.168.0/24"
    addr, slash, bits = text.partition("/")
    if not slash or not bits.isdigit():
        raise ConfigError(f"{hint} (got {text!r})")
    try:
        net = int(ipaddress.IPv4Address(addr))
    except ValueError:
        raise ConfigError(f"{hint} ({addr!r} is not an IPv4 address)") from None
    bitlen = int(bits)
    if not 1 <= bitlen <= 30:
        raise ConfigError(f"line {lineno}: prefix /{bitlen} must be 1..30 for auto-IP")
    if net in (0, 0xFFFFFFFF) or net & ~bitlen2mask(bitlen) & 0xFFFFFFFF:
        raise ConfigError(
            f"line {lineno}: {text} is not a network address (host bits must be zero, "
            f"e.g. {ipaddress.IPv4Network((net, bitlen), strict=False).network_address}/{bitlen})"
        )
    return net, bitlen


def _user(words: list[str], lineno: int, last: FixedCommunity | None) -> CommunityUser:
    usage = f"line {lineno}: user lines are `* <username> <public key from n2n-keygen>`"
    if last is None:
        raise ConfigError(
            f"line {lineno}: a user line must follow the fixed community name it belongs to "
            "(regexes cannot have users)"
        )
    if len(words) != 2:
        raise ConfigError(usage)
    name, key = words
    if len(name.encode()) > USERNAME_MAX:
        raise ConfigError(f"line {lineno}: username {name!r} is longer than {USERNAME_MAX} bytes")
    if len(key) != PUBLIC_KEY_CHARS or not set(key) <= _KEY_ALPHABET:
        raise ConfigError(
            f"{usage}; the key must be {PUBLIC_KEY_CHARS} characters of 0-9 A-Z a-z + - "
            f"(got {key!r})"
        )
    public = ascii_to_bin(key)
    if public in last.users:
        raise ConfigError(
            f"line {lineno}: this public key is already listed for {last.display!r} "
            f"(line {last.users[public].line}); each user needs their own key"
        )
    return CommunityUser(name, public, lineno)


def _words(line: str) -> list[str]:
    """The words of a line up to a comment."""
    words: list[str] = []
    for word in line.split():
        if word.startswith("#"):
            break
        words.append(word)
    return words


def _pattern(name: str, with_subnet: bool, lineno: int) -> CommunityPattern:
    if with_subnet:
        raise ConfigError(
            f"line {lineno}: {name!r} is a regular expression, which cannot have a "
            "subnet; list the names that need one as fixed names"
        )
    try:
        regex = compile_tiny_regex(name)
    except ValueError as exc:
        raise ConfigError(f"line {lineno}: bad community regex {name!r}: {exc}") from None
    return CommunityPattern(name, regex, lineno)


def parse_community_file(text: str) -> CommunityList:
    """Parse a community list file; raises ConfigError (naming the line) on any mistake."""
    result = CommunityList()
    last: FixedCommunity | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        words = _words(raw)
        if not words:
            continue
        if words[0].startswith("*"):
            # n2n's "* %15s %43s" also reads "*name key" (the space matches no blank)
            args = words[1:] if words[0] == "*" else [words[0][1:], *words[1:]]
            user = _user(args, lineno, last)
            assert last is not None  # _user checked it
            last.users[user.public_key] = user
            continue
        name = words[0]
        if len(words) > 2:
            raise ConfigError(
                f"line {lineno}: expected `NAME [NETWORK/BITS]`, got {len(words)} words "
                "(start comments with #)"
            )
        if set(name) & REGEX_CHARS:
            result.patterns.append(_pattern(name, len(words) == 2, lineno))
            last = None
            continue
        key = name.encode("utf-8")
        if len(key) > N2N_COMMUNITY_SIZE - 1:
            raise ConfigError(
                f"line {lineno}: community name {name!r} is longer than "
                f"{N2N_COMMUNITY_SIZE - 1} bytes; edges cannot use it, shorten it"
            )
        if key in result.fixed:
            raise ConfigError(
                f"line {lineno}: community {name!r} is already listed on line "
                f"{result.fixed[key].line}; list it once"
            )
        subnet = _subnet(words[1], lineno) if len(words) == 2 else None
        last = FixedCommunity(key, subnet, line=lineno)
        result.fixed[key] = last
    if not result.fixed and not result.patterns:
        raise ConfigError(
            "the community file lists no community name or regular expression; add one name "
            "per line (or start the supernode without -c to accept any community)"
        )
    return result


# --- auto-IP (§7.2) ---------------------------------------------------------------------------


def community_field(name: bytes) -> bytes:
    """The 20-byte NUL-padded community field n2n hashes (`comm->community`)."""
    return name[: N2N_COMMUNITY_SIZE - 1].ljust(N2N_COMMUNITY_SIZE, b"\x00")


def assign_subnet(
    name: bytes, pool: AutoIpRange, taken: Iterable[tuple[int, int]]
) -> tuple[int, int] | None:
    """n2n's `assign_one_ip_subnet`: the community's auto-IP subnet, or None if the pool is
    full. `taken` = (network, bitlen) of the *other* communities."""
    others = [(net, net + (~bitlen2mask(bits) & 0xFFFFFFFF)) for net, bits in taken]
    size = (~bitlen2mask(pool.bitlen) & 0xFFFFFFFF) + 1

    def free(net: int) -> bool:
        last = net + size - 1
        return all(last < lo or net > hi for lo, hi in others)

    first = pool.min_net + (pearson_hash_32(community_field(name)) % pool.subnet_count) * size
    for net in range(first, pool.min_net - 1, -size):
        if free(net):
            return net, pool.bitlen
    for net in range(first + size, pool.max_net + 1, size):
        if free(net):
            return net, pool.bitlen
    return None


def assign_host(subnet: tuple[int, int], desc: bytes, used: Set[int]) -> int | None:
    """n2n's `assign_one_ip_addr`: an address in `subnet` for an edge described by `desc` (the
    16-byte dev_desc, NUL-padded here), avoiding `used`; None if the subnet is full."""
    net, bitlen = subnet
    mask = bitlen2mask(bitlen)
    net_id = net & mask
    max_host = ~mask & 0xFFFFFFFF
    host = pearson_hash_32(desc[:N2N_DESC_SIZE].ljust(N2N_DESC_SIZE, b"\x00")) & max_host
    if host == 0:
        host = 1
    if host == max_host:
        host -= 1
    first = net_id | host
    for addr in range(first, net_id, -1):
        if addr not in used:
            return addr
    for addr in range(first + 1, net_id + max_host):
        if addr not in used:
            return addr
    return None
