"""PolygonFeed driven through the real polygon-api-client against local
stand-ins (REST and websocket on 127.0.0.1): entitlement drops, malformed
frames, a dropped stream with its gap backfilled and no duplicates, REST
pagination. A guard refuses any name lookup that is not 127.0.0.1/localhost,
so nothing here can reach the internet."""
from __future__ import annotations

import asyncio
import random

import pytest

from engine.clock import FixedClock
from engine.feeds.polygon import PolygonFeed, SeenTrades, parse_ws_url, trade_from_ws
from engine.live.backoff import Backoff
from engine.model import Bar, Trade
from tests.standins.polygon_rest import rest_agg, rest_trade
from tests.standins.polygon_ws import ws_minute, ws_trade
from tests.standins.testkit import POLYGON_KEY
from tests.waiting import wait_for

T0_MS = 1_709_650_800_000  # 2024-03-05 15:00:00 UTC (10:00 ET)
T0_NS = T0_MS * 1_000_000

pytestmark = pytest.mark.usefixtures("local_network_only")


def fast_backoff(initial: float = 0.05) -> Backoff:
    return Backoff(initial_s=initial, max_s=initial * 4, jitter=0.5, rng=random.Random(7))


async def collect(feed: PolygonFeed, n: int, timeout: float = 5.0) -> list:
    out = []

    async def _take():
        async for item in feed.stream():
            out.append(item)
            if len(out) >= n:
                return

    await asyncio.wait_for(_take(), timeout)
    return out


async def next_is_the_live_trade(feed: PolygonFeed, polygon_ws, symbol: str, ts_ms: int, seq: int) -> None:
    """Send one more live trade and take the next item from the feed: it must be that
    trade, so nothing (a late duplicate, a second backfill) was queued before it."""
    await polygon_ws.send([ws_trade(symbol, ts_ms, 1.0, 1, seq)])
    (item,) = await collect(feed, 1)
    assert (item.symbol, item.ts_ns) == (symbol, ts_ms * 1_000_000), f"{item} was queued before the live trade"


def make_feed(polygon_ws, polygon_rest, symbols, clock=None, **kw) -> PolygonFeed:
    return PolygonFeed(symbols, POLYGON_KEY, ws_url=polygon_ws.url, rest_base=polygon_rest.base_url,
                       clock=clock or FixedClock(T0_NS + 3_600 * 10**9), backoff=fast_backoff(),
                       connect_timeout_s=1.0, **kw)


async def test_not_entitled_symbol_is_dropped_and_the_others_stream(polygon_ws, polygon_rest):
    feed = make_feed(polygon_ws, polygon_rest, ["AAPL", "XYZ", "MSFT"])
    await feed.start()
    try:
        await wait_for(lambda: "XYZ" in feed.dropped and feed.status().connected)
        assert "not authorized" in feed.dropped["XYZ"]
        assert feed.active_symbols == ["AAPL", "MSFT"]
        assert polygon_ws.subscribed_now() == {"T.AAPL", "T.MSFT"}
        notes = feed.drain_notices()
        drop_note = [n for n in notes if n.symbol == "XYZ"]
        assert drop_note and drop_note[0].level == "error"
        assert "still streaming: AAPL, MSFT" in drop_note[0].message
        await polygon_ws.send([ws_trade("AAPL", T0_MS + 1, 170.5, 100, 1), ws_trade("MSFT", T0_MS + 2, 410.25, 50, 1),
                       ws_trade("XYZ", T0_MS + 3, 9.0, 10, 1)])
        got = await collect(feed, 2)
        assert got == [Trade("AAPL", T0_NS + 1_000_000, 170.5, 100.0), Trade("MSFT", T0_NS + 2_000_000, 410.25, 50.0)]
        assert feed.status().connected and feed.malformed == 0
    finally:
        await feed.stop()


async def test_malformed_frames_are_counted_and_skipped(polygon_ws, polygon_rest):
    feed = make_feed(polygon_ws, polygon_rest, ["AAPL"])
    await feed.start()
    try:
        await wait_for(lambda: feed.status().connected and polygon_ws.subscribed_now() == {"T.AAPL"})
        await polygon_ws.send_raw("this is not json")
        await polygon_ws.send_raw('[{"ev":"T","sym":"AAPL","p":"abc","s":5,"t":1,"q":1}]')
        await polygon_ws.send_raw('[{"no_ev": 1}, 42]')
        await polygon_ws.send_raw('"a string"')
        await polygon_ws.send([ws_trade("AAPL", T0_MS, 170.0, -5, 2)])  # negative size
        await polygon_ws.send([ws_trade("AAPL", T0_MS + 10, 170.1, 7, 3)])
        got = await collect(feed, 1)
        assert got == [Trade("AAPL", T0_NS + 10_000_000, 170.1, 7.0)]
        assert feed.malformed == 6  # bad json, bad price, no ev, non-dict, non-array, negative size
        assert any("not JSON" in r for r in feed.malformed_reasons)
        assert any("size -5" in r for r in feed.malformed_reasons)
        assert polygon_ws.connections == 1 and feed.status().connected  # no reconnect over bad frames
    finally:
        await feed.stop()


