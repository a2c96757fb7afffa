"""The sans-IO layers import no I/O, clock or randomness (docs/architecture.md "Rules")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "src" / "pyn2n"
PURE_LAYERS = ("wire", "crypto", "transforms", "core")
FORBIDDEN = {"socket", "asyncio", "os", "time", "random", "select", "selectors", "subprocess"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            names.add("__import__")
    return names


def _pure_files() -> list[Path]:
    return sorted(p for layer in PURE_LAYERS for p in (PKG / layer).rglob("*.py"))


def test_pure_layers_exist() -> None:
    assert len(_pure_files()) >= len(PURE_LAYERS)


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PKG)))
def test_no_io_imports(path: Path) -> None:
    bad = _imports(path) & (FORBIDDEN | {"__import__"})
    assert not bad, (
        f"{path.relative_to(PKG)} imports {sorted(bad)}: pass time/randomness in instead"
    )


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os.path\nfrom time import monotonic\n")
    assert _imports(sample) >= {"os", "time"}
