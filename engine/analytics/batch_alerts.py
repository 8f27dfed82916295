"""LVN alerts over a bar series at once (STRATEGY.md section 6): the alerts
``SymbolAnalytics.on_bar`` raises bar by bar with every analytic on (the live
path's, a backtest with ``needs=None``), worked out over arrays for the array
path. Same alerts, bar for bar (tests/test_batch_alerts.py compares every
alert's bar, source and level with SymbolAnalytics').

What the bar-by-bar path does, and how it is done here:

- the levels (alert_levels.py): after every bar (and at a session's roll) the
  LVNs of the developing session profile, of the previous session's profile and
  of a counting impulse leg are handed to the tracker; a bar's price path is
  checked against the levels handed over before it. Here the developing
  profile after every in-session bar is a row of a cumulative (bar x bin)
  histogram per session, exact integers (every bar's volume in one unit for
  the session: the least common multiple of the bars' spreads), and the LVNs
  of all rows come from ``batch_lvns.row_lvns``; the previous session's are
  those of its last row; the impulse legs (structure.py) are followed per
  session with numpy scans (a breakout after a close inside the balance range,
  the extreme and the end of the leg as running extremes), each new extreme's
  range profile a difference of two cumulative rows;
- the tracker (alerts.py): a level keeps its arm state while it stays in the
  level set; a level new to the set starts disarmed when the tracker's last
  price is within twice its band. A level fires when a bar's path reaches its
  band while armed, and re-arms when the path goes beyond twice the band.
  Levels do not interact, so each level's stay in the set is followed on its
  own: for each (stay, bar) pair, whether the bar's range reaches the band (T)
  and whether it goes beyond twice the band (X). A bar with T only fires when
  armed and leaves the level disarmed, X only arms it, neither changes
  nothing; only bars with both (a bar wide enough to cross the band and leave
  twice the band) are walked point by point, as the tracker walks them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..config import StrategyParams
from .batch_histograms import blocks, session_bars
from .batch_lvns import row_lvns
from .batch_structure import session_legs
from .profile import bin_centre, units_stats

SOURCES = ("session", "previous", "impulse")
_SESSION, _PREVIOUS, _IMPULSE = 0, 1, 2


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


# --------------------------------------------------------------------------- the run


def bar_alerts(cols: dict, vap: Optional[list], params: StrategyParams) -> BarAlerts:
    """The LVN alerts of the bars of ``cols`` (``batch.analyze_bars_arrays`` of the
    series: its bars, sessions, RTH flags, ATR and bin size; no bar rejected) with
    their volume at price ``vap`` (None: none)."""
    if len(cols.get("rejected", ())):
        raise ValueError("bar_alerts works on series without rejected bars")
    O, H, L, C = cols["open"], cols["high"], cols["low"], cols["close"]
    atr, rth = cols["atr"], cols["rth"]
    n = len(C)
    bs = float(cols["bin_size"])
    sb = session_bars(H, L, cols["volume"], cols["session"], vap, bs, params)
    n_sess = sb.starts.size
    rth_rank = np.cumsum(rth) - 1  # each in-session bar's profile row
    prof_rows, prof_bins = [], []  # the LVNs of every profile row (row, bin)
    final_row = np.full(n_sess, -1, dtype=np.int64)  # the profile row each session ends with (with volume)
    balance = np.full((n_sess, 2), np.nan)
    prev_row = np.full(n_sess, -1, dtype=np.int64)  # the previous session's last row (the "previous" LVNs)
    ev_mats, ev_lo = [], []  # the impulse legs' range profiles (one row per event)
    ev_after = np.full(n, -1, dtype=np.int64)  # per bar: the event whose LVNs count after it (-1: none)
    last_final, last_balance = -1, (np.nan, np.nan)
    for blk in blocks(sb, rth):
        rr, cc = row_lvns(blk.cum_rth, params)
        base = int(rth_rank[blk.rth_bars[0]]) if blk.rth_bars.size else 0
        lo_rth = sb.lo[np.searchsorted(sb.starts, blk.rth_bars, side="right") - 1]
        prof_rows.append(rr + base)
        prof_bins.append(cc + lo_rth[rr])
        totals = blk.cum_rth.sum(axis=1) if blk.rth_bars.size else np.zeros(0)
        ends_rth = np.searchsorted(blk.rth_bars, sb.ends[blk.first:blk.last + 1]) - 1
        events = []  # (row in cum_all of the event, of the bar before the leg's range (-1: none), lo)
        for si in range(blk.first, blk.last + 1):
            prev_row[si] = last_final
            balance[si] = last_balance
            s0, s1 = int(sb.starts[si]), int(sb.ends[si])
            if last_final >= 0 and sb.width[si] > 0:
                for leg in session_legs(s0, s1, last_balance[0], last_balance[1], H, L, C, atr, params):
                    first_ev = len(ev_lo) + len(events)
                    events.extend((e - blk.b0, leg.start - 1 - blk.b0 if leg.start > s0 else -1, int(sb.lo[si]))
                                  for e in leg.events)
                    for f, la, e in leg.spans:
                        ev_after[f:la + 1] = first_ev + e
            r = int(ends_rth[si - blk.first])
            if r >= 0 and blk.rth_bars[r] >= s0 and totals[r] > 0:  # the session's profile, as the next one's previous
                row = blk.cum_rth[r]
                st = units_stats(int(sb.lo[si]), [int(x) for x in row.tolist()], 1, bs, params)
                last_final, last_balance = base + r, (st.val, st.vah)
                final_row[si] = last_final
        if events:
            e_at, before, lo = (np.array(x, dtype=np.int64) for x in zip(*events))
            rows = blk.cum_all[e_at]
            if (before >= 0).any():
                rows[before >= 0] -= blk.cum_all[before[before >= 0]]
            ev_mats.append(rows)
            ev_lo.extend(lo.tolist())
    n_rows = int(rth_rank[-1]) + 1 if n else 0
    prof_ptr, prof_bins = _csr(prof_rows, prof_bins, n_rows)
    ev_ptr, ev_bins = _event_lvns(ev_mats, np.array(ev_lo, dtype=np.int64), params)
    # the level sets: per check (bar) the levels handed over before it
    sess = np.repeat(np.arange(n_sess), sb.ends - sb.starts)
    starts = np.zeros(n, dtype=bool)
    starts[sb.starts] = True
    k = np.arange(n)
    last_rth = np.maximum.accumulate(np.where(rth, k, -1))
    row_after = np.where(last_rth >= sb.starts[sess], rth_rank[np.maximum(last_rth, 0)], -1)  # profile after bar k
    within = np.flatnonzero(~starts)  # checks after a bar of the same session
    K1, B1 = _expand(within, row_after[within - 1], prof_ptr, prof_bins)
    K2, B2 = _expand(k, prev_row[sess], prof_ptr, prof_bins)
    K3, B3 = _expand(within, ev_after[within - 1], ev_ptr, ev_bins)
    K = np.concatenate((K1, K2, K3))
    SRC = np.repeat(np.array([_SESSION, _PREVIOUS, _IMPULSE], dtype=np.int64), [K1.size, K2.size, K3.size])
    BIN = np.concatenate((B1, B2, B3))
    return _fire(O, H, L, C, atr, K, SRC, BIN, bs, params)


def _csr(rows: list, vals: list, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0, dtype=np.int64)
    return np.searchsorted(r, np.arange(n_rows + 1)), v


def _event_lvns(mats: list, lo: np.ndarray, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """The LVN bins of each impulse event's range profile, as (pointers, bins)."""
    if not mats:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    width = max(m.shape[1] for m in mats)
    obj = any(m.dtype == object for m in mats)
    H = np.zeros((sum(m.shape[0] for m in mats), width), dtype=object if obj else np.int64)
    r = 0
    for m in mats:
        H[r:r + m.shape[0], :m.shape[1]] = m
        r += m.shape[0]
    rr, cc = row_lvns(H, params)
    return np.searchsorted(rr, np.arange(r + 1)), cc + lo[rr]


