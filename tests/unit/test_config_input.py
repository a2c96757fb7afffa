"""Configuration input that must fail with one clear line and exit code 2: files that are not
UTF-8 (named by file and line), an empty `-k`; and the management text console's writes."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from pyn2n.cli.common import UsageError
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.cli.main import main
from pyn2n.cli.supernode import read_community_file
from pyn2n.core.config import ConfigError, decode_text

BASE = ["-c", "mynet", "-l", "198.18.0.2:7654"]


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def test_decode_text_names_the_line() -> None:
    assert decode_text(b"\xef\xbb\xbfmynet\n", "f") == "mynet\n"
    with pytest.raises(ConfigError, match=r"^f:3: not UTF-8 text \(byte 0xff\); save it as UTF-8"):
        decode_text(b"a\nb\n\xffc\n", "f")
    with pytest.raises(ConfigError, match=r"^f: the file is UTF-16"):
        decode_text("x\n".encode("utf-16"), "f")


def test_community_file_not_utf8_exits_2_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "communities.list"
    path.write_bytes(b"# communities\nmynet\ncaf\xe9\n")
    with pytest.raises(UsageError, match=r"communities.list:3: not UTF-8 text \(byte 0xe9\)"):
        read_community_file(str(path))
    code, err = run(["supernode", "-c", str(path), "-p", "0"])
    assert code == 2
    assert err.startswith("error: -c ") and "communities.list:3: not UTF-8" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_edge_config_file_not_utf8_exits_2(tmp_path: Path) -> None:
    conf = tmp_path / "edge.conf"
    conf.write_bytes(b"-c mynet\n-l 198.18.0.2:7654\n-I \x80\x81\n")
    code, err = run(["edge", str(conf)])
    assert code == 2 and "edge.conf:3: not UTF-8 text (byte 0x80)" in err
    assert "Traceback" not in err


def test_empty_key_is_refused() -> None:
    with pytest.raises(UsageError, match=r"-k '': the key is empty"):
        parse_edge_args([*BASE, "-k", ""], env={})
    with pytest.raises(UsageError, match=r"-k '': the key is empty"):
        parse_edge_args([*BASE, "-A3", "-k", ""], env={})
    code, err = run(["edge", *BASE, "-k", ""])
    assert code == 2 and "leave -k out for an unencrypted community" in err
    # a real key, and no key at all, still work
    assert parse_edge_args([*BASE, "-k", "secret"], env={}).key == "secret"
    assert parse_edge_args(BASE, env={}).key is None


def test_open_verbosity_flag() -> None:
    assert not parse_edge_args(BASE, env={}).mgmt_open_verbosity
    assert parse_edge_args([*BASE, "--management-open-verbosity"], env={}).mgmt_open_verbosity


def test_sn_probe_flag_and_config_file(tmp_path: Path) -> None:
    assert parse_edge_args(BASE, env={}).sn_probe == 2.5
    assert parse_edge_args([*BASE, "--sn-probe", "10"], env={}).sn_probe == 10
    assert parse_edge_args([*BASE, "--sn-probe=0"], env={}).sn_probe == 0
    conf = tmp_path / "edge.conf"
    conf.write_text("-c mynet\n-l 198.18.0.2:7654\n--sn-probe=7.5\n")
    assert parse_edge_args([str(conf)], env={}).sn_probe == 7.5
    with pytest.raises(UsageError, match=r"--sn-probe 'soon': give a number of seconds"):
        parse_edge_args([*BASE, "--sn-probe", "soon"], env={})
    code, err = run(["edge", *BASE, "--sn-probe", "0.1"])
    assert code == 2 and "--sn-probe 0.1: give 0 (no probe) or 0.5 to 3600 seconds" in err
    assert "Traceback" not in err
