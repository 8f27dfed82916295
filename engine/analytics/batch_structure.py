"""Impulse legs over one session's bars at once (STRATEGY.md section 8): what
``StructureTracker`` does bar by bar, for the LVN alerts over arrays
(batch_alerts.py), which need the legs' LVNs while a leg counts.

The tracker's rules (structure.py), as scans:

- a bar closing inside the balance range (previous VAL..VAH) is the start a
  leg can come from; the leg starts at the first later bar (ATR known) that
  closes beyond an edge by ``breakout_atr`` x ATR, while no leg is extending
  and after a close inside that no earlier leg used;
- its extreme is the running highest high (lowest low) since the inside bar,
  its ATR the breakout bar's; it counts while (extreme - start) / ATR >=
  ``impulse_min_atr`` and ends at the first bar closing ``impulse_end_atr`` x
  ATR back from the extreme, dropped then unless it counts, kept (with its
  LVNs) until the next leg starts or the session ends;
- its LVNs are those of the range profile of its bars, from the inside bar to
  the breakout and again to each bar making a new extreme ("events").

The same float operations in the same order as the tracker (maxima, the range
in ATRs, the retrace against ``impulse_end_atr`` x ATR), so the same legs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import StrategyParams


@dataclass
class Leg:
    """One leg: its inside bar, the bars of its LVN events, and the spans of bars
    (first, last, event index) after which it counts with that event's LVNs."""

    start: int
    events: list[int]
    spans: list[tuple[int, int, int]]


def session_legs(s0: int, s1: int, low_b: float, high_b: float, H: np.ndarray, L: np.ndarray, C: np.ndarray,
                 atr: np.ndarray, params: StrategyParams) -> list[Leg]:
    """The legs of the session of bars ``s0..s1`` with the balance range ``low_b..high_b``;
    ``atr`` is the ATR after each bar."""
    h, lo, c, a = H[s0:s1], L[s0:s1], C[s0:s1], atr[s0:s1]
    m = s1 - s0
    inside = (low_b <= c) & (c <= high_b)
    last_in = np.maximum.accumulate(np.where(inside, np.arange(m), -1))
    with np.errstate(invalid="ignore"):
        thr = params.breakout_atr * a
        up = (a > 0) & (c >= high_b + thr)
        dn = (a > 0) & (c <= low_b - thr) & ~up
    cand = np.flatnonzero((up | dn) & (last_in >= 0))
    legs: list[Leg] = []
    p, used = 0, -1  # the first bar a leg may start on; the last leg's breakout bar
    while True:
        k = _next_start(cand, last_in, p, used)
        if k < 0:
            break
        st = int(last_in[k])
        start_price, leg_atr = c[st], a[k]
        rising = bool(up[k])
        path = h[k:] if rising else lo[k:]
        if rising:
            ext = np.maximum.accumulate(np.maximum(path, h[st + 1:k + 1].max()))
        else:
            ext = np.minimum.accumulate(np.minimum(path, lo[st + 1:k + 1].min()))
        new = np.zeros(ext.size, dtype=bool)  # a new extreme: the range profile again
        new[1:] = (path[1:] > ext[:-1]) if rising else (path[1:] < ext[:-1])
        counts = np.abs(ext - start_price) / leg_atr >= params.impulse_min_atr
        retrace = (ext - c[k:]) if rising else (c[k:] - ext)
        ended = retrace >= params.impulse_end_atr * leg_atr
        e = int(np.argmax(ended)) if ended.any() else ext.size - 1
        ev = np.r_[0, np.flatnonzero(new[:e + 1])]
        cur = np.searchsorted(ev, np.arange(e + 1), side="right") - 1  # the event current after each bar
        spans = _runs(np.where(counts[:e + 1], cur, -1), s0 + k)
        if ended[e] and counts[e]:  # kept until the next leg starts (or the session ends)
            nxt = _next_start(cand, last_in, k + e + 1, k)
            stop = nxt if nxt >= 0 else m
            if stop > k + e + 1:
                spans.append((s0 + k + e + 1, s0 + stop - 1, int(cur[e])))
        legs.append(Leg(s0 + st, (s0 + k + ev).tolist(), spans))
        if not ended[e]:
            break
        p, used = k + e + 1, k
    return legs


def _next_start(cand: np.ndarray, last_in: np.ndarray, p: int, used: int) -> int:
    """The first breakout bar at or after ``p`` whose inside bar comes after ``used`` (-1: none)."""
    ks = cand[np.searchsorted(cand, p):]
    ok = last_in[ks] > used
    return int(ks[int(np.argmax(ok))]) if ok.any() else -1


def _runs(values: np.ndarray, offset: int) -> list[tuple[int, int, int]]:
    """(first, last, value) of each run of equal values >= 0 (bar numbers from ``offset``)."""
    if values.size == 0:
        return []
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut, values.size] - 1
    return [(offset + int(s), offset + int(e), int(values[s])) for s, e in zip(starts, ends) if values[s] >= 0]
