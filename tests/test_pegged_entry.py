"""Pegged limit entries (STRATEGY.md 14): hand-built quote sequences through the
peg's rules (engine/peg.py) and the paper broker that follows them."""
from __future__ import annotations

import math
import re

import pytest

from engine.backtest.arrays import unsupported
from engine.backtest.data import Dataset
from engine.backtest.paths import run_on_path
from engine.backtest.runner import backtest_config
from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.paper import PaperBroker
from engine.clock import FixedClock
from engine.factory import build_feed
from engine.config import BrokerConfig, CockpitConfig, ConfigError, EngineConfig, load_config
from engine.model import NS_PER_S, OrderLeg, OrderRequest, OrderStatus, OrderType, Quote, Side
from engine.peg import PegPolicy, PegState, peg_price, spread_bps
from tests.factories import T0, engine_config, run_session, trade
from tests.test_array_path import make_bars

POLICY = PegPolicy(spread_bps=5.0, offset_bps=1.0, max_reprices=5, timeout_s=10.0, market_fallback=True)


def quote(bid, ask, dt_s=0.0, symbol="SPY"):
    return Quote(symbol, T0 + int(dt_s * NS_PER_S), bid, ask)


# ------------------------------------------------------------------ the rules


def test_spread_is_ask_minus_bid_over_mid_in_bps():
    assert spread_bps(99.99, 100.01) == pytest.approx(2.0)
    assert spread_bps(100.01, 99.99) == math.inf  # crossed: never "tight"
    assert spread_bps(0.0, 100.0) == math.inf


def test_limit_is_mid_plus_offset_toward_the_far_side_never_beyond_it():
    # mid 100, 1 bp = 0.01: a buy pays up toward the ask, a sell down toward the bid
    assert peg_price(Side.BUY, 99.98, 100.02, 1.0) == pytest.approx(100.01)
    assert peg_price(Side.SELL, 99.98, 100.02, 1.0) == pytest.approx(99.99)
    # an offset wider than half the spread stops at the far side
    assert peg_price(Side.BUY, 99.99, 100.01, 10.0) == pytest.approx(100.01)
    assert peg_price(Side.SELL, 99.99, 100.01, 10.0) == pytest.approx(99.99)
    # on the penny grid, rounded toward the near side: mid 100.005 + 0.01 = 100.015 -> 100.01
    assert peg_price(Side.BUY, 99.99, 100.02, 1.0) == pytest.approx(100.01)
    assert peg_price(Side.SELL, 99.99, 100.02, 1.0) == pytest.approx(100.00)


def test_spread_gate_holds_the_order_until_the_spread_narrows():
    st = PegState(Side.BUY, POLICY, T0)
    assert st.on_quote(99.90, 100.10, T0) is None  # 20 bps > 5: not sent
    assert st.price is None
    act = st.on_quote(99.99, 100.01, T0 + NS_PER_S)  # 2 bps: placed
    assert act.kind == "place" and act.price == pytest.approx(100.01)
    assert st.reprices == 0  # placing is not a re-peg
    act = st.on_quote(99.90, 100.10, T0 + 2 * NS_PER_S)  # widens again: pulled
    assert act.kind == "wait" and st.price is None and "spread 20.0 bps > 5 bps" in act.reason


def test_repegs_on_quote_changes_at_most_max_reprices_then_market():
    st = PegState(Side.BUY, POLICY, T0)
    assert st.on_quote(100.00, 100.02, T0).kind == "place"
    assert st.on_quote(100.00, 100.02, T0 + 1) is None  # the same quote: nothing to do
    kinds = [st.on_quote(100.00 + k / 100, 100.02 + k / 100, T0 + k * NS_PER_S).kind for k in range(1, 7)]
    assert kinds == ["reprice"] * 5 + ["market"]
    assert st.reprices == 5 and st.done
    assert st.on_quote(101.0, 101.02, T0 + 8 * NS_PER_S) is None  # finished: nothing more


def test_repeg_limit_without_fallback_cancels():
    st = PegState(Side.SELL, PegPolicy(5.0, 1.0, max_reprices=1, timeout_s=10.0, market_fallback=False), T0)
    st.on_quote(100.00, 100.02, T0)
    assert st.on_quote(100.01, 100.03, T0 + 1).kind == "reprice"
    act = st.on_quote(100.02, 100.04, T0 + 2)
    assert act.kind == "cancel" and "max_reprices 1" in act.reason and "cancelled" in act.reason


