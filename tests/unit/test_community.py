"""Community list file and auto-IP (spec §7.2, features §C)."""

from __future__ import annotations

import ipaddress

import pytest

from pyn2n.core.community import (
    assign_host,
    assign_subnet,
    compile_tiny_regex,
    parse_community_file,
)
from pyn2n.core.config import AutoIpRange, ConfigError, SupernodeConfig
from pyn2n.crypto.auth import bin_to_ascii
from pyn2n.crypto.pearson import pearson_hash_32

KEY_A = bin_to_ascii(bytes(range(32)))
KEY_B = bin_to_ascii(bytes(range(1, 33)))


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


# --- parsing ------------------------------------------------------------------------------


def test_fixed_names_subnets_users_and_regexes() -> None:
    text = f"""# comment
home 192.168.168.0/24
office
* alice {KEY_A}
*bob {KEY_B}

  # indented comment
lab.*   # trailing comment
net[0-9]+
"""
    cl = parse_community_file(text)
    assert set(cl.fixed) == {b"home", b"office"}
    assert cl.fixed[b"home"].subnet == (ip("192.168.168.0"), 24)
    assert cl.fixed[b"office"].subnet is None
    users = cl.fixed[b"office"].users
    assert {u.name for u in users.values()} == {"alice", "bob"}
    assert users[bytes(range(32))].line == 4
    assert not cl.fixed[b"home"].users
    assert [p.source for p in cl.patterns] == ["lab.*", "net[0-9]+"]
    assert cl.pattern_allows(b"lab42") and cl.pattern_allows(b"lab")
    assert cl.pattern_allows(b"net7") and not cl.pattern_allows(b"net")
    assert not cl.pattern_allows(b"xlab")  # whole-name matches only
    assert not cl.pattern_allows(b"home")  # fixed names are not patterns


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no community"),
        ("# only comments\n\n", "no community"),
        (f"* alice {KEY_A}\n", "line 1: a user line must follow"),
        (f"lab.*\n* alice {KEY_A}\n", "line 2: a user line must follow"),
        ("a\n* alice short\n", "line 2: user lines are"),
        (f"a\n* alice {KEY_A} extra\n", "line 2: user lines are"),
        (f"a\n* averyveryverylongname {KEY_A}\n", "longer than 15"),
        (f"a\n* alice {KEY_A}\n* alice2 {KEY_A}\n", "line 3: this public key is already"),
        ("a\nb 10.0.0.0\n", "line 2: write the subnet as NETWORK/BITS"),
        ("a 10.0.0.1/24\n", "line 1: 10.0.0.1/24 is not a network address"),
        ("a 10.0.0.0/31\n", "prefix /31 must be 1..30"),
        ("a 300.0.0.0/8\n", "not an IPv4 address"),
        ("a b c\n", "line 1: expected `NAME [NETWORK/BITS]`"),
        ("x" * 20 + "\n", "longer than 19 bytes"),
        ("a\nb\na\n", "line 3: community 'a' is already listed on line 1"),
        ("lab.* 10.0.0.0/8\n", "cannot have a subnet"),
        ("a\n*x\n", "line 2: user lines are"),
        ("a\n+x\n", "line 2: bad community regex '+x'"),
        ("ab**\n", "nothing to repeat"),
        ("ab[cd\n", "never closed"),
        ("ab\\\n", "escapes nothing"),
        ("a[]b\n", "is empty"),
    ],
)
def test_mistakes_name_the_line_and_the_fix(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_community_file(text)
    assert words in str(info.value)


# --- tiny-regex semantics -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("a.c", ["abc", "a-c"], ["ac", "a\nc", "abcd"]),
        ("ab*", ["a", "abbb"], ["b", "abc"]),
        ("ab+", ["ab", "abb"], ["a"]),
        ("ab?c", ["ac", "abc"], ["abbc"]),
        (r"\d\D", ["1a"], ["11", "aa"]),
        (r"\w+", ["a_Z9"], ["a-b"]),
        (r"\W", ["-"], ["_"]),
        (r"x\sy\Sz", ["x y.z"], ["xxy z"]),
        (r"a\.b", ["a.b"], ["axb"]),
        ("[a-c]x", ["ax", "cx"], ["dx", "-x"]),
        ("[-a]", ["-", "a"], ["b"]),
        ("[a-]", ["-", "a"], ["b"]),
        ("[ab-d]", ["a", "c", "d"], ["-", "e"]),
        (r"[\d_]+", ["12_3"], ["1a"]),
        ("[^ab]c", ["xc"], ["ac", "bc"]),
        ("^a$", ["^a$"], ["a"]),  # anchors are plain characters in n2n's matcher
    ],
)
def test_tiny_regex_matches_like_n2n(pattern: str, yes: list[str], no: list[str]) -> None:
    rx = compile_tiny_regex(pattern)
    for name in yes:
        assert rx.fullmatch(name), (pattern, name)
    for name in no:
        assert not rx.fullmatch(name), (pattern, name)


