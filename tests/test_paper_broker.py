"""The paper broker: fill rules, brackets, rejections and money arithmetic,
all checked against hand-computed numbers."""
from __future__ import annotations

import csv
import math

import pytest

from engine.brokers.base import BacktestBroker, Broker
from engine.brokers.paper import PaperBroker
from engine.clock import FixedClock
from engine.config import BrokerConfig
from engine.model import (
    NS_PER_MIN,
    NS_PER_S,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    Trade,
)
from tests.factories import T0, minute_bar, trade

def make(slippage_bps=0.0, commission=0.0, equity=100_000.0, margin=2.0, symbols=("SPY", "QQQ")):
    clock = FixedClock(T0)
    cfg = BrokerConfig(initial_equity=equity, slippage_bps=slippage_bps, commission_per_share=commission,
                       margin_multiplier=margin)
    broker = PaperBroker(cfg, clock, symbols)
    events = []
    broker.set_event_handler(events.append)
    return broker, clock, events


def req(cid, side=Side.BUY, qty=100, symbol="SPY", **kw):
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, qty=qty, **kw)


def test_implements_the_protocols():
    broker, _, _ = make()
    assert isinstance(broker, Broker) and isinstance(broker, BacktestBroker)
    assert not BacktestBroker.__abstractmethods__ - set(vars(PaperBroker)), "every abstract method implemented"
    for name in ("on_trade", "on_bar", "on_quote", "start_of_day", "restore", "has_exposure", "position",
                 "order_count", "check_timeouts", "first_touch", "equity_with_last", "is_idle"):
        assert name in vars(PaperBroker), f"PaperBroker relies on the no-op default of {name}"
    assert broker.fills_from_market_data
    assert broker.kind == "SIMULATED"


# ------------------------------------------------------------------ market fills on trades


async def test_market_order_fills_at_next_trade_with_slippage_and_commission():
    broker, clock, events = make(slippage_bps=10, commission=0.01)
    broker.on_trade(trade(99.0))
    order = await broker.submit(req("a-1"))
    assert order.status is OrderStatus.NEW
    assert broker.positions() == []  # not filled on the print it was decided on
    broker.on_trade(trade(100.0, dt_s=1))
    fills = [e.fill for e in events if e.kind == "fill"]
    assert len(fills) == 1
    f = fills[0]
    assert f.price == pytest.approx(100.10)  # 100 + 10 bps against us
    assert f.commission == pytest.approx(1.00)
    assert f.qty == 100 and f.ts_ns == T0 + NS_PER_S
    acct = broker.account()
    assert acct.cash == pytest.approx(100_000 - 10_010 - 1)
    broker.on_trade(trade(101.0, dt_s=2))
    (pos,) = broker.positions()
    assert pos.qty == 100 and pos.avg_price == pytest.approx(100.10)
    assert pos.unrealized_pnl == pytest.approx(90.0)
    acct = broker.account()
    assert acct.equity == pytest.approx(100_089.0)  # 100000 + 90 unrealized - 1 commission
    assert acct.commissions == pytest.approx(1.0)


async def test_sell_market_slippage_is_against_us():
    broker, _, events = make(slippage_bps=20)
    broker.on_trade(trade(50.0))
    await broker.submit(req("s-1", side=Side.SELL, qty=10))
    broker.on_trade(trade(50.0))
    (f,) = [e.fill for e in events if e.kind == "fill"]
    assert f.price == pytest.approx(49.90)
    assert broker.positions()[0].qty == -10


async def test_limit_fills_at_limit_when_traded_at_or_through():
    broker, _, events = make(slippage_bps=50)
    broker.on_trade(trade(101.0))
    await broker.submit(req("l-1", type=OrderType.LIMIT, limit_price=100.0))
    broker.on_trade(trade(100.01))
    assert not [e for e in events if e.kind == "fill"]
    broker.on_trade(trade(99.5))  # through the limit: we get the limit, no slippage
    (f,) = [e.fill for e in events if e.kind == "fill"]
    assert f.price == 100.0


async def test_stop_triggers_and_fills_at_the_trade_price_plus_slippage():
    broker, _, events = make(slippage_bps=10)
    broker.on_trade(trade(100.0))
    await broker.submit(req("st-1", type=OrderType.STOP, stop_price=101.0))
    broker.on_trade(trade(100.9))
    assert not [e for e in events if e.kind == "fill"]
    broker.on_trade(trade(101.5))  # gapped past the stop: fills where it printed
    (f,) = [e.fill for e in events if e.kind == "fill"]
    assert f.price == pytest.approx(101.5 * 1.001)


# ------------------------------------------------------------------ brackets


async def _long_bracket(broker, cid="b-1", tp=102.0, sl=99.0):
    broker.on_trade(trade(100.0))
    entry = await broker.submit(req(cid, take_profit=tp, stop_loss=sl))
    return entry


