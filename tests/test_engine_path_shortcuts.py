"""The Engine path's shortcuts (issue 13 item 1): each gives what the long way gave.

The finished orders a new day forgets, the local clock of the risk gates, the
backtest's coroutine driver, ``<setup>_max_adds`` and the bars a data file hands
out are each checked against the way they were worked out before."""
import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import engine.brokers.paper as paper
from engine.backtest.data import load_dataset
from engine.backtest.runner import SETUP_NEEDS, EngineSuspended, backtest_config, drive, run_backtest
from engine.clock import FixedClock
from engine.config import BrokerConfig, StrategyParams, known_setup_names
from engine.feeds.loaders import BarsArrays
from engine.model import NS_PER_MIN, Bar, OrderRequest, OrderType, Side
from engine.risk import LocalClock
from tests.factories import T0, minute_bar


def _kept_by_sorting(broker) -> set[str]:
    """The orders ``_forget_done_orders`` kept when it sorted every finished order by its
    last change (its code before the finished orders were kept in the order they finished)."""
    done = [w for w in broker._orders.values() if not w.status.is_open]
    if len(done) <= paper.KEEP_DONE_ORDERS:
        return set(broker._orders)
    working = {w.parent_id or w.id for w in broker._orders.values() if w.status.is_open}
    done.sort(key=lambda w: w.touch)
    gone = {w.id for w in done[: len(done) - paper.KEEP_DONE_ORDERS] if (w.parent_id or w.id) not in working}
    return set(broker._orders) - gone


def _checked_forget(monkeypatch) -> list:
    """``_forget_done_orders`` compared with ``_kept_by_sorting`` at each call; the sizes kept."""
    forget = paper.PaperBroker._forget_done_orders
    kept = []

    def checked(broker):
        expected = _kept_by_sorting(broker)
        forget(broker)
        assert set(broker._orders) == expected
        assert broker._done == sorted(broker._done, key=lambda w: w.touch)  # still oldest first
        assert {w.id for w in broker._done} == {w.id for w in broker._orders.values() if not w.status.is_open}
        kept.append(len(expected) - sum(len(b) for b in broker._open.values()))

    monkeypatch.setattr(paper.PaperBroker, "_forget_done_orders", checked)
    return kept


def test_a_backtest_forgets_the_finished_orders_sorting_by_last_change_forgot(shared_data, monkeypatch):
    monkeypatch.setattr(paper, "KEEP_DONE_ORDERS", 15)  # a few days' orders: most days prune
    kept = _checked_forget(monkeypatch)
    ds = load_dataset([str(shared_data("btcusdt_perp_202201_bars_1m.csv"))], None, None, None, False, None)
    cfg = backtest_config(None, ds.symbols, setup="sma_cross", session="24h_utc")
    res = run_backtest(cfg, ds, needs=SETUP_NEEDS)
    assert len(res.trades) > 100 and len(kept) >= 28 and kept.count(15) > 20


async def test_a_new_day_keeps_the_finished_orders_of_a_bracket_still_working(monkeypatch):
    """Days that turn while brackets work, limit entries expire, orders are cancelled and
    client ids refused: the finished orders kept are those the sort by last change kept."""
    monkeypatch.setattr(paper, "KEEP_DONE_ORDERS", 6)
    kept = _checked_forget(monkeypatch)
    clock = FixedClock(T0)
    broker = paper.PaperBroker(BrokerConfig(initial_equity=1e7), clock, ["SPY"])
    broker.set_event_handler(lambda ev: None)
    rng = random.Random(11)
    price, n = 100.0, 0
    for minute in range(3000):
        clock.set(T0 + minute * NS_PER_MIN)
        o = price
        price = max(1.0, price + rng.gauss(0, 0.3))
        broker.on_bar(minute_bar(minute, o, max(o, price) + 0.1, min(o, price) - 0.1, price))
        roll = rng.random()
        if roll < 0.08:
            n += 1
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            k = side.sign
            limit = rng.random() < 0.4
            req = OrderRequest(f"c{n}", "SPY", side, 10, OrderType.LIMIT if limit else OrderType.MARKET,
                               limit_price=price - k * 0.2 if limit else None, timeout_s=300.0 if limit else None,
                               take_profit=price + k * rng.uniform(0.3, 3), stop_loss=price - k * rng.uniform(0.3, 3))
            await broker.submit(req)
        elif roll < 0.10:
            await broker.submit(OrderRequest(f"c{n}", "SPY", Side.BUY, 10))  # a client id used: refused
        elif roll < 0.12 and broker.open_orders():
            await broker.cancel(rng.choice(broker.open_orders()).id)
        if minute % 97 == 0:
            broker.start_of_day(clock.now_ns())
    assert len(kept) > 25 and max(kept) > 6  # some days kept a working bracket's finished orders


