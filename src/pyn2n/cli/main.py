"""`pyn2n` entry point: dispatches to the sub-commands, each a module with `main(argv) -> int`."""

from __future__ import annotations

import importlib
import sys

from pyn2n.cli.common import did_you_mean

COMMANDS: dict[str, tuple[str, str]] = {
    "edge": ("pyn2n.cli.edge", "run an edge (n2n's `edge` flags)"),
    "supernode": ("pyn2n.cli.supernode", "run a supernode (n2n's `supernode` flags)"),
    "ctl": ("pyn2n.cli.ctl", "query a running edge or supernode (n2n-ctl)"),
    "keygen": ("pyn2n.cli.keygen", "make user/password and federation keys (n2n-keygen)"),
    "decode": ("pyn2n.cli.decode", "decode a capture of n2n traffic into its frames (n2n-decode)"),
    "route": ("pyn2n.cli.route", "send traffic through a gateway edge (n2n-route)"),
    "lab": ("pyn2n.lab.cli", "virtual clouds in network namespaces: up, status, down, demo"),
    "bench": (
        "pyn2n.bench.cli",
        "benchmarks: pyn2n against the underlay, OpenVPN, tinc, n2n; transforms",
    ),
    "completion": ("pyn2n.cli.docgen", "shell completion (bash, zsh) or the man page"),
}


def usage() -> str:
    lines = ["usage: pyn2n <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`pyn2n <command> -h` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        from pyn2n import __version__

        print(f"pyn2n {__version__}")
        return 0
    name = args[0]
    if name not in COMMANDS:
        hint = did_you_mean(name, list(COMMANDS)).replace(";", ":", 1)
        print(f"pyn2n: unknown command {name!r}{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(args[1:]) or 0)
    except KeyboardInterrupt:  # Ctrl-C before a command handles SIGINT itself: no traceback
        return 130


if __name__ == "__main__":
    sys.exit(main())
