"""Volume profile: hand-computed POC, value area (pairs rule), HVN/LVN, and the
numpy path equal to the incremental one."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import StrategyParams
from engine.analytics.profile import (
    VolumeProfile,
    auto_bin_size,
    bin_index,
    dense_stats,
    profile_from_arrays,
    profile_from_ranges,
    smooth,
    stats_from_arrays,
)

P1 = StrategyParams(smooth_bins=1)

def prof(volumes, start_bin=100, bin_size=1.0):
    p = VolumeProfile(bin_size)
    for k, v in enumerate(volumes):
        if v:
            p.add_bin(start_bin + k, float(v))
    return p


def test_bin_index_edges_and_auto_size():
    assert bin_index(20.01, 0.01) == 2001  # 20.01/0.01 = 2000.9999999999998
    assert bin_index(20.0099, 0.01) == 2000
    assert bin_index(4800.25, 0.25) == 19201
    assert auto_bin_size(450.0) == 0.25
    assert auto_bin_size(20.0) == 0.01
    assert auto_bin_size(61800.0) == 25.0
    assert auto_bin_size(1.1) == 0.0005
    with pytest.raises(ValueError, match="positive finite price"):
        auto_bin_size(float("nan"))


def test_poc_tie_goes_to_the_middle_then_the_lower_price():
    s = prof([10, 1, 10, 1, 10]).stats(P1)
    assert s.poc == 102.5  # the middle one of three equal bins
    s = prof([10, 1, 1, 10]).stats(P1)
    assert s.poc == 100.5  # both ends equally far from the middle: the lower price


def test_value_area_at_an_edge_takes_what_is_left():
    # POC is the top bin: nothing above, pairs come from below
    s = prof([1, 2, 3, 4, 10]).stats(P1)
    assert s.poc == 104.5
    assert (s.val, s.vah) == (102.0, 105.0)
    assert s.value_area_volume == 17.0
    assert (s.low, s.high, s.total_volume) == (100.0, 105.0, 20.0)


def test_value_area_pairs_rule_tie_adds_above_and_single_bin_pair():
    # bins from 10.0 in 0.5 steps; POC 20 at index 3. total 38, target 26.6
    # up pair 3+3 = down pair 1+5 -> tie adds above (26); then up is only the
    # last bin (1) vs down 1+5 -> below (32)
    p = prof([5, 5, 1, 20, 3, 3, 1], start_bin=20, bin_size=0.5)
    s = p.stats(StrategyParams(smooth_bins=1))
    assert s.poc == 11.75
    assert s.val == 10.5 and s.vah == 13.0
    assert s.value_area_volume == 32.0
    # a single-bin comparison would have stopped elsewhere: make sure we did not
    assert s.vah != 12.5


LVN_HIST = [10, 50, 60, 50, 5, 50, 70, 80, 50, 12, 9, 10, 8, 3, 40, 30]


def test_two_clear_lvns_and_a_shallow_dip_that_does_not_count():
    s = prof(LVN_HIST).stats(P1)
    # mean of non-empty bins 537/16 = 33.5625 -> LVN cap 11.75; POC 80 -> min prominence 12
    # bin 4 (5): prominence min(60, 80) - 5 = 55 -> LVN
    # bin 10 (9): left peak 80 but right only 10 before the deeper 8 -> prominence 1 -> no
    # bin 13 (3): prominence min(80, 40) - 3 = 37 -> LVN
    assert [(n.price, n.volume) for n in s.lvns] == [(104.5, 5.0), (113.5, 3.0)]
    # HVNs: bin 2 (60, prominence 60 - max(10, 5) = 50) and bin 7 (POC 80); bin 14 is too small
    assert [(n.price, n.volume) for n in s.hvns] == [(102.5, 60.0), (107.5, 80.0)]
    # value area: 80 -> +70+50 (below) -> +50+12 (above) -> +5+50 (below) -> +60+50 (below)
    assert (s.val, s.vah, s.value_area_volume) == (101.0, 110.0, 427.0)
    assert s.poc == 107.5


def test_lvn_thresholds_are_the_parameters():
    strict = StrategyParams(smooth_bins=1, lvn_prominence=0.5)  # needs 40 of prominence
    assert [n.price for n in prof(LVN_HIST).stats(strict).lvns] == [104.5]
    tight = StrategyParams(smooth_bins=1, lvn_ratio=0.1)  # cap 3.36: only the 3
    assert [n.price for n in prof(LVN_HIST).stats(tight).lvns] == [113.5]


def test_smoothing_truncates_the_window_at_the_edges():
    assert smooth(np.array([3.0, 6, 9, 3]), 3).tolist() == [4.5, 6.0, 6.0, 6.0]
    assert smooth(np.array([3.0, 6, 9, 3]), 2).tolist() == [4.5, 7.5, 6.0, 3.0]
    s = prof(LVN_HIST).stats(StrategyParams())  # smooth_bins=3
    # smoothed: bin 4 = (50+5+50)/3 = 35 -> no longer below the cap; bin 13 = (8+3+40)/3 = 17
    assert all(n.volume <= 0.35 * 537 / 16 for n in s.lvns)


def test_empty_bins_inside_the_range_are_in_the_histogram():
    p = VolumeProfile(0.25)
    p.add(100.0, 5)
    p.add(101.0, 3)
    s = p.stats(P1)
    assert [v for _, v in s.histogram] == [5.0, 0.0, 0.0, 0.0, 3.0]
    assert s.histogram[1][0] == 100.375
    assert VolumeProfile(1.0).stats(P1) is None


def test_add_range_spreads_evenly_and_merge_subtract_round_trip():
    p = VolumeProfile(0.5)
    p.add_range(10.0, 11.2, 90.0)  # bins 20, 21, 22
    assert p.bins == {20: 30.0, 21: 30.0, 22: 30.0}
    q = VolumeProfile(0.5)
    q.add(10.6, 7.0)
    p.merge(q)
    assert p.bins[21] == 37.0
    p.subtract(q)
    assert p.bins == {20: 30.0, 21: 30.0, 22: 30.0}
    p.subtract({20: 30.0})
    assert 20 not in p.bins
    lo, hist = profile_from_ranges(np.array([10.0, 10.4]), np.array([11.2, 10.4]), np.array([90.0, 4.0]), 0.5)
    assert lo == 20 and hist.tolist() == [34.0, 30.0, 30.0]


def test_numpy_path_equals_incremental_on_real_trades(shared_data):
    d = np.genfromtxt(shared_data("btcusdt_perp_20240808_trades.csv"), delimiter=",", names=True)
    for bs in (0.5, 5.0, 25.0):
        p = VolumeProfile(bs)
        for price, size in zip(d["price"].tolist(), d["size"].tolist()):
            p.add(price, size)
        params = StrategyParams()
        assert p.stats(params) == stats_from_arrays(d["price"], d["size"], bs, params)
    lo, hist = profile_from_arrays(d["price"], d["size"], 25.0)
    assert hist.sum() == pytest.approx(d["size"].sum())


volumes = st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=60).filter(lambda v: any(v))


@settings(max_examples=200, deadline=None)
@given(volumes, st.floats(min_value=1, max_value=100), st.integers(1, 5))
def test_property_value_area_brackets_poc_and_holds_enough(vols, pct, smooth_bins):
    params = StrategyParams(value_area_pct=pct, smooth_bins=smooth_bins)
    s = prof(vols, start_bin=400, bin_size=0.25).stats(params)
    assert s.val <= s.poc <= s.vah
    assert s.low <= s.val and s.vah <= s.high
    assert s.value_area_volume >= pct / 100.0 * s.total_volume - 1e-9
    assert s.total_volume == sum(vols)
    for n in s.lvns + s.hvns:
        assert s.low < n.price < s.high


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(10, 20), st.floats(0, 3), st.floats(0.5, 100)), min_size=1, max_size=30))
def test_property_profile_of_concatenated_ranges_is_the_sum(bars):
    whole = VolumeProfile(0.05)
    parts = [VolumeProfile(0.05), VolumeProfile(0.05)]
    half = len(bars) // 2
    for k, (low, width, vol) in enumerate(bars):
        whole.add_range(low, low + width, vol)
        parts[k >= half].add_range(low, low + width, vol)
    summed = parts[0].copy()
    summed.merge(parts[1])
    assert summed.bins.keys() == whole.bins.keys()
    for i in whole.bins:
        assert summed.bins[i] == pytest.approx(whole.bins[i], rel=1e-12)
    lows = np.array([b[0] for b in bars])
    lo, hist = profile_from_ranges(lows, lows + np.array([b[1] for b in bars]), np.array([b[2] for b in bars]), 0.05)
    assert dense_stats(lo, hist, 0.05, P1) == whole.stats(P1)
