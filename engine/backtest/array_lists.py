"""The Python lists the array path's loop reads bar by bar (open, high, low,
close, time, session date and session of each bar), made once per bar series.

Why: the loop indexes lists (a list index is several times cheaper than a numpy
scalar read), and turning seven ~100k-long arrays into lists cost ~18 ms of CPU
a run, a quarter of a sweep run's time: a sweep's combinations of one symbol
all read the same lists. The lists are shared: nothing may change them.
"""
from __future__ import annotations

from ..feeds.loaders import BarsArrays
from .array_calendar import DayColumns
from .array_support import series_key

_LISTS: dict[bytes, tuple[DayColumns, tuple[list, ...]]] = {}  # series key -> (its day columns, the lists)
_KEEP = 2


def bar_lists(s: BarsArrays, days: DayColumns) -> tuple[list, ...]:
    """(open, high, low, close, ts_ns, day_of_bar, sess_of_now) of ``s`` as lists."""
    key = series_key(s)
    got = _LISTS.get(key)
    if got is not None and got[0] is days:
        return got[1]
    lists = (s.open.tolist(), s.high.tolist(), s.low.tolist(), s.close.tolist(), s.ts_ns.tolist(),
             days.day_of_bar.tolist(), days.sess_of_now.tolist())
    _LISTS.pop(key, None)
    while len(_LISTS) >= _KEEP:
        _LISTS.pop(next(iter(_LISTS)))
    _LISTS[key] = (days, lists)
    return lists
