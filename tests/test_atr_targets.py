"""Two ATR targets (STRATEGY.md 14): partial_pct of the shares at entry +/-
target1_atr x ATR with the stop to break-even, the rest at entry +/- target2_atr
x ATR (the bracket's target); hand-built prices."""
from __future__ import annotations

import asyncio

import pytest

from engine.config import ConfigError, StrategyParams
from engine.exits import ExitManager
from engine.model import NS_PER_MIN, Side, Signal
from engine.stops import apply_stop_mode, first_target
from tests.factories import engine_config, run_session

T0 = 1_709_650_000 * 1_000_000_000
P = StrategyParams(target1_atr=1.0, target2_atr=3.0, partial_pct=0.5)


def at(minutes):
    return T0 + int(minutes * NS_PER_MIN)


def signal(side=Side.BUY, entry=100.0, stop=98.5, target=103.0):
    return Signal("SPY-auction-1", "SPY", "auction", side, entry, stop, target, 80.0, "acceptance above VAH", 1)


def test_target2_sets_the_bracket_and_target1_is_named():
    out = apply_stop_mode(signal(), P, atr=0.8)
    assert out.target == pytest.approx(102.4) and out.stop == 98.5
    assert first_target(out, P, 0.8) == pytest.approx(100.8)
    assert "target1 100.80 (1 ATR, 50% off" in out.reason and "target2 102.40 (3 ATR)" in out.reason
    short = apply_stop_mode(signal(Side.SELL, 50.0, 51.0, 47.0), P, atr=0.5)
    assert short.target == pytest.approx(48.5) and first_target(short, P, 0.5) == pytest.approx(49.5)


def test_without_atr_or_targets_the_signal_is_untouched():
    sig = signal()
    assert apply_stop_mode(sig, P, atr=float("nan")) is sig and first_target(sig, P, float("nan")) == 0.0
    assert apply_stop_mode(sig, StrategyParams(), atr=0.8) is sig


def test_partial_at_target1_then_break_even_once():
    em = ExitManager(P, lambda ts: None)
    em.on_position_opened("SPY", Side.BUY, 100.0, 98.5, 102.4, 9, T0, target1=100.8)
    assert em.on_price("SPY", 100.79, at(1), 0.8) == []
    acts = em.on_price("SPY", 100.8, at(2), 0.8)
    assert [(a.kind, a.qty, a.new_stop) for a in acts] == [("partial", 4, None), ("move_stop", 5, 100.0)]
    assert "target1 100.8 = 1 ATR" in acts[0].reason and "break-even" in acts[1].reason
    assert em.on_price("SPY", 101.5, at(3), 0.8) == [] and em.plan("SPY").qty == 5
    assert not em.price_blind("SPY")


def test_short_partial_at_target1_with_a_custom_fraction():
    em = ExitManager(StrategyParams(target1_atr=1.0, partial_pct=0.25), lambda ts: None)
    em.on_position_opened("QQQ", Side.SELL, 50.0, 51.0, 47.0, 40, T0, target1=49.5)
    assert em.on_price("QQQ", 49.6, at(1), 0.5) == []
    acts = em.on_price("QQQ", 49.4, at(2), 0.5)
    assert [(a.kind, a.qty, a.new_stop) for a in acts] == [("partial", 10, None), ("move_stop", 30, 50.0)]


@pytest.mark.parametrize("over, key", [({"partial_pct": 1.0}, "partial_pct"), ({"target1_atr": -1}, "target1_atr"),
                                       ({"target1_atr": 3, "target2_atr": 2}, "target1_atr 3 must be below")])
def test_bad_target_values_name_the_key(over, key):
    with pytest.raises(ConfigError) as err:
        engine_config(strategy=over)
    assert key in str(err.value)


def test_a_session_with_two_atr_targets_takes_partials_at_target1():
    engine = asyncio.run(run_session(engine_config(strategy={"target1_atr": 0.5, "target2_atr": 3.0})))
    assert engine.decisions and all("target2" in d.reason for d in engine.decisions)
    partials = [e for e in engine.journal if e.kind == "exit" and "partial exit" in e.message]
    assert partials and all("= 0.5 ATR" in e.message for e in partials)
    plans = [e for e in engine.journal if e.kind == "exit_plan"]
    assert plans and all(e.data["target1"] > 0 for e in plans)


