"""The backtest runner: the live Engine, its analytics, setups, risk manager and
paper broker, run over history on a DataClock. Nothing here decides a trade.

How it drives the engine: through the engine's public seam, exactly what
``Engine._run_feed`` does per item -- ``engine.on_data(item)``, then
``engine.on_bars_closed(closed)`` for the bars it closed, then at the end
``engine.end_of_data_bars()`` -- but without an event loop. The
engine's awaits on the backtest path (the paper broker's submit/close, exits)
never suspend, so each coroutine is run to completion with one ``send(None)``;
if one ever does suspend, the run stops with an error instead of guessing.
With trades data, a trade that enters a new minute also closes the bars of
symbols that had no trade since (inside ``engine.on_data``, as in a live run).

Analytics: by default each symbol computes only what its setups read (the
union of their ``needs``, engine.strategy.base), e.g. the SMA-cross baseline
builds no profiles at all; ``needs=None`` computes everything, as live. Either
way the numbers a setup reads are the same. The summary's minutes per market
state are left out when market state was not computed.

What the runner adds is bookkeeping only: the fills (a broker listener, called
after the engine has handled each event), round trips (metrics.TradeBuilder), equity
samples while a position is open, closing equity per session, and the number of
bars with a position (exposure). At the end, open positions are closed at the
last price (``close_all(immediate=True)``) so every trade is counted.

With a signal tape (replay.record_signals, sweeps over bars) the engine is
handed only the bars on which it can do something: while the symbol has no
position, no working order and no plan, the run jumps to the next bar with a
signal, an LVN alert or rejected data; in a position (when no partial or
trailing rule is on) it jumps to the first bar that is an event or a session
start, touches a working order (PaperBroker.first_touch) or is due a time exit.
A skipped bar would have changed nothing but counts (bars, session closes,
minutes per market state), equity samples and the best price since entry,
which are added for the span; the results are the same as visiting every bar.
"""
from __future__ import annotations

import gc
from bisect import bisect_left
from typing import Any, Callable, Iterable, Optional, Sequence

from ..analytics.session import SessionCalendar
from ..analytics.symbol import SymbolAnalytics
from ..brokers.paper import PaperBroker
from ..clock import DataClock
from ..config import CockpitConfig, ConfigError
from ..engine import Engine
from ..feeds.quoted import has_quotes
from ..model import NS_PER_MIN, Bar, BrokerEvent, OrderLeg
from ..strategy.registry import setups_needs
from . import metrics as M
from .data import Dataset
from .feed import ArrayFeed
from .replay import Recording, ReplayedAnalytics, ReplayedSetup, SignalTape
from .result import (BROKER_FLAGS, RISK_FLAGS, SETUP_NEEDS, STRATEGY_FLAGS, BacktestResult,  # noqa: F401 - re-exported
                     backtest_config, equity_points, nan_to_none, run_params)


class EngineSuspended(RuntimeError):
    """An engine coroutine waited on something real (a network broker?)."""


def drive(coro) -> None:
    """Run a coroutine that never suspends to completion, without an event loop (its
    result is dropped: the engine's bar and broker coroutines return None). Iterated
    through ``__await__``, its end raises no StopIteration into Python code (``send``
    would: ~170 ns more, once per bar of a run)."""
    for _ in coro.__await__():
        coro.close()
        raise EngineSuspended("an engine coroutine suspended during a backtest; the backtest runs the paper "
                              "broker only, whose calls complete at once")


# --------------------------------------------------------------------------- the run


# A pegged entry follows the bid/ask (engine/peg.py). Trades files that carry the quote
# prevailing before each trade (bid, ask columns) hand it to the paper broker, which pegs
# exactly as live; bars, and trades without quotes, carry none, and an invented spread
# would make the peg's fills whatever the invention says: refused, naming why.
PEGGED_NEEDS_QUOTES = ("engine.entry_type = \"pegged\" cannot be backtested: a pegged entry follows the "
                       "bid/ask quotes and the {what} has none{detail}; backtest a trades file with bid and ask "
                       "columns (ts_ns,price,size,side,bid,ask), or entry_type \"market\" or \"limit\"")


