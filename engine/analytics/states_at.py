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

import math
from typing import Iterable, Optional

import numpy as np

from ..config import StrategyParams
from ..model import NS_PER_MIN
from .indicators import atr_array, momentum_array
from .profile import (BIN_EPS, UNITS_PER_VOLUME, DenseProfile, _core_numbers, resolve_bin_size,
                      volume_units_list)
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
    """POC, VAH, VAL of the rolling profile after each bar of ``todo`` (sorted):
    every window's histogram at once over int64 arrays when its exact volumes fit
    (see ``_window_histograms``), else slid bar by bar as a DenseProfile."""
    i0 = np.floor(L / bin_size + BIN_EPS).astype(np.int64)
    i1 = np.floor(H / bin_size + BIN_EPS).astype(np.int64)
    units = _units(V)
    first = np.searchsorted(minute, minute[todo] - params.lookback_minutes * NS_PER_MIN, side="right")
    nan = float("nan")
    poc, vah, val = [nan] * len(todo), [nan] * len(todo), [nan] * len(todo)
    rows = _window_histograms(first, np.asarray(todo, dtype=np.int64), i0, i1, units)
    if rows is None:
        _slid_value_areas(first.tolist(), todo, i0.tolist(), i1.tolist(), units.tolist(), bin_size, params, poc, vah,
                          val)
    else:
        for j, (lo, hist, total) in enumerate(rows):
            if hist:
                poc[j], vah[j], val[j] = _core_numbers(lo, hist, bin_size, params, total, False)[3:6]
    return np.array(poc), np.array(vah), np.array(val)


_INT_ROOM = 2**62  # int64 sums stay below this


def _units(V: np.ndarray) -> np.ndarray:
    """``volume_units_list(V)`` as int64 (rint rounds half to even, as ``round``
    does, and is exact here: a double this large is a whole number), or as
    Python integers (dtype object) when a volume does not fit."""
    x = V * float(UNITS_PER_VOLUME)
    if x.size and not float(x.max()) < _INT_ROOM:
        return np.array(volume_units_list(V), dtype=object)
    return np.rint(x).astype(np.int64)
_MAX_CELLS = 4_000_000  # windows x bins held at once
_LCM_SAFE_WIDTH = 42  # bars at most this many bins wide: any lcm of their widths divides lcm(1..42) < 2**62


def _window_histograms(first: np.ndarray, todo: np.ndarray, i0: np.ndarray, i1: np.ndarray, units: np.ndarray):
    """Each window's histogram (bars ``first[r]..todo[r]``, each bar's volume spread
    evenly over its bins ``i0..i1``) as (lowest bin, whole-number bins, their total):
    the volumes of a DenseProfile that merged those bars, times a common factor
    (the bars' units over their gcd, times the least common multiple of the
    window's bar widths, so each share is whole). None when a window's numbers
    would not fit in int64 or the windows span too many bins: the caller slides
    a DenseProfile instead (Python integers)."""
    if units.dtype == object:  # a volume beyond int64's units
        return None
    live = np.flatnonzero(units > 0)
    if not live.size:
        return [(0, [], 0)] * len(todo)
    u_live = units[live]
    u_live = u_live // np.gcd.reduce(u_live)
    # the (window, bar) pairs: the bars with volume from first[r] to todo[r]
    a = np.searchsorted(live, first)
    b = np.searchsorted(live, todo, side="right")
    counts = b - a
    rows = np.repeat(np.arange(len(todo)), counts)
    pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(a, counts)
    bar = live[pos]
    lo_b, hi_b, u = i0[bar], i1[bar], u_live[pos]
    width = hi_b - lo_b + 1
    out: list = [(0, [], 0)] * len(todo)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    if not has.any():
        return out
    r_idx = np.flatnonzero(has)
    base = np.minimum.reduceat(lo_b, starts[r_idx])
    top = np.maximum.reduceat(hi_b, starts[r_idx])
    span = int((top - base).max()) + 2
    if len(r_idx) * span > _MAX_CELLS:
        return None
    # each window's factor: the lcm of its bar widths (Python integers: exact), and
    # the window's whole volume in those units must fit (checked in floating point)
    factor = np.zeros(len(todo), dtype=np.int64)
    if int(width.max()) <= _LCM_SAFE_WIDTH:  # every window's lcm divides lcm(1..42) < 2**62: exact in int64
        factor[r_idx] = np.lcm.reduceat(width, starts[r_idx])
    else:
        widths = width.tolist()
        ends = (starts + counts).tolist()
        for r, s0 in zip(r_idx.tolist(), starts[r_idx].tolist()):
            f = math.lcm(*set(widths[s0:ends[r]]))
            if f >= _INT_ROOM:
                return None
            factor[r] = f
    sums = np.add.reduceat(u.astype(np.float64), starts[r_idx])
    if not (factor[r_idx].astype(np.float64) * sums < 2.0**61).all():
        return None
    share = u * (factor[rows] // width)
    row_of = np.full(len(todo), -1, dtype=np.int64)
    row_of[r_idx] = np.arange(len(r_idx))
    rr = row_of[rows]
    base_of = base[rr]
    diff = np.zeros(len(r_idx) * span, dtype=np.int64)  # (flat: numpy's quick path for add.at)
    np.add.at(diff, rr * span + (lo_b - base_of), share)
    np.add.at(diff, rr * span + (hi_b - base_of + 1), -share)
    hist = np.cumsum(diff.reshape(len(r_idx), span), axis=1)
    totals = (factor[r_idx] * np.add.reduceat(u, starts[r_idx])).tolist()
    lengths = (top - base + 1).tolist()
    bases = base.tolist()
    for k, r in enumerate(r_idx.tolist()):
        out[r] = (bases[k], hist[k, :lengths[k]].tolist(), totals[k])
    return out


def _slid_value_areas(first: list[int], todo: list[int], i0: list[int], i1: list[int], units: list[int],
                      bin_size: float, params: StrategyParams, poc: list, vah: list, val: list) -> None:
    """The rolling profile slid from one chosen bar to the next (or built afresh
    when that is fewer merges), a DenseProfile of Python integers."""
    roll = DenseProfile(bin_size)

    def put(k: int, sign: int) -> None:
        u = units[k]
        if u > 0:  # (a bar without volume adds nothing, as in the batch)
            roll.add_spread(i0[k], i1[k], u if sign > 0 else -u)

    a, b = 0, -1  # the profile holds bars a..b
    for j, k in enumerate(todo):
        f = first[j]
        if f > b or (k - b) + (f - a) > k - f + 1:
            roll.clear()
            for x in range(f, k + 1):
                put(x, 1)
        else:
            for x in range(b + 1, k + 1):
                put(x, 1)
            for x in range(a, f):
                put(x, -1)
        a, b = f, k
        st: Optional[tuple] = roll.value_area(params)
        if st is not None:
            poc[j], vah[j], val[j] = st
