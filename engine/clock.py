"""Where time comes from. Nothing in the engine reads the wall clock directly:
live runs get a WallClock, replays and backtests a DataClock that the engine
advances from the data it is handed, tests a FixedClock. The one use of a
person's time (a SEMI signal's least time to decide) reads a MonotonicClock. That is what makes a replay and a backtest of the
same data produce the same decisions."""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    """Real time, for live trading."""

    def now_ns(self) -> int:
        return time.time_ns()


class MonotonicClock:
    """A person's time: how long a trader has had to decide (SEMI approvals). It
    never jumps with the system clock and has nothing to do with data time."""

    def now_ns(self) -> int:
        return time.monotonic_ns()


class DataClock:
    """Time is the timestamp of the last data seen. It never goes backwards.

    ``ns`` is public so the data engine's per-trade path can advance it with one
    comparison instead of a call (the same rule as ``advance``)."""

    __slots__ = ("ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self.ns = start_ns

    def advance(self, ts_ns: int) -> None:
        if ts_ns > self.ns:
            self.ns = ts_ns

    def now_ns(self) -> int:
        return self.ns


class FixedClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, ts_ns: int) -> None:
        self._now = ts_ns

    def set(self, ts_ns: int) -> None:
        self._now = ts_ns

    def advance_s(self, seconds: float) -> None:
        self._now += int(seconds * 1_000_000_000)

    def now_ns(self) -> int:
        return self._now
