"""`pyn2n completion bash|zsh|man`: shell completion and the man page, generated from the
argument parsers themselves (shtab and argparse-manpage, the `deploy` extra), so they never
drift from the flags. `make install` writes them where bash, zsh and man look.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyn2n.cli.common import Parser, UsageError, run_main

SHELLS = ("bash", "zsh")


def pyn2n_parser() -> argparse.ArgumentParser:
    """One parser with every command as a sub-command (the CLI itself dispatches by hand)."""
    from pyn2n import __version__
    from pyn2n.cli import edge_args, supernode_args
    from pyn2n.cli.main import COMMANDS
    from pyn2n.lab.cli import build_parser as lab_parser

    root = argparse.ArgumentParser(
        prog="pyn2n",
        description="A Python implementation of the n2n v3 peer-to-peer Layer-2 VPN: edges, "
        "supernodes, their management, a lab of network namespaces and benchmarks.",
        epilog="Config files: /etc/pyn2n/supernode.conf, /etc/pyn2n/edge-NAME.conf (one option "
        "per line); systemd units pyn2n-supernode.service and pyn2n-edge@NAME.service.",
    )
    root.add_argument("--version", action="version", version=f"pyn2n {__version__}")
    sub = root.add_subparsers(dest="command", metavar="COMMAND")
    full = {
        "edge": edge_args.build_parser(),
        "supernode": supernode_args.build_parser(),
        "lab": lab_parser(),
    }
    for name, (_module, help_) in COMMANDS.items():
        parent = full.get(name)
        if parent is None:  # options listed by `pyn2n NAME -h`
            sub.add_parser(name, help=help_, description=help_)
            continue
        sub.add_parser(
            name,
            help=help_,
            description=parent.description,
            epilog=parent.epilog,
            parents=[parent],
            add_help=False,
            conflict_handler="resolve",
        )
    return root


def completion(shell: str) -> str:
    import shtab

    script: str = shtab.complete(pyn2n_parser(), shell=shell)
    return script


def manpage() -> str:
    from argparse_manpage.manpage import Manpage

    from pyn2n import __version__

    page = Manpage(pyn2n_parser(), format="single-commands-section")
    # the attributes argparse-manpage documents for overriding (its _data is private)
    page.source = f"pyn2n {__version__}"
    page.manual = "pyn2n manual"
    page.description = "the n2n v3 peer-to-peer Layer-2 VPN in Python"
    return str(page)


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    p = Parser(
        prog="pyn2n completion",
        description="Print a completion script for bash or zsh, or the man page (roff), made "
        "from the flags of this version.",
        epilog="example: pyn2n completion bash > /usr/local/share/bash-completion/completions/pyn2n",
    )
    p.add_argument("what", choices=(*SHELLS, "man"), help="bash, zsh or man")
    what = p.parse_args(argv).what
    try:
        text = manpage() if what == "man" else completion(what)
    except ImportError as exc:
        raise UsageError(
            f"{exc.name} is not installed: pip install 'pyn2n[deploy]' (make install does)"
        ) from None
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
