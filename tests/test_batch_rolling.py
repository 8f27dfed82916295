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
    """(slid bar by bar, all at once with the blocks left slid, the blocks left) of the
    bars' rolling POC, VAH, VAL."""
    bs = resolve_bin_size(params, float(bars.open[0]))
    minute = bars.ts_ns - bars.ts_ns % NS_PER_MIN
    i0 = np.floor(bars.low / bs + 1e-6).astype(np.int64)
    i1 = np.floor(bars.high / bs + 1e-6).astype(np.int64)
    add = batch._spread_adder(i0, i1, volume_units_list(bars.volume), bars.volume > 0.0)
    fast = rolling_value_areas(minute, i0, i1, bars.volume, bs, params)
    assert fast is not None
    *out, left = fast
    for rows in left:
        batch._rolling_stats(minute, bs, params, add, rows, out)
    return batch._rolling_stats(minute, bs, params, add), out, left


def assert_equal(slid, fast):
    for name, a, b in zip(("poc", "vah", "val"), slid, fast):
        assert np.array_equal(a, b, equal_nan=True), (name, np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))[:5])


@pytest.mark.usefixtures("synthetic_cache")
def test_every_window_at_once_on_the_bench_stock_year_in_part():
    from engine.backtest.data import synthetic_bars

    bars = synthetic_bars("BENCH", 15, 7)
    bars.vap = None  # (bench_backtest.py's CSV: plain bars)
    slid, fast, left = both(bars, StrategyParams())
    assert not left
    assert_equal(slid, fast)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("lookback, pct, bin_size", [(60, 70.0, "auto"), (1, 50.0, "auto"), (240, 99.9, "auto"),
                                                     (5, 100.0, 0.5), (30, 10.0, "auto")])
def test_every_window_at_once_on_drawn_bars(seed, lookback, pct, bin_size):
    bars = drawn_bars(seed)
    params = StrategyParams(lookback_minutes=lookback, value_area_pct=pct, bin_size=bin_size)
    slid, fast, _ = both(bars, params)
    assert_equal(slid, fast)


def drawn_bars(seed: int):
    rng = np.random.default_rng(seed)
    return make_bars(seed, ["us_equity", "24h_utc"][seed % 2], 3, float(rng.choice([0.0, 0.02, 0.3])),
                     float(rng.choice([0.0, 0.01])), seed % 3 == 0, float(rng.choice([0.0003, 0.001, 0.004])),
                     float(rng.choice([0.0, 0.05, 0.2])))


def test_windows_whose_numbers_need_python_integers_are_left_to_the_slide():
    """Drawn bars spanning up to hundreds of bins: some blocks' common multiple of
    their spreads is beyond int64, those windows are slid, the others worked out at once."""
    fully, partly = 0, 0
    for seed in range(20):
        bars = drawn_bars(seed)
        slid, fast, left = both(bars, StrategyParams())
        assert_equal(slid, fast)
        n_left = sum(b - a for a, b in left)
        fully += n_left == 0
        partly += 0 < n_left < len(bars)
    assert fully >= 9 and partly >= 3


@pytest.mark.parametrize("name", ["btcusdt_perp_202201_bars_1m.csv", "6eh4_202401_bars_1m.csv.gz"])
@pytest.mark.parametrize("bin_size", ["auto", 10.0])
def test_every_window_on_the_shared_bar_files(shared_data, name, bin_size):
    """BTC's volumes reach 1e17 units: a block's sum of them would wrap in int64."""
    from engine.backtest.data import load_dataset

    bars = next(iter(load_dataset([str(shared_data(name))]).series.values()))
    if name.startswith("6e") and bin_size == 10.0:
        bin_size = 0.0005  # (a finer grid for the euro: its prices are near 1.1)
    slid, fast, left = both(bars, StrategyParams(bin_size=bin_size))
    assert_equal(slid, fast)
    assert sum(b - a for a, b in left) < len(bars)  # (BTC: some windows need Python integers)


@pytest.mark.usefixtures("synthetic_cache")
@pytest.mark.parametrize("spec", ["synthetic:SPY:6:7", "synthetic:TSLA:6:3"])
def test_every_window_at_once_with_volume_at_price(spec, monkeypatch):
    """The simulator's bars carry their volume at price (some bars none): the batch's
    columns equal with the windows at once and slid bar by bar."""
    from engine.analytics.session import SessionCalendar
    from engine.backtest.data import load_dataset

    bars = next(iter(load_dataset([spec]).series.values()))
    assert bars.vap is not None and any(bars.vap)
    args = (bars.ts_ns, bars.open, bars.high, bars.low, bars.close, bars.volume, StrategyParams(),
            SessionCalendar("us_equity"), bars.buy_volume, bars.sell_volume, bars.vap, bars.vwap)
    real, seen = batch.rolling_value_areas, []

    def spied(*a, **k):
        seen.append(real(*a, **k))
        return seen[-1]

    monkeypatch.setattr(batch, "rolling_value_areas", spied)
    fast = batch.analyze_bars_arrays(*args)
    assert seen[0] is not None and not seen[0][3]  # every window at once
    monkeypatch.setattr(batch, "rolling_value_areas", lambda *a, **k: None)  # the slide for every bar
    slid = batch.analyze_bars_arrays(*args)
    assert_equal([slid[c] for c in ("poc", "vah", "val")], [fast[c] for c in ("poc", "vah", "val")])
