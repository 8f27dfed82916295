"""orb, the opening-range breakout (STRATEGY.md 13). Opening range = high/low of
the bars starting in the first ``orb_range_min`` (30) minutes of the session.
After it, the first close above the range high with RVOL >= ``orb_min_rvol``
(1.5) and the close above VWAP goes long; stop = the nearer to entry of the
range midpoint and entry - atr_stop x ATR; target = entry + ``orb_target_r`` (2)
x (entry - stop). The short side mirrors it below the range low. At most one
signal per side per session (the first bar meeting every condition).

Confidence = 50 + 25 x min(RVOL, 2).
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import Bar, Side, SymbolSnapshot
from .playbook import Candidate, PlaybookSetup, above, atr_bracket


class OrbSetup(PlaybookSetup):
    name = "orb"

    def __init__(self, symbol, params) -> None:
        super().__init__(symbol, params)
        self._done: set[tuple[int, Side]] = set()  # (session open, side) already signalled

    def fired(self, side: Side, now_ns: int) -> None:
        self._done.add((self.series.open_ns, side))

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        s, p = self.series, self.params
        if not s.range_done or (s.open_ns, side) in self._done or not math.isfinite(s.range_high):
            return None
        edge = s.range_high if side is Side.BUY else s.range_low
        if not (above(side, bar.close, edge) and above(side, bar.close, s.vwap) and s.rvol >= p.orb_min_rvol):
            return None
        atr = snap.atr
        entry = self.entry(snap, bar)
        mid = (s.range_high + s.range_low) / 2.0
        atr_stop, _ = atr_bracket(p, side, entry, atr)
        stop, stop_rule = (mid, "range midpoint") if abs(entry - mid) < abs(entry - atr_stop) \
            else (atr_stop, f"{p.atr_stop:g} ATR")
        target = entry + side.sign * p.orb_target_r * abs(entry - stop)
        word = "above the range high" if side is Side.BUY else "below the range low"
        reason = (f"close {bar.close:.2f} {word} {edge:.2f} (opening range {s.range_low:.2f}-{s.range_high:.2f}, "
                  f"{p.orb_range_min} min), RVOL {s.rvol:.2f} >= {p.orb_min_rvol:g}, "
                  f"{'above' if side is Side.BUY else 'below'} VWAP {s.vwap:.2f}; stop {stop_rule} at {stop:.2f}, "
                  f"target {p.orb_target_r:g}R at {target:.2f}")
        return Candidate((side, s.open_ns), entry, stop, target, 50.0 + 25.0 * min(s.rvol, 2.0), reason)
