"""Market state at chosen bars (analytics/states_at.py) is the batch's state
column at those bars, exactly: seeded and hypothesis-drawn bar series (with
malformed rows, gaps, zero volumes, thresholds that let every bar be an
imbalance) and both shared bar files. And the breakdown by market state that
uses it labels a backtest's trades as the batch would."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.analytics.batch import analyze_bars_arrays
from engine.analytics.session import SessionCalendar
from engine.analytics import states_at
from engine.analytics.states_at import bar_states_at
from engine.backtest import breakdown as B
from engine.backtest import metrics as M
from engine.backtest.data import load_dataset
from engine.backtest.runner import backtest_config
from engine.config import StrategyParams
from engine.model import NS_PER_MIN

T0 = 1_709_649_000 * 10**9  # 2024-03-05 09:30 ET


def bars(seed: int, n: int, bad: bool = True):
    rng = np.random.default_rng(seed)
    gaps = rng.choice([1, 1, 1, 1, 2, 7, 90], size=n)
    ts = T0 + np.cumsum(gaps) * NS_PER_MIN + rng.integers(0, 50, size=n) * 10**9
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, size=n)))
    o = np.r_[c[0], c[:-1]] * (1 + rng.normal(0, 0.0005, size=n))
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.001, size=n)))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.001, size=n)))
    v = np.round(rng.exponential(500, size=n)) * (rng.random(n) > 0.05)
    if bad:  # rows the batch skips: NaN, a low above the open, a minute back in time
        o[n // 7] = np.nan
        lo[n // 5] = o[n // 5] * 1.01
        ts[n // 3] = ts[n // 3 - 1] - NS_PER_MIN
    return ts.astype(np.int64), o, h, lo, c, v


def same_states(ts, o, h, lo, c, v, params, wanted=None):
    ref = analyze_bars_arrays(ts, o, h, lo, c, v, params, SessionCalendar("24h_utc"))
    n = ref["ts"].size
    wanted = list(range(n)) if wanted is None else wanted
    minute, got = bar_states_at(ts, o, h, lo, c, v, params, wanted)
    np.testing.assert_array_equal(minute, ref["ts"])
    assert {k: got[k] for k in wanted if 0 <= k < n} == {k: int(ref["state"][k]) for k in wanted if 0 <= k < n}
    return ref


@pytest.mark.parametrize("seed, slid, lcm_loop", [(1, False, False), (2, False, False), (3, False, False),
                                                  (1, True, False), (2, False, True)])
def test_every_bar_equals_the_batch(seed, slid, lcm_loop, monkeypatch):
    if slid:  # the DenseProfile slid bar by bar, the path for windows whose numbers do not fit in int64
        monkeypatch.setattr(states_at, "_MAX_CELLS", 0)
    if lcm_loop:  # each window's lcm one by one, the path for bars wider than 42 bins
        monkeypatch.setattr(states_at, "_LCM_SAFE_WIDTH", 0)
    params = StrategyParams(lookback_minutes=30, momentum_threshold=0.3, momentum_bars=5, atr_period=5)
    ref = same_states(*bars(seed, 1500), params)
    assert set(ref["state"].tolist()) == {-1, 0, 1} and ref["rejected"].size == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 400), lookback=st.integers(1, 120),
       thr=st.sampled_from([0.0, 0.1, 0.5, 2.0]), bins=st.sampled_from(["auto", 0.01, 0.05]),
       picks=st.lists(st.integers(-3, 420), max_size=40))
def test_chosen_bars_equal_the_batch(seed, n, lookback, thr, bins, picks):
    params = StrategyParams(lookback_minutes=lookback, momentum_threshold=thr, momentum_bars=3, atr_period=4,
                            bin_size=bins)
    same_states(*bars(seed, n, bad=n > 10), params, sorted(picks))


@pytest.mark.parametrize("name", ["btcusdt_perp_202201_bars_1m.csv", "6eh4_202401_bars_1m.csv.gz"])
def test_shared_bar_files_equal_the_batch(shared_data, name):
    ds = load_dataset([str(shared_data(name))], None, None, None, False, None)
    s = ds.series[ds.symbols[0]]
    ref = same_states(s.ts_ns, s.open, s.high, s.low, s.close, s.volume, StrategyParams())
    assert set(ref["state"].tolist()) == {-1, 0, 1}


def test_the_breakdown_labels_trades_with_the_batch_state():
    ds = load_dataset(["synthetic:SPY:3:7"])
    s = ds.series["SPY"]
    plain = dataclasses.replace(s, vap=None)  # plain bars: the batch's branch of the breakdown
    ds.series["SPY"] = plain
    cfg = backtest_config(None, ds.symbols, setup="auction")
    params = cfg.strategy.for_symbol("SPY")
    ref = analyze_bars_arrays(plain.ts_ns, plain.open, plain.high, plain.low, plain.close, plain.volume, params,
                              SessionCalendar(cfg.feed.session))
    ends = ref["ts"] + NS_PER_MIN
    entries = [int(e) + k for e in ends[::37].tolist() for k in (0, 1)]  # at a bar's end and just after
    trades = [M.TradeRecord("SPY", "long", 1, t, t + NS_PER_MIN, 1.0, 1.0, 0.0, 0.0, 0.0, "exit", "x")
              for t in entries]
    want = [B.STATE_NAMES[int(ref["state"][np.searchsorted(ends, t, side="right") - 1])] for t in entries]
    assert B.state_labels(trades, ds, cfg) == want
    assert len(set(want)) > 1


@pytest.mark.parametrize("kind", ["us_equity", "24h_utc", "24h_chicago"])
def test_name_at_is_info_name_and_in_rth(kind):
    """The breakdown's session windows read ``name_at``: the same name and RTH flag as ``info``."""
    cal = SessionCalendar(kind)
    start = 1_711_929_600 * 10**9  # 2024-04-01 00:00 UTC; ten days with a weekend, every 7 minutes and a second
    for ts in range(start, start + 10 * 86_400 * 10**9, 421 * 10**9):
        info = cal.info(ts)
        assert cal.name_at(ts) == (info.name, info.in_rth)


def test_no_lcm_of_bar_widths_up_to_the_safe_width_leaves_int64():
    """Issue 13: the windows' lcms are taken at once (np.lcm.reduceat) only for bars
    at most _LCM_SAFE_WIDTH bins wide, where any of them divides lcm(1..that)."""
    import math

    assert math.lcm(*range(1, states_at._LCM_SAFE_WIDTH + 1)) < states_at._INT_ROOM
