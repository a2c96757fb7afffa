"""`pyn2n bench --loss` and the `loss` experiment's wiring (the lab part runs in
tests/integration/test_fastpath_loss.py)."""

from __future__ import annotations

import argparse

import pytest

from pyn2n.bench import loss
from pyn2n.bench.experiments import Settings, select_experiments
from pyn2n.bench.run import add_arguments


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_loss_option_takes_a_percentage() -> None:
    assert parse().loss == 0.0
    assert parse("--loss", "5").loss == 5.0
    assert parse("--loss", "0.5%").loss == 0.5
    for bad in ("x", "-1", "100"):
        with pytest.raises((argparse.ArgumentError, SystemExit)):
            parse("--loss", bad)


def test_loss_experiment_measures_one_and_five_percent() -> None:
    [exp] = select_experiments("loss")
    keys = [m.key for m in exp.metrics(Settings())]
    assert keys == ["mbit_s@1%", "mbit_s@5%"] and loss.LEVELS == (1.0, 5.0)
    assert "loss" not in [e.name for e in select_experiments("all")]  # only when named
    assert [e.name for e in select_experiments("all,loss")][-1] == "loss"
