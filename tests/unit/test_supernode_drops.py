"""Every drop reason the supernode counts is declared once in `pyn2n.core.drops`, and every
declared one is used (issue 10: one table of drop reasons with their meanings)."""

from __future__ import annotations

import ast
from pathlib import Path

from pyn2n.core.drops import SUPERNODE_DROPS

PKG = Path(__file__).resolve().parents[2] / "src" / "pyn2n" / "core" / "supernode"


def _reasons_used() -> dict[str, str]:
    """Reason literals in `drop(...)`/`_drop(...)` calls and `drops[...]` subscripts."""
    used: dict[str, str] = {}
    for path in sorted(PKG.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name not in ("drop", "_drop"):
                    continue
                args: list[ast.AST] = list(node.args)
            elif isinstance(node, ast.Subscript) and getattr(node.value, "attr", "") == "drops":
                args = [node.slice]
            else:
                continue
            for arg in args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        used[sub.value] = path.name
    return used


def test_every_reason_used_is_declared() -> None:
    used = _reasons_used()
    assert used, "the scan found no drop reasons: did the supernode modules move?"
    undeclared = {r: f for r, f in used.items() if r not in SUPERNODE_DROPS}
    assert not undeclared, f"declare these in pyn2n.core.drops.SUPERNODE_DROPS: {undeclared}"


def test_every_declared_reason_is_used() -> None:
    unused = set(SUPERNODE_DROPS) - set(_reasons_used())
    assert not unused, f"declared but never counted: {sorted(unused)}"


def test_every_reason_has_a_one_line_meaning() -> None:
    for reason, meaning in SUPERNODE_DROPS.items():
        assert reason.isidentifier() and meaning and "\n" not in meaning, reason
