"""Trade classification and order-flow numbers (STRATEGY.md section 1).

Who was the aggressor of a trade? In order of trust:

1. the true side, when the feed knows it (``Trade.side != 0``);
2. Lee-Ready, when the prevailing quote is known: above the midpoint is a buy,
   below a sell, exactly at the midpoint falls back to the tick rule;
3. the tick rule: a price above the previous *different* price is a buy, below
   it a sell, an unchanged price keeps the direction of the last price change
   (the zero-tick rule).

Before the first price change the tick rule knows nothing: such a trade is
classified 0 (unknown). Its volume counts in the bar's volume but in neither
buy nor sell volume, so ``buy + sell <= volume`` and pressure uses ``buy + sell``.
The tick state always follows the trade prices, whichever rule classified a
trade, so the incremental classifier and the array functions agree trade by trade.

A quote is usable when bid and ask are finite, positive and ``bid <= ask``;
otherwise the trade is treated as having no quote. A trade that carries no
quote (``bid`` None) is classified against the prevailing quote, the last
usable one given to ``TradeClassifier.set_quote`` (a live quote stream); an
unusable quote clears it.

``TradeClassifier`` is the one incremental classifier: the live analytics
(``SymbolAnalytics.on_trade``) and the importers (``trades_to_candles``) both
call it, so a trade is classified the same way whichever path it takes.

Bars without trades (history) get bulk volume classification: the buy fraction
of a bar is ``Phi(dP / sigma_dP)``.  ``dP`` is the bar's close-to-close change,
``sigma_dP`` the sample standard deviation (ddof=1) of the last ``bvc_window``
changes including this one. While fewer than ``bvc_window`` changes exist, the
standard deviation of all changes so far is used once there are at least 2; with
fewer than 2 changes (the first two bars) the buy fraction is 0.5. A zero sigma
gives 1.0 / 0.0 / 0.5 by the sign of ``dP``. Sell volume is ``volume - buy``.

The incremental code and the numpy functions perform the same floating point
operations in the same order, so they give bit-identical results; the parity
tests rely on it.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Optional

import numpy as np

from .indicators import ordered_sum

_SQRT2 = math.sqrt(2.0)
_INF = float("inf")
NAN = float("nan")


# --------------------------------------------------------------------------- per trade


class TradeClassifier:
    """Incremental aggressor classification, one trade at a time (O(1)).

    Owns the tick-rule state (the previous trade price and the direction of the
    last price change) and the prevailing quote."""

    __slots__ = ("last_price", "tick_side", "bid", "ask")

    def __init__(self) -> None:
        self.last_price = NAN  # previous trade price (NaN before the first trade)
        self.tick_side = 0  # direction of the last price change, 0 before any change
        self.bid: Optional[float] = None  # prevailing quote (None: none usable)
        self.ask: Optional[float] = None

    def set_quote(self, bid: float, ask: float) -> None:
        """The prevailing quote, for trades that carry none; an unusable one clears it."""
        if 0.0 < bid <= ask < _INF:
            self.bid, self.ask = bid, ask
        else:
            self.bid = self.ask = None

    def classify(self, price: float, side: int = 0, bid: Optional[float] = None, ask: Optional[float] = None) -> int:
        """+1 buy, -1 sell, 0 unknown. Updates the tick state with ``price``.
        ``bid`` None: the prevailing quote (if any) stands for the trade's own."""
        last = self.last_price
        if price > last:
            tick = self.tick_side = 1
        elif price < last:
            tick = self.tick_side = -1
        else:
            tick = self.tick_side
        self.last_price = price
        if side:
            return 1 if side > 0 else -1
        if bid is None:
            bid = self.bid
            ask = self.ask
        if bid is not None and ask is not None and 0.0 < bid <= ask < _INF:
            mid = (bid + ask) * 0.5
            if price > mid:
                return 1
            if price < mid:
                return -1
        return tick


