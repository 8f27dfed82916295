"""sigma_fade (STRATEGY.md 13): a sweep of the lower sigma band that is rejected.
This bar's low <= VWAP - ``sigma_fade_k`` (2.0) x sigma and its close is back
above that band; EMA50 now >= EMA50 ``sigma_fade_slope_bars`` (10) bars ago (the
trend is not down); RVOL >= ``sigma_fade_min_rvol`` (1.0). Target VWAP; stop =
the bar's low - ``sigma_fade_stop_atr`` (0.5) x ATR. The short side mirrors it
(a rejected sweep of the upper band under a flat or falling EMA50).

One signal per episode (consecutive sweeping bars are one episode).
Confidence = 50 + 25 x min(RVOL, 2).
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import Bar, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, at_or_above, bracket_text


class SigmaFadeSetup(PlaybookSetup):
    name = "sigma_fade"

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        if math.isnan(s.vwap) or not s.sigma > 0.0 or math.isnan(s.slow_then) or math.isnan(s.slow):
            return None
        sign = side.sign
        band = s.vwap - sign * p.sigma_fade_k * s.sigma
        extreme = bar.low if side is Side.BUY else bar.high
        if not (at_or_above(side, band, extreme) and above(side, bar.close, band)):
            return None
        if not at_or_above(side, s.slow, s.slow_then) or not s.rvol >= p.sigma_fade_min_rvol:
            return None
        atr = snap.atr
        entry = self.entry(snap, bar)
        stop = extreme - sign * p.sigma_fade_stop_atr * atr
        target = s.vwap
        word = "low" if side is Side.BUY else "high"
        band_name = f"VWAP {'-' if sign > 0 else '+'} {p.sigma_fade_k:g} sigma"
        slope = ">=" if side is Side.BUY else "<="
        reason = (f"{word} {extreme:.2f} swept {band_name} {band:.2f} (VWAP {s.vwap:.2f}, sigma {s.sigma:.3f}), "
                  f"close {bar.close:.2f} back inside, EMA{p.ema_slow} {s.slow:.2f} {slope} "
                  f"{s.slow_then:.2f} {p.sigma_fade_slope_bars} bars ago, RVOL {s.rvol:.2f}; "
                  + bracket_text(p, stop, target, entry, atr, f"{p.sigma_fade_stop_atr:g} ATR beyond the {word}",
                                 "VWAP"))
        return Candidate(side, entry, stop, target, 50.0 + 25.0 * min(s.rvol, 2.0), reason)
