"""The trading setups of STRATEGY.md section 9, walked through hand-built bar
sequences: each fires with the right side, bracket and reason when every
condition holds, and stays quiet when any one condition is missing."""
from __future__ import annotations

import csv
import math
from dataclasses import replace

import numpy as np
import pytest

from engine.config import StrategyParams
from engine.model import (
    NS_PER_MIN,
    Bar,
    FlowView,
    ImpulseLeg,
    MarketState,
    Node,
    ProfileStats,
    Side,
    SymbolSnapshot,
)
from engine.strategy.auction import AuctionSetup
from engine.strategy.base import Setup
from engine.strategy.mean_reversion import MeanReversionSetup
from engine.strategy.registry import SETUPS, make_setups
from engine.strategy.sma_cross import SmaCrossSetup, sma, wilder_atr
from engine.strategy.trend_model import TrendModelSetup

T0 = 1_700_000_000 * 1_000_000_000
UP, DOWN, BAL = MarketState.IMBALANCE_UP, MarketState.IMBALANCE_DOWN, MarketState.BALANCE
NAN = float("nan")


def profile(poc=100.0, vah=100.5, val=99.5, lvns=()) -> ProfileStats:
    return ProfileStats(
        bin_size=0.1, total_volume=1000.0, poc=poc, vah=vah, val=val, value_area_volume=700.0,
        lvns=tuple(Node(p, 5.0) for p in lvns), low=val - 1, high=vah + 1,
    )


def snap(i: int, *, last=100.0, high=None, low=None, state=BAL, atr=0.5, momentum=0.0,
         aggression=0.0, direction=None, rolling="default", session=None, impulse=None,
         pullback=False, balance_low=NAN, balance_high=NAN) -> SymbolSnapshot:
    """A snapshot after closed bar ``i`` (bar i starts at T0 + i minutes)."""
    ts = T0 + i * NS_PER_MIN
    hi = max(last, last + 0.05) if high is None else high
    lo = min(last, last - 0.05) if low is None else low
    bar = Bar("SPY", ts, last, hi, lo, last, 1000.0)
    return SymbolSnapshot(
        symbol="SPY", ts_ns=ts + NS_PER_MIN, last=last, prev_close=NAN, change_pct=0.0,
        state=state, distance_from_poc_pct=0.0, momentum=momentum, atr=atr, vwap=last,
        rolling=profile() if rolling == "default" else rolling, session_profile=session,
        previous_profile=None, flow=FlowView(aggression=aggression, direction=direction),
        balance_low=balance_low, balance_high=balance_high, impulse=impulse, pullback=pullback,
        bars=i, last_bar=bar,
    )


def now(i: int) -> int:
    return T0 + (i + 1) * NS_PER_MIN


# --------------------------------------------------------------------------- auction


def auction_up(i=1, **kw):
    base = dict(last=100.0, state=UP, atr=0.5, momentum=0.9, aggression=82.0, direction=Side.BUY)
    base.update(kw)
    return snap(i, **base)


def test_auction_long_fires_with_atr_bracket_and_reason():
    s = AuctionSetup("SPY", StrategyParams())
    sig = s.on_bar(auction_up(), now(1))
    assert sig is not None
    assert sig.side is Side.BUY and sig.setup == "auction" and sig.symbol == "SPY"
    assert sig.entry == 100.0
    assert sig.stop == pytest.approx(100.0 - 1.5 * 0.5)
    assert sig.target == pytest.approx(100.0 + 3.0 * 0.5)
    assert sig.r_multiple == pytest.approx(2.0)
    assert sig.confidence == pytest.approx(0.7 * 82 + 15 * 0.9, abs=0.05)
    assert sig.id == f"SPY-auction-{now(1)}" and sig.created_ns == now(1)
    assert sig.qty == 0
    assert "IMBALANCE_UP" in sig.reason and "aggression 82 BUY >= 70" in sig.reason
    assert "momentum 0.90 ATR" in sig.reason and "stop 1.5 ATR" in sig.reason and "target 3 ATR" in sig.reason


