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

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..config import StrategyParams
from .batch_lvns import fits_int64, row_lvns
from .profile import BIN_EPS, bin_centre, units_stats, vap_bins, volume_units_list

SOURCES = ("session", "previous", "impulse")
_SESSION, _PREVIOUS, _IMPULSE = 0, 1, 2
_ROWS_PER_BLOCK = 1 << 20  # cells of one block of histogram rows handed to row_lvns (memory bound)


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


# --------------------------------------------------------------------------- histograms per session


@dataclass
class _Session:
    """One session's bars ``s0..s1`` as exact integer histograms (rows x bins from ``lo``)."""

    s0: int
    s1: int
    lo: int
    rth_rows: np.ndarray  # bar numbers of the session's in-session bars (the profile's rows)
    cum_rth: Optional[np.ndarray]  # the developing profile after each in-session bar
    cum_all: Optional[np.ndarray]  # every bar of the session, cumulated (impulse legs' ranges)


def _bar_bins(lo_p: np.ndarray, hi_p: np.ndarray, bs: float) -> tuple[np.ndarray, np.ndarray]:
    i0 = np.floor(lo_p / bs + BIN_EPS).astype(np.int64)
    i1 = np.floor(hi_p / bs + BIN_EPS).astype(np.int64)
    return np.minimum(i0, i1), np.maximum(i0, i1)


