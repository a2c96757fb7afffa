"""Fixtures for the interop tests against real n2n binaries (see docs/interop.md).

Every test here is skipped, with the reason, unless `N2N_BIN_DIR` names a directory holding n2n's
`edge` and `supernode`, and unless labs can run (root, namespaces, iptables). Tests that start a
pyn2n edge or supernode fail, with its output, when `pyn2n edge -h` / `pyn2n supernode -h` does.

- `n2n_bins`: the `Binaries` found in N2N_BIN_DIR.
- `lab`: a fresh `pyn2n.lab.Lab` with a supernode host and two edges, torn down after the test.
- During the session SIGTERM raises KeyboardInterrupt, so a killed run still unwinds through the
  teardowns (which stop the n2n processes and remove the namespaces).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from pyn2n.lab import Lab, preflight
from tests.interop.harness import Binaries

BIN_DIR_VAR = "N2N_BIN_DIR"


def _find_binaries() -> Binaries | str:
    """The binaries, or why they cannot be used."""
    value = os.environ.get(BIN_DIR_VAR)
    if not value:
        return f"{BIN_DIR_VAR} is not set (a directory with n2n's edge and supernode; see docs/interop.md)"
    bins = Binaries.from_dir(Path(value))
    missing = bins.missing()
    if missing:
        return f"{BIN_DIR_VAR}={value}: missing {', '.join(map(str, missing))}"
    return bins


@pytest.fixture(autouse=True)
def _requirements() -> None:
    """Skip before any set-up: first for the binaries, then for root (the clearer reason first)."""
    found = _find_binaries()
    if isinstance(found, str):
        pytest.skip(found)
    reason = preflight()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def n2n_bins() -> Binaries:
    found = _find_binaries()
    assert isinstance(found, Binaries), found
    return found


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session", autouse=True)
def _sigterm_unwinds() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    yield
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(2) as built:
        yield built
