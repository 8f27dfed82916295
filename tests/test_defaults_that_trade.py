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


def test_trend_model_trades_at_the_defaults(dataset):
    res = run(dataset, "trend_model")
    assert len(res.trades) > 0, res.summary["blocked_reasons"]
