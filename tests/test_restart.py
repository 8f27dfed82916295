"""A restart in the same session reloads today's state from the store: profiles,
CVD, positions, open orders and pending signals come back as they were."""
import math
from dataclasses import fields

from engine.clock import DataClock
from engine.factory import build_engine
from engine.model import Mode, OrderLeg
from tests.factories import engine_config

NO_EXPIRY = {"signal_ttl_s": 36000, "signal_run_fraction": 100}


def _cfg(db, mode, **engine):
    """The seeded session on the store ``db``; pending signals never expire."""
    return engine_config(mode, app={"db": str(db)}, engine={**NO_EXPIRY, **engine})


async def _run_until(engine, stream, predicate):
    """Drive the engine by hand (as its feed task does) until ``predicate`` holds
    right after a bar close; return the timestamp reached."""
    async for item in stream:
        if await engine.feed_item(item) and predicate(engine):
            return item.ts_ns
    raise AssertionError("the session ended before the state of interest was reached")


def _same(a, b, path=""):
    if isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    elif hasattr(a, "__dataclass_fields__"):
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


async def test_killed_mid_session_restart_finds_the_same_state(tmp_path):
    db = tmp_path / "cockpit.db"
    # run 1: AUTO until a position with its bracket is open, then also queue a pending
    # signal by switching to SEMI, then die without a clean stop
    eng = build_engine(_cfg(db, "AUTO"))
    await eng.prepare()
    await eng.feed.start()
    stream = eng.feed.stream()
    await _run_until(eng, stream, lambda e: any(p.qty for p in e.broker.positions()) and e.broker.open_orders())
    eng.set_mode(Mode.SEMI)
    await _run_until(eng, stream, lambda e: bool(e.pending) and any(p.qty for p in e.broker.positions()))
    kill_ns = eng.clock.now_ns()
    # what was true at the moment of the kill (the bar-close state of every symbol)
    before_snaps = {s: an.snapshot() for s, an in eng.analytics.items()}
    before_positions = sorted((p.symbol, p.qty, p.avg_price) for p in eng.broker.positions() if p.qty)
    before_orders = sorted((o.client_order_id, o.leg.value, o.status.value) for o in eng.broker.open_orders())
    before_pending = sorted(eng.pending)
    eng.recorder.account(eng.broker)
    await eng.store.flush()  # the batch writer's last flush before the crash
    await eng.store.close()  # release the file; nothing else of run 1 is shut down cleanly

    # run 2: a fresh engine on the same file, the clock where run 1 died
    cfg2 = _cfg(db, "SEMI")
    eng2 = build_engine(cfg2, clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        assert sorted((p.symbol, p.qty, p.avg_price) for p in eng2.broker.positions() if p.qty) == before_positions
        assert sorted((o.client_order_id, o.leg.value, o.status.value) for o in eng2.broker.open_orders()) == before_orders
        assert sorted(eng2.pending) == before_pending
        for sym, before in before_snaps.items():
            after = eng2.analytics[sym].snapshot()
            for name in ("session_profile", "previous_profile", "rolling", "state", "atr", "momentum",
                         "balance_low", "balance_high", "bars"):
                _same(getattr(before, name), getattr(after, name), f"{sym}.{name}")
            # CVD including the open minute: a simulated session gets its trades again from the
            # simulator (engine/sim_resume.py); a live restart would backfill them
            _same(before.flow.cvd_history, after.flow.cvd_history, f"{sym}.cvd_history")
            _same(before.flow.cvd, after.flow.cvd, f"{sym}.cvd")
            _same(before.flow.aggression, after.flow.aggression, f"{sym}.aggression")
        # data already restored is not applied twice when the feed replays it
        first = None
        async for item in eng2.feed.stream():
            first = item
            if eng2.on_data(item) or item.ts_ns >= kill_ns + 60_000_000_000:
                break
        assert eng2.counters["already_restored"] > 0
        assert eng2.counters["malformed"] == 0
    finally:
        await eng2.store.close()


async def _full_session(db):
    """A whole seeded AUTO session into the store, stopped cleanly; its final state."""
    eng = build_engine(_cfg(db, "AUTO"))
    await eng.start()
    await eng.wait_done()
    final = (eng.clock.now_ns(), eng.broker.account(), sorted((p.symbol, p.qty) for p in eng.broker.positions() if p.qty))
    await eng.stop()
    return eng, final


async def _restored(db, at_ns):
    eng = build_engine(_cfg(db, "SEMI"), clock=DataClock(at_ns))
    await eng.prepare()
    state = (sorted((p.symbol, p.qty) for p in eng.broker.positions() if p.qty),
             sorted(o.client_order_id for o in eng.broker.open_orders()), eng.broker.account())
    await eng.store.close()
    return state


async def test_a_restart_keeps_closed_positions_closed(tmp_path):
    """Flat symbols stay flat: the store records a flat row when a position closes."""
    db = tmp_path / "cockpit.db"
    eng, (end_ns, account, held) = await _full_session(db)
    assert eng.counters["fills"] > 0
    assert not held, "the seeded session is expected to end flat (time exit before the close)"
    for later in (end_ns, end_ns + 20 * 3_600_000_000_000, end_ns + 7 * 86_400_000_000_000):
        positions, orders, restored = await _restored(db, later)
        assert positions == [] and orders == [], (later, positions, orders)
        assert math.isclose(restored.equity, account.equity, abs_tol=0.01), (restored.equity, account.equity)


async def test_yesterdays_open_orders_are_not_restored(tmp_path):
    """Orders are DAY orders: a killed run's working bracket legs are not today's."""
    db = tmp_path / "cockpit.db"
    eng = build_engine(_cfg(db, "AUTO"))
    await eng.prepare()
    await eng.feed.start()
    kill_ns = await _run_until(eng, eng.feed.stream(), lambda e: bool(e.broker.open_orders()))
    eng.recorder.account(eng.broker)
    await eng.store.flush()
    await eng.store.close()
    _, orders, _ = await _restored(db, kill_ns)
    assert orders, "the same session restores the working orders"
    _, orders, _ = await _restored(db, kill_ns + 24 * 3_600_000_000_000)
    assert orders == []


async def test_an_entry_that_fills_after_a_restart_gets_its_exit_management(tmp_path):
    """A working limit entry restored from the store: when it fills, its exits are managed."""
    db = tmp_path / "cockpit.db"

    def cfg(mode):
        return _cfg(db, mode, entry_type="limit", limit_timeout_s=36000)

    def working_entry(e):
        return next((o for o in e.broker.open_orders() if o.leg is OrderLeg.ENTRY), None)

    eng = build_engine(cfg("AUTO"))
    await eng.prepare()
    await eng.feed.start()
    kill_ns = await _run_until(eng, eng.feed.stream(), lambda e: working_entry(e) is not None)
    entry = working_entry(eng)
    eng.recorder.account(eng.broker)
    await eng.store.flush()
    await eng.store.close()

    eng2 = build_engine(cfg("SEMI"), clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        assert working_entry(eng2) is not None and working_entry(eng2).client_order_id == entry.client_order_id
        await eng2.feed.start()
        async for item in eng2.feed.stream():
            closed = eng2.on_data(item)
            if closed:
                await eng2.on_bars_closed(closed)
            if any(f.leg is OrderLeg.ENTRY and f.symbol == entry.symbol for f in eng2.fills):
                break
        else:
            raise AssertionError("the restored entry never filled")
        assert eng2.exits.plan(entry.symbol) is not None
        assert eng2.has_plan(entry.symbol)
    finally:
        await eng2.store.close()


async def test_a_restart_keeps_the_days_risk_state(tmp_path):
    """Start-of-day equity (the daily-loss base) and the losing streak carry on after a
    restart in the same session instead of starting the day afresh."""
    db = tmp_path / "cockpit.db"
    eng = build_engine(_cfg(db, "AUTO"))
    await eng.prepare()
    await eng.feed.start()
    kill_ns = await _run_until(eng, eng.feed.stream(),
                               lambda e: e.risk.consecutive_losses >= 1 and not any(p.qty for p in e.broker.positions()))
    streak, sod = eng.risk.consecutive_losses, eng.broker.account().start_of_day_equity
    equity = eng.broker.account().equity
    assert sod != equity  # the day has a P&L to keep
    eng.recorder.account(eng.broker)
    await eng.store.flush()
    await eng.store.close()

    eng2 = build_engine(_cfg(db, "SEMI"), clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        await eng2.feed.start()
        await _run_until(eng2, eng2.feed.stream(), lambda e: True)  # the first bar after the restart
        assert eng2.risk.consecutive_losses == streak
        assert eng2.broker.account().start_of_day_equity == sod
    finally:
        await eng2.store.close()
