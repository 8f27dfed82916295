"""One config, one data file: the live Engine on a replay feed and the backtester
give the same signals, orders and fills, for stock and 24-hour sessions, bars and
trades. Both start from the shipped cockpit.toml, as a trader's runs do."""
import asyncio
import pathlib

import pytest

from engine.backtest.data import load_dataset
from engine.backtest.runner import BacktestRun, backtest_config
from engine.config import load_config
from engine.factory import build_engine

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _replay(path: pathlib.Path, symbol: str, session: str):
    cfg = load_config(ROOT / "cockpit.toml", overrides={
        "app": {"mode": "AUTO", "symbols": [symbol]},
        "feed": {"kind": "replay", "file": str(path), "session": session, "speed": 0}}, env={})

    async def go():
        eng = build_engine(cfg, use_store=False)
        await eng.start()
        await eng.wait_done()
        await eng.stop()
        return eng

    eng = asyncio.run(go())
    fills = [(f.symbol, f.side.value, f.qty, round(f.price, 9), f.ts_ns) for f in eng.fills]
    return cfg, eng.summary(), fills


@pytest.mark.parametrize("name,session,min_signals", [
    ("6eh4_202401_bars_1m.csv.gz", "24h_utc", 1000),  # a month of bars: signals all day
    ("btcusdt_perp_20240808_trades.csv", "24h_utc", 0),  # six minutes of trades: bars and states only
])
def test_replay_and_backtest_agree(shared_data, name, session, min_signals):
    path = shared_data(name)
    ds = load_dataset([str(path)], None, None, None, False, None)
    symbol = ds.symbols[0]
    cfg, summary, fills = _replay(path, symbol, session)
    run = BacktestRun(backtest_config(cfg, ds.symbols, session=session), ds)
    res = run.run()
    bt_fills = [(f.symbol, f.side.value, f.qty, round(f.price, 9), f.ts_ns) for f in run.engine.fills]
    for key in ("signals_total", "signals_by_decision", "blocked_reasons", "states"):
        assert res.summary[key] == summary[key], key
    # the backtest computes only what its setups read: alerts are compared where it
    # computes them (tests/test_alerts_bars.py, needs=None)
    if all("alerts" in an.needs for an in run.engine.analytics.values()):
        assert res.summary["lvn_alerts"] == summary["lvn_alerts"]
    assert summary["signals_total"] >= min_signals and sum(summary["states"].values()) > 0
    # the same fills; the backtest then closes what is still open at the end of data
    assert bt_fills[:len(fills)] == fills
    assert len(bt_fills) - len(fills) <= 1
