"""Every session's volume profile after each of its bars as exact integer rows:
the histograms ``SymbolAnalytics`` merges bar by bar (its developing session
profile, a ``DenseProfile``, and an impulse leg's range profile, a
``VolumeProfile``), for the whole series at once (batch_alerts.py).

A bar's histogram is its volume at price when it has one (per bin the sum of
its prices' volumes, in their order, read as whole units: ``vap_bins``,
``volume_units``), else its volume in units spread evenly over the bins of its
range (``range_bin_dict``): ``units / n`` in each of ``n`` bins. The profiles
count those shares exactly in units of ``1 / per``; here every bar of a session
is counted in one unit, ``g / D`` (``g`` the greatest common divisor of the
session's volumes in units, ``D`` the least common multiple of its spreads), so
a bar adds integers. Every rule of the profiles compares integers or exact
ratios, so the unit changes no answer.

The numbers fit int64 for most data (a session's total in that unit, times the
smoothing and threshold factors, below 2**62: ``batch_lvns.fits_int64``); a
session that does not is worked out in Python integers (``dtype=object``).
Rows are built in blocks of consecutive sessions (a bounded number of cells),
each session's bins from its own lowest bin.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from ..config import StrategyParams
from .batch_lvns import fits_int64
from .profile import BIN_EPS, vap_bins

MAX_CELLS = 1 << 20  # cells (rows x bins) of one block


@dataclass
class SessionBars:
    """The sessions of a series and every bar's volume as integers of its session's unit."""

    starts: np.ndarray  # first bar of each session
    ends: np.ndarray  # one past its last bar
    lo: np.ndarray  # lowest bin holding volume in the session (0 when none)
    width: np.ndarray  # bins from ``lo`` to the highest (0 when no volume)
    exact_python: np.ndarray  # sessions whose numbers need Python integers
    sp_bar: np.ndarray  # bars spread over their range: bar number,
    sp_first: np.ndarray  # first bin,
    sp_n: np.ndarray  # number of bins,
    sp_share: list  # share per bin (int, in the session's unit)
    vp_bar: np.ndarray  # (bar, bin) volumes of bars with volume at price
    vp_bin: np.ndarray
    vp_units: list


def session_bars(high: np.ndarray, low: np.ndarray, volume: np.ndarray, session: np.ndarray,
                 vap: Optional[list], bin_size: float, params: StrategyParams) -> SessionBars:
    """The sessions (runs of equal ``session`` numbers) of the bars and each bar's
    histogram in its session's unit: the bar's volume at price when it has one
    (``vap``), else its volume spread over the bins of its low..high."""
    n = len(volume)
    cuts = np.flatnonzero(np.diff(session)) + 1
    starts, ends = np.r_[0, cuts].astype(np.int64), np.r_[cuts, n].astype(np.int64)
    n_sess = starts.size
    sess_of = np.repeat(np.arange(n_sess), ends - starts)
    i0 = np.floor(low / bin_size + BIN_EPS).astype(np.int64)
    i1 = np.floor(high / bin_size + BIN_EPS).astype(np.int64)
    i0, i1 = np.minimum(i0, i1), np.maximum(i0, i1)
    units = np.rint(np.asarray(volume, dtype=np.float64) * 1e9)  # volume_units: the nearest unit, half to even
    has_vap = np.zeros(n, dtype=bool)
    vp_bar, vp_bin, vp_u = [], [], []
    if vap is not None:
        for k, v in enumerate(vap):
            if v:
                has_vap[k] = True
                for b, x in vap_bins(v, bin_size).items():
                    u = round(x * 1e9)
                    if u:
                        vp_bar.append(k)
                        vp_bin.append(b)
                        vp_u.append(u)
    spread = ~has_vap & (units > 0)
    sp_bar = np.flatnonzero(spread)
    sp_units = [int(u) for u in units[sp_bar].tolist()]
    vp_bar_a = np.array(vp_bar, dtype=np.int64)
    vp_bin_a = np.array(vp_bin, dtype=np.int64)
    # per session: the common divisor of its volumes, the common multiple of its spreads, its bins
    g = [0] * n_sess
    d = [1] * n_sess
    lo = np.zeros(n_sess, dtype=np.int64)
    hi = np.full(n_sess, -1, dtype=np.int64)
    sp_sess = sess_of[sp_bar]
    sp_first, sp_n = i0[sp_bar], i1[sp_bar] - i0[sp_bar] + 1
    for s, a, b in _groups(sp_sess, n_sess):
        seg_u = sp_units[a:b]
        g[s] = math.gcd(*seg_u)
        d[s] = math.lcm(*set(sp_n[a:b].tolist()))
        lo[s], hi[s] = int(sp_first[a:b].min()), int((sp_first[a:b] + sp_n[a:b] - 1).max())
    vp_sess = sess_of[vp_bar_a] if vp_bar else np.zeros(0, dtype=np.int64)
    for s, a, b in _groups(vp_sess, n_sess):
        g[s] = math.gcd(g[s], *vp_u[a:b])
        blo, bhi = int(vp_bin_a[a:b].min()), int(vp_bin_a[a:b].max())
        lo[s], hi[s] = (blo, bhi) if hi[s] < 0 else (min(lo[s], blo), max(hi[s], bhi))
    sp_share = [u // g[s] * (d[s] // k) for u, s, k in zip(sp_units, sp_sess.tolist(), sp_n.tolist())]
    vp_units = [u // g[s] * d[s] for u, s in zip(vp_u, vp_sess.tolist())]
    totals = [0] * n_sess
    for s, x, k in zip(sp_sess.tolist(), sp_share, sp_n.tolist()):
        totals[s] += x * k
    for s, x in zip(vp_sess.tolist(), vp_units):
        totals[s] += x
    exact_python = np.array([not fits_int64(t, params) for t in totals], dtype=bool)
    width = np.where(hi >= lo, hi - lo + 1, 0)
    return SessionBars(starts, ends, lo, width, exact_python, sp_bar, sp_first, sp_n, sp_share,
                       vp_bar_a, vp_bin_a, vp_units)


def _groups(sess: np.ndarray, n_sess: int) -> Iterator[tuple[int, int, int]]:
    """(session, first, end) of each session's run in ``sess`` (sorted)."""
    if sess.size == 0:
        return
    bounds = np.searchsorted(sess, np.arange(n_sess + 1)).tolist()
    for s in range(n_sess):
        if bounds[s + 1] > bounds[s]:
            yield s, bounds[s], bounds[s + 1]


