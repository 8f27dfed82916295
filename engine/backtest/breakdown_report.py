"""The breakdown and acceptance tables (rich), fitted to the terminal like the
other result tables (report.fitted_table)."""
from __future__ import annotations

from typing import Optional, Sequence

from . import metrics as M
from .acceptance import Check
from .breakdown import Breakdown, GroupFigures
from .report import Column, fitted_table

GROUPINGS = (("by_symbol", "symbol"), ("by_setup", "setup"), ("by_window", "session window"),
             ("by_state", "market state"))


def group_table(title: str, label: str, groups: Sequence[GroupFigures], width: Optional[int] = None):
    cols = [Column(label, [g.key for g in groups], "left"),
            Column("trades", [str(g.trades) for g in groups]),
            Column("win %", [M.fmt(g.win_rate, "{:.1f}") for g in groups]),
            Column("avg R", [M.fmt(g.avg_r, "{:.2f}") for g in groups], drop=2),
            Column("PF", [M.fmt(g.profit_factor, "{:.2f}") for g in groups]),
            Column("exp. $", [M.fmt(g.expectancy_usd, "{:,.2f}") for g in groups], drop=1),
            Column("net $", [M.fmt(g.net_pnl, "{:,.0f}") for g in groups]),
            Column("% of net", [M.fmt(g.share_of_net_pct, "{:.0f}") for g in groups], drop=3),
            Column("hold\nmin", [M.fmt(g.avg_hold_min, "{:.1f}") for g in groups], drop=4)]
    return fitted_table(title, cols, width)


def breakdown_tables(bd: Breakdown, width: Optional[int] = None, what: str = "") -> list:
    titles = {attr: f"{what}breakdown by {label}" for attr, label in GROUPINGS}
    return [group_table(titles[attr][:1].upper() + titles[attr][1:], label, getattr(bd, attr), width)
            for attr, label in GROUPINGS if getattr(bd, attr)]


def benchmark_line(bd: Breakdown, strategy: M.Metrics) -> str:
    b = bd.benchmark
    if b is None or not b.symbols:
        return "buy-and-hold: no prices to compare with"
    each = ", ".join(f"{s} {M.fmt(r, '{:+.2f}')}%" for s, r in b.symbols.items())
    return (f"buy-and-hold (equal weights, same period): return {M.fmt(b.return_pct, '{:+.2f}')}% "
            f"(net ${b.net_pnl:,.0f}), max drawdown {M.fmt(b.max_drawdown_pct, '{:.2f}')}%, "
            f"Sharpe {M.fmt(b.sharpe, '{:.2f}')} [{each}]; the strategy: return "
            f"{M.fmt(strategy.return_pct, '{:+.2f}')}%, Sharpe {M.fmt(strategy.sharpe, '{:.2f}')}")


def acceptance_table(checks: Sequence[Check], width: Optional[int] = None):
    marks = {True: "PASS", False: "FAIL", None: "n/a"}
    cols = [Column("check", [c.name for c in checks], "left"),
            Column("", [marks[c.passed] for c in checks], "left"),
            Column("target", [c.target for c in checks], "left", drop=1),
            Column("figure", [c.figure for c in checks], "left", wrap=True)]
    passed = sum(c.passed is True for c in checks)
    failed = sum(c.passed is False for c in checks)
    return fitted_table(f"Acceptance: {passed} pass, {failed} fail, {len(checks) - passed - failed} n/a", cols, width)