def test_timeout_is_data_time_then_market_or_cancel():
    st = PegState(Side.BUY, POLICY, T0)
    st.on_quote(100.00, 100.02, T0)
    assert st.due(T0 + 9 * NS_PER_S) is None
    act = st.due(T0 + 10 * NS_PER_S)
    assert act.kind == "market" and "timed out (10s)" in act.reason and "sent at market" in act.reason
    off = PegState(Side.BUY, PegPolicy(5.0, 1.0, 5, 10.0, market_fallback=False), T0)
    # a quote arriving after the deadline ends it too (never waiting for spread forever)
    act = off.on_quote(99.0, 101.0, T0 + 11 * NS_PER_S)
    assert act.kind == "cancel" and "timed out" in act.reason


# ------------------------------------------------------------------ the paper broker


def make():
    clock = FixedClock(T0)
    broker = PaperBroker(BrokerConfig(slippage_bps=0.0), clock, ("SPY",))
    events = []
    broker.set_event_handler(events.append)
    return broker, clock, events


def pegged(cid="p-1", side=Side.BUY, policy=POLICY, ref=100.0):
    stop, target = (ref - 1, ref + 2) if side is Side.BUY else (ref + 1, ref - 2)
    return OrderRequest(client_order_id=cid, symbol="SPY", side=side, qty=10, type=OrderType.LIMIT,
                        limit_price=ref, take_profit=target, stop_loss=stop, peg=policy)


async def test_paper_pegged_entry_waits_for_the_spread_and_fills_at_its_peg():
    broker, clock, events = make()
    broker.on_quote(quote(99.90, 100.10))  # 20 bps: too wide
    broker.on_trade(trade(100.0))
    order = await broker.submit(pegged())
    assert order.status is OrderStatus.NEW
    broker.on_trade(trade(99.0, dt_s=1))  # would fill any buy limit at 100: it is not in the market
    assert broker.positions() == []
    broker.on_quote(quote(99.99, 100.01, dt_s=2))  # 2 bps: placed at 100.01
    placed = [e for e in events if e.kind == "replaced"]
    assert placed[-1].reason.startswith("peg: placed at 100.01")
    assert placed[-1].order.limit_price == pytest.approx(100.01)
    broker.on_trade(trade(100.02, dt_s=3))  # above the limit: no fill
    assert broker.positions() == []
    broker.on_trade(trade(100.01, dt_s=4))
    pos = broker.position("SPY")
    assert pos is not None and pos.qty == 10 and pos.avg_price == pytest.approx(100.01)


async def test_paper_pegged_entry_times_out_to_market():
    broker, clock, events = make()
    broker.on_trade(trade(100.0))
    broker.on_quote(quote(100.00, 100.02))
    await broker.submit(pegged())  # placed at once at the current quote
    assert [e.reason for e in events if e.kind == "replaced"][0].startswith("peg: placed at 100.02")
    broker.on_quote(quote(100.01, 100.03, dt_s=1))  # re-peg 1
    assert events[-1].reason.startswith("peg: re-pegged 1/5")
    clock.advance_s(11)
    broker.on_trade(trade(100.50, dt_s=11))  # data time past the 10 s: market, then fills on the next print
    went = [e for e in events if e.kind == "replaced" and "sent at market" in e.reason]
    assert went and went[0].order.type is OrderType.MARKET and "after 1 re-pegs" in went[0].reason
    broker.on_trade(trade(100.60, dt_s=12))
    assert broker.position("SPY").qty == 10


async def test_paper_pegged_entry_without_fallback_is_cancelled_with_its_children():
    broker, clock, events = make()
    broker.on_trade(trade(100.0))
    broker.on_quote(quote(100.00, 100.02))
    policy = PegPolicy(5.0, 1.0, max_reprices=0, timeout_s=10.0, market_fallback=False)
    order = await broker.submit(pegged(policy=policy))
    broker.on_quote(quote(100.01, 100.03, dt_s=1))  # a re-peg it may not make
    assert broker.order(order.id).status is OrderStatus.CANCELED
    assert "max_reprices 0" in broker.order(order.id).reason
    assert broker.open_orders() == []  # the bracket's held children went with it


async def test_only_a_limit_entry_can_be_pegged():
    broker, _, _ = make()
    broker.on_trade(trade(100.0))
    bad = OrderRequest(client_order_id="p-9", symbol="SPY", side=Side.BUY, qty=1, peg=POLICY)
    order = await broker.submit(bad)
    assert order.status is OrderStatus.REJECTED and "only a limit entry can be pegged" in order.reason


def test_config_knows_pegged_and_its_settings():
    ec = EngineConfig(entry_type="pegged")
    assert (ec.entry_spread_bps, ec.limit_offset_bps, ec.max_reprices, ec.peg_timeout_s, ec.market_fallback) == (
        5.0, 1.0, 5, 10.0, True)
    with pytest.raises(Exception, match="entry_type"):
        EngineConfig(entry_type="iceberg")


# ------------------------------------------------------------------ backtests: bars carry no quotes


