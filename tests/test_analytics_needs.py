"""Analytics that compute only what the setups read (``needs``), lazily worked-out
profile statistics, deferred LVN alert levels and the incremental impulse range
profile: each is a speed-up that must not change a single number."""
import math
import pickle
from dataclasses import fields, replace

import numpy as np
import pytest

from engine.analytics.profile import LazyProfileStats, VolumeProfile
from engine.analytics.session import SessionCalendar
from engine.analytics.symbol import NEEDS_ALL, SymbolAnalytics, resolve_needs
from engine.backtest.data import load_dataset
from engine.backtest.runner import backtest_config, run_backtest
from engine.config import StrategyParams
from engine.model import NS_PER_MIN, MarketState, ProfileStats
from engine.strategy.registry import SETUPS, setups_needs
from tests.factories import analytics_bars, random_walk_trades, utc_ns

US = SessionCalendar("us_equity")


def trades(seed=5, days=((2024, 3, 4), (2024, 3, 5), (2024, 3, 6))):
    """Three days of seeded random-walk trades: pre-market, RTH and after hours."""
    return random_walk_trades(seed, days, mean_gap_s=3.0, step_sd=0.03, side_weights=None)


def bars_of(items, params):
    return analytics_bars(items, params, US)[1]


PARAMS = StrategyParams(lookback_minutes=30, atr_period=5, momentum_bars=5, bin_size=0.05)


def test_needs_resolve_their_implications_and_reject_unknown_names():
    assert resolve_needs(None) == NEEDS_ALL
    assert resolve_needs(frozenset()) == frozenset()
    assert resolve_needs(frozenset({"alerts"})) == {"alerts", "structure", "profiles"}
    assert resolve_needs(frozenset({"sparkline"})) == {"sparkline", "flow"}
    with pytest.raises(ValueError, match="unknown analytics needs \\['volume'\\]"):
        SymbolAnalytics("XYZ", PARAMS, US, needs=frozenset({"volume"}))


def test_every_setup_declares_what_it_reads():
    for name, cls in SETUPS.items():
        assert cls.needs <= NEEDS_ALL, name
    assert SETUPS["sma_cross"].needs == frozenset()
    assert setups_needs(StrategyParams(setups=["auction"])) == {"flow", "state"}
    assert setups_needs(StrategyParams(setups=["auction", "trend_model"])) == {"flow", "state", "structure"}
    assert setups_needs(StrategyParams(setups=["auction"], enabled=False)) == frozenset()


@pytest.mark.parametrize("bvc", [False, True])
def test_lean_analytics_give_the_same_numbers_for_what_they_compute(bvc):
    bars = bars_of(trades(), PARAMS)
    if bvc:  # bars-only history: flow from BVC, volume spread over the range
        bars = [replace(b, buy_volume=math.nan, sell_volume=math.nan, vap=None) for b in bars]
    full = SymbolAnalytics("XYZ", PARAMS, US)
    auction = SymbolAnalytics("XYZ", PARAMS, US, needs=SETUPS["auction"].needs)
    bare = SymbolAnalytics("XYZ", PARAMS, US, needs=frozenset())
    states = set()
    for bar in bars:
        f, a, z = full.on_bar(bar), auction.on_bar(bar), bare.on_bar(bar)
        assert f == a
        sf, sa, sz = full.snapshot(), auction.snapshot(), bare.snapshot()
        for k in ("last", "atr", "momentum", "state", "distance_from_poc_pct", "bars", "in_session", "prev_close"):
            assert getattr(sa, k) == getattr(sf, k) or (getattr(sf, k) != getattr(sf, k) and getattr(sa, k) != getattr(sa, k)), k
        for k in ("last", "atr", "momentum", "bars", "in_session", "prev_close"):
            x, y = getattr(sz, k), getattr(sf, k)
            assert x == y or (x != x and y != y), k
        assert sz.last_bar.close == sf.last_bar.close and sz.rolling is None and sz.state is MarketState.BALANCE
        ff, fa = sf.flow, sa.flow
        assert (fa.aggression, fa.direction, fa.cvd, fa.cvd_change) == (ff.aggression, ff.direction, ff.cvd, ff.cvd_change)
        assert fa.cvd_history == () and sa.vwap == sf.vwap or (math.isnan(sa.vwap) and math.isnan(sf.vwap))
        if sf.rolling is not None:
            for k in ("poc", "vah", "val", "total_volume", "value_area_volume", "low", "high"):
                assert getattr(sa.rolling, k) == getattr(sf.rolling, k), k
            assert sa.rolling.lvns == () and sa.rolling.histogram == ()  # nodes belong to "profiles"
        assert sa.session_profile is None and sa.impulse is None
        states.add(sf.state)
    assert len(states) >= 2  # the comparison covered more than one market state


