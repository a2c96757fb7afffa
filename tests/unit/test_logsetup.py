"""The log destinations and formats of `pyn2n edge` / `pyn2n supernode`."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
from pathlib import Path

import pytest

from pyn2n.cli.common import DETAIL, UsageError
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.cli.logsetup import event_extra, make_handler, syslog_priority
from pyn2n.cli.supernode_args import parse_supernode_args


def _record(level: int = logging.INFO, msg: str = "hello %s", **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("pyn2n.edge", level, __file__, 1, msg, ("world",), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_text_format_has_time_stamp_level_and_logger() -> None:
    handler = make_handler("text", stream=io.StringIO(), env={})
    line = handler.format(_record())
    assert line.endswith("INFO pyn2n.edge: hello world")
    assert line[:4].isdigit()  # asctime first


def test_journal_stream_drops_our_time_stamp_and_adds_the_priority(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as stream:
        st = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        handler = make_handler("text", stream=stream, env=env)
        assert handler.format(_record(logging.WARNING)) == "<4>WARNING pyn2n.edge: hello world"
        assert handler.format(_record(DETAIL)).startswith("<7>DETAIL ")
        # JOURNAL_STREAM inherited by a process whose stderr is elsewhere: keep the time stamps
        other = make_handler("text", stream=io.StringIO(), env=env)
        assert other.format(_record())[:4].isdigit()


def test_json_is_one_object_per_line_with_event_fields() -> None:
    handler = make_handler("json", stream=io.StringIO(), env={})
    plain = json.loads(handler.format(_record()))
    assert set(plain) == {"time", "level", "logger", "message"}
    assert plain["level"] == "INFO" and plain["logger"] == "pyn2n.edge"
    assert plain["message"] == "hello world" and plain["time"].endswith("+00:00")
    extra = event_extra("ip_assigned", {"ip4addr": "198.19.0.5", "prefix": 24, "message": "x"})
    rec = _record(**extra)
    line = handler.format(rec)
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["event"] == "ip_assigned" and obj["ip4addr"] == "198.19.0.5" and obj["prefix"] == 24
    assert obj["message"] == "hello world"  # an event field never hides the message
    notice = json.loads(handler.format(_record(**event_extra("notice", {"text": "hello world"}))))
    assert "text" not in notice  # a notice's text is the message: not twice


def test_syslog_sends_to_the_socket_with_the_levels_priority(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    handler = make_handler("text", syslog=True, ident="pyn2n-edge", syslog_address=path)
    try:
        handler.handle(_record(logging.ERROR))
        handler.handle(_record(DETAIL))
        first, second = server.recv(4096).decode(), server.recv(4096).decode()
    finally:
        handler.close()
        server.close()
    # <facility daemon (3) * 8 + severity>
    assert first.startswith(f"<{3 * 8 + 3}>pyn2n-edge[{os.getpid()}]: pyn2n.edge: hello world")
    assert second.startswith(f"<{3 * 8 + 7}>")


def test_syslog_without_a_socket_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--syslog: cannot reach the syslog socket"):
        make_handler("text", syslog=True, syslog_address=str(tmp_path / "absent"))


def test_priorities() -> None:
    levels = (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, DETAIL, 10)
    assert [syslog_priority(x) for x in levels] == [2, 3, 4, 6, 7, 7]


def test_flags_reach_both_commands() -> None:
    edge = parse_edge_args(
        ["-c", "net", "-l", "sn:7654", "--syslog", "--log-format", "json", "-u", "nobody"], env={}
    )
    assert edge.service.syslog and edge.service.log_format == "json"
    assert edge.service.user == "nobody" and edge.service.group is None
    sn = parse_supernode_args(["-u", "65534", "-g", "nogroup", "--log-format=json"], env={})
    assert (sn.service.user, sn.service.group, sn.service.log_format) == (
        "65534",
        "nogroup",
        "json",
    )
    with pytest.raises(UsageError, match="--log-format"):
        parse_supernode_args(["--log-format", "xml"], env={})
