"""A profile's LVNs read alone (the alert levels read the developing session's
after every bar) are worked out without its value area, HVNs and histogram:
the same nodes as when every statistic is read, in any order, on drawn
histograms with flat runs, ties, spreads and removals; ``find_lvns`` keeps to
the rules as written (a plain reference loop)."""
from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analytics.profile import DenseProfile, find_lvns, smooth_sums
from engine.config import StrategyParams

FIELDS = ("total_volume", "poc", "vah", "val", "value_area_volume", "lvns", "hvns", "low", "high", "histogram")


def reference_find_lvns(s: list, cap, min_prom) -> list[int]:
    """The LVN rule of profile.py's module doc, plainly: every bin checked."""
    out = []
    n = len(s)
    if n < 3:
        return out
    last = n - 1
    for a in range(1, last):
        v = s[a]
        if not v <= cap or not s[a - 1] > v:
            continue
        b = a
        while b < last and s[b + 1] == v:
            b += 1
        if b == last or not s[b + 1] > v:
            continue
        left = v
        i = a - 1
        while i >= 0 and s[i] >= v:
            left = max(left, s[i])
            i -= 1
        right = v
        i = b + 1
        while i < n and s[i] >= v:
            right = max(right, s[i])
            i += 1
        if min(left, right) - v >= min_prom:
            out.append((a + b) // 2)
    return out


@settings(max_examples=300, deadline=None)
@given(h=st.lists(st.integers(0, 6), min_size=0, max_size=40), width=st.integers(1, 4),
       cap=st.integers(0, 40), prom=st.integers(0, 12))
def test_find_lvns_equals_the_rules_as_written(h, width, cap, prom):
    s, _ = smooth_sums(h, width)  # small integers: many flat runs and ties
    assert find_lvns(s, cap, prom) == reference_find_lvns(s, cap, prom)


bars = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 6), st.integers(0, 9), st.booleans()),
                min_size=1, max_size=25)


def profile_of(items) -> DenseProfile:
    prof = DenseProfile(0.25)
    for lo, width, vol, remove in items:
        prof.add_spread(lo, lo + width, vol * 10**9)
        if remove and vol:  # a bar leaving a rolling window
            prof.add_spread(lo, lo + width, -vol * 10**9)
            prof.add_spread(lo + 1, lo + 1 + width, vol * 10**9)
    return prof


@settings(max_examples=200, deadline=None)
@given(items=bars, smooth=st.integers(1, 4), order=st.permutations(FIELDS))
def test_lvns_read_first_equal_every_other_order(items, smooth, order):
    params = StrategyParams(smooth_bins=smooth, lvn_ratio=0.6, lvn_prominence=0.05)
    prof = profile_of(items)
    eager = prof.stats(params)
    if eager is None:
        return
    want = {f: getattr(eager, f) for f in FIELDS}  # read in the declared order: core, then details
    alone = prof.stats(params)
    got = {"lvns": alone.lvns}  # the LVNs alone first
    got.update({f: getattr(alone, f) for f in order})
    assert got == want
    other = prof.stats(params)
    got = {f: getattr(other, f) for f in order}  # any order, the LVNs wherever they fall
    assert got == want
    assert pickle.loads(pickle.dumps(alone)) == eager


def test_lvns_alone_are_found_on_a_real_shape():
    params = StrategyParams()
    prof = DenseProfile(0.01)
    for lo, hi, vol in ((100, 110, 5000), (120, 130, 5000), (100, 130, 300)):  # two humps, a thin middle
        prof.add_spread(lo, hi, vol * 10**9)
    st_ = prof.stats(params)
    assert [n.price for n in st_.lvns] == [1.155] and st_.lvns == prof.stats(params).lvns
    assert st_.poc == prof.stats(params).poc
