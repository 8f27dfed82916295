"""Alpaca broker faults on the stand-ins: fills that happened while the order
stream was down or the engine was stopped, and a submit whose outcome is unknown.

- A fill missed while away reaches the handler exactly once, after a stream
  reconnect or a restart, with the position it left, so the router's fill
  history, round-trip P&L and consecutive-loss count are right.
- A submit that timed out with every look-up failing is UNKNOWN (open, counts as
  exposure, shown in the orders pane), never "rejected" and never resent; the
  stream, a look-up or a reconcile resolves it, and its fill is recorded once.

Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from engine.clock import FixedClock
from engine.config import load_config
from engine.engine import Engine
from engine.factory import build_feed
from engine.live.backoff import Backoff
from engine.model import (
    Decision,
    Order,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    Signal,
)
from engine.store import Store
from tests.standins.alpaca_rest import AlpacaRestStandIn, parse_iso_ns
from tests.alpaca_env import LATE_ANSWER_S, AlpacaEnv, close_alpaca_env, open_alpaca_env, settled
from tests.standins.alpaca_streams import MarketDataStreamStandIn
from tests.standins.testkit import KEY_ID, SECRET, T0
from tests.waiting import wait_for

SLOW = Backoff(initial_s=60.0, max_s=60.0)  # the background look-up of an UNKNOWN order waits out the test


Env = AlpacaEnv


@pytest.fixture
async def env():
    e = await open_alpaca_env(unknown_lookup_backoff=SLOW)
    yield e
    await close_alpaca_env(e)


quiet = settled


def bracket(cid: str, qty: int = 10) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAPL", side=Side.BUY, qty=qty, type=OrderType.MARKET,
                        take_profit=195.0, stop_loss=188.0, signal_id="sig-" + cid)


def ambiguous_submit(env: Env, lookups_failing: int = 3) -> None:
    """The POST is handled (the order exists) but answers too late; the look-ups by
    client id then get 500s (one look-up round tries three times)."""
    env.rest.script("POST", "/v2/orders", 200, hang_s=LATE_ANSWER_S)
    env.rest.script("GET", "/v2/orders:by_client_order_id", 500, {"code": 50010000, "message": "internal error"},
                    times=lookups_failing)


def leg_of(env: Env, parent_id: str, type_: str) -> str:
    return next(i for i in env.rest.orders[parent_id]["_leg_ids"] if env.rest.orders[i]["type"] == type_)


# --------------------------------------------------------------------------- the stand-in's order listing


def test_standin_lists_closed_orders_as_alpaca_py_asks_oldest_first_one_page_at_a_time():
    rest = AlpacaRestStandIn(KEY_ID, SECRET, start_ns=T0)
    base = rest.start()
    try:
        ids = []
        for i in range(5):
            o = rest.add_order(symbol="AAPL", qty=1, side="buy", type_="market", client_order_id=f"o-{i}")
            ids.append(o["id"])
            if i != 2:
                rest.fill(o["id"], 1, 190.0 + i)
        client = TradingClient(KEY_ID, SECRET, paper=True, url_override=base)
        t0 = datetime.fromtimestamp(T0 // 10**9, timezone.utc)
        first = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, limit=2, direction=Sort.ASC,
                                                   nested=True, after=t0))
        assert [o.client_order_id for o in first] == ["o-0", "o-1"]
        query = rest.requests_to("GET", "/v2/orders")[-1].query
        assert query["status"] == ["closed"] and query["direction"] == ["asc"] and query["limit"] == ["2"]
        assert parse_iso_ns(query["after"][0]) == T0  # alpaca-py's "+00:00" arrives intact
        second = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, limit=2, direction=Sort.ASC,
                                                    after=first[-1].submitted_at))
        assert [o.client_order_id for o in second] == ["o-3", "o-4"]  # o-2 is open
        newest = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=1))
        assert [o.client_order_id for o in newest] == ["o-4"]  # Alpaca's default: newest first
        opened = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
        assert [str(o.id) for o in opened] == [ids[2]]
    finally:
        rest.stop()


async def test_reconcile_pages_through_closed_orders_and_emits_each_missed_fill_once(env):
    broker = await env.started(orders_page_size=2)
    env.forward = False  # the stream is silent: these fills are only seen by the reconcile
    for i in range(5):
        o = env.rest.add_order(symbol="AAPL", qty=1, side="buy", type_="market", client_order_id=f"p-{i}")
        env.rest.fill(o["id"], 1, 190.0 + i)
    differences = await broker.reconcile()
    assert [(f.fill.client_order_id, f.fill.price) for f in env.fills()] == [(f"p-{i}", 190.0 + i) for i in range(5)]
    assert sum(d.startswith("fill missed while away") for d in differences) == 5
    closed_pages = [r for r in env.rest.requests_to("GET", "/v2/orders") if r.query["status"] == ["closed"]]
    assert len(closed_pages) >= 3 and all(r.query["limit"] == ["2"] for r in closed_pages)
    assert broker.positions()[0].qty == 5
    await broker.reconcile()
    assert len(env.fills()) == 5


# --------------------------------------------------------------------------- fills missed while the stream was down


async def test_entry_filled_while_the_stream_was_down_is_emitted_once_after_reconnect(env):
    broker = await env.started()
    reports: list[list[str]] = []
    broker.set_reconcile_handler(reports.append)
    entry = await broker.submit(bracket("down-1"))
    env.forward = False
    await env.stream.drop()
    env.rest.fill(entry.id, 10, 191.0)  # the bracket's legs go live with it
    await wait_for(lambda: reports, 10, what="reconcile after the reconnect")
    (ev,) = env.fills()
    assert ev.kind == "fill" and ev.order.id == entry.id and ev.order.status is OrderStatus.FILLED
    assert (ev.fill.qty, ev.fill.price, ev.fill.leg) == (10, 191.0, OrderLeg.ENTRY)
    assert any(line.startswith("fill missed while away: AAPL buy 10 @ 191.0000") for line in reports[0])
    assert broker.positions()[0].qty == 10 and broker.positions()[0].stop == 188.0
    # the same update arriving late on the new connection changes nothing
    env.forward = True
    await env.replay("fill", "partial_fill")
    await quiet(env)
    assert len(env.fills()) == 1
    assert await broker.reconcile() == []
    assert len(env.fills()) == 1


async def test_a_stale_rest_view_never_undoes_a_fill_so_it_is_never_emitted_twice(env):
    broker = await env.started()
    entry = await broker.submit(bracket("stale-1"))
    stale = dict(env.rest.orders[entry.id], status="partially_filled", filled_qty="4", filled_avg_price="190")
    stale = {k: v for k, v in stale.items() if not k.startswith("_")}
    env.rest.fill(entry.id, 10, 190.0)
    await wait_for(lambda: env.fills(), 10, what="live fill")
    await quiet(env)
    # a reconcile whose open-order listing was taken before the fill
    env.rest.script("GET", "/v2/orders", 200, [stale])
    await broker.reconcile()
    await env.replay("fill")  # then the fill update again (e.g. after a reconnect)
    await quiet(env)
    assert [e.fill.qty for e in env.fills()] == [10]
    assert broker.order_by_client_id("stale-1").status is OrderStatus.FILLED


# --------------------------------------------------------------------------- an ambiguous submit


async def test_ambiguous_submit_the_stream_already_reported_is_live_not_rejected(env):
    broker = await env.started()
    ambiguous_submit(env)
    order = await broker.submit(bracket("amb-1"))
    assert order.status is OrderStatus.ACCEPTED and order.id in env.rest.orders
    assert "rejected" not in [e.kind for e in env.events]
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 1


async def test_ambiguous_submit_is_unknown_then_the_stream_resolves_it_and_its_fill_counts_once(env):
    broker = await env.started()
    env.forward = False  # the stream has not told us yet
    ambiguous_submit(env)
    order = await broker.submit(bracket("amb-2"))
    assert order.status is OrderStatus.UNKNOWN and order.id == "unknown:amb-2"
    assert order.status.is_open and order in broker.open_orders() and broker.has_exposure("AAPL")
    assert order.reason.startswith("possibly live at Alpaca, not resent: no answer")
    assert env.events == []  # neither rejected nor anything else
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 1
    (real_id,) = [i for i, o in env.rest.orders.items() if o["client_order_id"] == "amb-2"]
    # the stream delivers the order's "new" late
    await env.replay("new")
    await wait_for(lambda: "resolved" in [e.kind for e in env.events], 10, what="resolution")
    resolved = next(e for e in env.events if e.kind == "resolved")
    assert resolved.order.id == "unknown:amb-2" and not resolved.order.status.is_open
    assert real_id in resolved.reason
    assert [o.id for o in broker.open_orders() if o.leg is OrderLeg.ENTRY] == [real_id]
    assert broker.order_by_client_id("amb-2").status is OrderStatus.ACCEPTED
    env.forward = True
    env.rest.fill(real_id, 10, 190.0)
    await wait_for(lambda: env.fills(), 10, what="fill")
    await quiet(env)
    assert [(e.kind, e.fill.qty, e.order.id) for e in env.fills()] == [("fill", 10, real_id)]
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 1


async def test_unknown_submit_resolved_by_reconcile_records_its_fill_once(env):
    broker = await env.started()
    env.forward = False
    ambiguous_submit(env)
    order = await broker.submit(bracket("amb-3"))
    assert order.status is OrderStatus.UNKNOWN
    (real_id,) = [i for i, o in env.rest.orders.items() if o["client_order_id"] == "amb-3"]
    env.rest.fill(real_id, 10, 190.5)
    differences = await broker.reconcile()
    kinds = [e.kind for e in env.events]
    assert kinds.index("resolved") < kinds.index("fill") and kinds.count("fill") == 1
    assert env.fills()[0].fill.price == 190.5 and env.fills()[0].order.signal_id == "sig-amb-3"
    assert any("submit outcome was unknown, at broker as order " + real_id in d for d in differences)
    assert broker.positions()[0].qty == 10
    await env.replay("new", "fill")  # the stream's late copies
    await quiet(env)
    assert [e.kind for e in env.events].count("fill") == 1
    assert not [o for o in broker.open_orders() if o.status is OrderStatus.UNKNOWN]


async def test_unknown_submit_that_never_reached_alpaca_is_closed_by_the_next_lookup_and_not_resent(env):
    broker = await env.started(unknown_lookup_backoff=Backoff(initial_s=0.05, max_s=0.05, jitter=0.0))
    env.rest.script("POST", "/v2/orders", drop=True)  # died in transit: Alpaca never saw it
    env.rest.script("GET", "/v2/orders:by_client_order_id", 500, {"message": "internal error"}, times=3)
    order = await broker.submit(bracket("amb-4"))
    assert order.status is OrderStatus.UNKNOWN
    await wait_for(lambda: env.events, 10, what="the background look-up")
    (ev,) = env.events
    assert ev.kind == "rejected" and ev.order.id == "unknown:amb-4" and "never reached" in ev.reason
    assert not broker.has_exposure("AAPL")
    await asyncio.sleep(0.2)  # more look-up rounds would be due by now if it were still unknown
    assert env.rest.requests_to("POST", "/v2/orders") == [] and env.rest.orders == {}
    assert len(env.rest.requests_to("GET", "/v2/orders:by_client_order_id")) == 4


# --------------------------------------------------------------------------- the store


async def test_an_unknown_order_round_trips_through_the_store_and_is_restored_open(tmp_path):
    order = Order("unknown:ck-s1-1", "ck-s1-1", "AAPL", Side.BUY, OrderType.MARKET, 10, OrderStatus.UNKNOWN,
                  signal_id="s1", created_ns=T0, updated_ns=T0, reason="submit outcome unknown")
    store = await Store.open(str(tmp_path / "u.db"))
    store.record_order(order)
    await store.close()
    store = await Store.open(str(tmp_path / "u.db"))
    try:
        assert await store.orders() == [order]
        assert await store.orders(open_only=True) == [order]
        assert (await store.load_today(T0 - 3600 * 10**9)).open_orders == [order]
    finally:
        await store.close()


# --------------------------------------------------------------------------- the whole engine


@pytest.fixture
async def live(monkeypatch, env, local_network_only):
    md = MarketDataStreamStandIn(KEY_ID, SECRET)
    mws = await md.start()
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    # every URL the engine's config hands the Alpaca clients: the stand-ins on 127.0.0.1, never a real host
    env.endpoints = {"alpaca_trading": env.base, "alpaca_data": env.base, "alpaca_data_stream": mws + "/v2/iex"}
    yield env
    await md.stop()


class Run:
    """An Engine on the stand-ins with an Alpaca broker and a store file; the
    P&L of each closed round trip the router feeds the loss gate is kept."""

    def __init__(self, env: Env, db: str, **broker_kwargs) -> None:
        cfg = load_config(None, overrides={"app": {"symbols": ["AAPL"], "mode": "AUTO", "db": db},
                                           "feed": {"kind": "alpaca"}, "broker": {"kind": "alpaca"},
                                           "endpoints": env.endpoints}, env={})
        clock = FixedClock(T0)
        self.env = env
        self.broker = env.broker(clock=clock, **broker_kwargs)

        async def opener():
            return await Store.open(db)

        self.engine = Engine(cfg, build_feed(cfg, clock), self.broker, clock, store_opener=opener)
        self.closed_pnl: list[float] = []
        record = self.engine.risk.record_closed_trade

        def spy(pnl: float) -> None:
            self.closed_pnl.append(round(pnl, 6))
            record(pnl)

        self.engine.risk.record_closed_trade = spy

    async def start(self) -> None:
        """Start the engine and wait until its broker listens on the trade stream:
        an update the stand-in sends before that is lost (as on a real connection
        that is not yet up), so a test that publishes one must not race the handshake."""
        before = self.env.stream.connections
        await self.engine.start()
        await wait_for(lambda: self.broker.stream_connected and self.env.stream.connections > before, 10,
                       what="the broker listening on the trade stream")

    def journal(self, kind: str | None = None) -> list[str]:
        return [j.message for j in self.engine.journal if kind is None or j.kind == kind]


def signal(sid: str = "s1") -> Signal:
    return Signal(id=sid, symbol="AAPL", setup="auction", side=Side.BUY, entry=190.0, stop=188.0, target=195.0,
                  confidence=0.8, reason="test", created_ns=T0, qty=10, decision=Decision.AUTO, decided_ns=T0)


async def open_position(run: Run, env: Env, sig: Signal) -> str:
    """The signal's bracket sent and its entry filled live; returns the entry's id."""
    run.engine.recorder.signal(sig)
    await run.engine.router.send(sig)
    (entry_id,) = [i for i, o in env.rest.orders.items() if o["client_order_id"].startswith(f"ck-{sig.id}-")]
    env.rest.fill(entry_id, 10, 190.0)
    await wait_for(lambda: run.engine.router.exits.plan("AAPL") is not None, 10, what="exit management started")
    # the look-up of its legs after the fill is done: what happens next is news to a later reconcile
    await wait_for(lambda: not run.broker.settling, 10, what="bracket legs looked up")
    return entry_id


async def test_stop_filled_while_the_stream_was_down_closes_the_trade_once_with_its_loss(live, tmp_path):
    env = live
    run = Run(env, str(tmp_path / "c.db"))
    await run.start()
    try:
        entry_id = await open_position(run, env, signal())
        env.forward = False
        await env.stream.drop()
        env.rest.fill(leg_of(env, entry_id, "stop"), 10, 188.0)
        await wait_for(lambda: run.closed_pnl, 10, what="the missed stop fill reached the router")
        await env.stream.wait_for(lambda: len(env.stream.live) >= 1)
        env.forward = True
        await env.replay("fill")  # late copies on the new connection
        await quiet(env)
        assert run.closed_pnl == [-20.0]
        assert run.engine.risk.consecutive_losses == 1
        assert run.engine.counters["fills"] == 2 and len(run.engine.router.fills) == 2
        assert "AAPL" not in run.engine.router.plans and run.engine.router.exits.plan("AAPL") is None
        assert run.engine.broker.positions() == []
        assert any("fill missed while away: AAPL sell 10 @ 188.0000 (stop_loss" in m for m in run.journal("reconcile"))
    finally:
        await run.engine.stop()
    store = await Store.open(str(tmp_path / "c.db"))
    try:
        assert [(f.leg, f.qty, f.price) for f in await store.fills()] == [
            (OrderLeg.ENTRY, 10, 190.0), (OrderLeg.STOP_LOSS, 10, 188.0)]
    finally:
        await store.close()


async def test_restart_emits_the_fill_that_happened_while_the_engine_was_stopped_exactly_once(live, tmp_path):
    env = live
    db = str(tmp_path / "r.db")
    first = Run(env, db)
    await first.start()
    try:
        entry_id = await open_position(first, env, signal())
    finally:
        await first.engine.stop()
    # while nothing runs: the stop fills at a loss, its take-profit sibling is replaced
    env.rest.fill(leg_of(env, entry_id, "stop"), 10, 188.0)

    second = Run(env, db)
    await second.start()
    try:
        assert second.closed_pnl == [-20.0]  # entry from the store + the stop the store missed
        assert second.engine.risk.consecutive_losses == 1
        assert second.engine.counters["fills"] == 1  # the entry is not emitted again
        assert second.engine.broker.positions() == [] and "AAPL" not in second.engine.router.plans
        assert any("fill missed while away: AAPL sell 10 @ 188.0000" in m for m in second.journal("reconcile"))
        # the stop triggered: Alpaca marks its take-profit sibling "replaced" (alpaca-py #198)
        assert any("take_profit order" in m and "replaced" in m for m in second.journal("order"))
    finally:
        await second.engine.stop()

    third = Run(env, db)
    await third.start()
    try:
        assert third.engine.counters["fills"] == 0  # nothing emitted again
        # the stored round trip rebuilds the losing streak once, at the restore
        assert third.closed_pnl == [-20.0] and third.engine.risk.consecutive_losses == 1
        assert not any("fill missed" in m for m in third.journal())
    finally:
        await third.engine.stop()
    store = await Store.open(db)
    try:
        fills = await store.fills()
        assert [(f.leg, f.qty, f.price) for f in fills] == [(OrderLeg.ENTRY, 10, 190.0),
                                                            (OrderLeg.STOP_LOSS, 10, 188.0)]
        assert await store.orders(open_only=True) == []  # the legs' rows were closed too
    finally:
        await store.close()


async def test_router_keeps_the_plan_of_an_unknown_entry_and_starts_exits_when_it_fills(live, tmp_path):
    env = live
    run = Run(env, str(tmp_path / "u.db"))
    await run.start()
    try:
        env.forward = False
        ambiguous_submit(env)
        sig = signal("u1")
        await run.engine.router.send(sig)
        assert run.engine.router.plans["AAPL"] is sig
        unknown = [m for m in run.journal() if "outcome unknown" in m]
        assert len(unknown) == 1 and "ck-u1-1" in unknown[0]
        assert [j.level for j in run.engine.journal if "outcome unknown" in j.message] == ["warn"]
        assert not [m for m in run.journal() if "rejected" in m]
        assert run.engine.counters["rejections"] == 0
        snap_orders = [o for o in run.engine.snapshot().orders if o.status is OrderStatus.UNKNOWN]
        assert [o.client_order_id for o in snap_orders] == ["ck-u1-1"]
        store = run.engine.store
        assert [o.status for o in await store.orders(open_only=True)] == [OrderStatus.UNKNOWN]
        # the stream comes back with the order, then it fills (the POST was handled: its answer was lost)
        await wait_for(lambda: any(o["client_order_id"] == "ck-u1-1" for o in env.rest.orders.values()), 10,
                       what="the stand-in holding the order")
        env.forward = True
        await env.replay("new")
        (real_id,) = [i for i, o in env.rest.orders.items() if o["client_order_id"] == "ck-u1-1"]
        await wait_for(lambda: run.engine.broker.order_by_client_id("ck-u1-1") is not None, 10, what="resolved")
        env.rest.fill(real_id, 10, 190.0)
        await wait_for(lambda: run.engine.router.exits.plan("AAPL") is not None, 10, what="exit management started")
        await wait_for(lambda: not run.broker.settling, 10, what="the bracket looked up after the fill")
        assert run.engine.counters["fills"] == 1
        assert any("ck-u1-1" in m and real_id in m for m in run.journal("order"))
        rows = {o.id: o for o in await store.orders()}
        assert rows["unknown:ck-u1-1"].status is OrderStatus.CANCELED  # the placeholder is closed
        assert rows[real_id].status is OrderStatus.FILLED
        assert len(await store.fills()) == 1
    finally:
        await run.engine.stop()


async def test_restart_resolves_an_unknown_entry_from_the_store_and_manages_its_exits(live, tmp_path):
    env = live
    db = str(tmp_path / "ru.db")
    first = Run(env, db)
    await first.start()
    try:
        env.forward = False
        ambiguous_submit(env)
        sig = signal("u2")
        first.engine.recorder.signal(sig)  # the decision, as the desk records it
        await first.engine.router.send(sig)
        assert [o.status for o in first.engine.broker.open_orders()] == [OrderStatus.UNKNOWN]
    finally:
        await first.engine.stop()
    (real_id,) = [i for i, o in env.rest.orders.items() if o["client_order_id"] == "ck-u2-1"]
    env.rest.fill(real_id, 10, 190.0)  # it was live after all, and filled while nothing ran
    env.forward = True

    second = Run(env, db)
    await second.start()
    try:
        assert second.engine.counters["fills"] == 1
        assert second.engine.router.exits.plan("AAPL") is not None  # its plan survived the restart
        assert [o.status for o in second.engine.broker.open_orders() if o.leg is OrderLeg.ENTRY] == []
        assert any("submit outcome was unknown, at broker as order " + real_id in m
                   for m in second.journal("reconcile"))
        rows = {o.id: o for o in await second.engine.store.orders()}
        assert rows["unknown:ck-u2-1"].status is OrderStatus.CANCELED and rows[real_id].status is OrderStatus.FILLED
    finally:
        await second.engine.stop()
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 1
