"""The seven setups of STRATEGY.md section 13 on hand-built one-minute bars: each
fires on the bar where its definition holds, with the bracket and a reason
naming the conditions, and stays quiet on near-misses (one condition short)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pytest

from engine.config import ConfigError, StrategyParams, parse_config
from engine.model import NS_PER_MIN, Bar, FlowView, MarketState, Side, Signal, SymbolSnapshot
from engine.strategy.ema_cross import EmaCrossSetup
from engine.strategy.hod_failure import HodFailureSetup
from engine.strategy.orb import OrbSetup
from engine.strategy.registry import SETUPS, make_setups
from engine.strategy.session_series import EMA, SessionSeries
from engine.strategy.sigma_fade import SigmaFadeSetup
from engine.strategy.trend_pullback import TrendPullbackSetup
from engine.strategy.vwap_mean_reversion import VwapMeanReversionSetup
from engine.strategy.vwap_reclaim import VwapReclaimSetup

T0 = 1_718_199_000 * 1_000_000_000  # 2024-06-12 09:30 ET, on a 5-minute boundary
BAL, UP, DOWN = MarketState.BALANCE, MarketState.IMBALANCE_UP, MarketState.IMBALANCE_DOWN
PLAYBOOK = ("ema_cross", "vwap_reclaim", "sigma_fade", "hod_failure", "orb", "trend_pullback", "vwap_mean_reversion")


class Feed:
    """Hands a setup one closed bar at a time, as the engine does (the snapshot after
    the bar, ``bars`` = the session's closed-bar count, now = the bar's end)."""

    def __init__(self, setup) -> None:
        self.setup = setup
        self.i = 0  # minutes since T0
        self.n = 0  # bars of this session
        self.bars: list[Bar] = []  # this session's bars
        self.signals: list[tuple[int, Signal]] = []

    def add(self, c: float, *, h: Optional[float] = None, l: Optional[float] = None, v: float = 1000.0,
            atr: float = 0.5, momentum: float = 0.0, state: MarketState = BAL) -> Optional[Signal]:
        ts = T0 + self.i * NS_PER_MIN
        h = c + 0.05 if h is None else h
        l = c - 0.05 if l is None else l
        bar = Bar("SPY", ts, c, h, l, c, v, vwap=(h + l + c) / 3.0)
        self.i += 1
        self.n += 1
        self.bars.append(bar)
        snap = SymbolSnapshot(
            symbol="SPY", ts_ns=ts + NS_PER_MIN, last=c, prev_close=math.nan, change_pct=0.0, state=state,
            distance_from_poc_pct=0.0, momentum=momentum, atr=atr, vwap=math.nan, rolling=None,
            session_profile=None, previous_profile=None, flow=FlowView(), balance_low=math.nan,
            balance_high=math.nan, impulse=None, pullback=False, bars=self.n, last_bar=bar,
        )
        sig = self.setup.on_bar(snap, ts + NS_PER_MIN)
        if sig is not None:
            self.signals.append((self.n, sig))
        return sig

    def many(self, closes, l_off: Optional[float] = None, **kw) -> list[Signal]:
        if l_off is not None:
            return [s for s in (self.add(c, l=c - l_off, **kw) for c in closes) if s is not None]
        return [s for s in (self.add(c, **kw) for c in closes) if s is not None]

    def new_session(self, gap_min: int = 17 * 60 + 30) -> None:
        self.i += gap_min
        self.n = 0
        self.bars = []

    def vwap_sigma(self) -> tuple[float, float]:
        """Reference VWAP and sigma of the session's bars, straight from the definition."""
        v = np.array([b.volume for b in self.bars])
        tp = np.array([(b.high + b.low + b.close) / 3.0 for b in self.bars])
        vwap = float((tp * v).sum() / v.sum())  # bar vwap = tp here
        return vwap, float(np.sqrt((v * (tp - vwap) ** 2).sum() / v.sum()))


def params(**kw) -> StrategyParams:
    return StrategyParams(**kw)


# --------------------------------------------------------------------------- common


def test_ema_is_seeded_with_the_sma_then_alpha_two_over_n_plus_one():
    e = EMA(3)
    assert math.isnan(e.update(1.0)) and math.isnan(e.update(2.0))
    assert e.update(3.0) == pytest.approx(2.0)
    assert e.update(4.0) == pytest.approx(2.0 + 0.5 * (4.0 - 2.0))


