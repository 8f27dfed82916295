"""The minute bar builder's volume at price and range, against a plain recount
(the builder reuses the last print's price bin when a print repeats its price)."""
from __future__ import annotations

import math
import random

from engine.analytics.bars import MinuteBarBuilder
from engine.analytics.profile import BIN_EPS, bin_centre
from engine.model import NS_PER_MIN

T0 = 1_700_000_040 * 1_000_000_000 // NS_PER_MIN * NS_PER_MIN


def _expected(prints, bin_size):
    vap = {}
    for _, px, size in prints:
        i = math.floor(px / bin_size + BIN_EPS)
        vap[i] = vap.get(i, 0.0) + size
    return tuple((bin_centre(i, bin_size), vap[i]) for i in sorted(vap))


def test_bars_match_a_recount_when_prices_repeat_across_and_within_minutes():
    rng = random.Random(3)
    bin_size = 0.25
    b = MinuteBarBuilder("SPY", bin_size)
    minutes = []
    for m in range(6):
        # few distinct prices so most prints repeat the last one; a new minute opens
        # at the previous minute's close or away from it
        prints = [(T0 + m * NS_PER_MIN + k * 1_000_000, rng.choice((100.0, 100.1, 100.3, 101.0)), float(rng.randint(1, 9)))
                  for k in range(40)]
        minutes.append(prints)
    bars = []
    for prints in minutes:
        for ts, px, size in prints:
            closed = b.add(ts, px, size, 0)
            if closed is not None:
                bars.append(closed)
    bars.append(b.close_bar())
    assert len(bars) == len(minutes)
    for bar, prints in zip(bars, minutes):
        prices = [p for _, p, _ in prints]
        assert bar.vap == _expected(prints, bin_size)
        assert (bar.open, bar.high, bar.low, bar.close) == (prices[0], max(prices), min(prices), prices[-1])
        assert bar.volume == sum(s for _, _, s in prints) and bar.trades == len(prints)


def test_a_new_minute_at_the_last_price_starts_its_own_bins():
    b = MinuteBarBuilder("SPY", 1.0)
    b.add(T0, 100.0, 1.0, 0)
    b.add(T0 + 1, 105.0, 2.0, 0)  # the last print's bin is 105's
    first = b.add(T0 + NS_PER_MIN, 100.0, 3.0, 0)
    b.add(T0 + NS_PER_MIN + 1, 100.0, 4.0, 0)  # same price as the new minute's open
    second = b.close_bar()
    assert first.vap == ((100.5, 1.0), (105.5, 2.0))  # bin centres
    assert second.vap == ((100.5, 7.0),)
