"""The sweep's tail: runs come back as columns (sweep_runs.SymbolRun) and pool with
numpy (pool.combine). Its table must be the one the record-by-record pooling
gave, to the last bit; the results file keeps its row format (a file from before
resumes); the Engine checks the runs the sweep ranked; the ETA counts runs on the
clock it is given."""
from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from engine.backtest import metrics as M
from engine.backtest.data import load_dataset
from engine.backtest.executors import make_executor
from engine.backtest.grid import parse_grid
from engine.backtest.pool import combine
from engine.backtest.progress import RunsEta, SweepProgress
from engine.backtest.runner import backtest_config
from engine.backtest import symbol_data
from engine.backtest.sweep import BASELINE, SymbolData, run_sweep, symbol_datasets, verify_top
from engine.backtest.sweep_runs import SymbolRun
from tests.factories import sweep_table


def reference_combine(rows: list[dict], initial: float) -> M.Metrics:
    """The pooling as it was done record by record (before the columns), kept as the reference."""
    trades = sorted((M.trade_from_row(t) for r in rows for t in r["trades"]), key=lambda t: t.exit_ns)
    bars = sum(r["bars"] for r in rows)
    in_pos = sum(r["in_position"] for r in rows)
    if len(rows) == 1:
        r = rows[0]
        return M.compute(trades, initial, r["equity"], [e for _, e in r["daily"]], bars, int(round(in_pos)))
    dates = sorted({d for r in rows for d, _ in r["daily"]})
    pnl = [0.0] * len(dates)
    pos = {d: i for i, d in enumerate(dates)}
    for r in rows:
        last = initial
        series = dict((d, e) for d, e in r["daily"])
        for d in dates:
            last = series.get(d, last)
            pnl[pos[d]] += last - initial
    daily = [initial + p for p in pnl]
    ts = np.concatenate([np.asarray(r["equity_ts"], dtype=np.int64) for r in rows])
    steps = np.concatenate([np.diff(np.asarray(r["equity"], dtype=float), prepend=initial) for r in rows])
    order = np.argsort(ts, kind="stable")
    t = ts[order]
    level = initial + np.cumsum(steps[order])
    equity = level[np.append(t[1:] != t[:-1], True)].tolist() if t.size else []
    return M.compute(trades, initial, equity, daily, bars, int(round(in_pos)))


@pytest.fixture(scope="module")
def swept():
    ds = load_dataset(["synthetic:SPY,QQQ,AAPL:3:5"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["min_aggression=60,80", "atr_stop=1.0,2.0", "atr_target=2,3"])
    out = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1)
    return ds, cfg, grid, out


def test_pooled_table_is_the_record_by_record_one_to_the_last_bit(swept):
    ds, cfg, grid, out = swept
    initial = cfg.broker.initial_equity
    assert out.complete and sum(r.metrics.trades for r in out.rows) > 100
    for r in out.rows:
        rows = [out.raw[(r.index, s)].as_row() for s in ds.symbols]
        want = reference_combine(rows, initial).as_dict()
        assert r.metrics.as_dict() == want, r.label
        # and each symbol alone (the single-run branch)
        for row in rows:
            assert combine([row], initial).as_dict() == reference_combine([row], initial).as_dict()
    # exact doubles, not rounded ones: as_dict rounds to 6 places
    r = out.rows[0]
    ref = reference_combine([out.raw[(r.index, s)].as_row() for s in ds.symbols], initial)
    for name in ("sharpe", "sortino", "max_drawdown_pct", "expectancy_r", "expectancy_usd", "avg_hold_min", "avg_r"):
        got, want = getattr(r.metrics, name), getattr(ref, name)
        assert got == want or (math.isnan(got) and math.isnan(want)), name


def test_pooling_keeps_trades_in_exit_order_across_symbols():
    # two symbols' trades interleave in time: the pooled order (and so every mean and the
    # profit factor's running sums) is by exit time, ties kept in symbol order
    def run(sym, exits, pnls):
        trades = [M.TradeRecord(sym, "long", 1, x - 60_000_000_000, x, 10.0, 11.0, p, 0.0, 0.3, "exit")
                  for x, p in zip(exits, pnls)]
        return {"combo": 0, "symbol": sym, "trades": [t.as_dict() for t in trades],
                "daily": [["2024-01-02", 100.0 + sum(pnls)]], "equity": [100.0 + sum(pnls)],
                "equity_ts": [max(exits)], "bars": 10, "in_position": 2.0}

    a = run("A", [3, 1, 5], [0.1, 0.7, -0.2])
    b = run("B", [2, 3, 4], [1e-17, 0.3, -0.1])
    assert combine([a, b], 100.0).as_dict() == reference_combine([a, b], 100.0).as_dict()
    assert combine([b, a], 100.0).as_dict() == reference_combine([b, a], 100.0).as_dict()


