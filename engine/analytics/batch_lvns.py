"""The LVNs of many volume histograms at once: ``profile.find_lvns`` (with the
smoothing and thresholds of ``profile._lvns_only``) over the rows of a 2-D
array, for the LVN alerts over arrays (batch_alerts.py), which need the
developing session profile's LVNs after every bar.

Exact, like the profiles: a row holds integer volumes in any unit common to
the row (every rule is a comparison of integers or of exact rationals, so
scaling a row by a positive integer changes no answer), ``int64`` when the
caller has checked the numbers fit (``fits_int64``), else Python integers
(``dtype=object``, slower, the same code).

How a row is read, as ``_lvns_only`` reads a histogram: trimmed to its first
and last bin holding volume; total, the largest bin and the bins holding
volume; the centred moving sums of ``smooth_bins`` bins (``smooth_sums``);
then the LVN rule of ``find_lvns``: a strict local minimum (a flat bottom is
one, at its middle bin) strictly inside the range, at or below
``lvn_ratio`` x the mean of the bins holding volume, whose prominence (the
lower of the highest bins on either side up to the next deeper bin) is at
least ``lvn_prominence`` x the largest bin. The smoothed rows get a sentinel
of -1 beyond the trimmed range, so the walks and the run ends stop there as
they stop at the ends of the list.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..config import StrategyParams
from .profile import exact_ratio

_LIMIT = 2**62  # what int64 arithmetic here may reach


@lru_cache(maxsize=4096)
def _smoothing(n: int, width: int) -> int:
    """``w`` of ``smooth_sums`` for a histogram of ``n`` bins: the least common
    multiple of its window sizes."""
    if width <= 1:
        return 1
    below = (width - 1) // 2
    above = width - 1 - below
    return math.lcm(*{min(n, i + above + 1) - max(0, i - below) for i in range(n)})


def fits_int64(max_total: int, params: StrategyParams) -> bool:
    """Whether rows whose totals reach ``max_total`` can be worked out in int64:
    a smoothed sum is at most total x w (w divides the lcm of 1..smooth_bins) and
    the thresholds multiply it by ``lvn_ratio``'s or ``lvn_prominence``'s numerator."""
    w = math.lcm(*range(1, max(1, params.smooth_bins) + 1))
    rn, _ = exact_ratio(params.lvn_ratio)
    pn, _ = exact_ratio(params.lvn_prominence)
    return max_total * w * max(rn, pn, 1) < _LIMIT


def _smoothed(H: np.ndarray, f: np.ndarray, last: np.ndarray, n: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, w): the smoothed sums of each row within its range ``f..last``, padded with
    one column either side, -1 just beyond the range (beyond that, 0 or -1: no bin
    out there can pass for a local minimum, and the walks stop at the -1), and each
    row's ``w``."""
    R, W = H.shape
    S = np.empty((R, W + 2), dtype=H.dtype)
    S[:, 0] = S[:, -1] = -1
    mid = S[:, 1:-1]
    has = np.flatnonzero(n > 0)
    if width <= 1:
        mid[...] = H
        w = np.ones(R, dtype=np.int64)
    elif width == 3:  # the default: the window sums of the interior in three passes, the two ends fixed
        mid[...] = H
        mid[:, 1:] += H[:, :-1]
        mid[:, :-1] += H[:, 1:]
        mid *= 2
        w = np.full(R, 6, dtype=np.int64)
        r = np.flatnonzero(n >= 2)
        fr, lr = f[r], last[r]
        S[r, fr + 1] = (H[r, fr] + H[r, fr + 1]) * 3  # the end windows hold two bins
        S[r, lr + 1] = (H[r, lr - 1] + H[r, lr]) * 3
        if n.size and n.min() < 3:
            w[n < 3] = [_smoothing(int(k), width) for k in n[n < 3].tolist()]
    else:
        below = (width - 1) // 2
        above = width - 1 - below
        w = np.array([_smoothing(int(k), width) for k in n.tolist()], dtype=np.int64)
        cols = np.arange(W)
        P = np.zeros((R, W + 1), dtype=H.dtype)
        np.cumsum(H, axis=1, out=P[:, 1:])
        a = np.clip(np.maximum(f[:, None], cols - below), 0, W)
        b = np.clip(np.minimum(last[:, None] + 1, cols + above + 1), 0, W)
        cnt = np.maximum(b - a, 1)
        scale = w[:, None] // cnt
        sums = (np.take_along_axis(P, b, axis=1) - np.take_along_axis(P, a, axis=1)) * (
            scale.astype(object) if H.dtype == object else scale)
        mid[...] = np.where((cols >= f[:, None]) & (cols <= last[:, None]), sums, -1)  # partial windows outside
    S[has, f[has]] = -1  # the fences: just beyond either end of the range
    S[has, last[has] + 2] = -1
    return S, w


