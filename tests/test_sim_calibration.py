"""Issue 16, "numbers you can believe": the simulator's one-minute returns have the
stylised facts of the shared real bars (BTCUSDT perpetual 2022-01, CME 6EH4 2024-01),
in bands derived from those files: no autocorrelation of returns at lag 1, fat tails,
volatility clustering that decays, no trend or reversion at 5 and 30 minutes (the
free money the uncalibrated simulator handed out: lag-1 autocorrelation 0.5,
variance ratio 2), volume that rises with volatility and, for the stock session, a
U-shaped volume curve. A small seeded sample (3 symbols x 20 sessions, bars-only);
``benchmarks/sim_calibration.py`` prints the full table."""
from __future__ import annotations

import numpy as np
import pytest

from engine.analytics.return_stats import autocorr, bar_stats, excess_kurtosis, one_minute_returns, variance_ratio
from engine.backtest.data import synthetic_bars
from engine.feeds.loaders import load_bars
from tests.shared_data import shared_file

NS_MIN = 60_000_000_000
REAL_FILES = {"btc": ("btcusdt_perp_202201_bars_1m.csv", 0), "6e": ("6eh4_202401_bars_1m.csv.gz", 3_600_000_000_000)}
SIM_SYMBOLS = ("SPY", "QQQ", "TSLA")
SIM_DAYS = 20
SEED = 7


@pytest.fixture(scope="module")
def real():
    """The real files' statistics (module-scoped: read once; shared_file fails naming a missing file)."""
    out = {}
    for key, (name, offset) in REAL_FILES.items():
        b = load_bars(shared_file(name))
        out[key] = bar_stats(b.ts_ns, b.close, b.volume, 60, offset)
    return out


@pytest.fixture(scope="module")
def sim():
    out = {}
    for sym in SIM_SYMBOLS:
        b = synthetic_bars(sym, SIM_DAYS, SEED, cache=False)
        out[sym] = bar_stats(b.ts_ns, b.close, b.volume, 30)
    return out


# ----------------------------------------------------------------------------- the statistics


def test_returns_only_between_bars_a_minute_apart():
    ts = np.array([0, 1, 2, 5, 6]) * NS_MIN
    r = one_minute_returns(ts, np.array([100.0, 101.0, 100.0, 200.0, 202.0]))
    assert np.isnan(r[0]) and np.isnan(r[3])  # the first bar, and the gap 2 -> 5
    assert r[1] == pytest.approx(np.log(1.01)) and r[4] == pytest.approx(np.log(1.01))


def test_statistics_of_known_series():
    rng = np.random.default_rng(1)
    iid = rng.standard_normal(50_000)
    assert abs(autocorr(iid, 1)) < 0.02 and abs(excess_kurtosis(iid)) < 0.1
    assert variance_ratio(iid, 5) == pytest.approx(1.0, abs=0.05)
    trend = np.convolve(iid, np.ones(5), mode="same")  # overlapping sums: strongly autocorrelated
    assert autocorr(trend, 1) > 0.7 and variance_ratio(trend, 5) > 3
    t = rng.standard_t(3, 50_000)
    assert excess_kurtosis(t) > 3


def test_volume_curve_by_session_and_bucket():
    minutes = np.tile(np.arange(390), 3) + np.repeat(np.arange(3) * 1440, 390)
    ts = (minutes + 13 * 60 + 30) * NS_MIN  # three sessions from 13:30 UTC
    vol = np.where(minutes % 1440 < 30, 3.0, 1.0)
    s = bar_stats(ts, 100 + np.cumsum(np.ones(len(ts))) * 0.01, vol, 30)
    assert len(s.volume_curve) == 13 and s.open_ratio == pytest.approx(3.0) and s.close_ratio == pytest.approx(1.0)


# ----------------------------------------------------------------------------- the real files: the bands' source


def test_the_real_bars_show_the_stylised_facts(real):
    for key, s in real.items():
        assert abs(s.acf_r1) < 0.05, key
        assert s.excess_kurtosis > 10, key
        assert s.acf_abs[0] > 0.2 and 0.1 < s.acf_abs[9] < s.acf_abs[0], key
        assert 0.85 < s.variance_ratio[5] < 1.15 and 0.8 < s.variance_ratio[30] < 1.2, key
        assert s.volume_abs_corr > 0.4, key


# ----------------------------------------------------------------------------- the simulator, in bands from them


def _span(real, get):
    values = [get(s) for s in real.values()]
    return min(values), max(values)


def test_no_autocorrelation_of_returns(real, sim):
    _, hi = _span(real, lambda s: abs(s.acf_r1))
    for sym, s in sim.items():
        assert abs(s.acf_r1) < hi + 0.08, (sym, s.acf_r1)  # real: |acf| <= 0.02; uncalibrated: 0.5


def test_no_trend_or_reversion_at_5_and_30_minutes(real, sim):
    for k, slack in ((5, 0.2), (30, 0.3)):
        lo, hi = _span(real, lambda s: s.variance_ratio[k])
        for sym, s in sim.items():
            assert lo - slack < s.variance_ratio[k] < hi + slack, (sym, k, s.variance_ratio[k])  # uncalibrated: 2+


def test_fat_tails(real, sim):
    lo, hi = _span(real, lambda s: s.excess_kurtosis)
    for sym, s in sim.items():
        assert lo / 5 < s.excess_kurtosis < hi * 3, (sym, s.excess_kurtosis)


def test_volatility_clusters_and_the_clustering_decays(real, sim):
    lo1, hi1 = _span(real, lambda s: s.acf_abs[0])
    lo10, _ = _span(real, lambda s: s.acf_abs[9])
    for sym, s in sim.items():
        assert lo1 * 0.6 < s.acf_abs[0] < hi1 * 1.5, (sym, s.acf_abs)
        assert lo10 * 0.4 < s.acf_abs[9] < s.acf_abs[0], (sym, s.acf_abs)  # positive, decaying


def test_volume_rises_with_volatility(real, sim):
    lo, _ = _span(real, lambda s: s.volume_abs_corr)
    for sym, s in sim.items():
        assert s.volume_abs_corr > lo / 3, (sym, s.volume_abs_corr)


def test_the_stock_session_volume_curve_is_u_shaped(sim):
    """No real US-stock minute bars are shipped (the real files trade around the clock),
    so the shape is the published one: the first and last half hours busier than midday."""
    for sym, s in sim.items():
        assert s.open_ratio > 1.2 and s.close_ratio > 1.1, (sym, s.volume_curve)
