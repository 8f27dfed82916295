"""Seeded simulator: determinism, session times, U-shaped activity, the 0.01
grid, quotes consistent with the aggressor, regime flow, chaining, bars with
volume at price, and the feed's controls."""
import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.feeds.base import ControllableFeed, Feed
from engine.feeds.synthetic import (
    DEFAULT_SESSION_DATE, SyntheticFeed, default_session_date, generate_bars, generate_days, generate_session,
    generate_symbol_session, session_bounds, trading_days_from, vap_bin_for,
)
from engine.model import Bar, Trade
from tests.waiting import let_others_run, wait_for

ET = ZoneInfo("America/New_York")
D = date(2024, 6, 12)


@pytest.fixture(scope="module")
def spy():
    return generate_symbol_session("SPY", 7, D)


def test_same_seed_identical_first_10k_trades_different_seed_differs():
    a = generate_session(["SPY", "TSLA"], 7, D)
    b = generate_session(["SPY", "TSLA"], 7, D)
    c = generate_session(["SPY", "TSLA"], 8, D)
    for sym in ("SPY", "TSLA"):
        ta, tb, tc = a[sym].trades, b[sym].trades, c[sym].trades
        for col in ("ts_ns", "price", "size", "bid", "ask"):
            assert np.array_equal(getattr(ta, col)[:10_000], getattr(tb, col)[:10_000])
        assert not np.array_equal(ta.price[:10_000], tc.price[:10_000])


async def test_feed_same_seed_streams_identical_trades():
    async def first(seed, n=10_000):
        feed = SyntheticFeed(seed=seed, speed=0)
        out = []
        async for t in feed.stream():
            out.append(t)
            if len(out) == n:
                break
        return out

    a, b, c = await first(7), await first(7), await first(8)
    assert a == b
    assert a != c
    assert all(isinstance(t, Trade) and t.side == 0 and t.bid is not None for t in a)


def test_session_times_are_real_utc_for_the_date(spy):
    open_ns, close_ns = session_bounds(D)
    assert open_ns == int(datetime(2024, 6, 12, 9, 30, tzinfo=ET).timestamp()) * 10**9
    assert close_ns == int(datetime(2024, 6, 12, 16, 0, tzinfo=ET).timestamp()) * 10**9
    ts = spy.trades.ts_ns
    assert ts[0] >= open_ns and ts[-1] < close_ns
    assert np.all(np.diff(ts) >= 0)


def test_half_day_closes_at_13():
    sim = generate_symbol_session("QQQ", 7, date(2024, 7, 3))
    close = datetime(2024, 7, 3, 13, 0, tzinfo=ET)
    assert sim.close_ns == int(close.timestamp()) * 10**9
    assert sim.trades.ts_ns[-1] < sim.close_ns


def test_default_date_is_fixed_or_the_trading_day_before_a_reference():
    assert default_session_date() == DEFAULT_SESSION_DATE
    assert default_session_date(date(2024, 7, 8)) == date(2024, 7, 5)  # Monday -> Friday
    assert default_session_date(date(2024, 7, 5)) == date(2024, 7, 3)  # July 4th holiday skipped
    with pytest.raises(ValueError, match="not an NYSE trading day"):
        SyntheticFeed(session_date=date(2024, 7, 4))


def test_u_shaped_activity(spy):
    minute = (spy.trades.ts_ns - spy.open_ns) // (60 * 10**9)
    per_min = np.bincount(minute, minlength=390)
    first, last, mid = per_min[:30].mean(), per_min[-30:].mean(), per_min[150:240].mean()
    assert first > 1.3 * mid and last > 1.3 * mid
    # a liquid stock: several trades per second midday
    assert mid / 60 > 2.0
    assert 50_000 <= len(spy.trades) <= 110_000


