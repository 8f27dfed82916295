"""Which trading session a symbol's bars belong to, and the session's
close-based totals (STRATEGY.md section 7): part of every ``SymbolAnalytics``.

``SessionTotals`` owns the current session day (its bounds and RTH window, from
the ``SessionCalendar``), the number of closed RTH bars, the last RTH close and
the previous session's close. Session quantities take only bars inside regular
trading hours (for 24-hour kinds the whole trading day is RTH).

A minute of a new session date starts a new session: the caller rolls every
part (``SymbolAnalytics._new_session``), then ``new_session`` makes the last
RTH close the previous close (when the session had RTH volume and a close) and
resets the counters.
"""
from __future__ import annotations

from datetime import date
from typing import Optional

from .session import SessionCalendar

NAN = float("nan")


class SessionTotals:
    """The session day of the bars and its totals (see the module)."""

    __slots__ = ("calendar", "start", "end", "day", "rth_open", "rth_close", "bars", "close", "prev_close")

    def __init__(self, calendar: SessionCalendar, prev_close: float) -> None:
        self.calendar = calendar
        self.start = 0  # session day bounds [start, end) in ns; empty until the first bar
        self.end = -1
        self.day: Optional[date] = None
        self.rth_open = 0  # RTH [open, close) ns of the day; empty (0, 0) on a closed day
        self.rth_close = 0
        self.bars = 0  # closed RTH bars of the session
        self.close = NAN  # last RTH close of the session
        self.prev_close = float(prev_close)

    def enter(self, minute: int) -> bool:
        """Move to the session day of ``minute`` (outside the current one); True
        when it is a new session date (not the first one seen)."""
        cal = self.calendar
        self.start, self.end = cal.session_bounds(minute)
        day = cal.session_date(minute)
        self.rth_open, self.rth_close = cal.rth_bounds(day) or (0, 0)
        new = self.day is not None and day != self.day
        self.day = day
        return new

    def in_rth(self, minute: int) -> bool:
        return self.rth_open <= minute < self.rth_close

    def on_rth_bar(self, close: float) -> None:
        self.bars += 1
        self.close = close

    def new_session(self, had_volume: bool) -> None:
        if had_volume and self.close == self.close:
            self.prev_close = self.close
        self.bars = 0
        self.close = NAN
