"""The latency experiment's pure parts: percentiles of round trips, the rise of p50 under load
and its signed formatting."""

from __future__ import annotations

import statistics

import pytest

from pyn2n.bench import report
from pyn2n.bench.experiments import percentile


def test_percentile_matches_the_median_and_the_ends() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == statistics.median(values) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == statistics.median([1.0, 2.0, 3.0, 4.0])


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 25) == pytest.approx(25.75)
    # a single slow round trip among 200 moves p99 only part of the way
    rtts = [0.1] * 199 + [50.0]
    assert percentile(rtts, 50) == pytest.approx(0.1)
    assert 0.1 <= percentile(rtts, 99) < 1.0
    assert percentile(rtts, 100) == 50.0


def test_percentile_rejects_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def _summary(idle: float | None, loaded: float | None) -> dict[str, object]:
    metrics = {}
    if idle is not None:
        metrics["ping_ms"] = {"median": idle, "min": idle, "max": idle, "n": 1}
    if loaded is not None:
        metrics["ping_load_ms"] = {"median": loaded, "min": loaded, "max": loaded, "n": 1}
    return {"p": {"latency": {"metrics": metrics}}}


def test_rise_is_loaded_p50_minus_idle_p50() -> None:
    assert report.rise(_summary(0.5, 2.0), "p", "ping_ms", "ping_load_ms") == pytest.approx(1.5)
    assert report.rise(_summary(0.5, 0.25), "p", "ping_ms", "ping_load_ms") == pytest.approx(-0.25)
    assert report.rise(_summary(0.5, None), "p", "ping_ms", "ping_load_ms") is None
    assert report.rise(_summary(0.5, 2.0), "other", "ping_ms", "ping_load_ms") is None


def test_signed_shows_the_direction() -> None:
    assert report.signed(1.5) == "+1.50"
    assert report.signed(-0.011) == "−0.011"
    assert report.signed(0.0) == "0"
    assert report.signed(None) == "—"
    assert report.signed(1234.0) == "+1,234"
