"""AlpacaFeed driving alpaca-py's StockDataStream and StockHistoricalDataClient
against local stand-ins (msgpack stream, REST with pagination) on 127.0.0.1."""
from __future__ import annotations

import asyncio

import msgpack
import pytest

from engine.clock import FixedClock
from engine.feeds.alpaca import AlpacaFeed, parse_rfc3339_ns
from engine.feeds.base import Feed
from engine.live.backoff import Backoff
from engine.model import Bar, Quote, Trade
from tests.standins.alpaca_rest import AlpacaRestStandIn
from tests.standins.alpaca_streams import MarketDataStreamStandIn, bar_msg, quote_msg, trade_msg
from tests.standins.testkit import KEY_ID, SECRET, T0
from tests.waiting import wait_for

MS = 1_000_000


class Env:
    def __init__(self, md: MarketDataStreamStandIn, rest: AlpacaRestStandIn) -> None:
        self.md, self.rest, self.ws, self.base = md, rest, md.url, rest.url
        self.clock = FixedClock(T0)
        self.feeds: list[AlpacaFeed] = []
        self.got: list = []
        self._readers: list[asyncio.Task] = []

    def feed(self, symbols=("AAPL",), **kwargs) -> AlpacaFeed:
        opts = dict(url_override=self.ws + "/v2/iex", data_url_override=self.base, clock=self.clock,
                    backoff=Backoff(initial_s=0.05, max_s=0.2, jitter=0.0))
        opts.update(kwargs)
        feed = AlpacaFeed(list(symbols), KEY_ID, SECRET, **opts)
        self.feeds.append(feed)
        return feed

    async def run(self, feed: AlpacaFeed) -> None:
        await feed.start()

        async def read():
            async for item in feed.stream():
                self.got.append(item)

        self._readers.append(asyncio.create_task(read()))
        await self.md.wait_for(lambda: len(self.md.live) >= 1)

    def trades(self) -> list[Trade]:
        return [x for x in self.got if isinstance(x, Trade)]


@pytest.fixture
async def env(alpaca_data_stream, alpaca_rest):
    e = Env(alpaca_data_stream, alpaca_rest)
    yield e
    for f in e.feeds:
        await f.stop()
    for r in e._readers:
        try:
            await asyncio.wait_for(r, 1.0)
        except asyncio.TimeoutError:
            r.cancel()


def ts(i: int) -> int:
    return T0 + i * 100 * MS + 123  # sub-microsecond digits must survive


async def test_is_a_feed_and_validates_its_arguments(env):
    assert isinstance(env.feed(), Feed)
    with pytest.raises(ValueError, match="feed must be 'iex' or 'sip'"):
        env.feed(feed="nasdaq")
    with pytest.raises(ValueError, match="at least one symbol"):
        env.feed(symbols=[])


async def test_trades_quotes_bars_arrive_as_engine_types_with_exact_ns(env):
    feed = env.feed(symbols=("AAPL", "MSFT"))
    await env.run(feed)
    sub = env.md.subscriptions[0]
    assert sorted(sub["trades"]) == ["AAPL", "MSFT"] and sorted(sub["quotes"]) == ["AAPL", "MSFT"]
    assert sorted(sub["bars"]) == ["AAPL", "MSFT"]
    assert env.md.paths == ["/v2/iex"]
    await env.md.send([
        trade_msg("AAPL", ts(1), 190.25, 100, 1),
        quote_msg("MSFT", ts(2), 399.9, 400.1, 3, 5),
        bar_msg("AAPL", T0, 190.0, 191.0, 189.5, 190.5, 12_345),
    ])
    await wait_for(lambda: len(env.got) == 3, what="three items")
    trade, quote, bar = env.got
    assert trade == Trade("AAPL", ts(1), 190.25, 100.0)
    assert quote == Quote("MSFT", ts(2), 399.9, 400.1, 3.0, 5.0)
    assert isinstance(bar, Bar) and (bar.ts_ns, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades) == (
        T0, 190.0, 191.0, 189.5, 190.5, 12_345.0, 12)
    status = feed.status()
    assert status.connected and not status.stale and status.name == "alpaca"
    assert status.last_data_ns == ts(2)


