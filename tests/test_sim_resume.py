"""A restart of the default simulated session carries on from the store (engine/sim_resume.py):
same positions, open orders, pending signals, account and profiles, the data clock where the
last run stopped and nothing before it applied twice; ``--fresh`` starts at 09:30 with 100,000;
a session that had ended gives way to the next trading day."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

from engine.factory import build_engine
from engine.model import Mode
from tests.factories import engine_config, run_session
from tests.waiting import wait_for

ET = ZoneInfo("America/New_York")
NO_EXPIRY = {"signal_ttl_s": 36000, "signal_run_fraction": 100}


def _cfg(db, mode="AUTO"):
    return engine_config(mode, app={"db": str(db)}, engine=NO_EXPIRY)


def _exposed(e):
    return any(p.qty for p in e.broker.positions()) and bool(e.broker.open_orders())


def _state(e):
    acct = e.broker.account()
    return {
        "positions": sorted((p.symbol, p.qty, round(p.avg_price, 6)) for p in e.broker.positions() if p.qty),
        "orders": sorted((o.client_order_id, o.leg.value, o.status.value) for o in e.broker.open_orders()),
        "pending": sorted(e.pending),
        "cash_realized": (round(acct.cash, 6), round(acct.realized_pnl, 6)),
    }


def _profiles(e):
    return {s: (an.snapshot().session_profile, an.snapshot().rolling, an.snapshot().flow.cvd)
            for s, an in e.analytics.items()}


async def _run_with_feed_task(db):
    """As `cockpit` runs it (the engine's own feed task), AUTO until a position and its
    bracket are open, then SEMI until a signal is pending too; the feed is paused there."""
    eng = build_engine(_cfg(db))
    stage = {"want": _exposed}
    eng.add_listener(lambda: stage["want"](eng) and eng.feed.pause())
    await eng.start()
    await wait_for(lambda: eng.feed.status().paused, timeout=120, what="a position with its bracket")
    eng.set_mode(Mode.SEMI)
    stage["want"] = lambda e: _exposed(e) and bool(e.pending)
    eng.feed.resume()
    await wait_for(lambda: eng.feed.status().paused and stage["want"](eng), timeout=120, what="a pending signal")
    return eng


async def _restarted(db, mode="SEMI", fresh=False):
    eng = build_engine(_cfg(db, mode), fresh=fresh)
    await eng.prepare()
    return eng


async def _first_applied(eng):
    """Stream the restarted feed into the engine (as its feed task does) up to the first
    item it applies; return that item."""
    await eng.feed.start()
    seen = eng.data.seen
    async for item in eng.feed.stream():
        eng.on_data(item)
        if eng.data.seen != seen:
            return item
    raise AssertionError("the feed ended before anything was applied")


async def test_clean_stop_then_restart_resumes_the_session(tmp_path):
    db = tmp_path / "sim.db"
    eng = await _run_with_feed_task(db)
    stopped_ns = eng.clock.now_ns()
    before, profiles = _state(eng), _profiles(eng)
    equity = eng.broker.account().equity
    await eng.stop()

    eng2 = await _restarted(db)
    try:
        assert eng2.sim_start is not None and eng2.sim_start.kind == "resumed"
        assert eng2.clock.now_ns() == stopped_ns
        assert eng2.snapshot().start_label == f"RESUMED {datetime.fromtimestamp(stopped_ns / 1e9, ET):%H:%M}"
        assert before["positions"] and before["orders"] and before["pending"]
        assert _state(eng2) == before
        assert round(eng2.broker.account().equity, 6) == round(equity, 6)
        assert _profiles(eng2) == profiles  # the stored candles plus the open minute's trades again
        assert any(e.kind == "session" and e.message.startswith("RESUMED") for e in eng2.journal)
        first = await _first_applied(eng2)
        assert first.ts_ns > stopped_ns  # nothing before the stop applied twice
        assert eng2.counters["already_restored"] > 0
        assert eng2.feed.status().speed == 0
    finally:
        await eng2.stop()


async def test_killed_run_then_restart_resumes_from_what_was_stored(tmp_path):
    db = tmp_path / "sim.db"
    eng = build_engine(_cfg(db))
    await eng.prepare()
    await eng.feed.start()
    stream = eng.feed.stream()
    async for item in stream:  # the engine's feed loop, by hand, so it can die between two items
        closed = eng.on_data(item)
        if closed:
            await eng.on_bars_closed(closed)
            if _exposed(eng):
                break
    eng.set_mode(Mode.SEMI)
    async for item in stream:
        closed = eng.on_data(item)
        if closed:
            await eng.on_bars_closed(closed)
            if _exposed(eng) and eng.pending:
                break
    killed_ns = eng.clock.now_ns()
    before, profiles = _state(eng), _profiles(eng)
    await eng.store.close()  # the writer's last flush; nothing else of the run is shut down

    eng2 = await _restarted(db)
    try:
        assert eng2.sim_start.kind == "resumed"
        assert eng2.clock.now_ns() == killed_ns  # the last data time the store had (the last fill, journal line)
        assert _state(eng2) == before
        assert _profiles(eng2) == profiles
        first = await _first_applied(eng2)
        assert first.ts_ns > killed_ns
        assert eng2.counters["already_restored"] > 0
    finally:
        await eng2.stop()


async def test_fresh_starts_at_the_open_with_the_starting_equity(tmp_path):
    db = tmp_path / "sim.db"
    eng = await _run_with_feed_task(db)
    await eng.stop()

    eng2 = await _restarted(db, fresh=True)
    try:
        assert eng2.sim_start.kind == "fresh" and eng2.snapshot().start_label == "FRESH"
        assert eng2.clock.now_ns() == 0
        assert eng2.broker.account().equity == 100_000
        assert not any(p.qty for p in eng2.broker.positions()) and not eng2.broker.open_orders() and not eng2.pending
        first = await _first_applied(eng2)
        assert datetime.fromtimestamp(first.ts_ns / 1e9, ET).strftime("%H:%M") == "09:30"
        assert eng2.counters["already_restored"] == 0
        # the fresh run carries on by itself: the first run's exposure never comes back
        async for item in eng2.feed.stream():
            closed = eng2.on_data(item)
            if closed:
                await eng2.on_bars_closed(closed)
            if item.ts_ns >= first.ts_ns + 5 * 60 * 10**9:
                break
        fresh_state = _state(eng2)
    finally:
        await eng2.stop()
    eng3 = await _restarted(db)
    try:
        assert eng3.sim_start.kind == "resumed"
        assert _state(eng3) == fresh_state
    finally:
        await eng3.stop()


async def test_a_session_that_had_ended_gives_way_to_the_next_day(tmp_path):
    db = tmp_path / "sim.db"
    done = await run_session(_cfg(db), use_store=True)
    held = sorted((p.symbol, p.qty) for p in done.broker.positions() if p.qty)
    equity = done.broker.account().equity

    eng = await _restarted(db, "AUTO")
    try:
        assert eng.sim_start.kind == "next_session"
        assert eng.sim_start.session_date == date(2024, 6, 13)
        assert eng.snapshot().start_label == "RESUMED 06-13 09:30"
        assert sorted((p.symbol, p.qty) for p in eng.broker.positions() if p.qty) == held
        assert round(eng.broker.account().equity, 2) == round(equity, 2)
        assert eng.broker.account().day_pnl == 0
        first = await _first_applied(eng)
        assert datetime.fromtimestamp(first.ts_ns / 1e9, ET).date() == date(2024, 6, 13)
    finally:
        await eng.stop()
