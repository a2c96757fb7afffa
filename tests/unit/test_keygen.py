"""`pyn2n keygen` prints what n2n-keygen prints (§7.3)."""

from __future__ import annotations

import pytest

from pyn2n.cli import keygen
from pyn2n.crypto.auth import (
    ascii_to_bin,
    federation_public_key,
    generate_public_key,
    user_private_key,
)

# Printed by n2n-keygen 3.1.1 (fff50a7) on this project's machines: `n2n-keygen alice s3cret`
# and `n2n-keygen -F Federation`.
N2N_ALICE = "* alice Is2cZIIMeDtkqOYWVY-TpP7MtLgK5q35l5nWyEjX-sC"
N2N_FEDERATION = "-P i0IuBFO0RC22m2Ya32uUUFUA2yfQSwsxVZ3-S5F2k7O"


def test_user_line_matches_n2n_keygen(capsys: pytest.CaptureFixture[str]) -> None:
    assert keygen.main(["alice", "s3cret"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == N2N_ALICE
    key = ascii_to_bin(line.split()[2])
    assert key == generate_public_key(user_private_key("alice", "s3cret"))


def test_federation_key_matches_n2n_keygen(capsys: pytest.CaptureFixture[str]) -> None:
    assert keygen.main(["-F", "Federation"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == N2N_FEDERATION
    assert ascii_to_bin(line.split()[1]) == federation_public_key("*Federation")


@pytest.mark.parametrize("argv", [[], ["alice"], ["-F", "x", "alice", "pw"], ["al ice", "pw"]])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert keygen.main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
