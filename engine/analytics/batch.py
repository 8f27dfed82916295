"""Whole-array analytics: the numbers SymbolAnalytics produces bar by bar, computed
over arrays of trades or bars at once (backfill, ``cockpit analyze``, backtests).

Same rules, same order of floating point operations, so the results equal the
incremental path bar for bar (tests/test_batch_parity.py checks every bar):

- trades are validated like ``SymbolAnalytics.on_trade`` (positive finite price
  and size, positive timestamp, at most 1 s backwards; a late print goes into
  the open bar, i.e. a trade's bar minute is the running maximum of minutes);
- per-bar sums use ``np.bincount`` (sequential, in trade order);
- profiles are exact (profile.py): a bar's volume in a bin, summed in trade
  order as the bar builder sums it, is read as whole units
  (``volume_units_list``); a bar without trades is spread over its range
  (``DenseProfile.add_spread``); the rolling profile adds each bar and removes
  the bars that age out, as SymbolAnalytics does;
- window sums (volume ratio, aggression, BVC) add the lagged arrays oldest first.

Everything inherently sequential (the Wilder recursion, the rolling profile
statistics per bar) loops over bars, never over trades.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..config import StrategyParams
from ..model import NS_PER_MIN, NS_PER_S, ProfileStats
from .aggression import aggression_array
from .batch_rolling import rolling_value_areas
from .flow import bvc_split, classify_arrays, pressure_arrays
from .indicators import atr_array, momentum_array, volume_ratio_array
from .profile import (BIN_EPS, UNITS_PER_VOLUME, DenseProfile, bin_indexes, resolve_bin_size, units_stats,
                      volume_units_list)
from .session import SessionCalendar
from .state import state_array
from .states_at import kept_bars  # the rows kept, shared with the breakdown's states

BACKWARD_TOLERANCE_NS = NS_PER_S
NAN = float("nan")


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def accepted_trades(ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Boolean mask of the trades ``SymbolAnalytics.on_trade`` would accept
    (ignoring the late-print-after-close_until case, which needs a clock)."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    p, s = _f64(price), _f64(size)
    with np.errstate(invalid="ignore"):
        ok = (p > 0.0) & (p < np.inf) & (s > 0.0) & (s < np.inf) & (ts > 0)
    idx = np.flatnonzero(ok)
    if idx.size:
        t = ts[idx]
        prev = np.empty_like(t)
        prev[0] = 0
        prev[1:] = np.maximum.accumulate(t)[:-1]
        prev = np.maximum(prev, 0)
        ok[idx[t < prev - BACKWARD_TOLERANCE_NS]] = False
    return ok


def _bar_groups(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bar id per trade, index of each bar's first trade) for sorted minutes."""
    new = np.empty(minutes.size, dtype=bool)
    new[:1] = True
    new[1:] = minutes[1:] != minutes[:-1]
    starts = np.flatnonzero(new)
    return np.cumsum(new) - 1, starts


def _sessions(minutes: np.ndarray, calendar: SessionCalendar) -> tuple[np.ndarray, np.ndarray]:
    """(session number per bar, in-RTH flag per bar)."""
    n = minutes.size
    sess = np.zeros(n, dtype=np.int64)
    rth = np.zeros(n, dtype=bool)
    start, end, k, bounds = 0, -1, -1, None
    day = None
    for j, m in enumerate(minutes.tolist()):
        if not (start <= m < end):
            start, end = calendar.session_bounds(m)
            d = calendar.session_date(m)
            if d != day:
                k += 1
                day = d
            bounds = calendar.rth_bounds(d)
        sess[j] = k
        rth[j] = bounds is not None and bounds[0] <= m < bounds[1]
    return sess, rth


def _session_cumsum(x: np.ndarray, sess: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    cuts = np.flatnonzero(np.diff(sess)) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, x.size]):
        out[a:b] = np.cumsum(x[a:b])
    return out


