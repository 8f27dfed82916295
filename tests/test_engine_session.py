"""The Engine end to end on the seeded simulator: what a trader would see in one
session, and what each mode does with a signal."""
import asyncio

import pytest

from engine.clock import FixedClock
from engine.factory import build_engine
from engine.model import Decision, Mode, OrderLeg, OrderStatus, Trade
from engine.store import Store
from tests.factories import engine_config, paper_engine, run_session
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def auto_session():
    return asyncio.run(run_session(engine_config("AUTO")))


def test_seeded_session_shows_every_state_alerts_and_every_setup(auto_session):
    s = auto_session.summary()
    assert set(s["states"]) == {"BALANCE", "IMBALANCE_UP", "IMBALANCE_DOWN"}
    assert all(n >= 10 for n in s["states"].values()), s["states"]
    assert s["lvn_alerts"] > 0
    for setup in ("auction", "trend_model", "mean_reversion"):
        assert sum(s["signals_by_setup"].get(setup, {}).values()) >= 1, (setup, s["signals_by_setup"])
    assert s["malformed"] == 0


def test_auto_session_trades_brackets_and_ends_flat(auto_session):
    eng = auto_session
    s = eng.summary()
    assert s["fills"] > 0 and s["orders"] >= s["fills"]
    entries = [o for o in eng.broker.recent_orders(10_000) if o.leg is OrderLeg.ENTRY and o.status is OrderStatus.FILLED]
    assert entries, "AUTO mode sent no entry"
    # every filled entry had a bracket: a take-profit and a stop-loss child
    children = {(o.parent_id, o.leg) for o in eng.broker.recent_orders(10_000) if o.parent_id}
    for e in entries:
        assert (e.id, OrderLeg.TAKE_PROFIT) in children and (e.id, OrderLeg.STOP_LOSS) in children
    # flat before the close (flat_before_close_min = 5) and nothing left working
    assert s["open_positions"] == 0
    assert eng.broker.open_orders() == []
    # the account adds up: equity = initial + realised P&L (flat at the end)
    acct = eng.broker.account()
    assert acct.equity == pytest.approx(eng.config.broker.initial_equity + acct.realized_pnl - acct.commissions, abs=0.01)


def test_same_seed_same_decisions():
    a = asyncio.run(run_session(engine_config("AUTO")))
    b = asyncio.run(run_session(engine_config("AUTO")))
    fa = [(f.symbol, f.side, f.qty, f.price, f.ts_ns) for f in a.fills]
    fb = [(f.symbol, f.side, f.qty, f.price, f.ts_ns) for f in b.fills]
    assert fa == fb and fa


def test_watch_mode_never_sends():
    eng = asyncio.run(run_session(engine_config("WATCH")))
    s = eng.summary()
    assert s["signals_by_decision"].get("watched", 0) > 0
    assert s["orders"] == 0 and s["fills"] == 0


def test_semi_mode_queues_and_expires_unapproved_signals():
    eng = asyncio.run(run_session(engine_config("SEMI")))
    s = eng.summary()
    # nobody approved anything: every signal that passed risk expired, none was sent
    assert s["signals_by_decision"].get("expired", 0) > 0
    assert s["orders"] == 0
    expired = [d for d in eng.decisions if d.decision is Decision.EXPIRED]
    assert any("not approved within" in d.decision_reason or "ran" in d.decision_reason for d in expired)
    assert any(j.kind == "decision" and "expired" in j.message for j in eng.journal)


