"""Issue 15, "defaults that do not work": at the shipped defaults trend_model trades on
the seeded simulated sessions, and the risk percentage (not a notional or
buying-power cap) decides the size."""
from __future__ import annotations

import pytest

from engine.backtest.data import load_dataset
from engine.backtest.runner import backtest_config, run_backtest

DATA = ["synthetic:SPY,QQQ,AAPL:5:7"]


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATA, None, None, None, False, None)


def run(ds, setup: str, **risk):
    cfg = backtest_config(None, ds.symbols, setup=setup, risk=risk or None)
    return run_backtest(cfg, ds)


def test_trend_model_trades_at_the_shipped_defaults(dataset):
    """The shipped cockpit.toml (LVN band in ATR); with the code's 0.5%-of-price band the
    spec's stop, max(atr_stop x ATR, band) beyond the node, leaves no target at 1R."""
    from engine.config import load_config
    from pathlib import Path

    shipped = load_config(Path(__file__).resolve().parent.parent / "cockpit.toml", env={})
    res = run_backtest(backtest_config(shipped, dataset.symbols, setup="trend_model"), dataset)
    assert len(res.trades) > 0, res.summary["blocked_reasons"]


def decisions_of(ds, **risk):
    """Every AUTO decision reason of a default-setups backtest (the desk keeps only the last
    few, so they are collected as they are made)."""
    from engine.backtest.runner import BacktestRun

    cfg = backtest_config(None, ds.symbols, risk=risk or None)
    run_ = BacktestRun(cfg, ds)
    reasons: list[str] = []
    decide = run_.engine.desk.decide

    def spy(sig, decision, reason, level="info", **kw):
        if decision.value == "auto":
            reasons.append(reason)
        return decide(sig, decision, reason, level, **kw)

    run_.engine.desk.decide = spy
    return run_.run(None), reasons


def test_the_risk_percentage_decides_the_size_at_the_defaults(dataset):
    res, reasons = decisions_of(dataset)
    assert reasons and not [r for r in reasons if "capped" in r]
    half, _ = decisions_of(dataset, risk_per_trade_pct=0.025)
    qty = [t.qty for t in res.trades]
    assert [t.qty for t in half.trades] != qty  # half the risk, other sizes
    assert sum(t.qty for t in half.trades) < sum(qty)


def test_the_decision_names_the_cap_that_bound_the_size(dataset):
    _, reasons = decisions_of(dataset, risk_per_trade_pct=0.5)
    assert reasons and all("capped by " in r and "(risk 0.5% sizes " in r for r in reasons), reasons[:3]
    assert "qty 200 capped by max_position_notional $100,000.00 at $499.36 (risk 0.5% sizes 1276)" in reasons[0]
