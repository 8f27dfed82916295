"""No broker error stops the engine (issue 19): an error in sending, in exit
management (a stop move, a close) or in a trader's command is caught,
journaled, shown as a failed row on the orders pane with its reason, and
followed by a look-up of the symbol's orders; the exit plan goes back to what
the broker holds (a failed close is tried again). A position with no working
stop at the broker is flagged (the snapshot's ``unprotected``) and gets a
protective stop from its plan, or stays flagged without one.

On the paper broker, whose calls are made to fail; the Alpaca stand-in
variants are in tests/test_alpaca_protection.py."""
from __future__ import annotations


import numpy as np
import pytest

from engine.brokers.paper import PaperBroker
from engine.clock import FixedClock
from engine.engine import Engine
from engine.exits import ExitAction
from engine.feeds.loaders import TradesArrays
from engine.feeds.replay import ReplayFeed
from engine.model import NS_PER_MIN, Decision, OrderLeg, OrderStatus, Side, Signal, Trade
from tests.factories import engine_config
from tests.standins.testkit import T0


def _idle_feed() -> ReplayFeed:
    """A feed that is never started: the tests hand the engine its data themselves."""
    one = TradesArrays(np.array([T0], dtype=np.int64), np.array([190.0]), np.array([1.0]),
                       np.zeros(1, dtype=np.int8), np.full(1, np.nan), np.full(1, np.nan))
    return ReplayFeed(one, "AAPL")


def _signal(sid: str = "AAPL-auction-1") -> Signal:
    return Signal(id=sid, symbol="AAPL", setup="auction", side=Side.BUY, entry=190.0, stop=188.0, target=195.0,
                  confidence=1.0, reason="test", created_ns=T0, qty=10, decision=Decision.AUTO, decided_ns=T0)


async def _paper_position() -> tuple[Engine, Signal]:
    """An engine on the paper broker holding 10 AAPL from a bracket (stop 188, target 195)."""
    cfg = engine_config("AUTO", app={"symbols": ["AAPL"]})
    clock = FixedClock(T0)
    engine = Engine(cfg, _idle_feed(), PaperBroker(cfg.broker, clock, cfg.app.symbols), clock)
    await engine.prepare()
    engine.on_data(Trade("AAPL", T0, 190.0, 100.0))
    sig = _signal()
    await engine.router.send(sig)
    engine.on_data(Trade("AAPL", T0 + 10**9, 190.0, 100.0))  # the entry fills on the next trade
    (pos,) = engine.broker.positions()
    assert pos.qty == 10 and pos.stop == 188.0 and engine.exits.plan("AAPL") is not None
    return engine, sig


def _failed_rows(engine: Engine) -> list:
    return [o for o in engine.snapshot().orders if o.id.startswith("failed:")]


def _looked_up(engine: Engine, monkeypatch) -> list[str]:
    seen: list[str] = []
    real = engine.broker.check_orders

    async def check_orders(symbol: str) -> list[str]:
        seen.append(symbol)
        return [*await real(symbol), f"{symbol}: looked up"]

    monkeypatch.setattr(engine.broker, "check_orders", check_orders)
    return seen


async def test_a_refused_stop_move_is_journaled_shown_looked_up_and_the_plan_keeps_the_stop_in_force(monkeypatch):
    engine, _ = await _paper_position()
    looked = _looked_up(engine, monkeypatch)

    async def refuse(symbol, new_stop):
        raise RuntimeError("stop price too close to the market")

    monkeypatch.setattr(engine.broker, "replace_stop", refuse)
    plan = engine.exits.plan("AAPL")

    def trail(symbol, price, now, atr):  # the rules move the plan's stop, then ask the broker
        plan.stop = 189.5
        return [ExitAction("move_stop", symbol, plan.qty, 189.5, "trailing")]

    monkeypatch.setattr(engine.exits, "on_price", trail)
    await engine.router.manage_exits("AAPL", 191.0, T0 + NS_PER_MIN, 0.5)  # never raises

    assert any(j.level == "error" and j.message == "move_stop AAPL failed: RuntimeError: stop price too close to "
               "the market" for j in engine.journal)
    (row,) = _failed_rows(engine)
    assert row.status is OrderStatus.REJECTED and row.stop_price == 189.5 and "too close" in row.reason
    assert looked == ["AAPL"] and any(j.message == "AAPL: looked up" for j in engine.journal)
    assert plan.stop == 188.0  # measured from the stop still in force, so the next bar tries again
    assert engine.snapshot().unprotected == ()
    assert engine.counters["exit_errors"] == 1


async def test_a_failed_close_is_tried_again_at_the_next_bar(monkeypatch):
    engine, _ = await _paper_position()
    plan = engine.exits.plan("AAPL")
    plan.params = plan.params.model_copy(update={"trade_timeout_min": 1.0})  # a time exit is due
    real_close = engine.broker.close
    calls: list[str] = []

    async def close_once_failing(symbol, *args, **kwargs):
        calls.append(symbol)
        if len(calls) == 1:
            raise ConnectionError("connection reset by peer")
        return await real_close(symbol, *args, **kwargs)

    monkeypatch.setattr(engine.broker, "close", close_once_failing)
    await engine.router.manage_exits("AAPL", 190.5, T0 + 2 * NS_PER_MIN, 0.5)
    assert calls == ["AAPL"] and not plan.closing
    assert any("close AAPL failed: ConnectionError" in j.message for j in engine.journal)
    await engine.router.manage_exits("AAPL", 190.5, T0 + 3 * NS_PER_MIN, 0.5)
    assert calls == ["AAPL", "AAPL"]
    engine.on_data(Trade("AAPL", T0 + 3 * NS_PER_MIN + 10**9, 190.5, 100.0))  # the closing order fills
    assert engine.broker.positions() == []


