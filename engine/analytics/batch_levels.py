"""Which LVNs the alert tracker holds before each bar of a series (alert_levels.py),
worked out over arrays for the LVN alerts over arrays (batch_alerts.py).

Bar by bar, ``AlertLevels`` hands the tracker, after every bar and at a session's
roll, the LVNs of the developing session profile, of the previous session's
profile and of a counting impulse leg; a bar's price path meets the set handed
over before it. Here, per bar ``k`` (a "check"):

- session: the LVNs of the developing profile after the last in-session bar
  before ``k`` of ``k``'s session (none on a session's first bar: the roll
  empties the profile), each row of batch_histograms' cumulative rows through
  ``batch_lvns.row_lvns``;
- previous: the LVNs of the last profile row of the latest earlier session
  with volume (the roll keeps the older previous profile after a session
  without volume); its value area is the next session's balance range;
- impulse: the LVNs of the range profile (the leg's bars so far, a difference
  of two cumulative rows) of the leg that counts after bar ``k - 1``
  (batch_structure.py), none on a session's first bar.

The result is one (check, source, bin) triple per level per bar.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..config import StrategyParams
from .batch_histograms import Block, SessionBars, blocks, session_bars
from .batch_lvns import row_lvns
from .batch_structure import session_legs
from .profile import units_stats

SOURCES = ("session", "previous", "impulse")
SESSION, PREVIOUS, IMPULSE = 0, 1, 2


@dataclass
class LevelSets:
    """Per level held before a bar: the bar (the check), the source (index into
    SOURCES) and the LVN's bin, sorted by check within each source."""

    check: np.ndarray
    source: np.ndarray
    bin: np.ndarray


def level_sets(cols: dict, vap: Optional[list], params: StrategyParams) -> LevelSets:
    """The levels before each bar of ``cols`` (batch.analyze_bars_arrays' columns of
    the series, no bar rejected) with their volume at price ``vap``."""
    n = len(cols["close"])
    bs = float(cols["bin_size"])
    rth = cols["rth"]
    sb = session_bars(cols["high"], cols["low"], cols["volume"], cols["session"], vap, bs, params)
    walk = _Sessions(sb, cols, bs, params)
    for blk in blocks(sb, rth):
        walk.add(blk)
    prof_ptr, prof_bins = _csr(walk.prof_rows, walk.prof_bins, int(walk.rth_rank[-1]) + 1 if n else 0)
    ev_ptr, ev_bins = _event_lvns(walk.ev_rows, np.array(walk.ev_lo, dtype=np.int64), params)
    sess = np.repeat(np.arange(sb.starts.size), sb.ends - sb.starts)
    first_bar = np.zeros(n, dtype=bool)
    first_bar[sb.starts] = True
    k = np.arange(n)
    last_rth = np.maximum.accumulate(np.where(rth, k, -1))
    row_after = np.where(last_rth >= sb.starts[sess], walk.rth_rank[np.maximum(last_rth, 0)], -1)
    within = np.flatnonzero(~first_bar)  # checks after a bar of the same session
    k1, b1 = _expand(within, row_after[within - 1], prof_ptr, prof_bins)
    k2, b2 = _expand(k, walk.prev_row[sess], prof_ptr, prof_bins)
    k3, b3 = _expand(within, walk.ev_after[within - 1], ev_ptr, ev_bins)
    source = np.repeat(np.array([SESSION, PREVIOUS, IMPULSE], dtype=np.int64), [k1.size, k2.size, k3.size])
    return LevelSets(np.concatenate((k1, k2, k3)), source, np.concatenate((b1, b2, b3)))


class _Sessions:
    """The sessions' profiles and legs, block by block in session order (a
    session's balance range is the value area of the one before it)."""

    def __init__(self, sb: SessionBars, cols: dict, bs: float, params: StrategyParams) -> None:
        self.sb, self.cols, self.bs, self.params = sb, cols, bs, params
        n = len(cols["close"])
        self.rth_rank = np.cumsum(cols["rth"]) - 1  # each in-session bar's profile row
        self.prof_rows: list[np.ndarray] = []  # the LVNs of the profile rows: (row, bin)
        self.prof_bins: list[np.ndarray] = []
        self.prev_row = np.full(sb.starts.size, -1, dtype=np.int64)  # per session: the previous profile's row
        self.ev_rows: list[np.ndarray] = []  # the impulse events' range profiles, a row each
        self.ev_lo: list[int] = []  # ... and their lowest bins
        self.ev_after = np.full(n, -1, dtype=np.int64)  # per bar: the event whose LVNs count after it
        self._last_row = -1  # the latest session profile with volume: its row and value area
        self._balance = (np.nan, np.nan)

    def add(self, blk: Block) -> None:
        sb = self.sb
        rr, cc = row_lvns(blk.cum_rth, self.params)
        base = int(self.rth_rank[blk.rth_bars[0]]) if blk.rth_bars.size else 0
        lo_of_row = sb.lo[np.searchsorted(sb.starts, blk.rth_bars, side="right") - 1]
        self.prof_rows.append(rr + base)
        self.prof_bins.append(cc + lo_of_row[rr])
        last_rows = np.searchsorted(blk.rth_bars, sb.ends[blk.first:blk.last + 1]) - 1
        events: list[tuple[int, int, int]] = []  # (row of the event, row before the leg (-1: none), lowest bin)
        for si in range(blk.first, blk.last + 1):
            self.prev_row[si] = self._last_row
            if self._last_row >= 0 and sb.width[si] > 0:
                self._legs(si, blk, events)
            r = int(last_rows[si - blk.first])
            if r >= 0 and blk.rth_bars[r] >= sb.starts[si]:
                self._roll(si, blk, base, r)
        if events:
            at, before, lo = (np.array(x, dtype=np.int64) for x in zip(*events))
            rows = blk.cum_all[at]
            rows[before >= 0] -= blk.cum_all[before[before >= 0]]
            self.ev_rows.append(rows)
            self.ev_lo.extend(lo.tolist())

    def _legs(self, si: int, blk: Block, events: list) -> None:
        """The session's impulse legs: their LVN events and the bars after which each counts."""
        sb, c = self.sb, self.cols
        s0, s1 = int(sb.starts[si]), int(sb.ends[si])
        for leg in session_legs(s0, s1, self._balance[0], self._balance[1], c["high"], c["low"], c["close"],
                                c["atr"], self.params):
            first = len(self.ev_lo) + len(events)
            before = leg.start - 1 - blk.b0 if leg.start > s0 else -1
            events.extend((e - blk.b0, before, int(sb.lo[si])) for e in leg.events)
            for f, la, e in leg.spans:
                self.ev_after[f:la + 1] = first + e

    def _roll(self, si: int, blk: Block, base: int, r: int) -> None:
        """The session's last profile row ``r``, if it holds volume, is the next sessions' previous profile."""
        row = [int(x) for x in blk.cum_rth[r].tolist()]
        st = units_stats(int(self.sb.lo[si]), row, 1, self.bs, self.params)
        if st is not None:
            self._last_row, self._balance = base + r, (st.val, st.vah)


def _csr(rows: list, vals: list, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(pointers, values) of (row, value) pairs sorted by row."""
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0, dtype=np.int64)
    return np.searchsorted(r, np.arange(n_rows + 1)), v


def _event_lvns(mats: list, lo: np.ndarray, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """The LVN bins of each impulse event's range profile, as (pointers, bins)."""
    if not mats:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    width = max(m.shape[1] for m in mats)
    obj = any(m.dtype == object for m in mats)  # (each row in its own unit: rows may mix)
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