def _session_histograms(s0: int, s1: int, rth: np.ndarray, i0: np.ndarray, i1: np.ndarray, units: list,
                        vap: Optional[list], bs: float, params: StrategyParams) -> Optional[_Session]:
    """The session's per-bar histograms in one integer unit, cumulated: over its
    in-session bars (the developing profile) and over all its bars (the impulse
    legs' history). None when no bar of the session has volume."""
    spreads = []  # (row, first, last, units)
    pairs = []  # (row, bin, units): bars with their own volume at price
    for k in range(s0, s1):
        if vap is not None and vap[k]:
            for b, x in vap_bins(vap[k], bs).items():
                pairs.append((k - s0, b, round(x * 1e9)))
        elif units[k] > 0:
            spreads.append((k - s0, int(i0[k]), int(i1[k]), units[k]))
    if not spreads and not pairs:
        return None
    g = math.gcd(*[u for *_, u in spreads], *[u for *_, u in pairs])
    if g <= 0:
        return None
    d = math.lcm(*{b - a + 1 for _, a, b, _ in spreads}) if spreads else 1
    lo = min([a for _, a, _, _ in spreads] + [b for _, b, _ in pairs])
    hi = max([b for _, _, b, _ in spreads] + [b for _, b, _ in pairs])
    total = sum(u // g * d for *_, u in spreads) + sum(u // g * d for *_, u in pairs)
    dtype = np.int64 if fits_int64(total, params) else object
    m, w = s1 - s0, hi - lo + 1
    per_bar = np.zeros((m, w + 1), dtype=dtype)
    if spreads:
        r, a, b, u = zip(*spreads)
        share = np.array([x // g * (d // (hi_ - lo_ + 1)) for lo_, hi_, x in zip(a, b, u)], dtype=dtype)
        r = np.array(r, dtype=np.int64)
        per_bar[r, np.array(a, dtype=np.int64) - lo] += share
        per_bar[r, np.array(b, dtype=np.int64) - lo + 1] -= share
        per_bar = np.cumsum(per_bar, axis=1)
    per_bar = per_bar[:, :w]
    if pairs:
        r, b, u = zip(*pairs)
        add = np.array([x // g * d for x in u], dtype=dtype)
        np.add.at(per_bar, (np.array(r, dtype=np.int64), np.array(b, dtype=np.int64) - lo), add)
    rth_s = rth[s0:s1]
    rows = np.flatnonzero(rth_s)
    cum_all = np.cumsum(per_bar, axis=0)
    cum_rth = cum_all if rows.size == m else (np.cumsum(per_bar[rows], axis=0) if rows.size else None)
    return _Session(s0, s1, lo, rows + s0, cum_rth, cum_all)


def _lvns_of(blocks: list[np.ndarray], params: StrategyParams) -> list[list[np.ndarray]]:
    """row_lvns of each matrix of ``blocks`` (rows x bins), batched into padded
    blocks of one dtype: per matrix, per row, the LVN columns."""
    out: list[list[np.ndarray]] = [[] for _ in blocks]
    for want in (np.int64, object):
        idx = [i for i, b in enumerate(blocks) if b is not None and b.shape[0] and (b.dtype == object) == (want is object)]
        start = 0
        while start < len(idx):
            width, rows, stop = 0, 0, start
            while stop < len(idx):
                b = blocks[idx[stop]]
                nw = max(width, b.shape[1])
                if stop > start and (rows + b.shape[0]) * nw > _ROWS_PER_BLOCK:
                    break
                width, rows, stop = nw, rows + b.shape[0], stop + 1
            H = np.zeros((rows, width), dtype=want)
            r = 0
            bounds = []
            for i in idx[start:stop]:
                b = blocks[i]
                H[r:r + b.shape[0], :b.shape[1]] = b
                bounds.append((i, r, r + b.shape[0]))
                r += b.shape[0]
            rr, cc = row_lvns(H, params)
            ptr = np.searchsorted(rr, np.arange(rows + 1))
            cl = cc.tolist()
            p = ptr.tolist()
            for i, a, b in bounds:
                out[i] = [cl[p[k]:p[k + 1]] for k in range(a, b)]
            start = stop
    return out


# --------------------------------------------------------------------------- impulse legs


def _session_legs(s0: int, s1: int, low_b: float, high_b: float, H: np.ndarray, L: np.ndarray, C: np.ndarray,
                  A: np.ndarray, params: StrategyParams) -> list[tuple[int, list[int], list[tuple[int, int, int]]]]:
    """StructureTracker over one session with the balance range low_b..high_b: per
    leg (its inside bar, its LVN events (bars), spans (first bar, last bar, index
    into the events) after which the leg counts with that event's LVNs)."""
    h, lo, c, a = H[s0:s1], L[s0:s1], C[s0:s1], A[s0:s1]
    m = s1 - s0
    idx = np.arange(m)
    inside = (low_b <= c) & (c <= high_b)
    last_in = np.maximum.accumulate(np.where(inside, idx, -1))
    with np.errstate(invalid="ignore"):
        thr = params.breakout_atr * a
        up = (a > 0) & (c >= high_b + thr)
        dn = (a > 0) & (c <= low_b - thr) & ~up
    cand = np.flatnonzero((up | dn) & (last_in >= 0))
    legs = []
    p, used = 0, -1
    while True:
        ks = cand[np.searchsorted(cand, p):]
        ok = last_in[ks] > used
        if not ok.any():
            break
        k = int(ks[int(np.argmax(ok))])
        st = int(last_in[k])
        start_price, leg_atr = float(c[st]), float(a[k])
        rising = bool(up[k])
        seg = h[st + 1:k + 1] if rising else lo[st + 1:k + 1]
        extreme0 = float(seg.max() if rising else seg.min())
        path = h[k:] if rising else lo[k:]
        ext = np.maximum.accumulate(np.maximum(path, extreme0)) if rising else \
            np.minimum.accumulate(np.minimum(path, extreme0))
        new = np.empty(ext.size, dtype=bool)
        new[0] = False
        new[1:] = (path[1:] > ext[:-1]) if rising else (path[1:] < ext[:-1])
        counts = np.abs(ext - start_price) / leg_atr >= params.impulse_min_atr
        retrace = (ext - c[k:]) if rising else (c[k:] - ext)
        ended = retrace >= params.impulse_end_atr * leg_atr
        e = int(np.argmax(ended)) if ended.any() else ext.size - 1
        ev_rel = np.concatenate(([0], np.flatnonzero(new[:e + 1])))
        # the event current after each bar k..k+e, and whether the leg counts then
        cur = np.searchsorted(ev_rel, np.arange(e + 1), side="right") - 1
        live = counts[:e + 1]
        spans = _runs(np.where(live, cur, -1), s0 + k)
        kept = bool(ended[e]) and bool(counts[e])
        if kept:  # an ended counting leg keeps its LVNs until the next leg or the session's end
            nxt = cand[np.searchsorted(cand, k + e + 1):]
            ok2 = last_in[nxt] > k
            stop = int(nxt[int(np.argmax(ok2))]) if ok2.any() else m
            if stop > k + e + 1:
                spans.append((s0 + k + e + 1, s0 + stop - 1, int(cur[e])))
        legs.append((s0 + st, (s0 + k + ev_rel).tolist(), spans))
        if not bool(ended[e]):
            break
        p, used = k + e + 1, k
    return legs


def _runs(values: np.ndarray, offset: int) -> list[tuple[int, int, int]]:
    """(first, last, value) of each run of equal values >= 0 (bar numbers from ``offset``)."""
    if values.size == 0:
        return []
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut, values.size] - 1
    return [(offset + int(s), offset + int(e), int(values[s])) for s, e in zip(starts, ends) if values[s] >= 0]


# --------------------------------------------------------------------------- the run


def bar_alerts(cols: dict, vap: Optional[list], params: StrategyParams) -> BarAlerts:
    """The LVN alerts of the bars of ``cols`` (``batch.analyze_bars_arrays`` of the
    series: its bars, sessions, RTH flags, ATR and bin size; no bar rejected) with
    their volume at price ``vap`` (None: none)."""
    if len(cols.get("rejected", ())):
        raise ValueError("bar_alerts works on series without rejected bars")
    O, Hh, L, C = cols["open"], cols["high"], cols["low"], cols["close"]
    n = len(C)
    bs = float(cols["bin_size"])
    sess, rth, atr = cols["session"], cols["rth"], cols["atr"]
    i0, i1 = _bar_bins(L, Hh, bs)
    units = volume_units_list(cols["volume"])
    cuts = np.flatnonzero(np.diff(sess)) + 1
    starts = np.r_[0, cuts].tolist()
    ends = np.r_[cuts, n].tolist()
    sessions = [_session_histograms(a, b, rth, i0, i1, units, vap, bs, params) for a, b in zip(starts, ends)]

    # the developing profile's LVNs after each in-session bar
    prof = _lvns_of([s.cum_rth if s is not None else None for s in sessions], params)
    n_sess = len(starts)
    prof_lvns: list = [None] * n  # per bar: the session profile's LVN bins after it (None: no profile yet)
    final: list = [None] * n_sess  # per session: (LVN bins, val, vah) of its last profile row, if it had volume
    for si, s in enumerate(sessions):
        if s is None or s.cum_rth is None:
            continue
        rows = s.rth_rows.tolist()
        lv = prof[si]
        tot = s.cum_rth.sum(axis=1).tolist()
        cur = None
        r = 0
        for k in range(s.s0, s.s1):
            if r < len(rows) and rows[r] == k:
                cur = [b + s.lo for b in lv[r]] if tot[r] > 0 else None
                r += 1
            prof_lvns[k] = cur
        if tot[-1] > 0:
            h = s.cum_rth[-1].tolist()
            st = units_stats(s.lo, [int(x) for x in h], 1, bs, params)
            final[si] = (prof_lvns[s.s1 - 1], st.val, st.vah)

    # the previous session's profile of each session (the last one with volume before it)
    prev_of: list = [None] * n_sess
    last = None
    for si in range(n_sess):
        prev_of[si] = last
        if final[si] is not None:
            last = final[si]

    # impulse legs per session (a balance range needs a previous profile)
    imp_after: list = [None] * n  # per bar: the counting leg's LVN bins after it
    events = []  # (session index, start bar, event bar)
    spans_all = []
    for si, (a, b) in enumerate(zip(starts, ends)):
        pv = prev_of[si]
        if pv is None or sessions[si] is None:
            continue
        for st, evs, spans in _session_legs(a, b, pv[1], pv[2], Hh, L, C, atr, params):
            base = len(events)
            events.extend((si, st, e) for e in evs)
            spans_all.extend((f, la, base + e) for f, la, e in spans)
    if events:
        mats = []
        for si, st, e in events:
            s = sessions[si]
            row = s.cum_all[e - s.s0] - (s.cum_all[st - s.s0 - 1] if st > s.s0 else 0)
            mats.append(row[None, :])
        ev_lvns = [x[0] for x in _lvns_of(mats, params)]
        for f, la, e in spans_all:
            s = sessions[events[e][0]]
            bins = [b + s.lo for b in ev_lvns[e]]
            for k in range(f, la + 1):
                imp_after[k] = bins

    return _fire(O, Hh, L, C, atr, starts, prof_lvns, prev_of, imp_after, sess, bs, params)


def _fire(O, Hh, L, C, atr, starts, prof_lvns, prev_of, imp_after, sess, bs, params) -> BarAlerts:
    """The tracker over the level sets: per check (bar) the levels handed over before it."""
    n = len(C)
    start_set = set(starts)
    K, SRC, BIN = [], [], []
    sess_l = sess.tolist()
    for k in range(n):
        pv = prev_of[sess_l[k]]
        if k not in start_set:
            sl = prof_lvns[k - 1]
            if sl:
                K.extend([k] * len(sl))
                SRC.extend([_SESSION] * len(sl))
                BIN.extend(sl)
        if pv is not None and pv[0]:
            K.extend([k] * len(pv[0]))
            SRC.extend([_PREVIOUS] * len(pv[0]))
            BIN.extend(pv[0])
        if k not in start_set:
            il = imp_after[k - 1]
            if il:
                K.extend([k] * len(il))
                SRC.extend([_IMPULSE] * len(il))
                BIN.extend(il)
    empty = BarAlerts(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if not K:
        return empty
    K = np.array(K, dtype=np.int64)
    SRC = np.array(SRC, dtype=np.int64)
    BIN = np.array(BIN, dtype=np.int64)
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