def _rolling_stats(minutes: np.ndarray, bin_size: float, params: StrategyParams, add_bar,
                   rows: Optional[tuple[int, int]] = None,
                   out: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """POC/VAH/VAL of the rolling ``lookback_minutes`` profile after every bar
    (or the bars ``rows`` = (first, end), written into ``out``).
    ``add_bar(profile, k, sign)`` adds bar k's volume to the profile (sign 1) or
    removes it (sign -1).

    The rolling histogram is a :class:`DenseProfile` (the one SymbolAnalytics
    keeps), and statistics are over the bins holding volume only, not over the
    whole data's price range."""
    n = minutes.size
    k0, k1 = rows if rows is not None else (0, n)
    poc = [NAN] * (k1 - k0)
    vah = [NAN] * (k1 - k0)
    val = [NAN] * (k1 - k0)
    roll = DenseProfile(bin_size)
    span = params.lookback_minutes * NS_PER_MIN
    mins = minutes.tolist()
    core = roll.value_area
    head = int(np.searchsorted(minutes, mins[k0] - span, side="right")) if k0 < k1 else k0
    for k in range(head, k0):  # the window's bars before the first row (all still within the lookback there)
        add_bar(roll, k, 1)
    for k in range(k0, k1):
        add_bar(roll, k, 1)
        horizon = mins[k] - span
        while mins[head] <= horizon:
            add_bar(roll, head, -1)
            head += 1
        st = core(params)
        if st is not None:
            poc[k - k0], vah[k - k0], val[k - k0] = st
    if out is None:
        return np.array(poc), np.array(vah), np.array(val)
    for column, values in zip(out, (poc, vah, val)):
        column[k0:k1] = values
    return out


def _pair_adder(bar_ptr: np.ndarray, bins: np.ndarray, units: list[int]):
    """``add_bar`` for bars whose volume at price is ``units[bar_ptr[k]:bar_ptr[k+1]]``
    in the bins ``bins[...]`` (absolute bin indexes)."""
    ptr = bar_ptr.tolist()
    idx = bins.tolist()

    def add_bar(roll: DenseProfile, k: int, sign: int) -> None:
        a, b = ptr[k], ptr[k + 1]
        roll.add_units(idx[a:b], units[a:b], sign)

    return add_bar


def _spread_adder(first: np.ndarray, last: np.ndarray, units: list[int], has_volume: np.ndarray):
    """``add_bar`` for bars spread over the bins ``first[k]..last[k]`` (bars without
    volume add nothing)."""
    f, la, live = first.tolist(), last.tolist(), has_volume.tolist()

    def add_bar(roll: DenseProfile, k: int, sign: int) -> None:
        if live[k]:
            roll.add_spread(f[k], la[k], units[k] if sign > 0 else -units[k])

    return add_bar


def vap_pairs(vap: list, bin_size: float) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(bar, bin, units) of each bin of each bar's volume at price (``vap[k]``: (price,
    volume) pairs, summed per bin in their order, as ``profile.vap_bins`` sums them, read
    as whole units), by bar then bin."""
    bar_of, prices, vols = [], [], []
    for k, v in enumerate(vap):
        if v:
            for px, vol in v:
                bar_of.append(k)
                prices.append(px)
                vols.append(vol)
    bi = bin_indexes(np.asarray(prices, dtype=np.float64), bin_size)
    lo = int(bi.min())
    nbins = int(bi.max()) - lo + 1
    key = np.asarray(bar_of, dtype=np.int64) * nbins + (bi - lo)
    uniq, inv = np.unique(key, return_inverse=True)
    pair_vol = np.bincount(inv.ravel(), weights=np.asarray(vols, dtype=np.float64))
    return uniq // nbins, uniq % nbins + lo, volume_units_list(pair_vol)


def _vap_or_spread_adder(vap: list, bin_size: float, spread, pairs_of_bars=None):
    """``add_bar`` for bars with a volume at price (``vap_pairs``), the others spread
    over their range by ``spread``."""
    pair_bar, pair_bin, units = pairs_of_bars or vap_pairs(vap, bin_size)
    bar_ptr = np.searchsorted(pair_bar, np.arange(len(vap) + 1))
    pairs = _pair_adder(bar_ptr, pair_bin, units)
    has = [bool(v) for v in vap]

    def add_bar(roll: DenseProfile, k: int, sign: int) -> None:
        if has[k]:
            pairs(roll, k, sign)
        else:
            spread(roll, k, sign)

    return add_bar


def _finish(out: dict[str, np.ndarray], sess: np.ndarray, rth: np.ndarray, bar_vwap: np.ndarray,
            params: StrategyParams) -> dict[str, np.ndarray]:
    """Indicators, session CVD/VWAP, state and aggression from the bar columns."""
    h, lo, c, v = out["high"], out["low"], out["close"], out["volume"]
    buy, sell = out["buy_volume"], out["sell_volume"]
    delta = buy - sell
    out["delta"] = delta
    out["rth"] = rth
    out["session"] = sess
    out["cvd"] = _session_cumsum(np.where(rth, delta, 0.0), sess)
    vw = np.where(np.isnan(bar_vwap), (h + lo + c) / 3.0, bar_vwap)
    pv = _session_cumsum(np.where(rth, vw * v, 0.0), sess)
    sv = _session_cumsum(np.where(rth, v, 0.0), sess)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["vwap"] = np.where(sv > 0.0, pv / np.where(sv > 0.0, sv, 1.0), np.nan)
    atr = atr_array(h, lo, c, params.atr_period)
    out["atr"] = atr
    mom = momentum_array(c, atr, params.momentum_bars)
    out["momentum"] = mom
    vr = volume_ratio_array(v, params.volume_ratio_bars)
    out["volume_ratio"] = vr
    bp, sp, ratio = pressure_arrays(buy, sell)
    out["buy_pressure"], out["sell_pressure"], out["pressure_ratio"] = bp, sp, ratio
    score, direction, cvd_change = aggression_array(delta, v, vr, buy, sell, params)
    out["aggression"], out["direction"], out["cvd_change"] = score, direction, cvd_change
    state, dist = state_array(c, out["poc"], out["vah"], out["val"], mom, params)
    out["state"], out["distance"] = state, dist
    return out


def analyze_trades_arrays(
    ts_ns: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    side: Optional[np.ndarray] = None,
    bid: Optional[np.ndarray] = None,
    ask: Optional[np.ndarray] = None,
    params: Optional[StrategyParams] = None,
    calendar: Optional[SessionCalendar] = None,
) -> dict[str, np.ndarray]:
    """One row per one-minute bar built from the trades (the last bar closed at
    the end of the data). Columns: ts, open, high, low, close, volume, buy_volume,
    sell_volume, delta, trades, bar_vwap, cvd (session, RTH bars), atr, vwap
    (session), momentum, volume_ratio, poc/vah/val (rolling profile), state
    (0 BALANCE, 1 IMBALANCE_UP, -1 IMBALANCE_DOWN), distance, aggression,
    direction (+1/-1), cvd_change, pressures, rth, session; plus ``rejected``
    (input row numbers skipped as malformed) and ``bin_size`` (0-d)."""
    params = params or StrategyParams()
    calendar = calendar or SessionCalendar()
    ts_all = np.asarray(ts_ns, dtype=np.int64)
    ok = accepted_trades(ts_all, price, size)
    ts = ts_all[ok]
    p = _f64(price)[ok]
    s = _f64(size)[ok]
    cols: dict[str, np.ndarray] = {"rejected": np.flatnonzero(~ok)}
    if p.size == 0:
        return cols
    sd = classify_arrays(
        p,
        None if side is None else np.asarray(side)[ok],
        None if bid is None else _f64(bid)[ok],
        None if ask is None else _f64(ask)[ok],
    )
    bin_size = resolve_bin_size(params, float(p[0]))
    minute = np.maximum.accumulate(ts - ts % NS_PER_MIN)
    bar_id, starts = _bar_groups(minute)
    nb = starts.size
    ends = np.r_[starts[1:], p.size] - 1
    vol = np.bincount(bar_id, weights=s, minlength=nb)
    cols.update(
        ts=minute[starts],
        open=p[starts],
        high=np.maximum.reduceat(p, starts),
        low=np.minimum.reduceat(p, starts),
        close=p[ends],
        volume=vol,
        buy_volume=np.bincount(bar_id, weights=np.where(sd > 0, s, 0.0), minlength=nb),
        sell_volume=np.bincount(bar_id, weights=np.where(sd < 0, s, 0.0), minlength=nb),
        trades=np.bincount(bar_id, minlength=nb),
    )
    bar_vwap = np.bincount(bar_id, weights=p * s, minlength=nb) / vol
    cols["bar_vwap"] = bar_vwap
    # per (bar, bin) volume, summed in trade order
    bi = bin_indexes(p, bin_size)
    lo = int(bi.min())
    nbins = int(bi.max()) - lo + 1
    key = bar_id * nbins + (bi - lo)
    uniq, inv = np.unique(key, return_inverse=True)
    pair_vol = np.bincount(inv.ravel(), weights=s)
    pair_bar = uniq // nbins
    pair_bin = uniq % nbins + lo
    bar_ptr = np.searchsorted(pair_bar, np.arange(nb + 1))
    add_bar = _pair_adder(bar_ptr, pair_bin, volume_units_list(pair_vol))
    poc, vah, val = _rolling_stats(cols["ts"], bin_size, params, add_bar)
    cols["poc"], cols["vah"], cols["val"] = poc, vah, val
    sess, rth = _sessions(cols["ts"], calendar)
    cols["bin_size"] = np.array(bin_size)
    return _finish(cols, sess, rth, bar_vwap, params)


def analyze_bars_arrays(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    params: Optional[StrategyParams] = None,
    calendar: Optional[SessionCalendar] = None,
    buy_volume: Optional[np.ndarray] = None,
    sell_volume: Optional[np.ndarray] = None,
    vap: Optional[list] = None,
    vwap: Optional[np.ndarray] = None,
) -> dict[str, np.ndarray]:
    """The same columns for one-minute bars: buy/sell volume the bar's own when
    both are given (not NaN), else by bulk volume classification; profiles from
    the bar's volume at price when it has one (``vap``: a tuple of (price, volume)
    per bar, or None), else from its volume spread over its range; the bar's own
    VWAP when given. Bars are validated like ``SymbolAnalytics.on_bar``
    (``rejected`` lists the skipped rows)."""
    params = params or StrategyParams()
    calendar = calendar or SessionCalendar()
    t_all = np.asarray(ts, dtype=np.int64)
    O, H, L, C, V = (_f64(x) for x in (o, h, lo, c, v))
    ok = kept_bars(t_all, O, H, L, C, V)
    m_all = t_all - t_all % NS_PER_MIN
    cols: dict[str, np.ndarray] = {"rejected": np.flatnonzero(~ok)}
    if not ok.any():
        return cols
    O, H, L, C, V, minute = O[ok], H[ok], L[ok], C[ok], V[ok], m_all[ok]
    n = minute.size
    bin_size = resolve_bin_size(params, float(O[0]))
    buy, sell = bvc_split(C, V, params.bvc_window)
    if buy_volume is not None and sell_volume is not None:  # the bar's own split, where it has one
        own_b, own_s = _f64(buy_volume)[ok], _f64(sell_volume)[ok]
        own = (own_b == own_b) & (own_s == own_s)
        buy, sell = np.where(own, own_b, buy), np.where(own, own_s, sell)
    cols.update(ts=minute, open=O, high=H, low=L, close=C, volume=V, buy_volume=buy, sell_volume=sell,
                trades=np.zeros(n, dtype=np.int64))
    bar_vwap = _f64(vwap)[ok] if vwap is not None else np.full(n, np.nan)
    cols["bar_vwap"] = bar_vwap
    # each bar's volume spread evenly over the bins of its range (zero-volume bars add nothing)
    i0 = np.floor(L / bin_size + BIN_EPS).astype(np.int64)
    i1 = np.floor(H / bin_size + BIN_EPS).astype(np.int64)
    kept = [vap[k] for k in np.flatnonzero(ok).tolist()] if vap is not None else None
    pairs = vap_pairs(kept, bin_size) if kept is not None and any(kept) else None
    fast = rolling_value_areas(minute, i0, i1, V, bin_size, params,
                               None if pairs is None else (np.array([bool(x) for x in kept]), *pairs))

    def slid_bars():  # what the slide adds and removes: volume at price, else spread over the range
        add_bar = _spread_adder(i0, i1, volume_units_list(V), V > 0.0)
        return add_bar if pairs is None else _vap_or_spread_adder(kept, bin_size, add_bar, pairs)

    if fast is not None:  # the windows at once (batch_rolling.py), the same numbers; the blocks left, slid
        poc, vah, val, left = fast
        add_bar = slid_bars() if left else None
        for rows in left:
            _rolling_stats(minute, bin_size, params, add_bar, rows, (poc, vah, val))
    else:  # volumes beyond int64's units: the profile slid bar by bar
        poc, vah, val = _rolling_stats(minute, bin_size, params, slid_bars())
    cols["poc"], cols["vah"], cols["val"] = poc, vah, val
    sess, rth = _sessions(minute, calendar)
    cols["bin_size"] = np.array(bin_size)
    return _finish(cols, sess, rth, bar_vwap, params)


def session_profile_from_arrays(
    ts_ns: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    params: Optional[StrategyParams] = None,
    calendar: Optional[SessionCalendar] = None,
    session: int = -1,
    bin_size: Optional[float] = None,
) -> Optional[ProfileStats]:
    """The developing-session profile (RTH trades of one session; ``session`` counts
    sessions in the data, -1 = the last) with value area, HVNs and LVNs. Bars'
    histograms are summed bar by bar, as SymbolAnalytics does, so the numbers
    equal its ``session_profile`` after the same trades. ``bin_size`` defaults to
    the params' (auto: from the first accepted price)."""
    params = params or StrategyParams()
    calendar = calendar or SessionCalendar()
    ts_all = np.asarray(ts_ns, dtype=np.int64)
    ok = accepted_trades(ts_all, price, size)
    ts, p, s = ts_all[ok], _f64(price)[ok], _f64(size)[ok]
    if p.size == 0:
        return None
    if bin_size is None:
        bin_size = resolve_bin_size(params, float(p[0]))
    minute = np.maximum.accumulate(ts - ts % NS_PER_MIN)
    bar_id, starts = _bar_groups(minute)
    sess, rth = _sessions(minute[starts], calendar)
    want = sess[-1] if session < 0 else session
    keep_bar = (sess == want) & rth
    keep = keep_bar[bar_id]
    if not keep.any():
        return None
    bi = bin_indexes(p[keep], bin_size)
    lo = int(bi.min())
    nbins = int(bi.max()) - lo + 1
    key = bar_id[keep] * nbins + (bi - lo)
    uniq, inv = np.unique(key, return_inverse=True)
    pair_vol = np.bincount(inv.ravel(), weights=s[keep])  # per bar and bin, in trade order
    hist = [0] * nbins
    for i, u in zip((uniq % nbins).tolist(), volume_units_list(pair_vol)):  # exact: whole units
        hist[i] += u
    return units_stats(lo, hist, UNITS_PER_VOLUME, float(bin_size), params)
