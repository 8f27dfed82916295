"""A position is protected share by share (engine/stop_cover.py, issue 15/19): the
shares no working stop covers are UNPROTECTED, and ``protect`` places a stop for
those only. The states a bracket passes through in normal operation (legs held
while the entry fills in parts, a re-peg's new parent, a partial exit before the
stop shrinks, a stop moved) never flag. On the paper broker and as plain orders;
the Alpaca stand-in paths are in tests/test_alpaca_stop_cover.py."""
from __future__ import annotations

import dataclasses

from engine.exits import ExitAction
from engine.model import NS_PER_MIN, Order, OrderLeg, OrderRequest, OrderStatus, OrderType, Position, Side, Trade
from engine.stop_cover import holding_orders, uncovered
from tests.standins.testkit import T0
from tests.test_broker_errors import _paper_position
from tests.ui_fixtures import FixedEngine, demo_snapshot, fixed_app
from tests.waiting import wait_for
from widgets.base import SyncTable


def pos(qty: int) -> Position:
    return Position("AAPL", qty, 190.0, 190.0, 0.0)


def order(oid: str, leg: OrderLeg, qty: int, status: OrderStatus = OrderStatus.NEW, *, side: Side = Side.SELL,
          filled: int = 0, parent: str | None = None) -> Order:
    typ = {OrderLeg.STOP_LOSS: OrderType.STOP, OrderLeg.TAKE_PROFIT: OrderType.LIMIT}.get(leg, OrderType.LIMIT)
    return Order(oid, f"c-{oid}", "AAPL", side, typ, qty, status, filled_qty=filled, leg=leg, parent_id=parent)


def test_a_stop_smaller_than_the_position_leaves_the_rest_uncovered():
    assert uncovered([pos(10)], [order("s", OrderLeg.STOP_LOSS, 4)]) == {"AAPL": 6}
    assert uncovered([pos(-10)], [order("s", OrderLeg.STOP_LOSS, 10, side=Side.BUY)]) == {}
    # a stop on the wrong side protects nothing; two stops add up
    assert uncovered([pos(10)], [order("s", OrderLeg.STOP_LOSS, 10, side=Side.BUY)]) == {"AAPL": 10}
    assert uncovered([pos(10)], [order("a", OrderLeg.STOP_LOSS, 4), order("b", OrderLeg.STOP_LOSS, 6)]) == {}


def test_a_stop_whose_outcome_is_unknown_covers_nothing():
    assert uncovered([pos(10)], [order("s", OrderLeg.STOP_LOSS, 10, OrderStatus.UNKNOWN)]) == {"AAPL": 10}


def test_legs_of_an_entry_filling_in_parts_cover_what_it_bought():
    entry = order("e", OrderLeg.ENTRY, 10, OrderStatus.PARTIALLY_FILLED, side=Side.BUY, filled=4)
    leg = order("s", OrderLeg.STOP_LOSS, 10, OrderStatus.HELD, parent="e")
    assert uncovered([pos(4)], [entry, leg]) == {}
    # a re-peg sent the remaining 6 under a new parent; the leg (still 10) moved under it
    repegged = order("e2", OrderLeg.ENTRY, 6, OrderStatus.ACCEPTED, side=Side.BUY)
    assert uncovered([pos(4)], [repegged, order("s", OrderLeg.STOP_LOSS, 10, OrderStatus.HELD, parent="e2")]) == {}
    # the held legs of an entry not filled yet cover none of an earlier position
    add = order("a", OrderLeg.ENTRY, 5, side=Side.BUY)
    assert uncovered([pos(10)], [add, order("as", OrderLeg.STOP_LOSS, 5, OrderStatus.HELD, parent="a")]) == {"AAPL": 10}


def test_a_leg_whose_entry_ended_part_filled_covers_only_what_it_bought():
    ended = order("e", OrderLeg.ENTRY, 10, OrderStatus.CANCELED, side=Side.BUY, filled=4)
    leg = order("s", OrderLeg.STOP_LOSS, 10, OrderStatus.HELD, parent="e")
    assert uncovered([pos(10)], [leg], {"e": ended}.get) == {"AAPL": 6}
    filled = order("e", OrderLeg.ENTRY, 10, OrderStatus.FILLED, side=Side.BUY, filled=10)
    assert uncovered([pos(10)], [leg], {"e": filled}.get) == {}
    assert uncovered([pos(10)], [leg]) == {}  # a parent the book no longer has: the leg as it stands


def test_more_stop_than_position_is_not_flagged():
    assert uncovered([pos(6)], [order("s", OrderLeg.STOP_LOSS, 10)]) == {}  # a partial exit before the stop shrank


def test_holding_orders_leave_out_stops_their_paired_targets_and_legs_to_come():
    stop = order("s", OrderLeg.STOP_LOSS, 6, parent="e")
    paired = order("t", OrderLeg.TAKE_PROFIT, 6, parent="e")
    lone = order("t2", OrderLeg.TAKE_PROFIT, 4, parent="x")
    entry = order("m", OrderLeg.ENTRY, 6, side=Side.BUY)
    to_come = order("t3", OrderLeg.TAKE_PROFIT, 6, OrderStatus.HELD, parent="m")
    unknown = order("u", OrderLeg.STOP_LOSS, 4, OrderStatus.UNKNOWN)
    assert holding_orders("AAPL", Side.SELL, [stop, paired, entry, to_come]) == []
    assert holding_orders("AAPL", Side.SELL, [stop, paired, lone]) == [lone]
    assert holding_orders("AAPL", Side.SELL, [stop, unknown]) == [unknown]  # it may exist: never doubled


