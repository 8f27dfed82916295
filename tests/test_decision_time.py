"""SEMI gives a person time to decide: a pending signal's data-time TTL still
applies, but it never expires before ``engine.min_decision_s`` of wall time,
whatever the replay speed. Without a wall clock (a backtest) only data time counts."""
import pytest

from engine.clock import FixedClock
from engine.config import ConfigError, load_config
from engine.model import NS_PER_S, Decision
from tests.factories import engine_config, paper_engine

TTL_S = 60.0
MIN_S = 20.0


def semi_engine(wall):
    eng = paper_engine(engine_config("SEMI", engine={"signal_ttl_s": TTL_S, "min_decision_s": MIN_S,
                                                      "signal_run_fraction": 100}))
    eng.desk.wall = wall
    return eng


STREAMS = {}


async def stream_until(eng, stop):
    """Hand the seeded session to the engine item by item (one stream per engine,
    carried on across calls) until ``stop()``; the last item."""
    items = STREAMS.setdefault(id(eng), eng.feed.stream())
    async for item in items:
        closed = eng.on_data(item)
        if closed:
            await eng.on_bars_closed(closed)
        if stop():
            return item
    raise AssertionError("the seeded session ended first")


async def first_pending(eng):
    await eng.prepare()
    await eng.feed.start()
    STREAMS.clear()
    await stream_until(eng, lambda: bool(eng.pending))
    return next(iter(eng.pending.values()))


async def test_data_ttl_past_but_wall_time_left_keeps_the_signal_pending():
    wall = FixedClock(1_000 * NS_PER_S)
    eng = semi_engine(wall)
    sig = await first_pending(eng)
    # the data runs far past the TTL (a fast replay) while the person's clock stands still
    await stream_until(eng, lambda: eng.clock.now_ns() > sig.expires_ns + 30 * NS_PER_S)
    assert sig.id in eng.pending
    left = eng.snapshot().decide_left_s[sig.id]
    assert left == pytest.approx(MIN_S)  # all of the least time to decide, in wall seconds
    wall.advance_s(MIN_S - 1)
    await stream_until(eng, lambda: True)
    assert sig.id in eng.pending
    wall.advance_s(1)
    await stream_until(eng, lambda: True)
    assert sig.id not in eng.pending
    expired = next(d for d in eng.decisions if d.id == sig.id)
    assert expired.decision is Decision.EXPIRED
    assert "20 s of wall time" in expired.decision_reason
    await eng.feed.stop()


async def test_wall_time_alone_does_not_expire_before_the_data_ttl():
    """At x1 or slower the data-time TTL is the longer one and still applies."""
    wall = FixedClock(1_000 * NS_PER_S)
    eng = semi_engine(wall)
    sig = await first_pending(eng)
    wall.advance_s(10 * MIN_S)
    await stream_until(eng, lambda: eng.clock.now_ns() >= sig.expires_ns - 5 * NS_PER_S)
    assert sig.id in eng.pending
    await stream_until(eng, lambda: sig.id not in eng.pending)
    assert eng.clock.now_ns() >= sig.expires_ns
    await eng.feed.stop()


async def test_without_a_wall_clock_only_data_time_counts():
    eng = semi_engine(None)
    sig = await first_pending(eng)
    await stream_until(eng, lambda: sig.id not in eng.pending)
    assert eng.clock.now_ns() >= sig.expires_ns
    assert next(d for d in eng.decisions if d.id == sig.id).decision_reason == "not approved within 60 s"
    assert eng.snapshot().decide_left_s == {}
    await eng.feed.stop()


async def test_the_timer_expires_it_when_data_stands_still():
    """Feed paused or ended after the data TTL passed: the timer expires the
    signal once the least time to decide is over, not before."""
    wall = FixedClock(1_000 * NS_PER_S)
    eng = semi_engine(wall)
    sig = await first_pending(eng)
    await stream_until(eng, lambda: eng.clock.now_ns() > sig.expires_ns)
    await eng.tick()
    assert sig.id in eng.pending
    wall.advance_s(MIN_S)
    await eng.tick()
    assert sig.id not in eng.pending
    await eng.feed.stop()


async def test_time_left_is_the_longer_of_the_guard_and_the_data_ttl_at_speed():
    wall = FixedClock(1_000 * NS_PER_S)
    eng = semi_engine(wall)
    sig = await first_pending(eng)
    data_left = (sig.expires_ns - eng.clock.now_ns()) / NS_PER_S
    assert eng.desk.time_left_s(eng.clock.now_ns(), 1.0)[sig.id] == pytest.approx(max(MIN_S, data_left))
    assert eng.desk.time_left_s(eng.clock.now_ns(), 10.0)[sig.id] == pytest.approx(max(MIN_S, data_left / 10))
    assert eng.desk.time_left_s(eng.clock.now_ns(), 0.0)[sig.id] == pytest.approx(MIN_S)  # max speed
    wall.advance_s(5)
    assert eng.desk.time_left_s(eng.clock.now_ns(), 0.0)[sig.id] == pytest.approx(MIN_S - 5)
    await eng.feed.stop()


def test_min_decision_s_is_validated_naming_the_key():
    assert load_config(None, env={}).engine.min_decision_s == 20.0
    with pytest.raises(ConfigError, match="min_decision_s"):
        load_config(None, overrides={"engine": {"min_decision_s": -1}}, env={})
    with pytest.raises(ConfigError, match="min_decision_s"):
        load_config(None, overrides={"engine": {"min_decision_s": 3600}}, env={})
