"""The execution map (STRATEGY.md 14): a setup reads one symbol, the order goes to another.

SPX = "SPY" in ``[execution_map]``: the setups run on SPX's bars; a signal's entry,
stop and target are multiplied by r = SPY last / SPX last at the signal's time and
rounded to SPY's tick, and the signal becomes SPY's (qty is then sized on SPY's
prices by the risk check, the position and its exits are SPY's). The signal's
reason keeps both prices, so the signals pane and the pending row show what the
setup saw and what is sent; the signal also carries them as fields
(``index_symbol``, ``index_entry/stop/target``, ``map_ratio``: stored, in --json),
and each of its orders its own price in the index (``index_price``, set by the
router on what it records and shows: ``with_index``).
"""
from __future__ import annotations

import math
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from .model import Order, Signal, evolve

PROXY_TICK = 0.01  # US stocks and ETFs above $1 trade in cents


def to_tick(price: float, tick: float = PROXY_TICK) -> float:
    """``price`` rounded to the nearest ``tick`` (halves away from zero, in decimal so
    1.005 is 1.01 and not the float's 1.00)."""
    q = Decimal(str(tick))
    return float((Decimal(repr(price)) / q).quantize(Decimal(1), rounding=ROUND_HALF_UP) * q)


def map_ratio(signal_last: float, proxy_last: float) -> Optional[float]:
    """r = proxy last / signal-symbol last; None when either price is not known yet."""
    if not (math.isfinite(signal_last) and math.isfinite(proxy_last)) or signal_last <= 0 or proxy_last <= 0:
        return None
    return proxy_last / signal_last


def translate(sig: Signal, proxy: str, signal_last: float, proxy_last: float,
              tick: float = PROXY_TICK) -> Optional[Signal]:
    """``sig`` (on its own symbol) as the proxy's signal: entry, stop and target x r,
    rounded to ``tick``; the reason names both prices and r. None when r cannot be
    had (no price for one of the two yet): the caller drops the signal with that reason."""
    r = map_ratio(signal_last, proxy_last)
    if r is None:
        return None
    entry, stop, target = (to_tick(x * r, tick) for x in (sig.entry, sig.stop, sig.target))
    risk = abs(entry - stop)
    note = (f"executed on {proxy} (execution_map {sig.symbol} -> {proxy}, r = {proxy_last:.2f}/{signal_last:.2f} "
            f"= {r:.6f}): {sig.symbol} entry {sig.entry:.2f} stop {sig.stop:.2f} target {sig.target:.2f} -> "
            f"{proxy} entry {entry:.2f} stop {stop:.2f} target {target:.2f}")
    tag = f"[{sig.symbol} {sig.entry:.2f} -> {proxy} {entry:.2f}]"  # first, so a cut reason still shows both
    return replace(sig, symbol=proxy, entry=entry, stop=stop, target=target, reason=f"{tag} {sig.reason}; {note}",
                   r_multiple=abs(target - entry) / risk if risk > 0 else 0.0,
                   index_symbol=sig.symbol, index_entry=sig.entry, index_stop=sig.stop, index_target=sig.target,
                   map_ratio=r)


def to_index(price: float, ratio: float) -> float:
    """A proxy price in the index's terms (price / r), on the cent grid (NaN stays NaN)."""
    x = price / ratio
    return to_tick(x) if math.isfinite(x) else math.nan


def index_price(order: Order, sig: Signal) -> Optional[float]:
    """``order``'s price in the index ``sig`` was read on: the price the orders pane
    shows (the fill, else the limit, else the stop) / r; one of the signal's own
    translated prices gives back the setup's exact price. A market order not filled
    yet: the signal's index entry for the entry, None for an exit."""
    r = sig.map_ratio
    if not sig.index_symbol or not r:
        return None
    if order.filled_qty and order.avg_fill_price:
        return to_index(order.avg_fill_price, r)
    price = order.limit_price if order.limit_price is not None else order.stop_price
    if price is None:
        return sig.index_entry if order.leg.value == "entry" else None
    for proxy_price, index in ((sig.entry, sig.index_entry), (sig.stop, sig.index_stop),
                               (sig.target, sig.index_target)):
        if index is not None and abs(price - proxy_price) < 1e-9:
            return index
    return to_index(price, r)


def with_index(order: Order, sig: Signal) -> Order:
    """``order`` (placed for the mapped ``sig``) with its index symbol, price and r."""
    return evolve(order, index_symbol=sig.index_symbol, index_price=index_price(order, sig), map_ratio=sig.map_ratio)