async def test_bracket_children_are_held_until_the_entry_fills():
    broker, _, events = make()
    entry = await _long_bracket(broker)
    opens = broker.open_orders()
    assert [o.leg for o in opens] == [OrderLeg.ENTRY, OrderLeg.TAKE_PROFIT, OrderLeg.STOP_LOSS]
    assert [o.status for o in opens[1:]] == [OrderStatus.HELD, OrderStatus.HELD]
    assert all(o.parent_id == entry.id for o in opens[1:])
    assert [o.client_order_id for o in opens] == ["b-1", "b-1-tp", "b-1-sl"]
    broker.on_trade(trade(98.0))  # below the stop: children are held, nothing fires
    assert broker.positions()[0].qty == 100
    tp, sl = [o for o in broker.open_orders()]
    assert tp.status is OrderStatus.NEW and sl.status is OrderStatus.NEW
    pos = broker.positions()[0]
    assert pos.stop == 99.0 and pos.target == 102.0


async def test_bracket_take_profit_fills_and_cancels_the_stop():
    broker, _, events = make()
    await _long_bracket(broker)
    broker.on_trade(trade(100.0))  # entry
    broker.on_trade(trade(101.0))
    broker.on_trade(trade(102.0))  # target
    assert broker.positions() == []
    assert broker.open_orders() == []
    kinds = [(e.kind, e.order.leg) for e in events if e.kind in ("fill", "canceled")]
    assert kinds == [("fill", OrderLeg.ENTRY), ("fill", OrderLeg.TAKE_PROFIT), ("canceled", OrderLeg.STOP_LOSS)]
    assert broker.account().realized_pnl == pytest.approx(200.0)
    cancel = [e for e in events if e.kind == "canceled"][0]
    assert "OCO" in cancel.reason


async def test_bracket_stop_fills_and_cancels_the_target():
    broker, _, events = make(slippage_bps=10)
    await _long_bracket(broker)
    broker.on_trade(trade(100.0))  # entry at 100.10
    broker.on_trade(trade(98.5))  # through the stop: fills at 98.5 less 10 bps
    assert broker.positions() == [] and broker.open_orders() == []
    fills = [e.fill for e in events if e.kind == "fill"]
    assert [f.leg for f in fills] == [OrderLeg.ENTRY, OrderLeg.STOP_LOSS]
    assert fills[1].price == pytest.approx(98.5 * 0.999)
    assert [e.order.leg for e in events if e.kind == "canceled"] == [OrderLeg.TAKE_PROFIT]
    expected = 100 * (98.5 * 0.999 - 100.0 * 1.001)
    assert broker.account().realized_pnl == pytest.approx(expected)
    assert broker.account().equity == pytest.approx(100_000 + expected)


async def test_short_bracket_mirrors():
    broker, _, events = make()
    broker.on_trade(trade(100.0))
    await broker.submit(req("sb", side=Side.SELL, take_profit=97.0, stop_loss=101.0))
    broker.on_trade(trade(100.0))
    assert broker.positions()[0].qty == -100
    broker.on_trade(trade(96.9))
    assert broker.positions() == []
    assert broker.account().realized_pnl == pytest.approx(300.0)


async def test_cancelling_an_entry_cancels_its_held_children():
    broker, _, events = make()
    entry = await _long_bracket(broker)
    out = await broker.cancel(entry.id)
    assert out.status is OrderStatus.CANCELED
    assert broker.open_orders() == []
    assert sorted(e.order.leg.value for e in events if e.kind == "canceled") == ["entry", "stop_loss", "take_profit"]
    assert await broker.cancel("nope") is None


# ------------------------------------------------------------------ bars


async def test_bar_market_fills_at_open_with_slippage():
    broker, _, events = make(slippage_bps=10)
    broker.on_bar(minute_bar(0, 100, 101, 99, 100.5))
    await broker.submit(req("m", qty=10))
    broker.on_bar(minute_bar(1, 100.2, 101, 99.5, 100.8))
    (f,) = [e.fill for e in events if e.kind == "fill"]
    assert f.price == pytest.approx(100.2 * 1.001)
    assert f.ts_ns == T0 + NS_PER_MIN
    assert broker.positions()[0].last == 100.8  # marked to the bar's close


async def test_bar_gap_through_stop_fills_at_open():
    broker, _, events = make()
    broker.on_bar(minute_bar(0, 100, 100.5, 99.5, 100))
    await broker.submit(req("g", take_profit=103.0, stop_loss=98.0))
    broker.on_bar(minute_bar(1, 100, 100.5, 99.8, 100.2))  # entry at open 100
    assert broker.positions()[0].qty == 100
    broker.on_bar(minute_bar(2, 96.0, 97.0, 95.5, 96.5))  # gaps below the 98 stop
    fills = [e.fill for e in events if e.kind == "fill"]
    assert fills[-1].leg is OrderLeg.STOP_LOSS and fills[-1].price == 96.0
    assert broker.account().realized_pnl == pytest.approx(-400.0)


