"""Positions left without a stop at Alpaca (issue 19), against the stand-in in
each of its open-order listing variants (held legs unlisted, listed, listed
with the filled parent nested; tests/standins/alpaca_rest.py):

- after a restart that finds no exit legs for an open position, the engine
  places a protective stop at the plan's stop, with a client order id derived
  from the plan: a lost answer is looked up and adopted, another restart finds
  it, so there is only ever one;
- without a plan the position is flagged UNPROTECTED (snapshot, journal);
- a trailed stop Alpaca refuses because it is gone (canceled without an
  update) is looked up and replaced by a protective stop at the trailed level;
- a flatten that Alpaca fails after the legs were canceled is journaled, shown
  as a failed row, looked up, and the position is protected again.

Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import asyncio

import pytest

from engine.exits import ExitAction
from engine.live.rest import AlpacaRestError
from engine.model import NS_PER_MIN
from tests.alpaca_env import LATE_ANSWER_S, close_alpaca_feed_env, open_alpaca_feed_env
from tests.faults.test_alpaca_faults import SLOW, Run, leg_of, open_position, signal
from tests.standins.alpaca_rest import LISTING_VARIANTS, OPEN_STATUSES
from tests.standins.testkit import T0
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")


@pytest.fixture(params=sorted(LISTING_VARIANTS))
async def env(request, monkeypatch):
    e = await open_alpaca_feed_env(monkeypatch, LISTING_VARIANTS[request.param], unknown_lookup_backoff=SLOW)
    try:
        yield e
    finally:
        await close_alpaca_feed_env(e)


def open_stops(env) -> list[tuple[str, str, str, str]]:
    return [(o["client_order_id"], o["stop_price"], o["qty"], o["side"]) for o in env.rest.orders.values()
            if o["type"] == "stop" and o["status"] in OPEN_STATUSES]


async def test_a_restart_that_finds_no_exit_legs_places_one_protective_stop_from_the_plan(env, tmp_path):
    db = str(tmp_path / "p.db")
    first = Run(env, db)
    await first.start()
    try:
        entry_id = await open_position(first, env, signal("pp1"))
    finally:
        await first.engine.stop()
    for kind in ("limit", "stop"):  # while away, both exit legs are canceled (another session)
        env.rest.cancel(leg_of(env, entry_id, kind))
    posts = len(env.rest.requests_to("POST", "/v2/orders"))

    second = Run(env, db)
    env.rest.script("POST", "/v2/orders", 200, hang_s=LATE_ANSWER_S)  # the stop is placed but its answer is lost
    await second.start()
    try:
        assert open_stops(env) == [("ck-pp1-ps1", "188", "10", "sell")]
        assert len(env.rest.requests_to("POST", "/v2/orders")) == posts + 1  # looked up and adopted, not resent
        (pos,) = second.engine.broker.positions()
        assert pos.stop == 188.0 and second.engine.snapshot().unprotected == ()
        assert any("protective stop sell 10 @ 188.00 placed, id ck-pp1-ps1" in m for m in second.journal("exit"))
    finally:
        await second.engine.stop()

    third = Run(env, db)
    await third.start()
    try:
        assert open_stops(env) == [("ck-pp1-ps1", "188", "10", "sell")]  # found, not placed again
        assert len(env.rest.requests_to("POST", "/v2/orders")) == posts + 1
        assert third.engine.snapshot().unprotected == ()
        await third.engine.router.flatten("AAPL")
        assert [o["type"] for o in env.rest.orders.values() if o["status"] in OPEN_STATUSES] == ["market"]
    finally:
        await third.engine.stop()


async def test_a_position_with_no_stop_and_no_plan_is_flagged_unprotected(env, tmp_path):
    env.rest.add_position("AAPL", 10, 190.0)  # opened elsewhere: no signal of ours
    run = Run(env, str(tmp_path / "n.db"))
    await run.start()
    try:
        assert run.engine.snapshot().unprotected == ("AAPL",)
        assert any("position AAPL +10: UNPROTECTED, no stop at the broker; none placed: no plan" in m
                   for m in run.journal("exit"))
        assert open_stops(env) == []
    finally:
        await run.engine.stop()


async def test_a_flatten_alpaca_fails_after_canceling_the_legs_is_shown_looked_up_and_reprotected(env, tmp_path):
    run = Run(env, str(tmp_path / "f.db"))
    await run.start()
    try:
        await open_position(run, env, signal("ff1"))
        env.rest.script("DELETE", "/v2/positions/AAPL", 500, {"code": 50010000, "message": "internal error"})
        with pytest.raises(AlpacaRestError, match="internal error"):
            await run.engine.router.flatten("AAPL")  # the legs are canceled, then the close fails
        assert any(m.startswith("flatten AAPL failed: AlpacaRestError: internal error") for m in run.journal("command"))
        (row,) = [o for o in run.engine.snapshot().orders if o.id.startswith("failed:")]
        assert row.symbol == "AAPL" and row.qty == 10 and "internal error" in row.reason
        assert open_stops(env) == [("ck-ff1-ps1", "188", "10", "sell")]  # protected again from the plan
        assert run.engine.snapshot().unprotected == ()
        await run.engine.router.flatten("AAPL")  # the trader tries again: it closes
        assert [o["type"] for o in env.rest.orders.values() if o["status"] in OPEN_STATUSES] == ["market"]
    finally:
        await run.engine.stop()


async def test_a_trailed_stop_that_is_gone_at_alpaca_is_looked_up_and_replaced_at_the_trailed_level(env, tmp_path):
    run = Run(env, str(tmp_path / "t.db"))
    await run.start()
    try:
        entry_id = await open_position(run, env, signal("tt1"))
        env.forward = False  # another session cancels both exit legs; no update reaches us
        for kind in ("limit", "stop"):
            env.rest.cancel(leg_of(env, entry_id, kind))
        env.forward = True
        plan = run.engine.exits.plan("AAPL")

        def trail(symbol, price, now, atr):
            plan.stop = 189.0
            return [ExitAction("move_stop", symbol, plan.qty, 189.0, "trailing")]

        run.engine.exits.on_price = trail
        await run.engine.router.manage_exits("AAPL", 191.0, T0 + NS_PER_MIN, 0.5)  # never raises
        assert any(m.startswith("move_stop AAPL failed: AlpacaRestError") for m in run.journal("exit"))
        assert open_stops(env) == [("ck-tt1-ps1", "189", "10", "sell")], "\n".join(run.journal())
        assert run.engine.broker.positions()[0].stop == 189.0 and run.engine.snapshot().unprotected == ()
        assert run.engine.feed_running
    finally:
        await run.engine.stop()


async def test_legs_canceled_while_the_order_stream_was_down_are_replaced_after_the_reconnect(env, tmp_path):
    run = Run(env, str(tmp_path / "r.db"))
    await run.start()
    try:
        entry_id = await open_position(run, env, signal("rc1"))
        env.forward = False
        await env.stream.drop()
        for kind in ("limit", "stop"):  # canceled while nothing could tell us
            env.rest.cancel(leg_of(env, entry_id, kind))
        env.forward = True
        # the reconnect's reconcile finds the position bare and the engine protects it
        await wait_for(lambda: open_stops(env), 10, what="a protective stop after the reconnect")
        assert open_stops(env) == [("ck-rc1-ps1", "188", "10", "sell")]
        await wait_for(lambda: run.engine.snapshot().unprotected == (), what="the stop known to the engine")
        assert any("UNPROTECTED" in m for m in run.journal("reconcile"))
    finally:
        await run.engine.stop()


async def test_two_protects_at_once_place_one_stop(env, tmp_path):
    """The feed's exits, a command and a reconcile may each ask at the same moment."""
    run = Run(env, str(tmp_path / "two.db"))
    await run.start()
    try:
        entry_id = await open_position(run, env, signal("tw1"))
        env.forward = False
        for kind in ("limit", "stop"):
            env.rest.cancel(leg_of(env, entry_id, kind))
        env.forward = True
        await run.engine.broker.check_orders("AAPL")  # the broker learns the legs are gone
        assert run.engine.snapshot().unprotected == ("AAPL",)
        await asyncio.gather(run.engine.router.protect(), run.engine.router.protect(["AAPL"]))
        assert open_stops(env) == [("ck-tw1-ps1", "188", "10", "sell")]
    finally:
        await run.engine.stop()
