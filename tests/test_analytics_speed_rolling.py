"""The DenseProfile gives exactly the numbers of the dict VolumeProfile
fed the same merges and subtractions (it replaced it for the rolling and session profiles
to make the per-bar statistics cheaper)."""
from __future__ import annotations

from collections import deque
from dataclasses import fields

import numpy as np
import pytest

from engine.analytics.profile import (
    DenseProfile,
    VolumeProfile,
    bins_stats,
    core_stats,
    range_bin_dict,
    poc_index,
    range_bins,
    value_area,
)
from engine.config import StrategyParams
from engine.model import ProfileStats

PARAMS = StrategyParams()
NAMES = [f.name for f in fields(ProfileStats)]


def _values(st):
    return None if st is None else {k: getattr(st, k) for k in NAMES}


def _bar_bins(rng, price: float, bs: float, negative: bool = False) -> dict[int, float]:
    kind = rng.integers(0, 5 if negative else 4)
    if kind == 4:  # a negative volume (a malformed stored candle): bins < 0 are read as 0
        return {int(price / bs) + int(d): -float(v) for d, v in zip(rng.integers(-3, 4, 2), rng.integers(1, 400, 2))}
    if kind == 0:  # a wide bar spread over its range
        lo = price - rng.random() * 2.0
        return dict(range_bins(lo, lo + rng.random() * 3.0, float(rng.integers(1, 5000)), bs))
    if kind == 1:  # a tiny volume (a few hundred units of 1e-9) next to big ones
        return {int(price / bs): float(rng.random() * 1e-6)}
    if kind == 2:  # volume at price, some zero
        return {int(price / bs) + int(d): float(v) for d, v in zip(rng.integers(-5, 6, 4), rng.integers(0, 900, 4))}
    return {}  # a zero-volume bar


@pytest.mark.parametrize("seed", range(6))
def test_rolling_profile_equals_the_dict_profile_merge_by_merge(seed):
    rng = np.random.default_rng(seed)
    bs = 0.25
    d, r, rp = VolumeProfile(bs), DenseProfile(bs), DenseProfile(bs)  # rp: fed (bins, volumes) lists
    q: deque = deque()
    price = 100.0
    checked = 0
    for step in range(1500):
        price += rng.normal(0.0, 0.6) + (40.0 if step == 700 else 0.0) - (90.0 if step == 1100 else 0.0)
        bins = _bar_bins(rng, price, bs, negative=seed >= 4)
        d.merge(bins)
        r.merge(bins)
        rp.merge_pairs(list(bins), list(bins.values()))
        q.append(bins)
        while len(q) > rng.integers(1, 60):
            old = q.popleft()
            d.subtract(old)
            r.subtract(old)
            rp.subtract_pairs(list(old), list(old.values()))
        assert r.bins == {i: v for i, v in d.bins.items() if v > 0.0}
        want = bins_stats(dict(d.bins), bs, PARAMS)
        got_core = r.core_stats(PARAMS)
        assert _values(got_core) == _values(core_stats(dict(d.bins), bs, PARAMS))
        assert rp.value_area(PARAMS) == (None if want is None else (want.poc, want.vah, want.val))
        if step % 10 == 0:  # the full statistics (nodes, histogram) too
            assert _values(r.stats(PARAMS)) == _values(want)
        checked += want is not None
    assert checked > 1000


def test_rolling_profile_empty_and_cleared():
    r = DenseProfile(0.5)
    assert r.core_stats(PARAMS) is None and r.stats(PARAMS) is None and r.dense() == (0, [])
    r.merge({10: 5.0, 12: 1.0})
    assert r.dense() == (10, [5.0, 0.0, 1.0])
    r.subtract({10: 5.0, 12: 1.0})
    assert r.core_stats(PARAMS) is None and r.bins == {}
    r.merge({-3: 2.0})
    st = r.core_stats(PARAMS)
    assert (st.poc, st.val, st.vah, st.total_volume) == (-1.25, -1.5, -1.0, 2.0)
    r.clear()
    assert r.stats(PARAMS) is None
    with pytest.raises(ValueError, match="bin_size"):
        DenseProfile(0.0)


