"""Bad frames on the live feeds (issue 12 item 9): a frame nested too deeply to
parse (5,000 ``[``) is counted and skipped and the stream stays up, on Polygon and
behind the FrameGuard of the Alpaca streams; what a feed skipped reaches the
journal and the run's malformed total through ``Feed.drain_notices()``. Stand-ins
on 127.0.0.1 only."""
from __future__ import annotations

import asyncio
import json
import random

import msgpack
import pytest

from engine.clock import FixedClock
from engine.factory import build_engine
from engine.feeds.alpaca import AlpacaFeed
from engine.feeds.notices import SkippedLog, malformed_count
from engine.feeds.polygon import PolygonFeed
from engine.live.backoff import Backoff
from engine.live.streams import FrameGuard, decodes_as_json_object, decodes_as_msgpack_list
from engine.model import Trade
from tests.factories import engine_config
from tests.standins.alpaca_streams import trade_msg
from tests.standins.polygon_ws import ws_trade
from tests.standins.testkit import KEY_ID, POLYGON_KEY, SECRET, T0
from tests.alpaca_env import alpaca_feed_engine
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")

T0_MS = T0 // 1_000_000
DEEP_JSON = "[" * 5000
DEEP_MSGPACK = b"\x91" * 5000  # 5,000 nested one-element arrays


def _fast_backoff() -> Backoff:
    return Backoff(initial_s=0.05, max_s=0.2, jitter=0.5, rng=random.Random(7))


async def _take(feed, n: int) -> list:
    out = []

    async def _read():
        async for item in feed.stream():
            out.append(item)
            if len(out) >= n:
                return

    await asyncio.wait_for(_read(), 5.0)
    return out


# --------------------------------------------------------------------------- Polygon


async def test_polygon_frame_of_5000_brackets_is_counted_skipped_and_journaled(polygon_ws, polygon_rest):
    ws, rest = polygon_ws, polygon_rest
    feed = PolygonFeed(["AAPL"], POLYGON_KEY, ws_url=ws.url, rest_base=rest.base_url, clock=FixedClock(T0),
                       backoff=_fast_backoff(), connect_timeout_s=1.0)
    await feed.start()
    try:
        await wait_for(lambda: feed.status().connected and ws.subscribed_now() == {"T.AAPL"}, what="subscribed")
        feed.drain_notices()
        await ws.send_raw(DEEP_JSON)
        await ws.send_raw('[{"ev":"T","sym":"AAPL","p":' + "[" * 200 + "]" * 200 + ',"s":1,"t":1,"q":1}]')
        await ws.send([ws_trade("AAPL", T0_MS + 5, 170.25, 10, 7)])
        got = await _take(feed, 1)
        assert got == [Trade("AAPL", (T0_MS + 5) * 1_000_000, 170.25, 10.0)]
        assert feed.malformed == 2
        assert ws.connections == 1 and feed.status().connected  # the same connection: the stream was kept
        notes = [n for n in feed.drain_notices() if n.kind == "malformed"]
        assert sum(malformed_count(n) for n in notes) == 2
        assert "nested too deeply" in notes[0].message and len(notes[0].message) < 200
        assert "AAPL trade price [[[[...]]]] is not a positive number" in notes[1].message
    finally:
        await feed.stop()


# --------------------------------------------------------------------------- Alpaca


def test_frame_guard_counts_and_skips_frames_it_cannot_decode_or_dispatch():
    frames = [DEEP_JSON, "not json", "[1]", '{"stream": "trade_updates", "data": {}}']
    bad: list = []

    class FakeWs:
        async def recv(self):
            return frames.pop(0)

    guard = FrameGuard(FakeWs(), decodes_as_json_object, bad.append)
    assert asyncio.run(guard.recv()) == '{"stream": "trade_updates", "data": {}}'
    assert bad == [DEEP_JSON, "not json", "[1]"]
    assert not decodes_as_msgpack_list(msgpack.packb([1, 2]))  # alpaca-py would call .get on an int
    assert not decodes_as_msgpack_list(msgpack.packb([{"T": ["t"]}]))  # an unhashable type
    assert decodes_as_msgpack_list(msgpack.packb([{"T": "t", "S": "AAPL"}]))