@pytest.mark.parametrize("zone", ["America/New_York", "America/Chicago", "Europe/London", "UTC",
                                  "Australia/Lord_Howe"])  # (Lord Howe moves its clocks by half an hour)
def test_the_local_clock_reads_what_the_datetime_conversion_reads(zone):
    tz = ZoneInfo(zone)
    clock = LocalClock(tz)
    rng = random.Random(5)
    t = 1_600_000_000  # 2020-09: two years of offset changes follow
    for _ in range(40_000):
        t += rng.randint(0, 4 * 3600)
        for ns in (t * 1_000_000_000, t * 1_000_000_000 + rng.randint(1, 999_999_999)):
            local = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).astimezone(tz)
            assert clock.text(ns) == f"{local:%H:%M:%S}"
            if ns % 1_000_000_000 == 0:
                assert clock.secs(ns) == local.hour * 3600 + local.minute * 60 + local.second


def test_drive_runs_a_coroutine_to_its_end_and_refuses_one_that_waits():
    done = []

    async def inner():
        done.append("inner")

    async def completes():
        await inner()
        done.append("outer")

    assert drive(completes()) is None
    assert done == ["inner", "outer"]

    async def waits():
        import asyncio
        await asyncio.sleep(0)

    with pytest.raises(EngineSuspended):
        drive(waits())


def test_max_adds_is_the_setups_field_or_zero():
    p = StrategyParams(trend_pullback_max_adds=3)
    for name in known_setup_names():
        assert p.max_adds(name) == getattr(p, f"{name}_max_adds", 0)
    assert p.max_adds("trend_pullback") == 3 and p.max_adds("no_such_setup") == 0


@pytest.mark.parametrize("counts", [None, np.array([3, 0, 7], dtype=np.int64), np.array([3.0, 0.0, 7.9]),
                                    np.array([True, False, True])])
def test_bars_from_columns_are_the_bars_built_one_by_one(counts):
    arrays = BarsArrays(np.array([0, 60, 120], dtype=np.int64) * 1_000_000_000, np.array([1.0, 2.0, 3.0]),
                        np.array([1.5, 2.5, 3.5]), np.array([0.5, 1.5, 2.5]), np.array([1.2, 2.2, 3.2]),
                        np.array([10.0, 20.0, 30.0]), trades=counts, vap=[((1.0, 10.0),), None, ((3.0, 30.0),)])
    n = 3
    cnt = counts if counts is not None else np.zeros(n, dtype=np.int64)
    expected = [Bar("X", int(arrays.ts_ns[i]), float(arrays.open[i]), float(arrays.high[i]), float(arrays.low[i]),
                    float(arrays.close[i]), float(arrays.volume[i]), float("nan"), float("nan"), int(cnt[i]),
                    float("nan"), arrays.vap[i]) for i in range(n)]
    got = list(arrays.iter_bars("X"))
    assert [repr(b) for b in got] == [repr(b) for b in expected]  # (repr: NaN fields compare as text)
    assert all(type(b.trades) is int for b in got)


TRADE_CHECK = r"""
import json, pickle
from engine.backtest.metrics import TradeRecord, trade_from_row
from engine.model import ClosedTrade
from engine.risk import RiskDecision
t = TradeRecord("SPY", "long", 100, 1, 2, 10.0, 11.0, 100.0, 0.0, 50.0, "take_profit", "sma_cross")
same = TradeRecord("SPY", "long", 100, 1, 2, 10.0, 11.0, 100.0, 0.0, 50.0, "take_profit", "sma_cross")
c = ClosedTrade("SPY", "sma_cross", "long", 100, 1, 2, 10.0, 11.0, 100.0, 2.0, "target")
print(json.dumps({
    "frozen": [cls.__dataclass_params__.frozen for cls in (TradeRecord, ClosedTrade, RiskDecision)],
    "equal": t == same and hash(t) == hash(same) and len({t, same}) == 1,
    # (repr: their NaN index fields are equal only as the same object)
    "pickled": repr(pickle.loads(pickle.dumps(t))) == repr(t) and repr(pickle.loads(pickle.dumps(c))) == repr(c),
    "row": trade_from_row(t.as_dict()) == t, "r": t.r,
}))
"""


@pytest.mark.parametrize("frozen", ["", "1"])
def test_trade_records_are_built_unfrozen_in_a_run_and_behave_as_frozen_ones(frozen):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "COCKPIT_FROZEN_RECORDS"}
    if frozen:
        env["COCKPIT_FROZEN_RECORDS"] = frozen
    out = json.loads(subprocess.run([sys.executable, "-c", TRADE_CHECK], check=True, capture_output=True, text=True,
                                    cwd=Path(__file__).resolve().parents[1], env=env).stdout)
    assert out == {"frozen": [bool(frozen)] * 3, "equal": True, "pickled": True, "row": True, "r": 2.0}
