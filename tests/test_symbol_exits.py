"""Per-symbol exits (STRATEGY.md 14): fixed `qty`, `stop_pct` / `tp_pct`, and the
percent trail `trail_pct` after `trail_activate_pct`, whose high-water mark
survives a restart; hand-built prices."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.clock import DataClock
from engine.config import ConfigError, RiskConfig, StrategyParams
from engine.exits import ExitManager
from engine.factory import build_engine
from engine.model import NS_PER_MIN, Account, Side, Signal
from engine.risk import RiskManager
from tests.factories import engine_config, paper_engine

T0 = 1_709_650_000 * 1_000_000_000
NOON = int(datetime(2024, 3, 5, 12, tzinfo=ZoneInfo("America/New_York")).timestamp()) * 1_000_000_000


def at(minutes):
    return T0 + int(minutes * NS_PER_MIN)


def manager(**params):
    return ExitManager(StrategyParams(**params), lambda ts: None)


def test_trail_pct_waits_for_the_activation_gain_then_follows_the_high_water():
    em = manager(trail_pct=0.01, trail_activate_pct=0.02)
    em.on_position_opened("SPY", Side.BUY, 100.0, 97.0, 110.0, 10, T0)
    assert em.on_price("SPY", 101.9, at(1), 0.5) == []  # 1.9% in favour: not yet
    (a,) = em.on_price("SPY", 102.0, at(2), 0.5)  # 2%: stop at 102 x 0.99
    assert (a.kind, a.new_stop) == ("move_stop", pytest.approx(100.98)) and "trail_pct" in a.reason
    assert em.on_price("SPY", 101.5, at(3), 0.5) == []  # under the high-water: the stop stays
    (a,) = em.on_price("SPY", 104.0, at(4), 0.5)
    assert a.new_stop == pytest.approx(102.96)
    assert em.price_blind("SPY") is False


def test_trail_pct_short_mirrors_and_a_price_through_the_level_closes():
    em = manager(trail_pct=0.01)
    em.on_position_opened("TSLA", Side.SELL, 200.0, 204.0, 190.0, 5, T0)
    (a,) = em.on_price("TSLA", 199.0, at(1), 1.0)  # low 199 x 1.01 = 200.99, tighter than 204
    assert a.new_stop == pytest.approx(200.99)
    (a,) = em.on_price("TSLA", 195.0, at(2), 1.0)
    assert a.new_stop == pytest.approx(196.95)
    em2 = manager(trail_pct=0.01)
    em2.on_position_opened("TSLA", Side.SELL, 200.0, 204.0, 190.0, 5, T0)
    em2.note_prices("TSLA", [190.0])  # a low seen while no rule could act (a backtest's quiet bars)
    (a,) = em2.on_price("TSLA", 192.0, at(3), 1.0)  # above 190 x 1.01 = 191.9
    assert a.kind == "close" and "already reached" in a.reason


def test_restore_extreme_gives_back_the_high_water_and_the_rules_it_set_off():
    em = manager(trail_pct=0.01, target1_r=1.0, trail_activate_r=2.0)
    em.on_position_opened("SPY", Side.BUY, 100.0, 99.0, 110.0, 10, T0)
    em.restore_extreme("SPY", 101.5)
    plan = em.plan("SPY")
    assert plan.extreme == 101.5 and plan.partial_done and not plan.trailing and plan.stop == 100.0
    (a,) = em.on_price("SPY", 100.8, at(5), 0.5)  # no second partial; the trail from 101.5
    assert (a.kind, a.new_stop) == ("move_stop", pytest.approx(100.485))


def test_a_symbols_qty_sizes_its_entries():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=0.5, max_position_notional=1e9))
    rm.symbol_qty = {"SPY": 7}.get
    sig = Signal("s1", "SPY", "auction", Side.BUY, 100.0, 99.0, 103.0, 80.0, "test", NOON)
    acct = Account(equity=100_000.0, cash=100_000.0, buying_power=200_000.0, start_of_day_equity=100_000.0)
    d = rm.check(sig, acct, [], [], NOON, 1.0, False)
    assert d.allowed and d.signal.qty == 7
    rm.symbol_qty = lambda s: 0
    assert rm.check(sig, acct, [], [], NOON, 1.0, False).signal.qty == 500


def test_the_engine_sizes_a_symbol_with_its_override_qty():
    eng = paper_engine(engine_config(strategy={"overrides": {"QQQ": {"qty": 3}}}))
    assert eng.risk.symbol_qty("QQQ") == 3 and eng.risk.symbol_qty("SPY") == 0


@pytest.mark.parametrize("over, key", [({"trail_pct": 1.5}, "trail_pct"), ({"qty": -1}, "qty"),
                                       ({"trail_activate_pct": -0.1}, "trail_activate_pct")])
def test_bad_per_symbol_values_name_the_key(over, key):
    with pytest.raises(ConfigError) as err:
        engine_config(strategy={"overrides": {"SPY": over}})
    assert f"strategy.overrides.SPY: {key} = " in str(err.value)


async def _run_until(engine, stream, predicate):
    async for item in stream:
        if await engine.feed_item(item) and predicate(engine):
            return item.ts_ns
    raise AssertionError("the session ended before the state of interest was reached")


async def test_the_trails_high_water_mark_survives_a_restart(tmp_path):
    db = tmp_path / "cockpit.db"

    def cfg(mode):
        return engine_config(mode, app={"db": str(db)}, strategy={"trail_pct": 0.05},
                             engine={"signal_ttl_s": 36000, "signal_run_fraction": 100})

    def moved(e):  # a plan whose best price is past its entry, two bars after that
        return next((p for s in e.exits.symbols() if (p := e.exits.plan(s)).extreme != p.entry), None)

    eng = build_engine(cfg("AUTO"))
    await eng.prepare()
    await eng.feed.start()
    stream = eng.feed.stream()
    await _run_until(eng, stream, lambda e: moved(e) is not None)
    plan = moved(eng)
    extreme, sym = plan.extreme, plan.symbol
    kill_ns = await _run_until(eng, stream, lambda e: True)  # one more bar: the mark need not be the last close
    extreme = eng.exits.plan(sym).extreme if eng.exits.plan(sym) else extreme
    assert eng.exits.plan(sym) is not None
    eng.recorder.account(eng.broker)
    await eng.store.flush()
    await eng.store.close()

    eng2 = build_engine(cfg("SEMI"), clock=DataClock(kill_ns))
    await eng2.prepare()
    try:
        restored = eng2.exits.plan(sym)
        assert restored is not None and restored.entry == plan.entry
        assert restored.extreme == pytest.approx(extreme)
        assert any(e.kind == "exit_plan" and e.symbol == sym for e in eng.journal)
    finally:
        await eng2.store.close()
