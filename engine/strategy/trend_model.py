"""The trend model setup (STRATEGY.md section 9): join an imbalance on its first
pullback to a low-volume node of the impulse leg that created it.

Conditions, all on the same bar (side BUY for up, SELL for down):

1. state IMBALANCE_UP / IMBALANCE_DOWN;
2. an impulse leg that counts (``counts`` True: range >= ``impulse_min_atr``)
   on that side, active or already ended by a retrace, with at least one LVN;
3. a pullback to one of its LVNs: ``snap.pullback`` (the analytics' verdict),
   or computed here: the bar traded within the LVN band (``lvn_alert_atr`` x ATR
   if that key is > 0, else ``lvn_alert_pct`` % of price) of the impulse LVN it
   came nearest to (its low..high range, so a bar that dipped to the node and
   closed off it counts: a pullback *to* a node is the market trading there)
   while price stays beyond the balance edge (above ``balance_high`` for a long,
   below ``balance_low`` for a short; skipped when the edge is unknown);
4. aggression that way: direction equal to the side and aggression >=
   ``min_aggression`` / 2 (35 by default). A pullback is a pause, so flow is
   weaker than on the breakout; half the auction threshold still rejects bars
   where the with-trend flow is absent (the score only takes 0, 30, 40, 60, 70
   or 100, so 35 means "CVD momentum, or a volume spike plus pressure");
5. ATR known.

Bracket, measured from the LVN price (the node traded, nearest to price):
stop = LVN -/+ max(``atr_stop`` x ATR, LVN band), i.e. beyond the node by at
least the band it was touched within (STRATEGY.md 9); target = the nearer of the
impulse extreme and entry +/- ``atr_target`` x ATR. No signal when the target is
not beyond entry (price is already at or past the extreme) or the stop is not on
the far side of entry.

With the band at ``lvn_alert_pct`` 0.5% of price the band is 5-10 one-minute
ATRs on the simulated symbols: every stop sits so far away that no target (at
most 3 ATR) reaches ``min_reward_risk`` 1R, and trend_model never traded (issue
15: 164 signals, all blocked). The band therefore defaults to STRATEGY.md 6's ATR
form (``lvn_alert_atr`` = 0.25): the stop is the ATR stop beyond the node. A
one-minute close rarely sits within a quarter ATR of a node's centre when the
profile's bin is itself 0.5-2.7 ATR wide, which is why the bar's range, not its
close, is measured against the band.

Confidence = clamp(0.6 x aggression + 40 x (1 - distance to LVN / band), 0, 100):
strong flow and a clean touch of the node score highest.

Re-arm rule: one signal per (side, impulse start, LVN). It re-arms when the
conditions lapse for a bar, or at once for a different LVN or a new impulse.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

from ..config import StrategyParams
from ..model import MarketState, Node, Side, Signal, SymbolSnapshot
from .auction import BarGate, RearmLatch, atr_known, build_signal

_STATE_SIDE = {MarketState.IMBALANCE_UP: Side.BUY, MarketState.IMBALANCE_DOWN: Side.SELL}


def lvn_band(params: StrategyParams, atr: float, price: float) -> float:
    """The LVN band of STRATEGY.md section 6: ``lvn_alert_atr`` x ATR when that key
    is set (> 0) and ATR is known, else ``lvn_alert_pct`` % of price."""
    if params.lvn_alert_atr > 0 and atr_known(atr):
        return params.lvn_alert_atr * atr
    return params.lvn_alert_pct / 100.0 * price


def reach(price: float, low: float, high: float) -> float:
    """How far a bar that traded ``low``..``high`` stayed from ``price``: 0 when the
    bar traded through it. A pullback *to* a node is the market trading there, so
    the bar's whole range counts, not only its close (as LVN alerts from bars do)."""
    if price < low:
        return low - price
    if price > high:
        return price - high
    return 0.0