def test_auction_short_mirror():
    sig = AuctionSetup("SPY", StrategyParams()).on_bar(
        auction_up(state=DOWN, direction=Side.SELL, last=50.0, atr=0.2, momentum=-3.0), now(1))
    assert sig.side is Side.SELL
    assert sig.stop == pytest.approx(50.3) and sig.target == pytest.approx(49.4)
    assert sig.confidence == pytest.approx(0.7 * 82 + 30, abs=0.05)


@pytest.mark.parametrize("missing", [
    dict(state=BAL), dict(aggression=69.9), dict(direction=Side.SELL), dict(direction=None),
    dict(atr=NAN), dict(atr=0.0), dict(last=NAN),
])
def test_auction_quiet_when_a_condition_is_missing(missing):
    assert AuctionSetup("SPY", StrategyParams()).on_bar(auction_up(**missing), now(1)) is None


def test_auction_custom_thresholds_move_the_bracket():
    p = StrategyParams(min_aggression=90, atr_stop=1.0, atr_target=2.0)
    assert AuctionSetup("SPY", p).on_bar(auction_up(), now(1)) is None
    sig = AuctionSetup("SPY", p).on_bar(auction_up(aggression=95), now(1))
    assert (sig.stop, sig.target) == (pytest.approx(99.5), pytest.approx(101.0))


def test_auction_balance_trades_only_when_allowed_and_strong():
    bal = dict(state=BAL, aggression=80.0, direction=Side.SELL)
    assert AuctionSetup("SPY", StrategyParams()).on_bar(auction_up(**bal), now(1)) is None
    p = StrategyParams(allow_balance_trades=True)
    sig = AuctionSetup("SPY", p).on_bar(auction_up(**bal), now(1))
    assert sig.side is Side.SELL and "BALANCE, aggression 80 SELL >= 80" in sig.reason
    assert AuctionSetup("SPY", p).on_bar(auction_up(**{**bal, "aggression": 75.0}), now(1)) is None


def test_auction_rearms_only_after_conditions_lapse():
    s = AuctionSetup("SPY", StrategyParams())
    fired = [s.on_bar(auction_up(1), now(1)) is not None]
    fired += [s.on_bar(auction_up(i), now(i)) is not None for i in (2, 3)]  # same episode
    fired.append(s.on_bar(auction_up(4, aggression=50.0), now(4)) is not None)  # lapse
    fired.append(s.on_bar(auction_up(5), now(5)) is not None)  # new episode
    fired.append(s.on_bar(auction_up(6, state=DOWN, direction=Side.SELL), now(6)) is not None)  # flip
    assert fired == [True, False, False, False, True, True]


def test_auction_ignores_a_repeated_bar():
    s = AuctionSetup("SPY", StrategyParams())
    assert s.on_bar(auction_up(1), now(1)) is not None
    # the same bar again, now with conditions lapsed: must not re-arm the latch
    assert s.on_bar(auction_up(1, aggression=0.0), now(1)) is None
    assert s.on_bar(auction_up(2), now(2)) is None


# --------------------------------------------------------------------------- trend model


def impulse_leg(side=Side.BUY, extreme=102.0, lvns=(100.5,), counts=True, start_ns=T0):
    return ImpulseLeg(side=side, start_ns=start_ns, start_price=99.0, extreme_price=extreme,
                      extreme_ns=T0 + 5 * NS_PER_MIN, range_atr=6.0, active=False, counts=counts,
                      lvns=tuple(Node(p, 3.0) for p in lvns))


def trend_up(i=1, **kw):
    base = dict(last=100.55, state=UP, atr=0.5, aggression=40.0, direction=Side.BUY,
                impulse=impulse_leg(), balance_high=100.0, balance_low=99.0)
    base.update(kw)
    return snap(i, **base)


