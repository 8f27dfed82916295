"""AlpacaBroker driving the real alpaca-py clients against local stand-ins.

Nothing leaves 127.0.0.1: the REST stand-in and the trade_updates stand-in
speak Alpaca's wire protocols and record what they received.
"""
from __future__ import annotations

import asyncio
import logging

import pytest
from alpaca.trading.models import TradeUpdate

from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.base import Broker
from engine.model import OrderLeg, OrderRequest, OrderStatus, OrderType, Side
from tests.alpaca_env import LATE_ANSWER_S, AlpacaEnv, settled
from tests.standins.testkit import KEY_ID, SECRET, T0
from tests.waiting import wait_for


Env = AlpacaEnv


@pytest.fixture
async def env(alpaca_rest, alpaca_trading_stream):
    e = AlpacaEnv(alpaca_rest, alpaca_trading_stream)
    yield e
    await e.stop_brokers()


async def processed_in_order(env: Env, broker: AlpacaBroker) -> None:
    """Return once the broker has handled every update sent so far: the stream is
    handled in order, so it sends one malformed update (which changes nothing but a
    counter) and waits for that counter."""
    seen = broker.counters["malformed_updates"]
    await env.stream.send_update({"event": "fill", "order": {"id": "end-of-batch"}})
    await wait_for(lambda: broker.counters["malformed_updates"] > seen, what="the updates sent so far")


async def started(env: Env, **kwargs) -> AlpacaBroker:
    return await env.started(**kwargs)


def bracket(cid: str, qty: int = 10, type_: OrderType = OrderType.LIMIT, limit: float | None = 190.5,
            tp: float = 195.25, sl: float = 188.1) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAPL", side=Side.BUY, qty=qty, type=type_,
                        limit_price=limit if type_ is OrderType.LIMIT else None, take_profit=tp, stop_loss=sl,
                        signal_id="sig-" + cid)


async def test_implements_broker_protocol_and_kind(env):
    broker = env.broker()
    assert isinstance(broker, Broker)
    assert broker.kind == "PAPER"
    assert env.broker(paper=False).kind == "LIVE"


async def test_bracket_order_body_as_alpaca_receives_it(env):
    broker = await started(env)
    order = await broker.submit(bracket("c-1"))
    posts = env.rest.requests_to("POST", "/v2/orders")
    assert len(posts) == 1
    assert posts[0].body == {
        "symbol": "AAPL", "qty": 10.0, "side": "buy", "type": "limit", "time_in_force": "day",
        "order_class": "bracket", "client_order_id": "c-1", "limit_price": 190.5,
        "take_profit": {"limit_price": 195.25}, "stop_loss": {"stop_price": 188.1},
    }
    assert posts[0].headers["apca-api-key-id"] == KEY_ID
    assert order.status is OrderStatus.ACCEPTED and order.client_order_id == "c-1"
    assert order.signal_id == "sig-c-1" and order.leg is OrderLeg.ENTRY
    legs = {o.leg: o for o in broker.open_orders() if o.parent_id == order.id}
    assert legs[OrderLeg.TAKE_PROFIT].limit_price == 195.25
    assert legs[OrderLeg.STOP_LOSS].stop_price == 188.1
    assert all(o.status is OrderStatus.HELD and o.side is Side.SELL for o in legs.values())

    market = await broker.submit(bracket("c-2", qty=5, type_=OrderType.MARKET, tp=200.0, sl=180.0))
    body = env.rest.requests_to("POST", "/v2/orders")[1].body
    assert body["type"] == "market" and "limit_price" not in body and body["qty"] == 5
    assert market.type is OrderType.MARKET


async def test_403_rejection_carries_alpacas_reason(env):
    env.rest.account["buying_power"] = "1000.00"
    broker = await started(env)
    order = await broker.submit(bracket("big-1", qty=100))
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "insufficient buying power"
    rejected = [e for e in env.events if e.kind == "rejected"]
    assert len(rejected) == 1 and rejected[0].reason == "insufficient buying power"
    assert rejected[0].order.client_order_id == "big-1"
    assert broker.open_orders() == []


