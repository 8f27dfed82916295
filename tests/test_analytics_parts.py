"""The parts SymbolAnalytics is made of: which are present for which needs, that
each null stand-in answers like its part, each part's own rules, and the one
TradeClassifier shared by the live path and the importers."""
import math
from datetime import datetime, timezone

import numpy as np
import pytest

from engine.analytics.alert_levels import NO_ALERT_LEVELS, AlertLevels
from engine.analytics.alerts import LvnAlertTracker
from engine.analytics.flow import TradeClassifier
from engine.analytics.impulse import NO_IMPULSE, ImpulseWatch
from engine.analytics.order_flow import CVD_HISTORY, NO_ORDER_FLOW, CvdHistory, NoCvdHistory, OrderFlow
from engine.analytics.rolling import NO_ROLLING_PROFILE, RollingProfile
from engine.analytics.session import SessionCalendar
from engine.analytics.session_profiles import RthVolumeSeen, SessionProfiles
from engine.analytics.session_totals import SessionTotals
from engine.analytics.symbol import SymbolAnalytics
from engine.config import StrategyParams
from engine.importers import trades_to_candles
from engine.model import NS_PER_MIN, NS_PER_S, Bar, FlowView, MarketState, Node, ProfileStats, Quote, Trade

US = SessionCalendar("us_equity")
UTC = SessionCalendar("24h_utc")
PARAMS = StrategyParams(lookback_minutes=5, atr_period=3, momentum_bars=3, bin_size=0.5, bvc_window=3)


def ns(y, mo, d, h, mi, s=0):
    return int(datetime(y, mo, d, h, mi, s, tzinfo=timezone.utc).timestamp()) * NS_PER_S


def bar(minute_ns, close, volume=10.0, **kw):
    return Bar("XYZ", minute_ns, close, close + 0.5, close - 0.5, close, volume, **kw)


def parts(an):
    return (an._flow, an._rolling, an._profiles, an._impulse, an._alert_levels)


# --------------------------------------------------------------------------- assembly


@pytest.mark.parametrize("needs, present", [
    (frozenset(), set()),
    (frozenset({"flow"}), {"flow"}),
    (frozenset({"state"}), {"rolling"}),
    (frozenset({"profiles"}), {"profiles"}),
    (frozenset({"structure"}), {"profiles", "impulse"}),
    (frozenset({"alerts"}), {"profiles", "impulse", "alerts"}),
    (None, {"flow", "rolling", "profiles", "impulse", "alerts"}),
])
def test_the_parts_present_are_those_the_needs_ask_for(needs, present):
    an = SymbolAnalytics("XYZ", PARAMS, US, needs=needs)
    flow, rolling, profiles, impulse, alerts = parts(an)
    got = {name for name, part, real in (("flow", flow, OrderFlow), ("rolling", rolling, RollingProfile),
                                         ("profiles", profiles, SessionProfiles), ("impulse", impulse, ImpulseWatch),
                                         ("alerts", alerts, AlertLevels)) if isinstance(part, real)}
    assert got == present
    assert isinstance(profiles, SessionProfiles if "profiles" in present else RthVolumeSeen)


def test_the_sparkline_history_is_kept_only_when_asked_for():
    assert isinstance(OrderFlow(PARAMS, sparkline=True)._history, CvdHistory)
    assert isinstance(OrderFlow(PARAMS, sparkline=False)._history, NoCvdHistory)


@pytest.mark.parametrize("real, null", [
    (OrderFlow(PARAMS, sparkline=True), NO_ORDER_FLOW),
    (RollingProfile(PARAMS, nodes=True), NO_ROLLING_PROFILE),
    (SessionProfiles(PARAMS), RthVolumeSeen()),
    (ImpulseWatch(PARAMS, LvnAlertTracker("XYZ", PARAMS).band), NO_IMPULSE),
    (CvdHistory(), NoCvdHistory()),
])
def test_each_null_part_answers_every_public_name_of_its_part(real, null):
    names = {n for n in dir(real) if not n.startswith("_")} - {"range_profile"}  # range_profile: the tracker's callback
    assert names and names <= set(dir(null)), names - set(dir(null))


def test_the_alert_null_part_has_no_price_to_watch():
    assert NO_ALERT_LEVELS.watch is None and NO_ALERT_LEVELS.levels == ()


# --------------------------------------------------------------------------- one classifier