def test_session_vwap_and_sigma_follow_the_definition_and_reset_each_session():
    f = Feed(EmaCrossSetup("SPY", params()))
    for k, c in enumerate([100.0, 101.0, 99.5, 100.2, 102.0]):
        f.add(c, h=c + 0.3, l=c - 0.2, v=1000.0 + 100 * k)
    vwap, sigma = f.vwap_sigma()
    series = f.setup.series
    assert series.vwap == pytest.approx(vwap) and series.sigma == pytest.approx(sigma)
    assert series.high == pytest.approx(102.3) and series.high_index == 5
    f.new_session()
    f.add(50.0)
    assert series.vwap == pytest.approx(50.0) and series.index == 1 and series.high == pytest.approx(50.05)


def test_five_minute_bars_are_clock_aligned_and_close_on_their_fifth_minute():
    s = SessionSeries(params(ema_fast=2, ema_slow=3))
    f = Feed(EmaCrossSetup("SPY", params()))
    f.setup.series = s
    for c in (1.0, 2.0, 3.0, 4.0):
        f.add(c)
    assert s.five.last is None  # 09:30-09:34 not complete yet
    f.add(5.0, h=9.0)
    assert s.five.last.ts_ns == T0 and s.five.last.close == 5.0 and s.five.last.high == 9.0


def test_every_playbook_setup_is_registered_and_reads_its_sides():
    for name in PLAYBOOK:
        assert name in SETUPS
        both = make_setups("SPY", params(setups=[name], **{f"{name}_sides": "both"}))[0]
        assert set(both.sides) == {Side.BUY, Side.SELL}
        assert make_setups("SPY", params(setups=[name]))[0].sides == (Side.BUY,)


def test_a_bad_sides_value_or_key_names_the_key_and_what_is_allowed():
    with pytest.raises(ConfigError, match=r"strategy.orb_sides = 'up' is not valid: allowed: 'long', 'short' or 'both'"):
        parse_config({"strategy": {"orb_sides": "up"}})
    with pytest.raises(ConfigError, match=r"strategy.overrides.TSLA: orb_sides = 'up' .*'long', 'short' or 'both'"):
        parse_config({"strategy": {"overrides": {"TSLA": {"orb_sides": "up"}}}})
    with pytest.raises(ConfigError, match=r"strategy.overrides.TSLA: unknown key 'orb_side'; did you mean 'orb_sides'"):
        parse_config({"strategy": {"overrides": {"TSLA": {"orb_side": "both"}}}})


def test_per_symbol_override_of_a_playbook_key():
    cfg = parse_config({"strategy": {"orb_min_rvol": 1.2, "overrides": {"TSLA": {"orb_min_rvol": 2.5,
                                                                                "orb_sides": "both"}}}})
    assert cfg.strategy.for_symbol("SPY").orb_min_rvol == 1.2
    tsla = cfg.strategy.for_symbol("TSLA")
    assert tsla.orb_min_rvol == 2.5 and tsla.orb_sides == "both"


# --------------------------------------------------------------------------- ema_cross


def cross_feed(**kw) -> Feed:
    # EMA3 / EMA5: five flat bars seed both at 10; a dip puts EMA3 below EMA5
    f = Feed(EmaCrossSetup("SPY", params(ema_fast=3, ema_slow=5, **kw)))
    assert f.many([10.0] * 5 + [9.0]) == []
    return f


def test_ema_cross_fires_on_the_crossing_bar_with_an_atr_bracket():
    f = cross_feed()
    sig = f.add(11.0)  # EMA3 9.5 -> 10.25, EMA5 9.667 -> 10.111: crosses, close 11 > EMA5
    assert sig is not None and sig.side is Side.BUY and sig.setup == "ema_cross"
    assert (sig.entry, sig.stop, sig.target) == (11.0, pytest.approx(11.0 - 0.75), pytest.approx(11.0 + 1.5))
    assert "EMA3 10.25 crossed above EMA5 10.11" in sig.reason and "close 11.00 above EMA5" in sig.reason
    assert f.add(12.0) is None  # already above: not a cross


