"""Balance range, impulse leg and pullback (STRATEGY.md section 8) on hand-built bars."""
import math

import pytest

from engine.analytics.structure import StructureTracker
from engine.config import StrategyParams
from engine.model import NS_PER_MIN, Node, ProfileStats, Side
from tests.factories import T0, minute_bar

class FakeProfile:
    """range_profile stand-in: records each [t0, t1) asked for and answers with the
    LVNs registered for that end time (none by default)."""

    def __init__(self, lvns_by_end: dict[int, tuple[float, ...]] | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.lvns_by_end = lvns_by_end or {}

    def __call__(self, t0: int, t1: int) -> ProfileStats | None:
        self.calls.append((t0, t1))
        prices = self.lvns_by_end.get(t1)
        if prices is None:
            return None
        return ProfileStats(
            bin_size=0.1, total_volume=1.0, poc=prices[0], vah=prices[0], val=prices[0],
            value_area_volume=1.0, lvns=tuple(Node(p, 1.0) for p in prices),
        )


def end_of(i: int) -> int:
    return T0 + (i + 1) * NS_PER_MIN


def make(profile=None, **params) -> tuple[StructureTracker, FakeProfile]:
    profile = profile or FakeProfile()
    tracker = StructureTracker(StrategyParams(**params), profile)
    tracker.set_balance(99.0, 101.0)
    return tracker, profile


def feed(tracker: StructureTracker, bars, atr: float = 1.0) -> None:
    for b in bars:
        tracker.on_bar(b, atr)


UP_LEG = [
    minute_bar(0, 100.0, 100.2, 99.8, 100.0),  # inside
    minute_bar(1, 100.0, 100.8, 100.2, 100.5),  # inside: the leg will start here
    minute_bar(2, 100.5, 101.4, 100.4, 101.3),  # outside by 0.3 ATR < 0.5: no breakout yet
    minute_bar(3, 101.3, 101.9, 101.2, 101.8),  # outside by 0.8 ATR: breakout
    minute_bar(4, 101.8, 103.0, 101.7, 102.8),  # new high 103.0: range 2.5 ATR, counts
    minute_bar(5, 102.8, 102.9, 102.4, 102.5),  # retrace 0.5 ATR by close: still extending
    minute_bar(6, 102.5, 102.6, 102.1, 102.2),  # retrace 0.8 ATR by close: the leg ends
]


def test_breakout_needs_half_an_atr_beyond_the_edge():
    tracker, profile = make()
    feed(tracker, UP_LEG[:3])
    assert tracker.impulse is None and profile.calls == []


def test_up_leg_starts_at_last_inside_bar_extends_and_ends():
    profile = FakeProfile({end_of(3): (101.2,), end_of(4): (101.5, 102.1)})
    tracker, _ = make(profile)
    feed(tracker, UP_LEG[:4])
    leg = tracker.impulse
    assert leg.side is Side.BUY and leg.active and not leg.counts
    assert leg.start_ns == T0 + 1 * NS_PER_MIN and leg.start_price == 100.5
    assert leg.extreme_price == 101.9 and leg.extreme_ns == T0 + 3 * NS_PER_MIN
    assert leg.range_atr == pytest.approx(1.4)
    assert [n.price for n in leg.lvns] == [101.2]
    assert profile.calls == [(T0 + NS_PER_MIN, end_of(3))]

    tracker.on_bar(UP_LEG[4], 1.0)
    leg = tracker.impulse
    assert leg.active and leg.counts and leg.extreme_price == 103.0
    assert leg.range_atr == pytest.approx(2.5)
    assert [n.price for n in leg.lvns] == [101.5, 102.1]  # recomputed on the new extreme
    assert profile.calls[-1] == (T0 + NS_PER_MIN, end_of(4))

    tracker.on_bar(UP_LEG[5], 1.0)
    assert tracker.impulse.active and len(profile.calls) == 2  # no new extreme, no recompute

    tracker.on_bar(UP_LEG[6], 1.0)
    leg = tracker.impulse
    assert not leg.active and leg.counts  # ended but kept for pullbacks
    assert [n.price for n in leg.lvns] == [101.5, 102.1]
    assert leg.extreme_price == 103.0


def test_extreme_includes_bars_between_inside_close_and_breakout():
    tracker, _ = make()
    feed(tracker, [
        minute_bar(0, 100.0, 100.5, 99.9, 100.4),
        minute_bar(1, 100.4, 102.2, 100.3, 101.3),  # spikes to 102.2, closes only 0.3 out
        minute_bar(2, 101.3, 101.9, 101.2, 101.8),  # breakout close
    ])
    leg = tracker.impulse
    assert leg.extreme_price == 102.2 and leg.extreme_ns == T0 + NS_PER_MIN
    assert leg.start_ns == T0 and leg.active  # 102.2 - 101.8 = 0.4 < 0.75


def test_retrace_is_measured_on_closes_not_wicks():
    tracker, _ = make()
    feed(tracker, UP_LEG[:5])
    tracker.on_bar(minute_bar(5, 102.8, 102.9, 101.5, 102.6), 1.0)  # wick 1.5 below the high, close 0.4
    assert tracker.impulse.active


def test_leg_is_measured_in_the_atr_of_its_breakout():
    tracker, _ = make()
    feed(tracker, UP_LEG[:4], atr=1.0)
    tracker.on_bar(UP_LEG[4], 3.0)  # ATR jumps; the leg keeps its breakout ATR of 1.0
    leg = tracker.impulse
    assert leg.range_atr == pytest.approx(2.5) and leg.counts
    tracker.on_bar(minute_bar(5, 102.8, 102.9, 102.0, 102.1), 3.0)  # 0.9 back: ends in 1.0-ATR units
    assert not tracker.impulse.active


def test_leg_that_never_reached_the_minimum_is_dropped():
    tracker, _ = make()
    feed(tracker, UP_LEG[:4])  # range 1.4 ATR, below impulse_min_atr 2.0
    tracker.on_bar(minute_bar(4, 101.8, 101.85, 100.9, 101.0), 1.0)  # 0.9 back from 101.9
    assert tracker.impulse is None


def test_min_range_is_a_parameter():
    tracker, _ = make(impulse_min_atr=1.0)
    feed(tracker, UP_LEG[:4])
    assert tracker.impulse.counts


def test_down_leg_uses_lows_and_mirrors_the_rules():
    profile = FakeProfile({end_of(3): (98.0,)})
    tracker, _ = make(profile)
    feed(tracker, [
        minute_bar(0, 100.0, 100.2, 99.8, 100.0),
        minute_bar(1, 100.0, 100.1, 99.2, 99.4),  # inside: start
        minute_bar(2, 99.4, 99.5, 98.2, 98.4),  # 0.6 below VAL: breakout
        minute_bar(3, 98.4, 98.5, 96.9, 97.1),  # new low 96.9: range 2.5 ATR
    ])
    leg = tracker.impulse
    assert leg.side is Side.SELL and leg.active and leg.counts
    assert leg.start_price == 99.4 and leg.extreme_price == 96.9
    assert leg.range_atr == pytest.approx(2.5)
    assert tracker.pullback(98.05, 0.1)  # below VAL, within 0.1 of the 98.0 LVN
    assert not tracker.pullback(98.3, 0.1)  # too far from the LVN
    tracker.on_bar(minute_bar(4, 97.1, 97.8, 97.0, 97.7), 1.0)  # 0.8 back up by close
    assert not tracker.impulse.active and tracker.impulse.counts


def test_pullback_needs_lvn_band_and_price_beyond_the_balance_edge():
    profile = FakeProfile({end_of(4): (101.05, 102.0)})
    tracker, _ = make(profile)
    assert not tracker.pullback(102.0, 0.2)  # no leg yet
    feed(tracker, UP_LEG[:5])
    assert tracker.pullback(101.9, 0.2)
    assert tracker.pullback(102.25, 0.25)  # band edge is inclusive
    assert not tracker.pullback(102.3, 0.25)
    assert tracker.pullback(101.1, 0.1)  # near the low LVN, still above VAH 101
    assert not tracker.pullback(100.95, 0.2)  # within the band of 101.05 but back inside the balance
    feed(tracker, UP_LEG[5:])
    assert not tracker.impulse.active
    assert tracker.pullback(102.0, 0.2)  # an ended counting leg can still be traded


def test_uncounted_leg_gives_no_pullback():
    profile = FakeProfile({end_of(3): (101.6,)})
    tracker, _ = make(profile)
    feed(tracker, UP_LEG[:4])
    assert tracker.impulse.lvns and not tracker.impulse.counts
    assert not tracker.pullback(101.6, 0.2)


def test_new_leg_replaces_the_kept_one_after_a_close_inside():
    tracker, _ = make()
    feed(tracker, UP_LEG)
    assert tracker.impulse.side is Side.BUY and not tracker.impulse.active
    tracker.on_bar(minute_bar(7, 102.2, 102.3, 100.3, 100.5), 1.0)  # closes back inside
    assert tracker.impulse.side is Side.BUY  # kept until a new leg starts
    tracker.on_bar(minute_bar(8, 100.5, 100.6, 98.2, 98.4), 1.0)  # breaks down
    leg = tracker.impulse
    assert leg.side is Side.SELL and leg.active and leg.start_ns == T0 + 7 * NS_PER_MIN


def test_ended_leg_does_not_restart_without_a_new_inside_close():
    tracker, _ = make()
    feed(tracker, UP_LEG)
    ended = tracker.impulse
    tracker.on_bar(minute_bar(7, 102.2, 103.5, 102.1, 103.4), 1.0)  # new high while still above VAH
    assert tracker.impulse == ended


def test_no_leg_without_inside_close_atr_or_balance():
    tracker, _ = make()
    feed(tracker, [minute_bar(0, 102.0, 102.5, 101.9, 102.4), minute_bar(1, 102.4, 104.0, 102.3, 103.9)])
    assert tracker.impulse is None  # opened beyond the balance: nothing closed inside
    tracker, _ = make()
    feed(tracker, UP_LEG[:4], atr=math.nan)
    assert tracker.impulse is None
    tracker, _ = make()
    tracker.set_balance(math.nan, math.nan)
    feed(tracker, UP_LEG[:4])
    assert tracker.impulse is None


def test_reset_forgets_legs_and_keeps_the_balance():
    tracker, _ = make()
    feed(tracker, UP_LEG[:5])
    tracker.reset()
    assert tracker.impulse is None and tracker.balance == (99.0, 101.0)
    feed(tracker, UP_LEG[2:5])  # no inside close since the reset: no leg
    assert tracker.impulse is None


def test_bad_balance_is_named():
    tracker, _ = make()
    with pytest.raises(ValueError, match="balance low 102"):
        tracker.set_balance(102.0, 101.0)