def _pegged_backtest_config():
    base = CockpitConfig.model_validate({"engine": {"entry_type": "pegged"}})
    return backtest_config(base, ["SYM"], setup="sma_cross")


def test_array_path_sends_pegged_runs_to_the_engine_naming_why():
    ds = Dataset("bars", {"SYM": make_bars(1, "us_equity", 2, 0.0, 0.0, False)}, "generated")
    assert unsupported(_pegged_backtest_config(), ds) == "pegged entries not supported"


def test_backtest_refuses_pegged_entries_naming_the_missing_quotes():
    ds = Dataset("bars", {"SYM": make_bars(1, "us_equity", 2, 0.0, 0.0, False)}, "generated")
    with pytest.raises(ConfigError, match="pegged.*cannot be backtested.*bid/ask.*bars data has none"):
        run_on_path(_pegged_backtest_config(), ds, "arrays")


# ------------------------------------------------------------------ the seeded simulator quotes for a pegged run


async def test_seeded_pegged_session_pegs_to_the_simulators_quotes_and_journals_each_step():
    eng = await run_session(engine_config("AUTO", engine={"entry_type": "pegged"}))
    pegs = [j.message for j in eng.journal if j.kind == "order" and "peg: " in j.message]
    assert any("peg: placed at" in m for m in pegs), pegs[:5]
    entries = [o for o in eng.broker.recent_orders(10_000) if o.leg is OrderLeg.ENTRY]
    filled = [o for o in entries if o.status is OrderStatus.FILLED]
    assert filled, "no pegged entry filled"
    # an entry filled at its peg is a limit; one that ran out of re-pegs/time went to market, said so
    went_market = [o for o in filled if o.type is OrderType.MARKET]
    assert len(went_market) == sum("sent at market" in m for m in pegs)
    assert eng.summary()["open_positions"] == 0
    # the signal's row says what its entry's peg did last (one note, the latest step)
    noted = [sig.decision_reason for sig in eng.decisions if " · peg: " in sig.decision_reason]
    assert noted and all(r.count(" · peg: ") == 1 for r in noted), noted[:3]
    assert any("placed at" in r or "re-pegged" in r for r in noted)


async def test_the_simulator_quotes_only_for_pegged_runs():
    eng = await run_session(engine_config("AUTO"))
    assert not any("peg: " in j.message for j in eng.journal)
    assert all(o.type is OrderType.MARKET for o in eng.broker.recent_orders(10_000) if o.leg is OrderLeg.ENTRY)


def test_pegged_entries_on_alpaca_are_accepted_by_the_config():
    cfg = load_config(None, overrides={"engine": {"entry_type": "pegged"}, "broker": {"kind": "alpaca"},
                                       "feed": {"kind": "alpaca"}}, env={})
    assert cfg.engine.entry_type == "pegged"  # driven by engine/brokers/alpaca_peg.py


def test_the_alpaca_broker_pegs_only_a_limit_entry():
    assert AlpacaBroker._problem(pegged()) is None
    market = OrderRequest(client_order_id="p-9", symbol="SPY", side=Side.BUY, qty=1, peg=POLICY)
    assert "only a limit entry can be pegged" in AlpacaBroker._problem(market)


async def test_a_restart_cancels_a_working_pegged_entry_saying_why():
    broker, clock, _ = make()
    broker.on_trade(trade(100.0))
    await broker.submit(pegged())  # no quote yet: waiting for the spread, as a limit at the reference price
    working = broker.open_orders()
    assert len(working) == 3 and all(o.reason.startswith("peg: ") for o in working if o.leg is OrderLeg.ENTRY)
    again, _, events = make()
    again.restore([], working)
    entry = next(o for o in working if o.leg is OrderLeg.ENTRY)
    assert again.order(entry.id).status is OrderStatus.CANCELED
    assert "not restored after a restart" in again.order(entry.id).reason
    assert again.open_orders() == []  # its held bracket went with it
    assert [e.kind for e in events].count("canceled") == 3
    again.on_trade(trade(99.0, dt_s=1))  # it cannot fill at the signal's reference price any more
    assert again.positions() == []


def test_a_pegged_replay_of_a_file_without_quotes_is_refused_naming_the_file(tmp_path):
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2024-01-02T15:00:00Z,1,2,0.5,1.5,10\n")
    cfg = engine_config("AUTO", engine={"entry_type": "pegged"}, feed={"kind": "replay", "file": str(bars)})
    why = f"entry_type = 'pegged' needs bid/ask quotes; feed.file = '{bars}' has none (bars data); replay a " \
          "trades file with bid and ask columns"
    with pytest.raises(ConfigError, match=re.escape(why)):
        build_feed(cfg, FixedClock(T0))
