"""Every drop reason is declared once in `pyn2n.core.drops` with its meaning: each one a core
counts is declared, each declared one is counted, and docs/operating.md lists them all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pyn2n.core.drops import EDGE_DROPS, IO_DROPS, SUPERNODE_DROPS, meanings

CORE = Path(__file__).resolve().parents[2] / "src" / "pyn2n" / "core"
IO = CORE.parent / "io"
OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"

TABLES = {
    "edge": (EDGE_DROPS, [CORE / "edge", CORE / "fastpath"]),
    "supernode": (SUPERNODE_DROPS, [CORE / "supernode"]),
}


def _reasons_used(folders: list[Path]) -> dict[str, str]:
    """Reason literals in `drop(...)`/`_drop(...)` calls and `drops[...]` subscripts."""
    used: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name not in ("drop", "_drop"):
                        continue
                    args: list[ast.AST] = list(node.args)
                elif isinstance(node, ast.Subscript) and (
                    getattr(node.value, "attr", "") == "drops"
                    or getattr(node.value, "id", "") == "drops"
                ):
                    args = [node.slice]
                else:
                    continue
                for arg in args:
                    for sub in ast.walk(arg):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                            used[sub.value] = path.name
    return used


@pytest.mark.parametrize("role", sorted(TABLES))
def test_every_reason_used_is_declared(role: str) -> None:
    table, folders = TABLES[role]
    used = _reasons_used(folders)
    assert used, "the scan found no drop reasons: did the modules move?"
    undeclared = {r: f for r, f in used.items() if r not in table}
    assert not undeclared, f"declare these in pyn2n.core.drops: {undeclared}"


@pytest.mark.parametrize("role", sorted(TABLES))
def test_every_declared_reason_is_used(role: str) -> None:
    table, folders = TABLES[role]
    unused = set(table) - set(_reasons_used(folders))
    assert not unused, f"declared but never counted: {sorted(unused)}"


def test_the_drivers_reasons_are_counted_by_the_runtime() -> None:
    runtime = (CORE.parent / "cli" / "runtime.py").read_text()
    assert {r for r in IO_DROPS if f'"{r}"' in runtime} == set(IO_DROPS)


@pytest.mark.parametrize("table", [EDGE_DROPS, SUPERNODE_DROPS, IO_DROPS])
def test_every_reason_has_a_one_line_meaning(table: dict[str, str]) -> None:
    for reason, meaning in table.items():
        assert reason.isidentifier() and meaning and "\n" not in meaning, reason


def test_operating_guide_lists_every_reason_with_its_meaning() -> None:
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| (.+?) \|$", OPERATING.read_text(), re.M)
    for role in ("edge", "supernode"):
        want = meanings(role)
        assert {r: m for r, m in rows if r in want and m == want[r]} == want, role
