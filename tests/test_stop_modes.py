"""Stop modes (STRATEGY.md 14): atr (the setup's bracket), pct of entry, and the
fixed-dollar R profile (1R stop, half at 1.5R with break-even, 3R target,
trailing by 1R from 1R, flat before the close); hand-built prices."""
from __future__ import annotations

import asyncio

import pytest

from engine.config import ConfigError, StrategyParams
from engine.exits import ExitManager
from engine.model import NS_PER_MIN, Side, Signal
from engine.stops import apply_stop_mode, exit_profile
from tests.factories import engine_config, run_session

T0 = 1_709_650_000 * 1_000_000_000
CLOSE_NS = T0 + 300 * NS_PER_MIN


def at(minutes):
    return T0 + int(minutes * NS_PER_MIN)


def signal(side=Side.BUY, entry=100.0, stop=98.5, target=103.0):
    return Signal("SPY-auction-1", "SPY", "auction", side, entry, stop, target, 80.0, "acceptance above VAH", 1,
                  r_multiple=2.0)


def test_atr_mode_leaves_the_setups_bracket_alone():
    sig = signal()
    assert apply_stop_mode(sig, StrategyParams()) is sig
    assert exit_profile(StrategyParams()) == StrategyParams()


def test_pct_mode_sets_stop_and_target_from_entry_and_names_them():
    p = StrategyParams(stop_mode="pct", stop_pct=0.01, tp_pct=0.025)
    out = apply_stop_mode(signal(), p)
    assert (out.stop, out.target) == (pytest.approx(99.0), pytest.approx(102.5))
    assert out.r_multiple == pytest.approx(2.5)
    assert "stop_mode pct" in out.reason and "stop_pct 0.01" in out.reason and out.reason.startswith("acceptance")
    short = apply_stop_mode(signal(Side.SELL, 200.0, 203.0, 194.0), p)
    assert (short.stop, short.target) == (pytest.approx(202.0), pytest.approx(195.0))


def test_a_symbols_stop_pct_replaces_only_that_leg_in_atr_mode():
    out = apply_stop_mode(signal(), StrategyParams(stop_pct=0.02))
    assert (out.stop, out.target) == (pytest.approx(98.0), 103.0)


def test_dollars_mode_bracket_is_1r_stop_and_3r_target():
    out = apply_stop_mode(signal(entry=500.0, stop=499.0, target=502.0), StrategyParams(stop_mode="dollars",
                                                                                        r_dollars=0.10))
    assert (out.stop, out.target) == (pytest.approx(499.9), pytest.approx(500.3))
    assert "stop_mode dollars" in out.reason and "R $0.1/share" in out.reason


def test_dollars_profile_half_at_1_5r_break_even_trail_by_1r_and_flat_before_close():
    p = StrategyParams(stop_mode="dollars", r_dollars=0.10, flat_before_close_min=0)
    em = ExitManager(p, lambda ts: (CLOSE_NS - ts) / NS_PER_MIN)
    em.on_position_opened("SPY", Side.BUY, 500.0, 499.9, 500.3, 100, T0)
    # 1R in favour: trailing starts, stop = 500.10 - 0.10 = entry (it only tightens from 499.90)
    (a,) = em.on_price("SPY", 500.10, at(1), 0.5)
    assert (a.kind, a.new_stop) == ("move_stop", pytest.approx(500.0)) and "1R" in a.reason
    # 1.5R: half off; break-even is already passed by the trail (500.05)
    acts = em.on_price("SPY", 500.15, at(2), 0.5)
    assert [(x.kind, x.qty) for x in acts] == [("partial", 50), ("move_stop", 50)]
    assert acts[1].new_stop == pytest.approx(500.05)
    # ATR plays no part in the trail: a huge ATR does not loosen or move it
    assert em.on_price("SPY", 500.15, at(3), 50.0) == []
    (a,) = em.on_price("SPY", 500.25, at(4), 50.0)
    assert a.new_stop == pytest.approx(500.15)
    # flat before the close even with flat_before_close_min 0
    (a,) = em.on_price("SPY", 500.2, CLOSE_NS - 5 * NS_PER_MIN, 0.5)
    assert a.kind == "close" and a.qty == 50


def test_dollars_profile_short_mirrors():
    em = ExitManager(StrategyParams(stop_mode="dollars", r_dollars=0.5), lambda ts: None)
    em.on_position_opened("QQQ", Side.SELL, 400.0, 400.5, 398.5, 10, T0)
    assert em.on_price("QQQ", 399.6, at(1), 1.0) == []  # 0.8R
    (a,) = em.on_price("QQQ", 399.5, at(2), 1.0)
    assert a.new_stop == pytest.approx(400.0)
    acts = em.on_price("QQQ", 399.25, at(3), 1.0)
    assert [(x.kind, x.qty) for x in acts] == [("partial", 5), ("move_stop", 5)]
    assert acts[1].new_stop == pytest.approx(399.75)


@pytest.mark.parametrize("over, key", [
    ({"stop_mode": "pct", "tp_pct": 0.02}, "stop_pct"),
    ({"stop_mode": "pct", "stop_pct": 0.01}, "tp_pct"),
    ({"stop_mode": "dollars"}, "r_dollars"),
])
def test_a_mode_without_its_inputs_names_the_key_and_the_allowed_modes(over, key):
    with pytest.raises(ConfigError) as err:
        engine_config(strategy=over)
    assert key in str(err.value) and "atr, pct, dollars" in str(err.value)
    with pytest.raises(ConfigError) as err:
        engine_config(strategy={"overrides": {"SPY": over}})
    assert "strategy.overrides.SPY" in str(err.value) and key in str(err.value)


def test_an_unknown_mode_names_the_allowed_values():
    with pytest.raises(ConfigError) as err:
        engine_config(strategy={"stop_mode": "ticks"})
    assert "stop_mode" in str(err.value) and "'atr', 'pct' or 'dollars'" in str(err.value)


def test_every_setups_signal_gets_the_symbols_stop_mode_in_a_session():
    cfg = engine_config(strategy={"overrides": {"SPY": {"stop_mode": "pct", "stop_pct": 0.004, "tp_pct": 0.01}}})
    engine = asyncio.run(run_session(cfg))
    spy = [d for d in engine.decisions if d.symbol == "SPY"]
    others = [d for d in engine.decisions if d.symbol != "SPY"]
    assert spy and others
    for d in spy:
        assert d.stop == pytest.approx(d.entry * (1 - d.side.sign * 0.004))
        assert d.target == pytest.approx(d.entry * (1 + d.side.sign * 0.01))
        assert "stop_mode pct" in d.reason
    assert not any("stop_mode" in d.reason for d in others)