def test_trend_model_long_on_pullback_to_impulse_lvn():
    sig = TrendModelSetup("SPY", StrategyParams(lvn_alert_atr=0)).on_bar(trend_up(), now(1))  # the % band
    assert sig is not None and sig.side is Side.BUY and sig.setup == "trend_model"
    band = 0.005 * 100.55  # lvn_alert_pct 0.5 % of price (lvn_alert_atr 0)
    # stop: max(1.5 ATR = 0.75, band 0.503) below the LVN 100.5
    assert sig.stop == pytest.approx(100.5 - 0.75)
    # target: impulse extreme 102.0 is nearer than entry + 3 ATR = 102.05
    assert sig.target == pytest.approx(102.0)
    # the bar (100.50-100.60) traded at the LVN: distance 0, full closeness
    assert sig.confidence == pytest.approx(0.6 * 40 + 40 * (1 - 0.0 / band), abs=0.05)
    assert "(0.00 ATR away" in sig.reason
    assert sig.id == f"SPY-trend_model-{now(1)}"
    for part in ("IMBALANCE_UP", "impulse BUY", "pullback to LVN 100.50", "aggression 40 BUY >= 35",
                 "beyond LVN at 99.75", "target impulse extreme at 102.00"):
        assert part in sig.reason


def test_trend_model_target_is_atr_when_extreme_is_farther():
    sig = TrendModelSetup("SPY", StrategyParams()).on_bar(trend_up(impulse=impulse_leg(extreme=104.0)), now(1))
    assert sig.target == pytest.approx(100.55 + 1.5) and "target 3 ATR" in sig.reason


def test_trend_model_stop_is_beyond_the_band_when_the_band_is_wider_than_the_atr_stop():
    # STRATEGY.md 9: stop beyond the LVN by max(atr_stop x ATR, LVN band)
    p = StrategyParams(lvn_alert_atr=2.0)  # band = 2 ATR = 1.0 > 1.5 ATR = 0.75
    sig = TrendModelSetup("SPY", p).on_bar(trend_up(), now(1))
    assert sig.stop == pytest.approx(100.5 - 1.0)


def test_trend_model_short_mirror():
    s = snap(1, last=99.45, state=DOWN, atr=0.5, aggression=60.0, direction=Side.SELL,
             impulse=impulse_leg(side=Side.SELL, extreme=97.0, lvns=(99.5, 98.0)),
             balance_low=100.0, balance_high=101.0)
    sig = TrendModelSetup("SPY", StrategyParams()).on_bar(s, now(1))
    assert sig.side is Side.SELL
    assert sig.stop == pytest.approx(99.5 + 0.75)
    assert sig.target == pytest.approx(99.45 - 1.5)  # 97.0 is farther than 3 ATR


@pytest.mark.parametrize("missing", [
    dict(state=BAL),
    dict(state=DOWN),
    dict(impulse=None),
    dict(impulse=impulse_leg(counts=False)),
    dict(impulse=impulse_leg(side=Side.SELL)),
    dict(impulse=impulse_leg(lvns=())),
    dict(last=101.2),  # 0.7 from the LVN, band 0.506: no pullback
    dict(balance_high=100.6),  # inside the band but not beyond the balance edge
    dict(aggression=30.0),
    dict(direction=Side.SELL),
    dict(atr=NAN),
    dict(impulse=impulse_leg(extreme=100.5)),  # extreme not beyond entry: no target
])
def test_trend_model_quiet_when_a_condition_is_missing(missing):
    assert TrendModelSetup("SPY", StrategyParams()).on_bar(trend_up(**missing), now(1)) is None


def test_trend_model_pullback_is_the_bar_trading_at_the_lvn_not_only_its_close():
    # default band 0.25 ATR = 0.125; the close 101.20 is 0.70 from the LVN 100.50, but the
    # bar's low 100.55 traded within 0.05 of it: a pullback to the node
    sig = TrendModelSetup("SPY", StrategyParams()).on_bar(trend_up(last=101.2, low=100.55), now(1))
    assert sig is not None and sig.entry == 101.2 and "(0.10 ATR away, band 0.25 ATR)" in sig.reason
    assert sig.stop == pytest.approx(100.5 - 0.75)
    assert sig.confidence == pytest.approx(0.6 * 40 + 40 * (1 - 0.05 / 0.125), abs=0.05)
    # near miss: the low 100.70 stayed 0.20 (> 0.125) above the LVN
    assert TrendModelSetup("SPY", StrategyParams()).on_bar(trend_up(last=101.2, low=100.7), now(1)) is None