def test_ema_cross_near_misses():
    f = Feed(EmaCrossSetup("SPY", params(ema_fast=3, ema_slow=5)))
    assert f.many([10.0] * 8) == []  # equal EMAs: touching is not crossing
    f = cross_feed()
    assert f.add(9.5) is None  # still below
    f = cross_feed()
    assert f.add(11.0, atr=math.nan) is None  # no ATR, no bracket


def test_ema_cross_short_side_only_when_sides_allow():
    up = [10.0] * 5 + [11.0, 9.0]
    f = Feed(EmaCrossSetup("SPY", params(ema_fast=3, ema_slow=5)))
    assert [s.side for s in f.many(up)] == [Side.BUY]  # long only by default
    f = Feed(EmaCrossSetup("SPY", params(ema_fast=3, ema_slow=5, ema_cross_sides="both")))
    sigs = f.many(up)
    assert [s.side for s in sigs] == [Side.BUY, Side.SELL]
    assert sigs[1].stop == pytest.approx(9.75) and sigs[1].target == pytest.approx(7.5)
    assert "crossed below" in sigs[1].reason


# --------------------------------------------------------------------------- vwap_reclaim


def reclaim_feed(**kw) -> Feed:
    f = Feed(VwapReclaimSetup("SPY", params(volume_ratio_bars=3, **kw)))
    assert f.add(100.0, v=100) is None  # VWAP 100
    assert f.add(99.0, v=100) is None  # below VWAP 99.5
    return f


def test_vwap_reclaim_fires_on_the_close_back_above_vwap_with_rvol():
    f = reclaim_feed()
    sig = f.add(101.0, v=200)  # VWAP (10000 + 9900 + 20200) / 400 = 100.25; RVOL 200 / 100 = 2
    assert sig is not None and sig.side is Side.BUY
    assert "close 101.00 back above VWAP 100.25" in sig.reason and "RVOL 2.00 >= 1.1" in sig.reason
    assert sig.stop == pytest.approx(100.25) and sig.target == pytest.approx(102.5)


def test_vwap_reclaim_needs_rvol_and_a_close_below_before():
    assert reclaim_feed().add(101.0, v=105) is None  # RVOL 1.05 < 1.1
    f = Feed(VwapReclaimSetup("SPY", params(volume_ratio_bars=3)))
    f.add(100.0, v=100)
    f.add(100.5, v=100)  # above VWAP already
    assert f.add(101.0, v=300) is None


def test_vwap_reclaim_cooldown():
    f = reclaim_feed()
    assert f.add(101.0, v=200) is not None
    assert f.add(98.0, v=100) is None
    assert f.add(102.0, v=400) is None  # reclaimed again 2 minutes later: inside the 900 s cooldown
    f = reclaim_feed(vwap_reclaim_cooldown_s=60)
    assert f.add(101.0, v=200) is not None
    f.add(98.0, v=100)
    assert f.add(102.0, v=400) is not None


def test_vwap_reclaim_first_bar_of_a_session_does_not_compare_with_yesterday():
    f = reclaim_feed()
    f.new_session()
    assert f.add(120.0, v=1000) is None


# --------------------------------------------------------------------------- sigma_fade


def fade_feed(trend: float = 0.05, **kw) -> Feed:
    """60 bars drifting ``trend`` per bar around 100 with +/-0.3 alternation."""
    f = Feed(SigmaFadeSetup("SPY", params(**kw)))
    closes = [100.0 + trend * k + (0.3 if k % 2 else -0.3) for k in range(60)]
    assert f.many(closes) == []
    return f


def sweep(f: Feed, close: float, low_below_band: float = 0.2, v: float = 1500.0, atr: float = 0.5):
    """A bar whose low is ``low_below_band`` under VWAP - 2 sigma (as they will be
    with this bar included), closing at ``close``."""
    vwap, sigma = f.vwap_sigma()
    low = vwap - 2.0 * sigma - low_below_band - 0.3  # the bar itself widens sigma a little
    return f.add(close, h=close + 0.05, l=low, v=v, atr=atr)


def test_sigma_fade_fires_on_a_rejected_sweep_of_the_lower_band():
    f = fade_feed()
    sig = sweep(f, close=101.0)
    vwap, sigma = f.vwap_sigma()
    bar = f.bars[-1]
    assert bar.low <= vwap - 2 * sigma < bar.close  # the definition holds on this bar
    assert sig is not None and sig.side is Side.BUY and sig.setup == "sigma_fade"
    assert sig.target == pytest.approx(vwap) and sig.stop == pytest.approx(bar.low - 0.25)
    assert "swept VWAP - 2 sigma" in sig.reason and "back inside" in sig.reason and "RVOL 1.50" in sig.reason


