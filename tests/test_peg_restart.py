"""A pegged entry resumed after a restart (STRATEGY.md 14, issue 15): its progress
(window, re-pegs used, working price) is journaled at each step (kind ``peg``); a
restart inside its window carries on re-pegging against the original data-time
deadline, and one after the window cancels it saying why. Kill-and-restart on the
paper broker with the seeded simulator's quotes."""
from __future__ import annotations

from engine.clock import DataClock
from engine.factory import build_engine
from engine.model import NS_PER_S, OrderLeg, OrderStatus
from engine.peg import PEG_JOURNAL
from tests.test_restart import _cfg

WINDOW_S = 600.0  # long enough that a kill right after the entry is sent leaves time


def _cfg_pegged(db, mode):
    return _cfg(db, mode, entry_type="pegged", peg_timeout_s=WINDOW_S, max_reprices=50, entry_spread_bps=50.0)


def _working_peg(e):
    return next((o for o in e.broker.open_orders() if o.leg is OrderLeg.ENTRY and o.reason.startswith("peg: ")),
                None)


async def _killed_with_a_working_peg(db):
    """Run 1: AUTO until a pegged entry is working and has been re-pegged at least once;
    then die without a clean stop. Returns (kill time, the entry, its last journaled progress)."""
    eng = build_engine(_cfg_pegged(db, "AUTO"))
    await eng.prepare()
    await eng.feed.start()

    def repegged(e):
        o = _working_peg(e)
        return o is not None and (e.broker.peg_progress(o.id) or {}).get("reprices", 0) >= 1

    kill_ns = None
    async for item in eng.feed.stream():  # checked after every item: a peg lives for seconds
        await eng.feed_item(item)
        if repegged(eng):
            kill_ns = item.ts_ns
            break
    assert kill_ns is not None, "no pegged entry was re-pegged in the session"
    entry = _working_peg(eng)
    saved = [j.data for j in eng.journal if j.kind == PEG_JOURNAL and j.data and j.data["order_id"] == entry.id]
    assert saved and saved[-1] == eng.broker.peg_progress(entry.id)  # the journal holds its latest step
    eng.recorder.account(eng.broker)
    await eng.store.flush()
    await eng.store.close()
    return kill_ns, entry, saved[-1]


async def test_a_peg_with_time_left_is_resumed_after_a_restart_and_keeps_its_window(tmp_path):
    db = tmp_path / "cockpit.db"
    kill_ns, entry, saved = await _killed_with_a_working_peg(db)
    assert saved["deadline_ns"] > kill_ns

    eng2 = build_engine(_cfg_pegged(db, "SEMI"), clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        again = _working_peg(eng2)
        assert again is not None and again.id == entry.id and again.status.is_open
        assert "resumed after a restart" in again.reason and f"{saved['reprices']} re-pegs used" in again.reason
        now = eng2.broker.peg_progress(entry.id)
        # the same window (data time) and the re-pegs it had used, not a fresh peg
        assert now["started_ns"] == saved["started_ns"] and now["deadline_ns"] == saved["deadline_ns"]
        assert now["reprices"] == saved["reprices"]
        assert any("resumed after a restart" in j.message for j in eng2.journal if j.kind == "order")
        # it goes on re-pegging on the simulator's quotes until it fills or its window ends
        await eng2.feed.start()
        async for item in eng2.feed.stream():
            closed = eng2.on_data(item)
            if closed:
                await eng2.on_bars_closed(closed)
            o = eng2.broker.order(entry.id)
            if not o.status.is_open:
                break
        o = eng2.broker.order(entry.id)
        assert o.status is OrderStatus.FILLED, o
        assert item.ts_ns <= saved["deadline_ns"] + NS_PER_S  # never worked past its original deadline
        later = [j.data for j in eng2.journal if j.kind == PEG_JOURNAL and j.data and j.data["order_id"] == entry.id]
        assert all(d["deadline_ns"] == saved["deadline_ns"] for d in later)
    finally:
        await eng2.store.close()


async def test_a_peg_whose_window_ended_is_cancelled_at_the_restart_saying_why(tmp_path):
    db = tmp_path / "cockpit.db"
    kill_ns, entry, saved = await _killed_with_a_working_peg(db)
    after = saved["deadline_ns"] + 5 * NS_PER_S
    eng2 = build_engine(_cfg_pegged(db, "SEMI"), clock=DataClock(after))
    await eng2.prepare()
    try:
        o = eng2.broker.order(entry.id)
        assert o.status is OrderStatus.CANCELED
        assert "not resumed after a restart: its window ended 5.0s ago" in o.reason
        assert not any(x.signal_id == entry.signal_id for x in eng2.broker.open_orders())  # its bracket went too
        assert any("window ended" in j.message for j in eng2.journal if j.kind == "order")
    finally:
        await eng2.store.close()