@pytest.fixture
async def alpaca_feed(alpaca_data_stream, alpaca_rest):
    feed = AlpacaFeed(["AAPL"], KEY_ID, SECRET, url_override=alpaca_data_stream.url + "/v2/iex",
                      data_url_override=alpaca_rest.url, clock=FixedClock(T0),
                      backoff=Backoff(initial_s=0.05, max_s=0.2, jitter=0.0))
    yield feed
    await feed.stop()


async def test_alpaca_data_stream_skips_deep_and_undispatchable_frames_and_journals_them(alpaca_data_stream,
                                                                                         alpaca_feed):
    md, feed = alpaca_data_stream, alpaca_feed
    await feed.start()
    await md.wait_for(lambda: len(md.live) >= 1)
    await md.send_raw(DEEP_MSGPACK)
    await md.send_raw(DEEP_JSON.encode())
    await md.send_raw(msgpack.packb([1, 2]))
    await md.send([{"T": "t", "S": "AAPL", "p": "abc"}])  # a message that does not convert
    await md.send([trade_msg("AAPL", T0 + 1_000, 190.5, 100, 42)])
    got = await _take(feed, 1)
    assert [t.price for t in got] == [190.5]
    assert feed.counters["malformed_frames"] == 3 and feed.counters["malformed_messages"] == 1
    assert md.connections == 1  # no reconnect over bad frames
    notes = feed.drain_notices()
    assert [n.kind for n in notes] == ["malformed"] * 4
    assert sum(malformed_count(n) for n in notes) == 4
    assert notes[-1].symbol == "AAPL" and "trade message" in notes[-1].message
    text = json.dumps([n.message for n in notes])
    assert KEY_ID not in text and SECRET not in text


async def test_skipped_log_caps_entries_per_drain_and_counts_them_all():
    log = SkippedLog("X stream", lambda: 5, cap=3)
    for i in range(10):
        log.add(f"frame {i}")
    notes = log.drain()
    assert [n.data["count"] for n in notes] == [1, 1, 1, 7]
    assert "7 more skipped (the first: frame 3); 10 skipped in all" in notes[-1].message
    assert log.drain() == []


# --------------------------------------------------------------------------- the engine: journal and summary


async def test_engine_journals_and_counts_what_the_polygon_feed_skipped(polygon_ws, polygon_rest, monkeypatch):
    ws = polygon_ws
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    cfg = engine_config("WATCH", app={"symbols": ["AAPL"]}, feed={"kind": "polygon"},
                        endpoints={"polygon_ws": ws.url, "polygon_rest": polygon_rest.base_url})
    engine = build_engine(cfg, clock=FixedClock(T0), use_store=False)
    await engine.start()
    try:
        feed = engine.feed
        await wait_for(lambda: feed.status().connected and ws.subscribed_now() == {"T.AAPL"}, what="subscribed")
        await ws.send_raw(DEEP_JSON)
        await ws.send_raw("not json")
        await ws.send([ws_trade("AAPL", T0_MS + 5, 170.25, 10, 7)])
        await wait_for(lambda: engine.analytics["AAPL"].last == 170.25, what="trade after the bad frames")
        await engine.tick()
        assert engine.summary()["malformed"] == 2
        journaled = [j for j in engine.journal if j.kind == "malformed"]
        assert len(journaled) == 2 and all(j.message.startswith("Polygon stream: frame is") for j in journaled)
        assert ws.connections == 1
    finally:
        await engine.stop()


async def test_engine_journals_and_counts_what_the_alpaca_feed_skipped(alpaca_rest, alpaca_data_stream, monkeypatch):
    md = alpaca_data_stream
    engine = alpaca_feed_engine(alpaca_rest, md, monkeypatch)
    await engine.start()
    try:
        await md.wait_for(lambda: len(md.live) >= 1)
        await md.send_raw(DEEP_MSGPACK)
        await md.send([{"T": "t", "S": "AAPL", "p": "abc"}])
        await md.send([trade_msg("AAPL", T0 + 2_000, 191.02, 300, 99_001)])
        await wait_for(lambda: engine.analytics["AAPL"].last == 191.02, what="trade after the bad frame")
        await engine.tick()
        assert engine.summary()["malformed"] == 2
        assert [j.kind for j in engine.journal].count("malformed") == 2
    finally:
        await engine.stop()
