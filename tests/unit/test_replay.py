"""The fast path's anti-replay window (core/replay.py, RFC 6479) on its own: basic cases and
a set model under random packet numbers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.core.replay import ReplayWindow


def test_replay_window_basics() -> None:
    w = ReplayWindow()
    assert w.size >= 2048
    assert w.update(0) and not w.update(0)
    assert w.update(5) and w.update(3) and not w.update(3)
    assert w.update(10_000)
    assert not w.check(10_000 - w.size) and not w.update(10_000 - w.size)
    assert w.check(10_000 - w.size + 1) and w.update(10_000 - w.size + 1)
    assert w.check(9_999) and not w.check(10_000)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 12_000), max_size=300))
def test_replay_window_matches_a_set_model(numbers: list[int]) -> None:
    w = ReplayWindow()
    seen: set[int] = set()
    top = -1
    for n in numbers:
        fresh = n not in seen and (n > top or top - n < w.size)
        assert w.check(n) == fresh
        assert w.update(n) == fresh
        if fresh:
            seen.add(n)
            top = max(top, n)