async def test_422_rejection_carries_alpacas_reason(env):
    broker = await started(env)
    # take profit below the entry: Alpaca's own validation refuses it
    order = await broker.submit(bracket("bad-tp", tp=189.0, sl=185.0))
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "take_profit.limit_price must be >= base_price + 0.01"
    assert env.kinds() == ["rejected"]
    # a scripted 422 body is surfaced as sent
    env.rest.script("POST", "/v2/orders", 422, {"code": 40010001, "message": "qty must be > 0"})
    order2 = await broker.submit(bracket("c-3"))
    assert order2.reason == "qty must be > 0"


async def test_reused_client_order_id_is_refused_locally(env):
    broker = await started(env)
    first = await broker.submit(bracket("dup-1"))
    again = await broker.submit(bracket("dup-1"))
    assert first.status is OrderStatus.ACCEPTED
    assert again.status is OrderStatus.REJECTED and "already used" in again.reason
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 1


async def test_fills_drive_positions_and_events(env):
    broker = await started(env)
    entry = await broker.submit(bracket("f-1", type_=OrderType.MARKET))
    env.rest.fill(entry.id, 4, 190.0)
    env.rest.fill(entry.id, 6, 190.5)
    await wait_for(lambda: "fill" in env.kinds(), what="fill event")
    fills = [e.fill for e in env.events if e.fill is not None]
    assert [(f.qty, f.price) for f in fills] == [(4, 190.0), (6, 190.5)]
    assert [e.kind for e in env.events if e.fill is not None] == ["partial_fill", "fill"]
    (pos,) = broker.positions()
    assert pos.qty == 10 and pos.avg_price == pytest.approx(190.3)
    # legs released on the parent's fill: the position shows its stop and target
    await wait_for(lambda: broker.positions()[0].stop == 188.1, what="legs active")
    assert broker.positions()[0].target == 195.25


async def test_duplicated_and_out_of_order_updates_change_nothing_twice(env):
    broker = await started(env)
    entry = await broker.submit(bracket("d-1", type_=OrderType.MARKET))
    env.rest.fill(entry.id, 4, 190.0)
    env.rest.fill(entry.id, 6, 190.5)
    await wait_for(lambda: broker.positions() and broker.positions()[0].stop is not None, what="fills applied")
    await settled(env)  # the bracket children's own updates may still be on the wire
    n_events = len(env.events)
    before = (broker.positions(), broker.open_orders(), broker.recent_orders())
    # every update again, duplicated, newest first
    for update in reversed(list(env.captured)):
        await env.stream.send_update(update)
        await env.stream.send_update(update)
    marker = dict(env.captured[-1])
    await processed_in_order(env, broker)
    assert len(env.events) == n_events
    assert (broker.positions(), broker.open_orders(), broker.recent_orders()) == before
    assert broker.counters["stale_updates"] >= 2 * len(env.captured)

    # out of order at first sight: the fill (10) arrives before the partial fill (4)
    env.forward = False
    env.captured.clear()
    second = await broker.submit(OrderRequest("d-2", "MSFT", Side.BUY, 10, OrderType.LIMIT, limit_price=400.0))
    env.rest.fill(second.id, 4, 399.0)
    env.rest.fill(second.id, 6, 400.0)
    partial, full = [u for u in env.captured if u["event"] in ("partial_fill", "fill")]
    n_events = len(env.events)
    await env.stream.send_update(full)
    await env.stream.send_update(partial)
    await env.stream.send_update(full)
    await processed_in_order(env, broker)
    new = env.events[n_events:]
    assert [e.kind for e in new] == ["fill"]
    assert new[0].fill.qty == 10 and new[0].fill.price == pytest.approx(399.6)
    msft = [p for p in broker.positions() if p.symbol == "MSFT"][0]
    assert msft.qty == 10 and msft.avg_price == pytest.approx(399.6)
    assert marker["event"]  # the replayed updates were real ones


