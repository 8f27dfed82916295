"""Exit rules of STRATEGY.md section 11: partial + break-even, trailing stop,
time exit, flat before the close. Each action fires once."""
from __future__ import annotations

import pytest

from engine.config import StrategyParams
from engine.exits import ExitAction, ExitManager
from engine.model import NS_PER_MIN, Side

T0 = 1_709_650_000 * 1_000_000_000
CLOSE_NS = T0 + 300 * NS_PER_MIN  # the RTH close is 5 hours after T0


def minutes_to_close(ts_ns):
    return (CLOSE_NS - ts_ns) / NS_PER_MIN


def manager(**params):
    base = dict(target1_r=0.0, trail_activate_r=0.0, trade_timeout_min=0.0, flat_before_close_min=0.0)
    base.update(params)
    return ExitManager(StrategyParams(**base), minutes_to_close)


def long_100(em, qty=100, entry=100.0, stop=98.0):
    return em.on_position_opened("SPY", Side.BUY, entry, stop, 106.0, qty, T0)


def at(minutes):
    return T0 + int(minutes * NS_PER_MIN)


def test_partial_exit_at_target1_r_then_break_even_once():
    em = manager(target1_r=1.0, partial_fraction=0.5)
    long_100(em)
    assert em.on_price("SPY", 101.9, at(1), 0.5) == []  # 0.95 R
    acts = em.on_price("SPY", 102.0, at(2), 0.5)  # 1.0 R
    assert [(a.kind, a.qty, a.new_stop) for a in acts] == [("partial", 50, None), ("move_stop", 50, 100.0)]
    assert "1.00R" in acts[0].reason and "break-even" in acts[1].reason
    assert em.plan("SPY").qty == 50 and em.plan("SPY").stop == 100.0
    assert em.on_price("SPY", 103.0, at(3), 0.5) == []
    assert em.on_price("SPY", 102.0, at(4), 0.5) == []


def test_partial_with_odd_and_single_share_quantities():
    em = manager(target1_r=1.0, partial_fraction=0.5)
    long_100(em, qty=7)
    acts = em.on_price("SPY", 102.5, at(1), 0.5)
    assert [(a.kind, a.qty) for a in acts] == [("partial", 3), ("move_stop", 4)]
    em = manager(target1_r=1.0, partial_fraction=0.5)
    long_100(em, qty=1)
    acts = em.on_price("SPY", 102.5, at(1), 0.5)
    assert [(a.kind, a.qty, a.new_stop) for a in acts] == [("move_stop", 1, 100.0)]


def test_short_partial_and_break_even():
    em = manager(target1_r=1.5, partial_fraction=0.25)
    em.on_position_opened("TSLA", Side.SELL, 200.0, 204.0, 188.0, 40, T0)
    assert em.on_price("TSLA", 194.1, at(1), 2.0) == []  # 1.475 R
    acts = em.on_price("TSLA", 194.0, at(2), 2.0)
    assert [(a.kind, a.qty, a.new_stop) for a in acts] == [("partial", 10, None), ("move_stop", 30, 200.0)]


def test_trailing_stop_activates_and_only_tightens():
    em = manager(trail_activate_r=1.5, trail_atr=1.0)
    long_100(em)
    assert em.on_price("SPY", 102.9, at(1), 0.8) == []  # 1.45 R: not yet
    (a,) = em.on_price("SPY", 103.0, at(2), 0.8)
    assert a.kind == "move_stop" and a.new_stop == pytest.approx(102.2) and a.qty == 100
    assert em.on_price("SPY", 102.5, at(3), 0.8) == []  # extreme still 103
    (a,) = em.on_price("SPY", 104.0, at(4), 0.8)
    assert a.new_stop == pytest.approx(103.2)
    assert em.on_price("SPY", 104.0, at(5), 2.0) == []  # wider ATR never loosens it
    assert em.plan("SPY").stop == pytest.approx(103.2)
    # stays active after price falls back under the activation level
    (a,) = em.on_price("SPY", 104.5, at(6), 0.5)
    assert a.new_stop == pytest.approx(104.0)


def test_trailing_short_mirrors():
    em = manager(trail_activate_r=1.0, trail_atr=2.0)
    em.on_position_opened("QQQ", Side.SELL, 50.0, 51.0, 47.0, 10, T0)
    (a,) = em.on_price("QQQ", 48.9, at(1), 0.25)
    assert a.new_stop == pytest.approx(49.4)  # low 48.9 + 2 x 0.25
    assert em.on_price("QQQ", 49.2, at(2), 0.25) == []


