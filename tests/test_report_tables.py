"""Sweep and walk-forward tables in a trader's 80-column terminal: values are never
cut to "…"; columns that do not fit are left out and named."""
from __future__ import annotations

import io

from rich.console import Console

from engine.backtest import metrics as M
from engine.backtest.report import Column, fitted_table, sweep_table
from engine.backtest.sweep import SweepRow
from engine.backtest.walkforward import Fold, WalkForward, folds_table

KEYS = ["min_aggression", "atr_stop", "atr_target", "allow_balance_trades"]


def render(table, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(table)
    return buf.getvalue()


def metrics(trades: int, sharpe: float, net: float) -> M.Metrics:
    m = M.Metrics(trades=trades)
    m.sharpe, m.net_pnl, m.profit_factor, m.win_rate, m.expectancy_r, m.max_drawdown_pct = \
        sharpe, net, 2.5, 61.5, 0.412, 3.25
    return m


def sweep_rows() -> list[SweepRow]:
    combos = [dict(zip(KEYS, v)) for v in [(60.0, 1.0, 2.0, False), (70.0, 1.5, 3.0, True), (80.0, 2.0, 4.0, True)]]
    rows = [SweepRow(i, c, metrics(1200 + i, 1.5 - i / 10, -1_234_567.0 + i), 2) for i, c in enumerate(combos)]
    rows.append(SweepRow(-1, {}, metrics(999, 0.9, 12_345.0), 2))
    return rows


def test_sweep_table_at_80_columns_keeps_every_value_whole():
    base = {"min_aggression": 70.0, "atr_stop": 1.5, "atr_target": 3.0, "allow_balance_trades": False}
    out = render(sweep_table(sweep_rows(), "sharpe", min_trades=30, keys=KEYS, base_values=base, width=80), 80)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    row = next(line for line in lines if line.split()[:1] == ["1"])
    assert row.split()[1:5] == ["60", "1", "2", "false"]  # each combination's values, one per key column
    assert row.split()[5] == "1200" and "1.50" in row  # trades and the objective stay
    base_row = next(line for line in lines if line.split()[:1] == ["base"])
    assert base_row.split()[1:5] == ["70", "1.5", "3", "false"]  # the baseline shows its own values
    assert "hidden for this width:" in out and "win %" in out.split("hidden for this width:")[1]


def test_sweep_table_wide_shows_every_column():
    out = render(sweep_table(sweep_rows(), "profit_factor", keys=KEYS, width=200), 200)
    assert "hidden" not in out and "…" not in out
    assert "-1,234,567" in out and "61.5" in out and "0.412" in out


def test_fitted_table_drops_highest_first_and_never_the_protected():
    cols = [Column("keep", ["x" * 30]), Column("a", ["y" * 30], drop=1), Column("b", ["z" * 30], drop=2)]
    out = render(fitted_table("t", cols, width=70), 70)
    assert "x" * 30 in out and "y" * 30 in out and "z" * 30 not in out and "hidden for this width: b" in out
    out = render(fitted_table("t", cols, width=20), 20)  # only the column that must stay is left
    assert "y" * 20 not in out and "z" * 20 not in out and "hidden for this width: a, b" in " ".join(out.split())


def test_folds_table_fits_80_columns_with_dates_and_parameters():
    m = metrics(40, 1.234, 2_345.0)
    folds = [Fold(n, (f"2024-0{n}-01", f"2024-0{n}-20"), (f"2024-0{n}-21", f"2024-0{n}-28"),
                  {"min_aggression": 70.0, "atr_stop": 1.5, "atr_target": 3.0, "allow_balance_trades": True}, m, m)
             for n in (1, 2, 3)]
    wf = WalkForward(folds, "sharpe", [], [], m, 0.8)
    out = render(folds_table(wf, width=80), 80)
    assert "…" not in out and "(2024)" in out
    row = next(line for line in out.splitlines() if line.split()[:1] == ["2"])
    assert row.split()[1:7] == ["02-01..02-20", "02-21..02-28", "70", "1.5", "3", "true"]
    assert "1.234" in row
