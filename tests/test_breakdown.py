"""Breakdowns (per symbol, setup, session window, market state; buy-and-hold),
acceptance checks, and the PNG chart's declared extra."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from cockpit.cli import main
from engine.backtest import metrics as M
from engine.backtest.acceptance import acceptance
from engine.backtest.breakdown import backtest_breakdown, buy_and_hold, group_figures
from engine.backtest.data import Dataset, load_dataset
from engine.backtest.report import write_plot
from engine.backtest.runner import backtest_config, run_backtest
from engine.config import ConfigError
from engine.feeds.loaders import BarsArrays

pytestmark = pytest.mark.usefixtures("synthetic_cache")
MIN = 60 * 10**9
T0 = 1_709_649_000 * 10**9  # 2024-03-05 09:30 ET


def trade(symbol: str, pnl: float, setup: str = "auction", risk: float = 100.0, at: int = T0 + 30 * MIN) -> M.TradeRecord:
    return M.TradeRecord(symbol, "long", 10, at, at + 5 * MIN, 100.0, 100.0 + pnl / 10, pnl, 0.0, risk, "exit", setup)


def test_groups_add_up_and_name_their_share():
    trades = [trade("SPY", 300), trade("SPY", -100), trade("QQQ", 200, "trend_model"), trade("QQQ", -300, "trend_model")]
    by_symbol = {g.key: g for g in group_figures(trades, lambda t: t.symbol)}
    assert (by_symbol["SPY"].trades, by_symbol["SPY"].net_pnl, by_symbol["SPY"].win_rate) == (2, 200.0, 50.0)
    assert by_symbol["SPY"].profit_factor == 3.0 and by_symbol["SPY"].avg_r == pytest.approx(1.0)
    assert by_symbol["QQQ"].profit_factor == pytest.approx(2 / 3)
    assert by_symbol["SPY"].share_of_net_pct == pytest.approx(200.0)  # of a $100 total: QQQ gave back half
    assert by_symbol["QQQ"].share_of_net_pct == pytest.approx(-100.0)
    assert [g.key for g in group_figures(trades, lambda t: t.setup)] == ["auction", "trend_model"]
    even = [trade("SPY", 100), trade("QQQ", -100)]
    assert math.isnan(group_figures(even, lambda t: t.symbol)[0].share_of_net_pct)  # no total to share


def test_a_real_backtest_breaks_down_exactly_and_beats_or_not_buy_and_hold():
    ds = load_dataset(["synthetic:SPY,QQQ:3:7"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    res = run_backtest(cfg, ds)
    bd = backtest_breakdown(res.trades, ds, cfg)
    n = len(res.trades)
    assert n > 0
    for groups in (bd.by_symbol, bd.by_setup, bd.by_window, bd.by_state):
        assert sum(g.trades for g in groups) == n
        assert sum(g.net_pnl for g in groups) == pytest.approx(sum(t.pnl for t in res.trades))
    # the auction setup trades imbalance only (allow_balance_trades is off): the state of each
    # signal bar, as the engine saw it, is never BALANCE
    assert {g.key for g in bd.by_state} <= {"IMBALANCE_UP", "IMBALANCE_DOWN"}
    assert {g.key for g in bd.by_window} <= {"09:30-11:00", "11:00-14:00", "14:00-16:00"}
    assert set(bd.benchmark.symbols) == {"SPY", "QQQ"} and bd.benchmark.days == 3


def test_buy_and_hold_splits_the_equity_and_marks_each_close():
    ts = np.array([T0, T0 + MIN, T0 + 86_400 * 10**9, T0 + 86_400 * 10**9 + MIN], dtype=np.int64)

    def bars(closes):
        c = np.asarray(closes, dtype=float)
        return BarsArrays(ts, c, c, c, c, np.full(4, 100.0))

    ds = Dataset("bars", {"A": bars([100, 110, 90, 120]), "B": bars([50, 50, 50, 25])})
    cfg = backtest_config(None, ["A", "B"], setup="auction")
    b = buy_and_hold(ds, cfg)
    assert b.symbols == {"A": pytest.approx(20.0), "B": pytest.approx(-50.0)}
    # 50,000 in each: day 1 closes at A 110, B 50 -> 105,000; day 2 at A 120, B 25 -> 85,000
    assert b.days == 2 and b.net_pnl == pytest.approx(-15_000.0) and b.return_pct == pytest.approx(-15.0)
    assert b.max_drawdown_pct == pytest.approx((105_000 - 85_000) / 105_000 * 100)


def test_acceptance_names_the_figure_behind_each_check():
    trades = [trade("SPY", 300)] * 12 + [trade("SPY", -100)] * 8 + [trade("QQQ", 50)] * 10 + [trade("QQQ", -100)] * 10
    m = M.Metrics(trades=40, win_rate=55.0, profit_factor=1.6, max_drawdown_pct=12.0, sharpe=1.4)
    by_symbol = group_figures(trades, lambda t: t.symbol)
    checks = {c.name: c for c in acceptance(m, trades, by_symbol, degradation=0.4)}
    assert checks["win rate"].passed and checks["win rate"].figure == "55.0%"
    # (12 x 300 + 10 x 50) / 22 winners over 1,800 / 18 losers
    assert checks["average reward:risk"].passed and checks["average reward:risk"].figure.startswith("1.86")
    assert checks["max drawdown"].passed is False and checks["max drawdown"].figure == "12.00%"
    assert checks["stable across symbols"].passed is False and "QQQ 0.50" in checks["stable across symbols"].figure
    assert checks["no single-symbol dependency"].passed is False  # without SPY: net -$500
    assert checks["out of sample not degraded"].passed is False and checks["out of sample not degraded"].figure == "0.40"
    assert acceptance(m, trades, by_symbol)[-1].passed is None  # a backtest cannot say


def test_cli_backtest_json_has_breakdown_and_acceptance(capsys):
    rc = main(["backtest", "--data", "synthetic:SPY,QQQ:2:5", "--no-store", "--json", "--acceptance"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert sum(g["trades"] for g in out["breakdown"]["by_symbol"]) == out["metrics"]["trades"]
    assert out["breakdown"]["buy_and_hold"]["days"] == 2
    assert [c["name"] for c in out["acceptance"]][:2] == ["win rate", "average reward:risk"]
    rc = main(["backtest", "--data", "synthetic:SPY:2:5", "--no-store", "--json", "--no-breakdown"])
    assert "breakdown" not in json.loads(capsys.readouterr().out)


def test_cli_sweep_breaks_down_its_best_combination(capsys):
    rc = main(["sweep", "--data", "synthetic:SPY,QQQ:2:3", "--no-store", "--json", "--grid", "atr_stop=1.0,1.5",
               "--executor", "inline", "--acceptance"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    best = next(r for r in out["rows"] if not r["baseline"])
    assert sum(g["trades"] for g in out["best_breakdown"]["by_setup"]) == best["metrics"]["trades"]
    assert len(out["best_acceptance"]) == 8


def test_a_png_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'cockpit\[plot\]'"):
        write_plot(str(tmp_path / "eq.png"), [T0, T0 + MIN], [100.0, 101.0], "eq")


def test_a_png_with_the_plot_extra(tmp_path):  # matplotlib comes with the test extra
    path = write_plot(str(tmp_path / "eq.png"), [T0, T0 + MIN, T0 + 2 * MIN], [100.0, 99.0, 101.0], "eq")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_window_labels_follow_the_new_york_clock_across_the_dst_changes():
    """window_labels reads New York's offset once per UTC hour (issue 13): the same
    labels as the clock of each entry read with a datetime, minute by minute through
    both 2024 clock changes, for the default policy and one with a window to 24:00."""
    from datetime import datetime

    from engine.analytics.session import ET, SessionCalendar
    from engine.backtest.breakdown import window_labels
    from engine.config import CockpitConfig

    starts = (1_710_000_000, 1_730_500_000)  # 2024-03-09 and 2024-11-01 (UTC), days before each change
    trades = [trade("SPY", 1.0, at=(s + k * 420 + 13) * 10**9) for s in starts for k in range(4 * 24 * 60 * 60 // 420)]
    for config in (CockpitConfig(), CockpitConfig(sessions={"policy": [{"start": "09:30", "end": "10:05"},
                                                                       {"start": "15:00", "end": "24:00"}]})):
        cal = SessionCalendar(config.feed.session, config.sessions.policy)
        windows = [(p.start, p.end) for p in config.sessions.policy]
        expected = []
        for t in trades:
            name, in_rth = cal.name_at(t.entry_ns)
            et = datetime.fromtimestamp(t.entry_ns // 10**9, ET)
            clock = f"{et.hour:02d}:{et.minute:02d}"
            expected.append(next((f"{a}-{b}" for a, b in windows if a <= clock < b), f"{name} (no policy window)")
                            if in_rth else name)
        assert window_labels(trades, config) == expected
        assert len(set(expected)) >= 4
