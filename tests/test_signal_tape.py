"""The sweep's signal tape: setups run once over the recorded snapshots, the engine
handed only the bars it can act on -- and every number the same as visiting all bars."""
from __future__ import annotations

import pytest

from engine.backtest.data import load_dataset
from engine.backtest.replay import ReplayedAnalytics, record_signals
from engine.backtest.runner import BacktestRun, backtest_config, run_backtest
from engine.backtest.sweep import _recording, combo_config
from engine.config import ConfigError
from engine.strategy.registry import make_setups


@pytest.fixture(scope="module")
def ds():
    return load_dataset(["synthetic:SPY:8:11"])


def _runs(ds, setup, combo):
    base = backtest_config(None, ds.symbols, setup=setup).model_dump(mode="json")
    cfg = combo_config(base, ["SPY"], combo)
    params = cfg.strategy.for_symbol("SPY")
    rec = _recording(ds, "SPY", cfg, params)
    every = run_backtest(cfg, ds, analytics={"SPY": ReplayedAnalytics(rec)}, items=rec.inputs)
    tape = record_signals(rec, make_setups("SPY", params))
    run = BacktestRun(cfg, ds, analytics={"SPY": ReplayedAnalytics(rec)}, items=rec.inputs, tape=tape)
    visited = []
    on_data = run.engine.on_data
    run.engine.on_data = lambda item: (visited.append(item.ts_ns), on_data(item))[1]
    taped = run.run()
    return every, taped, len(visited), len(rec.inputs), tape


@pytest.mark.parametrize("setup,combo", [
    ("auction", {}),
    ("auction", {"atr_stop": 1.0, "atr_target": 2.0, "allow_balance_trades": True, "min_aggression": 60}),
    ("sma_cross", {}),
    ("auction,trend_model,mean_reversion", {"allow_balance_trades": True}),
    ("sma_cross", {"trade_timeout_min": 7.0}),  # a time exit inside skipped in-position bars
    ("sma_cross", {"trail_activate_r": 0.5, "target1_r": 1.0}),  # price rules: bars in position are visited
])
def test_tape_run_equals_visiting_every_bar(ds, setup, combo):
    every, taped, visited, total, tape = _runs(ds, setup, combo)
    assert every.metrics.trades > 0, "the comparison needs trades to mean anything"
    assert [t.as_dict() for t in taped.trades] == [t.as_dict() for t in every.trades]
    assert taped.equity_ts == every.equity_ts and taped.equity == every.equity
    assert taped.daily == every.daily
    assert taped.summary == every.summary  # signals by decision, blocks, fills, minutes per state
    assert taped.metrics.as_dict() == every.metrics.as_dict()
    assert (taped.bars, taped.items) == (every.bars, every.items)
    # and it did skip: only bars with a signal or something working were handed over
    assert len(tape.indices) <= visited < total


def test_tape_must_match_the_runs_setups(ds):
    cfg = backtest_config(None, ds.symbols, setup="auction")
    params = cfg.strategy.for_symbol("SPY")
    rec = _recording(ds, "SPY", cfg, params)
    other = record_signals(rec, make_setups("SPY", params.model_copy(update={"setups": ["sma_cross"]})))
    with pytest.raises(ConfigError, match="signal tape has setups"):
        BacktestRun(cfg, ds, analytics={"SPY": ReplayedAnalytics(rec)}, items=rec.inputs, tape=other)


def test_tape_records_what_the_setup_says_at_the_engine_time(ds):
    """The tape holds each signal under the data clock the engine would pass: the
    bar's end; and only in-session bars are given to the setups."""
    cfg = backtest_config(None, ds.symbols, setup="sma_cross")
    params = cfg.strategy.for_symbol("SPY")
    rec = _recording(ds, "SPY", cfg, params)
    tape = record_signals(rec, make_setups("SPY", params))
    (name, by_now), = tape.setups
    assert name == "sma_cross" and by_now
    for i in tape.indices:
        bar, snap = rec.bars[i], rec.snaps[i]
        sig = by_now[bar.ts_ns + 60_000_000_000]
        assert snap.in_session and sig.created_ns == bar.ts_ns + 60_000_000_000
        assert sig.entry == snap.last
    assert tape.end_ns == rec.inputs[-1].ts_ns + 60_000_000_000
