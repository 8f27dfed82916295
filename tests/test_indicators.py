"""ATR (Wilder), VWAP, momentum and volume ratio: by hand, and the array
functions equal to the incremental classes."""
import math

import numpy as np
import pytest

from engine.analytics.indicators import (
    Momentum,
    SessionVWAP,
    VolumeRatio,
    WilderATR,
    atr_array,
    momentum_array,
    true_range,
    volume_ratio_array,
    vwap_array,
)

H = [10.0, 11.0, 12.0, 11.5, 13.0]
L = [9.0, 10.0, 10.5, 10.0, 12.5]
C = [9.5, 10.8, 11.0, 10.2, 12.8]


def test_true_range_and_wilder_atr_by_hand():
    # TR: 1.0 (first bar h-l), 1.5 (11-9.5), 1.5 (12-10.5), 1.5 (11.5-10.0), 2.8 (13-10.2)
    assert true_range(np.array(H), np.array(L), np.array(C)).tolist() == [1.0, 1.5, 1.5, 1.5, pytest.approx(2.8)]
    a = WilderATR(3)
    got = [a.update(h, l, c) for h, l, c in zip(H, L, C)]
    assert math.isnan(got[0]) and math.isnan(got[1])
    assert got[2] == pytest.approx((1.0 + 1.5 + 1.5) / 3)  # seed: simple mean of the first 3
    assert got[3] == pytest.approx((got[2] * 2 + 1.5) / 3)
    assert got[4] == pytest.approx((got[3] * 2 + 2.8) / 3)
    arr = atr_array(np.array(H), np.array(L), np.array(C), 3)
    assert np.array_equal(arr, np.array(got), equal_nan=True)


def test_momentum_in_atr_units():
    m = Momentum(2)
    assert math.isnan(m.update(10.0, 1.0)) and math.isnan(m.update(11.0, 1.0))
    assert m.update(12.0, 0.5) == 4.0  # (12 - 10) / 0.5
    assert math.isnan(m.update(13.0, float("nan")))
    arr = momentum_array(np.array([10.0, 11.0, 12.0, 13.0]), np.array([1.0, 1.0, 0.5, np.nan]), 2)
    assert np.isnan(arr[:2]).all() and arr[2] == 4.0 and np.isnan(arr[3])


def test_volume_ratio_uses_what_there_is_then_the_window():
    vr = VolumeRatio(2)
    got = [vr.update(v) for v in (100.0, 50.0, 300.0, 0.0, 30.0)]
    assert math.isnan(got[0])  # no previous bar
    assert got[1] == 0.5  # 50 / 100
    assert got[2] == 4.0  # 300 / mean(100, 50)
    assert got[3] == 0.0
    assert got[4] == 0.2  # 30 / mean(300, 0)
    arr = volume_ratio_array(np.array([100.0, 50.0, 300.0, 0.0, 30.0]), 2)
    assert np.array_equal(arr, np.array(got), equal_nan=True)
    assert math.isnan(VolumeRatio(3).update(5.0))
    z = VolumeRatio(2)
    z.update(0.0)
    assert math.isnan(z.update(10.0))  # zero mean: undefined


def test_vwap():
    v = SessionVWAP()
    assert math.isnan(v.value)
    v.add(10.0, 100.0)
    v.add(11.0, 300.0)
    assert v.value == 10.75
    arr = vwap_array(np.array([10.0, 11.0]), np.array([100.0, 300.0]))
    assert arr.tolist() == [10.0, 10.75]


def test_arrays_equal_incremental_on_a_random_walk():
    rng = np.random.default_rng(3)
    c = 100 + np.cumsum(rng.normal(0, 0.1, 500))
    h = c + rng.uniform(0, 0.2, 500)
    lo = c - rng.uniform(0, 0.2, 500)
    v = rng.uniform(100, 1000, 500)
    a, m, r = WilderATR(14), Momentum(20), VolumeRatio(60)
    inc = []
    for i in range(500):
        atr = a.update(h[i], lo[i], c[i])
        inc.append((atr, m.update(c[i], atr), r.update(v[i])))
    inc = np.array(inc)
    atr = atr_array(h, lo, c, 14)
    assert np.array_equal(inc[:, 0], atr, equal_nan=True)
    assert np.array_equal(inc[:, 1], momentum_array(c, atr, 20), equal_nan=True)
    assert np.array_equal(inc[:, 2], volume_ratio_array(v, 60), equal_nan=True)