def test_the_classifier_falls_back_to_the_prevailing_quote():
    c = TradeClassifier()
    c.classify(10.0)
    c.set_quote(10.0, 10.2)
    assert c.classify(10.15) == 1  # above the prevailing mid 10.1
    assert c.classify(10.05) == -1  # below it
    assert c.classify(10.15, 0, 10.1, 10.3) == -1  # the trade's own quote wins (mid 10.2)
    assert c.classify(10.05, 1) == 1  # the true side wins over both
    c.set_quote(10.3, 10.2)  # crossed: unusable, clears the prevailing quote
    assert (c.bid, c.ask) == (None, None)
    assert c.classify(10.1) == 1  # tick rule: up from 10.05
    c.set_quote(math.nan, 10.2)
    assert c.bid is None


def test_live_bars_and_imported_candles_classify_every_trade_the_same():
    rng = np.random.default_rng(3)
    t0 = ns(2024, 3, 4, 14, 30)
    n = 3000
    ts = (t0 + np.cumsum(rng.integers(1, 3 * NS_PER_S, n))).tolist()
    px = np.round(100 + np.cumsum(rng.normal(0, 0.02, n)), 2).tolist()
    size = rng.integers(1, 50, n).astype(float).tolist()
    side = rng.choice([-1, 0, 0, 0, 1], n).tolist()
    quoted = rng.random(n) < 0.4
    bid = [p - 0.01 if q else math.nan for p, q in zip(px, quoted)]
    ask = [p + 0.03 if q else math.nan for p, q in zip(px, quoted)]
    candles = trades_to_candles("XYZ", ts, px, size, side, bid, ask, bin_size=0.05)
    an = SymbolAnalytics("XYZ", StrategyParams(bin_size=0.05), US, needs=frozenset())
    live = [b for b in (an.on_trade(Trade("XYZ", t, p, s, d, None if q != q else q, None if a != a else a))
                        for t, p, s, d, q, a in zip(ts, px, size, side, bid, ask)) if b is not None]
    live.append(an.close_until(ts[-1] + NS_PER_MIN))
    assert len(live) == len(candles) > 50
    assert live == candles
    assert sum(b.buy_volume for b in live) > 0 and sum(b.sell_volume for b in live) > 0


def test_quotes_reach_the_classifier_of_the_live_path():
    an = SymbolAnalytics("XYZ", StrategyParams(bin_size=0.05), UTC, needs=frozenset())
    t = ns(2024, 3, 4, 10, 0)
    an.on_trade(Trade("XYZ", t, 100.0, 1.0))
    an.on_quote(Quote("XYZ", t + 1, 100.1, 100.3))
    an.on_trade(Trade("XYZ", t + 2, 100.25, 2.0))  # above the mid 100.2: buy
    an.on_trade(Trade("XYZ", t + 3, 100.3, 4.0))  # above the mid: buy
    an.on_trade(Trade("XYZ", t + 4, 100.35, 8.0))
    an.on_quote(Quote("XYZ", t + 5, 100.5, 100.7))
    an.on_trade(Trade("XYZ", t + 6, 100.4, 16.0))  # a tick up, but below the mid 100.6: sell
    b = an.close_until(t + NS_PER_MIN)
    assert (b.buy_volume, b.sell_volume) == (14.0, 16.0)  # the first trade: no price change yet, no quote


# --------------------------------------------------------------------------- each part's rules


def test_the_rolling_profile_ages_bars_out_by_time_not_by_count():
    roll = RollingProfile(PARAMS, nodes=False)
    roll.use_bins(0.5)
    m0 = ns(2024, 3, 4, 15, 0)
    roll.on_bar(m0, {200: 10.0}, 100.2, 0.0)
    roll.on_bar(m0 + NS_PER_MIN, {202: 4.0}, 101.2, 0.0)
    assert roll.stats.total_volume == 14.0 and roll.stats.poc == 100.25
    roll.on_bar(m0 + 5 * NS_PER_MIN, {204: 1.0}, 102.2, 0.0)  # lookback 5: the first bar left the window
    assert roll.stats.total_volume == 5.0 and roll.stats.poc == 101.25
    roll.on_bar(m0 + 60 * NS_PER_MIN, {204: 2.0}, 102.2, 0.0)  # after a gap only this bar is left
    assert roll.stats.total_volume == 2.0 and roll.stats.lvns == () and roll.stats.histogram == ()
    assert roll.state is MarketState.BALANCE and roll.distance == abs(102.2 - 102.25) / 102.25 * 100.0


