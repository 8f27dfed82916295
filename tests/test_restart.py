"""A restart in the same session reloads today's state from the store: profiles,
CVD, positions, open orders and pending signals come back as they were."""
import asyncio
import math
from dataclasses import fields

from engine.clock import DataClock
from engine.config import load_config
from engine.factory import build_engine
from engine.store import Store


def _cfg(db, mode):
    return load_config(None, overrides={"app": {"mode": mode, "seed": 7, "db": str(db)},
                                        "feed": {"kind": "synthetic", "speed": 0},
                                        "engine": {"signal_ttl_s": 36000, "signal_run_fraction": 100}}, env={})


async def _run_until(engine, stream, predicate):
    """Drive the engine by hand (as its feed task does) until ``predicate`` holds
    right after a bar close; return the timestamp reached."""
    async for item in stream:
        closed = engine.on_data(item)
        if closed:
            await engine.on_bars_closed(closed)
            if predicate(engine):
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
    eng.set_mode(__import__("engine.model", fromlist=["Mode"]).Mode.SEMI)
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
            # CVD as of the last closed bar (the open minute's trades die with the process)
            _same(before.flow.cvd_history, after.flow.cvd_history, f"{sym}.cvd_history")
            _same(before.flow.cvd_history[-1], after.flow.cvd, f"{sym}.cvd")
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
