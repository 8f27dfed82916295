"""The rolling profile's POC, VAH and VAL after every bar of a series at once:
``batch._rolling_stats`` for bars (each bar's volume spread over its range, or
its own volume at price), without a Python loop per bar.

Why: after every bar the batch analytics slide a ``DenseProfile`` over the last
``lookback_minutes`` minutes and work out its value area in Python, ~3.8 us a
bar, about half of the array path's run (and of a sweep's analytics per symbol).

How, with the same numbers (tests/test_batch_rolling.py compares every bar):

- the window after bar ``k`` holds the bars whose minute is after ``minute[k] -
  lookback`` (as the batch's ``head`` moves); bars are taken in blocks, each
  with the bars its windows reach back to, counted in one unit per block (the
  gcd of their volumes in units over the lcm of their spreads, so every share
  is a whole number): a window is the difference of two cumulative rows, the
  exact volumes of the DenseProfile times a common factor, which no rule of
  the value area sees;
- per row, as ``profile._core_numbers``: trimmed to the bins holding volume;
  the POC the highest bin, ties to the bin nearest the middle of the trimmed
  range, then the lower; the value area grown from the POC by the pairs rule
  (the larger of the next two bins above and below, above on a tie, one bin or
  none near an edge) until it holds ``value_area_pct`` % of the total (read as
  its exact ratio), all rows a step at a time;
- prices from the same bin edges and centres (``profile._grid``).

Numbers that would not fit int64 (a block's total in its unit times the
value-area ratio) make the block smaller (fewer bars, fewer spreads to share a
multiple); the windows of a block that does not fit even then are left to the
caller, which slides the profile over them in Python integers as before.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..config import StrategyParams
from ..model import NS_PER_MIN
from .profile import _grid, exact_ratio

MAX_CELLS = 1 << 21  # cells (bars x bins) of one block's cumulative rows
MIN_ROWS = 64  # a block whose numbers do not fit int64 is halved down to this many windows
_LIMIT = 2**62
_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def rolling_value_areas(minutes: np.ndarray, first: np.ndarray, last: np.ndarray, volume: np.ndarray,
                        bin_size: float, params: StrategyParams, vap: Optional[tuple] = None,
                        ) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, list]]:
    """(POC, VAH, VAL, left) per bar of the rolling profile of bars spread over their
    bins ``first..last`` (a bar without volume adds nothing) or, with ``vap`` = (has
    volume at price per bar, then ``batch.vap_pairs``: bar, bin, units), those bars' own
    bins; ``left``: the (first, end) ranges of bars whose numbers need Python
    integers, not worked out (NaN). None when a volume's units do not fit int64 at all."""
    n = minutes.size
    x = np.asarray(volume, dtype=np.float64) * 1e9
    if n and not float(x.max()) < _LIMIT:
        return None
    units = np.rint(x).astype(np.int64)  # volume_units: the nearest unit, half to even
    live = units > 0
    lo_b = np.where(live, first, np.iinfo(np.int64).max)
    hi_b = np.where(live, last, np.iinfo(np.int64).min)
    pairs = _NO_PAIRS
    if vap is not None:
        has, p_bar, p_bin, p_units = vap
        if p_units and not max(p_units) < _LIMIT:
            return None
        live &= ~has
        lo_b[has], hi_b[has] = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        np.minimum.at(lo_b, p_bar, p_bin)
        np.maximum.at(hi_b, p_bar, p_bin)
        pairs = (p_bar, p_bin, np.array(p_units, dtype=np.int64))
    head = np.searchsorted(minutes, minutes - params.lookback_minutes * NS_PER_MIN, side="right")
    out = (np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))
    left: list[tuple[int, int]] = []
    b0, size = 0, n  # size: the windows the next block tries (halved on a failure, doubled after a success)
    while b0 < n:
        s = int(head[b0])
        b1 = _block_end(s, b0, min(n, b0 + size), lo_b, hi_b)
        while not _block(s, b0, b1, head, first, last, units, live, pairs, bin_size, params, out):
            if b1 - b0 <= MIN_ROWS:  # even a few windows need Python integers: left to the caller
                if left and left[-1][1] == b0:
                    b0 = left.pop()[0]
                left.append((b0, b1))
                break
            b1 = b0 + (b1 - b0) // 2  # fewer bars: a smaller common multiple of their spreads
        else:
            size = 2 * (b1 - b0)
            b0 = b1
            continue
        size = MIN_ROWS
        b0 = left[-1][1]
    return (*out, left)


def _block_end(s: int, b0: int, n: int, lo_b: np.ndarray, hi_b: np.ndarray) -> int:
    """The end (at most ``n``) of the block of windows from ``b0`` whose bars (from ``s``) fit MAX_CELLS."""
    stop = min(n, b0 + 8192)
    rmin = np.minimum.accumulate(lo_b[s:stop])
    rmax = np.maximum.accumulate(hi_b[s:stop])
    width = np.where(rmax >= rmin, rmax - rmin + 2, 1)
    cells = width * np.arange(1, stop - s + 1)
    fit = int(np.searchsorted(np.maximum.accumulate(cells), MAX_CELLS, side="right"))  # rows that fit
    return max(b0 + 1, min(stop, s + fit))