async def test_restart_reconciles_position_and_open_orders(env):
    env.rest.add_position("AAPL", 50, 180.0, current=185.0)
    parent = env.rest.submit_bracket_direct({
        "symbol": "AAPL", "qty": "50", "side": "buy", "type": "limit", "time_in_force": "day",
        "limit_price": "180", "order_class": "bracket", "client_order_id": "prev-session-1",
        "take_profit": {"limit_price": "190"}, "stop_loss": {"stop_price": "175"},
    })
    env.rest.fill(parent["id"], 50, 180.0)  # before our session: the legs are now live
    env.rest.add_position("AAPL", 50, 180.0, current=185.0)
    stray = env.rest.add_order(symbol="MSFT", qty=5, side="buy", type_="limit", limit_price=380.0,
                               client_order_id="manual-1")
    broker = env.broker()
    differences = await broker.start()
    (pos,) = broker.positions()
    assert (pos.symbol, pos.qty, pos.avg_price, pos.last) == ("AAPL", 50, 180.0, 185.0)
    assert (pos.stop, pos.target) == (175.0, 190.0)
    open_ids = {o.id for o in broker.open_orders()}
    assert stray["id"] in open_ids
    roles = sorted(o.leg.value for o in broker.open_orders() if o.symbol == "AAPL")
    assert roles == ["stop_loss", "take_profit"]
    assert "position AAPL: we had none, broker has +50 @ 180.0000" in differences
    assert any(d.startswith("order MSFT buy 5 limit limit 380") and "unknown to us" in d for d in differences)
    assert sum("unknown to us" in d for d in differences) == 3, "\n".join(differences)
    assert broker.account().equity == 100_000.0

    # the broker changes behind our back (stream detached): reconcile says what moved
    env.forward = False
    env.rest.cancel(stray["id"])
    env.rest.add_position("AAPL", 30, 180.0, current=185.0)
    differences = await broker.reconcile()
    assert "position AAPL: we had +50, broker has +30 @ 180.0000" in differences
    assert any("MSFT" in d and "not open at broker" in d for d in differences)
    assert stray["id"] not in {o.id for o in broker.open_orders()}
    assert broker.positions()[0].qty == 30
    assert await broker.reconcile() == []


async def test_submit_that_timed_out_but_reached_alpaca_is_not_sent_twice(env):
    broker = await started(env)
    env.forward = False  # the order stream stays quiet: the look-up by client id finds the order
    env.rest.script("POST", "/v2/orders", 200, hang_s=LATE_ANSWER_S)  # handled, but the answer comes too late
    order = await broker.submit(bracket("slow-1"))
    posts = env.rest.requests_to("POST", "/v2/orders")
    assert len(posts) == 1
    lookups = env.rest.requests_to("GET", "/v2/orders:by_client_order_id")
    assert [r.query["client_order_id"] for r in lookups] == [["slow-1"]]
    assert order.status is OrderStatus.ACCEPTED
    server_ids = [o["id"] for o in env.rest.orders.values() if o["client_order_id"] == "slow-1"]
    assert [order.id] == server_ids
    assert broker.counters["submit_resends"] == 0


async def test_submit_lost_in_transit_is_resent_with_the_same_id(env):
    broker = await started(env)
    env.rest.script("POST", "/v2/orders", drop=True)  # connection dies before Alpaca saw it
    order = await broker.submit(bracket("lost-1"))
    posts = env.rest.requests_to("POST", "/v2/orders")
    assert [p.body["client_order_id"] for p in posts] == ["lost-1"]  # the dropped one never arrived
    assert len(env.rest.requests_to("GET", "/v2/orders:by_client_order_id")) == 1
    assert order.status is OrderStatus.ACCEPTED
    assert sum(o["client_order_id"] == "lost-1" for o in env.rest.orders.values()) == 1
    assert broker.counters["submit_resends"] == 1


async def test_429_waits_retry_after_then_resends(env, caplog):
    broker = await started(env)
    env.rest.script("POST", "/v2/orders", 429, {"code": 42910000, "message": "rate limit exceeded"},
                    {"Retry-After": "0.15"}, times=2)
    with caplog.at_level(logging.WARNING, logger="engine.live.rest"):
        order = await broker.submit(bracket("rl-1"))
    assert order.status is OrderStatus.ACCEPTED
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 3
    assert broker.counters["rate_limited"] == 2
    waits = [r.getMessage() for r in caplog.records if "rate limit (429)" in r.getMessage()]
    # the wait is the server's Retry-After, not the (much shorter) backoff of the test broker
    assert waits == ["Alpaca rate limit (429): waiting 0.15s before retry 1/5",
                     "Alpaca rate limit (429): waiting 0.15s before retry 2/5"]


