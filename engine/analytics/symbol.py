"""One symbol's analytics: every number of STRATEGY.md sections 1-8, kept up to
date trade by trade (or bar by bar) and published as a SymbolSnapshot.

``SymbolAnalytics`` is the wiring of parts, each in its own module:

  TradeClassifier   (flow.py)             the aggressor side of each trade
  MinuteBarBuilder  (bars.py)             the open one-minute bar
  SessionTotals     (session_totals.py)   the session day, RTH bar count and closes
  OrderFlow         (order_flow.py)       "flow": BVC, aggression, pressure, CVD, VWAP
  RollingProfile    (rolling.py)          "state": lookback profile, market state
  SessionProfiles   (session_profiles.py) "profiles": developing and previous profiles
  ImpulseWatch      (impulse.py)          "structure": impulse legs, pullback
  AlertLevels       (alert_levels.py)     "alerts": LVN alert levels
plus ATR and momentum, which every setup and the engine's exits read.

Which parts are present is decided once, at construction, from ``needs``
(needs.py): a part nobody reads is replaced by its null stand-in, which keeps
the empty values in the snapshot. No step asks what is needed.

Per trade (the hot path, O(1), no numpy): validate, classify, add to the open
one-minute bar, move the last price, check LVN alerts (when there are levels
to watch). Everything else happens when a bar closes (a trade of a later
minute, ``close_until`` when time passes with no trades, or ``on_bar``): each
part's ``on_bar`` in a fixed order (flow, rolling profile, session profile and
totals for RTH bars, impulse, alert levels). The statistics are kept there, so
``snapshot()`` is cheap.

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
  by time, not the last N bars, so a gap (overnight, a halt) ages it out.
- Malformed trades (NaN/inf/non-positive price or size, bad timestamp, a
  timestamp more than 1 s before the latest one, a late print for a minute
  whose bar has already closed) are skipped, counted in ``malformed`` and kept
  with the reason for ``drain_rejects``. A late print (<= 1 s back) for the
  open bar's minute or the minute before goes into the open bar.
- ``in_session`` of the snapshot says whether the last closed bar was in RTH
  (setups evaluate closed bars).
- Impulse LVNs are alert levels while the leg counts (range >= impulse_min_atr),
  extending or ended-but-kept.
- A bar applied with ``on_bar`` (bars-only data, a restart's candles) checks the
  LVN alerts with its price path (alerts.py), against the levels and ATR its
  trades would have met, before it updates them: a replay of bars alerts like
  the trades of the same minutes.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Optional, Union

from ..config import StrategyParams
from ..model import NS_PER_MIN, NS_PER_S, Bar, LvnAlert, Quote, SymbolSnapshot, Trade
from .alert_levels import NO_ALERT_LEVELS, AlertLevels, NoAlertLevels
from .alerts import LvnAlertTracker
from .bars import MinuteBarBuilder
from .flow import TradeClassifier
from .impulse import HISTORY_BARS, NO_IMPULSE, ImpulseWatch, NoImpulse
from .indicators import Momentum, WilderATR
from .needs import NEEDS, NEEDS_ALL, resolve_needs
from .order_flow import CVD_HISTORY, NO_ORDER_FLOW, NoOrderFlow, OrderFlow
from .profile import range_bin_dict, resolve_bin_size, vap_bins
from .rolling import NO_ROLLING_PROFILE, NoRollingProfile, RollingProfile
from .session import SessionCalendar
from .session_profiles import RthVolumeSeen, SessionProfiles
from .session_totals import SessionTotals

__all__ = ["SymbolAnalytics", "NEEDS", "NEEDS_ALL", "resolve_needs", "CVD_HISTORY", "HISTORY_BARS",
           "BACKWARD_TOLERANCE_NS"]

NAN = float("nan")
_INF = float("inf")
BACKWARD_TOLERANCE_NS = NS_PER_S

# snapshot() builds SymbolSnapshot with positional arguments (once per bar:
# cheaper than keywords); it relies on this field order, checked here.
_SNAPSHOT_FIELDS = ("symbol", "ts_ns", "last", "prev_close", "change_pct", "state", "distance_from_poc_pct",
                    "momentum", "atr", "vwap", "rolling", "session_profile", "previous_profile", "flow",
                    "balance_low", "balance_high", "impulse", "pullback", "bars", "last_bar", "in_session")
if tuple(f.name for f in fields(SymbolSnapshot))[: len(_SNAPSHOT_FIELDS)] != _SNAPSHOT_FIELDS:
    raise ImportError("SymbolSnapshot's fields changed order; update SymbolAnalytics.snapshot")


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


def bar_histogram(bar: Bar, bin_size: float) -> dict[int, float]:
    """A closed bar's volume by bin: its volume at price if it has one, else its
    volume spread evenly over its range."""
    if bar.vap:
        return vap_bins(bar.vap, bin_size)
    if bar.volume > 0.0:
        return range_bin_dict(bar.low, bar.high, bar.volume, bin_size)
    return {}


def no_histogram(bar: Bar, bin_size: float) -> dict[int, float]:
    """For analytics without a profile part: bars' histograms are never read."""
    return {}


