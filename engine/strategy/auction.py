"""The auction setup (STRATEGY.md section 9, the baseline), plus the few helpers
every setup shares: building a Signal and a re-arm latch.

Auction trades *with* an imbalance when order flow confirms it:

- state IMBALANCE_UP (long) or IMBALANCE_DOWN (short); or, only when
  ``allow_balance_trades``, BALANCE with aggression >= ``balance_min_aggression``
  (80), the side taken from the aggression direction;
- aggression >= ``min_aggression`` (70) and its direction equal to the side;
- ATR known (finite and > 0).

Bracket: stop = ``atr_stop`` (1.5) x ATR, target = ``atr_target`` (3.0) x ATR
from entry (= ``snap.last``).

Confidence = clamp(0.7 x aggression + 15 x min(|momentum|, 2), 0, 100): flow
decides most of it, and up to 30 points come from how far price has already
moved (momentum in ATR units, saturating at 2 ATR).

Re-arm rule: one signal per *episode*. An episode is an unbroken run of bars on
which every condition holds for the same side. The setup fires on the first
bar of an episode and stays quiet until a bar where the conditions lapse (any
of them), or until they hold for the other side (a new episode). So a long
imbalance with steady aggression yields one signal, not one per bar; the
engine additionally drops signals for a symbol that has one pending or open.
"""
from __future__ import annotations

import math
from typing import Hashable, Optional

import numpy as np

from ..config import StrategyParams
from ..model import MarketState, Side, Signal, SymbolSnapshot
from .array_form import ANALYTICS, ArraySignals, episode_starts


def atr_known(atr: float) -> bool:
    """ATR is usable for a bracket: a finite positive number."""
    return atr > 0.0 and math.isfinite(atr)


def clamp_confidence(value: float) -> float:
    """Confidence is a 0-100 score, rounded to one decimal for display."""
    return round(min(100.0, max(0.0, value)), 1)


def build_signal(
    symbol: str,
    setup: str,
    side: Side,
    entry: float,
    stop: float,
    target: float,
    confidence: float,
    reason: str,
    now_ns: int,
) -> Signal:
    """One Signal with the deterministic id ``{symbol}-{setup}-{now_ns}`` (a setup
    fires at most once per closed bar, so the id is unique) and its reward/risk."""
    risk = abs(entry - stop)
    # positionally, in Signal's field order (id ... created_ns): every signal of every setup is built here
    return Signal(f"{symbol}-{setup}-{now_ns}", symbol, setup, side, entry, stop, target,
                  clamp_confidence(confidence), reason, now_ns,
                  r_multiple=abs(target - entry) / risk if risk > 0 else 0.0)


class RearmLatch:
    """Fire once per episode: an episode is identified by a key (a side, or a
    side plus the level traded); ``allow(key)`` is True only when the key differs
    from the one that last fired; ``lapse()`` (conditions failed on a bar) re-arms."""

    __slots__ = ("_fired",)

    def __init__(self) -> None:
        self._fired: Optional[Hashable] = None

    def allow(self, key: Hashable) -> bool:
        return key != self._fired

    def fired(self, key: Hashable) -> None:
        self._fired = key

    def lapse(self) -> None:
        self._fired = None


class BarGate:
    """Ignores a repeated call for a bar already seen (the same closed bar handed
    over twice must not advance a setup's history twice)."""

    __slots__ = ("_last_ns",)

    def __init__(self) -> None:
        self._last_ns: Optional[int] = None

    def is_new(self, snap: SymbolSnapshot) -> bool:
        bar = snap.last_bar
        ts = bar.ts_ns if bar is not None else snap.ts_ns
        if self._last_ns is not None and ts <= self._last_ns:
            return False
        self._last_ns = ts
        return True


_STATE_SIDE = {MarketState.IMBALANCE_UP: Side.BUY, MarketState.IMBALANCE_DOWN: Side.SELL}


def auction_array_signals(cols: dict, params: StrategyParams) -> ArraySignals:
    """``AuctionSetup.on_bar`` over the analytics columns of the in-session bars
    (state 1/-1/0, aggression, direction +1/-1, atr, close = snap.last): the same
    conditions bar by bar, the re-arm latch as episode starts, the same bracket."""
    p = params
    agg, direction = cols["aggression"], cols["direction"].astype(np.int64)
    state, atr, last = cols["state"].astype(np.int64), cols["atr"], cols["close"]
    with np.errstate(invalid="ignore"):
        ok = ~(agg < p.min_aggression) & (atr > 0.0) & np.isfinite(atr) & np.isfinite(last)
        balance = state == 0
        side = np.where(balance, direction, state)
        if p.allow_balance_trades:
            ok &= ~balance | ~(agg < p.balance_min_aggression)
        else:
            ok &= ~balance
        ok &= direction == side
    side = np.where(ok, side, 0)
    idx = episode_starts(side)
    sd = side[idx].astype(np.int8)
    entry = np.asarray(last, dtype=float)[idx]
    sign = sd.astype(float)
    a = atr[idx]
    return ArraySignals(idx.astype(np.int64), sd, entry, entry - (sign * p.atr_stop) * a,
                        entry + (sign * p.atr_target) * a)


class AuctionSetup:
    """Baseline: trade with an imbalance confirmed by aggressive flow."""

    name = "auction"
    needs = frozenset({"flow", "state"})  # aggression/direction, state, momentum, ATR
    array_signals = staticmethod(auction_array_signals)  # the array path's form (engine/strategy/array_form.py)
    array_columns = ANALYTICS

    def __init__(self, symbol: str, params: StrategyParams) -> None:
        self.symbol = symbol
        self.params = params
        self._latch = RearmLatch()
        self._gate = BarGate()

    def _side(self, snap: SymbolSnapshot) -> Optional[Side]:
        """The side every condition agrees on, or None when one fails."""
        p = self.params
        flow = snap.flow
        aggression = flow.aggression
        if aggression < p.min_aggression or flow.direction is None:
            return None
        side = _STATE_SIDE.get(snap.state)
        if side is None:  # BALANCE
            if not p.allow_balance_trades or aggression < p.balance_min_aggression:
                return None
            side = flow.direction
        if flow.direction != side:
            return None
        if not atr_known(snap.atr) or not math.isfinite(snap.last):
            return None
        return side

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        if not self._gate.is_new(snap):
            return None
        side = self._side(snap)
        if side is None:
            self._latch.lapse()
            return None
        if not self._latch.allow(side):
            return None
        self._latch.fired(side)

        p = self.params
        atr = snap.atr
        entry = snap.last
        sign = side.sign
        stop = entry - sign * p.atr_stop * atr
        target = entry + sign * p.atr_target * atr
        aggression = snap.flow.aggression
        floor = p.balance_min_aggression if snap.state == MarketState.BALANCE else p.min_aggression
        mom = snap.momentum if math.isfinite(snap.momentum) else 0.0
        confidence = 0.7 * aggression + 15.0 * min(abs(mom), 2.0)
        reason = (
            f"{snap.state!s}, aggression {aggression:.0f} {side.name} >= {floor:.0f}, "
            f"momentum {mom:.2f} ATR, ATR {atr:.4g}; "
            f"stop {p.atr_stop:g} ATR at {stop:.2f}, target {p.atr_target:g} ATR at {target:.2f}"
        )
        return build_signal(self.symbol, self.name, side, entry, stop, target, confidence, reason, now_ns)
