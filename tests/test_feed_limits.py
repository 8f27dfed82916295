"""Entitlement and connection-limit messages, as Polygon and Alpaca send them
(tests/standins/polygon_ws.py, alpaca_streams.py): a "not authorized" naming no
topic, a plan refused at auth, Polygon's max_connections / force_disconnect /
slow_consumer and Alpaca's 406. Each becomes a clear status, and a connection
limit makes the feed wait instead of reconnecting in a tight loop.

Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import pytest

from engine.clock import FixedClock
from engine.feeds.alpaca import AlpacaFeed
from engine.live.backoff import Backoff
from tests.conftest import serving
from tests.standins.alpaca_streams import MarketDataStreamStandIn
from tests.standins.polygon_ws import PolygonWsStandIn, ws_trade
from tests.standins.testkit import KEY_ID, POLYGON_KEY, SECRET, T0
from tests.test_polygon_feed import T0_MS, collect, make_feed
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")


@pytest.mark.parametrize("named", [False, True], ids=["bare-not-authorized", "topic-named"])
async def test_a_refused_symbol_is_dropped_whether_or_not_the_refusal_names_it(polygon_rest, named):
    async with serving(PolygonWsStandIn(POLYGON_KEY, not_entitled=("XYZ",), name_refused_topic=named)) as ws:
        feed = make_feed(ws, polygon_rest, ["AAPL", "XYZ"])
        await feed.start()
        try:
            await wait_for(lambda: "XYZ" in feed.dropped, what="XYZ dropped")
            assert feed.active_symbols == ["AAPL"]
            note = [n for n in feed.drain_notices() if n.symbol == "XYZ"][0]
            assert "plan does not include real-time trades for XYZ" in note.message
            assert feed.status().refused == "NOT IN PLAN: XYZ"
            await ws.send([ws_trade("AAPL", T0_MS + 1, 170.5, 100, 1)])
            assert [t.symbol for t in await collect(feed, 1)] == ["AAPL"]
        finally:
            await feed.stop()


async def test_a_plan_refused_at_auth_is_not_called_a_bad_key(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY, plan_without_websocket=True)) as ws:
        feed = make_feed(ws, polygon_rest, ["AAPL"])
        await feed.start()
        try:
            await wait_for(lambda: "plan does not include" in feed.status().message, what="plan refusal shown")
            assert "rejected the API key" not in feed.status().message
            assert feed.status().refused == "NOT IN PLAN"
        finally:
            await feed.stop()


async def test_polygon_max_connections_is_shown_and_waited_out(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY, max_connections=1)) as ws:
        first = make_feed(ws, polygon_rest, ["AAPL"])
        second = make_feed(ws, polygon_rest, ["AAPL"], limit_wait_s=30.0)
        await first.start()
        await wait_for(lambda: first.status().connected, what="first session")
        await second.start()
        try:
            await wait_for(lambda: ws.refused_for_limit >= 1 and second.status().reconnect_in_s is not None,
                           what="second session refused")
            status = second.status()
            assert "another session holds this key's connection" in status.message
            assert status.refused == "KEY IN USE"  # the header's word for it
            assert status.reconnect_in_s >= 29.0  # not the 0.05 s backoff: no tight loop
            assert first.status().connected and ws.refused_for_limit == 1
        finally:
            await second.stop()
            await first.stop()


async def test_polygon_force_disconnect_is_shown_and_waited_out(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY, max_connections=1, limit="kick_oldest")) as ws:
        first = make_feed(ws, polygon_rest, ["AAPL"], limit_wait_s=30.0)
        second = make_feed(ws, polygon_rest, ["AAPL"], limit_wait_s=30.0)
        await first.start()
        await wait_for(lambda: first.status().connected, what="first session")
        await second.start()
        try:
            await wait_for(lambda: first.status().reconnect_in_s is not None, what="first session kicked")
            assert "another session holds this key's connection" in first.status().message
            assert "force_disconnect" in first.status().message
            assert first.status().reconnect_in_s >= 29.0
            await wait_for(lambda: second.status().connected, what="second session streams")
        finally:
            await second.stop()
            await first.stop()


async def test_polygon_slow_consumer_is_journaled_and_the_feed_reconnects(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY)) as ws:
        feed = make_feed(ws, polygon_rest, ["AAPL"])
        await feed.start()
        try:
            await wait_for(lambda: feed.status().connected, what="connected")
            await ws.slow_consumer()
            await wait_for(lambda: ws.connections >= 2, what="reconnected")
            assert any("too slowly" in n.message for n in feed.drain_notices())
        finally:
            await feed.stop()


async def test_alpaca_406_connection_limit_is_shown_and_waited_out():
    async with serving(MarketDataStreamStandIn(KEY_ID, SECRET, max_connections=0)) as md:
        feed = AlpacaFeed(["AAPL"], KEY_ID, SECRET, url_override=md.url + "/v2/iex",
                          data_url_override="http://127.0.0.1:9", clock=FixedClock(T0),
                          backoff=Backoff(initial_s=0.05, max_s=0.1), limit_wait_s=30.0)
        await feed.start()
        try:
            await wait_for(lambda: feed.status().reconnect_in_s is not None, what="refused")
            status = feed.status()
            assert "another session holds this key's connection" in status.message
            assert status.refused == "KEY IN USE"
            assert status.reconnect_in_s >= 29.0
            assert md.refused_for_limit == 1
        finally:
            await feed.stop()


async def test_alpaca_plan_without_the_feed_is_named_as_the_plan_and_waited_out():
    """409 "insufficient subscription" at auth (SIP without the data plan): the plan
    does not include real-time trades for the symbols. alpaca-py stops the stream
    on it (reconnecting cannot help): no retry loop at all."""
    async with serving(MarketDataStreamStandIn(KEY_ID, SECRET, sip_entitled=False)) as md:
        feed = AlpacaFeed(["AAPL", "MSFT"], KEY_ID, SECRET, feed="sip", url_override=md.url + "/v2/sip",
                          data_url_override="http://127.0.0.1:9", clock=FixedClock(T0),
                          backoff=Backoff(initial_s=0.05, max_s=0.1), limit_wait_s=30.0)
        await feed.start()
        try:
            await wait_for(lambda: feed.status().refused, what="refused")
            status = feed.status()
            assert status.message == ("Alpaca refused the data stream: plan does not include real-time trades for "
                                      "AAPL, MSFT (sip feed; Alpaca: insufficient subscription)")
            assert status.refused == "NOT IN PLAN" and not status.connected
            assert status.reconnect_in_s is None or status.reconnect_in_s >= 29.0  # never the 0.05 s backoff
            assert "rejected" not in status.message and "API key" not in status.message
        finally:
            await feed.stop()


# --------------------------------------------------------------------------- cockpit doctor


async def stream_check(polygon_rest, ws, symbols):
    from engine.live.polygon_doctor import check_polygon

    results = await check_polygon(POLYGON_KEY, symbols=symbols, rest_base=polygon_rest.base_url,
                                  ws_url=ws.url, timeout_s=2.0)
    return next(r for r in results if r.name == "stream")


async def test_doctor_names_the_symbol_a_bare_not_authorized_refused(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY, not_entitled=("XYZ",))) as ws:
        check = await stream_check(polygon_rest, ws, ["AAPL", "XYZ"])
        assert not check.ok
        assert check.detail == "subscription refused for XYZ: plan does not include real-time trades (not authorized)"


async def test_doctor_says_another_session_holds_the_connection(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY, max_connections=1)) as ws:
        holder = make_feed(ws, polygon_rest, ["AAPL"])
        await holder.start()
        try:
            await wait_for(lambda: holder.status().connected, what="the other session")
            check = await stream_check(polygon_rest, ws, ["AAPL"])
            assert not check.ok and "another session holds this key's connection" in check.detail
        finally:
            await holder.stop()


async def test_doctor_says_the_plan_lacks_the_stream_not_that_the_key_is_bad(polygon_rest):
    async with serving(PolygonWsStandIn(POLYGON_KEY, plan_without_websocket=True)) as ws:
        check = await stream_check(polygon_rest, ws, ["AAPL"])
        assert not check.ok and "plan does not include the stream" in check.detail


async def test_doctor_says_another_session_holds_the_alpaca_data_connection():
    from engine.live.doctor import check_data_stream
    from engine.live.secrets import AlpacaKeys

    async with serving(MarketDataStreamStandIn(KEY_ID, SECRET, max_connections=1)) as md:
        holder = AlpacaFeed(["SPY"], KEY_ID, SECRET, url_override=md.url + "/v2/iex",
                            data_url_override="http://127.0.0.1:9", clock=FixedClock(T0))
        await holder.start()
        try:
            await wait_for(lambda: holder.status().connected, what="the other session")
            check = await check_data_stream(AlpacaKeys(KEY_ID, SECRET), md.url + "/v2/iex", ["SPY"], timeout_s=2.0)
            assert not check.ok
            assert check.detail == ("another session holds this key's connection (Alpaca 406: connection limit "
                                    "exceeded)")
            assert "one data stream connection per key" in check.fix
            assert holder.status().connected  # the check did not disturb it
        finally:
            await holder.stop()
