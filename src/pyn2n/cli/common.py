"""What `pyn2n edge` and `pyn2n supernode` share: n2n-style config files, errors, logging.

n2n's config file format (doc/ConfigurationFiles.md): the first argument that does not start
with `-` names a file; one option per line as `-c mynet`, `-c=mynet`, `--community mynet` or
`--community=mynet`; a line starting with `#` is a comment; quotes around values are trimmed. Options given on the
command line after the file override it. A mistake in the file is reported as `file:line`.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pyn2n.core.config import ConfigError, decode_text

_OPTION_LINE = re.compile(r"(-{1,2}[^\s=]*)(?:\s*=\s*|\s+)?(.*)$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# -v: pyn2n's decisions (peer paths and why, registrations); between INFO and DEBUG
DETAIL = 15
logging.addLevelName(DETAIL, "DETAIL")


class UsageError(Exception):
    """A bad flag, value or config line: the message names it and the fix (exit code 2)."""


@dataclass(frozen=True)
class ConfigLine:
    """Where an option of a config file came from, for errors naming file:line."""

    path: str
    lineno: int
    option: str


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so errors get one clear line, with a
    "did you mean" for a mistyped flag and file:line for a bad option in a config file."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}{self._suggestion(message)} (see `{self.prog} -h`)")

    def option_strings(self) -> list[str]:
        return [s for action in self._actions for s in action.option_strings]

    def _suggestion(self, message: str) -> str:
        m = re.search(r"unrecognized arguments: (\S+)", message)
        if m is None:
            return ""
        return did_you_mean(m.group(1).split("=")[0], self.option_strings())

    def knows(self, option: str) -> bool:
        """Whether argparse would take `option` (exact, glued short value, long prefix)."""
        known = self.option_strings()
        if option in known:
            return True
        if not option.startswith("--"):
            return option[:2] in known  # n2n glues short-option values: -A3, -z1
        return any(k.startswith(option) for k in known if k.startswith("--"))

    def parse_argv(self, argv: Sequence[str]) -> argparse.Namespace:
        """Parse argv whose first word may name a config file (see the module docstring)."""
        args, lines = expand_argv_lines(argv)
        for line in lines:
            if not self.knows(line.option):
                hint = did_you_mean(line.option, self.option_strings())
                raise UsageError(
                    f"{line.path}:{line.lineno}: unknown option {line.option!r}{hint} "
                    f"(see `{self.prog} -h`)"
                )
        return self.parse_args(args)


def add_version(p: argparse.ArgumentParser) -> None:
    """`--version`: print pyn2n's version and exit (`-V` keeps n2n's meaning)."""
    from pyn2n import __version__

    p.add_argument("--version", action="version", version=f"pyn2n {__version__}")


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """'; did you mean --community?' for a near miss, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config file {path!r}: {exc.strerror}") from exc
    try:
        return decode_text(data, path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def read_config_lines(path: str) -> tuple[list[str], list[ConfigLine]]:
    """The argv a config file stands for and where each option came from."""
    text = _read_text(path)
    argv: list[str] = []
    lines: list[ConfigLine] = []
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
        lines.append(ConfigLine(path, lineno, opt))
        if value:
            argv.append(value)
    return argv, lines


def read_config_file(path: str) -> list[str]:
    """The argv a config file stands for; errors name the file and line."""
    return read_config_lines(path)[0]


def expand_argv_lines(argv: Sequence[str]) -> tuple[list[str], list[ConfigLine]]:
    """Replace a leading config-file argument by its options (later CLI options win)."""
    args = list(argv)
    if args and not args[0].startswith("-"):
        file_args, lines = read_config_lines(args[0])
        return file_args + args[1:], lines
    return args, []


def expand_argv(argv: Sequence[str]) -> list[str]:
    return expand_argv_lines(argv)[0]


def pyn2n_level(verbosity: int) -> int:
    """n2n's trace levels for pyn2n's own loggers: 0 error, 1 warning, 2 normal (default),
    3 (-v) pyn2n's decisions, 4 (-vv) and above debug."""
    levels = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: DETAIL}
    return levels.get(max(0, verbosity), logging.DEBUG)


def library_level(verbosity: int) -> int:
    """Other libraries (pyroute2, asyncio, ...) stay at warnings unless -vvv (5) asks."""
    if verbosity >= 5:
        return logging.DEBUG
    return logging.ERROR if verbosity <= 0 else logging.WARNING


def setup_logging(verbosity: int) -> None:
    logging.basicConfig(level=library_level(verbosity), format=LOG_FORMAT, stream=sys.stderr)
    trace_to_logging(verbosity)


def trace_to_logging(level: int) -> None:
    """Apply a trace level (start-up `-v`, or the management `verbose` write)."""
    logging.getLogger().setLevel(library_level(level))
    logging.getLogger("pyn2n").setLevel(pyn2n_level(level))


def run_main(fn, argv: Sequence[str]) -> int:  # type: ignore[no-untyped-def]
    """Call fn(argv); turn a UsageError into one line on stderr and exit code 2; Ctrl-C before
    the node runs (it handles SIGINT itself later) exits quietly with 130."""
    try:
        return int(fn(list(argv)) or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