async def test_a_position_partly_covered_is_flagged_and_protected_for_the_rest_only():
    engine, sig = await _paper_position()
    for o in list(engine.broker.open_orders()):  # the bracket's legs go; a stop for 4 of the 10 stays
        await engine.broker.cancel(o.id)
    small = await engine.broker.submit(OrderRequest(client_order_id="manual-s", symbol="AAPL", side=Side.SELL,
                                                    qty=4, type=OrderType.STOP, stop_price=187.0,
                                                    leg=OrderLeg.STOP_LOSS))
    assert small.status is OrderStatus.NEW
    assert engine.snapshot().unprotected == ("AAPL",) and engine.broker.uncovered() == {"AAPL": 6}
    await engine.router.protect()
    stops = sorted((o.client_order_id, o.qty, o.stop_price) for o in engine.broker.open_orders()
                   if o.leg is OrderLeg.STOP_LOSS)
    assert stops == [(f"ck-{sig.id}-ps1", 6, 188.0), ("manual-s", 4, 187.0)]
    assert engine.snapshot().unprotected == ()
    assert any(j.message == "position AAPL +10 had stops at the broker for 4 of its shares: protective stop "
               f"sell 6 @ 188.00 placed, id ck-{sig.id}-ps1" for j in engine.journal)
    await engine.router.protect()  # covered: nothing more
    assert len([o for o in engine.broker.open_orders() if o.leg is OrderLeg.STOP_LOSS]) == 2


async def test_a_partly_covered_position_without_a_plan_stays_flagged_saying_how_many_shares():
    engine, _ = await _paper_position()
    for o in list(engine.broker.open_orders()):
        await engine.broker.cancel(o.id)
    await engine.broker.submit(OrderRequest(client_order_id="manual-s", symbol="AAPL", side=Side.SELL, qty=4,
                                            type=OrderType.STOP, stop_price=187.0, leg=OrderLeg.STOP_LOSS))
    engine.router.plans.clear()
    await engine.router.protect()
    assert engine.snapshot().unprotected == ("AAPL",)
    assert any(j.message == "position AAPL +10: UNPROTECTED for 6 shares, stops at the broker cover 4; none "
               "placed: no plan to place one from" for j in engine.journal)


async def test_a_partial_exit_and_a_stop_move_on_paper_never_flag():
    engine, _ = await _paper_position()
    seen: list[list[str]] = []
    engine.router.add_event_listener(lambda ev: seen.append(engine.broker.unprotected()))
    actions = iter([[ExitAction("partial", "AAPL", 4, 190.0, "target 1")],
                    [ExitAction("move_stop", "AAPL", 6, 191.0, "trailing")]])
    engine.exits.on_price = lambda symbol, price, now, atr: next(actions, [])
    await engine.router.manage_exits("AAPL", 192.0, T0 + NS_PER_MIN, 0.5)
    engine.on_data(Trade("AAPL", T0 + NS_PER_MIN + 10**9, 192.0, 100.0))  # the partial fills
    (p,) = engine.broker.positions()
    assert p.qty == 6
    await engine.router.manage_exits("AAPL", 193.0, T0 + 2 * NS_PER_MIN, 0.5)
    (p,) = engine.broker.positions()
    assert p.stop == 191.0 and len(seen) >= 3
    assert all(s == [] for s in seen), seen
    assert engine.snapshot().unprotected == ()


async def test_the_positions_pane_shows_the_shares_no_stop_covers(tmp_path):
    snap = dataclasses.replace(demo_snapshot(), unprotected=("NVDA",), uncovered={"NVDA": 3})
    (nvda,) = [p for p in snap.positions if p.symbol == "NVDA"]
    assert abs(nvda.qty) > 3
    engine = FixedEngine(snap)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#positions-table", SyncTable)
        stop = table.get_row("NVDA")[5]
        assert str(stop).strip() == "UNP 3" and stop.style.reverse
        assert app.query_one("#positions").border_subtitle == "1 open · 1 UNPROTECTED"
        engine.publish(dataclasses.replace(snap, uncovered={"NVDA": abs(nvda.qty)}))  # no stop at all
        await wait_for(lambda: str(table.get_row("NVDA")[5]).strip() == "UNPROT", what="UNPROT")
        engine.publish(dataclasses.replace(snap, unprotected=(), uncovered={}))
        await wait_for(lambda: str(table.get_row("NVDA")[5]).strip() == "896.40", what="the stop shown again")


async def test_the_snapshot_says_how_many_shares_are_uncovered():
    engine, _ = await _paper_position()
    for o in list(engine.broker.open_orders()):
        await engine.broker.cancel(o.id)
    await engine.broker.submit(OrderRequest(client_order_id="manual-s", symbol="AAPL", side=Side.SELL, qty=4,
                                            type=OrderType.STOP, stop_price=187.0, leg=OrderLeg.STOP_LOSS))
    snap = engine.snapshot()
    assert snap.unprotected == ("AAPL",) and snap.uncovered == {"AAPL": 6}