async def test_bar_touching_both_stop_and_target_fills_the_stop():
    broker, _, events = make()
    broker.on_bar(minute_bar(0, 100, 100.5, 99.5, 100))
    await broker.submit(req("both", take_profit=102.0, stop_loss=98.0))
    broker.on_bar(minute_bar(1, 100, 100.4, 99.9, 100.1))
    broker.on_bar(minute_bar(2, 100.0, 102.5, 97.5, 100.0))  # touches 98 and 102
    fills = [e.fill for e in events if e.kind == "fill"]
    assert [f.leg for f in fills] == [OrderLeg.ENTRY, OrderLeg.STOP_LOSS]
    assert fills[-1].price == 98.0
    assert broker.positions() == [] and broker.open_orders() == []


async def test_bar_entry_bar_can_hit_its_stop_but_not_its_target():
    broker, _, events = make()
    broker.on_bar(minute_bar(0, 100, 100.5, 99.5, 100))
    await broker.submit(req("same", take_profit=101.0, stop_loss=99.0))
    broker.on_bar(minute_bar(1, 100, 101.5, 98.5, 100))  # after the open it hit both
    fills = [e.fill for e in events if e.kind == "fill"]
    assert [(f.leg, f.price) for f in fills] == [(OrderLeg.ENTRY, 100.0), (OrderLeg.STOP_LOSS, 99.0)]


async def test_bar_limits_fill_at_limit_or_at_a_favourable_open():
    broker, _, events = make()
    broker.on_bar(minute_bar(0, 101, 101.5, 100.5, 101))
    await broker.submit(req("lim1", type=OrderType.LIMIT, limit_price=100.0, qty=10))
    broker.on_bar(minute_bar(1, 100.8, 101, 99.7, 100.2))
    await broker.submit(req("lim2", type=OrderType.LIMIT, limit_price=100.0, qty=10))
    broker.on_bar(minute_bar(2, 99.0, 99.5, 98.5, 99.2))  # opened below the limit
    fills = [e.fill for e in events if e.kind == "fill"]
    assert [f.price for f in fills] == [100.0, 99.0]


async def test_bar_with_inconsistent_prices_is_counted_and_skipped():
    broker, _, _ = make()
    broker.on_bar(minute_bar(0, 100, 99, 101, 100))  # high < low
    broker.on_trade(trade(float("nan")))
    assert broker.malformed == 2
    assert broker.last_price("SPY") is None


# ------------------------------------------------------------------ rejections


async def test_duplicate_client_order_id_is_refused_without_effect():
    broker, _, events = make()
    broker.on_trade(trade(100.0))
    await broker.submit(req("dup-1", qty=10))
    broker.on_trade(trade(100.0))
    again = await broker.submit(req("dup-1", qty=10))
    assert again.status is OrderStatus.REJECTED
    assert "duplicate client order id" in again.reason
    broker.on_trade(trade(100.0))
    assert broker.positions()[0].qty == 10
    assert len([e for e in events if e.kind == "fill"]) == 1
    assert [e.reason for e in events if e.kind == "rejected"] == [again.reason]


@pytest.mark.parametrize(
    "request_kwargs, reason",
    [
        (dict(symbol="XYZ"), "unknown symbol 'XYZ'"),
        (dict(qty=0), "qty must be a whole number >= 1"),
        (dict(qty=-5), "qty must be a whole number >= 1"),
        (dict(take_profit=105.0, stop_loss=101.0), "invalid prices: stop loss 101.0 must be below the entry"),
        (dict(take_profit=99.0, stop_loss=95.0), "invalid prices: take profit 99.0 must be above the entry"),
        (dict(type=OrderType.LIMIT), "invalid prices: a limit order needs a positive limit price"),
        (dict(type=OrderType.STOP, stop_price=-1.0), "invalid prices: a stop order needs a positive stop price"),
        (dict(qty=2_001), "insufficient buying power: order needs $200,100.00, available $200,000.00"),
        (dict(side=Side.SELL, leg=OrderLeg.EXIT), "nothing to close"),
        (dict(client_order_id="x" * 49), "client order id must be 1-48 characters"),
    ],
)
async def test_each_rejection_carries_its_reason(request_kwargs, reason):
    broker, _, events = make()
    broker.on_trade(trade(100.0))
    kw = dict(client_order_id="r-1", symbol="SPY", side=Side.BUY, qty=10)
    kw.update(request_kwargs)
    order = await broker.submit(OrderRequest(**kw))
    assert order.status is OrderStatus.REJECTED
    assert reason in order.reason, order.reason
    broker.on_trade(trade(100.0))
    assert broker.positions() == [] and broker.open_orders() == []
    assert events[-1].kind == "rejected" and events[-1].reason == order.reason