async def test_stream_drop_reconnects_resubscribes_backfills_gap_without_duplicates(env):
    env.rest.page_size = 3  # force several pages
    # what happened while we were away exists only in history (ids 8..15, 8 overlaps)
    env.rest.add_trades("AAPL", [(ts(i), 190 + i / 100, 10 + i, i) for i in range(1, 16)])
    feed = env.feed(quotes=False, bars=False, backoff=Backoff(initial_s=0.3, max_s=1.0, jitter=0.0))
    await env.run(feed)
    await env.md.send([trade_msg("AAPL", ts(i), 190 + i / 100, 10 + i, i) for i in range(1, 9)])
    await wait_for(lambda: len(env.got) == 8, what="first 8 trades")

    await env.md.drop()
    await wait_for(lambda: not feed.status().connected, what="disconnect seen")
    status = feed.status()
    assert status.reconnect_in_s == pytest.approx(0.3)  # fixed clock: the full countdown
    assert "reconnecting" in status.message
    env.clock.set(ts(15) + 50 * MS)  # time moved on while we were away
    await env.md.wait_for(lambda: len(env.md.subscriptions) == 2, timeout=3)
    assert env.md.subscriptions[1]["trades"] == ["AAPL"]  # resubscribed by itself
    # live again: 13..20 (13..15 overlap the backfill)
    await env.md.send([trade_msg("AAPL", ts(i), 190 + i / 100, 10 + i, i) for i in range(13, 21)])
    await wait_for(lambda: len(env.got) == 20 and feed.counters["duplicates"] == 4, what="all 20 trades")
    ids = [round((t.ts_ns - T0 - 123) / (100 * MS)) for t in env.trades()]
    assert ids == list(range(1, 21))
    assert [t.size for t in env.trades()] == [10 + i for i in range(1, 21)]
    assert feed.counters["duplicates"] == 4  # 8 from history, 13..15 from the live stream
    assert feed.counters["gap_backfills"] == 1 and feed.counters["backfilled"] == 7
    assert feed.counters["reconnects"] == 1

    pages = env.rest.requests_to("GET", "/v2/stocks/trades")
    assert len(pages) == 3  # 8 rows (ts(8)..ts(15)) at 3 per page
    first = pages[0].query
    assert first["symbols"] == ["AAPL"] and first["feed"] == ["iex"]
    assert first["limit"] == ["10000"]  # an explicit page limit, under our backfill_limit
    assert parse_rfc3339_ns(first["start"][0]) == ts(8) - 123  # microsecond floor of the last trade
    assert [p.query.get("page_token") for p in pages] == [None, ["3"], ["6"]]
    assert feed.status().connected and "gap backfilled" in feed.status().message


async def test_live_data_during_backfill_waits_behind_it(env):
    env.rest.add_trades("AAPL", [(ts(i), 190.0, 1, i) for i in range(1, 6)])
    env.rest.script("GET", "/v2/stocks/trades", 200, hang_s=0.3)  # slow history
    feed = env.feed(quotes=False, bars=False)
    await env.run(feed)
    await env.md.send([trade_msg("AAPL", ts(1), 190.0, 1, 1)])
    await wait_for(lambda: len(env.got) == 1, what="first trade")
    await env.md.drop()
    env.clock.set(ts(5))
    await env.md.wait_for(lambda: len(env.md.subscriptions) == 2, timeout=3)
    await env.md.send([trade_msg("AAPL", ts(i), 190.0, 1, i) for i in (4, 5, 6)])
    await wait_for(lambda: len(env.got) == 6, what="6 trades")
    assert [t.ts_ns for t in env.trades()] == [ts(i) for i in range(1, 7)]
    assert feed.counters["held_during_backfill"] == 3
    assert feed.counters["duplicates"] == 3  # 1 (history) + 4, 5 (live)


async def test_malformed_frames_and_messages_are_counted_and_skipped(env):
    feed = env.feed()
    await env.run(feed)
    await env.md.send_raw(b"\xc1\xc1 not msgpack")
    await env.md.send_raw(msgpack.packb({"T": "t"}))  # a map, not the array the protocol sends
    await env.md.send([
        {"T": "t", "S": "AAPL", "i": 7, "x": "V", "p": "abc", "s": 5, "t": msgpack.Timestamp.from_unix_nano(ts(1))},
        {"T": "t", "S": "AAPL", "i": 8, "x": "V", "p": 190.0, "s": -5, "t": msgpack.Timestamp.from_unix_nano(ts(1))},
        {"T": "b", "S": "AAPL", "o": 1, "h": 0.5, "l": 0.4, "c": 1, "v": 1, "t": msgpack.Timestamp.from_unix_nano(T0)},
        trade_msg("AAPL", ts(2), 190.5, 50, 9),
    ])
    await wait_for(lambda: len(env.got) == 1, what="the one good trade")
    assert env.got == [Trade("AAPL", ts(2), 190.5, 50.0)]
    assert feed.counters["malformed_frames"] == 2
    assert feed.counters["malformed_messages"] == 3
    assert feed.status().connected  # the connection survived


