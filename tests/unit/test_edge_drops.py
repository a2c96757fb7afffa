"""Every drop reason the edge counts is declared once in `core/drops_edge.py`, and every
declared reason is counted somewhere (standard path, fast path or driver report)."""

from __future__ import annotations

import re
from pathlib import Path

import pyn2n.core.edge
from pyn2n.core.drops_edge import EDGE_DROPS

_CORE = Path(pyn2n.core.edge.__file__).parent
_SOURCES = [*sorted(_CORE.glob("*.py")), *sorted((_CORE.parent / "fastpath").glob("*.py"))]
_LITERAL = re.compile(r'drops\["([a-z0-9_]+)"\]')


def used_reasons() -> set[str]:
    found: set[str] = set()
    for path in _SOURCES:
        found |= set(_LITERAL.findall(path.read_text()))
    return found


def test_every_drop_reason_is_declared() -> None:
    assert used_reasons() - EDGE_DROPS.keys() == set()


def test_every_declared_reason_is_used() -> None:
    assert EDGE_DROPS.keys() - used_reasons() == set()


def test_every_reason_has_a_one_line_meaning() -> None:
    for reason, meaning in EDGE_DROPS.items():
        assert meaning and "\n" not in meaning, reason
