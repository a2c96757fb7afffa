"""Shared fixtures for tests that need root and network namespaces.

- Tests marked `@pytest.mark.root` are skipped (with the reason) where labs cannot run.
- `make_lab(edges=2, nat=..., loss=..., standby=...)` builds a `pyn2n.lab.Lab`; every lab it
  made is torn down after the test, also when the test failed.
- `lab`: a ready lab with a supernode host and three edges.
- A run killed outright (SIGKILL, or SIGTERM: no Python handler is installed here on purpose,
  because pyroute2's forked helpers would inherit it) leaves state files in /run/pyn2n;
  `pyn2n lab down --all` removes those labs. Ctrl-C and test timeouts unwind normally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyn2n.lab import Lab, LabError, preflight


def skip_unless_root() -> None:
    """Skip the calling test unless network namespaces, veths and iptables work here."""
    reason = preflight()
    if reason is not None:
        pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is not None:
        skip_unless_root()


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    labs: list[Lab] = []

    def make(edges: int = 2, **kw: Any) -> Lab:
        skip_unless_root()
        lab = Lab(edges, **kw)
        lab.up()  # tears down what it built if it fails
        labs.append(lab)
        return lab

    yield make
    errors = []
    for lab in reversed(labs):
        try:
            lab.down()
        except LabError as e:
            errors.append(str(e))
    assert not errors, errors


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(3)
