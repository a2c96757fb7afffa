"""Fixtures shared by the unit tests; the helpers behind them live in `tests/simnet.py`."""

from __future__ import annotations

import pytest

from pyn2n.core.edge import Edge
from tests.simnet import Clock, make_edge, registered_edge

EdgeAndClock = tuple[Edge, Clock]


@pytest.fixture
def registered() -> EdgeAndClock:
    """A lone edge (tests/simnet.py kit) through its first real REGISTER_SUPER_ACK, drained."""
    return registered_edge()


@pytest.fixture
def fresh() -> EdgeAndClock:
    """A lone edge just built: no timer fired, nothing sent."""
    return make_edge()
