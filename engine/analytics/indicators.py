"""Indicators on closed one-minute bars (STRATEGY.md section 3).

- ATR: Wilder's average true range over ``atr_period`` bars. True range of the
  very first bar is high - low (no previous close); afterwards
  ``max(h - l, |h - prev close|, |l - prev close|)``. ATR is NaN until
  ``atr_period`` true ranges exist; the first value is their simple mean, then
  ``atr = (atr * (N - 1) + tr) / N``. The recursion is sequential by nature, so
  the array function loops (over bars, not trades).
- Session VWAP: ``sum(price * size) / sum(size)`` since the session start.
- Momentum: ``(close - close momentum_bars ago) / ATR``; NaN without enough bars,
  or while ATR is NaN or 0.
- Volume ratio: this bar's volume / mean volume of the previous
  ``volume_ratio_bars`` bars. With fewer previous bars the mean of those there
  are is used; with none (or a zero mean) it is NaN.

The incremental classes and the array functions sum in the same order, so they
return bit-identical numbers.
"""
from __future__ import annotations

import sys
from collections import deque

import numpy as np

NAN = float("nan")

if sys.version_info < (3, 12):
    def ordered_sum(values) -> float:
        """``0.0 + x0 + x1 + ...`` left to right, as the loops and array functions here
        sum. Up to Python 3.11 the builtin ``sum`` does exactly that, in C."""
        return sum(values, 0.0)
else:  # 3.12's sum compensates float rounding: a different double, so loop
    def ordered_sum(values) -> float:
        """``0.0 + x0 + x1 + ...`` left to right, as the array functions here sum."""
        s = 0.0
        for x in values:
            s += x
        return s


class WilderATR:
    __slots__ = ("period", "value", "_prev_close", "_seed", "_count")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"atr_period must be >= 1, got {period}")
        self.period = period
        self.value = NAN
        self._prev_close = NAN
        self._seed = 0.0
        self._count = 0

    def update(self, high: float, low: float, close: float) -> float:
        pc = self._prev_close
        tr = high - low
        if pc == pc:  # max(tr, |high - pc|, |low - pc|), each |x| by a sign test (no builtin call: 2 ATRs a bar)
            a = high - pc
            if a < 0.0:
                a = -a
            b = low - pc
            if b < 0.0:
                b = -b
            if a > tr:
                tr = a
            if b > tr:
                tr = b
        self._prev_close = close
        n = self.period
        if self._count < n:
            self._seed += tr
            self._count += 1
            if self._count == n:
                self.value = self._seed / n
        else:
            self.value = (self.value * (n - 1) + tr) / n
        return self.value


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    tr = h - lo
    if tr.size > 1:
        pc = c[:-1]
        tr[1:] = np.maximum(np.maximum(tr[1:], np.abs(h[1:] - pc)), np.abs(lo[1:] - pc))
    return tr


def atr_array(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    tr = true_range(high, low, close).tolist()
    out = np.full(len(tr), np.nan)
    seed = 0.0
    val = NAN
    for i, x in enumerate(tr):
        if i < period:
            seed += x
            if i == period - 1:
                val = seed / period
        else:
            val = (val * (period - 1) + x) / period
        out[i] = val
    return out


class SessionVWAP:
    """Session VWAP from price*volume and volume accumulators."""

    __slots__ = ("pv", "volume")

    def __init__(self) -> None:
        self.pv = 0.0
        self.volume = 0.0

    def add(self, price: float, size: float) -> None:
        self.pv += price * size
        self.volume += size

    def reset(self) -> None:
        self.pv = 0.0
        self.volume = 0.0

    @property
    def value(self) -> float:
        return self.pv / self.volume if self.volume > 0.0 else NAN


def vwap_array(price: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Running VWAP (cumulative, sequential sums) of one session's prints or bars."""
    p = np.asarray(price, dtype=np.float64)
    s = np.asarray(size, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.cumsum(s)
        return np.where(v > 0.0, np.cumsum(p * s) / np.where(v > 0.0, v, 1.0), np.nan)


class Momentum:
    __slots__ = ("bars", "_closes")

    def __init__(self, bars: int) -> None:
        if bars < 1:
            raise ValueError(f"momentum_bars must be >= 1, got {bars}")
        self.bars = bars
        self._closes: deque[float] = deque(maxlen=bars + 1)

    def update(self, close: float, atr: float) -> float:
        c = self._closes
        c.append(close)
        if len(c) <= self.bars or not atr > 0.0:
            return NAN
        return (close - c[0]) / atr


def momentum_array(close: np.ndarray, atr: np.ndarray, bars: int) -> np.ndarray:
    c = np.asarray(close, dtype=np.float64)
    a = np.asarray(atr, dtype=np.float64)
    out = np.full(c.size, np.nan)
    if c.size > bars:
        diff = c[bars:] - c[:-bars]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[bars:] = np.where(a[bars:] > 0.0, diff / np.where(a[bars:] > 0.0, a[bars:], 1.0), np.nan)
    return out


class VolumeRatio:
    __slots__ = ("bars", "_vols")

    def __init__(self, bars: int) -> None:
        if bars < 1:
            raise ValueError(f"volume_ratio_bars must be >= 1, got {bars}")
        self.bars = bars
        self._vols: deque[float] = deque(maxlen=bars)

    def update(self, volume: float) -> float:
        vols = self._vols
        n = len(vols)
        out = NAN
        if n:
            mean = ordered_sum(vols) / n  # oldest first, like the array function
            if mean > 0.0:
                out = volume / mean
        vols.append(volume)
        return out


def volume_ratio_array(volume: np.ndarray, bars: int) -> np.ndarray:
    v = np.asarray(volume, dtype=np.float64)
    n = v.size
    t = np.arange(n)
    cnt = np.minimum(t, bars).astype(np.float64)
    s = np.zeros(n)
    for k in range(bars, 0, -1):  # lag k = bars .. 1: oldest first
        if k >= n:
            continue
        lagged = np.zeros(n)
        lagged[k:] = v[: n - k]
        s = np.where(cnt >= k, s + lagged, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / cnt
        return np.where((cnt > 0) & (mean > 0.0), v / np.where(mean > 0.0, mean, 1.0), np.nan)
