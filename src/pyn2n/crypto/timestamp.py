"""n2n header-encryption time stamps and their replay checks (spec §6 "Time stamp", "Checks";
n2n `time_stamp`, `initial_time_stamp`, `time_stamp_verify_and_update` in `src/n2n.c`).

A stamp is a u64 that travels inside the encrypted IV:

    bits 63..32  seconds since 1970
    bits 31..12  microseconds            (bits 31..4 a counter once the flag is set)
    bits 11..4   counter for stamps issued within the same microsecond
    bit  0       "counter only" flag: set (for good) when the 8-bit counter overflows

A receiver accepts a stamp within ±16 s of its own clock that is also newer than the sender's
last accepted stamp, minus a jitter allowance (≈160 ms, ×256 for counter-only stamps) for
message types that may arrive out of order. Time is passed in as `now` (float seconds).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from pyn2n.constants import (
    MSG_TYPE_PACKET,
    MSG_TYPE_PEER_INFO,
    MSG_TYPE_QUERY_PEER,
    MSG_TYPE_REGISTER,
    TIME_STAMP_FRAME,
    TIME_STAMP_JITTER,
)

__all__ = [
    "StampTracker",
    "TimeStamper",
    "initial_time_stamp",
    "jitter_allowed",
    "time_stamp_verify",
]

_M64 = 0xFFFFFFFFFFFFFFFF


def _clock_stamp(now: float) -> int:
    """(seconds << 32) + (microseconds << 12), n2n's stamp before counter and flag."""
    sec, usec = divmod(int(now * 1_000_000), 1_000_000)
    return ((sec << 32) + (usec << 12)) & _M64


def _signed64(v: int) -> int:
    v &= _M64
    return v - (1 << 64) if v >> 63 else v


class TimeStamper:
    """Issues a sender's stamps (n2n `time_stamp`; its counter state lives here)."""

    __slots__ = ("_previous",)

    def __init__(self) -> None:
        self._previous = 0

    def stamp(self, now: float) -> int:
        """The next stamp for the wall-clock time `now`."""
        # A port of n2n's branch-free C, kept in its shape so the rare paths match too.
        micro = _clock_stamp(now)
        prev = self._previous
        co = prev & 1
        mask_lo = 0xFFFFFFFF if co else 0xFFF
        mask_hi = ~mask_lo & _M64
        hi_unchanged = (prev & mask_hi) == (micro & mask_hi)
        counter = (((prev & mask_lo) >> 4) + 1) << 4 if hi_unchanged else 0
        new_co = 1 if co or (hi_unchanged and not counter & mask_lo) else 0
        mask_hi = ~(0xFFFFFFFF if new_co else 0xFFF) & _M64
        stamp = ((micro & mask_hi) | counter | new_co) & _M64
        self._previous = stamp
        return stamp

    __call__ = stamp


def initial_time_stamp(now: float) -> int:
    """The "last stamp" a newly created peer starts with: 16 s ago (n2n `initial_time_stamp`)."""
    return (_clock_stamp(now) - TIME_STAMP_FRAME) & _M64


def time_stamp_verify(stamp: int, now: float, last_stamp: int | None, allow_jitter: bool) -> bool:
    """n2n's stamp check, without the update (`StampTracker` keeps `last_stamp`).

    True if `stamp` is within ±16 s of `now` and, when the sender's `last_stamp` is known,
    newer than it (with the jitter allowance if `allow_jitter`).
    """
    # n2n's int64 abs() lets a difference of exactly 2^63 through; we do not
    if abs(_signed64(stamp - _clock_stamp(now))) >= TIME_STAMP_FRAME:
        return False
    if last_stamp is not None:
        diff = _signed64(stamp - last_stamp)
        if allow_jitter:
            diff += TIME_STAMP_JITTER << (8 * (stamp & 1))
        if diff <= 0:
            return False
    return True


def jitter_allowed(pc: int, *, at_supernode: bool, multicast: bool = False) -> bool:
    """Whether message type `pc` gets the jitter allowance (spec §6 "Checks").

    PACKET everywhere; PEER_INFO at an edge; QUERY_PEER at a supernode; REGISTER only when it
    arrived via multicast with a null destination MAC. Everything else: no jitter.
    """
    if pc == MSG_TYPE_PACKET:
        return True
    if pc == MSG_TYPE_PEER_INFO:
        return not at_supernode
    if pc == MSG_TYPE_QUERY_PEER:
        return at_supernode
    if pc == MSG_TYPE_REGISTER:
        return multicast and not at_supernode
    return False


class StampTracker:
    """Last accepted stamp per sender, bounded (least recently used senders drop out).

    `sender` is any hashable the caller picks (n2n: the supernode entry for packets flagged
    FROM_SUPERNODE, else the source MAC). A sender seen for the first time gets only the ±16 s
    check, like n2n's unknown peers, and its stamp is remembered from then on. A sender that
    has dropped out of the table is treated as new again.
    """

    __slots__ = ("_last", "max_entries")

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._last: OrderedDict[Hashable, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, sender: Hashable) -> bool:
        return sender in self._last

    def last(self, sender: Hashable) -> int | None:
        return self._last.get(sender)

    def _store(self, sender: Hashable, stamp: int) -> None:
        self._last[sender] = stamp
        self._last.move_to_end(sender)
        while len(self._last) > self.max_entries:
            self._last.popitem(last=False)

    def reset(self, sender: Hashable, now: float) -> None:
        """Start `sender` at `now` − 16 s, as n2n does for a peer entry it creates."""
        self._store(sender, initial_time_stamp(now))

    def forget(self, sender: Hashable) -> None:
        self._last.pop(sender, None)

    def verify(self, sender: Hashable, stamp: int, now: float, allow_jitter: bool) -> bool:
        """Check `stamp` from `sender` and, if it passes, remember the newer of it and the last."""
        last = self._last.get(sender)
        if not time_stamp_verify(stamp, now, last, allow_jitter):
            return False
        # the higher value is kept, so jitter cannot be used to turn the clock back
        self._store(sender, stamp if last is None or stamp > last else last)
        return True
