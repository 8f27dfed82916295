"""The mean-reversion setup (STRATEGY.md section 9): fade a failed breakout of a
balanced market back to its point of control.

Definitions (bars are closed one-minute bars; N = ``reclaim_bars``, default 5):

1. Balance before: the N bars before the breakout bar all had state BALANCE.
2. Breakout: a bar closes above VAH (or below VAL) of the rolling profile in
   its own snapshot. That value area (VAH, VAL) is frozen as the reference.
   The failed extreme starts at the bar's high (low) and follows every later
   bar's high (low) while the episode lasts.
3. Failure (reclaim): a close back inside the reference [VAL, VAH] at most N
   bars after the breakout bar. Still outside after N bars = an accepted
   breakout, no trade; a close straight through to the other side of value
   ends the episode too.
4. Pullback to an LVN of the reclaim leg, from the reclaim bar through N bars
   after it, while closes stay inside the reference value area: the bar traded
   (its low..high range, as in trend_model) within the LVN band (``lvn_alert_atr`` x ATR if > 0, else ``lvn_alert_pct`` % of
   price) of an LVN of the current rolling or session profile lying strictly
   between the POC and the failed extreme (the ground the reclaim leg covers).
5. Aggression toward the POC: direction SELL after a failed up-breakout, BUY
   after a failed down-breakout, with aggression >= ``min_aggression`` / 2
   (35 by default; as in trend_model, a fade rarely prints breakout-grade flow).
6. ATR known; target = the current rolling POC, which must lie beyond entry
   toward value; stop = the failed extreme plus a buffer of 0.1 ATR
   (``STOP_BUFFER_ATR``) so a retest of the exact extreme does not stop out.

Confidence = clamp(0.6 x aggression + 40 x (1 - distance to LVN / band), 0, 100).

Re-arm rule: one signal per failed breakout. After it fires (or the episode
expires or is invalidated) a new breakout, again preceded by N BALANCE bars,
is needed.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Optional

from ..config import StrategyParams
from ..model import MarketState, Node, Side, Signal, SymbolSnapshot
from .auction import BarGate, atr_known, build_signal
from .trend_model import lvn_band, pullback_confidence, reach

STOP_BUFFER_ATR = 0.1  # stop beyond the failed extreme by this many ATR


@dataclass(slots=True)
class FailedBreakout:
    """One breakout episode being watched for failure and a fade entry."""

    up: bool  # broke out above VAH (fade = short) / below VAL (fade = long)
    vah: float  # reference value area at the breakout bar
    val: float
    breakout_bar: int
    extreme: float  # highest high (up) / lowest low (down) since the breakout
    balance_bars: int  # BALANCE bars before the breakout (for the reason line)
    reclaim_bar: Optional[int] = None  # bar index of the close back inside value

    @property
    def fade_side(self) -> Side:
        return Side.SELL if self.up else Side.BUY


class MeanReversionSetup:
    """Balance, failed breakout, reclaim, pullback to a reclaim-leg LVN, flow toward POC."""

    name = "mean_reversion"
    needs = frozenset({"flow", "state", "profiles"})  # + rolling/session LVNs

    def __init__(self, symbol: str, params: StrategyParams) -> None:
        self.symbol = symbol
        self.params = params
        self._gate = BarGate()
        self._states: deque[MarketState] = deque(maxlen=params.reclaim_bars)
        self._bar = 0
        self._episode: Optional[FailedBreakout] = None

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        if not self._gate.is_new(snap):
            return None
        self._bar += 1
        try:
            return self._step(snap, now_ns)
        finally:
            self._states.append(snap.state)

    # ------------------------------------------------------------------ episode tracking

    def _step(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        close = snap.last
        if not math.isfinite(close):
            return None
        bar = snap.last_bar
        high = bar.high if bar is not None else close
        low = bar.low if bar is not None else close
        n = self.params.reclaim_bars
        ep = self._episode
        if ep is not None:
            ep.extreme = max(ep.extreme, high) if ep.up else min(ep.extreme, low)
            inside = ep.val <= close <= ep.vah
            if ep.reclaim_bar is None:
                still_out = close > ep.vah if ep.up else close < ep.val
                if inside:
                    ep.reclaim_bar = self._bar
                elif not still_out or self._bar - ep.breakout_bar >= n:
                    ep = None  # through the other side, or an accepted breakout
            elif not inside or self._bar - ep.reclaim_bar > n:
                ep = None  # left value again, or no pullback entry in time
            self._episode = ep
            if ep is not None:
                if ep.reclaim_bar is None:
                    return None
                signal = self._fade(snap, ep, now_ns)
                if signal is not None:
                    self._episode = None  # one signal per failed breakout
                return signal
        self._episode = self._breakout(snap, close, high, low)
        return None

    def _breakout(self, snap: SymbolSnapshot, close: float, high: float, low: float) -> Optional[FailedBreakout]:
        """A new breakout episode if this bar closes outside value after N BALANCE bars."""
        rp = snap.rolling
        n = self.params.reclaim_bars
        if rp is None or len(self._states) < n:
            return None
        if any(s != MarketState.BALANCE for s in self._states):
            return None
        if close > rp.vah:
            return FailedBreakout(True, rp.vah, rp.val, self._bar, high, n)
        if close < rp.val:
            return FailedBreakout(False, rp.vah, rp.val, self._bar, low, n)
        return None

    # ------------------------------------------------------------------ entry

    def _fade(self, snap: SymbolSnapshot, ep: FailedBreakout, now_ns: int) -> Optional[Signal]:
        """The fade signal if flow, ATR, POC and an LVN pullback all line up now."""
        p = self.params
        side = ep.fade_side
        flow = snap.flow
        min_aggr = p.min_aggression / 2.0
        if flow.direction != side or flow.aggression < min_aggr:
            return None
        atr = snap.atr
        rp = snap.rolling
        if not atr_known(atr) or rp is None:
            return None
        entry = snap.last
        sign = side.sign
        poc = rp.poc
        if sign * (poc - entry) <= 0:
            return None  # already at or past the POC: nothing left to fade
        lo, hi = (poc, ep.extreme) if ep.up else (ep.extreme, poc)
        bar = snap.last_bar
        low, high = (bar.low, bar.high) if bar is not None else (entry, entry)
        best: Optional[tuple[tuple[float, float], Node, str]] = None
        for source, profile in (("rolling", rp), ("session", snap.session_profile)):
            if profile is None:
                continue
            for node in profile.lvns:
                if lo < node.price < hi:
                    key = (reach(node.price, low, high), abs(node.price - entry))
                    if best is None or key < best[0]:
                        best = (key, node, source)
        if best is None:
            return None
        (dist, _), lvn, source = best
        band = lvn_band(p, atr, entry)
        if dist > band:
            return None
        stop = ep.extreme - sign * STOP_BUFFER_ATR * atr
        if sign * (entry - stop) <= 0:
            return None
        target = poc
        confidence = pullback_confidence(flow.aggression, dist, band)
        edge = f"above VAH {ep.vah:.2f}" if ep.up else f"below VAL {ep.val:.2f}"
        reason = (
            f"failed breakout {edge} after {ep.balance_bars} BALANCE bars, extreme {ep.extreme:.2f}, "
            f"reclaimed in {ep.reclaim_bar - ep.breakout_bar} bars (<= {p.reclaim_bars}); "
            f"pullback to {source} LVN {lvn.price:.2f} ({dist / atr:.2f} ATR away, band {band / atr:.2f} ATR), "
            f"aggression {flow.aggression:.0f} {side.name} toward POC >= {min_aggr:.0f}; "
            f"stop extreme + {STOP_BUFFER_ATR:g} ATR at {stop:.2f}, target POC {target:.2f}"
        )
        return build_signal(self.symbol, self.name, side, entry, stop, target, confidence, reason, now_ns)
