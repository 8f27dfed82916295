"""The data engine: market data in, analytics up to date, closed bars out.

It owns each symbol's analytics, the data clock of a replay or backtest (data
time moves here and nowhere else), the broker's view of the tape (a simulated
broker fills from it, before the analytics see the item, so an order placed
because of a trade fills on a later one), the LVN alerts and minutes per market
state, and malformed data (counted, journaled once, skipped). Each symbol's
price band (sanity.py) sees a trade or bar before the broker and the analytics:
a bad print is skipped, counted (``malformed`` and ``bad_prints``) and
journaled (the first at once, then one line a minute per symbol in a storm).

``on_data`` is the hot path: synchronous, per item, returning the bars the item
closed; ``close_bars(until)`` closes bars when time passes without trades. On
data time that happens when a trade enters a new minute (inside ``on_data``),
never on a wall-clock timer, so a replay decides the same at any speed and load.
"""
from __future__ import annotations

from collections import Counter, deque
from typing import Callable, Iterable, Optional

from .analytics.session import SessionCalendar
from .analytics.symbol import SymbolAnalytics
from .brokers.base import Broker
from .clock import Clock, DataClock
from .config import DataConfig, StrategyParams
from .model import NS_PER_MIN, NS_PER_S, Bar, Heartbeat, LvnAlert, Quote, Signal, Trade
from .recorder import Recorder, _num
from .sanity import PriceBand, RejectLog

MAX_ALERTS = 100
BAR_NS = 60 * NS_PER_S


