"""The session calendar over a bar series at once: per bar its session date
(by bar time: the runner's daily equity), the session of the data time after it
(bar end: the Engine's start of day), the minutes to the RTH close at that time
(the exit manager's flat-before-close) and whether it is in RTH (the bars the
setups see). Worked out per session day with the calendar's own bounds, cached
per series and session kind."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional

import numpy as np

from ..analytics.session import SessionCalendar
from ..model import NS_PER_MIN
from .array_support import array_key


@dataclass
class DayColumns:
    """Per bar: its session date's number (by bar time), the session number of the
    data time after it (bar end), minutes to the RTH close at that data time (NaN
    outside RTH) and whether the bar is in RTH (the setups' bars)."""

    day_of_bar: np.ndarray
    day_labels: list[str]
    sess_of_now: np.ndarray
    mins_to_close: np.ndarray
    in_rth: np.ndarray


def _segments(cal: SessionCalendar, ts: np.ndarray) -> list[tuple[int, int, date, Optional[tuple[int, int]]]]:
    """(first, end, session date, RTH bounds) of each run of ``ts`` in one session day."""
    out = []
    i, n = 0, len(ts)
    while i < n:
        t = int(ts[i])
        _, end = cal.session_bounds(t)
        j = int(np.searchsorted(ts, end, side="left"))
        day = cal.session_date(t)
        out.append((i, max(j, i + 1), day, cal.rth_bounds(day)))
        i = max(j, i + 1)
    return out


_DAYS: dict[tuple, DayColumns] = {}  # per bar series and session kind (a sweep asks per combination)


def day_columns(cal: SessionCalendar, ts: np.ndarray) -> DayColumns:
    key = (array_key(ts), cal.kind)
    got = _DAYS.get(key)
    if got is None:
        if len(_DAYS) > 8:
            _DAYS.clear()
        got = _DAYS[key] = _compute_days(cal, ts)
    return got


def _compute_days(cal: SessionCalendar, ts: np.ndarray) -> DayColumns:
    n = len(ts)
    now = ts + NS_PER_MIN
    day_of_bar = np.zeros(n, dtype=np.int64)
    in_rth = np.zeros(n, dtype=bool)
    labels: list[str] = []
    minute = ts - ts % NS_PER_MIN
    for k, (i, j, day, rth) in enumerate(_segments(cal, minute)):
        day_of_bar[i:j] = k
        labels.append(day.isoformat())
        if rth is not None:
            in_rth[i:j] = (rth[0] <= minute[i:j]) & (minute[i:j] < rth[1])
    sess_of_now = np.zeros(n, dtype=np.int64)
    mtc = np.full(n, np.nan)
    prev_day = None
    k = -1
    for i, j, day, rth in _segments(cal, now):
        if day != prev_day:
            k += 1
            prev_day = day
        sess_of_now[i:j] = k
        if rth is not None:
            seg = now[i:j]
            inside = (rth[0] <= seg) & (seg < rth[1])
            mtc[i:j] = np.where(inside, (rth[1] - seg) / NS_PER_MIN, np.nan)
    return DayColumns(day_of_bar, labels, sess_of_now, mtc, in_rth)
