"""trend_pullback adds (STRATEGY.md 13): a new touch while its position is open adds
to it, up to trend_pullback_max_adds times, each add with its own bracket and sized
by the risk rules; the position still ends flat; with max_adds 0 nothing adds."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from engine.backtest.data import load_dataset
from engine.backtest.runner import BacktestRun, backtest_config
from engine.model import OrderLeg

DATA = ["synthetic:SPY,QQQ,AAPL,TSLA,NVDA:2:7"]


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATA, None, None, None, False, None)


def run(ds, **strategy):
    cfg = backtest_config(None, ds.symbols, setup="trend_pullback", strategy=strategy or None)
    r = BacktestRun(cfg, ds)
    res = r.run(None)
    adds = [j for j in r.engine.journal if j.kind == "order" and j.message.startswith("add ")]
    return r, res, adds


def test_adds_up_to_max_adds_each_with_its_own_bracket(dataset):
    r, res, adds = run(dataset)
    assert adds, "no add in two simulated days"
    numbers = [int(re.match(r"add (\d+) ", j.message).group(1)) for j in adds]
    assert max(numbers) == 2  # trend_pullback_max_adds
    orders = r.broker.recent_orders(100_000)
    entries = {o.client_order_id: o for o in orders if o.leg is OrderLeg.ENTRY}
    children = Counter((o.parent_id, o.leg) for o in orders if o.parent_id)
    add_ids = r.engine.router.add_ids
    assert add_ids and add_ids <= set(entries)
    for cid in add_ids:
        e = entries[cid]
        if e.filled_qty:
            assert children[(e.id, OrderLeg.STOP_LOSS)] == 1 and children[(e.id, OrderLeg.TAKE_PROFIT)] == 1
    assert res.summary["open_positions"] == 0 and r.broker.open_orders() == []


def test_no_adds_when_max_adds_is_zero(dataset):
    _, res, adds = run(dataset, trend_pullback_max_adds=0)
    assert adds == [] and res.summary["open_positions"] == 0


def test_no_adds_with_partial_exits_or_trailing(dataset):
    assert run(dataset, target1_r=1.0)[2] == []


def test_max_positions_per_symbol_lets_other_setups_add_too(dataset):
    cfg = backtest_config(None, dataset.symbols, setup="auction,ema_cross,vwap_reclaim",
                          risk={"max_positions_per_symbol": 2})
    r = BacktestRun(cfg, dataset)
    res = r.run(None)
    adds = [j.message for j in r.engine.journal if j.kind == "order" and j.message.startswith("add ")]
    assert adds and all(m.startswith("add 1 ") for m in adds)  # at most 2 entries per symbol
    assert res.summary["open_positions"] == 0
    one = backtest_config(None, dataset.symbols, setup="auction,ema_cross,vwap_reclaim")
    r1 = BacktestRun(one, dataset)
    r1.run(None)
    assert not [j for j in r1.engine.journal if j.kind == "order" and j.message.startswith("add ")]


def test_a_restart_brings_back_the_first_entry_plan_and_the_adds_count():
    from dataclasses import replace as evolve

    from engine.model import Decision, Position, Side, Signal
    from tests.factories import paper_engine

    eng = paper_engine()
    t = 1_718_200_000 * 1_000_000_000
    first = Signal(id="a", symbol="SPY", setup="trend_pullback", side=Side.BUY, entry=100.0, stop=99.0, target=103.0,
                   confidence=60.0, reason="r", created_ns=t - 2, decision=Decision.AUTO, decided_ns=t - 1)
    add = evolve(first, id="b", entry=101.0, stop=100.0, target=104.0, created_ns=t + 5, decided_ns=t + 5)
    pos = Position("SPY", 30, 100.5, 101.0, 15.0, opened_ns=t)
    eng.router.restore_plans([pos], [add, first])  # newest first
    assert eng.router.plans["SPY"].id == "a" and eng.router.adds["SPY"] == 1
    other = Position("QQQ", 10, 100.0, 100.0, 0.0, opened_ns=t)
    eng.router.restore_plans([other], [evolve(first, id="q", symbol="QQQ")])
    assert eng.router.plans["QQQ"].id == "q" and eng.router.adds["QQQ"] == 0
