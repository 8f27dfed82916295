"""SymbolAnalytics: bars from trades, malformed input, sessions (RTH only in the
session profile, roll to previous, balance range), and exact restarts from the
bars it produced."""
import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analytics.session import SessionCalendar
from engine.analytics.symbol import SymbolAnalytics
from engine.config import StrategyParams
from engine.model import NS_PER_MIN, NS_PER_S, Bar, MarketState, Quote, Trade
from tests.factories import analytics_bars, random_walk_trades, utc_ns

US = SessionCalendar("us_equity")


def synthetic_days(seed=11, days=((2024, 3, 4), (2024, 3, 5))):
    """Two days of seeded random-walk trades from 50.0: pre-market, RTH and after hours."""
    return random_walk_trades(seed, days)


def test_bars_from_trades_and_close_until():
    an = SymbolAnalytics("XYZ", StrategyParams(bin_size=0.1), US)
    t0 = utc_ns(2024, 3, 4, 15, 0)
    assert an.on_trade(Trade("XYZ", t0 + 1 * NS_PER_S, 50.0, 100, 1)) is None
    assert an.on_trade(Trade("XYZ", t0 + 2 * NS_PER_S, 50.22, 50, -1)) is None
    assert an.on_trade(Trade("XYZ", t0 + 3 * NS_PER_S, 49.95, 10)) is None  # tick rule: down
    assert an.cvd == 100 - 50 - 10
    assert an.close_until(t0 + 59 * NS_PER_S) is None
    bar = an.close_until(t0 + 60 * NS_PER_S)
    assert bar is not None and bar.ts_ns == t0
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (50.0, 50.22, 49.95, 49.95, 160.0)
    assert (bar.buy_volume, bar.sell_volume, bar.trades) == (100.0, 60.0, 3)
    assert bar.vwap == pytest.approx((50 * 100 + 50.22 * 50 + 49.95 * 10) / 160)
    assert bar.vap == ((49.95, 10.0), (50.05, 100.0), (50.25, 50.0))
    # a gap of empty minutes produces no bars; the next trade opens the 15:05 bar
    assert an.on_trade(Trade("XYZ", t0 + 5 * NS_PER_MIN + 1, 50.1, 5, 1)) is None
    bar2 = an.on_trade(Trade("XYZ", t0 + 6 * NS_PER_MIN + 1, 50.1, 5, 1))
    assert bar2.ts_ns == t0 + 5 * NS_PER_MIN and bar2.volume == 5
    snap = an.snapshot()
    assert snap.bars == 2 and snap.session_profile.total_volume == 165.0
    assert snap.last == 50.1 and snap.flow.cvd == 40 + 5 + 5


