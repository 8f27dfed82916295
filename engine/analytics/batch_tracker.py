"""The LVN alert tracker's arm rule (alerts.py) over every level a series' bars
meet, at once, for the LVN alerts over arrays (batch_alerts.py).

``LvnAlertTracker`` keeps each level's arm state while the level stays in the
set it is handed; a level new to the set starts disarmed when the tracker's
last price (the close of the last bar it checked) is within twice its band. A
bar's path (open, then the nearer extreme, the other, the close) fires an armed
level when it reaches the band and re-arms a disarmed one when it goes beyond
twice the band. Levels do not interact, so each stay of a level in the set is
followed on its own, as (stay, bar) pairs labelled by what the bar's range does
to the level: reaches the band (T), goes beyond twice the band (X). A bar with
T only fires when armed and leaves the level disarmed; X only arms it; neither
changes nothing; only a bar with both (wide enough to cross the band and leave
twice the band) is walked point by point, as the tracker walks it. So a pair's
arm state coming in is that left by the last labelled pair of its stay, or the
stay's first state.

Bands as ``LvnAlertTracker._build_thresholds`` builds them, with the same
float operations: percent of price, or ``lvn_alert_atr`` x the ATR the bar is
checked with (the ATR after the bar before) once ATR is known.
"""
from __future__ import annotations

import numpy as np

from ..config import StrategyParams
from .batch_levels import LevelSets
from .profile import bin_centre


def fired(levels: LevelSets, bars: dict, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """(pair index into ``levels``, alerts it fired) of each level that fired on
    its bar; ``bars``: the series' open, high, low, close, atr and bin_size."""
    K, SRC, BIN = levels.check, levels.source, levels.bin
    if K.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    O, H, L, C, atr = bars["open"], bars["high"], bars["low"], bars["close"], bars["atr"]
    bs = float(bars["bin_size"])
    n = len(C)
    order = np.lexsort((K, BIN, SRC))  # each stay's pairs together, in bar order
    K, BIN = K[order], BIN[order]
    m = K.size
    new = np.ones(m, dtype=bool)
    new[1:] = (SRC[order][1:] != SRC[order][:-1]) | (BIN[1:] != BIN[:-1]) | (K[1:] != K[:-1] + 1)
    stay = np.maximum.accumulate(np.where(new, np.arange(m), 0))  # each pair's stay: its first pair
    ubins, binv = np.unique(BIN, return_inverse=True)
    P = np.array([bin_centre(int(b), bs) for b in ubins.tolist()])[binv]
    atr_before = np.r_[np.nan, atr[:-1]]  # the ATR a bar is checked with
    fl, fh, rl, rh = _bands(P, atr_before[K], params)
    hk, lk = H[K], L[K]
    T = (hk >= fl) & (lk <= fh)
    X = (lk < rl) | (hk > rh)
    first_state = _first_states(new, K, C, P, atr_before, params, n)[stay]
    # the last labelled pair of the same stay before each pair (-1: none)
    idx = np.arange(m)
    prev = np.r_[-1, np.maximum.accumulate(np.where(T | X, idx, -1))[:-1]]
    prev = np.where(prev >= stay, prev, -1)
    armed_after = X.copy()  # X only: armed; T only: disarmed; T and X: walked
    fires = np.zeros(m, dtype=np.int64)
    both = np.flatnonzero(T & X)
    if both.size:
        kb = K[both]
        args = zip(O[kb].tolist(), hk[both].tolist(), lk[both].tolist(), C[kb].tolist(), fl[both].tolist(),
                   fh[both].tolist(), rl[both].tolist(), rh[both].tolist(), prev[both].tolist(),
                   first_state[both].tolist())
        after = armed_after.tolist()
        labelled_t = T.tolist()
        for i, (o, h, lo, c, a, b, ra, rb, q, s0) in zip(both.tolist(), args):
            armed = s0 if q < 0 else (after[q] if labelled_t[q] else True)
            fires[i], after[i] = _walk(armed, o, h, lo, c, a, b, ra, rb)
        armed_after = np.array(after, dtype=bool)
    t_only = np.flatnonzero(T & ~X)
    q = prev[t_only]
    fires[t_only] = np.where(q < 0, first_state[t_only], armed_after[np.maximum(q, 0)])
    hit = np.flatnonzero(fires)
    return order[hit], fires[hit]


def _bands(p: np.ndarray, atr: np.ndarray, params: StrategyParams) -> tuple:
    """(fire low, fire high, re-arm low, re-arm high) of levels at ``p`` checked with ``atr``."""
    k = params.lvn_alert_pct / 100.0
    fl = p / (1 + k)  # |x - p| <= k x, solved for x
    fh = p / (1 - k) if k < 1 else np.full(p.size, np.inf)
    rl = p / (1 + 2 * k)
    rh = p / (1 - 2 * k) if 2 * k < 1 else np.full(p.size, np.inf)
    if params.lvn_alert_atr > 0:
        with np.errstate(invalid="ignore"):
            known = (atr > 0) & ~np.isinf(atr)
        b = params.lvn_alert_atr * np.where(known, atr, 0.0)
        fl, fh = np.where(known, p - b, fl), np.where(known, p + b, fh)
        rl, rh = np.where(known, p - 2 * b, rl), np.where(known, p + 2 * b, rh)
    return fl, fh, rl, rh


def _first_states(new: np.ndarray, K: np.ndarray, C: np.ndarray, P: np.ndarray, atr_before: np.ndarray,
                  params: StrategyParams, n: int) -> np.ndarray:
    """Per pair, for the first pair of each stay: whether the level starts armed. The
    tracker checks a bar when it holds levels; its last price is that bar's close and
    its band the one of that check."""
    held = np.zeros(n, dtype=bool)
    held[K] = True
    last_check = np.maximum.accumulate(np.where(held, np.arange(n), -1))
    out = np.ones(K.size, dtype=bool)
    first = np.flatnonzero(new)
    j = np.where(K[first] > 0, last_check[np.maximum(K[first] - 1, 0)], -1)
    seen = j >= 0
    at, j = first[seen], j[seen]
    _, _, rl, rh = _bands(P[at], atr_before[j], params)
    out[at] = ~((rl <= C[j]) & (C[j] <= rh))
    return out


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