def _value_area_reference(hist, poc, pct):
    """The pairs rule as first written (both pairs worked out on every step), on
    integer volumes and a whole-number percentage (exact)."""
    total = sum(hist)
    lo = hi = poc
    vol = hist[poc]
    last = len(hist) - 1
    while vol * 100 < pct * total:
        room = last - hi
        up_n, up = (2, hist[hi + 1] + hist[hi + 2]) if room >= 2 else ((1, hist[hi + 1]) if room == 1 else (0, 0.0))
        dn_n, dn = (2, hist[lo - 1] + hist[lo - 2]) if lo >= 2 else ((1, hist[0]) if lo == 1 else (0, 0.0))
        if up_n == 0 and dn_n == 0:
            break
        if up_n and (dn_n == 0 or up >= dn):
            hi += up_n
            vol += up
        else:
            lo -= dn_n
            vol += dn
    return lo, hi, vol


def test_value_area_equals_the_reference_rule():
    rng = np.random.default_rng(11)
    for _ in range(3000):
        n = int(rng.integers(1, 40))
        hist = (rng.integers(0, 6, n) * int(rng.integers(1, 10**12))).tolist()  # ties and empty bins
        if rng.random() < 0.3:
            hist = rng.integers(0, 3, n).tolist()
        poc = int(rng.integers(0, n))
        pct = int(rng.choice([1, 50, 70, 100]))
        assert value_area(hist, poc, pct) == _value_area_reference(hist, poc, pct)


def test_range_bin_dict_equals_range_bins():
    rng = np.random.default_rng(5)
    for _ in range(500):
        lo = 10.0 + rng.random() * 100.0
        hi = lo + rng.random() * rng.choice([0.0, 0.3, 5.0])
        vol = float(rng.integers(0, 10_000))
        bs = float(rng.choice([0.01, 0.05, 0.25]))
        got = range_bin_dict(lo, hi, vol, bs)
        assert list(got.items()) == range_bins(lo, hi, vol, bs)


def test_cvd_sparkline_keeps_the_last_390_closed_bars():
    """A 24-hour session has more than CVD_HISTORY bars: the sparkline holds the
    CVD after each of the last CVD_HISTORY of them, oldest first."""
    from engine.analytics.session import SessionCalendar
    from engine.analytics.symbol import CVD_HISTORY, SymbolAnalytics
    from engine.model import NS_PER_MIN, Bar

    an = SymbolAnalytics("BTC", PARAMS, SessionCalendar("24h_utc"))
    t0 = 1_704_067_200 * 10**9  # 2024-01-01 00:00 UTC, a session start
    rng = np.random.default_rng(3)
    cvds = []
    for k in range(CVD_HISTORY + 150):
        buy, sell = float(rng.integers(0, 50)), float(rng.integers(0, 50))
        px = 100.0 + k * 0.01
        assert an.on_bar(Bar("BTC", t0 + k * NS_PER_MIN, px, px + 0.5, px - 0.5, px, buy + sell, buy, sell)) is not None
        cvds.append(an.cvd)
        hist = an.snapshot().flow.cvd_history
        assert hist == tuple(cvds[-CVD_HISTORY:])
    assert len(hist) == CVD_HISTORY and hist[-1] == an.cvd


def _poc_reference(hist):
    top = max(hist)
    mid2 = len(hist) - 1
    best, best_d = -1, None
    for i, v in enumerate(hist):
        if v == top:
            d = abs(2 * i - mid2)
            if best_d is None or d < best_d:
                best, best_d = i, d
    return best


def test_poc_index_ties_go_to_the_middle_then_the_lower_bin():
    rng = np.random.default_rng(8)
    for _ in range(5000):
        n = int(rng.integers(1, 30))
        hist = [float(x) for x in rng.integers(0, int(rng.integers(1, 4)), n)]
        assert poc_index(hist) == _poc_reference(hist), hist
    assert poc_index([1.0, 3.0, 3.0, 3.0, 3.0, 1.0]) == 2  # middle 2.5: 2 and 3 equally near, the lower
    assert poc_index([3.0, 0.0, 0.0, 0.0, 3.0, 3.0]) == 4