async def test_market_order_without_any_price_is_refused_but_a_quote_is_enough():
    broker, _, _ = make()
    order = await broker.submit(req("np", qty=1))
    assert order.status is OrderStatus.REJECTED and "no price yet for SPY" in order.reason
    broker.on_quote(Quote(symbol="SPY", ts_ns=T0, bid=99.99, ask=100.01))
    order = await broker.submit(req("np-2", qty=1, take_profit=101.0, stop_loss=99.0))
    assert order.status is OrderStatus.NEW


async def test_open_entries_reserve_buying_power():
    broker, _, _ = make(equity=10_000, margin=1.0)
    broker.on_trade(trade(100.0))
    first = await broker.submit(req("bp-1", qty=60))
    assert first.status is OrderStatus.NEW
    assert broker.account().buying_power == pytest.approx(4_000.0)
    second = await broker.submit(req("bp-2", qty=60))
    assert second.status is OrderStatus.REJECTED
    assert second.reason == "insufficient buying power: order needs $6,000.00, available $4,000.00"
    broker.on_trade(trade(100.0))
    # filled: 6,000 of gross notional now, same 4,000 left
    assert broker.account().buying_power == pytest.approx(4_000.0)
    # a reduction needs no buying power
    reduce = await broker.submit(req("bp-3", side=Side.SELL, qty=60))
    assert reduce.status is OrderStatus.NEW


# ------------------------------------------------------------------ P&L arithmetic


async def _fill_market(broker, cid, side, qty, price):
    await broker.submit(req(cid, side=side, qty=qty))
    broker.on_trade(trade(price))


async def test_position_pnl_equity_and_day_pnl_by_hand():
    broker, clock, _ = make(commission=0.005)
    broker.on_trade(trade(100.0))
    await _fill_market(broker, "p1", Side.BUY, 100, 100.0)
    await _fill_market(broker, "p2", Side.BUY, 100, 102.0)
    (pos,) = broker.positions()
    assert pos.qty == 200 and pos.avg_price == pytest.approx(101.0)
    broker.start_of_day(T0)
    sod = broker.account().equity
    # 200 @ 101 marked at 102: +200 unrealized; commissions 2 x 0.50
    assert sod == pytest.approx(100_000 + 200 - 1.0)
    await _fill_market(broker, "p3", Side.SELL, 150, 104.0)
    (pos,) = broker.positions()
    assert pos.qty == 50 and pos.avg_price == pytest.approx(101.0)
    assert pos.realized_pnl == pytest.approx(450.0)  # 150 x (104 - 101)
    assert pos.unrealized_pnl == pytest.approx(150.0)  # 50 x (104 - 101)
    acct = broker.account()
    assert acct.commissions == pytest.approx(1.75)
    assert acct.equity == pytest.approx(100_000 + 450 + 150 - 1.75)
    assert acct.day_pnl == pytest.approx(acct.equity - sod)
    assert acct.day_pnl == pytest.approx(400 - 0.75)
    # flip to short: closes 50 at 103 (+100), opens 50 short at 103
    await _fill_market(broker, "p4", Side.SELL, 100, 103.0)
    (pos,) = broker.positions()
    assert pos.qty == -50 and pos.avg_price == pytest.approx(103.0)
    assert pos.realized_pnl == 0.0
    acct = broker.account()
    assert acct.realized_pnl == pytest.approx(550.0)
    assert acct.equity == pytest.approx(100_000 + 550 - 2.25)
    assert acct.cash == pytest.approx(100_000 - 10_000 - 10_200 + 15_600 + 10_300 - 2.25)
    broker.on_trade(trade(101.0))  # short gains 2 x 50
    assert broker.account().unrealized_pnl == pytest.approx(100.0)
    assert broker.account().equity == pytest.approx(100_000 + 550 + 100 - 2.25)


# ------------------------------------------------------------------ flatten, cancel, replace, timeouts


async def _book_with_positions_and_orders(broker):
    broker.on_trade(trade(100.0))
    broker.on_trade(trade(50.0, symbol="QQQ"))
    await broker.submit(req("e1", qty=10, take_profit=105.0, stop_loss=95.0))
    await broker.submit(req("e2", side=Side.SELL, qty=20, symbol="QQQ", take_profit=45.0, stop_loss=55.0))
    broker.on_trade(trade(100.0))
    broker.on_trade(trade(50.0, symbol="QQQ"))
    await broker.submit(req("e3", qty=5, type=OrderType.LIMIT, limit_price=90.0))
    assert len(broker.positions()) == 2
    assert len(broker.open_orders()) == 5


