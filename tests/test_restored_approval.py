"""Approving a SEMI signal restored by a restart before the feed has given a price
(issue 15): not a rejection. The approval is held, shown as waiting for a price, and
sent (risk checked again) at the symbol's first price while the signal's time to live
lasts; else it expires saying so."""
from engine.clock import DataClock
from engine.desk import AWAITING_PRICE
from engine.factory import build_engine
from engine.model import NS_PER_S, Decision, OrderLeg, OrderStatus
from tests.factories import engine_config
from tests.test_restart import _run_until

NO_EXPIRY = {"signal_ttl_s": 36000, "signal_run_fraction": 100}


async def _pending_then_restart(tmp_path, **engine):
    """A seeded SEMI session run until a signal is pending, killed, and started again
    on the same store at the same data time (prepared, no data item yet)."""
    db = tmp_path / "cockpit.db"
    cfg = engine_config("SEMI", app={"db": str(db)}, engine={**NO_EXPIRY, **engine})
    eng = build_engine(cfg)
    await eng.prepare()
    await eng.feed.start()
    await _run_until(eng, eng.feed.stream(), lambda e: bool(e.pending))
    kill_ns = eng.clock.now_ns()
    await eng.store.flush()
    await eng.store.close()
    again = build_engine(cfg, clock=DataClock(kill_ns))
    await again.prepare()
    await again.feed.start()
    return again


def _rejected(eng):
    return [o for o in eng.broker.recent_orders(100) if o.status is OrderStatus.REJECTED]


async def test_approving_a_restored_signal_before_a_price_holds_it_and_sends_it_at_the_first_price(tmp_path):
    eng = await _pending_then_restart(tmp_path)
    try:
        (sid,) = list(eng.pending)
        symbol = eng.pending[sid].symbol
        held = await eng.approve(sid)
        assert _rejected(eng) == [] and eng.broker.recent_orders(100) == []  # nothing sent, nothing refused
        assert held.decision is Decision.PENDING and held.decision_reason.startswith(AWAITING_PRICE)
        assert eng.snapshot().pending[0].decision_reason.startswith(AWAITING_PRICE)  # the row says so
        assert any("approved, waiting for a price" in j.message for j in eng.journal)
        async for item in eng.feed.stream():  # the feed's first items after the restart
            await eng.feed_item(item)
            if not eng.pending:
                break
        (entry,) = [o for o in eng.broker.recent_orders(100) if o.leg is OrderLeg.ENTRY]
        assert entry.symbol == symbol and entry.signal_id == sid and entry.status is not OrderStatus.REJECTED
        decided = next(d for d in eng.decisions if d.id == sid)
        assert decided.decision is Decision.APPROVED and "after the approval waited for one" in decided.decision_reason
        assert AWAITING_PRICE not in decided.decision_reason
    finally:
        await eng.store.close()


async def test_a_held_approval_expires_naming_the_missing_price_when_none_comes_within_its_ttl(tmp_path):
    eng = await _pending_then_restart(tmp_path, min_decision_s=0)  # expiry by data time alone
    try:
        (sid,) = list(eng.pending)
        sig = eng.pending[sid]
        await eng.approve(sid)
        eng.desk.expire(sig.expires_ns + NS_PER_S)  # its time to live passes with no price of its symbol
        assert not eng.pending and eng.broker.recent_orders(100) == []
        decided = next(d for d in eng.decisions if d.id == sid)
        assert decided.decision is Decision.EXPIRED
        assert decided.decision_reason == f"approved, but no {sig.symbol} price came within 36000 s: not sent"
    finally:
        await eng.store.close()


async def test_the_trader_approves_a_restored_signal_at_once_and_sees_it_wait_for_a_price(tmp_path):
    """Pilot: the cockpit after a restart, the market still (no price yet): `a` is not a
    rejection; the row says it waits for a price, and the bracket goes at the first one."""
    from cockpit.app import CockpitApp
    from tests.test_ui_engine import SYMBOLS
    from tests.waiting import wait_for
    from widgets.base import SyncTable

    db = tmp_path / "cockpit.db"
    cfg = engine_config("SEMI", app={"db": str(db), "symbols": SYMBOLS}, engine=NO_EXPIRY,
                        ui={"refresh_hz": 20, "bell": False})
    first = build_engine(cfg)
    await first.prepare()
    await first.feed.start()
    await _run_until(first, first.feed.stream(), lambda e: bool(e.pending))
    kill_ns = first.clock.now_ns()
    await first.store.flush()
    await first.store.close()

    engine = build_engine(cfg, clock=DataClock(kill_ns))
    engine.feed.pause()  # the market has not moved since the restart: no price yet
    await engine.start()
    app = CockpitApp(engine, cfg, settings_path=tmp_path / "ui.json")
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            (sid,) = list(engine.pending)
            table = app.query_one("#pending-table", SyncTable)
            await wait_for(lambda: sid in table.keys, 5, "the restored signal's row")
            table.move_cursor(row=table.keys.index(sid))
            await pilot.press("a")
            await wait_for(lambda: AWAITING_PRICE in str(app.query_one("#pending-hint").render()), 5,
                           "the row saying it waits for a price")
            assert _rejected(engine) == [] and sid in engine.pending
            engine.feed.resume()
            await wait_for(lambda: any(o.signal_id == sid and o.leg is OrderLeg.ENTRY
                                       for o in engine.broker.recent_orders(100)), 30, "the bracket at the first price")
            assert _rejected(engine) == []
            await wait_for(lambda: sid not in table.keys, 5, "the row gone from the pending table")
    finally:
        await engine.stop()