async def test_semi_approve_sends_a_bracket_and_reject_is_journaled():
    cfg = engine_config("SEMI", engine={"signal_ttl_s": 3600, "signal_run_fraction": 100})
    eng = paper_engine(cfg)
    await eng.start()
    await wait_for(lambda: bool(eng.pending) or not eng.feed_running, 60, "a pending signal")
    approved = await eng.approve(next(iter(eng.pending)))
    await wait_for(lambda: bool(eng.pending) or not eng.feed_running, 60, "a second pending signal")
    rejected = await eng.reject(next(iter(eng.pending)))
    await eng.stop()
    assert approved is not None and approved.decision is Decision.APPROVED and approved.qty >= 1
    orders = [o for o in eng.broker.recent_orders(10_000) if o.signal_id == approved.id]
    legs = {o.leg for o in orders}
    assert {OrderLeg.ENTRY, OrderLeg.TAKE_PROFIT, OrderLeg.STOP_LOSS} <= legs
    entry = next(o for o in orders if o.leg is OrderLeg.ENTRY)
    assert entry.client_order_id.startswith("ck-") and approved.id in entry.client_order_id
    assert rejected is not None and rejected.decision is Decision.REJECTED
    assert any("rejected" in j.message and rejected.id in (j.data or {}).get("signal_id", "") for j in eng.journal)


async def test_set_mode_out_of_semi_expires_pending_visibly():
    cfg = engine_config("SEMI", engine={"signal_ttl_s": 3600, "signal_run_fraction": 100})
    eng = paper_engine(cfg)
    await eng.start()
    await wait_for(lambda: bool(eng.pending) or not eng.feed_running, 60, "a pending signal")
    assert eng.pending
    ids = list(eng.pending)
    eng.set_mode(Mode.WATCH)
    await eng.stop()
    assert not eng.pending
    assert {d.id for d in eng.decisions if d.decision is Decision.EXPIRED} >= set(ids)


async def test_strategy_configs_from_the_store_apply_at_start_and_at_run_time(tmp_path):

    db = tmp_path / "c.db"
    store = await Store.open(str(db))
    await store.set_strategy_config("TSLA", False, {})
    await store.set_strategy_config("SPY", True, {"min_aggression": 95, "lookback_minutes": 30})
    await store.set_strategy_config("QQQ", True, {"atr_stop": -1})  # invalid: must be named, not applied
    await store.close()
    cfg = engine_config("AUTO", app={"db": str(db)})
    eng = build_engine(cfg)
    await eng.prepare()
    try:
        assert eng.setups["TSLA"] == []  # disabled: analytics run, no setups
        assert eng.params["SPY"].min_aggression == 95
        assert eng.analytics["SPY"].params.lookback_minutes == 30  # analytics params applied at start
        assert eng.params["QQQ"].atr_stop == 1.5
        assert any("strategy_configs for QQQ ignored" in j.message and "atr_stop" in j.message for j in eng.journal)
        # at run time: setups rebuilt with the new parameters, analytics untouched
        await eng.set_strategy_config("SPY", True, {"min_aggression": 60, "lookback_minutes": 90})
        assert eng.params["SPY"].min_aggression == 60
        assert all(s.params.min_aggression == 60 for s in eng.setups["SPY"])
        assert eng.analytics["SPY"].params.lookback_minutes == 30
    finally:
        await eng.store.close()


def test_enforced_session_policy_blocks_other_setups_with_the_reason():
    eng = asyncio.run(run_session(engine_config("AUTO", sessions={"enforce_policy": True})))
    blocked = [d for d in eng.decisions if d.decision is Decision.BLOCKED and d.decision_reason.startswith("session_policy")]
    assert blocked, "no signal was blocked by the session policy"
    assert all("recommends" in d.decision_reason for d in blocked)
    assert eng.summary()["blocked_reasons"].get("session_policy", 0) >= len(blocked)