async def test_close_all_cancels_everything_then_flattens_on_the_next_trade():
    broker, _, events = make()
    await _book_with_positions_and_orders(broker)
    out = await broker.close_all()
    closing = [o for o in out if o.leg is OrderLeg.EXIT]
    assert sorted((o.symbol, o.side, o.qty) for o in closing) == [("QQQ", Side.BUY, 20), ("SPY", Side.SELL, 10)]
    assert len([o for o in out if o.status is OrderStatus.CANCELED]) == 5
    assert all(o.leg is OrderLeg.EXIT for o in broker.open_orders())
    broker.on_trade(trade(101.0))
    broker.on_trade(trade(49.0, symbol="QQQ"))
    assert broker.positions() == []
    assert broker.open_orders() == []
    assert broker.account().realized_pnl == pytest.approx(10 * 1.0 + 20 * 1.0)


async def test_close_all_immediate_fills_at_last_price_now():
    broker, _, _ = make(slippage_bps=10)
    await _book_with_positions_and_orders(broker)
    await broker.close_all(immediate=True)
    assert broker.positions() == [] and broker.open_orders() == []
    acct = broker.account()
    assert acct.equity == pytest.approx(acct.cash)
    # entries paid 10 bps in, exits 10 bps out
    expected = 10 * (100 * 0.999 - 100 * 1.001) + 20 * (50 * 0.999 - 50 * 1.001)
    assert acct.realized_pnl == pytest.approx(expected)


async def test_cancel_all_leaves_no_open_order_and_keeps_positions():
    broker, _, _ = make()
    await _book_with_positions_and_orders(broker)
    canceled = await broker.cancel_all()
    assert len(canceled) == 5 and all(o.status is OrderStatus.CANCELED for o in canceled)
    assert broker.open_orders() == []
    assert len(broker.positions()) == 2


async def test_close_one_symbol():
    broker, _, _ = make()
    await _book_with_positions_and_orders(broker)
    await broker.close("SPY", immediate=True)
    assert [p.symbol for p in broker.positions()] == ["QQQ"]
    assert {o.symbol for o in broker.open_orders()} == {"QQQ"}
    assert await broker.close("SPY") == []


async def test_replace_stop_moves_the_protective_stop():
    broker, _, events = make()
    await _long_bracket(broker, tp=110.0, sl=95.0)
    broker.on_trade(trade(100.0))
    moved = await broker.replace_stop("SPY", 100.0)
    assert moved.stop_price == 100.0 and moved.leg is OrderLeg.STOP_LOSS
    assert events[-1].kind == "replaced"
    assert broker.positions()[0].stop == 100.0
    broker.on_trade(trade(99.9))
    assert broker.positions() == []
    assert broker.account().realized_pnl == pytest.approx(10 * 0 + 100 * -0.1)
    assert await broker.replace_stop("SPY", 99.0) is None
    with pytest.raises(ValueError, match="not a positive price"):
        await broker.replace_stop("SPY", float("nan"))


async def test_replace_stop_without_a_stop_order_creates_one():
    broker, _, _ = make()
    broker.on_trade(trade(100.0))
    await _fill_market(broker, "n1", Side.BUY, 10, 100.0)
    stop = await broker.replace_stop("SPY", 98.0)
    assert stop.type is OrderType.STOP and stop.side is Side.SELL and stop.qty == 10
    broker.on_trade(trade(97.0))
    assert broker.positions() == []


async def test_partial_exit_shrinks_the_bracket_children():
    broker, _, events = make()
    await _long_bracket(broker, tp=110.0, sl=95.0)
    broker.on_trade(trade(100.0))
    part = await broker.submit(req("part", side=Side.SELL, qty=50, leg=OrderLeg.EXIT))
    assert part.status is OrderStatus.NEW
    broker.on_trade(trade(104.0))
    assert broker.positions()[0].qty == 50
    assert [o.qty for o in broker.open_orders()] == [50, 50]
    broker.on_trade(trade(94.0))  # the stop closes the rest, never flips short
    assert broker.positions() == []
    assert broker.account().realized_pnl == pytest.approx(50 * 4 - 50 * 6)


async def test_limit_entry_expires_after_its_timeout():
    broker, clock, events = make()
    broker.on_trade(trade(101.0))
    entry = await broker.submit(req("to", type=OrderType.LIMIT, limit_price=100.0, timeout_s=30,
                                    take_profit=103.0, stop_loss=98.0))
    clock.advance_s(29)
    broker.on_trade(trade(100.5, dt_s=29))
    assert broker.order(entry.id).status is OrderStatus.NEW
    clock.advance_s(2)
    broker.on_trade(trade(99.0, dt_s=31))  # would have filled, but it expired first
    assert broker.order(entry.id).status is OrderStatus.EXPIRED
    assert broker.positions() == [] and broker.open_orders() == []
    assert [e.kind for e in events][-3:] == ["expired", "canceled", "canceled"]
    assert "unfilled after 30s" in broker.order(entry.id).reason


