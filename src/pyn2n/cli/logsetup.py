"""Where and how `pyn2n edge` / `pyn2n supernode` log: one handler on the root logger.

- stderr, human lines (the default); under journald (`JOURNAL_STREAM` names our stderr) without
  our time stamps, which the journal adds, and with a `<N>` syslog priority prefix that journald
  turns into the entry's level;
- `--syslog`: to the local syslog socket (/dev/log), facility daemon, tagged `pyn2n-edge[PID]`;
- `--log-format json`: one JSON object per line (time, level, logger, message), plus `event` and
  its fields when the line reports a node event (`extra=event_extra(event)`).

Levels stay those of `-v`/`-V` (`common.trace_to_logging`).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from pyn2n.cli.common import LOG_FORMAT, UsageError, trace_to_logging

LOG_FORMATS = ("text", "json")
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
SYSLOG_SOCKET = "/dev/log"


def syslog_priority(levelno: int) -> int:
    """RFC 5424 severity of a logging level (DETAIL, between INFO and DEBUG, is debug)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


def event_extra(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """`extra=` for a log call that reports a node event (the JSON format shows the fields)."""
    return {"event": kind, "event_fields": dict(fields)}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, [event, fields]."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        kind = getattr(record, "event", None)
        if kind is not None:
            out["event"] = kind
            for key, value in getattr(record, "event_fields", {}).items():
                if value != out["message"]:  # a notice's `text` is the message itself
                    out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


class JournalFormatter(logging.Formatter):
    """Human lines for journald: a `<N>` priority prefix, no time stamp."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return f"<{syslog_priority(record.levelno)}>{super().format(record)}"


class SyslogHandler(logging.handlers.SysLogHandler):
    """SysLogHandler whose priority comes from the level number (DETAIL included)."""

    def mapPriority(self, levelName: str) -> str:  # logging's names
        level = logging.getLevelName(levelName)
        return {2: "critical", 3: "error", 4: "warning", 6: "info", 7: "debug"}[
            syslog_priority(level if isinstance(level, int) else logging.INFO)
        ]


def on_journal(stream: IO[str], env: Mapping[str, str]) -> bool:
    """Whether `stream` is the journal stream systemd connected (JOURNAL_STREAM=dev:inode)."""
    dev, sep, ino = env.get("JOURNAL_STREAM", "").partition(":")
    if not sep or not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def make_handler(
    fmt: str = "text",
    *,
    syslog: bool = False,
    ident: str = "pyn2n",
    stream: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    syslog_address: str = SYSLOG_SOCKET,
) -> logging.Handler:
    """The one handler for the chosen destination and format; UsageError if syslog is absent."""
    if fmt not in LOG_FORMATS:
        raise UsageError(f"--log-format {fmt}: choose text or json")
    env = os.environ if env is None else env
    handler: logging.Handler
    if syslog:
        try:
            # SysLogHandler ignores a missing socket (and then every record): probe it first
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                probe.connect(syslog_address)
            handler = SyslogHandler(syslog_address, logging.handlers.SysLogHandler.LOG_DAEMON)
        except OSError as exc:
            raise UsageError(
                f"--syslog: cannot reach the syslog socket {syslog_address} ({exc.strerror or exc}); "
                "is journald or rsyslog running? Leave out --syslog to log to stderr"
            ) from None
        handler.ident = f"{ident}[{os.getpid()}]: "
        handler.setFormatter(
            JsonFormatter() if fmt == "json" else logging.Formatter("%(name)s: %(message)s")
        )
        return handler
    out = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(out)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif on_journal(out, env):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler


def configure_logging(
    verbosity: int, fmt: str = "text", *, syslog: bool = False, ident: str = "pyn2n"
) -> None:
    """Replace the root logger's handlers by the chosen one and apply the `-v`/`-V` level."""
    handler = make_handler(fmt, syslog=syslog, ident=ident)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    trace_to_logging(verbosity)