class DataEngine:
    def __init__(self, symbols: list[str], params: dict[str, StrategyParams], calendar: SessionCalendar,
                 clock: Clock, broker: Broker, recorder: Recorder, counters: Counter,
                 pending: dict[str, Signal], on_pending_trade: Callable[[str, float, int], None],
                 data_config: Optional[DataConfig] = None) -> None:
        self.calendar = calendar
        self.clock = clock
        self.recorder = recorder
        self.counters = counters
        self.analytics = {s: SymbolAnalytics(s, params[s], calendar) for s in symbols}
        self.alerts: deque[LvnAlert] = deque(maxlen=MAX_ALERTS)
        # closed in-session bars per market state, first seen first; a plain dict, not a Counter:
        # a Counter's store goes through a Python-level slot (it defines __delitem__), once a bar
        self.state_minutes: dict[str, int] = {}
        self.last_data_ns = 0
        self.seen = 0  # trades and bars applied: part of the engine's published version
        self.resume_after_ns = 0  # after a restart: data up to here is already in the analytics
        self.data_clock = clock if isinstance(clock, DataClock) else None
        self._pending = pending  # the desk's: a pending signal is checked against every trade
        self._on_pending_trade = on_pending_trade
        self.on_heartbeat: Optional[Callable[[int], None]] = None  # the engine: data time passed with no data
        self._minute = -1  # data time's minute (on_data closes the others' bars when it turns)
        self._malformed_seen: Counter[str] = Counter()  # per symbol: rejects already journaled
        dc = data_config if data_config is not None else DataConfig()
        self.bands = {s: PriceBand(dc.for_symbol(s)) for s in symbols}
        self._bad_log = RejectLog()
        # a simulated broker fills from market data; resolved once, not per item
        fills = broker.fills_from_market_data
        self._broker_on_trade = broker.on_trade if fills else None
        self._broker_on_bar = broker.on_bar if fills else None
        self._broker_on_quote = broker.on_quote if broker.follows_quotes else None  # fills, or pegs

    # ------------------------------------------------------------------ data time

    def advance(self, ts_ns: int) -> None:
        """Data time moves to ``ts_ns`` (a replay or backtest; live time is the wall clock)."""
        if self.data_clock is not None:
            self.data_clock.advance(ts_ns)

    def data_age_s(self, now: int) -> Optional[float]:
        """Seconds since the last item, None before the first; 0 on data time (the last item *is* now)."""
        if self.data_clock is not None:
            return 0.0
        if not self.last_data_ns:
            return None
        return max(0.0, (now - self.last_data_ns) / NS_PER_S)

    # ------------------------------------------------------------------ items (hot path)

    def on_data(self, item) -> list[tuple[str, Bar]]:
        """Apply one market data item. Returns the bars it closed (usually none): on
        data time, a trade that enters a new minute also closes every symbol's bar of
        an earlier minute (after its own; a live run's timer does this on wall time)."""
        t = type(item)
        dc = self.data_clock
        if dc is not None:
            if t is Trade:
                ts = item.ts_ns
                if ts > dc.ns:  # DataClock.advance, inline: the one call per trade it saves is the hot path's
                    dc.ns = ts
                if ts // NS_PER_MIN != self._minute:
                    return self._turn_minute(item)
            elif t is Bar:  # the bar's end (DataClock.advance inline, as for a trade)
                ts = item.ts_ns + BAR_NS
                if ts > dc.ns:
                    dc.ns = ts
            else:
                dc.advance(item.ts_ns)
        if item.ts_ns < self.resume_after_ns:
            self.counters["already_restored"] += 1
            return []
        if t is Trade:
            sym = item.symbol
            an = self.analytics.get(sym)
            if an is None:
                self.counters["unknown_symbol"] += 1
                return []
            band = self.bands[sym]
            p = item.price
            try:
                good = band.fast_lo <= p <= band.fast_hi
            except TypeError:
                good = True  # not a number: the analytics reject it as malformed
            if not good and self._bad_print(item, band, (p,), an):
                return []
            self.last_data_ns = item.ts_ns
            if self._broker_on_trade is not None:
                self._broker_on_trade(item)
            bar = an.on_trade(item)
            if an.malformed != self._malformed_seen.get(sym, 0):  # (get: a Counter miss costs a __missing__ call)
                self._drain_rejects(an)
            if self._pending:
                self._on_pending_trade(sym, item.price, item.ts_ns)
            self.seen += 1
            return [(sym, bar)] if bar is not None else []
        if t is Bar:
            an = self.analytics.get(item.symbol)
            if an is None:
                self.counters["unknown_symbol"] += 1
                return []
            band = self.bands[item.symbol]
            try:
                good = band.fast_lo <= item.low and item.high <= band.fast_hi
            except TypeError:
                good = True
            if not good and self._bad_print(item, band, (item.open, item.high, item.low, item.close), an):
                return []
            self.last_data_ns = item.ts_ns
            if self._broker_on_bar is not None:
                self._broker_on_bar(item)
            closed = an.on_bar(item)
            if an.malformed != self._malformed_seen.get(item.symbol, 0):  # (get: no __missing__ call a bar)
                self._drain_rejects(an)
            self.seen += 1
            return [(item.symbol, closed)] if closed is not None else []
        if t is Quote:
            an = self.analytics.get(item.symbol)
            if an is not None:
                an.on_quote(item)
                if self._broker_on_quote is not None:
                    self._broker_on_quote(item)
            return []
        if t is Heartbeat:  # time passed with no data (an overnight): bars whose minute ended close
            if dc is None:
                return []
            if self.on_heartbeat is not None:
                self.on_heartbeat(item.ts_ns)
            return self.close_bars(item.ts_ns)
        self.counters["unknown_item"] += 1
        return []

    def warm_up(self, bars: Iterable[Bar], alerts: bool = False) -> int:
        """History the analytics must have seen (the previous session, a restart's
        candles): applied without being recorded, acted on or moving data time.
        ``alerts``: the bars also move the LVN alert tracker's arm state (a restart's
        candles of this session, lived through already); their alerts are not shown
        again."""
        n = 0
        for bar in bars:
            an = self.analytics.get(bar.symbol)
            if an is None:
                continue
            if self._bad_print(bar, self.bands[bar.symbol], (bar.open, bar.high, bar.low, bar.close), an):
                continue
            an.on_bar(bar, alerts)
            if alerts:
                an.drain_alerts()  # shown when they happened
            if an.malformed != self._malformed_seen[bar.symbol]:
                self._drain_rejects(an)
            n += 1
        return n

    def close_bars(self, until_ns: int) -> list[tuple[str, Bar]]:
        """Close every symbol's open bar whose minute ended by ``until_ns``."""
        closed = []
        for sym, an in self.analytics.items():
            bar = an.close_until(until_ns)
            if bar is not None:
                closed.append((sym, bar))
        return closed

    def _turn_minute(self, trade: Trade) -> list[tuple[str, Bar]]:
        """A trade on data time entered a new minute (once a minute, off the hot path):
        the trade as usual, then the bars of the other symbols that had no trade since."""
        first = self._minute < 0
        self._minute = trade.ts_ns // NS_PER_MIN
        own = self.on_data(trade)
        if first:
            return own
        more = self.close_bars(self.data_clock.now_ns())
        return own + more if more else own

    def _drain_rejects(self, an: SymbolAnalytics) -> None:
        self._malformed_seen[an.symbol] = an.malformed
        for trade, reason in an.drain_rejects():  # rejected bars come as (close, volume) trades
            self.counters["malformed"] += 1
            self.recorder.log("warn", "malformed", f"skipped data: {reason}", trade.symbol,
                              {"ts_ns": trade.ts_ns, "price": _num(trade.price), "size": _num(trade.size)})

    def _bad_print(self, item, band: PriceBand, prices: tuple, an) -> bool:
        """Whether the band rejects ``item`` (then counted and, rate-limited, journaled)."""
        reason, confirmed = band.judge(prices, getattr(an, "bin_size", None))
        sym = item.symbol
        if confirmed:
            self.recorder.log("warn", "feed", f"price level {prices[-1]!r} confirmed by {band.confirm} prints "
                              "in a row: accepted (a gap or a reopening)", sym, {"ts_ns": item.ts_ns})
        if reason is None:
            return False
        self.counters["malformed"] += 1
        self.counters["bad_prints"] += 1
        n = self._bad_log.due(sym, self.clock.now_ns())
        if n:
            more = f" ({n - 1} more since the last line)" if n > 1 else ""
            self.recorder.log("warn", "malformed", f"bad print skipped: {reason}{more}", sym,
                              {"ts_ns": item.ts_ns, "price": _num(prices[-1]) if _is_num(prices[-1]) else None,
                               "last_good": band.ref or None, "count": n})
        return True


def _is_num(x) -> bool:
    return isinstance(x, (float, int))