async def test_check_timeouts_expires_without_market_data():
    broker, clock, _ = make()
    broker.on_trade(trade(101.0))
    entry = await broker.submit(req("to2", type=OrderType.LIMIT, limit_price=100.0, timeout_s=5))
    clock.advance_s(5)
    (expired,) = broker.check_timeouts()
    assert expired.id == entry.id and expired.status is OrderStatus.EXPIRED


async def test_event_sequence_and_recent_orders():
    broker, _, events = make()
    await _long_bracket(broker)
    broker.on_trade(trade(100.0))
    assert [(e.kind, e.order.leg.value, e.order.status.value) for e in events] == [
        ("new", "entry", "new"),
        ("new", "take_profit", "held"),
        ("new", "stop_loss", "held"),
        ("fill", "entry", "filled"),
        ("new", "take_profit", "new"),
        ("new", "stop_loss", "new"),
    ]
    recent = broker.recent_orders(2)
    assert [o.leg for o in recent] == [OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT]


async def test_handler_sees_consistent_state_during_fill_event():
    broker, _, _ = make()
    seen = []
    broker.set_event_handler(lambda e: seen.append((e.kind, [p.qty for p in broker.positions()])))
    broker.on_trade(trade(100.0))
    await broker.submit(req("h", qty=3))
    broker.on_trade(trade(100.0))
    assert ("fill", [3]) in seen


# ------------------------------------------------------------------ real data


def _load_trades(path, symbol, limit=None):
    out = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            out.append(Trade(symbol=symbol, ts_ns=int(row["ts_ns"]), price=float(row["price"]),
                             size=float(row["size"]), side=int(row["side"])))
            if limit and len(out) >= limit:
                break
    return out


async def test_bracket_on_real_es_trades_exits_at_the_first_print_beyond_a_level(shared_data):
    trades = _load_trades(shared_data("esh4_20231225_trades.csv"), "ESH4")
    clock = FixedClock(trades[0].ts_ns)
    broker = PaperBroker(BrokerConfig(slippage_bps=0.0), clock, ["ESH4"])
    events = []
    broker.set_event_handler(events.append)
    broker.on_trade(trades[0])
    entry_px = trades[1].price
    sl, tp = entry_px - 2.0, entry_px + 2.0
    await broker.submit(req("es", qty=1, symbol="ESH4", take_profit=tp, stop_loss=sl))
    for t in trades[1:]:
        clock.set(t.ts_ns)
        broker.on_trade(t)
    fills = [e.fill for e in events if e.kind == "fill"]
    assert fills[0].price == entry_px
    # the exit is the first later print at/through either level
    first = next(t for t in trades[2:] if t.price <= sl or t.price >= tp)
    assert len(fills) == 2
    if first.price >= tp:
        assert fills[1].leg is OrderLeg.TAKE_PROFIT and fills[1].price == tp
    else:
        assert fills[1].leg is OrderLeg.STOP_LOSS and fills[1].price == first.price
    assert fills[1].ts_ns == first.ts_ns
    acct = broker.account()
    assert broker.positions() == [] and broker.open_orders() == []
    assert acct.equity == pytest.approx(100_000 + (fills[1].price - entry_px))
    assert math.isclose(acct.equity, acct.cash)


# ------------------------------------------------------------------ client order ids


def test_client_order_ids_are_deterministic_unique_and_short():
    from engine.ids import MAX_CLIENT_ORDER_ID_LEN, ClientOrderIds

    a, b = ClientOrderIds("ck"), ClientOrderIds("ck")
    assert a.for_signal("SPY-20240305-0945-auction", 1) == "ck-SPY-20240305-0945-auction-1"
    assert a.for_signal("sig", 2) == "ck-sig-2"
    assert ClientOrderIds.child("ck-sig-2", "take_profit") == "ck-sig-2-tp"
    assert ClientOrderIds.child("ck-sig-2", "stop_loss") == "ck-sig-2-sl"
    assert [a.next_exit("SPY") for _ in range(2)] == ["ck-x-SPY-1", "ck-x-SPY-2"]
    assert [b.next_exit("SPY") for _ in range(2)] == ["ck-x-SPY-1", "ck-x-SPY-2"]
    long_id = "x" * 80
    one, two = a.for_signal(long_id), b.for_signal(long_id)
    assert one == two and len(one) <= MAX_CLIENT_ORDER_ID_LEN - 3
    assert a.for_signal(long_id + "y") != one
    assert len(ClientOrderIds.child(one, "stop_loss")) <= MAX_CLIENT_ORDER_ID_LEN
    assert a.for_signal("odd id/with spaces") == "ck-odd_id_with_spaces-1"
    with pytest.raises(ValueError):
        a.for_signal("s", 0)