async def test_the_first_target_and_its_partial_survive_a_restart(tmp_path):
    from engine.clock import DataClock
    from engine.factory import build_engine
    from tests.test_restart import _run_until

    db = tmp_path / "cockpit.db"

    def cfg(mode):
        return engine_config(mode, app={"db": str(db)}, strategy={"target1_atr": 0.5, "target2_atr": 3.0},
                             engine={"signal_ttl_s": 36000, "signal_run_fraction": 100})

    def partial_done(e):
        return next((p for s in e.exits.symbols() if (p := e.exits.plan(s)).partial_done), None)

    eng = build_engine(cfg("AUTO"))
    await eng.prepare()
    await eng.feed.start()
    kill_ns = await _run_until(eng, eng.feed.stream(), lambda e: partial_done(e) is not None)
    plan = partial_done(eng)
    eng.recorder.account(eng.broker)
    await eng.store.flush()
    await eng.store.close()

    eng2 = build_engine(cfg("SEMI"), clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        restored = eng2.exits.plan(plan.symbol)
        assert restored is not None and restored.target1 == pytest.approx(plan.target1) and plan.target1 > 0
        # the partial went (its order may still be working): a price past target1 sells no second one
        assert restored.partial_done and restored.stop == pytest.approx(restored.entry)  # break-even
        acts = eng2.exits.on_price(plan.symbol, plan.target1 + plan.side.sign * 0.01, kill_ns + NS_PER_MIN, 0.1)
        assert not [a for a in acts if a.kind == "partial"]
    finally:
        await eng2.store.close()


async def test_a_semi_signal_pending_across_a_restart_keeps_its_first_target(tmp_path):
    """Killed while a SEMI signal waits for the trader; after the restart the trader
    approves it and its position gets the partial at target1 (the first target used to
    live only in the first run's memory, so the restored signal opened a position with none)."""
    from engine.clock import DataClock
    from engine.factory import build_engine
    from engine.model import OrderLeg
    from tests.test_restart import _run_until

    db = tmp_path / "cockpit.db"

    def cfg(mode):
        return engine_config(mode, app={"db": str(db)}, strategy={"target1_atr": 0.5, "target2_atr": 3.0},
                             engine={"signal_ttl_s": 36000, "signal_run_fraction": 100})

    eng = build_engine(cfg("SEMI"))
    await eng.prepare()
    await eng.feed.start()
    kill_ns = await _run_until(eng, eng.feed.stream(), lambda e: bool(e.pending))
    sig = next(iter(eng.pending.values()))
    await eng.store.flush()
    await eng.store.close()  # killed: nothing else of run 1 is shut down

    eng2 = build_engine(cfg("SEMI"), clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        assert sig.id in eng2.pending
        await eng2.feed.start()
        approved = None
        async for item in eng2.feed.stream():
            closed = eng2.on_data(item)
            if closed:
                await eng2.on_bars_closed(closed)
            if approved is None and item.ts_ns > kill_ns and getattr(item, "symbol", None) == sig.symbol:
                # the trader approves once the feed has carried on past the kill (the paper broker has a price)
                approved = await eng2.approve(sig.id)
                assert approved is not None and approved.decision.value == "approved", approved
            if any(f.leg is OrderLeg.ENTRY and f.symbol == sig.symbol for f in eng2.fills):
                break
        else:
            raise AssertionError("the approved entry never filled")
        plan = eng2.exits.plan(sig.symbol)
        assert plan is not None
        s = sig.side.sign
        # the first target between the entry and the bracket's target, as the signal had it
        assert plan.target1 > 0 and s * sig.entry < s * plan.target1 < s * sig.target, (plan.target1, sig)
        assert plan.target1 == pytest.approx(sig.target1)
    finally:
        await eng2.store.close()