@dataclass
class Block:
    """Consecutive sessions ``first..last`` (bars ``b0..b1``) as cumulative rows: ``cum_all``
    after each bar of its session, ``cum_rth`` after each in-session bar (the bars
    ``rth_bars``; the same array when every bar is in session), bins from the session's ``lo``."""

    first: int
    last: int
    b0: int
    b1: int
    cum_all: np.ndarray
    cum_rth: np.ndarray
    rth_bars: np.ndarray


def blocks(sb: SessionBars, rth: np.ndarray) -> Iterator[Block]:
    """The series' sessions as blocks of cumulative rows (see the module)."""
    n_sess = sb.starts.size
    s = 0
    while s < n_sess:
        obj = bool(sb.exact_python[s])
        t, width = s, 0
        while t < n_sess and bool(sb.exact_python[t]) == obj:
            w = max(width, int(sb.width[t]))
            if t > s and (int(sb.ends[t]) - int(sb.starts[s])) * (w + 1) > MAX_CELLS:
                break
            width, t = w, t + 1
        yield _block(sb, rth, s, t - 1, max(width, 1), object if obj else np.int64)
        s = t


def _block(sb: SessionBars, rth: np.ndarray, first: int, last: int, width: int, dtype) -> Block:
    b0, b1 = int(sb.starts[first]), int(sb.ends[last])
    A = np.zeros((b1 - b0, width + 1), dtype=dtype)
    n_sess_bars = sb.ends[first:last + 1] - sb.starts[first:last + 1]
    lo_of_row = np.repeat(sb.lo[first:last + 1], n_sess_bars)
    a, b = np.searchsorted(sb.sp_bar, [b0, b1])
    if b > a:
        r = sb.sp_bar[a:b] - b0
        c0 = sb.sp_first[a:b] - lo_of_row[r]
        share = np.array(sb.sp_share[a:b], dtype=dtype)
        A[r, c0] = share
        A[r, c0 + sb.sp_n[a:b]] = -share
        np.cumsum(A, axis=1, out=A)
    A = A[:, :width]
    a, b = np.searchsorted(sb.vp_bar, [b0, b1])
    if b > a:
        r = sb.vp_bar[a:b] - b0
        A[r, sb.vp_bin[a:b] - lo_of_row[r]] += np.array(sb.vp_units[a:b], dtype=dtype)
    in_rth = np.flatnonzero(rth[b0:b1])
    every = in_rth.size == b1 - b0
    A_rth = A if every else A[in_rth]
    bounds = np.r_[sb.starts[first:last + 1], b1] - b0  # the sessions' rows
    rth_bounds = np.searchsorted(in_rth, bounds) if not every else bounds
    for x, bb in ((A, bounds), (A_rth, rth_bounds)) if not every else ((A, bounds),):
        for p, q in zip(bb[:-1].tolist(), bb[1:].tolist()):
            if q > p:
                np.cumsum(x[p:q], axis=0, out=x[p:q])
    return Block(first, last, b0, b1, A, A_rth, in_rth + b0)