class _NoBinsYet:
    """The open-bar slot before the bin size is known (``bin_size="auto"`` waits
    for the first price): no bar is open."""

    __slots__ = ()
    minute = -1


_NO_BINS_YET = _NoBinsYet()


class SymbolAnalytics:
    """One symbol's analytics, made of the parts its ``needs`` ask for (see the module)."""

    __slots__ = (
        "symbol", "params", "calendar", "needs", "malformed", "bin_size",
        "_classifier", "_classify", "_builder", "_bar_end", "_bar_rth", "_max_ts", "_last_closed_minute",
        "_session", "_atr", "_mom", "_flow", "_rolling", "_profiles", "_impulse", "_alert_levels", "_bar_bins",
        "_atr_v", "_momentum", "_last", "_last_ts", "_last_bar", "_last_bar_rth",
        "_alerts", "_rejects", "_snap", "_bare",
    )

    def __init__(self, symbol: str, params: StrategyParams, calendar: SessionCalendar, prev_close: float = NAN,
                 needs: Optional[frozenset[str]] = None) -> None:
        self.symbol = symbol
        self.params = params
        self.calendar = calendar
        n = self.needs = resolve_needs(needs)
        self.malformed = 0
        self.bin_size: Optional[float] = None  # set by the first trade or bar unless configured
        self._classifier = TradeClassifier()
        self._classify = self._classifier.classify
        self._builder: Union[MinuteBarBuilder, _NoBinsYet] = _NO_BINS_YET
        # end of the open bar's minute, 0 with no bar open: a trade at or after it
        # opens a bar (one comparison per trade instead of working out its minute)
        self._bar_end = 0
        self._bar_rth = False  # the open bar is in RTH
        self._max_ts = 0
        self._last_closed_minute = -1
        self._session = SessionTotals(calendar, prev_close)
        self._atr = WilderATR(params.atr_period)
        self._mom = Momentum(params.momentum_bars)
        # the parts: each present when needed, else its null stand-in
        self._flow: Union[OrderFlow, NoOrderFlow] = \
            OrderFlow(params, sparkline="sparkline" in n) if "flow" in n else NO_ORDER_FLOW
        self._rolling: Union[RollingProfile, NoRollingProfile] = \
            RollingProfile(params, nodes="profiles" in n) if "state" in n else NO_ROLLING_PROFILE
        self._profiles: Union[SessionProfiles, RthVolumeSeen] = \
            SessionProfiles(params) if "profiles" in n else RthVolumeSeen()
        lvn = LvnAlertTracker(symbol, params)
        self._impulse: Union[ImpulseWatch, NoImpulse] = \
            ImpulseWatch(params, lvn.band) if "structure" in n else NO_IMPULSE
        self._alert_levels: Union[AlertLevels, NoAlertLevels] = \
            AlertLevels(lvn, self._profiles, self._impulse) if "alerts" in n else NO_ALERT_LEVELS
        self._bar_bins = bar_histogram if ("state" in n or "profiles" in n) else no_histogram
        # no part but ATR, momentum and the session counters (sma_cross's needs): a closed
        # bar skips the calls to the null parts, which do nothing
        self._bare = not n
        self._atr_v = NAN
        self._momentum = NAN
        self._last = NAN
        self._last_ts = 0
        self._last_bar: Optional[Bar] = None
        self._last_bar_rth = False
        self._alerts: list[LvnAlert] = []
        self._rejects: list[tuple[Trade, str]] = []
        self._snap: Optional[SymbolSnapshot] = None  # the snapshot of the current state, once built
        if params.bin_size != "auto":
            self._use_bins(resolve_bin_size(params, 1.0))

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
        closed = None
        if ts >= self._bar_end:  # the trade opens a bar
            m = ts - ts % NS_PER_MIN
            if b.minute >= 0:
                closed = self._close_open_bar()
            elif m <= self._last_closed_minute:
                return self._reject(trade, "late print for a minute whose bar has already closed")
            elif b is _NO_BINS_YET:
                b = self._use_bins(resolve_bin_size(self.params, price))
            session = self._session
            if not (session.start <= m < session.end):
                self._enter_session(m)
            self._bar_rth = session.rth_open <= m < session.rth_close
            self._bar_end = m + NS_PER_MIN
        b.add(ts, price, size, self._classify(price, trade.side, trade.bid, trade.ask))
        self._last = price
        self._last_ts = ts
        self._snap = None
        watch = self._alert_levels.watch
        if watch is not None:
            fired = watch(price, ts, self._atr_v)
            if fired:
                self._alerts.extend(fired)
        return closed

    def on_quote(self, q: Quote) -> None:
        """Remember the prevailing quote for Lee-Ready on trades that carry none."""
        self._classifier.set_quote(q.bid, q.ask)

    def on_bar(self, bar: Bar, alerts: bool = True) -> Optional[Bar]:
        """Apply a closed one-minute bar (bars-only history, or a stored candle on a
        restart). Uses its volume at price if present, else spreads its volume over
        its range; uses its buy/sell volume unless NaN, else BVC; checks the LVN
        alerts with its price path unless ``alerts`` is False (an earlier session's
        history: an approach counts from this session's first price). Returns the
        bar as applied (buy/sell volume filled in), or None when it was rejected."""
        problem = _bar_problem(bar)
        m = bar.ts_ns - bar.ts_ns % NS_PER_MIN
        if problem is None and m <= self._last_closed_minute:
            problem = f"bar for {m} is not after the last closed bar {self._last_closed_minute}"
        if problem is not None:
            return self._reject(Trade(bar.symbol, bar.ts_ns, bar.close, bar.volume), problem)
        b = self._builder
        if b is _NO_BINS_YET:
            b = self._use_bins(resolve_bin_size(self.params, bar.open))
        if b.minute >= 0:
            if m <= b.minute:
                return self._reject(Trade(bar.symbol, bar.ts_ns, bar.close, bar.volume),
                                    "bar for the minute of the open trade bar")
            self._close_open_bar()
        session = self._session
        if not (session.start <= m < session.end):
            self._enter_session(m)
        if alerts and self._alert_levels.watch is not None:  # the bar's path meets the levels its trades would have met
            fired = self._alert_levels.on_bar(bar, self._atr_v)
            if fired:
                self._alerts.extend(fired)
        bar = self._after_bar(bar, self._bar_bins(bar, self.bin_size), session.rth_open <= m < session.rth_close)
        self._last = bar.close
        end = m + NS_PER_MIN
        if end > self._last_ts:
            self._last_ts = end
        return bar

    def close_until(self, ts_ns: int) -> Optional[Bar]:
        """Time has reached ``ts_ns`` with no trade: close the open bar if its minute is over."""
        m = self._builder.minute
        if m >= 0 and ts_ns >= m + NS_PER_MIN:
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
    def prev_close(self) -> float:
        """The previous session's last RTH close (as given, until a session rolls)."""
        return self._session.prev_close

    @property
    def cvd(self) -> float:
        """Session CVD including the open bar (sum of the closed bars' deltas plus the open bar's)."""
        b = self._builder
        if b.minute >= 0 and self._bar_rth:
            return self._flow.cvd_closed + (b.buy - b.sell)
        return self._flow.cvd_closed

    @property
    def vwap(self) -> float:
        flow = self._flow
        pv, vol = flow.pv_closed, flow.vol_closed
        b = self._builder
        if b.minute >= 0 and self._bar_rth:
            pv += b.pv
            vol += b.volume
        return pv / vol if vol > 0.0 else NAN

    def snapshot(self) -> SymbolSnapshot:
        snap = self._snap
        if snap is not None:
            return snap
        last = self._last
        session = self._session
        pc = session.prev_close
        rolling = self._rolling
        prev = self._profiles.previous
        impulse = self._impulse
        # positional arguments, in SymbolSnapshot's field order (checked above)
        snap = self._snap = SymbolSnapshot(
            self.symbol, self._last_ts, last, pc, (last - pc) / pc * 100.0 if pc > 0.0 else NAN,
            rolling.state, rolling.distance, self._momentum, self._atr_v, self.vwap,
            rolling.stats, self._profiles.session, prev, self._flow.view(self.cvd),
            prev.val if prev is not None else NAN, prev.vah if prev is not None else NAN,
            impulse.leg, impulse.pullback, session.bars, self._last_bar, self._last_bar_rth,
        )
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

    def _use_bins(self, bin_size: float) -> MinuteBarBuilder:
        """The bin size is known: the open-bar builder and the profiles can be made."""
        self.bin_size = bin_size
        b = self._builder = MinuteBarBuilder(self.symbol, bin_size)
        self._rolling.use_bins(bin_size)
        self._profiles.use_bins(bin_size)
        self._impulse.use_bins(bin_size)
        return b

    def _enter_session(self, minute: int) -> None:
        if self._session.enter(minute):
            self._new_session()

    def _new_session(self) -> None:
        """A new session date: every part rolls over, in this order (the alert
        levels read the profiles and the impulse leg after theirs)."""
        had_volume = self._profiles.new_session()
        self._session.new_session(had_volume)
        self._impulse.new_session(self._profiles.previous)
        self._flow.new_session()
        self._alert_levels.update()
        self._snap = None

    def _close_open_bar(self) -> Bar:
        b = self._builder
        bins = b.vap  # the closing bar's histogram (close_bar starts a new dict)
        bar = b.close_bar()
        self._bar_end = 0
        return self._after_bar(bar, bins, self._bar_rth)

    def _after_bar(self, bar: Bar, bins: dict[int, float], rth: bool) -> Bar:
        """Everything that follows a closed bar: ATR and momentum, then each part
        (the alert levels last: they read the others). Returns the bar as applied
        (its buy/sell volume split by the flow part when it came without)."""
        m = bar.ts_ns
        self._last_closed_minute = m
        c = bar.close
        atr = self._atr_v = self._atr.update(bar.high, bar.low, c)
        mom = self._momentum = self._mom.update(c, atr)
        if self._bare:  # (NoOrderFlow, NoRollingProfile, NoImpulse, NoAlertLevels: nothing to do)
            if rth:
                self._profiles.on_rth_bar(bins, bar.volume)
                self._session.on_rth_bar(c)
        else:
            bar = self._flow.on_bar(bar, rth)
            self._rolling.on_bar(m, bins, c, mom)
            if rth:
                self._profiles.on_rth_bar(bins, bar.volume)
                self._session.on_rth_bar(c)
            self._impulse.on_bar(bar, bins, atr)
            self._alert_levels.update()
        self._last_bar = bar
        self._last_bar_rth = rth
        self._snap = None
        return bar
