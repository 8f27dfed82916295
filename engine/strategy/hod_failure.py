"""hod_failure (STRATEGY.md 13): a pullback from a fresh session high, bought for
a retest. The session high was set within the last ``hod_failure_lookback`` (15)
bars (this bar counted as the first), the close is at least
``hod_failure_pullback_atr`` (0.5) x ATR below it, the close is above VWAP and
momentum > 0. Target the session high; ATR stop. The short side mirrors it on
the session low (close >= low + 0.5 ATR, below VWAP, momentum < 0).

One signal per session extreme: a new high (or low) re-arms it.
Confidence = 50 + 25 x min(|momentum|, 2).
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import Bar, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, at_or_above, atr_bracket, bracket_text


class HodFailureSetup(PlaybookSetup):
    name = "hod_failure"

    def __init__(self, symbol, params) -> None:
        super().__init__(symbol, params)
        self._signalled: dict[Side, tuple] = {}  # side -> the extreme (session, bar) last signalled

    def fired(self, side: Side, now_ns: int) -> None:
        s = self.series
        self._signalled[side] = (s.open_ns, s.high_index if side is Side.BUY else s.low_index)

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        buy = side is Side.BUY
        extreme, at = (s.high, s.high_index) if buy else (s.low, s.low_index)
        ago = s.index - at
        if self._signalled.get(side) == (s.open_ns, at):
            return None
        if not math.isfinite(extreme) or ago >= p.hod_failure_lookback or math.isnan(s.vwap):
            return None
        atr = snap.atr
        sign = side.sign
        if not at_or_above(side, extreme - sign * p.hod_failure_pullback_atr * atr, bar.close):
            return None
        mom = snap.momentum
        if not above(side, bar.close, s.vwap) or not above(side, mom, 0.0):
            return None
        entry = self.entry(snap, bar)
        stop, _ = atr_bracket(p, side, entry, atr)
        target = extreme
        name = "high" if buy else "low"
        reason = (f"session {name} {extreme:.2f} set {ago} bars ago (< {p.hod_failure_lookback}), close {bar.close:.2f} "
                  f"{abs(extreme - bar.close) / atr:.2f} ATR off it (>= {p.hod_failure_pullback_atr:g}), "
                  f"{'above' if buy else 'below'} VWAP {s.vwap:.2f}, momentum {mom:.2f}; "
                  + bracket_text(p, stop, target, entry, atr, target_rule=f"session {name}"))
        return Candidate((side, s.open_ns, at), entry, stop, target, 50.0 + 25.0 * min(abs(mom), 2.0), reason)
