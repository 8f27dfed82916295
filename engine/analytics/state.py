"""Market state (STRATEGY.md section 4) from the rolling reference profile.

With ``distance = |price - POC| / POC * 100``:

- BALANCE if distance < ``balance_poc_pct`` and VAL <= price <= VAH;
- IMBALANCE_UP if momentum > ``momentum_threshold`` and price > VAH;
- IMBALANCE_DOWN if momentum < -``momentum_threshold`` and price < VAL;
- else BALANCE.

Without a reference profile the state is BALANCE and the distance NaN; a NaN
momentum (too few bars, no ATR yet) never makes an imbalance. ``price`` is the
close of the bar just closed.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..config import StrategyParams
from ..model import MarketState, ProfileStats

NAN = float("nan")

STATE_CODES = {MarketState.BALANCE: 0, MarketState.IMBALANCE_UP: 1, MarketState.IMBALANCE_DOWN: -1}
CODE_STATES = {v: k for k, v in STATE_CODES.items()}


def distance_from_poc_pct(price: float, poc: float) -> float:
    return abs(price - poc) / poc * 100.0 if poc > 0.0 else NAN


def market_state(price: float, ref: Optional[ProfileStats], momentum: float, params: StrategyParams) -> tuple[MarketState, float]:
    """(state, distance_from_poc_pct) of one price against a reference profile."""
    if ref is None:
        return MarketState.BALANCE, NAN
    return classify_state(price, ref.poc, ref.vah, ref.val, momentum, params)


def classify_state(price: float, poc: float, vah: float, val: float, momentum: float,
                   params: StrategyParams) -> tuple[MarketState, float]:
    dist = distance_from_poc_pct(price, poc)
    if dist < params.balance_poc_pct and val <= price <= vah:
        return MarketState.BALANCE, dist
    thr = params.momentum_threshold
    if momentum > thr and price > vah:
        return MarketState.IMBALANCE_UP, dist
    if momentum < -thr and price < val:
        return MarketState.IMBALANCE_DOWN, dist
    return MarketState.BALANCE, dist


def state_array(price: np.ndarray, poc: np.ndarray, vah: np.ndarray, val: np.ndarray,
                momentum: np.ndarray, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """(state codes: 0 BALANCE, 1 IMBALANCE_UP, -1 IMBALANCE_DOWN; distance %) per bar.
    NaN POC (no profile) gives BALANCE and a NaN distance."""
    p = np.asarray(price, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(poc > 0.0, np.abs(p - poc) / np.where(poc > 0.0, poc, 1.0) * 100.0, np.nan)
        bal = (dist < params.balance_poc_pct) & (val <= p) & (p <= vah)
        thr = params.momentum_threshold
        up = ~bal & (momentum > thr) & (p > vah)
        dn = ~bal & ~up & (momentum < -thr) & (p < val)
    code = np.zeros(p.size, dtype=np.int8)
    code[up] = 1
    code[dn] = -1
    return code, dist