def nearest_node(nodes: Iterable[Node], price: float, low: float = math.nan,
                 high: float = math.nan) -> Optional[tuple[Node, float]]:
    """The node the bar came nearest to and that distance (None if no nodes).

    Without a range (``low``/``high`` NaN) the distance is from ``price`` alone.
    Ties go to the node nearest ``price``."""
    if not (low <= high):
        low = high = price
    best: Optional[Node] = None
    best_key = (math.inf, math.inf)
    for node in nodes:
        key = (reach(node.price, low, high), abs(node.price - price))
        if key < best_key:
            best, best_key = node, key
    return None if best is None else (best, best_key[0])


def pullback_confidence(aggression: float, distance: float, band: float) -> float:
    """0.6 x aggression + 40 x closeness to the node (1 at the node, 0 at the band edge)."""
    closeness = 1.0 - min(distance / band, 1.0) if band > 0 else 0.0
    return 0.6 * aggression + 40.0 * closeness


class TrendModelSetup:
    """Imbalance + impulse leg + pullback to an impulse LVN + with-trend flow."""

    name = "trend_model"
    needs = frozenset({"flow", "state", "structure"})  # + impulse legs, balance range, pullback

    def __init__(self, symbol: str, params: StrategyParams) -> None:
        self.symbol = symbol
        self.params = params
        self._latch = RearmLatch()
        self._gate = BarGate()

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        if not self._gate.is_new(snap):
            return None
        found = self._evaluate(snap, now_ns)
        if found is None:
            self._latch.lapse()
            return None
        key, signal = found
        if not self._latch.allow(key):
            return None  # same episode still holding: already signalled
        self._latch.fired(key)
        return signal

    def _evaluate(self, snap: SymbolSnapshot, now_ns: int) -> Optional[tuple[tuple, Signal]]:
        """(episode key, signal) when every condition holds on this bar, else None."""
        p = self.params
        side = _STATE_SIDE.get(snap.state)
        if side is None:
            return None
        imp = snap.impulse
        if imp is None or not imp.counts or imp.side != side or not imp.lvns:
            return None
        atr = snap.atr
        entry = snap.last
        if not atr_known(atr) or not math.isfinite(entry):
            return None
        flow = snap.flow
        min_aggr = p.min_aggression / 2.0
        if flow.direction != side or flow.aggression < min_aggr:
            return None

        bar = snap.last_bar
        low, high = (bar.low, bar.high) if bar is not None else (entry, entry)
        lvn, dist = nearest_node(imp.lvns, entry, low, high)  # type: ignore[misc]  (lvns non-empty)
        band = lvn_band(p, atr, entry)
        edge = snap.balance_high if side is Side.BUY else snap.balance_low
        beyond_edge = not math.isfinite(edge) or (entry > edge if side is Side.BUY else entry < edge)
        computed = dist <= band and beyond_edge
        if not (snap.pullback or computed):
            return None

        sign = side.sign
        stop_dist = max(p.atr_stop * atr, band)
        stop = lvn.price - sign * stop_dist
        atr_target = entry + sign * p.atr_target * atr
        extreme = imp.extreme_price
        if sign * (extreme - entry) < sign * (atr_target - entry):
            target, target_kind = extreme, "impulse extreme"
        else:
            target, target_kind = atr_target, f"{p.atr_target:g} ATR"
        if sign * (target - entry) <= 0 or sign * (entry - stop) <= 0:
            return None

        confidence = pullback_confidence(flow.aggression, dist, band)
        how = "pullback" if computed else "analytics pullback"
        reason = (
            f"{snap.state!s}, impulse {imp.side.name} {imp.range_atr:.1f} ATR to {extreme:.2f}, "
            f"{how} to LVN {lvn.price:.2f} ({dist / atr:.2f} ATR away, band {band / atr:.2f} ATR), "
            f"aggression {flow.aggression:.0f} {side.name} >= {min_aggr:.0f}; "
            f"stop {stop_dist / atr:.2f} ATR beyond LVN at {stop:.2f}, "
            f"target {target_kind} at {target:.2f} ({abs(target - entry) / atr:.2f} ATR)"
        )
        key = (side, imp.start_ns, lvn.price)
        return key, build_signal(self.symbol, self.name, side, entry, stop, target, confidence, reason, now_ns)
