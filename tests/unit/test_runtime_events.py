"""The runtime logs the cores' events as one line each: warnings at WARNING (cause and fix),
notices at INFO, a refused registration only at DEBUG (its warning says it once a minute)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from pyn2n.cli.runtime import Runtime
from pyn2n.core.events import (
    Event,
    OperatorNotice,
    OperatorWarning,
    Registered,
    RegistrationRefused,
)


def _log(event: Event, caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    posted: list[Any] = []
    stub = SimpleNamespace(
        on_event=None,
        log=logging.getLogger("pyn2n.test"),
        mgmt=SimpleNamespace(post=lambda e: posted.append(e) or []),
        mgmt_sock=None,
    )
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="pyn2n.test"):
        Runtime._event(stub, event)  # type: ignore[arg-type]
    assert posted == [event]  # management subscribers get it too
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_warnings_notices_and_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    text = "peer 02:00:00:00:00:02: its packets do not decrypt with our key — check -k and -A"
    assert _log(OperatorWarning("peer_key", text), caplog) == [(logging.WARNING, text)]
    joined = "edge 02:00:00:00:00:A1 'x' at 198.18.1.1:1 joined community 'net'"
    assert _log(OperatorNotice("edge_joined", joined), caplog) == [(logging.INFO, joined)]
    (rec,) = _log(RegistrationRefused("198.18.0.1:7654", "MAC in use"), caplog)
    assert rec[0] == logging.DEBUG
    (rec,) = _log(Registered("198.18.0.1:7654", True, "198.18.9.1:1"), caplog)
    assert rec[0] == logging.INFO and rec[1].startswith("registered")
