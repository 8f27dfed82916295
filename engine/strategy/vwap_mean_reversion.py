"""vwap_mean_reversion (STRATEGY.md 13): a stretch below VWAP inside an up-trend
of the 5-minute bars. Close <= VWAP - ``vwap_mean_reversion_k`` (2.5) x sigma, the
last closed 5-minute bar closes above its EMA50, the state is not
IMBALANCE_DOWN. Target VWAP; ATR stop. The short side mirrors it (close >=
VWAP + k sigma, 5-minute close below its EMA50, state not IMBALANCE_UP).

One signal per episode (consecutive stretched bars are one).
Confidence = 50 + 25 x min(stretch in sigma - k, 2).
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import Bar, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, at_or_above, atr_bracket, bracket_text
from .trend_pullback import AGAINST


class VwapMeanReversionSetup(PlaybookSetup):
    name = "vwap_mean_reversion"
    needs = frozenset({"state"})

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        five = s.five.last
        if math.isnan(s.vwap) or not s.sigma > 0.0 or five is None or math.isnan(five.ema_slow):
            return None
        sign = side.sign
        band = s.vwap - sign * p.vwap_mean_reversion_k * s.sigma
        if not at_or_above(side, band, bar.close):
            return None
        if not above(side, five.close, five.ema_slow) or snap.state is AGAINST[side]:
            return None
        atr = snap.atr
        entry = self.entry(snap, bar)
        stop, _ = atr_bracket(p, side, entry, atr)
        target = s.vwap
        stretch = abs(bar.close - s.vwap) / s.sigma
        rel = ">" if side is Side.BUY else "<"
        reason = (f"close {bar.close:.2f} {stretch:.2f} sigma {'below' if sign > 0 else 'above'} VWAP {s.vwap:.2f} "
                  f"(>= {p.vwap_mean_reversion_k:g}, sigma {s.sigma:.3f}), 5-min close {five.close:.2f} {rel} its "
                  f"EMA{p.ema_slow} {five.ema_slow:.2f}, {snap.state!s}; "
                  + bracket_text(p, stop, target, entry, atr, target_rule="VWAP"))
        conf = 50.0 + 25.0 * min(stretch - p.vwap_mean_reversion_k, 2.0)
        return Candidate(side, entry, stop, target, conf, reason)