@pytest.mark.bench
async def test_429_retry_after_waits_keep_the_loop_running(env):
    """Timed: the two Retry-After waits take their 0.3 s of wall time, during which
    another task on the loop keeps ticking."""
    broker = await started(env)
    env.rest.script("POST", "/v2/orders", 429, {"code": 42910000, "message": "rate limit exceeded"},
                    {"Retry-After": "0.15"}, times=2)
    ticks = 0
    done = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    t = loop.time()
    order = await broker.submit(bracket("rl-1"))
    elapsed = loop.time() - t
    done.set()
    await task
    assert order.status is OrderStatus.ACCEPTED
    assert elapsed >= 0.3  # both Retry-After waits were honoured
    assert ticks >= 10  # and the loop kept running through them


async def test_429_without_retry_after_gives_up_after_the_retry_budget(env):
    broker = await started(env, rate_limit_retries=2)
    env.rest.script("POST", "/v2/orders", 429, {"code": 42910000, "message": "rate limit exceeded"}, times=5)
    order = await broker.submit(bracket("rl-2"))
    assert order.status is OrderStatus.REJECTED and order.reason == "rate limit exceeded"
    assert len(env.rest.requests_to("POST", "/v2/orders")) == 3


async def test_malformed_frames_and_updates_are_counted_and_skipped(env):
    broker = await started(env)
    await env.stream.send_raw(b"\x93not json at all")
    await env.stream.send_update({"event": "fill", "order": {"id": "nope"}})
    entry = await broker.submit(bracket("m-1", type_=OrderType.MARKET))
    env.rest.fill(entry.id, 10, 190.0)
    await wait_for(lambda: "fill" in env.kinds(), what="fill after malformed input")
    assert broker.counters["malformed_frames"] == 1
    assert broker.counters["malformed_updates"] == 1
    assert broker.positions()[0].qty == 10


async def test_stream_drop_reconnects_and_reconciles_what_was_missed(env):
    broker = await started(env)
    reports: list[list[str]] = []
    broker.set_reconcile_handler(reports.append)
    entry = await broker.submit(bracket("r-1", type_=OrderType.MARKET))
    env.forward = False  # updates from now on are lost, as on a dead connection
    await env.stream.drop()
    env.rest.fill(entry.id, 10, 191.0)
    await wait_for(lambda: broker.counters["stream_reconnects"] == 1, what="reconnect")
    await wait_for(lambda: reports, what="reconcile report")
    assert "position AAPL: we had none, broker has +10 @ 191.0000" in reports[0]
    assert broker.positions()[0].qty == 10
    assert broker.stream_connected
    assert env.stream.connections == 2
    # listening again: a live update goes through
    env.forward = True
    n = len(env.events)
    stop_leg = [o for o in broker.open_orders() if o.leg is OrderLeg.STOP_LOSS][0]
    env.rest.fill(stop_leg.id, 10, 188.0)
    await wait_for(lambda: len(env.events) > n and any(e.kind == "fill" for e in env.events[n:]), what="live fill")
    assert broker.positions() == []


async def test_close_all_cancel_all_close_and_replace_stop(env):
    broker = await started(env)
    entry = await broker.submit(bracket("x-1", type_=OrderType.MARKET))
    env.rest.fill(entry.id, 10, 190.0)
    await wait_for(lambda: broker.positions() and broker.positions()[0].stop == 188.1, what="legs live")
    moved = await broker.replace_stop("AAPL", 189.555)
    assert moved.stop_price == 189.56 and moved.leg is OrderLeg.STOP_LOSS
    patch = [r for r in env.rest.received if r.method == "PATCH"]
    assert patch[0].body == {"stop_price": 189.56}
    await wait_for(lambda: broker.positions()[0].stop == 189.56, what="stop moved")

    closed = await broker.close("AAPL")
    exits = [o for o in closed if o.leg is OrderLeg.EXIT]
    assert len(exits) == 1 and exits[0].side is Side.SELL and exits[0].qty == 10
    assert env.rest.requests_to("DELETE", "/v2/positions/AAPL")

    env.rest.add_position("MSFT", -5, 400.0)
    await broker.submit(OrderRequest("x-2", "MSFT", Side.BUY, 5, OrderType.LIMIT, limit_price=390.0))
    canceled = await broker.cancel_all()
    assert {o.client_order_id for o in canceled} >= {"x-2"}
    await wait_for(lambda: not [o for o in broker.open_orders() if o.symbol == "MSFT"], what="cancel events")

    out = await broker.close_all()
    closing = env.rest.requests_to("DELETE", "/v2/positions")
    assert closing[0].query == {"cancel_orders": ["True"]} or closing[0].query == {"cancel_orders": ["true"]}
    assert {(o.symbol, o.side, o.qty, o.leg) for o in out} >= {("MSFT", Side.BUY, 5, OrderLeg.EXIT)}


