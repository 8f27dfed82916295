"""vwap_reclaim (STRATEGY.md 13): the previous close was below VWAP, this close
is above it, RVOL >= ``vwap_reclaim_min_rvol`` (1.1), and no vwap_reclaim signal
on the symbol in the last ``vwap_reclaim_cooldown_s`` (900) seconds of data time
(either side; measured between bar ends). The short side is the mirror (a loss of VWAP). ATR bracket.

"VWAP" for the previous close is the session VWAP as of the previous bar; the
first bar of a session has no previous close in the session and never fires.

Confidence = 50 + 25 x min(RVOL, 2).
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import NS_PER_MIN, NS_PER_S, Bar, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, at_or_above, atr_bracket, bracket_text


class VwapReclaimSetup(PlaybookSetup):
    name = "vwap_reclaim"

    def __init__(self, symbol, params) -> None:
        super().__init__(symbol, params)
        self._last_signal_ns: Optional[int] = None
        self._now_ns = 0

    def on_series(self, snap: SymbolSnapshot, bar: Bar, now_ns: int) -> None:
        # the bar's end, not the call's time: a restart's catch-up and the live run agree
        self._now_ns = bar.ts_ns + NS_PER_MIN

    def fired(self, side: Side, now_ns: int) -> None:
        self._last_signal_ns = self._now_ns

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        if math.isnan(s.prev_close) or math.isnan(s.prev_vwap):
            return None
        if not (at_or_above(side, s.prev_vwap, s.prev_close) and s.prev_close != s.prev_vwap
                and above(side, bar.close, s.vwap)):
            return None
        if not s.rvol >= p.vwap_reclaim_min_rvol:
            return None
        last = self._last_signal_ns
        if last is not None and self._now_ns - last < p.vwap_reclaim_cooldown_s * NS_PER_S:
            return None
        atr = snap.atr
        entry = self.entry(snap, bar)
        stop, target = atr_bracket(p, side, entry, atr)
        word, prev_word = ("above", "below") if side is Side.BUY else ("below", "above")
        reason = (f"close {bar.close:.2f} back {word} VWAP {s.vwap:.2f} (prev close {s.prev_close:.2f} {prev_word} "
                  f"{s.prev_vwap:.2f}), RVOL {s.rvol:.2f} >= {p.vwap_reclaim_min_rvol:g}, "
                  f"no reclaim in {p.vwap_reclaim_cooldown_s:g}s; " + bracket_text(p, stop, target, entry, atr))
        conf = 50.0 + 25.0 * min(s.rvol, 2.0)
        return Candidate(bar.ts_ns, entry, stop, target, conf, reason)
