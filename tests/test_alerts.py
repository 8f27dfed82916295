"""LVN alerts (STRATEGY.md section 6): one alert per approach, re-arm beyond 2x band."""
import math
import random

import pytest

from engine.analytics.alerts import LvnAlertTracker
from engine.config import StrategyParams

NAN = float("nan")


def prices(tracker: LvnAlertTracker, seq, atr=NAN):
    """Feed prices; return one list of (lvn_price, direction) per price."""
    out = []
    for i, p in enumerate(seq):
        out.append([(a.lvn_price, a.direction) for a in tracker.on_price(p, i, atr)])
    return out


def pct_tracker(levels=((100.0, "session"),)) -> LvnAlertTracker:
    tracker = LvnAlertTracker("SPY", StrategyParams())  # 0.5% of price
    tracker.set_levels(list(levels))
    return tracker


def test_band_in_both_modes():
    pct = LvnAlertTracker("SPY", StrategyParams(lvn_alert_atr=0))  # the % band (the default is the ATR band)
    assert pct.band(200.0, 1.0) == pytest.approx(1.0)  # 0.5% of 200, ATR ignored
    atr = LvnAlertTracker("SPY", StrategyParams(lvn_alert_atr=0.25))
    assert atr.band(200.0, 2.0) == pytest.approx(0.5)
    assert atr.band(200.0, NAN) == pytest.approx(1.0)  # ATR unknown: percent of price
    assert atr.band(200.0, 0.0) == pytest.approx(1.0)


def test_approach_from_above_fires_once_with_its_numbers():
    tracker = pct_tracker()
    alerts = tracker.on_price(101.0, 1, NAN)
    assert alerts == []
    (alert,) = tracker.on_price(100.45, 2, NAN)  # band 0.50225 at this price
    assert alert.symbol == "SPY" and alert.ts_ns == 2 and alert.price == 100.45
    assert alert.lvn_price == 100.0 and alert.source == "session"
    assert alert.direction == "from_above"
    assert alert.distance_pct == pytest.approx(0.45)
    assert math.isnan(alert.distance_atr)


def test_staying_in_the_band_and_near_it_fires_nothing_more():
    tracker = pct_tracker()
    got = prices(tracker, [100.45, 100.2, 100.0, 99.6, 100.9, 99.1, 100.45])
    assert got[0] == [(100.0, "from_above")]
    assert got[1:] == [[]] * 6  # within 2x the band (about 1%): still the same approach


def test_leaving_twice_the_band_rearms():
    tracker = pct_tracker()
    got = prices(tracker, [100.45, 101.05, 100.45, 98.9, 99.6])
    # at 101.05 the distance 1.05 exceeds 2x band (1% of 101.05 = 1.0105): re-armed
    assert got == [[(100.0, "from_above")], [], [(100.0, "from_above")], [], [(100.0, "from_below")]]


def test_approach_from_below():
    tracker = pct_tracker()
    got = prices(tracker, [98.0, 99.0, 99.6, 99.9])
    assert got == [[], [], [(100.0, "from_below")], []]
    (alert,) = pct_tracker().on_price(99.6, 5, 2.0)
    assert alert.distance_pct == pytest.approx(0.4)
    assert alert.distance_atr == pytest.approx(0.2)


def test_atr_band_mode():
    tracker = LvnAlertTracker("TSLA", StrategyParams(lvn_alert_atr=0.25))
    tracker.set_levels([(100.0, "previous")])
    atr = 2.0  # band 0.5, re-arm beyond 1.0
    assert tracker.on_price(100.75, 1, atr) == []
    (alert,) = tracker.on_price(100.5, 2, atr)  # the band edge is inside
    assert alert.source == "previous" and alert.distance_atr == pytest.approx(0.25)
    assert alert.distance_pct == pytest.approx(0.5)
    assert tracker.on_price(101.0, 3, atr) == []  # exactly 2x band: not re-armed yet
    assert tracker.on_price(100.4, 4, atr) == []
    assert tracker.on_price(101.01, 5, atr) == []  # beyond 2x band: re-armed
    assert len(tracker.on_price(100.4, 6, atr)) == 1


def test_atr_change_moves_the_band():
    tracker = LvnAlertTracker("TSLA", StrategyParams(lvn_alert_atr=0.25))
    tracker.set_levels([(100.0, "session")])
    assert tracker.on_price(100.3, 1, 0.4) == []  # band 0.1
    assert tracker.on_price(100.3, 2, 0.4) == []
    assert len(tracker.on_price(100.3, 3, 2.0)) == 1  # ATR grew: band 0.5 now covers 100.3