def test_session_profiles_roll_only_a_session_that_had_volume():
    prof = SessionProfiles(PARAMS)
    prof.use_bins(0.5)
    prof.on_rth_bar({200: 3.0}, 3.0)
    first = prof.session
    assert prof.new_session() is True and prof.previous is first and prof.session is None
    assert prof.new_session() is False and prof.previous is first  # an empty session keeps the older one
    seen = RthVolumeSeen()
    seen.on_rth_bar({}, 0.0)
    assert seen.new_session() is False
    seen.on_rth_bar({}, 2.0)
    assert seen.new_session() is True and seen.new_session() is False and seen.previous is None


def test_session_totals_make_the_last_rth_close_the_previous_close():
    tot = SessionTotals(US, 50.0)
    monday = ns(2024, 3, 4, 15, 0)
    assert tot.enter(monday) is False  # the first session seen is not a new one
    assert tot.in_rth(monday) and not tot.in_rth(ns(2024, 3, 4, 13, 0))
    tot.on_rth_bar(51.0)
    tot.on_rth_bar(52.0)
    assert (tot.bars, tot.close) == (2, 52.0)
    tot.new_session(had_volume=False)
    assert tot.prev_close == 50.0 and tot.bars == 0 and math.isnan(tot.close)
    tot.on_rth_bar(53.0)
    assert tot.enter(ns(2024, 3, 5, 15, 0)) is True
    tot.new_session(had_volume=True)
    assert tot.prev_close == 53.0


def test_order_flow_splits_only_bars_without_a_split_and_sums_rth_bars():
    flow = OrderFlow(PARAMS, sparkline=True)
    m0 = ns(2024, 3, 4, 15, 0)
    own = bar(m0, 100.0, buy_volume=6.0, sell_volume=4.0)
    assert flow.on_bar(own, rth=True) is own
    split = flow.on_bar(bar(m0 + NS_PER_MIN, 101.0), rth=False)  # extended hours: no session sums
    assert split.buy_volume == 5.0 and split.sell_volume == 5.0  # fewer than 2 changes: half
    assert (flow.cvd_closed, flow.vol_closed) == (2.0, 10.0)
    view = flow.view(7.0)
    assert isinstance(view, FlowView) and view.cvd == 7.0 and view.last_delta == 0.0 and view.cvd_history == (2.0,)
    flow.new_session()
    assert (flow.cvd_closed, flow.pv_closed, flow.vol_closed, flow.view(0.0).cvd_history) == (0.0, 0.0, 0.0, ())
    h = CvdHistory()
    for k in range(CVD_HISTORY + 5):
        h.add(float(k))
    assert len(h.values) == CVD_HISTORY and h.values[0] == 5.0


class _Profiles:
    def __init__(self, session=None, previous=None):
        self.session, self.previous = session, previous


class _Impulse:
    leg = None


def _stats(*lvns):
    return ProfileStats(0.5, 10.0, 100.25, 101.0, 99.5, 7.0, tuple(Node(p, 1.0) for p in lvns))


def test_alert_levels_wait_for_a_price_then_follow_every_update():
    tracker = LvnAlertTracker("XYZ", StrategyParams(lvn_alert_pct=0.1))
    profiles = _Profiles()
    levels = AlertLevels(tracker, profiles, _Impulse())
    assert levels.watch is None
    profiles.session = _stats(100.0)
    levels.update()
    assert tracker.levels == ()  # not worked out until a price needs them
    t = ns(2024, 3, 4, 15, 0)
    assert levels.watch(110.0, t, math.nan) == []
    assert tracker.levels == ((100.0, "session", True),) and levels.watch == tracker.on_price
    profiles.session = _stats()
    levels.update()  # priced: pushed at once; nothing left to watch
    assert tracker.levels == () and levels.watch is None
    profiles.previous = _stats(105.0)
    levels.update()
    fired = levels.watch(105.05, t + 1, math.nan)
    assert [(a.lvn_price, a.source) for a in fired] == [(105.0, "previous")]


def test_an_empty_level_set_leaves_nothing_to_watch_until_the_next_update():
    tracker = LvnAlertTracker("XYZ", StrategyParams())
    levels = AlertLevels(tracker, _Profiles(), _Impulse())
    levels.update()
    assert levels.watch(100.0, 1, math.nan) == [] and levels.watch is None
    assert levels._priced is False  # no level was given a price: the next set is still deferred