async def test_malformed_trades_are_skipped_counted_and_journaled(tmp_path):

    eng = build_engine(engine_config("SEMI", app={"db": str(tmp_path / "m.db")}))
    await eng.prepare()
    t0 = 1_718_199_000_000_000_000  # 2024-06-12 13:30 UTC = 09:30 ET
    good = [Trade("SPY", t0 + i * 1_000_000_000, 540.0 + 0.01 * i, 100) for i in range(5)]
    bad = [Trade("SPY", t0 + 6_000_000_000, float("nan"), 100), Trade("SPY", t0 + 6_000_000_000, -1.0, 100),
           Trade("SPY", t0 + 6_000_000_000, 540.1, 0), Trade("SPY", t0 + 6_000_000_000, 540.1, -5),
           Trade("SPY", t0 - 60_000_000_000, 540.1, 100)]  # a minute back in time
    for t in good + bad:
        eng.on_data(t)
    assert eng.counters["malformed"] == 5
    assert eng.analytics["SPY"].last == good[-1].price  # nothing bad reached the analytics
    kinds = [j for j in eng.journal if j.kind == "malformed"]
    assert len(kinds) == 5 and all(j.symbol == "SPY" for j in kinds)
    await eng.store.close()
    store = await Store.open(str(tmp_path / "m.db"))
    assert len(await store.journal(kind="malformed")) == 5
    await store.close()


async def test_nothing_is_lost_every_signal_decision_order_and_fill_is_stored(tmp_path):

    db = tmp_path / "all.db"
    eng = await run_session(engine_config("AUTO", app={"db": str(db)}), use_store=True)
    store = await Store.open(str(db))
    try:
        signals = await store.signals()
        assert len(signals) == len(eng.decisions) or len(signals) == sum(
            n for (_, d), n in eng.desk.signal_counts.items() if d != "pending")
        decided = {s.decision.value for s in signals}
        assert {"auto", "blocked", "dropped"} <= decided
        assert all(s.decision_reason for s in signals if s.decision.value == "blocked")
        ids = [f.id for f in eng.fills]
        assert len(ids) == len(set(ids)), "a fill was reported twice"
        assert {f.id for f in await store.fills()} == set(ids)
        stored_orders = {o.id: o for o in await store.orders()}
        for o in eng.broker.recent_orders(100_000):
            assert o.id in stored_orders and stored_orders[o.id].status == o.status, o
        assert len(await store.journal(kind="block", limit=100_000)) == sum(
            n for (_, d), n in eng.desk.signal_counts.items() if d == "blocked")
    finally:
        await store.close()


async def test_stale_live_data_blocks_entries_with_a_visible_reason():

    t0 = 1_718_204_400_000_000_000  # 2024-06-12 15:00 UTC = 11:00 ET, inside RTH and the trading window
    clock = FixedClock(t0)  # wall time, as live: data age is now - last trade
    eng = paper_engine(engine_config("SEMI", risk={"stale_after_s": 15}), clock=clock)
    await eng.prepare()
    await eng.feed.start()
    eng.on_data(Trade("SPY", t0, 540.0, 100))
    assert eng.entry_block_reason() == ""
    assert not eng.snapshot().feed.stale
    clock.advance_s(20)  # no trade for 20 s during RTH
    await eng.tick()  # the engine's once-a-second timer
    snap = eng.snapshot()
    assert snap.feed.stale
    assert "stale" in snap.blocked_entries_reason and "15" in snap.blocked_entries_reason
    eng.on_data(Trade("SPY", clock.now_ns(), 540.1, 100))
    assert eng.entry_block_reason() == "" and not eng.snapshot().feed.stale
    await eng.feed.stop()


async def test_running_the_same_simulated_session_twice_keeps_both_runs_records(tmp_path):

    db = tmp_path / "twice.db"
    runs = [await run_session(engine_config("AUTO", app={"db": str(db)}), use_store=True) for _ in range(2)]
    assert runs[0].run_id != runs[1].run_id
    store = await Store.open(str(db))
    try:
        stored = {f.id for f in await store.fills()}
        for eng in runs:
            assert {f.id for f in eng.fills} <= stored
        assert len(stored) == sum(len(e.fills) for e in runs)
        assert len(await store.signals()) == sum(
            n for e in runs for (_, d), n in e.desk.signal_counts.items() if d != "pending")
    finally:
        await store.close()
