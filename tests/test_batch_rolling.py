"""The rolling profile's value area of every bar at once (batch_rolling.py) is the
one the batch analytics slide bar by bar (batch._rolling_stats, itself equal to
SymbolAnalytics: tests/test_batch_parity.py), to the last bit: on the bench's
simulated stock year and on drawn bars, lookbacks, value area percentages and
bin sizes; numbers that would need Python integers are left to the slide."""
from __future__ import annotations

import numpy as np
import pytest

from engine.analytics import batch
from engine.analytics.batch_rolling import rolling_value_areas
from engine.analytics.profile import resolve_bin_size, volume_units_list
from engine.config import StrategyParams
from engine.model import NS_PER_MIN
from tests.test_array_path import make_bars


def both(bars, params: StrategyParams):
    """(slid bar by bar, all at once) of the bars' rolling POC, VAH, VAL."""
    bs = resolve_bin_size(params, float(bars.open[0]))
    minute = bars.ts_ns - bars.ts_ns % NS_PER_MIN
    i0 = np.floor(bars.low / bs + 1e-6).astype(np.int64)
    i1 = np.floor(bars.high / bs + 1e-6).astype(np.int64)
    add = batch._spread_adder(i0, i1, volume_units_list(bars.volume), bars.volume > 0.0)
    return batch._rolling_stats(minute, bs, params, add), rolling_value_areas(minute, i0, i1, bars.volume, bs, params)


def assert_equal(slid, fast):
    assert fast is not None
    for name, a, b in zip(("poc", "vah", "val"), slid, fast):
        assert np.array_equal(a, b, equal_nan=True), (name, np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))[:5])


@pytest.mark.usefixtures("synthetic_cache")
def test_every_window_at_once_on_the_bench_stock_year_in_part():
    from engine.backtest.data import synthetic_bars

    bars = synthetic_bars("BENCH", 15, 7)
    bars.vap = None  # (bench_backtest.py's CSV: plain bars)
    assert_equal(*both(bars, StrategyParams()))


@pytest.mark.parametrize("seed", [0, 2, 3, 8, 10, 17, 20, 22, 26, 27, 31, 34, 38, 39])  # (the seeds whose numbers fit int64)
@pytest.mark.parametrize("lookback, pct, bin_size", [(60, 70.0, "auto"), (1, 50.0, "auto"), (240, 99.9, "auto"),
                                                     (5, 100.0, 0.5), (30, 10.0, "auto")])
def test_every_window_at_once_on_drawn_bars(seed, lookback, pct, bin_size):
    rng = np.random.default_rng(seed)
    session = ["us_equity", "24h_utc"][seed % 2]
    bars = make_bars(seed, session, 3, float(rng.choice([0.0, 0.02, 0.3])), float(rng.choice([0.0, 0.01])),
                     seed % 3 == 0, float(rng.choice([0.0003, 0.001, 0.004])), float(rng.choice([0.0, 0.05, 0.2])))
    params = StrategyParams(lookback_minutes=lookback, value_area_pct=pct, bin_size=bin_size)
    assert_equal(*both(bars, params))


def test_numbers_beyond_int64_are_left_to_the_slide():
    bars = make_bars(7, "24h_utc", 2, 0.0, 0.0, False, 0.004, 0.2)  # bars over up to hundreds of bins
    bars.volume[:] = bars.volume * np.random.default_rng(1).uniform(0.001, 3.0, len(bars))  # many decimals
    slid, fast = both(bars, StrategyParams())
    assert fast is None
    assert np.isfinite(slid[0]).any()