def test_prices_positive_on_the_cent_grid_and_quotes_consistent(spy):
    t = spy.trades
    for arr in (t.price, t.bid, t.ask):
        assert np.all(arr > 0)
        cents = arr * 100
        assert np.all(np.abs(cents - np.round(cents)) < 1e-6)
    assert np.all(t.ask > t.bid)
    # buyer-initiated prints at the ask, seller-initiated at the bid: Lee-Ready recovers the side
    assert np.array_equal(t.price == t.ask, spy.aggressor == 1)
    assert np.array_equal(t.price == t.bid, spy.aggressor == -1)
    assert np.all(t.side == 0)  # like a real US feed


def test_sizes_mostly_round_lots_with_odd_lots(spy):
    s = spy.trades.size
    round_lots = np.mean(s % 100 == 0)
    assert 0.6 < round_lots < 0.95
    assert np.any(s < 100) and np.all(s >= 1)


def test_price_levels_per_symbol():
    sessions = generate_session(["SPY", "TSLA", "AAPL"], 7, D)
    assert 450 < sessions["SPY"].trades.price.mean() < 600
    assert 100 < sessions["TSLA"].trades.price.mean() < 300
    # TSLA moves more than SPY relative to its price
    def rel_range(sim):
        p = sim.trades.price
        return (p.max() - p.min()) / p.mean()
    assert rel_range(sessions["TSLA"]) > rel_range(sessions["SPY"])


def test_regime_flow_is_visible_to_classification(spy):
    """Breakout legs carry one-sided flow in their direction, a volume spike, and
    the session shows every regime kind several times."""
    kinds = [e.kind for e in spy.episodes]
    assert kinds.count("breakout") >= 2 and kinds.count("failed_breakout") >= 2
    assert kinds.count("pullback") >= 4 and kinds.count("balance") >= 4
    t = spy.trades
    lee_ready = np.where(t.price >= t.ask, 1, -1)  # quote rule (all prints at bid/ask here)
    base_rate = len(t) / ((spy.close_ns - spy.open_ns) / 1e9)
    for e in spy.episodes:
        sel = (t.ts_ns >= e.start_ns) & (t.ts_ns < e.end_ns)
        delta = float(np.sum(lee_ready[sel] * t.size[sel]))
        vol = float(np.sum(t.size[sel]))
        if e.kind == "breakout":
            assert e.side * delta / vol > 0.2, e
            rate = sel.sum() / ((e.end_ns - e.start_ns) / 1e9)
            assert rate > 1.2 * base_rate
        if e.kind == "balance" and e.end_ns - e.start_ns > 15 * 60 * 10**9:
            assert abs(delta) / vol < 0.15, e
    bo = [e for e in spy.episodes if e.kind == "breakout"]
    assert {e.side for e in bo} == {1, -1}


def test_days_chain_balance_is_previous_value_area():
    days = trading_days_from(date(2024, 6, 10), 3)
    assert days == [date(2024, 6, 10), date(2024, 6, 11), date(2024, 6, 12)]
    chain = generate_days("NVDA", 3, days)
    for prev, cur in zip(chain, chain[1:]):
        assert cur.balance == prev.value_area
        assert abs(cur.trades.price[0] - prev.close) < 0.02 * prev.close
    # the feed's session is the last day of a chain: deterministic
    assert np.array_equal(generate_session(["NVDA"], 3, days[-1], history_days=2)["NVDA"].trades.price,
                          chain[-1].trades.price)


def test_bars_from_session_carry_flow_and_exact_volume_at_price(spy):
    bars = spy.bars()
    assert len(bars) == 390
    t = spy.trades
    assert float(bars.volume.sum()) == float(t.size.sum())
    assert np.allclose(bars.buy_volume + bars.sell_volume, bars.volume)
    assert float(bars.buy_volume.sum()) == float(t.size[spy.aggressor == 1].sum())
    assert int(bars.trades.sum()) == len(t)
    first_min = t.ts_ns < spy.open_ns + 60 * 10**9
    assert bars.open[0] == t.price[0] and bars.high[0] == t.price[first_min].max()
    b = vap_bin_for(float(t.price[0]))
    assert b in (0.05, 0.01, 0.02)
    for k in (0, 200, 389):
        vap = bars.vap[k]
        assert abs(sum(v for _, v in vap) - bars.volume[k]) < 1e-6
        assert all(bars.low[k] - b <= p <= bars.high[k] + b for p, _ in vap)
    bar = next(bars.iter_bars("SPY"))
    assert isinstance(bar, Bar) and bar.vap is not None and bar.trades > 0