async def test_a_failed_flatten_is_journaled_shown_looked_up_and_still_raised_for_the_app(monkeypatch):
    engine, _ = await _paper_position()
    looked = _looked_up(engine, monkeypatch)

    async def refuse(symbol, *args, **kwargs):
        raise RuntimeError("market closed for this asset")

    monkeypatch.setattr(engine.broker, "close", refuse)
    with pytest.raises(RuntimeError, match="market closed"):
        await engine.flatten("AAPL")
    assert any(j.kind == "command" and j.level == "error" and "flatten AAPL failed: RuntimeError: market closed"
               in j.message for j in engine.journal)
    (row,) = _failed_rows(engine)
    assert (row.symbol, row.side, row.qty, row.leg) == ("AAPL", Side.SELL, 10, OrderLeg.EXIT)
    assert looked == ["AAPL"] and engine.counters["command_errors"] == 1


async def test_an_error_while_sending_never_leaves_the_router(monkeypatch):
    engine, _ = await _paper_position()
    await engine.flatten("AAPL")
    engine.on_data(Trade("AAPL", T0 + 2 * 10**9, 190.0, 100.0))
    assert engine.broker.positions() == []

    async def broken(request):
        raise OSError("executor is shut down")

    monkeypatch.setattr(engine.broker, "submit", broken)
    await engine.router.send(_signal("AAPL-auction-2"))  # would have stopped the feed
    assert any("bracket buy 10 AAPL id ck-AAPL-auction-2-1 failed: OSError" in j.message for j in engine.journal)
    assert "AAPL" not in engine.router.plans  # nothing at the broker: no plan kept
    assert [r.client_order_id for r in _failed_rows(engine)] == ["ck-AAPL-auction-2-1"]


async def test_a_position_without_a_stop_is_flagged_then_protected_from_its_plan():
    engine, sig = await _paper_position()
    (stop,) = [o for o in engine.broker.open_orders() if o.leg is OrderLeg.STOP_LOSS]
    await engine.broker.cancel(stop.id)
    assert engine.snapshot().unprotected == ("AAPL",)
    # the take-profit still holds the shares: nothing is placed over it, the flag stays
    await engine.router.protect()
    assert engine.snapshot().unprotected == ("AAPL",)
    assert any("UNPROTECTED" in j.message and "take_profit" in j.message for j in engine.journal)
    (tp,) = [o for o in engine.broker.open_orders() if o.leg is OrderLeg.TAKE_PROFIT]
    await engine.broker.cancel(tp.id)
    await engine.router.protect()
    (new_stop,) = [o for o in engine.broker.open_orders() if o.leg is OrderLeg.STOP_LOSS]
    assert (new_stop.client_order_id, new_stop.stop_price, new_stop.qty, new_stop.side) == (
        f"ck-{sig.id}-ps1", 188.0, 10, Side.SELL)
    assert engine.snapshot().unprotected == ()
    await engine.router.protect()  # already protected: nothing more
    assert len([o for o in engine.broker.open_orders() if o.leg is OrderLeg.STOP_LOSS]) == 1


async def test_a_position_without_a_stop_or_a_plan_stays_flagged_unprotected():
    engine, _ = await _paper_position()
    for o in list(engine.broker.open_orders()):
        await engine.broker.cancel(o.id)
    engine.router.plans.clear()
    await engine.router.protect()
    assert engine.snapshot().unprotected == ("AAPL",)
    assert not engine.broker.open_orders()
    assert any(j.message == "position AAPL +10: UNPROTECTED, no stop at the broker; none placed: no plan to "
               "place one from" for j in engine.journal)


async def test_a_failed_single_order_cancel_is_journaled_shown_looked_up_and_still_raised(monkeypatch):
    engine, _ = await _paper_position()
    looked = _looked_up(engine, monkeypatch)
    stop = next(o for o in engine.broker.open_orders() if o.leg is OrderLeg.STOP_LOSS)

    async def refuse(order_id, *args, **kwargs):
        raise RuntimeError("order is not cancelable")

    monkeypatch.setattr(engine.broker, "cancel", refuse)
    with pytest.raises(RuntimeError, match="not cancelable"):
        await engine.cancel_order(stop.id)
    assert any(j.kind == "command" and j.level == "error" and f"cancel order {stop.id} failed" in j.message
               for j in engine.journal)
    (row,) = _failed_rows(engine)
    assert row.symbol == "AAPL" and row.client_order_id == stop.client_order_id
    assert looked == ["AAPL"] and engine.counters["command_errors"] == 1
    assert stop.id in {o.id for o in engine.broker.open_orders()}  # the stop stays in force
