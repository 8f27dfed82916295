"""AlpacaBroker and the engine against a stand-in that behaves as real Alpaca
is documented and reported to (tests/standins/alpaca_rest.py, AlpacaBehaviour):
the stop leg stays ``held`` after the entry fills, a take-profit fill cancels it
without a trade update, the stop triggering marks the take-profit ``replaced``,
held legs and filled parents may be missing from the open-order listings, and a
fill's ``price`` is the order's average.

- No phantom stop survives a take-profit exit, so the next trade's trailed stop
  moves the live stop (no 422), and a broker error in exit management is
  journaled and never stops the feed.
- A restart mid-trade finds the legs whichever way the listing behaves, and
  ``close`` cancels what holds the shares instead of failing ten times.
- Fill prices are right under either reading of ``price``; a duplicate client
  id is recognised in either wording.

The broker and engine tests run against each variant of the open-order listing
(``LISTING_VARIANTS``: held legs unlisted, listed, listed with a filled parent
nested), where reports disagree. Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import pytest

from engine.clock import FixedClock
from engine.exits import ExitAction
from engine.factory import build_engine
from engine.model import NS_PER_MIN, OrderRequest, OrderStatus, OrderType, Side
from tests.factories import engine_config
from tests.standins.alpaca_rest import (
    DUPLICATE_ID_WORDINGS,
    KIND,
    LISTING_VARIANTS,
    AlpacaBehaviour,
)
from tests.alpaca_env import AlpacaEnv as Env, close_alpaca_env, open_alpaca_env
from tests.standins.alpaca_streams import MarketDataStreamStandIn, trade_msg
from tests.standins.testkit import KEY_ID, SECRET, T0
from tests.faults.test_alpaca_faults import SLOW, bracket, leg_of, quiet
from tests.waiting import wait_for


async def make_env(behaviour: AlpacaBehaviour) -> Env:
    return await open_alpaca_env(behaviour, unknown_lookup_backoff=SLOW)


close_env = close_alpaca_env


@pytest.fixture(params=sorted(LISTING_VARIANTS))
async def env(request):
    """The real-Alpaca stand-in, in each variant of its open-order listing (where reports disagree)."""
    e = await make_env(LISTING_VARIANTS[request.param])
    yield e
    await close_env(e)


def open_at_standin(env: Env, symbol: str = "AAPL") -> list[dict]:
    return [o for o in env.rest.orders.values() if o["symbol"] == symbol
            and o["status"] in ("new", "accepted", "held", "partially_filled")]


# --------------------------------------------------------------------------- the stand-in itself


async def test_standin_holds_the_stop_and_cancels_it_silently_when_the_take_profit_fills(env):
    parent = env.rest.submit_bracket_direct({
        "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
        "order_class": "bracket", "take_profit": {"limit_price": "195"}, "stop_loss": {"stop_price": "188"}})
    tp, sl = leg_of(env, parent["id"], "limit"), leg_of(env, parent["id"], "stop")
    env.rest.fill(parent["id"], 10, 190.0)
    assert (env.rest.orders[tp]["status"], env.rest.orders[sl]["status"]) == ("new", "held")
    n = len(env.captured)
    env.rest.fill(tp, 10, 195.0)
    assert env.rest.orders[sl]["status"] == "canceled"
    assert [u["event"] for u in env.captured[n:]] == ["fill"]  # no update for the canceled stop


async def test_standin_marks_the_take_profit_replaced_when_the_stop_triggers(env):
    parent = env.rest.submit_bracket_direct({
        "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
        "order_class": "bracket", "take_profit": {"limit_price": "195"}, "stop_loss": {"stop_price": "188"}})
    env.rest.fill(parent["id"], 10, 190.0)
    n = len(env.captured)
    env.rest.fill(leg_of(env, parent["id"], "stop"), 10, 188.0)
    assert [u["event"] for u in env.captured[n:]] == ["fill", "replaced"]
    assert env.rest.orders[leg_of(env, parent["id"], "limit")]["status"] == "replaced"


# --------------------------------------------------------------------------- item 1: no phantom stop


async def test_take_profit_exit_leaves_no_phantom_stop_and_the_next_trades_stop_moves(env):
    broker = await env.started()
    first = await broker.submit(bracket("p-1"))
    env.rest.fill(first.id, 10, 190.0)
    await wait_for(lambda: broker.positions() and broker.positions()[0].stop == 188.0, what="legs known")
    old_stop = leg_of(env, first.id, "stop")
    env.rest.fill(leg_of(env, first.id, "limit"), 10, 195.0)  # the stop is canceled with no update
    await wait_for(lambda: broker.positions() == [], what="take-profit exit")
    await wait_for(lambda: not [o for o in broker.open_orders() if o.symbol == "AAPL"], what="siblings settled")
    assert broker._orders[old_stop].status is OrderStatus.CANCELED
    canceled = [e for e in env.events if e.kind == "canceled" and e.order.id == old_stop]
    assert len(canceled) == 1  # recorded exactly once

    second = await broker.submit(bracket("p-2"))
    env.rest.fill(second.id, 10, 191.0)
    await wait_for(lambda: broker.positions() and broker.positions()[0].qty == 10, what="second entry")
    live_stop = leg_of(env, second.id, "stop")
    moved = await broker.replace_stop("AAPL", 189.5)
    assert moved is not None and moved.stop_price == 189.5
    (patch,) = [r for r in env.rest.received if r.method == "PATCH"]
    assert patch.path == f"/v2/orders/{live_stop}"
    await quiet(env)
    assert broker.positions()[0].stop == 189.5


async def test_replace_stop_skips_a_phantom_that_alpaca_refuses_and_moves_the_live_stop(env):
    """Even when the silent cancel was not yet seen (the look-up failed), the
    refused phantom is looked up and the live stop is moved."""
    broker = await env.started()
    first = await broker.submit(bracket("q-1"))
    env.rest.fill(first.id, 10, 190.0)
    await wait_for(lambda: broker.positions(), what="first entry")
    old_stop = leg_of(env, first.id, "stop")
    # the sibling look-ups after the take-profit fill get no answer
    env.rest.script("GET", f"/v2/orders/{first.id}", 500, {"code": 50010000, "message": "internal error"}, times=10)
    env.rest.fill(leg_of(env, first.id, "limit"), 10, 195.0)
    await wait_for(lambda: broker.positions() == [], what="take-profit exit")
    second = await broker.submit(OrderRequest("q-2", "AAPL", Side.BUY, 10, OrderType.MARKET, take_profit=196.0,
                                              stop_loss=187.0, signal_id="sig-q-2"))
    env.rest.fill(second.id, 10, 191.0)
    await wait_for(lambda: broker.positions() and broker.positions()[0].qty == 10, what="second entry")
    broker._orders[old_stop] = broker._orders[old_stop].__class__(**{
        **{f: getattr(broker._orders[old_stop], f) for f in broker._orders[old_stop].__dataclass_fields__},
        "created_ns": T0 + 10**12})  # the phantom looks newest: it is tried first
    live_stop = leg_of(env, second.id, "stop")
    moved = await broker.replace_stop("AAPL", 189.5)
    assert moved is not None and moved.stop_price == 189.5
    assert broker._orders[old_stop].status is OrderStatus.CANCELED
    assert [r.path for r in env.rest.received if r.method == "PATCH"] == [
        f"/v2/orders/{old_stop}", f"/v2/orders/{live_stop}"]


async def test_a_periodic_light_reconcile_closes_a_phantom_the_look_ups_missed():
    env = await make_env(AlpacaBehaviour())
    try:
        broker = await env.started(light_reconcile_s=0.1)
        entry = await broker.submit(bracket("lr-1"))
        env.rest.fill(entry.id, 10, 190.0)
        await wait_for(lambda: broker.positions() and not broker.settling, what="entry settled")
        stop = leg_of(env, entry.id, "stop")
        env.rest.script("GET", f"/v2/orders/{entry.id}", 500, {"code": 50010000, "message": "internal error"},
                        times=4)  # every sibling look-up after the take-profit fill fails
        env.rest.fill(leg_of(env, entry.id, "limit"), 10, 195.0)
        await wait_for(lambda: broker._orders[stop].status is OrderStatus.CANCELED, what="phantom closed")
        assert len([e for e in env.events if e.kind == "canceled" and e.order.id == stop]) == 1
        assert broker.positions() == [] and not broker.open_orders()
    finally:
        await close_env(env)


async def test_a_refused_stop_move_is_shown_on_the_order_with_its_reason(env):
    broker = await env.started()
    entry = await broker.submit(bracket("rs-1"))
    env.rest.fill(entry.id, 10, 190.0)
    await wait_for(lambda: broker.positions() and not broker.settling, what="entry settled")
    stop = leg_of(env, entry.id, "stop")
    env.rest.script("PATCH", f"/v2/orders/{stop}", 422, {"code": 42210000, "message": "stop price too close"})
    with pytest.raises(Exception, match="stop price too close"):
        await broker.replace_stop("AAPL", 189.99)
    order = broker._orders[stop]
    assert order.status.is_open and order.stop_price == 188.0
    assert order.reason == "move to 189.99 refused: stop price too close"
    assert broker.positions()[0].stop == 188.0  # the old stop stays in force


@pytest.fixture(params=sorted(LISTING_VARIANTS))
async def live_engine(request, monkeypatch, tmp_path):
    env = await make_env(LISTING_VARIANTS[request.param])
    md = MarketDataStreamStandIn(KEY_ID, SECRET)
    await md.start()
    env.rest.listeners.remove(env.publish)
    env.rest.listeners.append(env.stream.publish_threadsafe)
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    endpoints = {"alpaca_trading": env.base, "alpaca_data": env.base,
                 "alpaca_trading_stream": env.ws + "/stream", "alpaca_data_stream": md.url + "/v2/iex"}
    cfg = engine_config("AUTO", app={"symbols": ["AAPL"], "db": str(tmp_path / "e.db")},
                        feed={"kind": "alpaca"}, broker={"kind": "alpaca"}, endpoints=endpoints)
    engine = build_engine(cfg, clock=FixedClock(T0))
    await engine.start()
    # an update published before the broker listens is lost: no test may race the handshake
    await wait_for(lambda: engine.broker.stream_connected and env.stream.connections >= 1, 10,
                   what="the broker listening on the trade stream")
    try:
        yield env, md, engine
    finally:
        await engine.stop()
        await md.stop()
        await env.stream.stop()
        env.rest.stop()


async def test_end_to_end_take_profit_then_a_new_trade_and_a_trailed_stop_keep_the_feed_running(live_engine):
    """Real-Alpaca mode: a take-profit exit, a new trade in the same symbol, its
    stop trailed at each closed bar from the feed: no phantom, no 422, the feed
    keeps running. A refused move is journaled, never fatal."""
    env, md, engine = live_engine
    from tests.faults.test_alpaca_faults import signal

    await md.wait_for(lambda: len(md.live) >= 1)
    trail = {"stop": 188.5}

    def on_price(symbol, price, now, atr):  # every closed bar trails the stop by 0.5
        trail["stop"] += 0.5
        return [ExitAction("move_stop", symbol, 10, trail["stop"], "trail test")]

    engine.router.exits.on_price = on_price
    sig1 = signal("e1")
    engine.recorder.signal(sig1)
    await engine.router.send(sig1)
    (entry1,) = [i for i, o in env.rest.orders.items() if o["client_order_id"].startswith("ck-e1-")]
    env.rest.fill(entry1, 10, 190.0)
    await wait_for(lambda: engine.broker.positions(), what="first position")
    old_stop = leg_of(env, entry1, "stop")
    env.rest.fill(leg_of(env, entry1, "limit"), 10, 195.0)
    await wait_for(lambda: not engine.broker.positions() and not getattr(engine.broker, "settling", False),
                   what="take-profit exit")

    sig2 = signal("e2")
    engine.recorder.signal(sig2)
    await engine.router.send(sig2)
    (entry2,) = [i for i, o in env.rest.orders.items() if o["client_order_id"].startswith("ck-e2-")]
    env.rest.fill(entry2, 10, 190.0)
    await wait_for(lambda: engine.broker.positions(), what="second position")
    # two minutes of trades from the feed: the first minute's bar closes and trails the stop
    base = T0 + 5 * NS_PER_MIN
    await md.send([trade_msg("AAPL", base + i * 10**9, 190.5, 100, 50_000 + i) for i in range(3)])
    await md.send([trade_msg("AAPL", base + NS_PER_MIN + 10**9, 190.6, 100, 60_000)])
    await wait_for(lambda: [r for r in env.rest.received if r.method == "PATCH"], what="trailed stop")
    patches = [r for r in env.rest.received if r.method == "PATCH"]
    assert not any("failed" in j.message for j in engine.journal if j.kind in ("exit", "feed"))
    assert engine.feed_running
    assert patches[0].path != f"/v2/orders/{old_stop}"  # never the phantom
    assert old_stop not in {o.id for o in engine.broker.open_orders()}
    # a refused move (Alpaca says no) is journaled and looked up; the feed keeps running
    env.rest.script("PATCH", f"/v2/orders/{leg_of(env, entry2, 'stop')}", 422,
                    {"code": 42210000, "message": "order is not open"})
    await md.send([trade_msg("AAPL", base + 2 * NS_PER_MIN + 10**9, 190.7, 100, 70_000)])
    await wait_for(lambda: any(j.kind == "exit" and "move_stop AAPL failed" in j.message for j in engine.journal),
                   what="refused move journaled")
    await md.send([trade_msg("AAPL", base + 3 * NS_PER_MIN + 10**9, 190.8, 100, 80_000)])
    await wait_for(lambda: engine.analytics["AAPL"].last == 190.8, what="the feed still runs")
    assert engine.feed_running
    assert not any("feed failed" in j.message for j in engine.journal)


# --------------------------------------------------------------------------- item 2: restart mid-trade


@pytest.mark.parametrize("variant", sorted(LISTING_VARIANTS))
async def test_restart_mid_trade_finds_both_legs_and_close_succeeds(variant):
    """The bracket was placed before this session's start (so no closed-order
    listing shows it): its legs are found whichever way Alpaca lists them, and
    close cancels them and closes the position."""
    env = await make_env(LISTING_VARIANTS[variant])
    try:
        parent = env.rest.submit_bracket_direct({
            "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
            "order_class": "bracket", "client_order_id": "earlier-1",
            "take_profit": {"limit_price": "195"}, "stop_loss": {"stop_price": "188"}})
        env.rest.fill(parent["id"], 10, 190.0)
        broker = await env.started(clock=FixedClock(env.rest.now_ns + 60 * 10**9))
        (pos,) = broker.positions()
        assert (pos.qty, pos.stop, pos.target) == (10, 188.0, 195.0)
        assert not any("UNPROTECTED" in d for d in broker.last_differences)
        await broker.close("AAPL")
        assert env.rest.requests_to("DELETE", "/v2/positions/AAPL")
        assert [o["type"] for o in open_at_standin(env)] == ["market"]  # only the closing order
        assert len(env.rest.requests_to("DELETE", "/v2/positions/AAPL")) <= 2
    finally:
        await close_env(env)


async def test_close_cancels_legs_it_never_knew_instead_of_failing_on_held_for_orders(env):
    """Shares held for an order placed behind our back (another session) make
    Alpaca refuse the close; close asks which orders hold them and cancels them."""
    broker = await env.started()
    env.forward = False  # we never hear of the bracket
    env.rest.add_position("AAPL", 10, 190.0)
    parent = env.rest.submit_bracket_direct({
        "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
        "order_class": "bracket", "take_profit": {"limit_price": "195"}, "stop_loss": {"stop_price": "188"}})
    env.rest.orders[parent["id"]]["status"] = "filled"
    env.rest.orders[parent["id"]]["filled_qty"] = "10"
    env.rest.orders[leg_of(env, parent["id"], "limit")]["status"] = "new"
    assert not broker.open_orders()
    await broker.close("AAPL")
    assert [o["type"] for o in open_at_standin(env)] == ["market"]
    assert env.rest.orders[leg_of(env, parent["id"], "limit")]["status"] == "canceled"


async def test_reconcile_flags_a_position_left_without_a_stop(env):
    env.rest.add_position("AAPL", 10, 190.0)
    broker = await env.started()
    assert "position AAPL +10: UNPROTECTED, no stop order open at broker" in broker.last_differences


# --------------------------------------------------------------------------- item 3: fill price


@pytest.mark.parametrize("reading", ["average", "last"])
async def test_partial_fill_prices_are_right_under_either_reading_of_price(reading):
    env = await make_env(AlpacaBehaviour(fill_price=reading))
    try:
        broker = await env.started()
        entry = await broker.submit(bracket("fp-1"))
        env.rest.fill(entry.id, 4, 190.0)
        env.rest.fill(entry.id, 6, 190.5)
        await wait_for(lambda: len(env.fills()) == 2, what="two fills")
        assert [(e.fill.qty, e.fill.price) for e in env.fills()] == [(4, 190.0), (6, 190.5)]
        assert broker.positions()[0].avg_price == pytest.approx(190.3)
    finally:
        await close_env(env)


# --------------------------------------------------------------------------- item 4: duplicate client id


@pytest.mark.parametrize("wording", DUPLICATE_ID_WORDINGS)
async def test_a_duplicate_client_id_in_either_wording_adopts_the_existing_order(wording):
    """The submit reached Alpaca but its answer was lost; the resend (same id) is
    refused as a duplicate, in whichever wording: the existing order is adopted."""
    env = await make_env(AlpacaBehaviour(duplicate_id_message=wording))
    try:
        broker = await env.started()
        env.rest.submit_bracket_direct({"symbol": "AAPL", "qty": "10", "side": "buy", "type": "market",
                                        "time_in_force": "day", "client_order_id": "dup-1"})
        order = await broker.submit(OrderRequest("dup-1", "AAPL", Side.BUY, 10, OrderType.MARKET))
        assert order.status is not OrderStatus.REJECTED and order.client_order_id == "dup-1"
        assert len([o for o in env.rest.orders.values() if o["client_order_id"] == "dup-1"]) == 1
    finally:
        await close_env(env)


async def test_kind_mode_stays_available_for_tests_that_ask_for_it():
    env = await make_env(KIND)
    try:
        parent = env.rest.submit_bracket_direct({
            "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
            "order_class": "bracket", "take_profit": {"limit_price": "195"}, "stop_loss": {"stop_price": "188"}})
        env.rest.fill(parent["id"], 10, 190.0)
        assert env.rest.orders[leg_of(env, parent["id"], "stop")]["status"] == "new"
    finally:
        await close_env(env)


@pytest.mark.parametrize("variant", sorted(LISTING_VARIANTS))
async def test_engine_restart_mid_trade_keeps_both_legs_and_flatten_closes(variant, tmp_path, monkeypatch,
                                                                           local_network_only):
    """The whole engine, real-Alpaca mode: the held stop leg never had a trade
    update (so the store may not hold it); after a restart the position still
    shows its stop and target, no UNPROTECTED line, and flatten closes it,
    whether or not Alpaca lists held legs (and a filled parent) as open."""
    from tests.faults.test_alpaca_faults import Run, open_position, signal
    from tests.standins.alpaca_streams import MarketDataStreamStandIn as MD

    env = await make_env(LISTING_VARIANTS[variant])
    md = MD(KEY_ID, SECRET)
    mws = await md.start()
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    env.endpoints = {"alpaca_trading": env.base, "alpaca_data": env.base, "alpaca_data_stream": mws + "/v2/iex"}
    db = str(tmp_path / "restart.db")
    try:
        first = Run(env, db)
        await first.start()
        try:
            await open_position(first, env, signal("rs1"))
        finally:
            await first.engine.stop()
        second = Run(env, db)
        await second.start()
        try:
            (pos,) = second.engine.broker.positions()
            assert (pos.qty, pos.stop, pos.target) == (10, 188.0, 195.0)
            assert not any("UNPROTECTED" in m for m in second.journal())
            await second.engine.router.flatten("AAPL")
            assert [o["type"] for o in open_at_standin(env)] == ["market"]  # only the closing order
            assert not any("failed" in m and "backfill" not in m for m in second.journal()), second.journal()
        finally:
            await second.engine.stop()
    finally:
        await md.stop()
        await close_env(env)