def pegged_refusal(ds: Dataset) -> str:
    """Why a pegged run cannot be backtested on ``ds`` ("" when every symbol's trades carry quotes)."""
    if ds.kind != "trades":
        return PEGGED_NEEDS_QUOTES.format(what=f"{ds.kind} data", detail="")
    bare = [sym for sym, s in ds.series.items() if not has_quotes(s)]
    if bare:
        return PEGGED_NEEDS_QUOTES.format(what=f"trades data of {', '.join(bare)}",
                                          detail=" (no bid and ask columns, or every one empty)")
    return ""


class BacktestRun:
    """One Engine over one Dataset. ``analytics`` optionally replaces the engine's
    per-symbol analytics objects (the sweep's recorded-snapshot stand-in);
    otherwise ``needs`` says what they compute (SETUP_NEEDS, None = everything,
    or a set of engine.analytics.needs.NEEDS names)."""

    def __init__(self, config: CockpitConfig, ds: Dataset, analytics: Optional[dict] = None,
                 warmup: Iterable[Bar] = (), needs: Any = SETUP_NEEDS,
                 items: Optional[Sequence] = None, tape: Optional[SignalTape] = None) -> None:
        pegged = config.engine.entry_type == "pegged"
        if pegged:
            why = pegged_refusal(ds)
            if why:
                raise ConfigError(why)
        self.config = config
        self.ds = ds
        self.clock = DataClock()
        self.calendar = SessionCalendar(config.feed.session, config.sessions.policy_for(config.feed.session))
        self.broker = PaperBroker(config.broker, self.clock, config.feed_symbols)
        self.feed = ArrayFeed(ds, quotes=pegged)  # quotes only for a pegged run, as a live feed
        self._items = items  # the dataset's items already built (a sweep replays the same Bars)
        self.engine = Engine(config, self.feed, self.broker, self.clock, store=None, calendar=self.calendar)
        self._tape = tape
        if tape is not None:
            replayed = list(analytics.values()) if analytics else []
            if len(self.engine.symbols) != 1 or len(replayed) != 1 or not isinstance(replayed[0], ReplayedAnalytics):
                raise ConfigError("a signal tape replays one symbol's recorded analytics (a sweep over bars)")
            sym = self.engine.symbols[0]
            names = [s.name for s in self.engine.setups[sym]]
            if names != [n for n, _ in tape.setups]:
                raise ConfigError(f"the signal tape has setups {[n for n, _ in tape.setups]}, the run {names}")
            self.engine.setups[sym] = [ReplayedSetup(n, by_now) for n, by_now in tape.setups]
        if analytics:
            self.engine.analytics.update(analytics)
        else:
            eng = self.engine
            for sym in eng.symbols:
                p = eng.params[sym]
                n = setups_needs(p) if needs == SETUP_NEEDS else needs
                if n is not None:
                    eng.analytics[sym] = SymbolAnalytics(sym, p, self.calendar, needs=n)
        self.engine.warm_up(warmup)
        self.builder = M.TradeBuilder()
        self.engine.add_broker_listener(self._on_event)
        self.equity_ts: list[int] = []
        self.equity: list[float] = []
        self.daily: list[tuple[str, float]] = []
        self._day = None
        self._day_start = self._day_end = 0
        self.bars = 0
        self.bars_in_position = 0
        self.items = 0

    def _on_event(self, ev: BrokerEvent) -> None:
        """A broker event, after the engine has handled it: the books."""
        o = ev.order
        if ev.kind == "new" and o.leg is OrderLeg.STOP_LOSS and o.parent_id is not None:
            mapped = self.engine.router.mapped_signal(o.signal_id)  # the execution map: SPX's signal, SPY's order
            if mapped is None:
                setup = _setup_of(o.signal_id, o.symbol)
            else:
                setup = mapped.setup
                self.builder.index_of[o.parent_id] = (mapped.index_symbol, mapped.map_ratio)
            self.builder.plans[o.parent_id] = (o.stop_price, setup)
        elif ev.kind in ("fill", "partial_fill") and ev.fill is not None:
            self.builder.on_fill(ev.fill)
            self.equity_ts.append(ev.fill.ts_ns)
            self.equity.append(self.broker.equity())

    def _on_closed(self, closed: list[tuple[str, Bar]]) -> None:
        """Bookkeeping for closed bars, before the engine acts on them."""
        cal = self.calendar
        open_pos = self.builder._open
        for sym, bar in closed:
            ts = bar.ts_ns
            if not (self._day_start <= ts < self._day_end):  # (one session date within its bounds)
                day = cal.session_date(ts)
                self._day_start, self._day_end = cal.session_bounds(ts)
                if day != self._day:
                    if self._day is not None:
                        self.daily.append((self._day.isoformat(), self.broker.equity()))
                    self._day = day
            self.bars += 1
            if sym in open_pos:
                self.bars_in_position += 1
        if open_pos:
            self.equity_ts.append(closed[-1][1].ts_ns + NS_PER_MIN)
            self.equity.append(self.broker.equity())

    def run(self, should_stop: Optional[Callable[[], bool]] = None) -> BacktestResult:
        """The whole run with the cyclic garbage collector paused: a run allocates
        millions of short-lived records and no reference cycles that must go before
        it ends, so collections there are pure cost (6-12% of a year's run)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._run(should_stop)
        finally:
            if paused:
                gc.enable()

    def _run(self, should_stop: Optional[Callable[[], bool]]) -> BacktestResult:
        if self._tape is not None:
            self._run_eventful(should_stop)
            return self._finish()
        eng = self.engine
        on_data = eng.on_data
        after = eng.on_bars_closed
        on_closed = self._on_closed
        n = 0
        for item in (self.feed.items() if self._items is None else self._items):
            n += 1
            closed = on_data(item)
            if closed:
                on_closed(closed)
                drive(after(closed))
            if should_stop is not None and (n & 0xFFFF) == 0 and should_stop():
                break
        self.items = n - self.feed.quotes_out  # the data's rows (a pegged run's quotes are not rows)
        return self._finish()

    def _finish(self) -> BacktestResult:
        """End of data: the engine closes the last bars, then every position is
        closed at the last price."""
        eng = self.engine
        closed = eng.end_of_data_bars()
        if closed:
            self._on_closed(closed)
            drive(eng.on_bars_closed(closed))
        drive(self.broker.close_all(immediate=True))
        end_ts = self.clock.now_ns()
        self.equity_ts.append(end_ts)
        self.equity.append(self.broker.equity())
        if self._day is not None:
            self.daily.append((self._day.isoformat(), self.broker.equity()))
        return self.result()

    def _run_eventful(self, should_stop: Optional[Callable[[], bool]]) -> None:
        """The bars loop of ``run`` over the bars the engine can act on (see the
        module doc); the rest are counted, not visited."""
        eng = self.engine
        sym = eng.symbols[0]
        an = eng.analytics[sym]
        rec = an.recording
        inputs = rec.inputs
        n = len(inputs)
        events = sorted(set(self._tape.indices) | set(rec.alerts) | set(rec.rejects))
        starts, days = rec.session_starts(self.calendar)
        is_idle = self.broker.is_idle
        plans, pending = eng.router.plans, eng.pending
        on_data, after, on_closed = eng.on_data, eng.on_bars_closed, self._on_closed
        exits = eng.exits
        highs, lows, ends = rec.ranges()
        i = visited = 0
        while i < n:
            if is_idle(sym) and sym not in plans and not pending:
                i = self._quiet_flat(rec, i, events, starts, days)
                if i >= n:
                    break
            elif not pending and exits.price_blind(sym):
                i = self._quiet_in_position(rec, i, events, starts, highs, lows, ends)
                if i >= n:
                    break
            an.seek(i)
            closed = on_data(inputs[i])
            if closed:
                on_closed(closed)
                drive(after(closed))
            i += 1
            visited += 1
            if should_stop is not None and (visited & 0xFFFF) == 0 and should_stop():
                break
        self.items = n
        eng.advance_data_time(self._tape.end_ns)  # where the data clock ends after every bar
        eng.reach_session(self.clock.now_ns())  # a session that began in the skipped bars at the end

    def _quiet_flat(self, rec: Recording, i: int, events: list, starts: list, days: list) -> int:
        """Flat with nothing working: skip from input ``i`` to the next event (bars
        in between are applied, since rejects are events), counting the bars and
        the session closes ``_on_closed`` would. Returns the next input to visit."""
        j = _next_at(events, i, len(rec.inputs))
        if j <= i:
            return i
        self.bars += j - i
        self.engine.add_state_minutes(rec.state_minutes(i, j))
        for s in range(bisect_left(starts, i), bisect_left(starts, j)):
            if days[s] != self._day:  # flat: the session's closing equity is the cash
                if self._day is not None:
                    self.daily.append((self._day.isoformat(), self.broker.equity()))
                self._day = days[s]
        return j

    def _quiet_in_position(self, rec: Recording, i: int, events: list, starts: list, highs, lows,
                           ends: list) -> int:
        """With a position or working orders: skip from input ``i`` to the first bar
        that is an event or a session start, could fill an order (the broker's
        ``first_touch``) or is due a time exit; the bars skipped are counted as
        ``_on_closed`` would count them. Returns the next input to visit."""
        eng = self.engine
        sym = eng.symbols[0]
        n = len(rec.inputs)
        j = min(_next_at(events, i, n), _next_at(starts, i, n))
        if j <= i:
            return i
        j = self.broker.first_touch(sym, highs, lows, i, j)
        due = eng.exits.time_exit_due
        for k in range(i, j):
            if due(sym, ends[k]):
                j = k
                break
        if j <= i:
            return i
        inputs, snaps = rec.inputs, rec.snaps
        open_pos = self.builder._open
        equity_with_last = self.broker.equity_with_last
        for k in range(i, j):
            self.bars += 1
            if sym in open_pos:
                self.bars_in_position += 1
            if open_pos:
                self.equity_ts.append(rec.bars[k].ts_ns + NS_PER_MIN)
                self.equity.append(equity_with_last(sym, inputs[k].close))
        eng.add_state_minutes(rec.state_minutes(i, j))
        eng.exits.note_prices(sym, [snaps[k].last for k in range(i, j)])
        self.broker.on_bar(inputs[j - 1])  # nothing to fill (first_touch): its last price and tick
        return j

    def result(self, params: Optional[dict] = None) -> BacktestResult:
        init = self.config.broker.initial_equity
        met = M.compute(self.builder.trades, init, self.equity, [e for _, e in self.daily],
                        self.bars, self.bars_in_position)
        summary = self.engine.summary()
        summary["malformed"] += self.ds.malformed  # rows the loader skipped count as well
        if not all("state" in getattr(an, "needs", ("state",)) for an in self.engine.analytics.values()):
            summary["states"] = {}  # market state was not computed: the counts would all say BALANCE
        return BacktestResult(
            params=params or run_params(self.config), metrics=met, trades=list(self.builder.trades),
            equity_ts=list(self.equity_ts), equity=list(self.equity), daily=list(self.daily),
            summary=summary, fingerprint=self.ds.fingerprint, bars=self.bars, items=self.items,
            symbols=list(self.ds.symbols), bars_in_position=self.bars_in_position,
        )


def _next_at(sorted_indices: list, i: int, default: int) -> int:
    """The first of ``sorted_indices`` at or after ``i``, else ``default``."""
    k = bisect_left(sorted_indices, i)
    return sorted_indices[k] if k < len(sorted_indices) else default


def _setup_of(signal_id: Optional[str], symbol: str) -> str:
    """Signal ids are ``{symbol}-{setup}-{ns}``."""
    if not signal_id or not signal_id.startswith(symbol + "-"):
        return ""
    return signal_id[len(symbol) + 1:].rsplit("-", 1)[0]


def run_backtest(config: CockpitConfig, ds: Dataset, analytics: Optional[dict] = None,
                 warmup: Iterable[Bar] = (), should_stop: Optional[Callable[[], bool]] = None,
                 needs: Any = SETUP_NEEDS, items: Optional[Sequence] = None,
                 tape: Optional[SignalTape] = None) -> BacktestResult:
    if not ds.series:
        raise ConfigError("the dataset is empty")
    missing = [s for s in ds.symbols if s not in config.feed_symbols]  # an execution_map proxy is followed too
    if missing:
        raise ConfigError(f"config symbols {config.app.symbols} do not include {missing}")
    return BacktestRun(config, ds, analytics, warmup, needs, items, tape).run(should_stop)