def test_regex_runs_on_bytes_like_n2n() -> None:
    (pattern,) = parse_community_file("caf.\n").patterns
    assert pattern.matches(b"cafe")
    assert not pattern.matches("café".encode())  # two bytes: n2n's '.' matches one


# --- auto-IP ----------------------------------------------------------------------------------

POOL = AutoIpRange.from_strings("10.128.0.0", "10.255.255.0", 24)


def test_subnet_is_the_pearson_choice_of_the_pool() -> None:
    name = b"mynet"
    h = pearson_hash_32(name.ljust(20, b"\x00"))
    expected = ip("10.128.0.0") + (h % (128 * 256)) * 256
    assert assign_subnet(name, POOL, []) == (expected, 24)
    assert assign_subnet(name, POOL, []) == assign_subnet(name, POOL, [])


def test_subnet_probes_downwards_then_upwards() -> None:
    pool = AutoIpRange.from_strings("10.0.0.0", "10.0.3.0", 24)  # four subnets
    name = b"probe"
    first = ip("10.0.0.0") + (pearson_hash_32(name.ljust(20, b"\x00")) % 4) * 256
    taken = [(first, 24)]
    got = assign_subnet(name, pool, taken)
    assert got is not None
    if first > ip("10.0.0.0"):
        assert got == (first - 256, 24)
    else:
        assert got == (first + 256, 24)
    # every subnet below the choice taken -> the next one up
    below = [(n, 24) for n in range(ip("10.0.0.0"), first + 1, 256)]
    up = assign_subnet(name, pool, below)
    assert up == ((first + 256, 24) if first < ip("10.0.3.0") else None)


def test_subnet_overlap_with_a_bigger_fixed_net_counts() -> None:
    pool = AutoIpRange.from_strings("10.0.0.0", "10.0.3.0", 24)
    assert assign_subnet(b"x", pool, [(ip("10.0.0.0"), 16)]) is None
    assert assign_subnet(b"x", pool, [(ip("10.0.0.0"), 23)]) in {
        (ip("10.0.2.0"), 24),
        (ip("10.0.3.0"), 24),
    }


def test_host_is_the_pearson_choice_then_downwards_then_upwards() -> None:
    desc = b"laptop"
    net = ip("10.1.2.0")
    h = pearson_hash_32(desc.ljust(16, b"\x00")) & 0xFF
    h = min(max(h, 1), 254)
    first = net | h
    assert assign_host((net, 24), desc, set()) == first
    assert assign_host((net, 24), desc.ljust(16, b"\x00"), set()) == first  # padding is implied
    below = assign_host((net, 24), desc, {first})
    assert below == (first - 1 if h > 1 else first + 1)
    everything_below = set(range(net + 1, first + 1))
    assert assign_host((net, 24), desc, everything_below) == (first + 1 if h < 254 else None)


def test_host_never_network_or_broadcast() -> None:
    net = ip("10.9.9.0")
    used = set(range(net + 2, net + 255))
    assert assign_host((net, 24), b"a", used) == net + 1
    assert assign_host((net, 24), b"a", used | {net + 1}) is None
    # /30: two hosts
    assert assign_host((net, 30), b"b", set()) in {net + 1, net + 2}


# --- config -----------------------------------------------------------------------------------


def test_autoip_range_checks() -> None:
    assert POOL.subnet_count == 128 * 256
    for args in [
        ("10.0.0.1", "10.0.1.0", 24),
        ("10.0.1.0", "10.0.0.0", 24),
        ("10.0.0.0", "10.0.1.0", 31),
        ("0.0.0.0", "10.0.1.0", 24),
        ("x", "10.0.1.0", 24),
    ]:
        with pytest.raises(ConfigError):
            AutoIpRange.from_strings(*args)


def test_supernode_config_normalises_and_checks() -> None:
    cfg = SupernodeConfig(federation="Mesh")
    assert cfg.federation == "*Mesh"
    assert SupernodeConfig().federation == "*Federation"
    for kwargs in [
        {"federation": "*" + "x" * 18},
        {"anchors": [("sn.example.org", 7654)]},
        {"anchors": [("198.18.0.1", 0)]},
        {"mac": b"\x01" * 6},
        {"mac": b"\x02" * 5},
        {"version": "v" * 20},
        {"max_supernodes": 0},
        {"port": 70000},
    ]:
        with pytest.raises(ConfigError):
            SupernodeConfig(**kwargs)  # type: ignore[arg-type]
