"""The SMA-cross baseline: a strategy every trader knows, used to sanity-check the
machinery (feed -> setups -> risk -> broker -> metrics) and compared trade by
trade with backtesting.py. It ignores order flow and market state on purpose.

Definitions (1-minute closes of ``snap.last_bar``; one continuous series per
symbol, never reset at session boundaries):

- SMA = simple mean of the last ``sma_period`` (20) closes, this bar included.
- Cross, exactly as ``backtesting.lib.crossover(close, sma)``: long when the
  previous close < previous SMA and this close > this SMA; short on the mirror.
  Touching the SMA (equality) is not a cross; the first possible signal is on
  bar ``sma_period + 1``.
- ATR: Wilder, ``atr_period`` (14) bars. True range TR = max(high - low,
  |high - prev close|, |low - prev close|), the first bar's TR = high - low;
  the first ATR (on bar ``atr_period``) is the mean of the first
  ``atr_period`` TRs, then ATR = (ATR_prev x (n - 1) + TR) / n. No signal
  before ATR exists. ``wilder_atr`` / ``sma`` compute the same series over
  whole arrays for the backtesting.py comparison.
- Bracket from entry (= ``snap.last``): stop ``atr_stop`` (1.5) x ATR, target
  ``atr_target`` (3.0) x ATR.
- Confidence = clamp(50 + 50 x |close - SMA| / ATR, 0, 100): a decisive cross
  scores higher than a graze.

Crosses are events, so no re-arm rule is needed: one bar cannot cross twice.
Bars with a non-finite or non-positive OHLC are skipped and counted in
``skipped_bars``. Cost per bar: a deque append and a 20-float sum.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Optional

import numpy as np

from ..analytics.indicators import WilderATR, atr_array
from ..config import StrategyParams
from ..model import Side, Signal, SymbolSnapshot
from .array_form import BARS, ArraySignals, window_sums
from .auction import BarGate, build_signal


def sma(close: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average; NaN for the first ``period - 1`` values."""
    close = np.asarray(close, dtype=float)
    out = np.full(close.shape, np.nan)
    if len(close) >= period:
        csum = np.cumsum(np.insert(close, 0, 0.0))
        out[period - 1 :] = (csum[period:] - csum[:-period]) / period
    return out


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder ATR over arrays: the analytics' own definition (one implementation)."""
    return atr_array(np.asarray(high, dtype=float), np.asarray(low, dtype=float),
                     np.asarray(close, dtype=float), period)


def sma_cross_array_signals(cols: dict, params: StrategyParams) -> ArraySignals:
    """``SmaCrossSetup.on_bar`` over whole arrays of the bars it is given (the
    in-session bars, in order): the same windows summed left to right, the same
    Wilder ATR, the same NaN-false comparisons, the same bracket arithmetic."""
    high, low = cols["high"], cols["low"]
    c = np.asarray(cols["close"], dtype=float)
    mean = window_sums(c, params.sma_period) / params.sma_period
    atr = wilder_atr(high, low, c, params.atr_period)
    pc = np.concatenate(([np.nan], c[:-1]))
    pm = np.concatenate(([np.nan], mean[:-1]))
    with np.errstate(invalid="ignore"):
        buy = (pc < pm) & (c > mean)
        sell = (pc > pm) & (c < mean)
        idx = np.flatnonzero((buy | sell) & (atr > 0))
    side = np.where(buy[idx], 1, -1).astype(np.int8)
    entry = c[idx]
    sign = side.astype(float)
    a = atr[idx]
    stop = entry - (sign * params.atr_stop) * a
    target = entry + (sign * params.atr_target) * a
    return ArraySignals(idx.astype(np.int64), side, entry, stop, target)


class SmaCrossSetup:
    """Close crosses its SMA: long above, short below, ATR bracket."""

    name = "sma_cross"
    needs: frozenset[str] = frozenset()  # OHLC of snap.last_bar and snap.last only
    array_signals = staticmethod(sma_cross_array_signals)  # the array path's form (engine/strategy/array_form.py)
    array_columns = BARS

    def __init__(self, symbol: str, params: StrategyParams) -> None:
        self.symbol = symbol
        self.params = params
        self._period = params.sma_period
        self._atr_n = params.atr_period
        self._gate = BarGate()
        self._closes: deque[float] = deque(maxlen=self._period)
        self._prev_close = math.nan
        self._prev_sma = math.nan
        # the setup's own ATR series (it sees only the bars it is given), computed by
        # the analytics' WilderATR: one definition of the rule
        self._atr_ind = WilderATR(params.atr_period)
        self.skipped_bars = 0

    @property
    def atr(self) -> float:
        return self._atr_ind.value

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        bar = snap.last_bar
        if bar is None or not self._gate.is_new(snap):
            return None
        h, l, c = bar.high, bar.low, bar.close
        if not (h > 0 and l > 0 and c > 0 and math.isfinite(h) and math.isfinite(l) and math.isfinite(c)):
            self.skipped_bars += 1
            return None

        pc = self._prev_close
        atr = self._atr_ind.update(h, l, c)

        # SMA and the cross
        closes = self._closes
        closes.append(c)
        mean = sum(closes) / self._period if len(closes) == self._period else math.nan
        prev_sma = self._prev_sma
        self._prev_close = c
        self._prev_sma = mean
        if pc < prev_sma and c > mean:
            side = Side.BUY
        elif pc > prev_sma and c < mean:
            side = Side.SELL
        else:
            return None  # includes every NaN comparison (warm-up)
        if atr != atr or atr <= 0:
            return None
        return self._signal(snap, side, c, mean, pc, prev_sma, atr, now_ns)

    def _signal(
        self, snap: SymbolSnapshot, side: Side, close: float, mean: float, pc: float, prev_sma: float,
        atr: float, now_ns: int,
    ) -> Signal:
        p = self.params
        entry = snap.last if math.isfinite(snap.last) else close
        sign = side.sign
        stop = entry - sign * p.atr_stop * atr
        target = entry + sign * p.atr_target * atr
        confidence = 50.0 + 50.0 * abs(close - mean) / atr
        word = "above" if side is Side.BUY else "below"
        reason = (
            f"close {close:.2f} crossed {word} SMA({self._period}) {mean:.2f} "
            f"(prev close {pc:.2f} vs SMA {prev_sma:.2f}), ATR({self._atr_n}) {atr:.4g}; "
            f"stop {p.atr_stop:g} ATR at {stop:.2f}, target {p.atr_target:g} ATR at {target:.2f}"
        )
        return build_signal(self.symbol, self.name, side, entry, stop, target, confidence, reason, now_ns)
