"""The Setup protocol. One instance per symbol per setup; it is told about every
closed one-minute bar (with the symbol's snapshot after that bar) and may return
a Signal. Setups keep whatever short history they need themselves; they never
size, never check risk and never talk to a broker.

``needs`` names the analytics the setup reads from the snapshot (the names of
``engine.analytics.needs.NEEDS``: flow, state, profiles, structure, alerts).
A backtest computes only the union of its setups' needs; the live path always
computes everything (the panes show it). A setup without ``needs`` gets
everything. Reading something not declared gives its empty value (NaN, None,
BALANCE, no nodes) in a backtest, so a setup must declare all it reads.

Optional: ``learns_from_history = True`` makes the engine hand the setup the
previous session's bars at start too (indicators that span sessions); nothing it
returns then is acted on. A setup that raises is disabled for that symbol, with
its traceback journaled (engine.Engine._setup_failed); the engine keeps running.
A trader's own setups follow the same API (engine/strategy/plugins.py)."""
from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

from ..config import StrategyParams
from ..model import MarketState, Side, Signal, SymbolSnapshot
from .auction import build_signal

# what a setup of your own needs, in one import (README.md, "Your own setup")
__all__ = ["Setup", "StrategyParams", "Signal", "SymbolSnapshot", "Side", "MarketState", "build_signal"]


@runtime_checkable
class Setup(Protocol):
    name: str
    needs: frozenset[str]

    def __init__(self, symbol: str, params: StrategyParams) -> None: ...

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]: ...