def test_results_file_rows_round_trip_and_a_file_from_before_resumes(swept, tmp_path):
    ds, cfg, grid, out = swept
    run = next(iter(out.raw.values()))
    row = json.loads(json.dumps(run.as_row()))
    back = SymbolRun.from_row(row)
    assert back.as_row() == run.as_row()
    # compared as JSON: the execution map's fields are NaN when not mapped, and NaN != NaN
    assert json.dumps([t.as_dict() for t in back.trade_records()]) == \
        json.dumps([t.as_dict() for t in run.trade_records()])
    # a results file in the row format of before (no "path" key, trades as dicts): resumed, not redone
    sid = __import__("engine.backtest.sweep", fromlist=["sweep_id"]).sweep_id(
        ds.fingerprint, cfg.model_dump(mode="json"), grid)
    rows = []
    for (idx, sym), r in out.raw.items():
        d = r.as_row()
        d.pop("path")
        rows.append(d)
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"id": sid, "results": rows}))
    resumed = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1, resume=str(path))
    assert resumed.complete and sweep_table(resumed) == sweep_table(out)


def test_verification_checks_the_runs_the_sweep_ranked(swept):
    ds, cfg, grid, out = swept
    checked, diff = verify_top(ds, cfg, out, make_executor("inline"), 2, progress=True)
    assert len(checked) == 2 and diff == ""
    # a ranked run that is not what the engine gives is caught, naming the combination and symbol
    best = checked[0]
    sym = ds.symbols[1]
    run = out.raw[(best.index, sym)]
    assert len(run.trades)
    tampered = SymbolRun.from_row(run.as_row())
    tampered.path, tampered.summary, tampered.bars_in_position = run.path, run.summary, run.bars_in_position
    tampered.trades.cols["pnl"][0] += 0.01
    out.raw[(best.index, sym)] = tampered
    try:
        _, diff = verify_top(ds, cfg, out, make_executor("inline"), 1)
    finally:
        out.raw[(best.index, sym)] = run
    assert diff.startswith(f"{best.label} on {sym}: trade 1 pnl"), diff


def test_symbol_data_is_unpickled_once_per_worker():
    ds = load_dataset(["synthetic:SPY:1:5"])
    data = SymbolData(ds)
    assert data.get() is ds  # not sent anywhere (the inline executor): never pickled
    sent = pickle.dumps(data)  # what goes with each task
    blob = data._blob
    again = pickle.dumps(data)
    assert data._blob is blob  # the dataset was pickled once
    symbol_data._IN_THIS_PROCESS.pop(data.key)  # as in a worker that did not inherit it
    first = pickle.loads(sent).get()
    assert pickle.loads(again).get() is first  # the second task's copy reads the worker's cache
    assert first.fingerprint == ds.fingerprint and first is not ds


def test_forked_workers_get_only_a_key_and_a_pool_started_before_the_data_gets_the_data():
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("workers inherit the data only when forked")
    first = load_dataset(["synthetic:SPY:1:5"])
    later = load_dataset(["synthetic:QQQ,AAPL:2:3"])
    cfg = backtest_config(None, later.symbols, setup="auction")
    grid = parse_grid(["atr_target=2,3"])
    inline = run_sweep(later, cfg, grid, make_executor("inline"), min_trades=1)
    h = make_executor(None, 2)
    try:
        data = symbol_datasets(first)
        run_sweep(first, backtest_config(None, first.symbols, setup="auction"), grid, h, min_trades=1,
                  symbol_data=data)
        assert all(d.inherit and not d._blob for d in data.values())  # forked after: sent by key, never pickled
        data = symbol_datasets(later)  # made after the workers were forked: they do not hold it
        out = run_sweep(later, cfg, grid, h, min_trades=1, symbol_data=data)
        assert all(d.inherit is False and d._blob for d in data.values())  # sent again with the data
        checked, diff = verify_top(later, cfg, out, h, 1, symbol_data=data)
    finally:
        h.close()
    assert out.complete and sweep_table(out) == sweep_table(inline)
    assert checked and diff == ""


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_eta_is_the_runs_left_at_this_run_s_own_rate():
    clock = FakeClock()
    eta = RunsEta(total=550, done=110, clock=clock)  # 110 runs resumed from a file: not done at any rate
    assert eta.remaining_s() is None and eta.text() == "-:--:--"
    clock.t += 20.0
    eta.update(220)  # a burst: two whole symbols finished after 20 s
    assert eta.remaining_s() == pytest.approx(330 * 20.0 / 110)  # 60 s, not 330 / (110 in no time)
    clock.t += 15.0  # no run finished since: the ETA counts down
    assert eta.remaining_s() == pytest.approx(45.0)
    clock.t += 100.0  # slower than the rate said: it says 0, never negative
    assert eta.remaining_s() == 0.0
    eta.update(330)  # 220 runs in 135 s
    assert eta.remaining_s() == pytest.approx(220 * 135.0 / 220)
    assert eta.text() == "0:02:15"
    eta.update(550)
    assert eta.remaining_s() == 0.0


