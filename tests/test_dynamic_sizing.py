"""Dynamic sizing (STRATEGY.md 14, off by default): seven clamped factors scale the
risk budget, each shown with the signal; the defaults leave sizing untouched."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from engine.config import RiskConfig, SizingConfig
from engine.model import MarketState, Side
from engine.risk import RiskManager
from engine.sizing import AtrHistory, MarketView, SizingFactors, factors
from tests.test_risk import account, check, et_ns, signal

UP, BAL, DOWN = MarketState.IMBALANCE_UP, MarketState.BALANCE, MarketState.IMBALANCE_DOWN
NOON_S = 12 * 3600


def f(**kw):
    args = dict(equity=100_000.0, reference_equity=100_000.0, market=MarketView(0.5, 0.5, UP), results=[],
                et_secs=NOON_S, confidence=50.0, side=Side.BUY)
    args.update(kw)
    return factors(**args)


def test_neutral_inputs_give_factors_of_one_but_strength():
    x = f()
    assert (x.equity, x.volatility, x.win_rate, x.time, x.streak, x.regime) == (1, 1, 1, 1, 1, 1)
    assert x.strength == pytest.approx(1.0)  # 0.8 + 0.4 x 50/100
    assert x.product == pytest.approx(1.0)


def test_each_factor_and_its_clamp():
    assert f(equity=300_000).equity == 1.5 and f(equity=20_000).equity == 0.5 and f(equity=120_000).equity == 1.2
    assert f(market=MarketView(0.25, 0.5, UP)).volatility == 1.3  # calm now: 2.0 clamped
    assert f(market=MarketView(0.6, 0.5, UP)).volatility == pytest.approx(0.5 / 0.6)
    assert f(market=MarketView(0.5, math.nan, UP)).volatility == 1.0  # no history yet
    assert f(results=[1, 1, 1, 1]).win_rate == 1.0  # under 5 trades
    assert f(results=[1, 1, 1, -1, -1]).win_rate == pytest.approx(1 + 0.8 * 0.1)
    assert f(results=[1] * 20).win_rate == 1.2 and f(results=[-1] * 20).win_rate == 0.8
    assert f(et_secs=15 * 3600).time == 1.0 and f(et_secs=15 * 3600 + 1800).time == pytest.approx(0.9)
    assert f(et_secs=16 * 3600).time == pytest.approx(0.8)
    assert f(results=[-1, 1, 1]).streak == pytest.approx(1.2) and f(results=[1] + [-1] * 5).streak == pytest.approx(0.7)
    assert f(confidence=100).strength == pytest.approx(1.2) and f(confidence=0).strength == pytest.approx(0.8)
    assert f(market=MarketView(0.5, 0.5, BAL)).regime == 0.75
    assert f(market=MarketView(0.5, 0.5, DOWN)).regime == 0.5
    assert f(market=MarketView(0.5, 0.5, DOWN), side=Side.SELL).regime == 1.0


def test_atr_history_is_the_mean_of_the_last_390():
    h = AtrHistory()
    assert math.isnan(h.mean)
    for k in range(400):
        h.add(1.0 if k < 10 else 2.0)
    assert h.mean == pytest.approx(2.0)
    h.add(math.nan)
    assert h.mean == pytest.approx(2.0)


def test_the_risk_manager_scales_the_budget_and_names_every_factor():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=1e9), sizing=SizingConfig(dynamic=True))
    rm.market = lambda symbol: MarketView(0.5, 0.5, BAL)
    d = check(rm, replace(signal(), confidence=100.0), now=et_ns(12, 0))
    # 1% of 100k = $1,000 x 1.2 (strength) x 0.75 (balance) = $900 at $1 a share
    assert d.allowed and d.signal.qty == 900
    assert d.size_note == ("dynamic size x0.90 (equity 1.00, volatility 1.00, win rate 1.00, time 1.00, "
                           "streak 1.00, strength 1.20, regime 0.75)")
    for pnl in (-10, -10):
        rm.record_closed_trade(pnl)
    assert check(rm, replace(signal(), confidence=100.0), now=et_ns(12, 0)).signal.qty == 720  # x0.8 streak


def test_off_by_default():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=1e9))
    rm.market = lambda symbol: MarketView(0.5, 0.5, DOWN)
    d = check(rm)
    assert d.signal.qty == 1000 and d.size_note == ""


def test_a_dynamic_backtest_shows_the_factors_and_a_sweep_matches_it():
    from engine.backtest.data import load_dataset
    from engine.backtest.runner import BacktestRun, backtest_config
    from engine.backtest import sweep

    ds = load_dataset(["synthetic:SPY:2:7"], None, None, None, False, None)
    cfg = backtest_config(None, ds.symbols, setup="auction")
    cfg = cfg.model_copy(update={"sizing": SizingConfig(dynamic=True)})
    run = BacktestRun(cfg, ds)
    reasons = []
    decide = run.engine.desk.decide
    run.engine.desk.decide = lambda sig, d, reason, level="info": (reasons.append(reason), decide(sig, d, reason, level))[1]
    res = run.run(None)
    auto = [r for r in reasons if r.startswith("AUTO mode")]
    assert auto and all("dynamic size x" in r and "regime" in r for r in auto)
    rows = sweep.run_task(cfg.model_dump(mode="json"), "SPY", ds, [(0, {})])
    assert [t.qty for t in rows[0].trade_records()] == [t.qty for t in res.trades]