def row_lvns(H: np.ndarray, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every LVN of every row of ``H`` (rows x bins, volumes >= 0
    in whole units of the row), in row order then column order."""
    R, W = H.shape
    if R == 0 or W < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    obj = H.dtype == object
    pos = H > 0
    has = pos.any(axis=1)
    f = np.argmax(pos, axis=1)
    last = W - 1 - np.argmax(pos[:, ::-1], axis=1)
    n = np.where(has, last - f + 1, 0)
    total = H.sum(axis=1)
    filled = np.count_nonzero(pos, axis=1)
    poc = H.max(axis=1)
    S, w = _smoothed(H, f, last, n, params.smooth_bins)
    rn, rd = exact_ratio(params.lvn_ratio)
    pn, pd = exact_ratio(params.lvn_prominence)
    if obj:
        wo = w.astype(object)
        cap = (rn * total * wo) // (rd * np.maximum(filled, 1).astype(object))
        prom = -((-pn * poc * wo) // pd)
    else:
        cap = (rn * total * w) // (rd * np.maximum(filled, 1))
        prom = -((-pn * poc * w) // pd)
    cap = np.where(n >= 3, cap, -1)  # fewer than 3 bins: no LVN
    mid = S[:, 1:-1]
    cand = mid <= cap[:, None]
    cand &= S[:, :-2] > mid
    cand &= S[:, 2:] >= mid
    rows, cols = np.nonzero(cand)
    Wp = W + 2
    flat = S.ravel()
    a = rows * Wp + cols + 1  # flat position of the run's first bin
    v = flat[a]
    inside = v >= 0  # (a fence is no bin)
    rows, a, v = rows[inside], a[inside], v[inside]
    if rows.size == 0:
        return rows, a
    b = a.copy()  # a flat bottom: follow the run of equal bins
    run = np.flatnonzero(flat[b + 1] == v)
    while run.size:
        b[run] += 1
        run = run[flat[b[run] + 1] == v[run]]
    keep = flat[b + 1] > v
    rows, a, b, v = rows[keep], a[keep], b[keep], v[keep]
    need = v + prom[rows]
    ok = _reaches(flat, a - 1, -1, v, need) & _reaches(flat, b + 1, 1, v, need)
    rows, a, b = rows[ok], a[ok], b[ok]
    return rows, (a + b) // 2 - rows * Wp - 1


def _reaches(flat: np.ndarray, start: np.ndarray, step: int, v: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Walking from ``start`` by ``step`` over bins >= ``v`` (stopping at the first
    lower one, the sentinel included), whether a bin reaches ``need``."""
    out = np.zeros(start.size, dtype=bool)
    idx = np.arange(start.size)
    pos = start.copy()
    while idx.size:
        x = flat[pos]
        hit = x >= need[idx]
        out[idx[hit]] = True
        go = ~hit & (x >= v[idx])
        idx, pos = idx[go], pos[go] + step
    return out
