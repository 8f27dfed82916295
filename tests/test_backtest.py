"""The backtester runs the live engine: parity with the live path, bar fill rules,
the sweep's recorded analytics, interrupt/resume, the CLI and stored runs."""
from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from engine.analytics.session import SessionCalendar
from engine.backtest.data import Dataset, load_dataset
from engine.backtest.executors import make_executor
from engine.backtest.grid import parse_grid
from engine.backtest.replay import ReplayedAnalytics, record_bars
from engine.backtest.runner import BacktestRun, backtest_config, run_backtest
from engine.backtest.sweep import run_sweep
from engine.brokers.paper import PaperBroker
from engine.clock import DataClock
from engine.engine import Engine
from engine.feeds.loaders import BarsArrays
from engine.feeds.synthetic import SyntheticFeed
from engine.model import NS_PER_MIN, NS_PER_S, OrderLeg
from tests.factories import sweep_table

DAY = date(2024, 6, 12)

pytestmark = pytest.mark.usefixtures("synthetic_cache")


# --------------------------------------------------------------------------- parity


def _orders(broker):
    return sorted((o.id, o.client_order_id, o.side, o.type, o.qty, o.status, o.filled_qty, o.avg_fill_price,
                   o.limit_price, o.stop_price, o.leg) for o in broker.recent_orders(100_000))


def _signals(engine):
    return [(j.ts_ns, j.symbol, j.message) for j in engine.journal if j.kind in ("signal", "decision")]


def test_parity_live_path_and_backtester_on_one_synthetic_session():
    symbols = ("SPY",)
    base = backtest_config(None, list(symbols), setup="auction,trend_model,mean_reversion")
    cfg = base.model_copy(update={"engine": base.engine.model_copy(update={"journal_size": 100_000})})

    # live path: Engine + SyntheticFeed at speed 0 in AUTO mode, started like `cockpit run`
    clock = DataClock()
    feed = SyntheticFeed(symbols=symbols, seed=11, session_date=DAY, speed=0)
    live_broker = PaperBroker(cfg.broker, clock, symbols)
    live = Engine(cfg, feed, live_broker, clock, calendar=SessionCalendar(cfg.feed.session))

    async def go():
        await live.start()
        await live.wait_done()
        await live.stop()

    asyncio.run(go())

    # backtester: the same session's trades, warmed up on the same previous session
    sim = feed.sessions()["SPY"]
    ds = Dataset("trades", {"SPY": sim.trades}, "parity")
    run = BacktestRun(cfg, ds, warmup=feed.previous_session_bars())
    run.run()
    bt = run.engine

    assert live.counters["signals"] > 0 and live.counters["fills"] > 0  # the session trades
    assert _signals(bt) == _signals(live)
    assert bt.desk.signal_counts == live.desk.signal_counts
    assert _orders(run.broker) == _orders(live_broker)
    # every fill the live path made, in order (the backtest then closes what is still open)
    assert list(bt.fills)[: len(live.fills)] == list(live.fills)


# --------------------------------------------------------------------------- bar fill rules