async def test_long_signal_ids_make_acceptable_bracket_ids():
    from engine.ids import ClientOrderIds

    broker, _, _ = make()
    broker.on_trade(trade(100.0))
    cid = ClientOrderIds("ck").for_signal("S" * 100)
    entry = await broker.submit(req(cid, qty=1, take_profit=101.0, stop_loss=99.0))
    assert entry.status is OrderStatus.NEW
    assert all(len(o.client_order_id) <= 48 for o in broker.open_orders())
    assert len({o.client_order_id for o in broker.open_orders()}) == 3


# ------------------------------------------------------------------ accounting identity on random paths


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 50), st.floats(50, 150)),
        min_size=1, max_size=25,
    ),
    slippage=st.sampled_from([0.0, 5.0]),
    commission=st.sampled_from([0.0, 0.005]),
)
def test_equity_is_initial_plus_realized_plus_unrealized_minus_commissions(steps, slippage, commission):
    import asyncio

    async def run():
        broker, _, events = make(slippage_bps=slippage, commission=commission, equity=1e7)
        broker.on_trade(trade(100.0))
        for i, (side, qty, price) in enumerate(steps):
            await broker.submit(req(f"h-{i}", side=side, qty=qty))
            broker.on_trade(trade(price))
        acct = broker.account()
        assert acct.equity == pytest.approx(1e7 + acct.realized_pnl + acct.unrealized_pnl - acct.commissions)
        net = sum(s.sign * q for s, q, _ in steps)
        assert sum(p.qty for p in broker.positions()) == net
        fills = [e.fill for e in events if e.kind == "fill"]
        assert acct.commissions == pytest.approx(sum(f.commission for f in fills))
        assert acct.cash == pytest.approx(1e7 - sum(f.side.sign * f.qty * f.price + f.commission for f in fills))

    asyncio.run(run())


# ---------------------------------------------------------------------- first_touch (quiet-bar skipping)


@settings(max_examples=60, deadline=None)
@given(side=st.sampled_from([Side.BUY, Side.SELL]), seed=st.integers(0, 10_000),
       with_limit=st.booleans())
async def test_first_touch_is_the_first_bar_on_which_on_bar_fills(side, seed, with_limit):
    """first_touch must name exactly the first bar that fills something: a bracket's
    stop or target, or a resting limit entry, on random walks of bars."""
    import random

    import numpy as np

    rng = random.Random(seed)
    broker, clock, events = make()
    broker.on_bar(minute_bar(0, 100, 100.5, 99.5, 100.0))
    if with_limit:
        lim = 99.0 if side is Side.BUY else 101.0
        await broker.submit(req("l-1", side=side, type=OrderType.LIMIT, limit_price=lim))
    else:
        sign = 1 if side is Side.BUY else -1
        await broker.submit(req("b-1", side=side, take_profit=100 + sign * 2.0, stop_loss=100 - sign * 1.0))
        broker.on_bar(minute_bar(1, 100, 100.2, 99.9, 100.0))  # the market entry fills; the bracket works
    assert broker.first_touch("SPY", np.array([1.0]), np.array([1.0]), 0, 1) in (0, 1)
    px, bars = 100.0, []
    for m in range(2, 42):
        o = px + rng.uniform(-0.3, 0.3)
        c = o + rng.uniform(-0.6, 0.6)
        bars.append(minute_bar(m, o, max(o, c) + rng.uniform(0, 0.4), min(o, c) - rng.uniform(0, 0.4), c))
        px = c
    highs = np.array([b.high for b in bars])
    lows = np.array([b.low for b in bars])
    k = broker.first_touch("SPY", highs, lows, 0, len(bars))
    fills_before = sum(e.kind == "fill" for e in events)
    for b in bars[:k]:
        broker.on_bar(b)
    assert sum(e.kind == "fill" for e in events) == fills_before, "a bar before first_touch filled"
    if k < len(bars):
        broker.on_bar(bars[k])
        assert sum(e.kind == "fill" for e in events) > fills_before, "first_touch named a bar that filled nothing"


async def test_first_touch_is_immediate_for_market_and_timed_orders():
    import numpy as np

    broker, _, _ = make()
    broker.on_bar(minute_bar(0, 100, 100.5, 99.5, 100.0))
    highs, lows = np.array([100.1, 100.2]), np.array([99.9, 99.8])
    assert broker.first_touch("SPY", highs, lows, 0, 2) == 2  # nothing working
    await broker.submit(req("m-1"))
    assert broker.first_touch("SPY", highs, lows, 0, 2) == 0
    broker2, _, _ = make()
    broker2.on_bar(minute_bar(0, 100, 100.5, 99.5, 100.0))
    await broker2.submit(req("l-1", type=OrderType.LIMIT, limit_price=90.0, timeout_s=30))
    assert broker2.first_touch("SPY", highs, lows, 0, 2) == 0  # a timed order may expire on any bar


