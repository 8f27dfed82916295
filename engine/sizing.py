"""Dynamic sizing (STRATEGY.md 14, ``[sizing] dynamic``, off by default): the risk
budget of a trade is equity x risk_per_trade_pct x the product of seven factors,
each clamped to its range, so size leans with the account, the market and the
trader's recent hand without ever straying far from the configured risk.

  equity      account equity / ``reference_equity``                    [0.5, 1.5]
  volatility  mean ATR of the previous 390 bars / ATR now               [0.7, 1.3]
  win_rate    1 + 0.8 x (w - 0.5), w of the last 20 closed trades
              (1.0 under 5 trades)                                      [0.8, 1.2]
  time        1.0 until 15:00 ET, then linear to 0.8 at 16:00 ET         [0.8, 1.0]
  streak      n wins in a row: 1 + 0.1 x min(n, 3); n losses: 1 - 0.1 x min(n, 3)
  strength    0.8 + 0.4 x confidence / 100
  regime      1.0 when the market state agrees with the side, 0.75 in BALANCE,
              0.5 against

A factor whose input is not known (no ATR history yet) is 1.0. Pure: the
RiskManager owns the closed-trade history, the engine hands in the market
(``MarketView``); ``factors`` only computes. Each factor is shown with the
signal (the decision reason names them, and it is stored with the signal).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Optional, Sequence

from .model import MarketState, Side

ATR_BARS = 390  # one regular session of one-minute bars
WIN_RATE_TRADES = 20
WIN_RATE_MIN_TRADES = 5
_POWER_START_S = 15 * 3600
_CLOSE_S = 16 * 3600


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


@dataclass(frozen=True, slots=True)
class MarketView:
    """What the market says about a symbol when a signal is sized."""

    atr: float  # now
    mean_atr: float  # of the previous ATR_BARS bars (NaN while unknown)
    state: MarketState


@dataclass(frozen=True, slots=True)
class SizingFactors:
    equity: float = 1.0
    volatility: float = 1.0
    win_rate: float = 1.0
    time: float = 1.0
    streak: float = 1.0
    strength: float = 1.0
    regime: float = 1.0

    @property
    def product(self) -> float:
        return (self.equity * self.volatility * self.win_rate * self.time * self.streak * self.strength
                * self.regime)

    def text(self) -> str:
        return (f"dynamic size x{self.product:.2f} (equity {self.equity:.2f}, volatility {self.volatility:.2f}, "
                f"win rate {self.win_rate:.2f}, time {self.time:.2f}, streak {self.streak:.2f}, "
                f"strength {self.strength:.2f}, regime {self.regime:.2f})")


def factors(equity: float, reference_equity: float, market: Optional[MarketView], results: Sequence[float],
            et_secs: int, confidence: float, side: Side) -> SizingFactors:
    """The seven factors (see the module). ``results``: net P&L of the closed trades,
    oldest first; ``et_secs``: seconds since midnight ET."""
    eq = _clamp(equity / reference_equity, 0.5, 1.5) if reference_equity > 0 else 1.0
    vol = 1.0
    regime = 1.0
    if market is not None:
        if market.atr > 0 and math.isfinite(market.atr) and market.mean_atr > 0 and math.isfinite(market.mean_atr):
            vol = _clamp(market.mean_atr / market.atr, 0.7, 1.3)
        agrees = MarketState.IMBALANCE_UP if side is Side.BUY else MarketState.IMBALANCE_DOWN
        regime = 1.0 if market.state is agrees else 0.75 if market.state is MarketState.BALANCE else 0.5
    recent = [r for r in results[-WIN_RATE_TRADES:] if r != 0]
    win = 1.0
    if len(results[-WIN_RATE_TRADES:]) >= WIN_RATE_MIN_TRADES:
        w = sum(1 for r in results[-WIN_RATE_TRADES:] if r > 0) / len(results[-WIN_RATE_TRADES:])
        win = _clamp(1.0 + 0.8 * (w - 0.5), 0.8, 1.2)
    streak = 1.0
    if recent:
        last_win = recent[-1] > 0
        n = 0
        for r in reversed(recent):
            if (r > 0) != last_win:
                break
            n += 1
        streak = 1.0 + 0.1 * min(n, 3) if last_win else 1.0 - 0.1 * min(n, 3)
    time_f = 1.0
    if et_secs > _POWER_START_S:
        time_f = _clamp(1.0 - 0.2 * (et_secs - _POWER_START_S) / (_CLOSE_S - _POWER_START_S), 0.8, 1.0)
    strength = 0.8 + 0.4 * _clamp(confidence, 0.0, 100.0) / 100.0
    return SizingFactors(eq, vol, win, time_f, streak, strength, regime)


class AtrHistory:
    """The mean ATR of a symbol's previous ATR_BARS closed bars (O(1) per bar)."""

    __slots__ = ("_vals", "_sum")

    def __init__(self) -> None:
        self._vals: deque[float] = deque(maxlen=ATR_BARS)
        self._sum = 0.0

    @property
    def mean(self) -> float:
        return self._sum / len(self._vals) if self._vals else math.nan

    def add(self, atr: float) -> None:
        if not (atr > 0 and math.isfinite(atr)):
            return
        if len(self._vals) == self._vals.maxlen:
            self._sum -= self._vals[0]
        self._vals.append(atr)
        self._sum += atr
