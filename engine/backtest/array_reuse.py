"""What the array path reads that is the same for every run over one bar series:
made once and shared by a sweep's combinations of that symbol.

- ``bar_lists``: the Python lists the loop reads bar by bar (open, high, low,
  close, time, session date and session of each bar). The loop indexes lists (a
  list index is several times cheaper than a numpy scalar read), and turning seven
  ~100k-long arrays into lists cost ~18 ms of CPU a run, a quarter of a sweep run;
- ``rth_columns``: the batch analytics columns cut to the in-session bars (the
  bars the setups see), ~20 ms a run for the auction setup's columns.

What these return is shared: nothing may change it.
"""
from __future__ import annotations

import numpy as np

from ..feeds.loaders import BarsArrays
from .array_calendar import DayColumns
from .array_support import series_key

_KEEP = 2
_LISTS: dict[bytes, tuple[DayColumns, tuple[list, ...]]] = {}  # series key -> (its day columns, the lists)
_RTH: list[tuple[dict, np.ndarray, dict]] = []  # (batch columns, in-session bar numbers, the cut columns)


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


def rth_columns(full: dict, rth_idx: np.ndarray, n: int) -> dict:
    """The per-bar columns of ``full`` (batch analytics over ``n`` bars) at ``rth_idx``."""
    for cols, idx, cut in _RTH:
        if cols is full and np.array_equal(idx, rth_idx):
            return cut
    cut = {k: v[rth_idx] for k, v in full.items() if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == n}
    _RTH.append((full, rth_idx, cut))
    del _RTH[:-_KEEP]
    return cut
