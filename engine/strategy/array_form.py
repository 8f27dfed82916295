"""The array form of a setup: its signals over a whole bar series at once.

A setup that declares ``array_signals`` (a static function of the in-session
bars' columns and its params) can be backtested on the array path
(engine/backtest/arrays.py) instead of bar by bar through the Engine.
``array_columns`` says what the columns are: "bars" (open, high, low, close,
volume of the bars the setup sees) or "analytics" (the columns of
``engine.analytics.batch.analyze_bars_arrays``, computed over every bar as
SymbolAnalytics computes them, then taken at the in-session bars). The
function must give exactly the signals ``on_bar`` gives over the same bars --
same bars, same sides, same entry/stop/target doubles -- which is what
tests/test_array_path.py checks against the Engine; anything a setup cannot
express here it leaves undeclared, and its backtests run on the Engine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


BARS = "bars"
ANALYTICS = "analytics"


@dataclass(frozen=True)
class ArraySignals:
    """Signals over a series of in-session bars: ``index[k]`` is the bar (its
    position in the arrays given) whose close produced signal k; ``side`` is +1
    (buy) or -1 (sell); ``entry``/``stop``/``target`` are the signal's prices."""

    index: np.ndarray  # int64
    side: np.ndarray  # int8, +1 / -1
    entry: np.ndarray
    stop: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def window_sums(x: np.ndarray, period: int) -> np.ndarray:
    """``sum(x[i - period + 1 : i + 1])`` for every full window, added left to
    right from 0 exactly as Python's ``sum`` over a deque does (CPython < 3.12
    adds floats plainly; 3.12 compensates, so there each window is summed by
    ``sum`` itself). A running cumsum differs in the last bits, which flips
    crosses that graze the mean. NaN where the window is not full."""
    import sys

    n = len(x)
    out = np.full(n, np.nan)
    if n < period:
        return out
    if sys.version_info >= (3, 12):
        vals = x.tolist()
        out[period - 1:] = [sum(vals[i - period + 1:i + 1]) for i in range(period - 1, n)]
        return out
    acc = x[: n - period + 1].copy()  # 0 + x[first] is x[first] exactly
    for k in range(1, period):
        acc += x[k: n - period + 1 + k]
    out[period - 1:] = acc
    return out


def episode_starts(side: np.ndarray) -> np.ndarray:
    """``RearmLatch`` over arrays: the bars where a side (+1/-1, 0 = conditions
    failed) fires -- a non-zero side that differs from the previous bar's (a bar
    whose conditions fail re-arms; the same side again does not fire)."""
    prev = np.concatenate(([0], side[:-1]))
    return np.flatnonzero((side != 0) & (side != prev))
