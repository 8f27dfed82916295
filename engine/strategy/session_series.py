"""The running numbers the section-13 setups read (STRATEGY.md 13, "Common"),
kept by each setup from the one-minute bars it is handed.

Why the setups keep them themselves: they are defined on the setup's own bar
series (EMA of closes, sigma of typical prices around VWAP, 5-minute bars built
from the one-minute bars), not on anything the analytics publish, and a setup
fed hand-built bars in a test must compute exactly what it computes live. Cost
per bar: a few float updates (O(1)); no numpy.

Definitions and the choices STRATEGY.md leaves open:

- EMA(n): alpha = 2/(n+1), seeded with the SMA of its first n values, NaN before.
  The EMAs run over the setup's whole bar series (the engine hands setups only
  regular-hours bars); they are not reset at a new session, as on a trader's
  chart: an EMA50 of 5-minute bars reset every morning would not exist before
  14:10.
- Session quantities reset at the first bar of a new session (``snap.bars``, the
  analytics' count of the session's closed bars, goes back to 1 or does not
  grow): VWAP = sum(bar vwap x volume) / sum(volume) over the session's bars
  (the bar's typical price when it carries no VWAP, as bars-only history does),
  which is the analytics' own session VWAP at a bar's close; sigma =
  sqrt(sum(v x (tp - VWAP)^2) / sum(v)) with this VWAP, tp = (high+low+close)/3,
  kept as running sums (sum v, v tp, v tp^2) so it is O(1); the session high and
  low with the bar index that set them; the opening range (bars starting within
  ``orb_range_min`` minutes of the session's first bar).
- RVOL = this bar's volume / mean volume of the previous ``volume_ratio_bars``
  (60) bars (the analytics' VolumeRatio, continuous across sessions).
- 5-minute bars are clock-aligned (start = floor(ts, 5 min)); one closes when its
  fifth minute (:04, :09, ...) is added or when a bar of a later 5 minutes comes.
  Their EMAs (fast, slow) take the 5-minute closes.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Optional

from ..analytics.indicators import VolumeRatio
from ..config import StrategyParams
from ..model import NS_PER_MIN, Bar, SymbolSnapshot

NAN = float("nan")
FIVE_MIN_NS = 5 * NS_PER_MIN


class EMA:
    """Exponential moving average, alpha 2/(n+1), seeded with the SMA of the first n values."""

    __slots__ = ("n", "alpha", "value", "_sum", "_count")

    def __init__(self, n: int) -> None:
        self.n = n
        self.alpha = 2.0 / (n + 1.0)
        self.value = NAN
        self._sum = 0.0
        self._count = 0

    def update(self, x: float) -> float:
        if self._count < self.n:
            self._count += 1
            self._sum += x
            if self._count == self.n:
                self.value = self._sum / self.n
        else:
            self.value += self.alpha * (x - self.value)
        return self.value


@dataclass(frozen=True, slots=True)
class FiveMinuteBar:
    """A closed clock-aligned 5-minute bar and its EMAs (this bar included)."""

    ts_ns: int
    high: float
    low: float
    close: float
    ema_fast: float
    ema_slow: float


class FiveMinuteBars:
    """Builds 5-minute bars from one-minute bars; ``last`` is the last closed one."""

    __slots__ = ("_start", "_high", "_low", "_close", "_fast", "_slow", "last")

    def __init__(self, fast: int, slow: int) -> None:
        self._start = -1
        self._high = self._low = self._close = NAN
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self.last: Optional[FiveMinuteBar] = None

    def add(self, bar: Bar) -> None:
        start = bar.ts_ns - bar.ts_ns % FIVE_MIN_NS
        if self._start >= 0 and start != self._start:
            self._close_bar()
        if self._start < 0:
            self._start, self._high, self._low = start, bar.high, bar.low
        else:
            self._high = max(self._high, bar.high)
            self._low = min(self._low, bar.low)
        self._close = bar.close
        if bar.ts_ns - start >= FIVE_MIN_NS - NS_PER_MIN:  # its fifth minute: complete
            self._close_bar()

    def _close_bar(self) -> None:
        c = self._close
        self.last = FiveMinuteBar(self._start, self._high, self._low, c, self._fast.update(c), self._slow.update(c))
        self._start = -1


class SessionSeries:
    """Everything of STRATEGY.md 13 "Common", updated once per closed bar (see the module)."""

    def __init__(self, params: StrategyParams) -> None:
        self.params = params
        self.ema_fast = EMA(params.ema_fast)
        self.ema_slow = EMA(params.ema_slow)
        self.five = FiveMinuteBars(params.ema_fast, params.ema_slow)
        self._rvol = VolumeRatio(params.volume_ratio_bars)
        self.slow_history: deque[float] = deque(maxlen=params.sigma_fade_slope_bars + 1)
        self.rvol = NAN
        self.fast = self.slow = NAN  # EMAs after this bar
        self.prev_fast = self.prev_slow = NAN  # EMAs after the previous bar
        self.close = self.prev_close = NAN
        self.vwap = self.prev_vwap = NAN
        self.sigma = NAN
        self._last_bars = 0
        self.new_session_count = 0
        self._reset_session(0)

    def _reset_session(self, open_ns: int) -> None:
        self.open_ns = open_ns  # the session's first bar start
        self.index = 0  # this bar's number in the session (1 = first)
        self._v = self._pv = self._vtp = self._vtp2 = 0.0
        self.high = -math.inf
        self.low = math.inf
        self.high_index = self.low_index = 0
        self.range_high = -math.inf  # opening range so far
        self.range_low = math.inf
        self.range_done = False  # a bar after the opening range has been seen
        self.vwap = self.prev_vwap = NAN
        self.prev_close = NAN
        self.sigma = NAN
        self.new_session_count += 1

    def add(self, snap: SymbolSnapshot, bar: Bar) -> None:
        """One closed bar (the snapshot after it: its session bar count)."""
        if snap.bars <= self._last_bars or snap.bars == 1 or self.index == 0:
            self._reset_session(bar.ts_ns)
        else:
            self.prev_close = self.close
            self.prev_vwap = self.vwap
        self._last_bars = snap.bars
        self.index += 1
        h, l, c, v = bar.high, bar.low, bar.close, bar.volume
        self.close = c
        # EMAs (continuous) and their previous values
        self.prev_fast, self.prev_slow = self.fast, self.slow
        self.fast = self.ema_fast.update(c)
        self.slow = self.ema_slow.update(c)
        self.slow_history.append(self.slow)
        self.five.add(bar)
        self.rvol = self._rvol.update(v)
        # session VWAP and sigma
        tp = (h + l + c) / 3.0
        if v > 0.0 and math.isfinite(v):
            price = bar.vwap if bar.vwap == bar.vwap and bar.vwap > 0.0 else tp
            self._v += v
            self._pv += price * v
            self._vtp += tp * v
            self._vtp2 += tp * tp * v
        if self._v > 0.0:
            vw = self._pv / self._v
            var = self._vtp2 / self._v - 2.0 * vw * self._vtp / self._v + vw * vw
            self.vwap = vw
            self.sigma = math.sqrt(var) if var > 0.0 else 0.0
        # session extremes and the opening range
        if h > self.high:
            self.high, self.high_index = h, self.index
        if l < self.low:
            self.low, self.low_index = l, self.index
        if bar.ts_ns < self.open_ns + self.params.orb_range_min * NS_PER_MIN:
            self.range_high = max(self.range_high, h)
            self.range_low = min(self.range_low, l)
        else:
            self.range_done = True

    @property
    def slow_then(self) -> float:
        """EMA slow ``sigma_fade_slope_bars`` bars ago (NaN until known)."""
        hist = self.slow_history
        return hist[0] if len(hist) == hist.maxlen else NAN