def test_trailing_moves_smaller_than_a_cent_are_not_sent():
    em = manager(trail_activate_r=1.0, trail_atr=1.0)
    long_100(em)
    em.on_price("SPY", 102.0, at(1), 1.0)  # stop 101.0
    assert em.on_price("SPY", 102.005, at(2), 1.0) == []
    (a,) = em.on_price("SPY", 102.02, at(3), 1.0)
    assert a.new_stop == pytest.approx(101.02)


def test_trailing_level_already_beyond_price_closes():
    em = manager(trail_activate_r=1.0, trail_atr=0.5)
    long_100(em)
    em.on_price("SPY", 104.0, at(1), 1.0)  # stop 103.5
    # a later price under a (newly tighter) level: ATR shrank, level 104 - 0.1 = 103.9
    (a,) = em.on_price("SPY", 103.8, at(2), 0.2)
    assert a.kind == "close" and a.qty == 100 and "already reached" in a.reason
    assert em.on_price("SPY", 110.0, at(3), 0.2) == []


def test_break_even_and_trailing_in_one_price_send_one_move():
    em = manager(target1_r=1.0, partial_fraction=0.5, trail_activate_r=1.0, trail_atr=1.0)
    long_100(em)
    acts = em.on_price("SPY", 103.0, at(1), 1.0)  # BE 100 and trail 102: the tighter wins
    assert [(a.kind, a.new_stop) for a in acts] == [("partial", None), ("move_stop", 102.0)]
    assert acts[1].reason.startswith("trailing")


def test_time_exit_fires_once():
    em = manager(trade_timeout_min=30)
    long_100(em)
    assert em.on_price("SPY", 100.5, at(29.9), 0.5) == []
    (a,) = em.on_price("SPY", 100.5, at(30), 0.5)
    assert a == ExitAction("close", "SPY", 100, None, "time exit: in the trade 30.0 min >= trade_timeout_min 30")
    assert em.on_price("SPY", 100.5, at(31), 0.5) == []


def test_flat_before_the_close():
    em = manager(flat_before_close_min=5)
    long_100(em)
    assert em.on_price("SPY", 100.0, CLOSE_NS - 6 * NS_PER_MIN, 0.5) == []
    (a,) = em.on_price("SPY", 100.0, CLOSE_NS - 5 * NS_PER_MIN, 0.5)
    assert a.kind == "close" and a.qty == 100 and "5.0 min left" in a.reason
    assert em.on_price("SPY", 100.0, CLOSE_NS - 4 * NS_PER_MIN, 0.5) == []


def test_no_close_rule_without_a_session_close():
    em = ExitManager(StrategyParams(flat_before_close_min=5), lambda ts: None)
    long_100(em)
    assert em.on_price("SPY", 100.0, at(1), 0.5) == []


def test_defaults_do_nothing_but_flatten_before_the_close():
    em = ExitManager(StrategyParams(), minutes_to_close)
    long_100(em)
    assert em.on_price("SPY", 110.0, at(100), 0.5) == []
    (a,) = em.on_price("SPY", 110.0, CLOSE_NS - 4 * NS_PER_MIN, 0.5)
    assert a.kind == "close"


def test_closed_positions_are_forgotten_and_bad_plans_refused():
    em = manager(trade_timeout_min=1)
    long_100(em)
    em.update_qty("SPY", 0)
    assert em.on_price("SPY", 100.0, at(5), 0.5) == []
    with pytest.raises(ValueError, match="not a positive price"):
        em.on_position_opened("SPY", Side.BUY, float("nan"), 99.0, 105.0, 10, T0)
    with pytest.raises(ValueError, match="qty 0"):
        em.on_position_opened("SPY", Side.BUY, 100.0, 99.0, 105.0, 0, T0)


def test_a_fill_beyond_its_stop_keeps_only_the_time_rules():
    em = manager(target1_r=1.0, trail_activate_r=1.0, trade_timeout_min=10)
    # gapped entry: bought at 97.5 with the stop at 98
    plan = em.on_position_opened("SPY", Side.BUY, 97.5, 98.0, 104.0, 10, T0)
    assert not plan.has_r
    assert em.on_price("SPY", 110.0, at(1), 0.5) == []
    (a,) = em.on_price("SPY", 110.0, at(10), 0.5)
    assert a.kind == "close" and a.qty == 10
