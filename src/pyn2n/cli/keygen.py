"""`pyn2n keygen` — n2n-keygen's job (spec §7.3).

pyn2n keygen alice s3cret      # -> "* alice <43-char public key>", a line for the community file
pyn2n keygen -F myfed          # -> "-P <43-char public key>", the flag edges need for that federation
"""

from __future__ import annotations

from collections.abc import Sequence

from pyn2n.cli.common import Parser, UsageError, run_main
from pyn2n.crypto.auth import (
    bin_to_ascii,
    federation_public_key,
    generate_public_key,
    user_private_key,
)


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    p = Parser(
        prog="pyn2n keygen",
        description="Make a community-file line for a user (USERNAME PASSWORD) or the -P key "
        "edges need for a federation (-F NAME), as n2n-keygen does.",
    )
    p.add_argument("-F", dest="federation", metavar="NAME", help="federation name")
    p.add_argument("words", nargs="*", metavar="USERNAME PASSWORD")
    ns = p.parse_args(argv)
    if ns.federation is not None:
        if ns.words:
            raise UsageError("give either -F FEDERATION or USERNAME PASSWORD, not both")
        print(f"-P {bin_to_ascii(federation_public_key(ns.federation))}")
        return 0
    if len(ns.words) != 2:
        raise UsageError("give USERNAME PASSWORD (or -F FEDERATION)")
    user, password = ns.words
    if any(c.isspace() for c in user):
        raise UsageError(f"username {user!r}: no spaces, it goes into a community-file line")
    print(f"* {user} {bin_to_ascii(generate_public_key(user_private_key(user, password)))}")
    return 0