def _bars(rows, start_ns):
    a = np.asarray(rows, dtype=float)
    ts = start_ns + np.arange(len(rows), dtype=np.int64) * NS_PER_MIN
    return BarsArrays(ts, a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


def _sma_bars(last_two):
    """A slow decline, a bar closing far above the SMA (a cross up: buy), a quiet
    bar on which the entry fills at the open, then ``last_two``."""
    rows = []
    c = 100.0
    for _ in range(12):
        rows.append((c, c + 0.05, c - 0.15, c - 0.1, 1000))
        c -= 0.1
    rows.append((c, 101.05, c - 0.05, 101.0, 1000))  # cross up
    rows.append((101.0, 101.2, 100.9, 101.1, 1000))  # entry fills at 101.0
    rows.extend(last_two)
    start = int(datetime(2024, 6, 12, 13, 40, tzinfo=timezone.utc).timestamp()) * NS_PER_S  # 09:40 ET
    return Dataset("bars", {"SPY": _bars(rows, start)}, "hand-built")


def _sma_config():
    # the sizing these scenarios were written with (the defaults before issue 15): the gap's
    # loss latches the daily-loss limit, so the later cross down is not traded
    return backtest_config(None, ["SPY"], setup="sma_cross", strategy={"sma_period": 5, "atr_period": 3},
                           broker={"slippage_bps": 0.0},
                           risk={"risk_per_trade_pct": 0.5, "max_position_notional": 50_000})


def _stop_of(run):
    stops = [o for o in run.broker.recent_orders(100) if o.leg is OrderLeg.STOP_LOSS]
    assert len(stops) == 1
    return stops[0].stop_price


def test_bar_touching_stop_and_target_fills_the_stop():
    ds = _sma_bars([(101.1, 130.0, 80.0, 101.0, 1000), (101.0, 101.1, 100.9, 101.0, 1000)])
    run = BacktestRun(_sma_config(), ds)
    res = run.run()
    stop = _stop_of(run)
    assert 80.0 < stop < 101.0
    assert len(res.trades) == 1
    t = res.trades[0]
    assert t.side == "long" and t.entry_price == pytest.approx(101.0)
    assert t.exit_leg == "stop_loss" and t.exit_price == pytest.approx(stop)
    assert t.pnl < 0 and t.r == pytest.approx(-1.0)


def test_gap_through_the_stop_fills_at_the_open():
    ds = _sma_bars([(95.0, 95.5, 94.5, 95.2, 1000), (95.2, 95.3, 95.1, 95.2, 1000)])
    run = BacktestRun(_sma_config(), ds)
    res = run.run()
    assert _stop_of(run) > 95.0
    t = res.trades[0]
    assert t.exit_leg == "stop_loss" and t.exit_price == pytest.approx(95.0)


# --------------------------------------------------------------------------- recorded analytics


def test_recorded_analytics_replay_equals_the_full_engine():
    ds = load_dataset(["synthetic:SPY:3:5"])
    cfg = backtest_config(None, ds.symbols, setup="auction,trend_model,mean_reversion")
    full = run_backtest(cfg, ds, needs=None)  # everything, as the recording computes (alerts too)
    rec = record_bars("SPY", ds.series["SPY"], cfg.strategy.for_symbol("SPY"), SessionCalendar(cfg.feed.session))
    replayed = run_backtest(cfg, ds, analytics={"SPY": ReplayedAnalytics(rec)})
    assert full.metrics.trades > 5
    assert replayed.trades == full.trades
    assert replayed.summary == full.summary
    assert replayed.metrics.as_dict() == full.metrics.as_dict()


def test_bars_only_data_gets_bulk_volume_classification():
    ds = load_dataset(["synthetic:SPY:2:5"])
    s = ds.series["SPY"]
    plain = BarsArrays(s.ts_ns, s.open, s.high, s.low, s.close, s.volume)  # no flow, no volume at price
    cfg = backtest_config(None, ["SPY"], setup="auction")
    rec = record_bars("SPY", plain, cfg.strategy.for_symbol("SPY"), SessionCalendar("us_equity"))
    buys = np.array([b.buy_volume for b in rec.bars])
    assert np.isfinite(buys).all()
    assert (buys > 0).any() and (buys < plain.volume).any()  # split by BVC, not all one side


# --------------------------------------------------------------------------- sweeps


def test_sweep_interrupt_keeps_results_and_resume_finishes(tmp_path):
    ds = load_dataset(["synthetic:SPY,QQQ:2:3"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["min_aggression=60,70", "atr_stop=1.0,2.0"])
    full = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1)
    assert full.complete and full.done_tasks == full.total_tasks == 10

    calls = []

    def interrupt(done, total):
        calls.append(done)
        raise KeyboardInterrupt  # what Ctrl-C does in the middle of the loop

    path = str(tmp_path / "partial.json")
    part = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1, results_path=path, on_progress=interrupt)
    assert not part.complete and 0 < part.done_tasks < part.total_tasks
    saved = json.loads(Path(path).read_text())
    assert len(saved["results"]) == part.done_tasks

    resumed = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1, resume=path)
    assert resumed.complete and resumed.done_tasks == resumed.total_tasks
    assert sweep_table(resumed) == sweep_table(full)


