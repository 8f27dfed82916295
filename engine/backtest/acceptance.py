"""Pass or fail, each with the figure behind it (``--acceptance``).

The implementation plan's targets for a setup worth trading, and the tuning
playbook's promotion checklist:

- win rate > 50%;
- average reward:risk > 1.5: the average winning trade over the average losing
  trade, in dollars (what the trades made of their brackets);
- profit factor > 1.5; max drawdown < 10%; Sharpe > 1.0;
- stable across symbols: every symbol with at least ``MIN_SYMBOL_TRADES``
  trades has a profit factor above 1;
- no single-symbol dependency: the other symbols without the best one are
  still net positive with a profit factor above 1 (the best one's share of the
  net is shown beside it);
- out of sample not degraded: a walk-forward's mean out-of-sample objective is
  at least ``MIN_DEGRADATION`` of its in-sample one (a backtest cannot say: n/a).

A check that cannot be decided (one symbol, no losing trade, no walk-forward)
is n/a, never a pass.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

from . import metrics as M
from .breakdown import GroupFigures

MIN_SYMBOL_TRADES = 10
MIN_DEGRADATION = 0.5
TARGETS = {"win_rate": 50.0, "reward_risk": 1.5, "profit_factor": 1.5, "max_drawdown_pct": 10.0, "sharpe": 1.0}


@dataclass(frozen=True)
class Check:
    name: str
    target: str
    figure: str
    passed: Optional[bool]  # None: n/a

    def as_dict(self) -> dict:
        return asdict(self)


def _ok(value: float, good) -> Optional[bool]:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else bool(good(value))


def reward_risk(trades: Sequence[M.TradeRecord]) -> float:
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [-t.pnl for t in trades if t.pnl < 0]
    if not wins or not losses:
        return math.nan
    return float(np.mean(wins) / np.mean(losses))


def acceptance(m: M.Metrics, trades: Sequence[M.TradeRecord], by_symbol: Sequence[GroupFigures],
               degradation: Optional[float] = None) -> list[Check]:
    rr = reward_risk(trades)
    checks = [
        Check("win rate", "> 50%", M.fmt(m.win_rate, "{:.1f}%"), _ok(m.win_rate, lambda v: v > TARGETS["win_rate"])),
        Check("average reward:risk", "> 1.5", M.fmt(rr, "{:.2f}") + " (avg win $ / avg loss $)",
              _ok(rr, lambda v: v > TARGETS["reward_risk"])),
        Check("profit factor", "> 1.5", M.fmt(m.profit_factor, "{:.2f}"),
              _ok(m.profit_factor, lambda v: v > TARGETS["profit_factor"])),
        Check("max drawdown", "< 10%", M.fmt(m.max_drawdown_pct, "{:.2f}%"),
              _ok(m.max_drawdown_pct, lambda v: v < TARGETS["max_drawdown_pct"])),
        Check("Sharpe", "> 1.0", M.fmt(m.sharpe, "{:.2f}"), _ok(m.sharpe, lambda v: v > TARGETS["sharpe"])),
    ]
    counted = [g for g in by_symbol if g.trades >= MIN_SYMBOL_TRADES]
    if len(by_symbol) < 2 or not counted:
        checks.append(Check("stable across symbols", f"PF > 1 on every symbol with >= {MIN_SYMBOL_TRADES} trades",
                            f"{len(by_symbol)} symbol(s) traded, {len(counted)} with enough trades", None))
    else:
        good = [g.key for g in counted if g.profit_factor > 1]
        bad = [f"{g.key} {M.fmt(g.profit_factor, '{:.2f}')}" for g in counted if not g.profit_factor > 1]
        checks.append(Check("stable across symbols", f"PF > 1 on every symbol with >= {MIN_SYMBOL_TRADES} trades",
                            f"{len(good)} of {len(counted)}" + (f"; PF <= 1: {', '.join(bad)}" if bad else ""),
                            not bad))
    total = sum(g.net_pnl for g in by_symbol)
    target = "without the best symbol: net > 0 and PF > 1"
    if len(by_symbol) < 2:
        checks.append(Check("no single-symbol dependency", target, "one symbol traded", None))
    else:
        best = max(by_symbol, key=lambda g: g.net_pnl)
        rest = [t.pnl for t in trades if t.symbol != best.key]
        rest_net, rest_pf = float(sum(rest)), M.profit_factor(rest)
        share = best.net_pnl / total * 100.0 if total > 0 else math.nan
        checks.append(Check("no single-symbol dependency", target,
                            f"best {best.key} ({M.fmt(share, '{:.0f}%')} of net); the rest: net ${rest_net:,.0f}, "
                            f"PF {M.fmt(rest_pf, '{:.2f}')}", bool(rest_net > 0 and rest_pf > 1)))
    if degradation is None:
        checks.append(Check("out of sample not degraded", f"walk-forward OOS / IS >= {MIN_DEGRADATION:g}",
                            "run `cockpit walkforward` to decide", None))
    else:
        checks.append(Check("out of sample not degraded", f"walk-forward OOS / IS >= {MIN_DEGRADATION:g}",
                            M.fmt(degradation, "{:.2f}"), _ok(degradation, lambda v: v >= MIN_DEGRADATION)))
    return checks