async def test_stream_drop_reconnects_backfills_the_gap_without_duplicates(polygon_ws, polygon_rest):
    # the exchange's tape: 30 trades, one per second
    tape = [(T0_MS + i * 1000, 170.0 + i * 0.01, 100 + i, i) for i in range(1, 31)]
    polygon_rest.add_trades("AAPL", [rest_trade(ts * 1_000_000, p, s, q) for ts, p, s, q in tape])
    clock = FixedClock(T0_NS + 25_000 * 1_000_000)  # "now" when the stream comes back: after trade 24
    feed = PolygonFeed(["AAPL"], POLYGON_KEY, ws_url=polygon_ws.url, rest_base=polygon_rest.base_url, clock=clock,
                       backoff=Backoff(initial_s=0.3, max_s=1.0, jitter=0.5, rng=random.Random(1)),
                       connect_timeout_s=0.5, rest_limit=4)
    await feed.start()
    try:
        await wait_for(lambda: feed.status().connected and polygon_ws.subscribed_now() == {"T.AAPL"})
        await polygon_ws.send([ws_trade("AAPL", ts, p, s, q) for ts, p, s, q in tape[:5]])
        first = await collect(feed, 5)
        assert [t.ts_ns for t in first] == [ts * 1_000_000 for ts, *_ in tape[:5]]

        polygon_ws.refuse(True)
        await polygon_ws.drop()
        await wait_for(lambda: not feed.status().connected and feed.status().reconnect_in_s is not None)
        st = feed.status()
        assert 0.15 <= st.reconnect_in_s <= 0.3  # equal jitter: half fixed, half random
        assert "reconnecting in" in st.message
        polygon_ws.refuse(False)
        await wait_for(lambda: polygon_ws.connections == 2 and polygon_ws.subscribed_now() == {"T.AAPL"})
        # live trades after the reconnect overlap the backfilled range (20..24) and go on
        await polygon_ws.send([ws_trade("AAPL", ts, p, s, q) for ts, p, s, q in tape[19:30]])
        rest_of_day = await collect(feed, 25)
        seqs = [round((t.ts_ns // 1_000_000 - T0_MS) / 1000) for t in first + rest_of_day]
        assert seqs == list(range(1, 31))  # every trade once, in order
        assert feed.reconnects == 1
        assert feed.backfilled == 19  # trades 6..24 came from REST
        assert feed.duplicates >= 6  # trade 5 (gap start is inclusive) and 20..24 from the stream
        # the gap request: explicit limit, from the last trade seen, paged with next_url
        reqs = polygon_rest.requests_to("/v3/trades/AAPL")
        assert reqs[0].query["limit"] == ["4"]
        assert reqs[0].query["timestamp.gte"] == [str(tape[4][0] * 1_000_000)]
        assert reqs[0].query["timestamp.lt"] == [str(clock.now_ns())]
        assert len(reqs) == 5 and all("cursor" in r.query for r in reqs[1:])  # 20 rows / 4 per page
        assert all(r.authorization == f"Bearer {POLYGON_KEY}" for r in reqs)
        await next_is_the_live_trade(feed, polygon_ws, "AAPL", T0_MS + 31_000, 31)  # no duplicate queued late
    finally:
        await feed.stop()


async def test_rest_pagination_trades_and_minute_bars(polygon_ws, polygon_rest):
    polygon_rest.add_trades("MSFT", [rest_trade(T0_NS + i * 10**9, 400 + i, 10, i) for i in range(10)])
    polygon_rest.add_aggs("MSFT", [rest_agg(T0_MS + i * 60_000, 400, 401 + i, 399, 400.5, 1000 + i) for i in range(7)])
    feed = make_feed(polygon_ws, polygon_rest, ["MSFT"], rest_limit=3)
    trades = await feed.backfill("MSFT", T0_NS + 2 * 10**9, T0_NS + 9 * 10**9, "trades")
    assert [t.price for t in trades] == [402, 403, 404, 405, 406, 407, 408]
    assert len(polygon_rest.requests_to("/v3/trades/MSFT")) == 3  # 3 + 3 + 1
    bars = await feed.backfill("MSFT", T0_NS, T0_NS + 7 * 60 * 10**9, "bars")
    assert [b.ts_ns for b in bars] == [T0_NS + i * 60 * 10**9 for i in range(7)]
    assert [b.high for b in bars] == [401 + i for i in range(7)]
    assert bars[3] == Bar("MSFT", T0_NS + 180 * 10**9, 400, 404, 399, 400.5, 1003, trades=10,
                          vwap=round((400 + 404 + 399 + 400.5) / 4, 4))
    assert len(polygon_rest.requests_to("/v2/aggs/ticker/MSFT")) == 3


async def test_minute_aggregates_stream_and_previous_session_warmup(polygon_ws, polygon_rest):
    prev_start = T0_NS - 86_400 * 10**9
    polygon_rest.add_aggs("AAPL", [rest_agg(prev_start // 1_000_000 + i * 60_000, 169, 170, 168, 169.5, 500)
                                   for i in range(3)])
    feed = make_feed(polygon_ws, polygon_rest, ["AAPL"], data="bars",
                     previous_session=(prev_start, prev_start + 3 * 60 * 10**9))
    await feed.start()
    try:
        assert [b.ts_ns for b in feed.previous_session_bars()] == [prev_start + i * 60 * 10**9 for i in range(3)]
        await wait_for(lambda: polygon_ws.subscribed_now() == {"AM.AAPL"})
        await polygon_ws.send([ws_minute("AAPL", T0_MS, 170, 171, 169.5, 170.8, 12_000),
                       ws_minute("AAPL", T0_MS + 60_000, 170.8, 170.9, 168, 171.5, 10)])  # close above high
        got = await collect(feed, 1)
        b = got[0]
        assert (b.symbol, b.ts_ns, b.open, b.high, b.low, b.close, b.volume) == ("AAPL", T0_NS, 170, 171, 169.5, 170.8, 12_000)
        await wait_for(lambda: feed.malformed == 1)
        assert "inconsistent" in feed.malformed_reasons[0]
    finally:
        await feed.stop()


async def test_a_rejected_key_stops_with_a_clear_message_and_no_retry_storm(polygon_ws, polygon_rest):
    feed = PolygonFeed(["AAPL"], "WRONG-key-0000000", ws_url=polygon_ws.url, rest_base=polygon_rest.base_url,
                       clock=FixedClock(T0_NS), backoff=fast_backoff(), connect_timeout_s=1.0)
    await feed.start()
    try:
        await asyncio.wait_for(feed._task, 5)
        st = feed.status()
        assert not st.connected
        assert "rejected the API key" in st.message and "POLYGON_API_KEY" in st.message
        assert "WRONG-key-0000000" not in st.message
        assert polygon_ws.connections == 0
    finally:
        await feed.stop()


def test_seen_trades_forgets_old_keys_and_ws_parsing():
    seen = SeenTrades(retention_ns=10)
    assert seen.add(("q", 1), 100) and not seen.add(("q", 1), 100)
    assert seen.add(("q", 2), 120)  # key 1 is now older than 10 ns behind: forgotten
    assert len(seen) == 1
    t, key, _ = trade_from_ws(ws_trade("SPY", 1_000, 500.0, 3, 77))
    assert t == Trade("SPY", 1_000_000_000, 500.0, 3.0) and key == ("q", 77)
    assert trade_from_ws({"ev": "T", "sym": "SPY", "p": 1.0, "s": 1, "t": True})[0] is None
    ep = parse_ws_url("wss://socket.polygon.io/stocks")
    assert (ep.host, ep.market, ep.secure) == ("socket.polygon.io", "stocks", True)
    with pytest.raises(ValueError, match="wss://host/stocks"):
        parse_ws_url("http://x/stocks")


async def test_start_backfills_today_so_far_then_streams_without_duplicates(polygon_ws, polygon_rest):
    tape = [(T0_MS + i * 1000, 200.0 + i * 0.01, 10, i) for i in range(1, 13)]
    polygon_rest.add_trades("NVDA", [rest_trade(ts * 1_000_000, p, s, q) for ts, p, s, q in tape])
    clock = FixedClock(T0_NS + 8_500 * 1_000_000)  # start-up "now": trades 1..8 exist
    feed = PolygonFeed(["NVDA"], POLYGON_KEY, ws_url=polygon_ws.url, rest_base=polygon_rest.base_url, clock=clock,
                       backoff=fast_backoff(), connect_timeout_s=1.0, today_from_ns=T0_NS, rest_limit=5)
    await feed.start()
    try:
        first = await collect(feed, 8)  # queued by start(), before any live frame
        assert [t.price for t in first] == [p for _, p, _, _ in tape[:8]]
        await wait_for(lambda: polygon_ws.subscribed_now() == {"T.NVDA"})
        clock.set(T0_NS + 10_500 * 1_000_000)
        await polygon_ws.send([ws_trade("NVDA", ts, p, s, q) for ts, p, s, q in tape[6:12]])  # 7..12 live
        rest_of = await collect(feed, 4)
        assert [t.price for t in rest_of] == [p for _, p, _, _ in tape[8:12]]
        assert feed.duplicates >= 2  # 7 and 8 came again on the stream
        await next_is_the_live_trade(feed, polygon_ws, "NVDA", T0_MS + 13_000, 13)
    finally:
        await feed.stop()
