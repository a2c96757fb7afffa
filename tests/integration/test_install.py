"""`make install` / `make uninstall` into a temporary tree (every path is a make variable), the
wheel's contents, the example configs, and the completion and man page made from the flags."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.cli.supernode_args import parse_supernode_args

ROOT = Path(__file__).parents[2]
PYN2N = [sys.executable, "-m", "pyn2n.cli.main"]
EDGE_FLAGS = ("--community", "--supernode-list", "--log-format", "--syslog", "--no-fastpath", "-u")


def _generate(what: str) -> str:
    proc = subprocess.run(
        [*PYN2N, "completion", what], capture_output=True, text=True, check=True, timeout=60
    )
    return proc.stdout


def _render_man(page: Path) -> str:
    """The page as man shows it; warnings from groff fail the test."""
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0")
    proc = subprocess.run(
        ["man", "--warnings", "-l", str(page)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


def test_example_configs_are_valid() -> None:
    edge = parse_edge_args([str(ROOT / "deploy/edge-example.conf")], env={})
    assert edge.community == "mynet" and edge.service.user == "pyn2n"
    sn = parse_supernode_args([str(ROOT / "deploy/supernode.conf")], env={})
    assert sn.port == 7654 and sn.service.user is None  # the unit sets User= itself
    for name in ("edge-example.conf", "supernode.conf"):
        text = (ROOT / "deploy" / name).read_text()
        assert "# --metrics=9100" in text and "# --http=8080" in text


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_knows_the_edge_flags(shell: str) -> None:
    script = _generate(shell)
    for flag in EDGE_FLAGS:
        assert flag in script, flag
    assert "supernode" in script and "completion" in script
    if shell == "bash" and shutil.which("bash"):  # the script parses
        subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)


def test_man_page_renders(tmp_path: Path) -> None:
    page = tmp_path / "pyn2n.1"
    page.write_text(_generate("man"))
    text = _render_man(page)
    assert "pyn2n edge" in text and "pyn2n supernode" in text
    assert "--log-format" in text and "--management-password" in text


def test_wheel_carries_the_package_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("pyn2n-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pyn2n/py.typed" in names
    sources = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src/pyn2n").rglob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pyn2n = pyn2n.cli.main:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_make_install_and_uninstall(tmp_path: Path) -> None:
    dirs = {
        "PREFIX": tmp_path / "usr",
        "OPT_DIR": tmp_path / "opt/pyn2n",
        "SYSCONFDIR": tmp_path / "etc/pyn2n",
        "UNITDIR": tmp_path / "systemd",
    }
    args = [f"{k}={v}" for k, v in dirs.items()] + ["CREATE_USER=no"]
    # a config the administrator already has must survive install and uninstall
    dirs["SYSCONFDIR"].mkdir(parents=True)
    mine = dirs["SYSCONFDIR"] / "supernode.conf"
    mine.write_text("-p=17654\n")
    make = ["make", "-C", str(ROOT), "-s"]
    subprocess.run([*make, "install", *args], check=True, timeout=1200)

    usr, opt, etc, units = (dirs[k] for k in ("PREFIX", "OPT_DIR", "SYSCONFDIR", "UNITDIR"))
    link = usr / "bin/pyn2n"
    assert link.is_symlink() and link.resolve() == (opt / "bin/pyn2n").resolve()
    version = subprocess.run([link, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("pyn2n ")
    assert list(opt.glob("lib/python3*/site-packages/pyn2n/py.typed"))
    assert mine.read_text() == "-p=17654\n"
    example = etc / "edge-example.conf"
    assert example.read_text() == (ROOT / "deploy/edge-example.conf").read_text()
    assert example.stat().st_mode & 0o077 == 0  # it holds a key
    for unit in ("pyn2n-supernode.service", "pyn2n-edge@.service"):
        text = (units / unit).read_text()
        assert f"ExecStart={link} " in text and str(etc) in text, text
    bash = (usr / "share/bash-completion/completions/pyn2n").read_text()
    assert all(flag in bash for flag in EDGE_FLAGS)
    assert "--log-format" in (usr / "share/zsh/site-functions/_pyn2n").read_text()
    page = tmp_path / "pyn2n.1"
    page.write_bytes(gzip.decompress((usr / "share/man/man1/pyn2n.1.gz").read_bytes()))
    assert "pyn2n edge" in _render_man(page)

    subprocess.run([*make, "uninstall", *args], check=True, timeout=300)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["etc/pyn2n/supernode.conf", "pyn2n.1"], left
    assert not link.exists() and not opt.exists()
