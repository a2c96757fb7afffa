"""Errors that point the right way (flags, config files, -a, versions)."""

from __future__ import annotations

import errno
import io
import re
import socket
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from pyn2n import __version__
from pyn2n.cli import edge as edge_cli
from pyn2n.cli import supernode as supernode_cli
from pyn2n.cli.common import UsageError, run_main
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.cli.main import COMMANDS, main
from pyn2n.cli.supernode_args import parse_supernode_args

BASE = ["-c", "mynet", "-l", "198.18.0.2:7654"]


def edge_error(*extra: str) -> str:
    with pytest.raises(UsageError) as info:
        parse_edge_args([*BASE, *extra], env={})
    return str(info.value)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("198.19.0.0/24", "'198.19.0.0/24': 198.19.0.0 is the network address of 198.19.0.0/24"),
        ("198.19.0.255/24", "198.19.0.255 is the broadcast address of 198.19.0.0/24"),
        ("198.19.0.0", "is the network address"),  # /24 by default
        ("198.19.0.3/33", "-a '198.19.0.3/33': the prefix length must be between 1 and 30"),
        ("198.19.0.3/x", "-a '198.19.0.3/x': the prefix length"),
        ("dhcp:0.0.0.0", "-a dhcp:0.0.0.0 needs -r"),
    ],
)
def test_address_errors(address: str, words: str) -> None:
    assert words in edge_error("-a", address)


def test_host_addresses_still_accepted() -> None:
    a = parse_edge_args([*BASE, "-a", "198.19.0.254/24"], env={})
    assert (a.ip, a.prefix) == ("198.19.0.254", 24)
    assert parse_edge_args([*BASE, "-a", "10.0.0.1/30"], env={}).ip == "10.0.0.1"


def test_did_you_mean() -> None:
    assert "did you mean --community?" in edge_error("--comunity", "x")
    with pytest.raises(UsageError, match="did you mean --communities"):
        parse_supernode_args(["--communites", "f"], env={})


def test_config_file_utf16_and_bad_utf8(tmp_path: Path) -> None:
    utf16 = tmp_path / "u16.conf"
    utf16.write_bytes("-c mynet\n".encode("utf-16"))  # starts with \xff\xfe
    with pytest.raises(UsageError, match=r"u16.conf: the file is UTF-16 .* save it as UTF-8"):
        parse_edge_args([str(utf16)], env={})
    bad = tmp_path / "bad.conf"
    bad.write_bytes(b"-c mynet\n-l \xc3\x28:1\n")
    with pytest.raises(UsageError, match=r"bad.conf:2: not UTF-8 text"):
        parse_edge_args([str(bad)], env={})
    bom8 = tmp_path / "bom8.conf"
    bom8.write_bytes(b"\xef\xbb\xbf-c mynet\n-l 198.18.0.2:7654\n")
    assert parse_edge_args([str(bom8)], env={}).community == "mynet"


def test_unknown_option_in_config_file_names_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "edge.conf"
    conf.write_text("-c mynet\n-l 198.18.0.2:7654\n--comunity other\n-A3\n-k x\n")
    with pytest.raises(UsageError, match=r"edge.conf:3: unknown option '--comunity'; did you"):
        parse_edge_args([str(conf)], env={})
    conf.write_text("-c mynet\n-l 198.18.0.2:7654\n-A3\n-k x\n--supernode-l 198.18.0.3:1\n")
    assert len(parse_edge_args([str(conf)], env={}).supernodes) == 2  # glued, abbreviated: fine
    sn = tmp_path / "sn.conf"
    sn.write_text("-p 7654\n-q\n")
    with pytest.raises(UsageError, match=r"sn.conf:2: unknown option '-q'"):
        parse_supernode_args([str(sn)], env={})


@pytest.mark.parametrize("command", ["edge", "supernode"])
def test_version_flag(command: str) -> None:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as info:
        main([command, "--version"])
    assert info.value.code == 0 and out.getvalue().strip() == f"pyn2n {__version__}"


def test_tap_errors_point_to_the_fix() -> None:
    busy = edge_cli.tap_error("edge0", OSError(errno.EBUSY, "Device or resource busy"))
    assert "busy" in busy and "another name with -d" in busy and "root" not in busy
    perm = edge_cli.tap_error("edge0", OSError(errno.EPERM, "Operation not permitted"))
    assert "root" in perm


def test_management_port_wording_once() -> None:
    from pyn2n.cli.runtime import open_management

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(UsageError) as info:
            open_management(taken.getsockname()[1])
    text = str(info.value)
    assert text.count("-t") == 2 and "choose another" not in text, text


def test_ctrl_c_during_start_up_is_quiet() -> None:
    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    err = io.StringIO()
    with redirect_stderr(err):
        assert run_main(interrupted, []) == 130
    assert "Traceback" not in err.getvalue() and "KeyboardInterrupt" not in err.getvalue()


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "bench"] + ["bench run"])
def test_help_texts_cite_no_spec_sections(command: str) -> None:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        main([*command.split(), "-h"])
    text = out.getvalue()
    assert text and not re.search(r"§|seed|spec\b", text), text


def test_supernode_help_and_edge_module_exports() -> None:
    assert callable(edge_cli.main) and callable(supernode_cli.main)