def tick_rule(prices: np.ndarray) -> np.ndarray:
    """Tick-rule side (+1/-1, 0 before the first price change) of each trade."""
    p = np.asarray(prices, dtype=np.float64)
    n = p.size
    out = np.zeros(n, dtype=np.int8)
    if n < 2:
        return out
    d = np.sign(np.diff(p)).astype(np.int8)
    tick = np.zeros(n, dtype=np.int8)
    tick[1:] = d
    # forward fill the last non-zero change over zero ticks
    idx = np.where(tick != 0, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    return tick[idx]  # tick[0] is 0: trades before any change stay unknown


def _valid_quote(bids: np.ndarray, asks: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(bids) & np.isfinite(asks) & (bids > 0.0) & (bids <= asks)


def lee_ready(prices: np.ndarray, bids: np.ndarray, asks: np.ndarray) -> np.ndarray:
    """Lee-Ready side of each trade; NaN quotes (or unusable ones) fall back to the tick rule."""
    p = np.asarray(prices, dtype=np.float64)
    b = np.asarray(bids, dtype=np.float64)
    a = np.asarray(asks, dtype=np.float64)
    out = tick_rule(p)
    ok = _valid_quote(b, a)
    mid = (b + a) * 0.5
    with np.errstate(invalid="ignore"):
        out[ok & (p > mid)] = 1
        out[ok & (p < mid)] = -1
    return out


def classify_arrays(
    prices: np.ndarray,
    sides: Optional[np.ndarray] = None,
    bids: Optional[np.ndarray] = None,
    asks: Optional[np.ndarray] = None,
) -> np.ndarray:
    """The full rule of this module over arrays: true side, else Lee-Ready, else tick."""
    p = np.asarray(prices, dtype=np.float64)
    if bids is not None and asks is not None:
        out = lee_ready(p, bids, asks)
    else:
        out = tick_rule(p)
    if sides is not None:
        s = np.sign(np.asarray(sides)).astype(np.int8)
        out = np.where(s != 0, s, out).astype(np.int8)
    return out


# --------------------------------------------------------------------------- pressure


def buy_pressure(buy: float, sell: float) -> float:
    """100 * buy / (buy + sell); NaN when there is no classified volume."""
    tot = buy + sell
    return 100.0 * buy / tot if tot > 0.0 else NAN


def pressure_ratio(buy: float, sell: float) -> float:
    """buy / sell, inf-safe: ``inf`` when sell is 0 and buy > 0, NaN when both are 0."""
    if sell > 0.0:
        return buy / sell
    return _INF if buy > 0.0 else NAN


def pressure(buy: float, sell: float) -> tuple[float, float, float]:
    """(buy_pressure, sell_pressure, pressure_ratio) of one bar."""
    bp = buy_pressure(buy, sell)
    return bp, 100.0 - bp, pressure_ratio(buy, sell)


def pressure_arrays(buy: np.ndarray, sell: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    buy = np.asarray(buy, dtype=np.float64)
    sell = np.asarray(sell, dtype=np.float64)
    tot = buy + sell
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(tot > 0.0, 100.0 * buy / tot, np.nan)
        ratio = np.where(sell > 0.0, buy / sell, np.where(buy > 0.0, np.inf, np.nan))
    return bp, 100.0 - bp, ratio


# --------------------------------------------------------------------------- bulk volume classification


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def _bvc_fraction(dp: float, sigma: float) -> float:
    if sigma > 0.0:
        return 0.5 * (1.0 + math.erf((dp / sigma) / _SQRT2))
    return 1.0 if dp > 0.0 else (0.0 if dp < 0.0 else 0.5)


def window_std(values) -> float:
    """Sample std (ddof=1) by the two-pass formula, summing in order (oldest first)."""
    n = len(values)
    mean = ordered_sum(values) / n
    q = 0.0
    for x in values:
        d = x - mean
        q += d * d
    return math.sqrt(q / (n - 1))


class BulkVolumeClassifier:
    """Incremental BVC: feed every bar's close (in order), get its buy fraction."""

    __slots__ = ("window", "_changes", "_prev_close")

    def __init__(self, window: int) -> None:
        if window < 2:
            raise ValueError(f"bvc_window must be >= 2, got {window}")
        self.window = window
        self._changes: deque[float] = deque(maxlen=window)
        self._prev_close = NAN

    def push(self, close: float) -> None:
        """Record a bar's close (every bar, so the change series has no holes)."""
        prev = self._prev_close
        self._prev_close = close
        if prev == prev:
            self._changes.append(close - prev)
        else:  # first bar: no change known
            self._changes.clear()

    def fraction(self) -> float:
        """Buy fraction of the bar whose close was pushed last."""
        ch = self._changes
        if len(ch) < 2:
            return 0.5
        return _bvc_fraction(ch[-1], window_std(ch))

    def buy_fraction(self, close: float) -> float:
        self.push(close)
        return self.fraction()

    def split(self, close: float, volume: float) -> tuple[float, float]:
        """(buy_volume, sell_volume) of a bar."""
        buy = volume * self.buy_fraction(close)
        return buy, volume - buy


def bvc_buy_fraction(closes: np.ndarray, window: int) -> np.ndarray:
    """Buy fraction of every bar from its close series (numpy; same numbers as
    ``BulkVolumeClassifier``)."""
    if window < 2:
        raise ValueError(f"bvc_window must be >= 2, got {window}")
    c = np.asarray(closes, dtype=np.float64)
    n = c.size
    frac = np.full(n, 0.5)
    if n < 3:
        return frac
    dp = np.empty(n)
    dp[0] = np.nan
    dp[1:] = c[1:] - c[:-1]
    # number of changes in the window ending at bar t (bar t has change index t)
    t = np.arange(n)
    cnt = np.minimum(t, window).astype(np.float64)
    # window sums oldest first, exactly as the incremental deque loop does
    s = np.zeros(n)
    for k in range(window - 1, -1, -1):  # k = lag; oldest (largest lag) first
        if k >= n:
            continue
        lagged = np.zeros(n)
        lagged[k:] = dp[: n - k] if k else dp
        valid = (t - k) >= 1
        lagged[~valid] = 0.0
        s = np.where(valid & (cnt > k), s + lagged, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / cnt
    q = np.zeros(n)
    for k in range(window - 1, -1, -1):
        if k >= n:
            continue
        lagged = np.zeros(n)
        lagged[k:] = dp[: n - k] if k else dp
        valid = ((t - k) >= 1) & (cnt > k)
        d = lagged - mean
        q = np.where(valid, q + d * d, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(q / (cnt - 1.0))
    erf = np.frompyfunc(math.erf, 1, 1)
    ok = cnt >= 2
    pos = ok & (sigma > 0.0)
    z = np.zeros(n)
    z[pos] = (dp[pos] / sigma[pos]) / _SQRT2
    frac[pos] = 0.5 * (1.0 + erf(z[pos]).astype(np.float64))
    flat = ok & ~(sigma > 0.0)
    frac[flat & (dp > 0.0)] = 1.0
    frac[flat & (dp < 0.0)] = 0.0
    frac[flat & (dp == 0.0)] = 0.5
    return frac


def bvc_split(closes: np.ndarray, volumes: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(buy_volume, sell_volume) arrays by bulk volume classification."""
    v = np.asarray(volumes, dtype=np.float64)
    buy = v * bvc_buy_fraction(closes, window)
    return buy, v - buy