def _expand(ks: np.ndarray, rows: np.ndarray, ptr: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(check, value) for each check ``ks[i]`` and each value of CSR row ``rows[i]`` (-1: none)."""
    ok = rows >= 0
    ks, rows = ks[ok], rows[ok]
    cnt = ptr[rows + 1] - ptr[rows]
    total = int(cnt.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first = np.repeat(ptr[rows] - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)
    return np.repeat(ks, cnt), vals[first]


def _fire(O, Hh, L, C, atr, K, SRC, BIN, bs, params) -> BarAlerts:
    """The tracker over the level sets: (check bar, source, bin) of each level handed over before a bar."""
    n = len(C)
    empty = BarAlerts(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if K.size == 0:
        return empty
    order = np.lexsort((K, BIN, SRC))
    K, SRC, BIN = K[order], SRC[order], BIN[order]
    m = K.size
    new = np.ones(m, dtype=bool)
    new[1:] = (SRC[1:] != SRC[:-1]) | (BIN[1:] != BIN[:-1]) | (K[1:] != K[:-1] + 1)
    inst_start = np.maximum.accumulate(np.where(new, np.arange(m), 0))
    # the tracker ran on a bar when it had levels; its last price is that bar's close
    ran = np.zeros(n, dtype=bool)
    ran[K] = True
    last_run = np.maximum.accumulate(np.where(ran, np.arange(n), -1))
    ubins, binv = np.unique(BIN, return_inverse=True)
    P = np.array([bin_centre(int(b), bs) for b in ubins.tolist()])[binv]
    k_pct = params.lvn_alert_pct / 100.0
    atr_mode = params.lvn_alert_atr > 0

    def bands(p: np.ndarray, at_atr: np.ndarray) -> tuple:
        """(fire low, fire high, re-arm low, re-arm high) of levels at ``p`` (LvnAlertTracker._build_thresholds)."""
        fl = p / (1 + k_pct)
        fh = p / (1 - k_pct) if k_pct < 1 else np.full(p.size, np.inf)
        rl = p / (1 + 2 * k_pct)
        rh = p / (1 - 2 * k_pct) if 2 * k_pct < 1 else np.full(p.size, np.inf)
        if atr_mode:
            with np.errstate(invalid="ignore"):
                known = (at_atr > 0) & ~np.isinf(at_atr)
            b = params.lvn_alert_atr * np.where(known, at_atr, 0.0)
            fl, fh = np.where(known, p - b, fl), np.where(known, p + b, fh)
            rl, rh = np.where(known, p - 2 * b, rl), np.where(known, p + 2 * b, rh)
        return fl, fh, rl, rh

    atr_before = np.r_[np.nan, atr[:-1]]  # the ATR a bar's check is made with (after the bar before)
    fl, fh, rl, rh = bands(P, atr_before[K])
    hk, lk = Hh[K], L[K]
    T = (hk >= fl) & (lk <= fh)
    X = (lk < rl) | (hk > rh)
    # a level new to the set starts disarmed when the tracker's last price is within twice its band
    first = np.flatnonzero(new)
    prev_run = np.where(K[first] > 0, last_run[np.maximum(K[first] - 1, 0)], -1)
    armed0 = np.ones(m, dtype=bool)
    seen = prev_run >= 0
    if seen.any():
        j = prev_run[seen]
        at = first[seen]
        px = C[j]
        _, _, irl, irh = bands(P[at], atr_before[j])
        armed0[at] = ~((irl <= px) & (px <= irh))
    # each pair's arm state coming in: from the last pair of its stay that changed it
    lab = T | X
    idx = np.arange(m)
    last_lab = np.maximum.accumulate(np.where(lab, idx, -1))
    prev_lab = np.r_[-1, last_lab[:-1]]
    prev_lab = np.where(prev_lab >= inst_start, prev_lab, -1)
    armed_out = np.where(X, True, False)  # X only: armed; T only: disarmed (TX: walked below)
    fires = np.zeros(m, dtype=np.int64)
    both = np.flatnonzero(T & X)
    init = armed0[inst_start]
    if both.size:
        ol, hl, ll, cl = O[K[both]].tolist(), hk[both].tolist(), lk[both].tolist(), C[K[both]].tolist()
        fll, fhl, rll, rhl = fl[both].tolist(), fh[both].tolist(), rl[both].tolist(), rh[both].tolist()
        pl = prev_lab[both].tolist()
        il = init[both].tolist()
        Tl, Xl = T.tolist(), X.tolist()
        out_l = armed_out.tolist()
        for t, i in enumerate(both.tolist()):
            q = pl[t]
            armed = il[t] if q < 0 else (out_l[q] if Tl[q] else True)
            f_, armed = _walk(armed, ol[t], hl[t], ll[t], cl[t], fll[t], fhl[t], rll[t], rhl[t])
            out_l[i] = armed
            fires[i] = f_
        armed_out = np.array(out_l, dtype=bool)
    t_only = np.flatnonzero(T & ~X)
    q = prev_lab[t_only]
    armed_in = np.where(q < 0, init[t_only], armed_out[np.maximum(q, 0)])
    fires[t_only] = armed_in
    hit = np.flatnonzero(fires)
    if hit.size == 0:
        return empty
    rep = fires[hit]
    bar = np.repeat(K[hit], rep)
    src = np.repeat(SRC[hit], rep)
    price = np.repeat(P[hit], rep)
    o = np.lexsort((src, bar))
    return BarAlerts(bar[o], src[o], price[o])


def _walk(armed: bool, o: float, h: float, lo: float, c: float, fl: float, fh: float, rl: float,
          rh: float) -> tuple[int, bool]:
    """LvnAlertTracker.on_bar for one level: the open checked (``_check``), then the
    legs open -> nearer extreme -> other extreme -> close (``_leg``). (fires, armed after)."""
    fires = 0
    if armed:
        if fl <= o <= fh:
            fires, armed = 1, False
    elif o < rl or o > rh:
        armed = True
    prev = o
    for p in ((lo, h, c) if c >= o else (h, lo, c)):
        if p != prev:
            a, b = (prev, p) if prev < p else (p, prev)
            if armed and b >= fl and a <= fh:
                armed = False
                fires += 1
            if not armed and (p < rl or p > rh):
                armed = True
            prev = p
    return fires, armed
