"""LVN alerts over a bar series at once (STRATEGY.md section 6): the alerts
``SymbolAnalytics.on_bar`` raises bar by bar with every analytic on (the live
path's, a backtest with ``needs=None``), worked out over arrays for the array
path. Same alerts, bar for bar (tests/test_batch_alerts.py compares every
alert's bar, source and level with SymbolAnalytics').

Why over arrays: the levels include the developing session profile's LVNs,
which may change after every bar, and working them out bar by bar in Python
(~25 us a bar) cost more than the whole array run. The parts:

- batch_histograms.py: every session's profile after each bar as exact integer
  rows (one unit per session), built in blocks of sessions;
- batch_lvns.py: the LVNs of many rows at once, profile.find_lvns' rule;
- batch_structure.py: the impulse legs of a session by numpy scans;
- batch_levels.py: which levels the tracker holds before each bar;
- batch_tracker.py: the tracker's arm rule over every level's stay in the set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..config import StrategyParams
from .batch_levels import SOURCES, level_sets
from .batch_tracker import fired
from .profile import bin_centre


@dataclass
class BarAlerts:
    """The alerts of a bar series: per alert, the bar it fired on, its source
    (index into SOURCES) and the LVN's price; in bar order."""

    bar: np.ndarray
    source: np.ndarray
    lvn_price: np.ndarray

    def __len__(self) -> int:
        return int(self.bar.size)

    def by_source(self) -> dict[str, int]:
        counts = np.bincount(self.source, minlength=len(SOURCES)).tolist()
        return {name: n for name, n in zip(SOURCES, counts) if n}

    def as_tuples(self) -> list[tuple[int, str, float]]:
        return [(b, SOURCES[s], p) for b, s, p in zip(self.bar.tolist(), self.source.tolist(),
                                                       self.lvn_price.tolist())]


def bar_alerts(cols: dict, vap: Optional[list], params: StrategyParams) -> BarAlerts:
    """The LVN alerts of the bars of ``cols`` (``batch.analyze_bars_arrays`` of the
    series: its bars, sessions, RTH flags, ATR and bin size; no bar rejected) with
    their volume at price ``vap`` (None: none)."""
    if len(cols.get("rejected", ())):
        raise ValueError("bar_alerts works on series without rejected bars")
    levels = level_sets(cols, vap, params)
    pair, times = fired(levels, cols, params)
    bar = np.repeat(levels.check[pair], times)
    source = np.repeat(levels.source[pair], times)
    bins = np.repeat(levels.bin[pair], times)
    order = np.lexsort((source, bar))
    bs = float(cols["bin_size"])
    ubins, inv = np.unique(bins[order], return_inverse=True)
    price = np.array([bin_centre(int(b), bs) for b in ubins.tolist()], dtype=np.float64)[inv.ravel()]
    return BarAlerts(bar[order], source[order], price)
