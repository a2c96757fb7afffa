"""The interop harness fails, never skips, when a pyn2n command it needs is broken."""

from __future__ import annotations

import pytest

from tests.interop import test_ping
from tests.interop.harness import pyn2n_help_failure


def test_a_broken_command_is_reported_with_its_output() -> None:
    failure = pyn2n_help_failure("no-such-command")
    assert failure is not None and "no-such-command" in failure
    assert pyn2n_help_failure("edge") is None


def test_a_topology_needing_a_broken_command_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_ping, "pyn2n_help_failure", lambda cmd: f"`pyn2n {cmd} -h` exited 1")
    with pytest.raises(pytest.fail.Exception, match="pyn2n edge -h"):
        test_ping.require_runtime(test_ping.MIXED_EDGES)
    test_ping.require_runtime(test_ping.C_ONLY)  # needs no pyn2n command
