"""n2n-compatible flags and config files for `pyn2n edge` / `pyn2n supernode`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyn2n import constants as C
from pyn2n.cli.common import UsageError, read_config_file
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.cli.supernode_args import parse_supernode_args

BASE = ["-c", "mynet", "-l", "198.18.0.2:7654"]


def edge(*extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_edge_args([*BASE, *extra], env=env or {})


def test_quick_start_line() -> None:
    a = edge("-a", "198.19.0.1/24")
    assert (a.community, a.supernodes, a.ip, a.prefix) == (
        "mynet",
        [("198.18.0.2", 7654)],
        "198.19.0.1",
        24,
    )
    assert a.transform == C.N2N_TRANSFORM_ID_NULL and a.ip_mode == "static"
    assert a.mtu == 1290 and a.device == "edge0" and a.mgmt_port == 5644
    assert not a.drop_multicast  # pyn2n carries multicast by default


def test_glued_short_options_as_n2n() -> None:
    a = edge("-k", "secret", "-A4", "-z2", "-S1", "-H", "-E", "-vv")
    assert a.transform == C.N2N_TRANSFORM_ID_CHACHA20
    assert a.compression == C.N2N_COMPRESSION_ID_ZSTD
    assert a.no_p2p and a.header_encryption and a.verbosity == 4
    assert edge("-k", "x").transform == C.N2N_TRANSFORM_ID_AES  # a key alone means AES
    assert edge("-z").compression == C.N2N_COMPRESSION_ID_LZO


def test_auto_ip_and_repeatable_supernodes() -> None:
    a = parse_edge_args(["-c", "n", "-l", "a:1", "-l", "b:2"], env={})
    assert a.ip is None and a.ip_mode == "auto" and a.supernodes == [("a", 1), ("b", 2)]


def test_environment() -> None:
    a = parse_edge_args(["-l", "h:1"], env={"N2N_COMMUNITY": "c", "N2N_KEY": "k"})
    assert a.community == "c" and a.key == "k" and a.transform == C.N2N_TRANSFORM_ID_AES


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["-l", "h:1"], "-c NAME"),
        (["-c", "n"], "-l HOST:PORT"),
        (["-c", "x" * 20, "-l", "h:1"], "at most 19"),
        ([*BASE, "-l", "nohost"], "HOST:PORT"),
        ([*BASE, "-A3"], "needs a key"),
        ([*BASE, "-A1", "-k", "x"], "drop -k"),
        ([*BASE, "-A9", "-k", "x"], "between 1 and 5"),
        ([*BASE, "-a", "300.1.1.1"], "not an IPv4"),
        ([*BASE, "-a", "198.19.0.1/33"], "prefix"),
        ([*BASE, "-m", "zz:00"], "six hex pairs"),
        ([*BASE, "-J", "pw"], "-I USERNAME"),
        ([*BASE, "-J", "pw", "-I", "u", "-k", "x"], "-A4"),
        ([*BASE, "-S3"], "-S2"),
        ([*BASE, "-n", "10.0.0.0/8:1.2.3.4"], "removed"),
        ([*BASE, "--select-rtt", "--select-mac"], "choose one"),
        ([*BASE, "--bogus"], "unrecognized"),
        ([*BASE, "-M", "big"], "whole number"),
    ],
)
def test_bad_flags_name_the_problem(argv: list[str], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_edge_args(argv, env={})


def test_s2_is_tcp_and_no_p2p() -> None:
    a = edge("-S2")
    assert a.tcp and a.no_p2p
    b = edge("-S1")
    assert b.no_p2p and not b.tcp


def test_user_password_implies_header_encryption() -> None:
    a = edge("-J", "pw", "-I", "alice", "-A5", "-k", "x")
    assert a.header_encryption and a.username == "alice" and a.password == "pw"


def test_config_file_and_override(tmp_path: Path) -> None:
    conf = tmp_path / "edge.conf"
    conf.write_text(
        "# my edge\n-c=mynet\n--supernode-list 198.18.0.2:7654\n-a 198.19.0.5/16\n"
        '-k "pass#word"\n-A3\n\n-z1\n'
    )
    a = parse_edge_args([str(conf), "-a", "198.19.0.6/16"], env={})
    assert a.community == "mynet" and a.key == "pass#word" and a.ip == "198.19.0.6"
    assert a.compression == C.N2N_COMPRESSION_ID_LZO and a.prefix == 16


def test_config_file_errors_name_the_line(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("-c mynet\ncommunity mynet\n")
    with pytest.raises(UsageError, match=r"bad.conf:2: 'community mynet' is not an option"):
        read_config_file(str(conf))
    with pytest.raises(UsageError, match="cannot read config file"):
        read_config_file(str(tmp_path / "missing.conf"))


def test_supernode_flags() -> None:
    s = parse_supernode_args(["-p", "7777", "-F", "myfed", "-l", "198.18.0.3:7654", "-M"], env={})
    assert (s.port, s.federation, s.anchors, s.spoofing_protection) == (
        7777,
        "*myfed",
        [("198.18.0.3", 7654)],
        False,
    )
    assert parse_supernode_args([], env={}).port == 7654
    assert parse_supernode_args(["-a", "198.19.0.0-198.19.255.0/24"], env={}).autoip == (
        "198.19.0.0",
        "198.19.255.0",
        24,
    )
    with pytest.raises(UsageError, match="MIN-MAX/N"):
        parse_supernode_args(["-a", "10.0.0.0/8"], env={})
    with pytest.raises(UsageError, match="port"):
        parse_supernode_args(["-p", "99999"], env={})
