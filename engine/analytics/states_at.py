"""Market state at chosen bars of a bar series, without the rolling profile of
every bar.

Why: a backtest's breakdown by market state needs the state of each trade's
signal bar only (a few thousand of a year's ~98,000 bars), but
``batch.analyze_bars_arrays`` works out the rolling profile's value area after
every bar, which made the breakdown the largest part of a whole ``cockpit
backtest`` command. The numbers here are the batch's (tests/test_states_at.py
checks every bar against it):

- the bars are validated as the batch validates them, and a chosen index
  counts the bars it keeps;
- market state (state.py) can be an imbalance only when the momentum is beyond
  the threshold (a NaN momentum never is), so every other chosen bar is
  BALANCE whatever its profile: momentum is computed over the whole series
  (ATR and momentum arrays, cheap), the profile only where it can matter;
- the rolling profile at bar ``k`` holds the bars of the last
  ``lookback_minutes`` minutes up to ``k``, as the batch's (and SymbolAnalytics')
  window; it is slid from the previous chosen bar, or built afresh when that is
  fewer merges. Profiles are exact integers (profile.py), so a profile built
  afresh and one slid there hold the same volumes (in units that may differ by
  a common factor, which no comparison of the value area rule sees).
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Iterable, Optional

import numpy as np

from ..config import StrategyParams
from ..model import NS_PER_MIN
from .indicators import atr_array, momentum_array
from .profile import BIN_EPS, DenseProfile, resolve_bin_size, volume_units_list
from .state import state_array


def kept_bars(ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
              v: np.ndarray) -> np.ndarray:
    """The mask of bars ``analyze_bars_arrays`` keeps (the same tests, in the same order)."""
    t_all = np.asarray(ts, dtype=np.int64)
    O, H, L, C, V = (np.asarray(x, dtype=np.float64) for x in (o, h, lo, c, v))
    with np.errstate(invalid="ignore"):
        ok = (t_all > 0) & (V >= 0.0) & (V < np.inf)
        for x in (O, H, L, C):
            ok &= (x > 0.0) & (x < np.inf)
        ok &= (L <= np.minimum(O, C)) & (np.maximum(O, C) <= H)
    m_all = t_all - t_all % NS_PER_MIN
    idx = np.flatnonzero(ok)
    if idx.size:
        m = m_all[idx]
        prev = np.empty_like(m)
        prev[0] = -1
        prev[1:] = np.maximum.accumulate(m)[:-1]
        ok[idx[m <= prev]] = False
    return ok


def bar_states_at(ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray,
                  params: StrategyParams, wanted: Iterable[int]) -> tuple[np.ndarray, dict[int, int]]:
    """(the kept bars' minute timestamps, {k: state code} for each wanted ``k``),
    ``k`` counting the kept bars: the ``ts`` and ``state`` columns of
    ``analyze_bars_arrays`` for plain bars (no volume at price), at those bars."""
    ok = kept_bars(ts, o, h, lo, c, v)
    t = np.asarray(ts, dtype=np.int64)[ok]
    minute = t - t % NS_PER_MIN
    if not minute.size:
        return minute, {}
    O = np.asarray(o, dtype=np.float64)[ok]
    H = np.asarray(h, dtype=np.float64)[ok]
    L = np.asarray(lo, dtype=np.float64)[ok]
    C = np.asarray(c, dtype=np.float64)[ok]
    V = np.asarray(v, dtype=np.float64)[ok]
    n = minute.size
    want = sorted({int(k) for k in wanted if 0 <= int(k) < n})
    out = dict.fromkeys(want, 0)
    if not want:
        return minute, out
    mom = momentum_array(C, atr_array(H, L, C, params.atr_period), params.momentum_bars)
    thr = params.momentum_threshold
    w = np.asarray(want, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        may = (mom[w] > thr) | (mom[w] < -thr)  # else BALANCE whatever the profile (see the module)
    todo = w[may].tolist()
    if not todo:
        return minute, out
    poc, vah, val = _rolling_value_areas(minute, L, H, V, resolve_bin_size(params, float(O[0])), params, todo)
    k = np.asarray(todo, dtype=np.int64)
    codes, _ = state_array(C[k], poc, vah, val, mom[k], params)
    out.update(zip(todo, codes.tolist()))
    return minute, out


def _rolling_value_areas(minute: np.ndarray, L: np.ndarray, H: np.ndarray, V: np.ndarray, bin_size: float,
                         params: StrategyParams, todo: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """POC, VAH, VAL of the rolling profile after each bar of ``todo`` (sorted)."""
    i0 = np.floor(L / bin_size + BIN_EPS).astype(np.int64).tolist()
    i1 = np.floor(H / bin_size + BIN_EPS).astype(np.int64).tolist()
    units = volume_units_list(V)
    mins = minute.tolist()
    span = params.lookback_minutes * NS_PER_MIN
    roll = DenseProfile(bin_size)

    def put(k: int, sign: int) -> None:
        u = units[k]
        if u > 0:  # (a bar without volume adds nothing, as in the batch)
            roll.add_spread(i0[k], i1[k], u if sign > 0 else -u)

    nan = float("nan")
    poc, vah, val = [nan] * len(todo), [nan] * len(todo), [nan] * len(todo)
    a, b = 0, -1  # the profile holds bars a..b
    for j, k in enumerate(todo):
        first = bisect_right(mins, mins[k] - span)  # the window: minutes after m_k - span, up to k
        if first > b or (k - b) + (first - a) > k - first + 1:
            roll.clear()
            for x in range(first, k + 1):
                put(x, 1)
        else:
            for x in range(b + 1, k + 1):
                put(x, 1)
            for x in range(a, first):
                put(x, -1)
        a, b = first, k
        st: Optional[tuple] = roll.value_area(params)
        if st is not None:
            poc[j], vah[j], val[j] = st
    return np.array(poc), np.array(vah), np.array(val)