async def test_backfill_trades_and_bars_paginated(env):
    env.rest.page_size = 4
    env.rest.add_bars("AAPL", [(T0 + i * 60 * 10**9, 190 + i, 191 + i, 189 + i, 190.5 + i, 1000 + i) for i in range(10)])
    env.rest.add_trades("AAPL", [(ts(i), 190.0 + i, 5, i) for i in range(6)])
    feed = env.feed()
    bars = await feed.backfill("AAPL", T0, T0 + 9 * 60 * 10**9, kind="bars")
    assert [b.open for b in bars] == [190.0 + i for i in range(10)]
    assert [b.volume for b in bars] == [1000.0 + i for i in range(10)]
    assert len(env.rest.requests_to("GET", "/v2/stocks/bars")) == 3
    assert env.rest.requests_to("GET", "/v2/stocks/bars")[0].query["timeframe"] == ["1Min"]
    trades = await feed.backfill("AAPL", ts(2), ts(4))
    assert [t.price for t in trades] == [192.0, 193.0, 194.0] and trades[0].ts_ns == ts(2)
    limited = env.feed(backfill_limit=5)
    assert len(await limited.backfill("AAPL", T0, T0 + 10**12, kind="bars")) == 5
    with pytest.raises(ValueError, match="kind"):
        await feed.backfill("AAPL", T0, T0 + 1, kind="quotes")


async def test_status_goes_stale_and_reports_lag(env):
    feed = env.feed(stale_after_s=5.0)
    await env.run(feed)
    await env.md.send([trade_msg("AAPL", T0 - 2 * 10**9, 190.0, 1, 1)])
    await wait_for(lambda: env.got, what="a trade")
    status = feed.status()
    assert not status.stale and status.lag_s == pytest.approx(2.0)
    env.clock.advance_s(6)
    status = feed.status()
    assert status.stale and status.lag_s == pytest.approx(8.0)


async def test_sip_without_entitlement_is_reported(env):
    feed = env.feed(feed="sip", url_override=env.ws + "/v2/sip")
    await feed.start()
    await wait_for(lambda: "insufficient subscription" in feed.status().message, what="refusal shown")
    assert not feed.status().connected
    assert env.md.paths == ["/v2/sip"]


async def test_wrong_keys_are_reported_without_the_keys(env):
    md = MarketDataStreamStandIn("PKOTHERKEY000000000", "othersecret0000000000000")
    ws = await md.start()
    try:
        feed = env.feed(url_override=ws + "/v2/iex")
        await feed.start()
        await wait_for(lambda: "auth failed" in feed.status().message, what="auth failure shown")
        text = repr(feed.status())
        assert KEY_ID not in text and SECRET not in text
    finally:
        await feed.stop()
        await md.stop()


# --------------------------------------------------------------------------- backoff

import random  # noqa: E402

from engine.live.backoff import parse_retry_after  # noqa: E402


def test_backoff_grows_caps_jitters_and_resets():
    exact = Backoff(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    assert [exact.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    exact.reset()
    assert exact.next_delay() == 0.5
    jittered = Backoff(initial_s=1.0, max_s=8.0, jitter=0.5, rng=random.Random(7))
    delays = [jittered.next_delay() for _ in range(5)]
    for delay, step in zip(delays, [1.0, 2.0, 4.0, 8.0, 8.0]):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == 5
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)
    with pytest.raises(ValueError, match="max_s"):
        Backoff(initial_s=2.0, max_s=1.0)


def test_retry_after_header_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    # HTTP date, relative to the caller's clock
    assert parse_retry_after("Tue, 02 Jan 2024 15:00:30 GMT", now_s=T0 / 1e9) == pytest.approx(30.0)
