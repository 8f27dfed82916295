"""What a backtest gives back and the settings it runs with, apart from the
runner: ``BacktestResult``, ``backtest_config``, ``run_params``, the equity
curve as plotted.

Why a module of its own: the array path (arrays.py) and the ``cockpit
backtest`` command need these without the Engine, whose import (the engine's
roles, the paper broker, asyncio) is a good part of a whole command's time;
runner.py imports them from here and re-exports them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..config import CockpitConfig, parse_config
from ..model import NS_PER_MIN, Mode
from . import metrics as M


@dataclass
class BacktestResult:
    params: dict
    metrics: M.Metrics
    trades: list[M.TradeRecord]
    equity_ts: list[int]
    equity: list[float]
    daily: list[tuple[str, float]]  # (session date, closing equity)
    summary: dict
    fingerprint: str = ""
    bars: int = 0
    items: int = 0
    symbols: list[str] = field(default_factory=list)
    bars_in_position: int = 0

    def as_dict(self, with_trades: bool = False) -> dict:
        out = {"params": self.params, "fingerprint": self.fingerprint, "symbols": self.symbols,
               "bars": self.bars, "items": self.items, "metrics": self.metrics.as_dict(),
               "summary": self.summary}
        if with_trades:
            out["trades"] = [t.as_dict() for t in self.trades]
            out["daily"] = [[d, round(e, 2)] for d, e in self.daily]
        return out


# --------------------------------------------------------------------------- configuration


STRATEGY_FLAGS = ("min_aggression", "atr_stop", "atr_target", "allow_balance_trades")
RISK_FLAGS = ("risk_per_trade_pct", "max_positions", "max_daily_loss_pct", "fixed_qty")
BROKER_FLAGS = ("initial_equity", "slippage_bps", "commission_per_share")


def backtest_config(
    base: Optional[CockpitConfig],
    symbols: Sequence[str],
    setup: Optional[str] = None,
    session: Optional[str] = None,
    strategy: Optional[dict] = None,
    risk: Optional[dict] = None,
    broker: Optional[dict] = None,
    execution_map: Optional[dict[str, str]] = None,
) -> CockpitConfig:
    """The config a backtest runs with: ``base`` (cockpit.toml or defaults), AUTO
    mode, the paper broker, the dataset's symbols, and the overrides (the entry
    window is the session's own unless the config sets one, as for a live run).
    The execution map (``execution_map``, else the base's): the entries whose index is
    in the data; their proxies are followed for the orders, not traded on their own."""
    data = (base or CockpitConfig()).model_dump(mode="json")
    mapping = (data.get("execution_map") or {}) if execution_map is None else execution_map
    mapping = {k: p for k, p in mapping.items() if k in symbols}
    data["execution_map"] = mapping
    proxies = set(mapping.values())
    data["app"]["symbols"] = [s for s in symbols if s not in proxies]
    data["app"]["mode"] = Mode.AUTO.value
    data["feed"]["kind"] = "replay"
    data["broker"]["kind"] = "paper"
    data["broker"]["live"] = False
    if session:
        data["feed"]["session"] = session
    strat = dict(strategy or {})
    if setup:
        strat["setups"] = [s.strip() for s in setup.split(",") if s.strip()]
    data["strategy"].update(strat)
    data["risk"].update(risk or {})
    data["broker"].update(broker or {})
    return parse_config(data, "backtest")


SETUP_NEEDS = "setups"  # needs=...: the union of what each symbol's setups read


def run_params(config: CockpitConfig) -> dict:
    """What identifies a run's settings, for the store and the reports."""
    s, r, b = config.strategy, config.risk, config.broker
    out = {"setups": list(s.setups), "session": config.feed.session}
    for k in STRATEGY_FLAGS + ("sma_period", "atr_period"):
        out[k] = getattr(s, k)
    for k in RISK_FLAGS + ("max_position_notional", "trading_start", "trading_end"):
        if hasattr(r, k):
            out[k] = getattr(r, k)
    for k in BROKER_FLAGS:
        out[k] = getattr(b, k)
    return out


def equity_points(res: BacktestResult, initial: float) -> tuple[list[int], list[float]]:
    """The equity curve as plotted: the start, every sample, the end."""
    ts = list(res.equity_ts)
    eq = list(res.equity)
    if ts:
        return [ts[0] - NS_PER_MIN, *ts], [initial, *eq]
    return [], []


def nan_to_none(x: float) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x
