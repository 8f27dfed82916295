"""ema_cross (STRATEGY.md 13): EMA20 crosses above EMA50 on this bar (EMA20 <=
EMA50 on the previous bar, > on this one) and the close is above EMA50; the
short side is the mirror. ATR bracket. A cross is an event: each one fires.

Confidence = 50 + 50 x min(|close - EMA50| / ATR, 1): a close well clear of the
slow average scores higher than a graze.
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import Bar, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, at_or_above, atr_bracket, bracket_text


class EmaCrossSetup(PlaybookSetup):
    name = "ema_cross"

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        if math.isnan(s.prev_fast) or math.isnan(s.prev_slow):
            return None
        if not (at_or_above(side, s.prev_slow, s.prev_fast) and above(side, s.fast, s.slow)
                and above(side, bar.close, s.slow)):
            return None
        atr = snap.atr
        entry = self.entry(snap, bar)
        stop, target = atr_bracket(p, side, entry, atr)
        word = "above" if side is Side.BUY else "below"
        reason = (f"EMA{p.ema_fast} {s.fast:.2f} crossed {word} EMA{p.ema_slow} {s.slow:.2f} "
                  f"(prev {s.prev_fast:.2f} vs {s.prev_slow:.2f}), close {bar.close:.2f} {word} EMA{p.ema_slow}; "
                  + bracket_text(p, stop, target, entry, atr))
        conf = 50.0 + 50.0 * min(abs(bar.close - s.slow) / atr, 1.0)
        return Candidate(bar.ts_ns, entry, stop, target, conf, reason)
