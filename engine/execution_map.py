"""The execution map (STRATEGY.md 14): a setup reads one symbol, the order goes to another.

SPX = "SPY" in ``[execution_map]``: the setups run on SPX's bars; a signal's entry,
stop and target are multiplied by r = SPY last / SPX last at the signal's time and
rounded to SPY's tick, and the signal becomes SPY's (qty is then sized on SPY's
prices by the risk check, the position and its exits are SPY's). The signal's
reason keeps both prices, so the signals pane and the pending row show what the
setup saw and what is sent.
"""
from __future__ import annotations

import math
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from .model import Signal

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
                   r_multiple=abs(target - entry) / risk if risk > 0 else 0.0)
