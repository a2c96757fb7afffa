"""What `pyn2n edge` and `pyn2n supernode` share: n2n-style config files, errors, logging.

n2n's config file format (doc/ConfigurationFiles.md): the first argument that does not start
with `-` names a file; one option per line as `-c mynet`, `-c=mynet`, `--community mynet` or
`--community=mynet`; a line starting with `#` is a comment; quotes around values are trimmed. Options given on the
command line after the file override it.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

_OPTION_LINE = re.compile(r"(-{1,2}[^\s=]*)(?:\s*=\s*|\s+)?(.*)$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UsageError(Exception):
    """A bad flag, value or config line: the message names it and the fix (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so errors get one clear line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `pyn2n {self.prog.split()[-1]} -h`)")


def read_config_file(path: str) -> list[str]:
    """The argv a config file stands for; errors name the file and line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read config file {path!r}: {exc.strerror}") from exc
    argv: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):  # whole-line comments only: keys may contain '#'
            continue
        if not line.startswith("-"):
            raise UsageError(
                f"{path}:{lineno}: {raw.strip()!r} is not an option; write it as `-x value` "
                "or `--long-name=value`, one per line"
            )
        m = _OPTION_LINE.match(line)
        assert m is not None  # any line starting with "-" matches
        opt, value = m.group(1), (m.group(2) or "").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        # n2n glues short-option values too (-A3, -z1, -S1)
        argv.append(opt)
        if value:
            argv.append(value)
    return argv


def expand_argv(argv: Sequence[str]) -> list[str]:
    """Replace a leading config-file argument by its options (later CLI options win)."""
    args = list(argv)
    if args and not args[0].startswith("-"):
        return read_config_file(args[0]) + args[1:]
    return args


def setup_logging(verbosity: int) -> None:
    # n2n's trace levels: 0 error, 1 warning, 2 normal (default), 3 info, 4 debug
    level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.INFO}.get(
        verbosity, logging.DEBUG
    )
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


def trace_to_logging(level: int) -> None:
    logging.getLogger().setLevel(
        {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.INFO}.get(
            level, logging.DEBUG
        )
    )


def run_main(fn, argv: Sequence[str]) -> int:  # type: ignore[no-untyped-def]
    """Call fn(argv); turn a UsageError into one line on stderr and exit code 2."""
    try:
        return int(fn(list(argv)) or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