def test_sweep_progress_bar_shows_the_counted_eta():
    from io import StringIO

    from rich.console import Console

    clock = FakeClock()
    buf = StringIO()
    bar = SweepProgress(100, 0, "inline", clock=clock, console=Console(file=buf, width=120, force_terminal=False))
    clock.t += 30.0
    bar.update(25)
    clock.t += 10.0
    bar.stop()
    assert "25/100" in buf.getvalue() and "0:01:20" in buf.getvalue()  # 75 runs x 1.2 s - 10 s


def test_the_baseline_is_pooled_like_any_combination(swept):
    ds, cfg, grid, out = swept
    base = next(r for r in out.rows if r.index == BASELINE)
    rows = [out.raw[(BASELINE, s)].as_row() for s in ds.symbols]
    assert base.metrics.as_dict() == reference_combine(rows, cfg.broker.initial_equity).as_dict()


def test_a_grid_point_equal_to_the_baseline_runs_once(monkeypatch):
    import engine.backtest.sweep as sweep

    ds = load_dataset(["synthetic:SPY:2:5"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    assert cfg.strategy.atr_stop == 1.5  # so the grid's first point is the baseline's config
    calls = []
    real = sweep.run_arrays
    monkeypatch.setattr(sweep, "run_arrays", lambda c, d: (calls.append(c.strategy.atr_stop), real(c, d))[1])
    out = run_sweep(ds, cfg, parse_grid(["atr_stop=1.5,2.0"]), make_executor("inline"), min_trades=1)
    assert sorted(calls) == [1.5, 2.0]
    base = out.raw[(BASELINE, "SPY")]
    same = out.raw[(0, "SPY")]
    assert same.combo == 0 and base.combo == BASELINE and same.path == base.path == "arrays"
    by_index = {r.index: r for r in out.rows}
    assert by_index[0].metrics.as_dict() == by_index[BASELINE].metrics.as_dict()


def test_a_task_tells_each_run_as_it_finishes():
    from concurrent.futures import ProcessPoolExecutor

    import engine.backtest.sweep as sweep
    from engine.backtest.progress import RunTicker

    ds = load_dataset(["synthetic:SPY:1:5"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    pool = ProcessPoolExecutor(1)  # never started: the ticker only asks what kind of executor it is
    ticker = RunTicker(pool)
    try:
        assert ticker.drain() == 0
        runs = sweep.run_task(cfg.model_dump(mode="json"), "SPY", ds,
                              [(BASELINE, {}), (0, {"atr_stop": 1.5}), (1, {"atr_stop": 2.0})], ticker.channel)
        assert ticker.drain() == 3 and ticker.drain() == 0  # the deduplicated run counts too
        assert [r.combo for r in runs] == [BASELINE, 0, 1]
        channel = ticker.channel
    finally:
        ticker.close()
        pool.shutdown()
    import os

    sweep.run_task(cfg.model_dump(mode="json"), "SPY", ds, [(0, {})], channel)  # the sweep stopped: runs go on
    assert not os.path.exists(channel)  # and the channel is not made again
    assert RunTicker(make_executor("inline").executor).channel is None


def test_a_pooled_sweep_with_its_bar_counts_every_run_once():
    ds = load_dataset(["synthetic:SPY,QQQ:2:3"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["atr_target=2,3"])
    inline = run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1)
    h = make_executor(None, 2)
    try:
        pooled = run_sweep(ds, cfg, grid, h, min_trades=1, progress=True)  # runs told through the ticker's file
    finally:
        h.close()
    assert pooled.complete and pooled.done_tasks == pooled.total_tasks == 6
    assert sweep_table(pooled) == sweep_table(inline)