def test_atr_mode_falls_back_to_percent_until_atr_is_known():
    tracker = LvnAlertTracker("TSLA", StrategyParams(lvn_alert_atr=0.25))
    tracker.set_levels([(100.0, "session")])
    assert tracker.on_price(100.6, 1, NAN) == []  # 0.5% of 100.6 = 0.503 < 0.6
    (alert,) = tracker.on_price(100.45, 2, NAN)
    assert math.isnan(alert.distance_atr)


def test_two_levels_in_the_band_both_fire_and_sources_are_separate():
    tracker = pct_tracker([(100.0, "session"), (100.2, "impulse"), (100.0, "previous")])
    got = tracker.on_price(100.1, 1, NAN)
    assert sorted((a.lvn_price, a.source, a.direction) for a in got) == [
        (100.0, "previous", "from_above"),
        (100.0, "session", "from_above"),
        (100.2, "impulse", "from_below"),
    ]


def test_set_levels_keeps_arm_state_of_persisting_levels():
    tracker = pct_tracker([(100.0, "session"), (110.0, "session")])
    assert len(tracker.on_price(100.1, 1, NAN)) == 1
    tracker.set_levels([(100.0, "session"), (110.0, "session"), (90.0, "previous")])
    assert tracker.on_price(100.1, 2, NAN) == []  # same LVN, same approach
    assert dict(((p, s), a) for p, s, a in tracker.levels) == {
        (100.0, "session"): False,
        (110.0, "session"): True,
        (90.0, "previous"): True,
    }
    # the same price from another source is another level, armed
    tracker.set_levels([(100.0, "session"), (100.0, "impulse")])
    armed = {(p, s): a for p, s, a in tracker.levels}
    assert armed[(100.0, "session")] is False


def test_new_level_at_the_current_price_starts_as_touched():
    tracker = pct_tracker()
    assert len(tracker.on_price(100.1, 1, NAN)) == 1
    tracker.set_levels([(100.25, "session")])  # the LVN moved a bin as the profile developed
    assert tracker.on_price(100.2, 2, NAN) == []
    assert tracker.on_price(102.0, 3, NAN) == []  # leaves: re-armed
    assert len(tracker.on_price(100.5, 4, NAN)) == 1
    tracker.set_levels([(100.5, "session"), (105.0, "session")])  # 105 is far: armed
    assert [a.lvn_price for a in tracker.on_price(104.8, 5, NAN)] == [105.0]


def test_levels_before_any_price_are_armed():
    tracker = pct_tracker()
    assert len(tracker.on_price(100.0, 1, NAN)) == 1


def test_bad_levels_are_named():
    tracker = LvnAlertTracker("SPY", StrategyParams())
    with pytest.raises(ValueError, match="'weekly'"):
        tracker.set_levels([(100.0, "weekly")])
    with pytest.raises(ValueError, match="nan"):
        tracker.set_levels([(NAN, "session")])
    with pytest.raises(ValueError, match="not \\(price, source\\)"):
        tracker.set_levels([(100.0,)])


def _reference(levels, trades, params):
    """Straightforward rule, recomputing every band per trade, to check the fast path."""
    helper = LvnAlertTracker("X", params)
    armed = {lv: True for lv in levels}
    out = []
    for p, atr in trades:
        b = helper.band(p, atr)
        fired = []
        for lv in levels:
            d = abs(p - lv[0])
            if armed[lv] and d <= b:
                armed[lv] = False
                fired.append(lv)
            elif not armed[lv] and d > 2 * b:
                armed[lv] = True
        out.append(sorted(fired))
    return out


@pytest.mark.parametrize("atr_mult", [0.0, 0.25])
def test_fast_path_matches_the_plain_rule_on_a_random_walk(atr_mult):
    rng = random.Random(11)
    params = StrategyParams(lvn_alert_atr=atr_mult)
    levels = [(round(rng.uniform(95, 105), 2), rng.choice(["session", "previous", "impulse"])) for _ in range(12)]
    levels = sorted(set(levels))
    trades, p, atr = [], 100.0, NAN
    for i in range(20_000):
        p += rng.gauss(0, 0.05)
        if i % 500 == 499:
            atr = rng.uniform(0.2, 1.5)  # ATR changes once a "bar"
        trades.append((p, atr))
    tracker = LvnAlertTracker("X", params)
    tracker.set_levels(levels)
    got = [sorted((a.lvn_price, a.source) for a in tracker.on_price(p, i, atr)) for i, (p, atr) in enumerate(trades)]
    expected = _reference(levels, trades, params)
    assert got == expected
    assert sum(map(len, got)) > 20  # the walk really approached levels