def test_generate_bars_matches_session_bars():
    days = trading_days_from(date(2024, 6, 10), 2)
    bars = generate_bars("AAPL", 5, days)
    chain = generate_days("AAPL", 5, days)
    assert len(bars) == 2
    assert np.array_equal(bars[1].close, chain[1].bars().close)


def test_configurable_trade_count():
    few = generate_symbol_session("AAPL", 7, D, trades_per_session=10_000)
    assert 9_000 < len(few.trades) < 11_000


def test_feed_protocols_and_history():
    feed = SyntheticFeed(symbols=("SPY", "QQQ"), seed=7, history_days=2)
    assert isinstance(feed, Feed) and isinstance(feed, ControllableFeed)
    prev = feed.previous_session_bars()
    assert len(prev) == 2 * 390
    assert {b.symbol for b in prev} == {"SPY", "QQQ"}
    assert all(b.ts_ns < feed.sessions()["SPY"].open_ns for b in prev)
    assert [b.ts_ns for b in prev] == sorted(b.ts_ns for b in prev)
    assert len(feed.history(2)) == 4 * 390
    with pytest.raises(ValueError, match="history_days"):
        feed.history(3)


async def test_feed_merges_symbols_in_time_order():
    feed = SyntheticFeed(symbols=("SPY", "TSLA"), seed=7, speed=0, trades_per_session=5_000)
    got = [t async for t in feed.stream()]
    sims = feed.sessions()
    assert len(got) == len(sims["SPY"].trades) + len(sims["TSLA"].trades)
    ts = [t.ts_ns for t in got]
    assert ts == sorted(ts)
    assert {t.symbol for t in got} == {"SPY", "TSLA"}
    st = feed.status()
    assert st.done and st.name == "synthetic" and st.last_data_ns == ts[-1]


async def test_feed_start_at_fast_forwards_then_paces():
    # start at 15:59: everything before is handed out at once, the last minute is paced at speed 1
    feed = SyntheticFeed(symbols=("AAPL",), seed=7, speed=1.0, start_at="15:59", trades_per_session=2_000)
    got = []

    async def consume():
        async for t in feed.stream():
            got.append(t)

    cutoff = int(datetime(2024, 6, 12, 15, 59, tzinfo=ET).timestamp()) * 10**9
    n_before = int(np.sum(feed.sessions()["AAPL"].trades.ts_ns < cutoff))
    task = asyncio.create_task(consume())
    await wait_for(lambda: len(got) >= n_before, what="the fast-forward to 15:59")
    assert n_before <= len(got) < len(feed.sessions()["AAPL"].trades)  # the last minute is paced
    feed.pause()
    assert feed.status().paused
    held = len(got)
    await let_others_run()
    assert len(got) <= held + 1
    feed.set_speed(0)
    feed.resume()
    await asyncio.wait_for(task, 5.0)
    assert len(got) == len(feed.sessions()["AAPL"].trades)


def test_bad_start_at():
    with pytest.raises(ValueError, match="HH:MM"):
        SyntheticFeed(start_at="half past nine")


def test_thinned_bars_keep_the_volume_scale():
    days = trading_days_from(date(2024, 6, 10), 2)
    full = generate_bars("SPY", 7, days)
    thin = generate_bars("SPY", 7, days, thin=10)
    for f, t in zip(full, thin):
        assert len(t) == 390
        assert 0.8 < t.volume.sum() / f.volume.sum() < 1.25
        assert t.trades.sum() < f.trades.sum() / 5
    with pytest.raises(ValueError, match="thin"):
        generate_bars("SPY", 7, days, thin=0)