def _block(s: int, b0: int, b1: int, head: np.ndarray, first: np.ndarray, last: np.ndarray, units: np.ndarray,
           live: np.ndarray, pairs: tuple, bin_size: float, params: StrategyParams, out: tuple) -> bool:
    """The windows of bars ``b0..b1`` (their bars from ``s``) into ``out``; False when
    their numbers would not fit int64."""
    idx = np.flatnonzero(live[s:b1]) + s
    p_bar, p_bin, p_units = pairs
    pa, pb = np.searchsorted(p_bar, [s, b1])
    if idx.size == 0 and pb == pa:
        return True
    u = units[idx]
    nb = last[idx] - first[idx] + 1
    pu = p_units[pa:pb]
    g = int(np.gcd.reduce(np.concatenate((u, pu))))
    d = math.lcm(*set(nb.tolist()))
    pn, _ = exact_ratio(params.value_area_pct)  # the value area's target is pn x total / (100 x pd)
    total = float((u // g).sum(dtype=np.float64)) + float((pu // g).sum(dtype=np.float64))  # (an int64 sum could wrap)
    if d >= _LIMIT or total * d * max(pn, 2) >= _LIMIT:
        return False
    lo = int(np.concatenate((first[idx], p_bin[pa:pb])).min())
    hi = int(np.concatenate((last[idx], p_bin[pa:pb])).max())
    width = hi - lo + 1
    A = np.zeros((b1 - s, width + 1), dtype=np.int64)
    if idx.size:
        share = (u // g) * (d // nb)
        r = idx - s
        A[r, first[idx] - lo] = share
        A[r, last[idx] - lo + 1] = -share
        np.cumsum(A, axis=1, out=A)
    if pb > pa:  # a bar's own bins (each once)
        A[p_bar[pa:pb] - s, p_bin[pa:pb] - lo] += (pu // g) * d
    np.cumsum(A, axis=0, out=A)
    ks = np.arange(b0, b1)
    H = A[ks - s, :width].copy()
    back = head[ks] - 1 - s
    has_back = back >= 0
    H[has_back] -= A[back[has_back], :width]
    poc, va_lo, va_hi, ok = _value_areas(H, params)
    rows_ok = np.flatnonzero(ok)
    if rows_ok.size:
        g_ = _grid(bin_size)
        o = g_.cover(lo, lo + width)
        edges = np.asarray(g_.edges[o:o + width + 1])
        centres = np.asarray(g_.centres[o:o + width])
        k = ks[rows_ok]
        out[0][k] = centres[poc[rows_ok]]
        out[1][k] = edges[va_hi[rows_ok] + 1]
        out[2][k] = edges[va_lo[rows_ok]]
    return True


def _value_areas(H: np.ndarray, params: StrategyParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(POC column, value area's lowest and highest column, row has volume) of each row
    (``profile.poc_index`` and ``profile.value_area`` over the row's trimmed range)."""
    R, W = H.shape
    pos = H > 0
    ok = pos.any(axis=1)
    f = np.argmax(pos, axis=1)
    la = W - 1 - np.argmax(pos[:, ::-1], axis=1)
    total = H.sum(axis=1)
    top = H.max(axis=1)
    eq = H == top[:, None]
    p = np.argmax(eq, axis=1)
    tie = np.flatnonzero(eq.sum(axis=1) > 1)
    if tie.size:  # the highest bin nearest the middle of the trimmed range, then the lower
        cols = np.arange(W)
        dist = np.abs(2 * (cols - f[tie, None]) - (la[tie] - f[tie])[:, None])
        p[tie] = np.argmin(np.where(eq[tie], dist, 4 * W), axis=1)
    pn, pd = exact_ratio(params.value_area_pct)
    target = -((-pn * total) // (100 * pd))  # the smallest integer at or above pct x total / 100
    Hp = np.zeros((R, W + 4), dtype=np.int64)  # two empty bins either side: pairs read past the ends
    Hp[:, 2:-2] = H
    flat = Hp.ravel()
    base = np.arange(R) * (W + 4) + 2
    lo = p.copy()
    hi = p.copy()
    vol = H[np.arange(R), p]
    act = np.flatnonzero(ok & (vol < target))
    while act.size:
        h_, l_, b_ = hi[act], lo[act], base[act]
        up_n = np.minimum(2, la[act] - h_)
        dn_n = np.minimum(2, l_ - f[act])
        up = flat[b_ + h_ + 1] + np.where(up_n == 2, flat[b_ + h_ + 2], 0)
        dn = flat[b_ + l_ - 1] + np.where(dn_n == 2, flat[b_ + l_ - 2], 0)
        go_up = (up_n > 0) & ((dn_n == 0) | (up >= dn))
        go_dn = ~go_up & (dn_n > 0)
        hi[act] = h_ + np.where(go_up, up_n, 0)
        lo[act] = l_ - np.where(go_dn, dn_n, 0)
        v = vol[act] + np.where(go_up, up, np.where(go_dn, dn, 0))
        vol[act] = v
        act = act[(v < target[act]) & (go_up | go_dn)]
    return p, lo, hi, ok
