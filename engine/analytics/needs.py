"""The names of what a symbol's analytics can compute, for ``needs``.

A setup declares the names it reads (``Setup.needs``, engine.strategy.base); a
backtest builds each symbol's analytics from the union of its setups' needs
(``engine.strategy.registry.setups_needs``) and the live path from all of them
(None), because its panes show everything. ``SymbolAnalytics`` turns the
resolved set into the parts it is made of; a part not needed is left out (its
snapshot fields keep their empty values: NaN, None, BALANCE, no nodes).

ATR, momentum, the last bar and price and the session counters are always
kept: the engine's exits read ATR, and they cost next to nothing.

  flow      buy/sell volume of bars (BVC), aggression, volume ratio, pressure,
            CVD, VWAP
  sparkline the CVD of every closed bar of the session (FlowView.cvd_history,
            drawn by the flow pane; implies flow)
  state     the rolling profile's POC/VAH/VAL, market state, distance from POC
  profiles  session and previous profiles (balance range), every profile's
            nodes and histogram (without it the rolling ProfileStats carry no
            LVNs/HVNs and no histogram)
  structure impulse legs, pullback (implies profiles: the balance range)
  alerts    LVN alert levels and alerts (implies profiles and structure)
"""
from __future__ import annotations

from typing import Optional

NEEDS = ("flow", "sparkline", "state", "profiles", "structure", "alerts")
NEEDS_ALL = frozenset(NEEDS)
_IMPLIES = {"sparkline": ("flow",), "structure": ("profiles",), "alerts": ("profiles", "structure")}


def resolve_needs(needs: Optional[frozenset[str]]) -> frozenset[str]:
    """``needs`` plus what they imply; None means everything. Unknown names are an error."""
    if needs is None:
        return NEEDS_ALL
    bad = sorted(set(needs) - NEEDS_ALL)
    if bad:
        raise ValueError(f"unknown analytics needs {bad}; allowed: {', '.join(NEEDS)}")
    out = set(needs)
    for k in needs:
        out.update(_IMPLIES.get(k, ()))
    return frozenset(out)