def test_trend_model_trusts_the_analytics_pullback_flag():
    sig = TrendModelSetup("SPY", StrategyParams()).on_bar(trend_up(last=101.2, pullback=True), now(1))
    assert sig is not None and "analytics pullback to LVN 100.50" in sig.reason
    assert sig.stop == pytest.approx(99.75) and sig.target == pytest.approx(102.0)


def test_trend_model_one_signal_per_lvn_touch():
    s = TrendModelSetup("SPY", StrategyParams())
    two = impulse_leg(lvns=(100.5, 101.0))
    out = [s.on_bar(trend_up(1, impulse=two), now(1)),
           s.on_bar(trend_up(2, impulse=two, last=100.5), now(2)),  # same LVN, still holding
           s.on_bar(trend_up(3, impulse=two, last=100.95), now(3)),  # another LVN
           s.on_bar(trend_up(4, impulse=two, last=100.95, aggression=0.0), now(4)),  # lapse
           s.on_bar(trend_up(5, impulse=two, last=100.95), now(5))]
    assert [o is not None for o in out] == [True, False, True, False, True]
    assert out[2].stop == pytest.approx(101.0 - 0.75)


# --------------------------------------------------------------------------- mean reversion


def walk(setup, bars):
    """Feed (i, kwargs) bars; return {i: signal} for the bars that fired."""
    out = {}
    for i, kw in bars:
        sig = setup.on_bar(snap(i, **kw), now(i))
        if sig is not None:
            out[i] = sig
    return out


LVN_RP = profile(lvns=(100.3,))
FADE = dict(aggression=40.0, direction=Side.SELL, rolling=LVN_RP)


def failed_up_breakout(reclaim=dict(last=100.4, **FADE), prior=None, outside=1):
    """5 BALANCE bars inside value, a close above VAH 100.5 (high 101.0), ``outside``
    bars still above (the second makes a high of 101.2), then the reclaim bar."""
    prior = prior or [BAL] * 5
    bars = [(i + 1, dict(last=100.0, state=st, rolling=LVN_RP)) for i, st in enumerate(prior)]
    k = len(bars)
    bars.append((k + 1, dict(last=100.8, high=101.0, state=UP, rolling=LVN_RP)))
    for j in range(1, outside):
        bars.append((k + 1 + j, dict(last=100.7, high=101.2, state=UP, rolling=LVN_RP)))
    bars.append((k + 1 + outside, reclaim))
    return bars


def test_mean_reversion_fades_a_failed_up_breakout_to_the_poc():
    fired = walk(MeanReversionSetup("SPY", StrategyParams(lvn_alert_atr=0)), failed_up_breakout(outside=2))  # % band
    assert list(fired) == [8]
    sig = fired[8]
    assert sig.side is Side.SELL and sig.setup == "mean_reversion" and sig.entry == 100.4
    assert sig.target == pytest.approx(100.0)  # rolling POC
    assert sig.stop == pytest.approx(101.2 + 0.1 * 0.5)  # failed extreme + 0.1 ATR
    band = 0.005 * 100.4
    # the bar's low 100.35 came within 0.05 of the LVN 100.30 (its close is 0.10 away)
    assert sig.confidence == pytest.approx(0.6 * 40 + 40 * (1 - 0.05 / band), abs=0.05)
    for part in ("failed breakout above VAH 100.50", "after 5 BALANCE bars", "extreme 101.20",
                 "reclaimed in 2 bars (<= 5)", "rolling LVN 100.30", "aggression 40 SELL toward POC >= 35",
                 "target POC 100.00"):
        assert part in sig.reason


