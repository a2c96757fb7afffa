"""Smoke test of `pyn2n bench transforms`: every case is measured and reported (no speed check)."""

from __future__ import annotations

import json

import pytest

from pyn2n.bench import cli
from pyn2n.bench.transforms import TRANSFORMS, compressible_frame
from pyn2n.transforms.compression import Lzo, Zstd


def test_json_has_every_row_with_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["transforms", "--seconds", "0.002", "--sizes", "64,1400", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    cases = [(name, ("encrypt", "decrypt")) for name, _, _ in TRANSFORMS]
    cases += [("lzo1x", ("compress", "decompress"))]
    cases += [("zstd", ("compress", "decompress"))]
    expected = {(name, size, op) for name, ops in cases for size in (64, 1400) for op in ops}
    assert {(r["name"], r["size"], r["op"]) for r in rows} == expected
    assert len(rows) == len(expected)
    for row in rows:
        assert row["frames"] > 0 and row["seconds"] > 0
        assert row["frames_per_s"] > 0 and row["mb_per_s"] > 0
        assert row["wire_size"] > 0
        if row["op"] in ("encrypt", "decrypt") and row["name"] != "null":
            assert row["wire_size"] == row["size"] + 16
        if row["kind"] == "compression":
            assert row["wire_size"] < row["size"]
    assert report["environment"]["cryptography"]


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["transforms", "--seconds", "0.001", "--sizes", "100"]) == 0
    out = capsys.readouterr().out
    for name in ("null", "Twofish", "AES-128", "AES-256", "ChaCha20", "Speck", "zstd"):
        assert name in out
    assert "frames/s" in out


def test_compressible_frame_compresses_at_every_size() -> None:
    for method in (Lzo(), Zstd()):
        for size in (64, 100, 1400, 2048):
            frame = compressible_frame(size)
            assert len(frame) == size
            assert method.compress(frame) is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["transforms", "--seconds", "0"],
        ["transforms", "--sizes", "0"],
        ["transforms", "--sizes", "x"],
        ["nonesuch"],
        ["--no-such-option"],  # options alone go to `run`, which refuses this one
    ],
)
def test_bad_arguments_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
