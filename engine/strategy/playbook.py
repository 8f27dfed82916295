"""What the seven setups of STRATEGY.md section 13 share: the ``sides`` key, the
per-bar plumbing (a repeated bar is ignored, a malformed bar skipped, the
session series updated, each allowed side evaluated) and the ATR bracket.

A setup subclass implements ``evaluate(snap, bar, side) -> Optional[Candidate]``
for the *long* rules written with ``side.sign`` (the short side is the exact
mirror: every price comparison is multiplied by the sign). A Candidate carries
the episode key: the setup fires when the key differs from the one that last
fired for that side, and a bar where no candidate holds re-arms it (see
``RearmLatch``). An event-like setup (a cross) uses the bar's time as its key,
so every event fires.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Optional

from ..config import StrategyParams
from ..model import Bar, Side, Signal, SymbolSnapshot
from .auction import BarGate, RearmLatch, atr_known, build_signal
from .session_series import SessionSeries

SIDES = {"long": (Side.BUY,), "short": (Side.SELL,), "both": (Side.BUY, Side.SELL)}


def sides_of(value: str) -> tuple[Side, ...]:
    """The sides a ``sides`` key allows (long | short | both)."""
    try:
        return SIDES[value]
    except KeyError:
        raise ValueError(f"sides = {value!r} is not valid; allowed: {', '.join(SIDES)}") from None


@dataclass(frozen=True, slots=True)
class Candidate:
    """Every condition holds on this bar for ``side``: the bracket and the reason."""

    key: Hashable
    entry: float
    stop: float
    target: float
    confidence: float
    reason: str


def above(side: Side, a: float, b: float) -> bool:
    """``a > b`` for a long, ``a < b`` for a short (False when either is NaN)."""
    return side.sign * (a - b) > 0.0


def at_or_above(side: Side, a: float, b: float) -> bool:
    return side.sign * (a - b) >= 0.0


def atr_bracket(params: StrategyParams, side: Side, entry: float, atr: float) -> tuple[float, float]:
    """(stop, target) = entry -/+ atr_stop x ATR, entry +/- atr_target x ATR."""
    s = side.sign
    return entry - s * params.atr_stop * atr, entry + s * params.atr_target * atr


def bracket_text(params: StrategyParams, stop: float, target: float, entry: float, atr: float,
                 stop_rule: str = "", target_rule: str = "") -> str:
    stop_rule = stop_rule or f"{params.atr_stop:g} ATR"
    target_rule = target_rule or f"{params.atr_target:g} ATR"
    r = abs(target - entry) / abs(entry - stop) if entry != stop else 0.0
    return f"stop {stop_rule} at {stop:.2f}, target {target_rule} at {target:.2f} ({r:.2f}R)"


class PlaybookSetup:
    """Base of the section-13 setups (see the module)."""

    name = ""
    needs: frozenset[str] = frozenset()  # last bar, ATR, momentum: always kept
    learns_from_history = True  # the engine's warm-up bars seed the EMAs (Engine.warm_up)

    def __init__(self, symbol: str, params: StrategyParams) -> None:
        self.symbol = symbol
        self.params = params
        self.sides = sides_of(getattr(params, f"{self.name}_sides"))
        self.series = SessionSeries(params)
        self._gate = BarGate()
        self._latches = {side: RearmLatch() for side in Side}
        self.skipped_bars = 0

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        bar = snap.last_bar
        if bar is None or not self._gate.is_new(snap):
            return None
        o, h, l, c = bar.open, bar.high, bar.low, bar.close
        if not all(x > 0.0 and math.isfinite(x) for x in (o, h, l, c)) or h < l:
            self.skipped_bars += 1
            return None
        self.series.add(snap, bar)
        self.on_series(snap, bar, now_ns)
        out: Optional[Signal] = None
        for side in Side:
            latch = self._latches[side]
            cand = self.evaluate(snap, bar, side) if side in self.sides and atr_known(snap.atr) else None
            if cand is None:
                latch.lapse()
                continue
            s = side.sign
            if s * (cand.target - cand.entry) <= 0.0 or s * (cand.entry - cand.stop) <= 0.0:
                latch.lapse()  # no room: the bracket is on the wrong side of entry
                continue
            if out is not None or not latch.allow(cand.key):
                continue
            latch.fired(cand.key)
            self.fired(side, now_ns)
            out = build_signal(self.symbol, self.name, side, cand.entry, cand.stop, cand.target,
                               cand.confidence, cand.reason, now_ns)
        return out

    # ------------------------------------------------------------------ for subclasses

    def on_series(self, snap: SymbolSnapshot, bar: Bar, now_ns: int) -> None:
        """Called once per bar after the series moved (before any side is evaluated)."""

    def evaluate(self, snap: SymbolSnapshot, bar: Bar, side: Side) -> Optional[Candidate]:
        raise NotImplementedError

    def fired(self, side: Side, now_ns: int) -> None:
        """A signal of ``side`` goes out on this bar."""

    @staticmethod
    def entry(snap: SymbolSnapshot, bar: Bar) -> float:
        return snap.last if math.isfinite(snap.last) and snap.last > 0 else bar.close