def test_mean_reversion_fades_a_failed_down_breakout_long():
    rp = profile(lvns=(99.7,))
    bars = [(i, dict(last=100.0, rolling=rp)) for i in range(1, 6)]
    bars += [(6, dict(last=99.2, low=98.9, state=DOWN, rolling=rp)),
             (7, dict(last=99.6, aggression=70.0, direction=Side.BUY, rolling=rp))]
    fired = walk(MeanReversionSetup("SPY", StrategyParams()), bars)
    sig = fired[7]
    assert sig.side is Side.BUY and sig.target == pytest.approx(100.0)
    assert sig.stop == pytest.approx(98.9 - 0.05)
    assert "below VAL 99.50" in sig.reason


def test_mean_reversion_entry_on_a_later_pullback_after_the_reclaim():
    bars = failed_up_breakout(reclaim=dict(last=100.45, aggression=40.0, direction=Side.BUY, rolling=LVN_RP))
    bars += [(8, dict(last=100.35, **FADE))]
    fired = walk(MeanReversionSetup("SPY", StrategyParams()), bars)
    assert list(fired) == [8] and fired[8].entry == 100.35


def test_mean_reversion_pullback_counts_the_bar_high_reaching_the_lvn():
    # after a failed up-breakout the fade bar closes at 100.05, 0.25 below the LVN 100.30
    # (band 0.25 ATR = 0.125), but its high 100.25 traded within 0.05 of it
    touch = dict(last=100.05, high=100.25, **FADE)
    fired = walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(reclaim=touch))
    assert list(fired) == [7] and "(0.10 ATR away, band 0.25 ATR)" in fired[7].reason
    # near miss: its high 100.15 stayed 0.15 (> 0.125) below the LVN
    miss = dict(last=100.05, high=100.15, **FADE)
    assert walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(reclaim=miss)) == {}


def test_mean_reversion_uses_session_lvns_too():
    fade = dict(last=100.4, aggression=40.0, direction=Side.SELL, rolling=profile(),
                session=profile(lvns=(100.35,)))
    fired = walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(reclaim=fade))
    assert "session LVN 100.35" in fired[7].reason


@pytest.mark.parametrize("reclaim_kw", [
    dict(direction=Side.BUY),  # flow away from the POC
    dict(aggression=30.0),
    dict(atr=NAN),
    dict(last=100.45, rolling=profile(lvns=(99.8,))),  # only LVN is below the POC
    dict(last=100.45, rolling=profile(lvns=(101.5,))),  # only LVN is beyond the extreme
    dict(rolling=profile(poc=100.45, lvns=(100.3,)), last=100.4),  # POC 100.45 above the short entry
])
def test_mean_reversion_quiet_when_a_condition_is_missing(reclaim_kw):
    reclaim = {**dict(last=100.4, **FADE), **reclaim_kw}
    assert walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(reclaim=reclaim)) == {}


def test_mean_reversion_lvn_must_be_within_the_band():
    p = StrategyParams(lvn_alert_atr=0.1)  # band 0.05; LVN 100.3 is 0.1 away
    assert walk(MeanReversionSetup("SPY", p), failed_up_breakout()) == {}
    p = StrategyParams(lvn_alert_atr=0.25)  # band 0.125
    assert list(walk(MeanReversionSetup("SPY", p), failed_up_breakout())) == [7]


def test_mean_reversion_needs_balance_before_the_breakout():
    assert walk(MeanReversionSetup("SPY", StrategyParams()),
                failed_up_breakout(prior=[BAL, BAL, UP, BAL, BAL])) == {}
    # only 4 bars of history before the breakout
    assert walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(prior=[BAL] * 4)) == {}
    # reclaim_bars sets how many BALANCE bars are required
    assert list(walk(MeanReversionSetup("SPY", StrategyParams(reclaim_bars=4)),
                     failed_up_breakout(prior=[BAL] * 4))) == [6]


def test_mean_reversion_reclaim_must_come_within_reclaim_bars():
    # breakout at bar 6; reclaim at bar 6 + 5 is in time, 6 + 6 is an accepted breakout
    assert list(walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(outside=5))) == [11]
    assert walk(MeanReversionSetup("SPY", StrategyParams()), failed_up_breakout(outside=6)) == {}


