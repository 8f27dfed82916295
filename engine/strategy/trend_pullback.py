"""trend_pullback (STRATEGY.md 13): buy a touch of EMA20 in an up-trend.
EMA20 > EMA50 (one-minute), the last closed 5-minute bar closes above its own
EMA20, the state is not IMBALANCE_DOWN, this bar's low <= EMA20 +
``trend_pullback_touch_atr`` (0.1) x ATR and its close > EMA20. ATR bracket.
The short side mirrors it (EMA20 < EMA50, 5-minute close below its EMA20, state
not IMBALANCE_UP, high >= EMA20 - 0.1 ATR, close < EMA20).

One signal per touch: consecutive touching bars are one touch; a bar that does
not touch re-arms it. An open trend_pullback position may be added to on a new
touch up to ``trend_pullback_max_adds`` (2) times (the signal desk lets these
through; each add has its own bracket and is sized by the risk rules).
Confidence = 50 + 50 x min(|EMA20 - EMA50| / ATR, 1).
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import Bar, MarketState, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, at_or_above, atr_bracket, bracket_text

AGAINST = {Side.BUY: MarketState.IMBALANCE_DOWN, Side.SELL: MarketState.IMBALANCE_UP}


class TrendPullbackSetup(PlaybookSetup):
    name = "trend_pullback"
    needs = frozenset({"state"})

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        five = s.five.last
        if five is None or math.isnan(five.ema_fast) or math.isnan(s.slow):
            return None
        if not (above(side, s.fast, s.slow) and above(side, five.close, five.ema_fast)):
            return None
        if snap.state is AGAINST[side]:
            return None
        atr = snap.atr
        sign = side.sign
        extreme = bar.low if side is Side.BUY else bar.high
        touch = s.fast + sign * p.trend_pullback_touch_atr * atr
        if not (at_or_above(side, touch, extreme) and above(side, bar.close, s.fast)):
            return None
        entry = self.entry(snap, bar)
        stop, target = atr_bracket(p, side, entry, atr)
        word = "low" if side is Side.BUY else "high"
        rel = ">" if side is Side.BUY else "<"
        reason = (f"EMA{p.ema_fast} {s.fast:.2f} {rel} EMA{p.ema_slow} {s.slow:.2f}, 5-min close {five.close:.2f} "
                  f"{rel} its EMA{p.ema_fast} {five.ema_fast:.2f}, {snap.state!s}, {word} {extreme:.2f} touched "
                  f"EMA{p.ema_fast} (+{p.trend_pullback_touch_atr:g} ATR), close {bar.close:.2f} {rel} it; "
                  + bracket_text(p, stop, target, entry, atr))
        conf = 50.0 + 50.0 * min(abs(s.fast - s.slow) / atr, 1.0)
        return Candidate(side, entry, stop, target, conf, reason)