def test_sweep_process_pool_matches_inline():
    ds = load_dataset(["synthetic:SPY:2:3"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["atr_target=2,3"])
    inline = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1)
    h = make_executor(None, 2)
    try:
        pooled = run_sweep(ds, cfg, grid, h, min_trades=1)
    finally:
        h.close()
    assert sweep_table(pooled) == sweep_table(inline)
    labels = [r.label for r in inline.rows]
    assert "baseline" in labels and len(labels) == 3


# --------------------------------------------------------------------------- CLI and stored runs


def _cli(args):
    from cockpit.cli import main

    return main(args)


def test_cli_backtest_stores_a_run_and_runs_lists_it(tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    plot = tmp_path / "eq.html"
    export = tmp_path / "trades.csv"
    rc = _cli(["backtest", "--data", "synthetic:SPY:2:5", "--db", db, "--json", "--plot", str(plot),
               "--export", str(export), "--atr-target", "2.5"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["atr_target"] == 2.5 and out["metrics"]["trades"] > 0
    assert "<svg" in plot.read_text() and "polyline" in plot.read_text()
    lines = export.read_text().splitlines()
    assert lines[0].startswith("symbol,setup,side") and len(lines) == out["metrics"]["trades"] + 1
    assert _cli(["runs", "--db", db, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["id"] == out["run_id"] and runs[0]["kind"] == "backtest"
    assert runs[0]["fingerprint"] == out["fingerprint"]
    assert runs[0]["metrics"]["trades"] == out["metrics"]["trades"]


def test_cli_runs_table_in_80_columns_shows_whole_ids(tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "runs.db")
    assert _cli(["backtest", "--data", "synthetic:SPY:2:5", "--db", db, "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    monkeypatch.setenv("COLUMNS", "80")
    assert _cli(["runs", "--db", db]) == 0
    text = capsys.readouterr().out
    assert run_id[:8] in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    row = next(line for line in text.splitlines() if run_id[:8] in line)
    assert "backtest" in row and "synthetic:SPY" in row


def test_cli_bad_grid_exits_2_naming_the_key(capsys):
    rc = _cli(["sweep", "--data", "synthetic:SPY:1:5", "--no-store", "--grid", "atr_stpo=1,2"])
    assert rc == 2
    assert "unknown key 'atr_stpo'" in capsys.readouterr().err


def test_cli_bad_data_spec_exits_2(capsys):
    assert _cli(["backtest", "--data", "synthetic:SPY:x:5", "--no-store"]) == 2
    assert "DAYS and SEED" in capsys.readouterr().err


def test_real_futures_bars_with_a_24h_session(capsys, shared_data):
    rc = _cli(["backtest", "--data", str(shared_data("6eh4_202401_bars_1m.csv.gz")), "--session", "24h_chicago",
               "--end", "2024-01-05", "--no-store", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["symbols"] == ["6EH4"]
    assert out["metrics"]["days"] >= 4 and out["summary"]["signals_total"] > 0


def test_walkforward_folds_pick_in_sample_best_and_stitch_out_of_sample():
    from engine.backtest.walkforward import run_walkforward

    ds = load_dataset(["synthetic:SPY:7:3"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["min_aggression=60,80", "atr_target=2,3"])
    wf = run_walkforward(ds, cfg, grid, make_executor("inline"), train=3, test=2, min_trades=1)
    assert len(wf.folds) == 2
    f1, f2 = wf.folds
    assert f1.train[1] < f1.test[0] and f1.test[1] < f2.test[0]  # test follows train; test windows tile
    assert f2.train[0] > f1.train[0]
    # each fold's parameters are its in-sample winner: re-running that sweep agrees
    from engine.backtest.sweep import run_sweep
    from engine.backtest.walkforward import session_days

    days = session_days(ds, SessionCalendar("us_equity"))
    is1 = run_sweep(ds.window(days[0][1], days[2][2]), cfg, grid, make_executor("inline"), min_trades=1)
    assert f1.params == next(r for r in is1.rows if r.index != -1).combo
    assert wf.stitched.trades == f1.out_sample.trades + f2.out_sample.trades
    oos = (f1.out_sample.sharpe + f2.out_sample.sharpe) / 2
    ins = (f1.in_sample.sharpe + f2.in_sample.sharpe) / 2
    assert wf.degradation == pytest.approx(oos / ins)
    # the stitched curve holds each fold's intraday samples and session closes, the second
    # fold's shifted by what the first made
    initial = cfg.broker.initial_equity
    assert len(wf.stitched_equity) == len(f1.oos_equity) + len(f2.oos_equity) + 4
    assert wf.stitched_equity[-1] == pytest.approx(initial + f1.out_sample.net_pnl + f2.out_sample.net_pnl)
    shift = f1.out_sample.net_pnl
    assert wf.stitched_equity[len(f1.oos_equity) + 2:-2][0] == pytest.approx(f2.oos_equity[0][1] + shift)
    # exposure pools the folds' bars (it read 0.0 before)
    for f in (f1, f2):
        assert f.out_sample.exposure_pct == pytest.approx(f.oos_bars_in_position / f.oos_bars * 100)
    assert 0 < wf.stitched.exposure_pct == pytest.approx(
        (f1.oos_bars_in_position + f2.oos_bars_in_position) / (f1.oos_bars + f2.oos_bars) * 100)
    # the drawdown sees the intraday samples, not only the session closes
    from engine.backtest.metrics import max_drawdown_pct

    closes = [e for _, e in f1.oos_daily] + [e + shift for _, e in f2.oos_daily]
    assert wf.stitched.max_drawdown_pct == pytest.approx(max_drawdown_pct([initial, *wf.stitched_equity]))
    assert wf.stitched.max_drawdown_pct > max_drawdown_pct([initial, *closes])


def test_pooled_equity_applies_samples_at_one_instant_together():
    from engine.backtest.sweep import combine, pooled_equity

    # A rises to 110 at t1; at t2 A gives back 10 while B gains 10: the pool never dipped
    a = {"equity_ts": [1, 2], "equity": [110.0, 100.0]}
    b = {"equity_ts": [2, 4], "equity": [110.0, 95.0]}
    assert pooled_equity([a, b], 100.0) == [110.0, 110.0, 95.0]
    rows = [dict(r, trades=[], daily=[["2024-01-02", r["equity"][-1]]], bars=10, in_position=5) for r in (a, b)]
    m = combine(rows, 100.0)
    assert m.max_drawdown_pct == pytest.approx(15 / 110 * 100)  # 110 -> 95, not the 110 -> 100 a split t2 shows
    assert m.final_equity == pytest.approx(95.0) and m.exposure_pct == pytest.approx(50.0)
    with pytest.raises(ValueError, match="one timestamp per equity sample"):
        pooled_equity([{"equity_ts": [1], "equity": [1.0, 2.0]}], 100.0)


def test_sweep_of_several_symbols_measures_drawdown_on_intraday_equity():
    ds = load_dataset(["synthetic:SPY,QQQ:3:3"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    out = run_sweep(ds, cfg, parse_grid(["atr_target=2,3"]), make_executor("inline"), min_trades=1)
    deeper = 0
    for r in out.rows:
        got = [out.raw[(r.index, s)].as_row() for s in ds.symbols]
        daily_only = combine_daily_only(got, cfg.broker.initial_equity)
        assert r.metrics.max_drawdown_pct >= daily_only
        deeper += r.metrics.max_drawdown_pct > daily_only
    assert deeper  # the session closes alone understate it


def combine_daily_only(rows, initial):
    from engine.backtest.metrics import max_drawdown_pct

    dates = sorted({d for r in rows for d, _ in r["daily"]})
    pooled = [initial + sum(dict(map(tuple, r["daily"])).get(d, initial) - initial for r in rows) for d in dates]
    return max_drawdown_pct([initial, *pooled])
