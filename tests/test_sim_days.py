"""A simulation that goes on (issue 20 item 2): the simulator plays day after day,
positions are held overnight, the day's P&L and gates start again at the session
boundary, the seed decides every day, and a feed's end is one clean journal line."""
import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.feeds.synthetic import SyntheticFeed
from engine.model import Heartbeat, Trade
from tests.factories import engine_config, paper_engine

DAY1, DAY2, DAY3 = date(2024, 6, 12), date(2024, 6, 13), date(2024, 6, 14)
ET = ZoneInfo("America/New_York")


async def _items(feed: SyntheticFeed) -> list:
    await feed.start()
    return [item async for item in feed.stream()]


def _day(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns / 1e9, ET).date()


def test_the_simulator_plays_the_days_asked_for_and_the_overnight_between_them():
    feed = SyntheticFeed(("SPY",), seed=3, session_date=DAY1, speed=0, days=3, trades_per_session=2000)
    items = asyncio.run(_items(feed))
    trades = [i for i in items if type(i) is Trade]
    beats = [i for i in items if type(i) is Heartbeat]
    assert sorted({_day(t.ts_ns) for t in trades}) == [DAY1, DAY2, DAY3]
    assert all(a.ts_ns <= b.ts_ns for a, b in zip(items, items[1:]))  # one time line, overnights included
    assert beats and {_day(b.ts_ns) for b in beats} == {DAY1, DAY2, DAY3}  # 16:00 -> 09:30 each night
    assert len(beats) == 2 * (17 * 60 + 30 + 1)  # 16:00 .. 09:30 inclusive, a beat a minute
    assert feed.status().done and feed.finished_line() == f"simulation finished: 3 day(s), {len(trades):,} trades"


def test_the_seed_decides_every_day_and_a_later_day_is_the_one_a_resume_plays():
    a = asyncio.run(_items(SyntheticFeed(("SPY", "TSLA"), seed=5, session_date=DAY1, speed=0, days=2,
                                         trades_per_session=1500)))
    b = asyncio.run(_items(SyntheticFeed(("SPY", "TSLA"), seed=5, session_date=DAY1, speed=0, days=2,
                                         trades_per_session=1500)))
    assert a == b
    day2 = [i for i in a if type(i) is Trade and _day(i.ts_ns) == DAY2]
    resumed = SyntheticFeed(("SPY", "TSLA"), seed=5, session_date=DAY1, speed=0, trades_per_session=1500)
    resumed.play_day(DAY2, DAY1)  # what engine/sim_resume.py does for a store that was on day 2
    assert asyncio.run(_items(resumed)) == day2
    other = asyncio.run(_items(SyntheticFeed(("SPY", "TSLA"), seed=6, session_date=DAY1, speed=0, days=2,
                                             trades_per_session=1500)))
    assert [i for i in other if type(i) is Trade and _day(i.ts_ns) == DAY2] != day2


@pytest.fixture(scope="module")
def two_days():
    """Two simulated days in AUTO with wide brackets, entries up to 16:00 ET and no
    flattening before the close (so positions are held overnight), and a daily-loss
    limit of 0.2% (so day 1 trips it); what the overnight looked like to the engine."""
    cfg = engine_config("AUTO", feed={"days": 2},
                        strategy={"flat_before_close_min": 0.0, "atr_stop": 20.0, "atr_target": 40.0},
                        risk={"max_daily_loss_pct": 0.2, "trading_start": "09:35", "trading_end": "16:00",
                              "risk_per_trade_pct": 0.5, "max_position_notional": 50_000.0})  # sizes that lose 0.2%
    eng = paper_engine(cfg)
    night = []  # per heartbeat: (ts, positions, daily-loss latched, day P&L), after the engine saw it
    engine_beat = eng.data.on_heartbeat

    def on_heartbeat(ts_ns):
        engine_beat(ts_ns)
        night.append((ts_ns, {p.symbol: p.qty for p in eng.broker.positions() if p.qty},
                      eng.risk.daily_loss_latched, eng.broker.account().day_pnl))

    eng.data.on_heartbeat = on_heartbeat
    asyncio.run(_run(eng))
    return eng, night


async def _run(eng):
    await eng.start()
    await eng.wait_done()
    await eng.tick()
    await eng.stop()


def test_positions_are_held_overnight(two_days):
    eng, night = two_days
    at_close, before_open = night[0][1], night[-1][1]
    assert at_close, "no position open at the close"
    assert before_open == at_close  # nothing flattened or lost overnight
    assert _day(night[0][0]) == DAY1 and _day(night[-1][0]) == DAY2


def test_day_pnl_and_the_daily_loss_gate_start_again_at_the_session_boundary(two_days):
    eng, night = two_days
    boundary = eng.calendar.session_bounds(night[0][0])[1]  # 20:00 ET of day 1
    before = [n for n in night if n[0] < boundary]
    after = [n for n in night if n[0] >= boundary]
    assert before[-1][2] is True, "day 1 should have tripped the daily-loss gate"
    assert after[0][2] is False and after[0][3] == 0.0  # latch cleared, day P&L from the new start of day
    lines = [e.message for e in eng.journal]
    assert lines.count(f"new session {DAY2}") == 1
    assert f"simulation finished: 2 day(s), {eng.feed.emitted:,} trades" in lines  # one clean line at the end


def test_headless_plays_one_day_unless_days_is_given():
    from cockpit.run import add_run_flags
    from cockpit.settings_from_args import config_from_args
    from engine.factory import build_feed
    import argparse

    p = argparse.ArgumentParser()
    add_run_flags(p)
    cfg = config_from_args(p.parse_args(["--feed", "synthetic"]))
    assert build_feed(cfg, None).days == 1  # headless, tests, benches: one day, so the run ends
    assert build_feed(cfg, None, until_quit=True).days is None  # the UI: until quit
    cfg = config_from_args(p.parse_args(["--feed", "synthetic", "--days", "4"]))
    assert build_feed(cfg, None).days == 4 and build_feed(cfg, None, until_quit=True).days == 4


async def test_a_restart_resumes_the_day_a_run_that_went_on_was_in(tmp_path):
    from engine.factory import build_engine
    from tests.waiting import wait_for

    cfg = engine_config("AUTO", app={"db": str(tmp_path / "days.db")}, feed={"days": 3})
    # paused by the first notification (a signal, a fill) of day 2: listeners hear only of
    # those, and since the simulator's calibration (issue 16) a day's last one can come early
    open_day2 = int(datetime(2024, 6, 13, 9, 30, tzinfo=ET).timestamp()) * 1_000_000_000
    eng = build_engine(cfg)
    eng.add_listener(lambda: eng.clock.now_ns() >= open_day2 and eng.feed.pause())
    await eng.start()
    await wait_for(lambda: eng.feed.status().paused, timeout=300, what="day 2 under way")
    stopped = eng.clock.now_ns()
    await eng.stop()
    again = build_engine(cfg)
    await again.prepare()
    assert again.sim_start.kind == "resumed" and again.sim_start.session_date == DAY2
    assert again.clock.now_ns() == stopped and again.feed.session_date == DAY2
    await again.stop()
