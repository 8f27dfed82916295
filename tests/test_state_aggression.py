"""Market state (section 4) and aggression (section 5) by hand; arrays equal the
incremental trackers."""
import math

import numpy as np

from engine.analytics.aggression import AggressionTracker, aggression_array
from engine.analytics.state import classify_state, market_state, state_array
from engine.config import StrategyParams
from engine.model import MarketState, ProfileStats, Side

P = StrategyParams()


def test_state_rules():
    # POC 100, VA 99..101
    assert classify_state(100.5, 100.0, 101.0, 99.0, 0.0, P) == (MarketState.BALANCE, 0.5)
    assert classify_state(101.5, 100.0, 101.0, 99.0, 0.6, P)[0] is MarketState.IMBALANCE_UP
    assert classify_state(101.5, 100.0, 101.0, 99.0, 0.4, P)[0] is MarketState.BALANCE  # weak momentum
    assert classify_state(98.0, 100.0, 101.0, 99.0, -0.6, P)[0] is MarketState.IMBALANCE_DOWN
    assert classify_state(98.0, 100.0, 101.0, 99.0, 0.6, P)[0] is MarketState.BALANCE  # momentum the wrong way
    assert classify_state(101.5, 100.0, 101.0, 99.0, float("nan"), P)[0] is MarketState.BALANCE
    # inside the value area but >= 1% from the POC, no momentum: the "else" BALANCE
    s, d = classify_state(103.0, 100.0, 104.0, 96.0, 0.0, P)
    assert s is MarketState.BALANCE and d == 3.0
    st, dist = market_state(100.0, None, 1.0, P)
    assert st is MarketState.BALANCE and math.isnan(dist)
    ref = ProfileStats(bin_size=1.0, total_volume=1.0, poc=100.0, vah=101.0, val=99.0, value_area_volume=1.0)
    assert market_state(102.0, ref, 0.7, P)[0] is MarketState.IMBALANCE_UP


def test_state_array_matches():
    price = np.array([100.5, 101.5, 101.5, 98.0, 98.0, 103.0])
    mom = np.array([0.0, 0.6, 0.4, -0.6, np.nan, 0.0])
    poc = np.array([100.0] * 5 + [np.nan])
    code, dist = state_array(price, poc, np.full(6, 101.0), np.full(6, 99.0), mom, P)
    assert code.tolist() == [0, 1, 0, -1, 0, 0]
    assert dist[0] == 0.5 and np.isnan(dist[5])


def test_aggression_by_hand():
    a = AggressionTracker(P)
    # bar 1: delta 80 of 100 -> |80|/100 > 0.25 (+40); pressure 90 > 70 (+30); no volume ratio
    r = a.update(80.0, 100.0, float("nan"), 90.0, 10.0)
    assert (r.score, r.direction, r.cvd_change, r.pressure) == (70.0, Side.BUY, 80.0, 90.0)
    # bar 2: delta -100 of 300, volume ratio 3 (+30); window: cvd -20 over 400 -> 0.05 (no);
    # pressure sell 200/300 = 66.7 (no)
    r = a.update(-100.0, 300.0, 3.0, 100.0, 200.0)
    assert (r.score, r.direction, r.cvd_change) == (30.0, Side.SELL, -20.0)
    for _ in range(4):
        r = a.update(-50.0, 100.0, 1.0, 25.0, 75.0)
    # last 5 bars: -100, -50 x4 = -300 over 700 -> 0.43 (+40); sell pressure 75 (+30)
    assert (r.score, r.direction, r.cvd_change) == (70.0, Side.SELL, -300.0)


def test_aggression_array_equals_tracker():
    rng = np.random.default_rng(5)
    n = 300
    buy = rng.uniform(0, 100, n)
    sell = rng.uniform(0, 100, n)
    vol = buy + sell + rng.uniform(0, 5, n)
    vr = rng.uniform(0, 4, n)
    vr[0] = np.nan
    a = AggressionTracker(P)
    inc = [a.update(b - s, v, r, b, s) for b, s, v, r in zip(buy, sell, vol, vr)]
    score, direction, cvd = aggression_array(buy - sell, vol, vr, buy, sell, P)
    assert score.tolist() == [x.score for x in inc]
    assert cvd.tolist() == [x.cvd_change for x in inc]
    assert direction.tolist() == [1 if x.direction is Side.BUY else -1 for x in inc]
    assert set(score.tolist()) <= {0.0, 30.0, 40.0, 60.0, 70.0, 100.0}