def test_malformed_trades_are_skipped_counted_and_drained():
    an = SymbolAnalytics("XYZ", StrategyParams(bin_size=0.1), US)
    t0 = utc_ns(2024, 3, 4, 15, 0, 30)
    good = Trade("XYZ", t0, 50.0, 10, 1)
    bad = [
        Trade("XYZ", t0, float("nan"), 10),
        Trade("XYZ", t0, float("inf"), 10),
        Trade("XYZ", t0, -1.0, 10),
        Trade("XYZ", t0, 50.0, 0.0),
        Trade("XYZ", t0, 50.0, float("nan")),
        Trade("XYZ", t0, "50", 10),
        Trade("XYZ", t0 - 2 * NS_PER_S, 50.0, 10),  # more than 1 s back
    ]
    assert an.on_trade(good) is None
    for t in bad:
        assert an.on_trade(t) is None
    assert an.on_trade(Trade("XYZ", t0 - NS_PER_S // 2, 50.1, 4)) is None  # 0.5 s back: accepted
    assert an.malformed == len(bad)
    rejects = an.drain_rejects()
    assert [t for t, _ in rejects] == bad
    reasons = [r for _, r in rejects]
    assert "price nan" in reasons[0] and "price inf" in reasons[1] and "size 0.0" in reasons[3]
    assert "price '50'" in reasons[5] and "before the latest" in reasons[6]
    assert an.drain_rejects() == []
    # a late print for a minute whose bar has closed
    an.close_until(t0 + NS_PER_MIN)
    assert an.on_trade(Trade("XYZ", t0 + 1, 50.0, 1)) is None
    assert an.malformed == len(bad) + 1 and "already closed" in an.drain_rejects()[0][1]
    assert an.snapshot().last_bar.volume == 14


def test_lee_ready_from_quotes():
    an = SymbolAnalytics("XYZ", StrategyParams(bin_size=0.1), US)
    t0 = utc_ns(2024, 3, 4, 15, 0)
    an.on_quote(Quote("XYZ", t0, 49.9, 50.1))
    an.on_trade(Trade("XYZ", t0 + 1, 50.05, 10))  # above mid: buy
    an.on_trade(Trade("XYZ", t0 + 2, 50.05, 7, bid=50.05, ask=50.2))  # own quote, below mid: sell
    an.on_quote(Quote("XYZ", t0 + 3, 50.2, 50.0))  # crossed: no usable quote -> tick rule
    an.on_trade(Trade("XYZ", t0 + 4, 50.0, 3))  # tick down
    bar = an.close_until(t0 + NS_PER_MIN)
    assert (bar.buy_volume, bar.sell_volume) == (10.0, 10.0)


def test_sessions_rth_only_profile_roll_and_balance():
    trades = synthetic_days()
    an, bars = analytics_bars(trades)
    snap = an.snapshot()
    day2_open, day2_close = US.rth_bounds(date(2024, 3, 5))
    day1_open, day1_close = US.rth_bounds(date(2024, 3, 4))
    rth2 = [b for b in bars if day2_open <= b.ts_ns < day2_close]
    rth1 = [b for b in bars if day1_open <= b.ts_ns < day1_close]
    assert len(bars) > len(rth1) + len(rth2)  # extended-hours bars exist
    # the developing profile holds RTH volume only; CVD is the sum of RTH deltas
    assert snap.session_profile.total_volume == pytest.approx(sum(b.volume for b in rth2))
    assert snap.flow.cvd == pytest.approx(sum(b.buy_volume - b.sell_volume for b in rth2))
    assert snap.bars == len(rth2)
    assert snap.vwap == pytest.approx(sum(b.vwap * b.volume for b in rth2) / sum(b.volume for b in rth2))
    # the previous profile is day 1's RTH profile; balance = its VAL..VAH; prev close = its last RTH close
    prev = snap.previous_profile
    assert prev.total_volume == pytest.approx(sum(b.volume for b in rth1))
    assert (snap.balance_low, snap.balance_high) == (prev.val, prev.vah)
    assert snap.prev_close == rth1[-1].close
    assert snap.change_pct == pytest.approx((snap.last - snap.prev_close) / snap.prev_close * 100)
    assert snap.in_session is False  # the last bar is after hours
    assert an.bin_size == 0.025  # auto: 5 bps of the first price 50.0
    assert snap.state in tuple(MarketState)
    # LVN alerts fired within the band (lvn_alert_pct of price), one per approach
    alerts = an.drain_alerts()
    assert alerts and an.drain_alerts() == []
    for a in alerts:
        assert a.source in ("session", "previous", "impulse")
        assert abs(a.price - a.lvn_price) / a.price * 100 <= 0.5 + 1e-9
    # rolling profile = the bars of the last lookback_minutes minutes
    last = bars[-1].ts_ns
    window = [b for b in bars if b.ts_ns > last - 60 * NS_PER_MIN]
    assert snap.rolling.total_volume == pytest.approx(sum(b.volume for b in window))


def snap_without_time(a):
    return replace(a.snapshot(), ts_ns=0)


@pytest.mark.parametrize("source", ["synthetic", "esh4", "btcusdt"])
def test_restart_from_produced_bars_is_exact(shared_data, source):
    if source == "synthetic":
        trades, cal = synthetic_days(seed=3), US
    else:
        name = {"esh4": "esh4_20231225_trades.csv", "btcusdt": "btcusdt_perp_20240808_trades.csv"}[source]
        d = np.genfromtxt(shared_data(name), delimiter=",", names=True)
        cal = SessionCalendar("24h_chicago" if source == "esh4" else "24h_utc")
        trades = [Trade("XYZ", int(t), p, s, 0, b, a) for t, p, s, b, a in
                  zip(d["ts_ns"].astype(np.int64).tolist(), d["price"].tolist(), d["size"].tolist(),
                      d["bid"].tolist(), d["ask"].tolist())]
    params = StrategyParams(lookback_minutes=15, atr_period=5, momentum_bars=5)
    live, bars = analytics_bars(trades, params, cal)
    replay = SymbolAnalytics("XYZ", params, cal)
    for b in bars:
        assert replay.on_bar(b) is b
    a, b = snap_without_time(live), snap_without_time(replay)
    assert a == b
    assert a.session_profile is not None and a.rolling is not None and not math.isnan(a.atr)
    assert live.cvd == replay.cvd


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20_000), st.integers(1, 400), st.integers(-1, 1), st.integers(1, 1000)),
                min_size=1, max_size=300))
def test_property_cvd_is_the_sum_of_bar_deltas(steps):
    an = SymbolAnalytics("XYZ", StrategyParams(), US)
    t = utc_ns(2024, 3, 4, 14, 31)
    bars = []
    for dt_ms, cents, side, size in steps:
        t += dt_ms * 1_000_000
        b = an.on_trade(Trade("XYZ", t, 40.0 + cents / 100, float(size) / 7, side))
        if b:
            bars.append(b)
    live_cvd = an.cvd
    b = an.close_until(t + NS_PER_MIN)
    bars.append(b)
    total = 0.0
    for bar in bars:
        total += bar.buy_volume - bar.sell_volume
    assert an.cvd == total == an.snapshot().flow.cvd
    assert live_cvd == pytest.approx(total)
    assert an.snapshot().flow.cvd_history[-1] == total


def test_bars_only_history_uses_bvc_and_rejects_bad_bars():
    cal = SessionCalendar("24h_utc")
    an = SymbolAnalytics("BTC", StrategyParams(), cal)
    t = utc_ns(2024, 1, 2, 10, 0)
    closes = [100.0, 101.0, 100.5, 102.0]
    out = [an.on_bar(Bar("BTC", t + k * NS_PER_MIN, c, c + 0.5, c - 0.5, c, 1000.0)) for k, c in enumerate(closes)]
    assert [round(b.buy_volume, 6) for b in out[:2]] == [500.0, 500.0]
    assert out[3].buy_volume > 500 and out[3].buy_volume + out[3].sell_volume == 1000.0
    assert an.on_bar(Bar("BTC", t + 10 * NS_PER_MIN, 1.0, 0.5, 0.9, 1.0, 10.0)) is None  # high < low
    assert an.on_bar(Bar("BTC", t + 2 * NS_PER_MIN, 100.0, 101.0, 99.0, 100.0, 10.0)) is None  # not after the last
    assert an.malformed == 2 and len(an.drain_rejects()) == 2
    snap = an.snapshot()
    assert snap.session_profile.total_volume == pytest.approx(4000.0)
    assert snap.last == 102.0