async def test_standin_trade_updates_parse_with_alpacas_own_model(env):
    await started(env)
    env.rest.submit_bracket_direct({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                                    "time_in_force": "day"})
    for update in env.captured:
        TradeUpdate(**update)  # the stand-in speaks what alpaca-py expects
    assert env.captured and env.captured[0]["event"] == "new"


# --------------------------------------------------------------------------- doctor

from engine.live.doctor import check_alpaca  # noqa: E402
from engine.live.secrets import AlpacaKeys  # noqa: E402


def _by_name(results):
    return {r.name: r for r in results}


async def test_doctor_all_green_against_the_standin(env, alpaca_data_stream, local_network_only):
    env.rest.add_trades("SPY", [(T0, 470.12, 100, 1)])
    results = await check_alpaca(AlpacaKeys(KEY_ID, SECRET), trading_url=env.base, data_url=env.base,
                                 stream_url=alpaca_data_stream.url + "/v2/iex")
    checks = _by_name(results)
    assert [r.name for r in results] == ["keys", "trading API", "account", "market clock", "market data",
                                         "data stream"]
    assert all(r.ok for r in results), results
    assert checks["data stream"].detail.endswith("accepted the keys and trades of SPY")
    assert alpaca_data_stream.subscriptions[0]["trades"] == ["SPY"]
    await wait_for(lambda: not alpaca_data_stream.live, what="the check letting go of the connection")
    assert "ACTIVE" in checks["account"].detail and "100,000.00" in checks["account"].detail
    assert checks["market clock"].detail.startswith("market open")
    assert checks["market data"].detail == "iex data permitted; last SPY 470.12"
    assert env.rest.requests_to("GET", "/v2/stocks/trades/latest")[0].query["feed"] == ["iex"]
    for r in results:
        assert KEY_ID not in r.detail + r.fix and SECRET not in r.detail + r.fix


async def test_doctor_explains_each_failure(env, alpaca_data_stream, local_network_only):
    no_keys = _by_name(await check_alpaca(None))
    assert not no_keys["keys"].ok and "APCA_API_KEY_ID" in no_keys["keys"].fix
    assert no_keys["trading API"].detail == "skipped: no keys"

    wrong = _by_name(await check_alpaca(AlpacaKeys("PKWRONGKEY0000000001", "nope" * 10), trading_url=env.base,
                                        data_url=env.base))
    assert not wrong["trading API"].ok and "HTTP 401" in wrong["trading API"].detail
    assert "paper-trading keys" in wrong["trading API"].fix
    assert "PKWRONGKEY0000000001" not in wrong["trading API"].detail

    env.rest.account["trading_blocked"] = True
    sip = _by_name(await check_alpaca(AlpacaKeys(KEY_ID, SECRET), feed="sip", trading_url=env.base,
                                      data_url=env.base, stream_url=alpaca_data_stream.url + "/v2/sip"))
    assert not sip["account"].ok and "trading blocked" in sip["account"].detail
    assert not sip["market data"].ok and "HTTP 403" in sip["market data"].detail
    assert 'data_feed = "iex"' in sip["market data"].fix
    # the stream refuses the SIP feed at auth (409): the plan, not the keys
    assert not sip["data stream"].ok
    assert sip["data stream"].detail == ("plan does not include real-time trades for SPY (sip feed; Alpaca 409: "
                                         "insufficient subscription)")
    assert 'data_feed = "iex"' in sip["data stream"].fix

    env.rest.stop()  # nothing listens there any more
    down = _by_name(await check_alpaca(AlpacaKeys(KEY_ID, SECRET), trading_url=env.base, data_url=env.base,
                                       timeout_s=1.0))
    assert not down["trading API"].ok and down["trading API"].detail.startswith("cannot reach")
    assert "internet connection" in down["trading API"].fix