async def test_equity_with_last_is_equity_at_that_price():
    broker, _, _ = make()
    broker.on_bar(minute_bar(0, 100, 100.5, 99.5, 100.0))
    await broker.submit(req("m-1", qty=37))
    broker.on_bar(minute_bar(1, 100.3, 100.5, 99.5, 100.1))
    expected = broker.equity_with_last("SPY", 101.37)
    broker.on_bar(minute_bar(2, 101.0, 101.5, 100.9, 101.37))
    assert broker.equity_with_last("SPY", 101.37) == expected == broker.equity()


async def test_order_count_counts_every_order_taken_without_a_cap():
    broker, _, _ = make()
    assert broker.order_count() == 0
    await _long_bracket(broker)  # an entry and its two held children
    await broker.submit(req("dup-1", qty=0))  # refused: still an order the broker took
    assert broker.order_count() == 4 == len(broker.recent_orders(100))


async def test_trades_between_the_triggers_fill_nothing_and_a_moved_stop_counts_at_once():
    """The broker skips its fill loop for a trade strictly between its working orders'
    triggers (a kept band, issue 13): the triggers themselves still fill, and a stop
    moved into that band fills on the next trade that reaches it."""
    broker, _, events = make()
    await _long_bracket(broker, tp=102.0, sl=99.0)
    broker.on_trade(trade(100.0))  # entry
    for px in (100.5, 99.01, 101.99):  # inside (99, 102): nothing fills
        broker.on_trade(trade(px))
    assert [e.order.leg for e in events if e.kind == "fill"] == [OrderLeg.ENTRY]
    await broker.replace_stop("SPY", 100.4)
    broker.on_trade(trade(100.45))  # above the moved stop
    assert broker.positions()[0].qty == 100
    broker.on_trade(trade(100.4))  # exactly at it: a sell stop fills at or below
    fills = [e.fill for e in events if e.kind == "fill"]
    assert [f.leg for f in fills] == [OrderLeg.ENTRY, OrderLeg.STOP_LOSS]
    assert fills[1].price == pytest.approx(100.4)


async def test_a_trade_exactly_at_a_limit_fills_it():
    broker, _, events = make()
    await _long_bracket(broker, tp=102.0, sl=99.0)
    broker.on_trade(trade(100.0))  # entry
    broker.on_trade(trade(101.0))
    broker.on_trade(trade(102.0))  # exactly at the target: a sell limit fills at or above
    assert [e.order.leg for e in events if e.kind == "fill"] == [OrderLeg.ENTRY, OrderLeg.TAKE_PROFIT]
    assert broker.positions() == []


async def test_an_order_placed_inside_the_quiet_range_fills_on_the_next_trade_at_it():
    """The kept band (98, 101) of a buy limit and a buy stop must not hide a limit
    placed at 99.5 after it was worked out."""
    broker, _, events = make()
    broker.on_trade(trade(100.0))
    await broker.submit(req("lim-1", type=OrderType.LIMIT, limit_price=98.0))
    await broker.submit(req("stp-1", type=OrderType.STOP, stop_price=101.0))
    for px in (99.0, 100.5, 98.01, 100.99):
        broker.on_trade(trade(px))
    assert not [e for e in events if e.kind == "fill"]
    await broker.submit(req("lim-2", type=OrderType.LIMIT, limit_price=99.5))
    broker.on_trade(trade(99.6))
    assert not [e for e in events if e.kind == "fill"]
    broker.on_trade(trade(99.5))
    (f,) = [e.fill for e in events if e.kind == "fill"]
    assert f.price == 99.5 and f.client_order_id == "lim-2"


async def test_bars_inside_the_quiet_range_fill_nothing_and_a_new_order_inside_it_fills():
    """Bars too: a bar between a buy limit at 98 and a buy stop at 101 fills neither,
    one whose low reaches the limit fills it there, and a limit placed inside the
    kept band (98, 101) fills on the next bar that reaches it."""
    broker, _, events = make()
    broker.on_bar(minute_bar(0, 100.0, 100.5, 99.5, 100.0))
    await broker.submit(req("lim-1", type=OrderType.LIMIT, limit_price=98.0))
    await broker.submit(req("stp-1", type=OrderType.STOP, stop_price=101.0))
    broker.on_bar(minute_bar(1, 100.0, 100.99, 98.01, 99.0))
    assert not [e for e in events if e.kind == "fill"]
    await broker.submit(req("lim-2", type=OrderType.LIMIT, limit_price=99.5))
    broker.on_bar(minute_bar(2, 100.0, 100.5, 99.5, 100.0))  # low exactly at the new limit
    (f,) = [e.fill for e in events if e.kind == "fill"]
    assert f.client_order_id == "lim-2" and f.price == 99.5
    broker.on_bar(minute_bar(3, 99.0, 99.2, 98.0, 99.0))  # low exactly at the first limit
    assert [e.fill.client_order_id for e in events if e.kind == "fill"] == ["lim-2", "lim-1"]