def test_lazy_profile_stats_read_in_any_order_equal_the_eager_values():
    rng = np.random.default_rng(2)
    prof = VolumeProfile(0.25)
    for _ in range(80):  # two humps (100-102 and 104-106) with a thin valley: LVNs and HVNs
        lo = 100 + rng.random() * 1.5 + 4.0 * rng.integers(0, 2)
        prof.add_range(lo, lo + rng.random() * 0.5, float(rng.integers(100, 1000)))
    prof.add_range(102.0, 104.0, 50.0)
    params = StrategyParams()
    names = [f.name for f in fields(ProfileStats)]
    a, b = prof.stats(params), prof.stats(params)
    assert isinstance(a, LazyProfileStats) and isinstance(a, ProfileStats)
    got_a = {k: getattr(a, k) for k in names}  # core first
    got_b = {k: getattr(b, k) for k in reversed(names)}  # details first
    assert got_a == got_b and got_a["lvns"] and got_a["histogram"]
    eager = ProfileStats(**got_a)
    assert a == eager and eager == a and hash(a) == hash(eager) and repr(a) == repr(eager)
    assert pickle.loads(pickle.dumps(prof.stats(params))) == eager
    assert replace(prof.stats(params), histogram=()) == replace(eager, histogram=())
    core = prof.core_stats(params)
    assert (core.poc, core.vah, core.val, core.total_volume) == (a.poc, a.vah, a.val, a.total_volume)
    assert core.lvns == core.hvns == core.histogram == ()
    # the statistics are of the profile when asked, not when read
    before = prof.stats(params)
    prof.add_range(90.0, 91.0, 1e6)
    assert before == eager and prof.stats(params) != eager


def test_alert_levels_deferred_until_the_first_price_fire_the_same_alerts():
    items = trades(seed=9)
    day1 = [t for t in items if t.ts_ns < utc_ns(2024, 3, 5, 0, 0)]
    rest = items[len(day1):]
    history = bars_of(day1, PARAMS)

    def alerts(eager):
        an = SymbolAnalytics("XYZ", PARAMS, US)
        if eager:
            an._alert_levels._priced = True  # push every level set at once, as before the deferral
        for bar in history:  # a restart/backfill: bars first, no prices
            an.on_bar(bar)
        out = []
        for t in rest:
            an.on_trade(t)
            out.extend(an.drain_alerts())
        return out, an._alert_levels.levels

    lazy, eager = alerts(False), alerts(True)
    assert lazy == eager
    assert len(lazy[0]) >= 3 and "session" in {a.source for a in lazy[0]} and len(lazy[1]) >= 2


def test_impulse_range_profile_extended_incrementally_equals_a_fresh_build():
    an = SymbolAnalytics("XYZ", PARAMS, US)
    for bar in bars_of(trades(seed=4), PARAMS):
        an.on_bar(bar)
    impulse = an._impulse
    minutes = [m for m, _ in impulse._history]
    start = minutes[len(minutes) // 2]
    for end in (minutes[-40], minutes[-39], minutes[-20] + NS_PER_MIN, minutes[-1] + NS_PER_MIN):
        grown = impulse.range_profile(start, end)  # extends the kept profile
        impulse._range_cache = None
        fresh = impulse.range_profile(start, end)  # built from scratch
        assert grown == fresh and grown.lvns == fresh.lvns
        impulse._range_cache = None
        impulse.range_profile(start, minutes[-41])  # keep a shorter one for the next extension


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset(["synthetic:SPY:4:3"])


@pytest.mark.parametrize("setup", ["sma_cross", "auction"])
def test_backtest_with_only_the_setups_needs_trades_exactly_like_all_analytics(synthetic, setup):
    cfg = backtest_config(None, synthetic.symbols, setup=setup, risk={"max_consecutive_losses": 1000})
    lean = run_backtest(cfg, synthetic)
    full = run_backtest(cfg, synthetic, needs=None)
    assert lean.metrics.trades > 0
    assert [t.as_dict() for t in lean.trades] == [t.as_dict() for t in full.trades]
    assert lean.equity == full.equity and lean.metrics.as_dict() == full.metrics.as_dict()
    if setup == "sma_cross":  # no market state computed: no minutes per state claimed
        assert lean.summary["states"] == {} and full.summary["states"]
    else:  # LVN alerts are not a need of the auction setup: the lean run does not compute them
        assert {**lean.summary, "lvn_alerts": None} == {**full.summary, "lvn_alerts": None}
        assert lean.summary["lvn_alerts"] == 0
