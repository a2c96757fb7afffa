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


def _contract_methods() -> set[str]:
    """Every method `core/api.py` declares for a driver to call."""
    tree = ast.parse((PKG / "core" / "api.py").read_text())
    return {
        item.name
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for item in cls.body
        if isinstance(item, ast.FunctionDef)
    }


def _driver_uses(path: Path) -> tuple[set[str], set[str]]:
    """(attributes read from a name called `node`, calls of getattr/cast) in a driver module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    attrs: set[str] = set()
    escapes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "node":
                attrs.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "cast")
        ):
            escapes.add(node.func.id)
    return attrs, escapes


@pytest.mark.parametrize(
    "path", sorted((PKG / "io").glob("*.py")), ids=lambda p: str(p.relative_to(PKG))
)
def test_drivers_call_only_the_contract(path: Path) -> None:
    attrs, escapes = _driver_uses(path)
    assert not escapes, f"{path.name} steps around core/api.py with {sorted(escapes)}"
    extra = attrs - _contract_methods()
    assert not extra, f"{path.name} calls {sorted(extra)} on the node: declare them in core/api.py"


def test_contract_checker_sees_an_undeclared_call(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f(node):\n    node.fastpath.gro\n    return getattr(node, 'x')\n")
    attrs, escapes = _driver_uses(sample)
    assert "fastpath" in attrs - _contract_methods() and escapes == {"getattr"}