def test_mean_reversion_no_reclaim_no_signal():
    bars = failed_up_breakout(reclaim=dict(last=100.9, **FADE))  # still outside value
    assert walk(MeanReversionSetup("SPY", StrategyParams()), bars) == {}


def test_mean_reversion_close_through_the_other_side_ends_the_episode():
    bars = failed_up_breakout(reclaim=dict(last=99.3, **FADE))
    bars.append((8, dict(last=100.4, **FADE)))
    assert walk(MeanReversionSetup("SPY", StrategyParams()), bars) == {}


def test_mean_reversion_pullback_window_closes_reclaim_bars_after_the_reclaim():
    no_flow = dict(last=100.45, rolling=LVN_RP)
    bars = failed_up_breakout(reclaim=no_flow)  # reclaim at bar 7, no entry yet
    bars += [(i, no_flow) for i in range(8, 13)]  # bars 8..12: 5 more bars inside value
    late = list(bars) + [(13, dict(last=100.4, **FADE))]
    in_time = list(bars[:-1]) + [(12, dict(last=100.4, **FADE))]
    assert walk(MeanReversionSetup("SPY", StrategyParams()), late) == {}
    assert list(walk(MeanReversionSetup("SPY", StrategyParams()), in_time)) == [12]


def test_mean_reversion_one_signal_per_failed_breakout():
    bars = failed_up_breakout()
    bars += [(8, dict(last=100.35, **FADE)), (9, dict(last=100.3, **FADE))]
    assert list(walk(MeanReversionSetup("SPY", StrategyParams()), bars)) == [7]


def test_mean_reversion_stop_follows_a_new_extreme_after_the_reclaim():
    bars = failed_up_breakout(reclaim=dict(last=100.45, high=101.6, rolling=LVN_RP))
    bars.append((8, dict(last=100.4, **FADE)))
    sig = walk(MeanReversionSetup("SPY", StrategyParams()), bars)[8]
    assert sig.stop == pytest.approx(101.6 + 0.05)


# --------------------------------------------------------------------------- sma cross


def bar_snap(i, h, l, c):
    return replace(snap(i, last=c), last_bar=Bar("SPY", T0 + i * NS_PER_MIN, c, h, l, c, 100.0))


def test_sma_cross_hand_computed_long_then_short():
    s = SmaCrossSetup("SPY", StrategyParams(sma_period=3, atr_period=2))
    bars = [(10.5, 9.5, 10.0), (10.5, 9.5, 10.0), (10.2, 8.8, 9.0), (9.5, 8.5, 9.0),
            (11.5, 9.5, 11.0), (10.0, 8.0, 8.5)]
    sigs = [s.on_bar(bar_snap(i, *b), now(i)) for i, b in enumerate(bars)]
    assert [x is not None for x in sigs] == [False, False, False, False, True, True]
    # ATR: TR 1, 1 -> 1.0; TR 1.4 -> 1.2; TR 1 -> 1.1; TR 2.5 -> 1.8; TR 3 -> 2.4
    long, short = sigs[4], sigs[5]
    assert long.side is Side.BUY and long.entry == 11.0
    assert long.stop == pytest.approx(11.0 - 1.5 * 1.8) and long.target == pytest.approx(11.0 + 3.0 * 1.8)
    assert long.confidence == pytest.approx(50 + 50 * (11.0 - 29 / 3) / 1.8, abs=0.05)
    assert "crossed above SMA(3) 9.67" in long.reason and "ATR(2) 1.8" in long.reason
    assert short.side is Side.SELL and s.atr == pytest.approx(2.4)
    assert short.stop == pytest.approx(8.5 + 1.5 * 2.4) and short.target == pytest.approx(8.5 - 3.0 * 2.4)
    assert short.id == f"SPY-sma_cross-{now(5)}"


