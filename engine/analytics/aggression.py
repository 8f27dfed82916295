"""Aggression score 0-100 and direction (STRATEGY.md section 5).

Over the last ``flow_lookback`` closed bars (fewer at the start: those there are):

- +30 if the last bar's volume ratio > ``volume_spike``;
- +40 if ``|CVD change| / (k x mean bar volume) > cvd_momentum``, where CVD change
  is the sum of the bars' deltas, the mean bar volume is the mean volume of those
  bars and k is how many there are (``flow_lookback`` once the window is full),
  i.e. the net delta over the window as a fraction of the window's volume;
- +30 if the dominant side's pressure (max of buy and sell pressure) on the last
  bar > ``pressure_threshold``;
- direction BUY if CVD change > 0 else SELL (None with no bars); capped at 100.

The CVD change is a sum of bar deltas, so it is defined across a session reset
as well (the CVD level resets, the flow of the last minutes does not).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..config import StrategyParams
from ..model import Side

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class AggressionResult:
    score: float
    direction: Optional[Side]
    cvd_change: float
    volume_ratio: float
    pressure: float  # dominant side's pressure on the last bar (NaN if unknown)


def score(cvd_change: float, window_volume: float, volume_ratio: float, dominant_pressure: float,
          params: StrategyParams) -> float:
    s = 0.0
    if volume_ratio > params.volume_spike:
        s += 30.0
    if window_volume > 0.0 and abs(cvd_change) / window_volume > params.cvd_momentum:
        s += 40.0
    if dominant_pressure > params.pressure_threshold:
        s += 30.0
    return min(s, 100.0)


class AggressionTracker:
    """Keeps the last ``flow_lookback`` bars' (delta, volume) and scores them."""

    __slots__ = ("params", "_bars")

    def __init__(self, params: StrategyParams) -> None:
        self.params = params
        self._bars: deque[tuple[float, float]] = deque(maxlen=params.flow_lookback)

    def update(self, delta: float, volume: float, volume_ratio: float, buy: float, sell: float) -> AggressionResult:
        bars = self._bars
        bars.append((delta, volume))
        cvd = 0.0
        vol = 0.0
        for d, v in bars:  # oldest first, like the array function
            cvd += d
            vol += v
        k = len(bars)
        mean = vol / k
        tot = buy + sell
        dom = 100.0 * max(buy, sell) / tot if tot > 0.0 else NAN
        sc = score(cvd, k * mean, volume_ratio, dom, self.params)
        return AggressionResult(sc, Side.BUY if cvd > 0.0 else Side.SELL, cvd, volume_ratio, dom)


def aggression_array(delta: np.ndarray, volume: np.ndarray, volume_ratio: np.ndarray,
                     buy: np.ndarray, sell: np.ndarray, params: StrategyParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, direction +1/-1, cvd_change) per bar; the same numbers as AggressionTracker."""
    d = np.asarray(delta, dtype=np.float64)
    v = np.asarray(volume, dtype=np.float64)
    n = d.size
    L = params.flow_lookback
    t = np.arange(n)
    k = np.minimum(t + 1, L).astype(np.float64)
    cvd = np.zeros(n)
    vol = np.zeros(n)
    for lag in range(L - 1, -1, -1):  # oldest first
        if lag >= n:
            continue
        ld = np.zeros(n)
        lv = np.zeros(n)
        ld[lag:] = d[: n - lag]
        lv[lag:] = v[: n - lag]
        m = k > lag
        cvd = np.where(m, cvd + ld, cvd)
        vol = np.where(m, vol + lv, vol)
    mean = vol / k
    wv = k * mean
    b = np.asarray(buy, dtype=np.float64)
    s = np.asarray(sell, dtype=np.float64)
    tot = b + s
    with np.errstate(invalid="ignore", divide="ignore"):
        dom = np.where(tot > 0.0, 100.0 * np.maximum(b, s) / np.where(tot > 0.0, tot, 1.0), np.nan)
        sc = np.zeros(n)
        sc += np.where(np.asarray(volume_ratio) > params.volume_spike, 30.0, 0.0)
        sc += np.where((wv > 0.0) & (np.abs(cvd) / np.where(wv > 0.0, wv, 1.0) > params.cvd_momentum), 40.0, 0.0)
        sc += np.where(dom > params.pressure_threshold, 30.0, 0.0)
    direction = np.where(cvd > 0.0, 1, -1).astype(np.int8)
    return np.minimum(sc, 100.0), direction, cvd
