"""ReplayFeed: file order, speed 0 yields to the loop, pacing by data time,
pause/resume, speed changes, status."""
import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from engine.feeds.base import ControllableFeed, Feed
from engine.feeds.loaders import TradesArrays, load
from engine.feeds.replay import ReplayFeed
from engine.model import Bar, Trade
from tests.waiting import let_others_run, wait_for

HERE = Path(__file__).resolve().parent / "data"


def _arrays(n: int, step_ns: int) -> TradesArrays:
    ts = 1_700_000_000 * 10**9 + np.arange(n, dtype=np.int64) * step_ns
    price = 100.0 + np.arange(n) * 0.01
    return TradesArrays(ts, price, np.ones(n), np.zeros(n, dtype=np.int8), np.full(n, np.nan), np.full(n, np.nan))


def test_protocols():
    feed = ReplayFeed(_arrays(3, 1), "X")
    assert isinstance(feed, Feed) and isinstance(feed, ControllableFeed)


async def test_speed_zero_replays_file_in_order_and_yields_to_loop():
    path = HERE / "btc_slice_trades.csv"
    feed = ReplayFeed(path, "BTCUSDT", speed=0, yield_every=50)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    got = [x async for x in feed.stream()]
    t.cancel()
    expected = load(path)
    assert len(got) == 200 and all(isinstance(x, Trade) for x in got)
    assert [x.ts_ns for x in got] == expected.ts_ns.tolist()
    assert [x.side for x in got] == expected.side.tolist()
    assert ticks >= 200 // 50 - 1  # the other task ran while the feed streamed
    st = feed.status()
    assert st.done and st.name == "replay" and st.speed == 0 and not st.paused
    assert st.last_data_ns == got[-1].ts_ns


async def test_bars_file_streams_bars():
    feed = ReplayFeed(HERE / "btc_slice_bars_1m.csv.gz", "BTCUSDT", speed=0)
    got = [x async for x in feed.stream()]
    assert len(got) == 300 and all(isinstance(b, Bar) for b in got)
    assert got[1].ts_ns - got[0].ts_ns == 60 * 10**9


async def test_paced_replay_hands_out_every_item_in_order():
    arr = _arrays(11, 20_000_000)
    feed = ReplayFeed(arr, "X", speed=10.0)  # 2 ms apart: each item is waited for
    got = [x async for x in feed.stream()]
    assert [x.ts_ns for x in got] == arr.ts_ns.tolist()
    st = feed.status()
    assert st.done and st.speed == 10.0 and st.last_data_ns == got[-1].ts_ns


@pytest.mark.bench
async def test_pacing_follows_data_time_over_speed():
    """Timed: 11 items 20 ms apart in data time = 200 ms of data; at speed 2 they
    take ~100 ms of wall time, never less."""
    feed = ReplayFeed(_arrays(11, 20_000_000), "X", speed=2.0)
    t0 = time.monotonic()
    got = [x async for x in feed.stream()]
    elapsed = time.monotonic() - t0
    assert len(got) == 11
    assert elapsed >= 0.09  # never early
    assert elapsed < 1.0


async def test_pause_holds_stream_and_resume_continues():
    feed = ReplayFeed(_arrays(1000, 1_000_000), "X", speed=0, yield_every=1)
    got = []

    async def consume():
        async for x in feed.stream():
            got.append(x)
            if len(got) == 10:
                feed.pause()

    task = asyncio.create_task(consume())
    await wait_for(lambda: len(got) == 10, what="the first 10 items")
    await let_others_run()  # a running feed (yield_every=1) would hand out an item on each turn
    assert len(got) == 10  # the 11th is held back while paused
    assert feed.status().paused
    feed.resume()
    await asyncio.wait_for(task, 2.0)
    assert len(got) == 1000 and not feed.status().paused and feed.status().done


async def test_set_speed_takes_effect_while_waiting():
    # the second item is an hour of data time away: at speed 1 it would wait an hour
    arr = _arrays(2, 3600 * 10**9)
    feed = ReplayFeed(arr, "X", speed=1.0)
    got, task = await reading_until_first_item(feed)
    await let_others_run()
    assert len(got) == 1
    feed.set_speed(0)
    await asyncio.wait_for(task, 1.0)
    assert len(got) == 2 and feed.status().speed == 0


async def test_max_gap_caps_long_waits():
    feed = ReplayFeed(_arrays(3, 3600 * 10**9), "X", speed=1.0, max_gap_s=0.01)
    got = await asyncio.wait_for(_collect(feed), 2.0)
    assert len(got) == 3


async def _collect(feed):
    return [x async for x in feed.stream()]


async def reading_until_first_item(feed):
    """Read the feed into a list in a background task; return (list, task) once the
    first item is in (the second is an hour of data time away)."""
    got = []

    async def consume():
        async for x in feed.stream():
            got.append(x)

    task = asyncio.create_task(consume())
    await wait_for(lambda: len(got) == 1, what="the first item")
    return got, task


async def test_stop_ends_stream():
    feed = ReplayFeed(_arrays(5, 3600 * 10**9), "X", speed=1.0)
    got, task = await reading_until_first_item(feed)
    await feed.stop()
    await asyncio.wait_for(task, 1.0)
    assert len(got) == 1
    assert not feed.status().connected and not feed.status().done


def test_negative_speed_rejected():
    with pytest.raises(ValueError, match="speed"):
        ReplayFeed(_arrays(1, 1), "X", speed=-1)
    feed = ReplayFeed(_arrays(1, 1), "X")
    with pytest.raises(ValueError, match="speed"):
        feed.set_speed(-0.5)


async def test_real_file_status_message_counts_rows(shared_data):
    p = shared_data("esh4_20231225_trades.csv")
    feed = ReplayFeed(p, "ESH4", speed=0)
    await feed.start()
    assert feed.status().connected and "2972 trades" in feed.status().message
    n = 0
    async for _ in feed.stream():
        n += 1
    assert n == 2972


async def test_hold_for_lets_a_key_go_first_then_the_same_items_follow():
    """A trader's key holds an unpaced feed (Engine.yield_to_input): nothing is
    handed out until the hold ends (or is ended early), then the stream carries on
    with the same items in the same order; the feed is not 'paused'."""
    feed = ReplayFeed(_arrays(5000, 1_000_000), "X", speed=0)
    got = []

    async def consume():
        async for x in feed.stream():
            got.append(x)
            if len(got) == 100:
                feed.hold_for(60.0)

    task = asyncio.create_task(consume())
    await wait_for(lambda: len(got) >= 100, what="the first 100 items")
    await let_others_run()
    held = len(got)
    assert held < 100 + 32  # at most the items up to the next check are handed out
    await let_others_run()
    assert len(got) == held and not feed.status().paused
    feed.hold_for(0)  # the key's frame is out: carry on
    await asyncio.wait_for(task, 5.0)
    assert [x.ts_ns for x in got] == sorted(x.ts_ns for x in got) and len(got) == 5000