def test_sma_cross_touching_the_sma_is_not_a_cross():
    s = SmaCrossSetup("SPY", StrategyParams(sma_period=3, atr_period=2))
    closes = [10.0, 10.0, 10.0, 11.0]  # bar 2: close == SMA; bar 3 closes above
    assert all(s.on_bar(bar_snap(i, c + 0.5, c - 0.5, c), now(i)) is None for i, c in enumerate(closes))


def test_sma_cross_skips_and_counts_bad_bars():
    s = SmaCrossSetup("SPY", StrategyParams(sma_period=3, atr_period=2))
    assert s.on_bar(bar_snap(0, NAN, 9.0, 10.0), now(0)) is None
    assert s.on_bar(bar_snap(1, 10.0, 9.0, -1.0), now(1)) is None
    assert s.skipped_bars == 2 and math.isnan(s.atr)


def random_walk(n=2000, seed=3):
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    high = close + rng.uniform(0, 0.2, n)
    low = close - rng.uniform(0, 0.2, n)
    return high, low, close


def expected_crosses(close, ma):
    """backtesting.lib.crossover on whole arrays: prev below and now above (and mirror)."""
    up = (close[:-1] < ma[:-1]) & (close[1:] > ma[1:])
    down = (close[:-1] > ma[:-1]) & (close[1:] < ma[1:])
    return {i + 1: Side.BUY for i in np.flatnonzero(up)} | {i + 1: Side.SELL for i in np.flatnonzero(down)}


def run_sma_cross(high, low, close, params):
    s = SmaCrossSetup("X", params)
    got, atrs = {}, []
    for i in range(len(close)):
        sig = s.on_bar(bar_snap(i, high[i], low[i], close[i]), now(i))
        atrs.append(s.atr)
        if sig is not None:
            got[i] = sig
    return got, np.array(atrs)


def test_sma_cross_matches_the_array_definition():
    high, low, close = random_walk()
    p = StrategyParams()
    got, atrs = run_sma_cross(high, low, close, p)
    ref_atr = wilder_atr(high, low, close, 14)
    np.testing.assert_allclose(atrs, ref_atr, rtol=1e-12, equal_nan=True)
    assert np.isnan(ref_atr[12]) and not np.isnan(ref_atr[13])
    want = {i: side for i, side in expected_crosses(close, sma(close, 20)).items() if i >= 13}
    assert len(want) > 50
    assert {i: g.side for i, g in got.items()} == want
    i = next(iter(got))
    assert got[i].stop == pytest.approx(close[i] - 1.5 * ref_atr[i])


def test_sma_cross_on_real_btc_bars(shared_data):
    path = shared_data("btcusdt_perp_202201_bars_1m.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    high = np.array([float(r["high"]) for r in rows])
    low = np.array([float(r["low"]) for r in rows])
    close = np.array([float(r["close"]) for r in rows])
    assert len(close) == 45_031
    got, _ = run_sma_cross(high, low, close, StrategyParams())
    want = {i: side for i, side in expected_crosses(close, sma(close, 20)).items() if i >= 13}
    assert {i: g.side for i, g in got.items()} == want
    assert len(got) == 5338  # measured: 2668 long, 2670 short crosses in January 2022


# --------------------------------------------------------------------------- registry


def test_registry_names_and_classes():
    assert set(SETUPS) == {"auction", "trend_model", "mean_reversion", "sma_cross", "ema_cross", "vwap_reclaim",
                           "sigma_fade", "hod_failure", "orb", "trend_pullback", "vwap_mean_reversion"}
    assert all(cls.name == name for name, cls in SETUPS.items())


def test_make_setups_builds_the_configured_ones_per_symbol():
    built = make_setups("SPY", StrategyParams())
    assert [s.name for s in built] == ["auction", "trend_model", "mean_reversion"]
    assert all(isinstance(s, Setup) and s.symbol == "SPY" for s in built)
    other = make_setups("QQQ", StrategyParams(setups=["sma_cross", "auction"]))
    assert [type(s) for s in other] == [SmaCrossSetup, AuctionSetup]
    assert make_setups("SPY", StrategyParams(enabled=False)) == []
