"""One symbol's analytics: every number of STRATEGY.md sections 1-8, kept up to
date trade by trade (or bar by bar) and published as a SymbolSnapshot.

Per trade (the hot path, O(1), no numpy): validate, classify, add to the open
one-minute bar, move the last price, check LVN alerts. Everything else happens
when a bar closes (a trade of a later minute, ``close_until`` when time passes
with no trades, or ``on_bar``): indicators, BVC, rolling and session profiles
and their statistics, market state, aggression, structure, alert levels. The
statistics are cached there, so ``snapshot()`` is cheap.

Choices made here (STRATEGY.md leaves them open):

- Session quantities (developing session profile, session VWAP, CVD, the
  session bar count, the session close) take only bars inside regular trading
  hours (``calendar.in_rth``; for 24-hour kinds the whole trading day).
  Extended-hours trades still build bars, move the last price and feed
  everything that follows the bar series: ATR, momentum, volume ratio, BVC,
  the rolling profile (so market state has context at the open), aggression
  (a sum of bar deltas, not the CVD level), structure and alerts.
- A new session date (``calendar.session_date`` of the bar's minute) rolls the
  developing profile into the previous one (when it had any volume; a session
  without RTH volume keeps the older previous profile), sets the balance range
  to the previous VAL..VAH, sets prev_close to the last RTH close, and resets
  CVD, VWAP and the session counters.
- The session profile, CVD and VWAP accumulate closed *bars* (their volume at
  price, delta, vwap x volume), not single trades, so a restart that replays
  the stored bars through ``on_bar`` rebuilds them bit for bit. The live ``cvd``
  and ``vwap`` add the open bar on top.
- The rolling profile holds the bars of the last ``lookback_minutes`` minutes
  by time (bar start > close minute - lookback), not the last N bars, so a
  gap (overnight, a halt) ages it out.
- Malformed trades (NaN/inf/non-positive price or size, bad timestamp, a
  timestamp more than 1 s before the latest one, a late print for a minute
  whose bar has already closed) are skipped, counted in ``malformed`` and kept
  with the reason for ``drain_rejects``. A late print (<= 1 s back) for the
  open bar's minute or the minute before goes into the open bar.
- ``in_session`` of the snapshot says whether the last closed bar was in RTH
  (setups evaluate closed bars).
- Impulse LVNs are alert levels while the leg counts (range >= impulse_min_atr),
  extending or ended-but-kept.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import fields
from datetime import date
from typing import Optional

from ..config import StrategyParams
from ..model import (
    NS_PER_MIN,
    NS_PER_S,
    Bar,
    FlowView,
    LvnAlert,
    MarketState,
    ProfileStats,
    Quote,
    Side,
    SymbolSnapshot,
    Trade,
)
from .aggression import AggressionTracker
from .alerts import LvnAlertTracker
from .bars import MinuteBarBuilder
from .flow import BulkVolumeClassifier, pressure
from .indicators import Momentum, VolumeRatio, WilderATR
from .profile import BIN_EPS, DenseProfile, VolumeProfile, range_bin_dict, resolve_bin_size
from .session import SessionCalendar
from .state import classify_state
from .structure import StructureTracker

NAN = float("nan")
_INF = float("inf")

# What the analytics can compute, for ``needs`` (None = all of it, as the live
# path and its panes always want). A backtest computes the union of what its
# setups declare (``Setup.needs``); anything not needed keeps its empty value.
# ATR, momentum, the last bar/price and the session counters are always kept
# (the engine's exits read ATR; they cost next to nothing).
#   flow      buy/sell volume of bars (BVC), aggression, volume ratio, pressure,
#             CVD, VWAP
#   sparkline the CVD of every closed bar of the session (FlowView.cvd_history,
#             drawn by the flow pane; implies flow)
#   state     the rolling profile's POC/VAH/VAL, market state, distance from POC
#   profiles  session and previous profiles (balance range), every profile's
#             nodes and histogram (without it the rolling ProfileStats carry no
#             LVNs/HVNs and no histogram)
#   structure impulse legs, pullback (implies profiles: the balance range)
#   alerts    LVN alert levels and alerts (implies profiles and structure)
NEEDS = ("flow", "sparkline", "state", "profiles", "structure", "alerts")
NEEDS_ALL = frozenset(NEEDS)
_IMPLIES = {"sparkline": ("flow",), "structure": ("profiles",), "alerts": ("profiles", "structure")}


def resolve_needs(needs: Optional[frozenset[str]]) -> frozenset[str]:
    """``needs`` plus what they imply; None means everything. Unknown names are an error."""
    if needs is None:
        return NEEDS_ALL
    bad = sorted(set(needs) - NEEDS_ALL)
    if bad:
        raise ValueError(f"unknown analytics needs {bad}; allowed: {', '.join(NEEDS)}")
    out = set(needs)
    for k in needs:
        out.update(_IMPLIES.get(k, ()))
    return frozenset(out)
BACKWARD_TOLERANCE_NS = NS_PER_S
CVD_HISTORY = 390  # closed bars kept for the sparkline (one RTH session)
HISTORY_BARS = 2 * 1440  # bar histograms kept for impulse range profiles


# snapshot() builds FlowView and SymbolSnapshot with positional arguments (once
# per bar: cheaper than keywords); it relies on this field order, checked here.
_FLOW_FIELDS = ("aggression", "direction", "volume_ratio", "cvd", "cvd_change", "buy_pressure", "sell_pressure",
                "pressure_ratio", "last_delta", "cvd_history")
_SNAPSHOT_FIELDS = ("symbol", "ts_ns", "last", "prev_close", "change_pct", "state", "distance_from_poc_pct",
                    "momentum", "atr", "vwap", "rolling", "session_profile", "previous_profile", "flow",
                    "balance_low", "balance_high", "impulse", "pullback", "bars", "last_bar", "in_session")
for _cls, _names in ((FlowView, _FLOW_FIELDS), (SymbolSnapshot, _SNAPSHOT_FIELDS)):
    if tuple(f.name for f in fields(_cls))[: len(_names)] != _names:
        raise ImportError(f"{_cls.__name__}'s fields changed order; update SymbolAnalytics.snapshot")


def _bar_problem(bar: Bar) -> Optional[str]:
    o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
    if type(o) is float and type(h) is float and type(lo) is float and type(c) is float and type(v) is float \
            and 0.0 < lo <= o <= h < _INF and lo <= c <= h and 0.0 <= v < _INF:
        return None  # the common case, decided by the same tests as below
    for name, x in (("open", o), ("high", h), ("low", lo), ("close", c)):
        if not (isinstance(x, (int, float)) and 0.0 < x < _INF):
            return f"bar {name} {x!r} is not a positive finite price"
    if not (isinstance(v, (int, float)) and 0.0 <= v < _INF):
        return f"bar volume {v!r} is not a finite non-negative number"
    if not (lo <= min(o, c) and max(o, c) <= h):
        return f"bar high/low {h}/{lo} do not contain open/close {o}/{c}"
    return None


class SymbolAnalytics:
    __slots__ = (
        "symbol", "params", "calendar", "prev_close", "malformed", "bin_size",
        "_rejects", "_alerts", "_builder", "_bid", "_ask", "_last_px", "_tick", "_max_ts",
        "_last_closed_minute", "_sess_start", "_sess_end", "_sess_date", "_rth", "_bar_rth",
        "_session_profile", "_session_stats", "_previous_stats", "_cvd_closed", "_pv_closed",
        "_vol_closed", "_session_bars", "_session_close", "_atr", "_mom", "_vr", "_bvc", "_agg",
        "_rolling", "_roll_q", "_rolling_stats", "_history", "_state", "_dist", "_momentum",
        "_atr_v", "_agg_res", "_last_bar", "_last_bar_rth", "_cvd_hist_t",
        "_last", "_last_ts", "_structure", "_lvn", "_levels", "_pullback", "_version",
        "_snap", "_snap_version", "_pressure", "needs", "_need_flow", "_need_state", "_need_profiles",
        "_need_structure", "_need_alerts", "_need_bins", "_levels_dirty", "_priced", "_range_cache",
        "_idle_flow", "_sess_has_vol", "_need_sparkline",
    )

    def __init__(self, symbol: str, params: StrategyParams, calendar: SessionCalendar, prev_close: float = NAN,
                 needs: Optional[frozenset[str]] = None) -> None:
        self.needs = resolve_needs(needs)
        n = self.needs
        self._need_flow = "flow" in n
        self._need_sparkline = "sparkline" in n
        self._need_state = "state" in n
        self._need_profiles = "profiles" in n
        self._need_structure = "structure" in n
        self._need_alerts = "alerts" in n
        self._need_bins = self._need_state or self._need_profiles
        self._levels_dirty = False
        self._priced = False  # the LVN alert tracker has been given a price
        self._range_cache: Optional[tuple[int, int, int, VolumeProfile]] = None
        self._idle_flow = FlowView(0.0, None, NAN, 0.0, 0.0, NAN, NAN, NAN, NAN, ())
        self._sess_has_vol = False  # without "profiles": the session had RTH volume
        self.symbol = symbol
        self.params = params
        self.calendar = calendar
        self.prev_close = float(prev_close)
        self.malformed = 0
        self.bin_size: Optional[float] = None if params.bin_size == "auto" else resolve_bin_size(params, 1.0)
        self._rejects: list[tuple[Trade, str]] = []
        self._alerts: list[LvnAlert] = []
        self._builder: Optional[MinuteBarBuilder] = None
        self._bid: Optional[float] = None
        self._ask: Optional[float] = None
        self._last_px = NAN  # tick rule state: previous trade price
        self._tick = 0  # tick rule state: direction of the last price change
        self._max_ts = 0
        self._last_closed_minute = -1
        self._sess_start = 0
        self._sess_end = -1
        self._sess_date: Optional[date] = None
        self._rth: Optional[tuple[int, int]] = None
        self._bar_rth = False
        self._session_profile: Optional[DenseProfile] = None
        self._session_stats: Optional[ProfileStats] = None
        self._previous_stats: Optional[ProfileStats] = None
        self._cvd_closed = 0.0
        self._pv_closed = 0.0
        self._vol_closed = 0.0
        self._session_bars = 0
        self._session_close = NAN
        self._atr = WilderATR(params.atr_period)
        self._mom = Momentum(params.momentum_bars)
        self._vr = VolumeRatio(params.volume_ratio_bars)
        self._bvc = BulkVolumeClassifier(params.bvc_window)
        self._agg = AggressionTracker(params)
        self._rolling: Optional[DenseProfile] = None
        self._roll_q: deque[tuple[int, dict[int, float]]] = deque()
        self._rolling_stats: Optional[ProfileStats] = None
        self._history: deque[tuple[int, dict[int, float]]] = deque(maxlen=HISTORY_BARS)
        self._state = MarketState.BALANCE
        self._dist = NAN
        self._momentum = NAN
        self._atr_v = NAN
        self._agg_res = None
        self._pressure = (NAN, NAN, NAN)
        self._last_bar: Optional[Bar] = None
        self._last_bar_rth = False
        self._cvd_hist_t: tuple[float, ...] = ()  # the last CVD_HISTORY closed bars' CVD
        self._last = NAN
        self._last_ts = 0
        self._structure = StructureTracker(params, self._range_profile)
        self._lvn = LvnAlertTracker(symbol, params)
        self._levels: tuple = ()
        self._pullback = False
        self._version = 0
        self._snap: Optional[SymbolSnapshot] = None
        self._snap_version = -1
        if self.bin_size is not None:
            self._init_bins(self.bin_size)

    # ------------------------------------------------------------------ inputs

    def on_trade(self, trade: Trade) -> Optional[Bar]:
        """Apply one trade; returns the bar it closed (a trade of a later minute), if any."""
        price = trade.price
        size = trade.size
        ts = trade.ts_ns
        try:
            if not (0.0 < price < _INF and 0.0 < size < _INF and ts > 0):
                return self._reject(trade, self._trade_problem(trade))
        except TypeError:
            return self._reject(trade, self._trade_problem(trade))
        max_ts = self._max_ts
        if ts < max_ts:
            if ts < max_ts - BACKWARD_TOLERANCE_NS:
                return self._reject(trade, f"timestamp {ts} is {(max_ts - ts) / 1e9:.3f}s before the latest {max_ts}")
        else:
            self._max_ts = ts
        b = self._builder
        if b is None:
            self._init_bins(resolve_bin_size(self.params, price))
            b = self._builder
        m = ts - ts % NS_PER_MIN
        closed = None
        if m > b.minute:
            if b.minute >= 0:
                closed = self._close_open_bar()
            elif m <= self._last_closed_minute:
                return self._reject(trade, "late print for a minute whose bar has already closed")
            if not (self._sess_start <= m < self._sess_end):
                self._enter_session(m)
            r = self._rth
            self._bar_rth = r is not None and r[0] <= m < r[1]
        # classify: true side, else Lee-Ready, else tick rule (see flow.py)
        last = self._last_px
        if price > last:
            tick = self._tick = 1
        elif price < last:
            tick = self._tick = -1
        else:
            tick = self._tick
        self._last_px = price
        side = trade.side
        if side:
            side = 1 if side > 0 else -1
        else:
            bid = trade.bid
            if bid is None:
                bid = self._bid
                ask = self._ask
            else:
                ask = trade.ask
            side = tick
            if bid is not None and ask is not None and 0.0 < bid <= ask < _INF:
                mid = (bid + ask) * 0.5
                if price > mid:
                    side = 1
                elif price < mid:
                    side = -1
        b.add(ts, price, size, side)
        self._last = price
        self._last_ts = ts
        self._version += 1
        if self._levels_dirty:
            self._push_levels()
        if self._levels:
            self._priced = True
            alerts = self._lvn.on_price(price, ts, self._atr_v)
            if alerts:
                self._alerts.extend(alerts)
        return closed

    def on_quote(self, q: Quote) -> None:
        """Remember the prevailing quote for Lee-Ready on trades that carry none."""
        bid, ask = q.bid, q.ask
        if 0.0 < bid <= ask < _INF:
            self._bid, self._ask = bid, ask
        else:
            self._bid = self._ask = None

    def on_bar(self, bar: Bar) -> Optional[Bar]:
        """Apply a closed one-minute bar (bars-only history, or a stored candle on a
        restart). Uses its volume at price if present, else spreads its volume over
        its range; uses its buy/sell volume unless NaN, else BVC. Returns the bar as
        applied (buy/sell volume filled in), or None when it was rejected."""
        problem = _bar_problem(bar)
        m = bar.ts_ns - bar.ts_ns % NS_PER_MIN
        if problem is None and m <= self._last_closed_minute:
            problem = f"bar for {m} is not after the last closed bar {self._last_closed_minute}"
        if problem is not None:
            self.malformed += 1
            self._rejects.append((Trade(bar.symbol, bar.ts_ns, bar.close, bar.volume), problem))
            return None
        if self._builder is None:
            self._init_bins(resolve_bin_size(self.params, bar.open))
        b = self._builder
        if b.minute >= 0:
            if m <= b.minute:
                self.malformed += 1
                self._rejects.append((Trade(bar.symbol, bar.ts_ns, bar.close, bar.volume),
                                      "bar for the minute of the open trade bar"))
                return None
            self._close_open_bar()
        if not (self._sess_start <= m < self._sess_end):
            self._enter_session(m)
        r = self._rth
        rth = r is not None and r[0] <= m < r[1]
        bins: dict[int, float] = {}
        if not self._need_bins:
            pass
        elif bar.vap:
            bs = self.bin_size
            for p, v in bar.vap:
                i = math.floor(p / bs + BIN_EPS)
                bins[i] = bins.get(i, 0.0) + v
        elif bar.volume > 0.0:
            bins = range_bin_dict(bar.low, bar.high, bar.volume, self.bin_size)
        if self._need_flow:
            self._bvc.push(bar.close)
            buy, sell = bar.buy_volume, bar.sell_volume
            if not (buy == buy and sell == sell):
                buy = bar.volume * self._bvc.fraction()
                bar = Bar(bar.symbol, bar.ts_ns, bar.open, bar.high, bar.low, bar.close, bar.volume,
                          buy, bar.volume - buy, bar.trades, bar.vwap, bar.vap)
        self._after_bar(bar, bins, rth)
        self._last = bar.close
        end = m + NS_PER_MIN
        if end > self._last_ts:
            self._last_ts = end
        return bar

    def close_until(self, ts_ns: int) -> Optional[Bar]:
        """Time has reached ``ts_ns`` with no trade: close the open bar if its minute is over."""
        b = self._builder
        if b is not None and b.minute >= 0 and ts_ns >= b.minute + NS_PER_MIN:
            return self._close_open_bar()
        return None

    # ------------------------------------------------------------------ outputs

    def drain_rejects(self) -> list[tuple[Trade, str]]:
        out, self._rejects = self._rejects, []
        return out

    def drain_alerts(self) -> list[LvnAlert]:
        out, self._alerts = self._alerts, []
        return out

    @property
    def last(self) -> float:
        return self._last

    @property
    def cvd(self) -> float:
        """Session CVD including the open bar (sum of the closed bars' deltas plus the open bar's)."""
        b = self._builder
        if b is not None and b.minute >= 0 and self._bar_rth:
            return self._cvd_closed + (b.buy - b.sell)
        return self._cvd_closed

    @property
    def vwap(self) -> float:
        pv, vol = self._pv_closed, self._vol_closed
        b = self._builder
        if b is not None and b.minute >= 0 and self._bar_rth:
            pv += b.pv
            vol += b.volume
        return pv / vol if vol > 0.0 else NAN

    def snapshot(self) -> SymbolSnapshot:
        if self._snap_version == self._version and self._snap is not None:
            return self._snap
        last = self._last
        pc = self.prev_close
        if self._need_flow:
            agg = self._agg_res
            bp, sp, ratio = self._pressure
            lb = self._last_bar
            # positional arguments, in FlowView's field order (cheaper than keywords, once per bar)
            if agg is not None:
                flow = FlowView(agg.score, agg.direction, agg.volume_ratio, self.cvd, agg.cvd_change, bp, sp, ratio,
                                (lb.buy_volume - lb.sell_volume) if lb else 0.0, self._cvd_hist_t)
            else:
                flow = FlowView(0.0, None, NAN, self.cvd, 0.0, bp, sp, ratio,
                                (lb.buy_volume - lb.sell_volume) if lb else 0.0, self._cvd_hist_t)
        else:
            flow = self._idle_flow
        prev = self._previous_stats
        # positional arguments, in SymbolSnapshot's field order: symbol, ts_ns, last,
        # prev_close, change_pct, state, distance_from_poc_pct, momentum, atr, vwap,
        # rolling, session_profile, previous_profile, flow, balance_low,
        # balance_high, impulse, pullback, bars, last_bar, in_session
        snap = SymbolSnapshot(
            self.symbol, self._last_ts, last, pc, (last - pc) / pc * 100.0 if pc > 0.0 else NAN,
            self._state, self._dist, self._momentum, self._atr_v, self.vwap,
            self._rolling_stats, self._session_stats, prev, flow,
            prev.val if prev else NAN, prev.vah if prev else NAN,
            self._structure.impulse, self._pullback, self._session_bars, self._last_bar, self._last_bar_rth,
        )
        self._snap = snap
        self._snap_version = self._version
        return snap

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _trade_problem(t: Trade) -> str:
        p, s, ts = t.price, t.size, t.ts_ns
        if not isinstance(p, (int, float)) or not (0.0 < p < _INF):
            return f"price {p!r} is not a positive finite number"
        if not isinstance(s, (int, float)) or not (0.0 < s < _INF):
            return f"size {s!r} is not a positive finite number"
        return f"timestamp {ts!r} is not a positive integer of nanoseconds"

    def _reject(self, trade: Trade, reason: str) -> None:
        self.malformed += 1
        self._rejects.append((trade, reason))
        return None

    def _init_bins(self, bin_size: float) -> None:
        self.bin_size = bin_size
        self._builder = MinuteBarBuilder(self.symbol, bin_size)
        self._rolling = DenseProfile(bin_size)
        self._session_profile = DenseProfile(bin_size)

    def _enter_session(self, minute: int) -> None:
        cal = self.calendar
        self._sess_start, self._sess_end = cal.session_bounds(minute)
        day = cal.session_date(minute)
        self._rth = cal.rth_bounds(day)
        if self._sess_date is not None and day != self._sess_date:
            self._roll_session()
        self._sess_date = day

    def _roll_session(self) -> None:
        had_volume = self._session_stats is not None if self._need_profiles else self._sess_has_vol
        if had_volume:
            self._previous_stats = self._session_stats
            if self._session_close == self._session_close:
                self.prev_close = self._session_close
        self._sess_has_vol = False
        if self._need_structure:
            prev = self._previous_stats
            st = self._structure
            if prev is not None:
                st.set_balance(prev.val, prev.vah)
            else:
                st.set_balance(NAN, NAN)
            st.reset()
        self._session_profile.clear()
        self._session_stats = None
        self._cvd_closed = 0.0
        self._pv_closed = 0.0
        self._vol_closed = 0.0
        self._session_bars = 0
        self._session_close = NAN
        self._cvd_hist_t = ()
        if self._need_alerts:
            self._update_levels()
        self._version += 1

    def _close_open_bar(self) -> Bar:
        b = self._builder
        bins = b.vap
        bar = b.close_bar()
        if self._need_flow:
            self._bvc.push(bar.close)
        self._after_bar(bar, bins, self._bar_rth)
        return bar

    def _after_bar(self, bar: Bar, bins: dict[int, float], rth: bool) -> None:
        """Everything that follows a closed bar (its buy/sell volume known), as far
        as ``needs`` asks for it."""
        p = self.params
        m = bar.ts_ns
        self._last_closed_minute = m
        c = bar.close
        atr = self._atr.update(bar.high, bar.low, c)
        self._atr_v = atr
        mom = self._mom.update(c, atr)
        self._momentum = mom
        flow = self._need_flow
        if flow:
            vol = bar.volume
            buy, sell = bar.buy_volume, bar.sell_volume
            delta = buy - sell
            vr = self._vr.update(vol)
            self._agg_res = self._agg.update(delta, vol, vr, buy, sell)
            self._pressure = pressure(buy, sell)
        if self._need_state:
            # rolling profile: bars of the last lookback_minutes minutes
            roll = self._rolling
            q = self._roll_q
            roll.merge(bins)
            q.append((m, bins))
            horizon = m - p.lookback_minutes * NS_PER_MIN
            while q[0][0] <= horizon:
                roll.subtract(q.popleft()[1])
            if self._need_profiles:
                rs = roll.stats(p)  # nodes and histogram worked out if someone reads them
            else:
                rs = roll.core_stats(p)
            self._rolling_stats = rs
            if rs is None:
                self._state, self._dist = MarketState.BALANCE, NAN  # as market_state() says
            else:
                self._state, self._dist = classify_state(c, rs.poc, rs.vah, rs.val, mom, p)
        if rth:
            if self._need_profiles:
                self._session_profile.merge(bins)
                self._session_stats = self._session_profile.stats(p)
            elif bar.volume > 0.0:
                self._sess_has_vol = True
            if flow:
                self._cvd_closed += delta
                vw = bar.vwap
                if not vw == vw:
                    vw = (bar.high + bar.low + c) / 3.0
                self._pv_closed += vw * vol
                self._vol_closed += vol
                if self._need_sparkline:
                    h = self._cvd_hist_t  # a new tuple per bar (snapshots share it): one copy, not deque + tuple
                    self._cvd_hist_t = (h if len(h) < CVD_HISTORY else h[1:]) + (self._cvd_closed,)
            self._session_bars += 1
            self._session_close = c
        if self._need_structure:
            self._history.append((m, bins))
            st = self._structure
            st.on_bar(bar, atr)
            if self._need_alerts:
                self._update_levels()
            self._pullback = st.pullback(c, self._lvn.band(c, atr))
        self._last_bar = bar
        self._last_bar_rth = rth
        self._version += 1

    def _update_levels(self) -> None:
        """The LVN alert levels changed (perhaps). Until the tracker has been given
        a price every level in it is armed and nothing else depends on the order of
        level sets, so pushing only the latest set gives the same state: the levels
        (which need the session profile's LVNs) are then worked out when the next
        trade needs them, not on every bar (bars-only history never does)."""
        if self._priced:
            self._push_levels()
        else:
            self._levels_dirty = True

    def _push_levels(self) -> None:
        self._levels_dirty = False
        levels: list[tuple[float, str]] = []
        if self._session_stats is not None:
            levels.extend((n.price, "session") for n in self._session_stats.lvns)
        if self._previous_stats is not None:
            levels.extend((n.price, "previous") for n in self._previous_stats.lvns)
        leg = self._structure.impulse
        if leg is not None and leg.counts:
            levels.extend((n.price, "impulse") for n in leg.lvns)
        t = tuple(levels)
        if t != self._levels:
            self._levels = t
            self._lvn.set_levels(levels)

    def _range_profile(self, start_ns: int, end_ns: int) -> Optional[ProfileStats]:
        """The profile of the history bars with start_ns <= minute < end_ns.

        A leg asks again each time it extends, with the same start and a later
        end: the profile built last time is kept and only the bars after the last
        one merged are added (the same merges in the same order as building it
        from scratch). Built afresh for a new start, or when bars of the range
        may have aged out of the history."""
        hist = self._history
        cache = self._range_cache
        if cache is not None and cache[0] == start_ns and (len(hist) < HISTORY_BARS or hist[0][0] < start_ns):
            last_m, prof = cache[1], cache[2]
        else:
            last_m, prof = None, VolumeProfile(self.bin_size)
        fresh = []  # the bars not merged yet, newest first, back to the start of the range
        for entry in reversed(hist):
            m = entry[0]
            if m < start_ns or (last_m is not None and m <= last_m):
                break
            fresh.append(entry)
        for m, bins in reversed(fresh):
            if m >= end_ns:
                break
            prof.merge(bins)
            last_m = m
        self._range_cache = (start_ns, last_m, prof)
        return prof.stats(self.params)