def test_sigma_fade_near_misses():
    f = fade_feed()
    vwap, sigma = f.vwap_sigma()
    assert sweep(f, close=vwap - 2 * sigma - 0.4) is None  # closes below the band: not rejected
    assert sweep(fade_feed(), close=101.0, v=900.0) is None  # RVOL 0.9 < 1.0
    assert sweep(fade_feed(trend=-0.05), close=99.0) is None  # EMA50 falling
    f = fade_feed()
    assert f.add(100.5, l=99.9) is None  # no sweep


# --------------------------------------------------------------------------- hod_failure


def hod_feed() -> Feed:
    f = Feed(HodFailureSetup("SPY", params()))
    # climb to a session high of 102.05 on bar 11, VWAP stays near 101
    assert f.many([100.0 + 0.2 * k for k in range(11)], momentum=0.8) == []
    return f


def test_hod_failure_buys_a_pullback_from_a_fresh_high_targeting_it():
    f = hod_feed()
    sig = f.add(101.7, momentum=0.6)  # 0.35 below the high = 0.7 ATR >= 0.5
    assert sig is not None and sig.side is Side.BUY
    assert sig.target == pytest.approx(102.05) and sig.stop == pytest.approx(101.7 - 0.75)
    assert "session high 102.05 set 1 bars ago (< 15)" in sig.reason and "0.70 ATR off it" in sig.reason
    assert f.add(101.6, momentum=0.6) is None  # the same high: once


def test_hod_failure_near_misses():
    assert hod_feed().add(101.95, momentum=0.6) is None  # only 0.2 ATR off the high
    assert hod_feed().add(101.7, momentum=0.0) is None  # momentum not > 0
    assert hod_feed().add(100.5, momentum=0.6) is None  # below VWAP
    f = hod_feed()
    f.many([101.96] * 14, momentum=0.6)  # 0.09 below: no signal while the high ages
    assert f.add(101.7, momentum=0.6) is None  # the high was set 15 bars ago


def test_hod_failure_a_new_high_rearms():
    f = hod_feed()
    assert f.add(101.7, momentum=0.6) is not None
    f.add(102.6, momentum=0.6)  # new high 102.65
    assert f.add(102.2, momentum=0.6) is not None


# --------------------------------------------------------------------------- orb


def orb_feed(**kw) -> Feed:
    """30 minutes of range 99-101, then 5 quiet bars inside it."""
    f = Feed(OrbSetup("SPY", params(**kw)))
    closes = [100.0 + (0.9 if k % 2 else -0.9) for k in range(30)]
    assert f.many(closes) == []
    assert f.many([100.5] * 5) == []
    return f


def test_orb_breakout_of_the_opening_range_with_rvol():
    f = orb_feed()
    sig = f.add(101.5, v=2000)  # RVOL 2.0, range 99.05-100.95
    assert sig is not None and sig.side is Side.BUY
    # stop: the nearer of the range midpoint 100.0 and 1.5 ATR (101.5 - 0.75)
    assert sig.stop == pytest.approx(100.75) and sig.target == pytest.approx(101.5 + 2 * 0.75)
    assert "above the range high 100.95 (opening range 99.05-100.95, 30 min)" in sig.reason
    assert f.add(101.8, v=3000) is None  # one per side per session


def test_orb_stop_at_the_range_midpoint_when_it_is_nearer():
    sig = orb_feed().add(101.5, v=2000, atr=2.0)
    assert sig.stop == pytest.approx(100.0) and sig.target == pytest.approx(104.5)
    assert "stop range midpoint" in sig.reason and sig.r_multiple == pytest.approx(2.0)


def test_orb_near_misses():
    assert orb_feed().add(101.5, v=1400) is None  # RVOL 1.4 < 1.5
    assert orb_feed().add(100.9, v=2000) is None  # inside the range
    f = Feed(OrbSetup("SPY", params()))
    f.many([100.0] * 10)
    assert f.add(101.5, v=3000) is None  # the opening range is still forming


