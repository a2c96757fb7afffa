"""Header-encryption time stamps and replay checks (spec §6 "Time stamp", "Checks")."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyn2n.constants import TIME_STAMP_FRAME, TIME_STAMP_JITTER
from pyn2n.crypto.timestamp import (
    StampTracker,
    TimeStamper,
    initial_time_stamp,
    jitter_allowed,
    time_stamp_verify,
)

T0 = 1_700_000_000.25  # exactly representable: 250000 µs


def _clock(now: float) -> int:
    sec = int(now)
    return (sec << 32) | (round((now - sec) * 1e6) << 12)


def test_stamp_layout() -> None:
    stamp = TimeStamper().stamp(T0)
    assert stamp >> 32 == 1_700_000_000
    assert (stamp >> 12) & 0xFFFFF == 250_000
    assert stamp & 0xFFF == 0  # counter 0, flag clear


def test_counter_within_one_microsecond() -> None:
    stamper = TimeStamper()
    stamps = [stamper(T0) for _ in range(3)]
    assert [s & 0xFFF for s in stamps] == [0x000, 0x010, 0x020]
    assert stamps[0] < stamps[1] < stamps[2]
    # a new microsecond resets the counter
    assert stamper(T0 + 0.5) & 0xFFF == 0


def test_counter_overflow_sets_the_sticky_counter_only_flag() -> None:
    stamper = TimeStamper()
    stamps = [stamper(T0) for _ in range(256)]
    assert stamps[-1] & 0xFFF == 0xFF0
    overflow = stamper(T0)
    # low 32 bits become a counter (continuing at 256), flag bit 0 set
    assert overflow == (1_700_000_000 << 32) | (256 << 4) | 1
    assert stamper(T0) == (1_700_000_000 << 32) | (257 << 4) | 1
    # next second: counter restarts, the flag stays
    assert stamper(T0 + 1) == (1_700_000_001 << 32) | 1
    assert stamper(T0 + 1.5) == (1_700_000_001 << 32) | (1 << 4) | 1


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=2, max_size=30))
def test_stamps_increase_with_time(offsets_us: list[int]) -> None:
    stamper = TimeStamper()
    stamps = [stamper(T0 + us / 1e6) for us in sorted(offsets_us)]
    assert all(a < b for a, b in itertools.pairwise(stamps))


def test_window_is_plus_minus_16_seconds() -> None:
    now = _clock(T0)
    assert time_stamp_verify(now, T0, None, False)
    assert time_stamp_verify(now + TIME_STAMP_FRAME - 1, T0, None, False)
    assert time_stamp_verify(now - TIME_STAMP_FRAME + 1, T0, None, False)
    assert not time_stamp_verify(now + TIME_STAMP_FRAME, T0, None, False)
    assert not time_stamp_verify(now - TIME_STAMP_FRAME, T0, None, False)
    assert not time_stamp_verify(TimeStamper().stamp(T0 - 17), T0, None, True)
    assert time_stamp_verify(TimeStamper().stamp(T0 - 15), T0, None, True)
    # far away in either direction, including the int64 abs() corner n2n lets through
    assert not time_stamp_verify(0, T0, None, False)
    assert not time_stamp_verify((now + (1 << 63)) % 2**64, T0, None, False)


def test_must_be_newer_than_last() -> None:
    now = _clock(T0)
    assert time_stamp_verify(now, T0, now - 1, False)
    assert not time_stamp_verify(now, T0, now, False)
    assert not time_stamp_verify(now - 0x100, T0, now, False)


def test_jitter_allowance() -> None:
    now = _clock(T0)
    last = now + TIME_STAMP_JITTER - 1
    assert not time_stamp_verify(now, T0, last, False)
    assert time_stamp_verify(now, T0, last, True)
    assert not time_stamp_verify(now, T0, now + TIME_STAMP_JITTER, True)
    # counter-only stamps (bit 0) get 256 times the allowance
    co = now | 1
    assert time_stamp_verify(co, T0, co + TIME_STAMP_JITTER * 200, True)
    assert not time_stamp_verify(co, T0, co + TIME_STAMP_JITTER * 256, True)
    assert not time_stamp_verify(co, T0, co + TIME_STAMP_JITTER * 200, False)


def test_initial_time_stamp_is_16_seconds_ago() -> None:
    assert initial_time_stamp(T0) == _clock(T0) - TIME_STAMP_FRAME
    # so anything within the window passes against a fresh peer
    assert time_stamp_verify(TimeStamper().stamp(T0 - 15.9), T0, initial_time_stamp(T0), False)


@pytest.mark.parametrize(
    ("pc", "at_supernode", "multicast", "expected"),
    [
        (3, False, False, True),  # PACKET
        (3, True, False, True),
        (10, False, False, True),  # PEER_INFO at an edge
        (10, True, False, False),  # PEER_INFO at a supernode (from a federated one)
        (11, True, False, True),  # QUERY_PEER at a supernode
        (1, False, True, True),  # multicast REGISTER
        (1, False, False, False),
        (1, True, False, False),
        (4, False, False, False),  # REGISTER_ACK
        (5, True, False, False),  # REGISTER_SUPER
        (6, True, False, False),  # UNREGISTER_SUPER
        (7, False, False, False),  # REGISTER_SUPER_ACK
        (8, False, False, False),  # REGISTER_SUPER_NAK
        (12, False, False, False),  # RE_REGISTER_SUPER
    ],
)
def test_jitter_rules(pc: int, at_supernode: bool, multicast: bool, expected: bool) -> None:
    assert jitter_allowed(pc, at_supernode=at_supernode, multicast=multicast) is expected


def test_tracker_rejects_replays_and_old_stamps() -> None:
    stamper = TimeStamper()
    tracker = StampTracker()
    first, second = stamper(T0), stamper(T0 + 0.001)
    assert tracker.verify("peer", first, T0, False)  # unknown: window only
    assert tracker.last("peer") == first
    assert not tracker.verify("peer", first, T0, False)  # replay
    assert tracker.verify("peer", second, T0, False)
    assert not tracker.verify("peer", first, T0, False)  # 1 ms older
    assert tracker.verify("peer", first, T0, True)  # ... but within the 160 ms jitter
    assert tracker.last("peer") == second


def test_tracker_jitter_does_not_turn_the_clock_back() -> None:
    tracker = StampTracker()
    base = _clock(T0)
    assert tracker.verify("p", base, T0, True)
    assert tracker.verify("p", base - 0x1000, T0, True)  # slightly older, within jitter
    assert tracker.last("p") == base  # the newer stamp stays the reference


def test_tracker_window_applies_to_known_senders() -> None:
    tracker = StampTracker()
    assert tracker.verify("p", _clock(T0), T0, False)
    assert not tracker.verify("p", _clock(T0 + 20), T0, False)
    assert not tracker.verify("stranger", _clock(T0 - 20), T0, False)
    assert "stranger" not in tracker


def test_tracker_is_bounded_and_forgets() -> None:
    tracker = StampTracker(max_entries=2)
    stamper = TimeStamper()
    assert tracker.verify("a", stamper(T0), T0, False)
    assert tracker.verify("b", stamper(T0), T0, False)
    assert tracker.verify("a", stamper(T0), T0, False)  # "a" is now the most recent
    assert tracker.verify("c", stamper(T0), T0, False)
    assert len(tracker) == 2
    assert "b" not in tracker
    assert "a" in tracker
    tracker.forget("a")
    assert "a" not in tracker
    tracker.forget("never seen")
    with pytest.raises(ValueError):
        StampTracker(max_entries=0)


def test_tracker_reset_starts_16_seconds_back() -> None:
    tracker = StampTracker()
    tracker.reset("p", T0)
    assert tracker.last("p") == initial_time_stamp(T0)
    assert not tracker.verify("p", _clock(T0 - 16.5), T0, False)
    assert tracker.verify("p", _clock(T0 - 15.5), T0, False)