def test_orb_short_side_and_next_session():
    f = orb_feed(orb_sides="both")
    assert f.add(98.5, v=2000).side is Side.SELL
    assert f.add(101.5, v=4000).side is Side.BUY
    f.new_session()
    f.many([100.0 + (0.9 if k % 2 else -0.9) for k in range(30)])
    assert f.add(101.5, v=3000) is not None  # a new session, a new range


# --------------------------------------------------------------------------- trend_pullback


def trend_feed(**kw) -> Feed:
    """EMA3 / EMA5 (1- and 5-minute) in a steady up-trend: 0.1 a bar for 30 bars."""
    f = Feed(TrendPullbackSetup("SPY", params(ema_fast=3, ema_slow=5, **kw)))
    # EMA3 lags the close by 0.1; lows 0.01 under the close stay above EMA3 + 0.1 ATR
    assert f.many([100.0 + 0.1 * k for k in range(30)], l_off=0.01) == []
    return f


def touch(f: Feed, close: float, below: float = 0.02, **kw):
    """A bar closing at ``close`` whose low is ``below`` under EMA3 after this bar."""
    s = f.setup.series
    fast = s.fast + 0.5 * (close - s.fast)
    return f.add(close, l=fast - below, **kw)


def test_trend_pullback_fires_on_a_touch_of_ema20_in_an_up_trend():
    f = trend_feed()
    sig = touch(f, 102.85)
    assert sig is not None and sig.side is Side.BUY and sig.setup == "trend_pullback"
    assert "5-min close" in sig.reason and "touched EMA3" in sig.reason
    assert sig.stop == pytest.approx(102.85 - 0.75)
    assert touch(f, 102.86) is None  # the same touch continues
    f.add(103.5)  # lifts off
    assert touch(f, 103.4) is not None  # a new touch: an add


def test_trend_pullback_near_misses():
    assert touch(trend_feed(), 102.85, below=-0.1) is None  # low 0.1 above EMA3: more than 0.1 ATR (0.05)
    assert touch(trend_feed(), 102.85, state=DOWN) is None  # IMBALANCE_DOWN
    f = trend_feed()
    s = f.setup.series
    assert f.add(s.fast - 0.3, l=s.fast - 1.0) is None  # closes below EMA3
    f = Feed(TrendPullbackSetup("SPY", params(ema_fast=3, ema_slow=5)))
    f.many([103.0 - 0.1 * k for k in range(30)])  # a down-trend
    assert touch(f, 100.15) is None


# --------------------------------------------------------------------------- vwap_mean_reversion


def mr_feed(**kw) -> Feed:
    """EMA5 of 5-minute bars under a rising market that rotates around it: VWAP near
    100.75, sigma about 0.45."""
    f = Feed(VwapMeanReversionSetup("SPY", params(ema_fast=3, ema_slow=5, **kw)))
    closes = [100.0 + 0.05 * k + (0.3 if k % 2 else -0.3) for k in range(30)]
    assert f.many(closes) == []
    return f


def test_vwap_mean_reversion_fires_on_a_stretch_below_vwap():
    f = mr_feed()
    vwap, sigma = f.vwap_sigma()
    sig = f.add(vwap - 3.0 * sigma - 0.2)
    vwap, sigma = f.vwap_sigma()
    assert f.bars[-1].close <= vwap - 2.5 * sigma
    assert sig is not None and sig.side is Side.BUY and sig.target == pytest.approx(vwap)
    assert "sigma below VWAP" in sig.reason and "5-min close" in sig.reason and "EMA5" in sig.reason
    assert f.add(f.bars[-1].close - 0.01) is None  # the same stretch


def test_vwap_mean_reversion_near_misses():
    f = mr_feed()
    vwap, sigma = f.vwap_sigma()
    assert f.add(vwap - 2.0 * sigma) is None  # 2 sigma < 2.5
    f = mr_feed()
    vwap, sigma = f.vwap_sigma()
    assert f.add(vwap - 3.0 * sigma - 0.2, state=DOWN) is None
    f = Feed(VwapMeanReversionSetup("SPY", params(ema_fast=3, ema_slow=5)))
    f.many([103.0 - 0.05 * k + (0.3 if k % 2 else -0.3) for k in range(30)])  # 5-min closes under EMA5
    vwap, sigma = f.vwap_sigma()
    assert f.add(vwap - 3.0 * sigma - 0.2) is None
