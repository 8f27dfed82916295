"""The Engine: feed -> data engine -> setups -> signal desk -> order router -> broker.

One object per run, used identically live, on a replay and in the backtester.
It is the wiring of the roles, each in its own module:

- ``DataEngine`` (data_engine.py): market data in, analytics, data time, closed bars out;
- ``Strategies`` (strategies.py): per-symbol parameters and the setups built from them;
- ``SignalDesk`` (desk.py): mode, pending approvals, expiry, every decision;
- ``OrderRouter`` (router.py): orders, broker events, exits, flatten/cancel;
- ``Recorder`` (recorder.py): the journal and the store; ``Notifier`` (notify.py): the UI's version and listeners;
- startup.py: what a restart restores and a live start backfills; views.py: the snapshot and the summary.

Market data is handled synchronously per item (the hot path); only when a bar
closes, a signal is sent, or a trader command arrives does anything await.
Commands that touch money (flatten, cancel) call the broker directly: the feed
loop yields to the event loop regularly, so they never wait behind strategy work.
The backtester drives the same object through its public seam: ``warm_up``,
``on_data``, ``close_bars``/``end_of_data_bars``, ``on_bars_closed``,
``add_broker_listener`` and ``advance_data_time``.
"""
from __future__ import annotations

import asyncio
import logging
import traceback
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo
from typing import Callable, Iterable, Optional

from .analytics.session import SessionCalendar
from .analytics.symbol import SymbolAnalytics
from .brokers.base import Broker
from .clock import Clock
from .config import CockpitConfig, StrategyParams
from .data_engine import BAR_NS, DataEngine
from .desk import SignalDesk
from .exits import ExitManager
from .feeds.base import Feed
from .feeds.notices import malformed_count
from .model import (NS_PER_S, Bar, BrokerEvent, Decision, EngineSnapshot, JournalEntry, MarketState, Mode, Order,
                    OrderDetail, Signal, evolve)
from .notify import Notifier
from .recorder import Recorder
from .risk import RiskManager
from .sizing import AtrHistory, MarketView
from .router import OrderRouter
from . import sim_resume
from .startup import backfill_live, restore_today
from .stops import apply_stop_mode, first_target
from .execution_map import to_tick, translate
from .strategies import Strategies

_log = logging.getLogger(__name__)
from .views import build_snapshot, run_summary

CONFIG_POLL_S = 10.0  # how often the strategy_configs table is re-read
SKIP_AHEAD_MAX_NS = 3 * 3600 * NS_PER_S  # a session skipping to its first signal paces from here at the latest
END_OF_DATA_NS = 120 * NS_PER_S  # a finite feed ended: close bars up to this far past the last item
_STATE_KEY = {s: s.value for s in MarketState}  # (an enum's .value is a descriptor call, per bar here)


class Engine:
    """Implements engine.control.EngineControl."""

    def __init__(self, config: CockpitConfig, feed: Feed, broker: Broker, clock: Clock, store=None,
                 calendar: Optional[SessionCalendar] = None, redact: Callable[[str], str] = lambda s: s,
                 store_opener=None, run_id: str = "", options=None,
                 wall_clock: Optional[Clock] = None) -> None:
        """``options``: the options feedback gate's chain readings (engine/options_gate.py),
        refreshed by a task of the engine while it runs; None = no chain source."""
        self.config, self.feed, self.broker, self.clock, self.run_id = config, feed, broker, clock, run_id
        self.options = options
        self.calendar = calendar or SessionCalendar(config.feed.session,
                                                    config.sessions.policy_for(config.feed.session))
        self.symbols = config.feed_symbols  # app.symbols + execution_map proxies (engine/execution_map.py)
        self.execution_map = dict(config.execution_map)
        self.counters: Counter[str] = Counter()
        self.notifier = Notifier()
        self.recorder = Recorder(clock, self.notifier, config.engine.journal_size, redact, store, store_opener)
        self.strategies = Strategies(config, self.symbols, self.recorder)
        self.params, self.setups = self.strategies.params, self.strategies.setups
        self.risk = RiskManager(config.risk, config.feed.session, config.sessions.trading, config.sizing,
                                options)
        # dynamic sizing reads each symbol's ATR history and state (engine/sizing.py)
        self._atr_history: dict[str, AtrHistory] = {}
        if config.sizing.dynamic:
            self._atr_history = {s: AtrHistory() for s in self.symbols}
            self.risk.market = self._market_view
        self.risk.symbol_qty = lambda sym: self.params[sym].qty if sym in self.params else 0
        self.desk = SignalDesk(config, self.calendar, self.risk, broker, clock, self.recorder, self.notifier,
                               self.counters, lambda now: self.data.data_age_s(now), run_id,
                               may_add=lambda sig: self.router.may_add(sig))
        self.desk.wall = wall_clock  # a person's clock: SEMI's least time to decide (none in a backtest)
        self.data = DataEngine(self.symbols, self.params, self.calendar, clock, broker, self.recorder, self.counters,
                               self.desk.pending, self.desk.on_trade, config.data)
        self.exits = ExitManager(self.params[self.symbols[0]], self.calendar.minutes_to_close)
        self.router = OrderRouter(config, broker, self.recorder, self.notifier, self.counters, self.risk,
                                  self.exits, self.params, redact)
        self.router.add_event_listener(self.desk.on_entry_note)  # a pegged entry's steps on its signal row
        # the hot path and the containers the UI and tests read, owned by the roles
        self.on_data = self.data.on_data
        self.analytics, self.alerts, self.state_minutes = self.data.analytics, self.data.alerts, self.data.state_minutes
        self.pending, self.decisions = self.desk.pending, self.desk.decisions
        self.journal, self.fills = self.recorder.journal, self.router.fills
        self._snapshot: Optional[EngineSnapshot] = None
        self._snapshot_version = -1
        self._session_date = None
        self._session_span = (0, 0)  # [start, end) ns of _session_date's session day: a bar inside it turns nothing
        self._day_to_note = None  # a simulated run entered this day: sim_sessions is told at the next bar
        self.data.on_heartbeat = self._maybe_new_session  # an overnight: the day turns at its boundary
        self._feed_task: Optional[asyncio.Task] = None
        self._timer_task: Optional[asyncio.Task] = None
        self._protect_task: Optional[asyncio.Task] = None  # protection after a background reconcile
        self._options_task: Optional[asyncio.Task] = None
        self._stopping = False
        self.start_fresh = False  # a simulated session starts anew instead of resuming (--fresh)
        self.sim_start = None  # sim_resume.SimStart: how a simulated session started (the header says it)
        self._skip_ahead = False  # feed.sim_start = "first_signal": fast until the first actionable signal
        self._skip_until_ns = 0  # ... or this data time (set at the first bar close)

    @property
    def store(self):
        """The open store, or None when this run records nothing."""
        return self.recorder.store if self.recorder.recording else None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the store, warm up, restore today's state, start the feed and the timer."""
        await self.prepare()
        await self.feed.start()
        n = len(self.symbols)
        self.recorder.log("info", "engine", f"started: {n} symbol{'' if n == 1 else 's'} ({', '.join(self.symbols)}), "
                          f"mode {self.mode}, broker {self.broker.kind}")
        if self._starts_at_the_open() and self.config.feed.sim_start == "first_signal" and self.speed() > 0:
            self._skip_ahead = True
            self.feed.fast_forward()
        self._feed_task = asyncio.create_task(self._run_feed(), name="engine-feed")
        self._timer_task = asyncio.create_task(self._run_timer(), name="engine-timer")
        if self.options is not None and self.options.fetch is not None:
            self._options_task = asyncio.create_task(self.options.run(self.recorder.log), name="engine-options")

    async def prepare(self) -> None:
        """Everything before data flows: the previous session first (balance range,
        previous profile), then what this session already stored (a restart)."""
        await self.recorder.open()
        if self.recorder.recording:
            await self.strategies.reload(self.recorder.store, self._rebuild_analytics)
            await sim_resume.begin(self, fresh=self.start_fresh)
        self.warm_up(self.feed.previous_session_bars())
        if self.recorder.recording:
            await restore_today(self)
        # a real broker reconciles first: its positions and open orders replace ours
        for line in await self.broker.start():
            self.recorder.log("warn", "reconcile", line)
        self.broker.set_reconcile_handler(self._on_reconcile)
        # a position the reconcile found without a stop (its legs lost): protected from its plan, or flagged
        await self.router.protect()
        if self.feed.can_backfill and self.data.data_clock is None:
            await backfill_live(self)

    def _on_reconcile(self, lines: list[str]) -> None:
        """A reconcile that ran by itself (after the order stream reconnected) found
        differences: journal them, then protect a position it left without a stop."""
        for line in lines:
            self.recorder.log("warn", "reconcile", line)
        if not self._stopping and (self._protect_task is None or self._protect_task.done()):
            self._protect_task = asyncio.get_running_loop().create_task(self.router.protect(), name="engine-protect")

    def _starts_at_the_open(self) -> bool:
        """A simulated session played from its beginning (not resumed from the store)."""
        return (self.config.feed.kind == "synthetic" and self.data.data_clock is not None
                and (self.sim_start is None or self.sim_start.kind == sim_resume.FRESH))

    def _end_skip_ahead(self, now: int) -> None:
        """Pace from here: the first signal a trader can act on is on screen (or the
        session went SKIP_AHEAD_MAX_NS without one)."""
        if not self._skip_until_ns:
            self._skip_until_ns = now + SKIP_AHEAD_MAX_NS
        signal = self.desk.passed_risk > 0
        if not signal and now < self._skip_until_ns:
            return
        self._skip_ahead = False
        self.feed.pace_from_here()
        at = datetime.fromtimestamp(now / NS_PER_S, ZoneInfo(self.config.app.timezone)).strftime("%H:%M:%S")
        why = "to the session's first signal" if signal else "with no signal yet"
        self.recorder.log("info", "feed", f"skipped ahead {why}: the session so far was played at once, "
                          f"paced from {at} (feed.sim_start = \"open\" paces from the open)")

    def _rebuild_analytics(self, symbol: str, params: StrategyParams) -> None:
        self.analytics[symbol] = SymbolAnalytics(symbol, params, self.calendar)

    async def wait_done(self) -> None:
        """Until a finite feed (replay, one simulated session) has been consumed."""
        if self._feed_task is not None:
            await self._feed_task

    @property
    def feed_running(self) -> bool:
        return self._feed_task is not None and not self._feed_task.done()

    async def stop(self, reason: str = "") -> None:
        """Stop the feed and the timer, journal what is left open (nothing is
        flattened here: ``reason`` says why the run ended, e.g. "on SIGHUP"), then
        flush and close the store."""
        self._stopping = True
        for task in (self._options_task, self._timer_task, self._feed_task, self._protect_task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        await self.feed.stop()
        self._journal_exit(reason)
        await self.broker.stop()
        await self.recorder.close(self.broker)

    def _journal_exit(self, reason: str) -> None:
        """The last journal line of a run: how it ended and the exposure it left."""
        held = {p.symbol: p.qty for p in self.broker.positions() if p.qty}
        orders = [o.client_order_id or o.id for o in self.broker.open_orders()]
        how = f"exited {reason}" if reason else "exited"
        left = ": left open, not flattened" if held or orders else ""
        self.recorder.log("warn" if held or orders else "info", "engine",
                          f"{how} with {len(held)} position(s) and {len(orders)} order(s) open{left}",
                          data={"reason": reason, "positions": held, "open_orders": orders})

    async def _run_feed(self) -> None:
        try:
            on_data = self.on_data
            awaiting = self.desk.awaiting_price  # approvals held for a price (most runs: none, no call)
            async for item in self.feed.stream():
                if self._stopping:
                    break
                closed = on_data(item)  # (no coroutine per item: most close nothing)
                if closed:
                    await self.on_bars_closed(closed)
                if awaiting:
                    await self._send_awaiting()
            closed = self.end_of_data_bars()
            if closed:
                await self.on_bars_closed(closed)
            self.recorder.log("info", "feed", self.feed.finished_line())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a feed failure must be seen, not swallowed
            self.recorder.log("error", "feed", f"feed failed: {type(exc).__name__}: {self.recorder.redact(str(exc))}")
            raise

    async def _run_timer(self) -> None:
        """Once a second: expire signals, close bars with no trades, time exits;
        every CONFIG_POLL_S re-read per-symbol strategy configs from the store."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + CONFIG_POLL_S
        while not self._stopping:
            await asyncio.sleep(1.0 if self.feed.status().speed != 0 else 0.05)
            await self.tick()
            if self.recorder.recording and loop.time() >= next_poll:
                next_poll = loop.time() + CONFIG_POLL_S
                try:
                    await self.reload_strategy_configs()
                except Exception as exc:  # a store hiccup must not stop the engine
                    self.recorder.log("error", "store", f"reading strategy_configs failed: {self.recorder.redact(str(exc))}")

    async def tick(self) -> None:
        """The timer's work. On data time, bars close and signals expire with the data
        (DataEngine.on_data, SignalDesk.on_trade), never at a wall-clock moment."""
        for entry in self.feed.drain_notices():  # dropped symbols, reconnects, skipped data: the trader must see them
            self.counters["malformed"] += malformed_count(entry)
            self.recorder.add(entry)
        if self.data.data_clock is None:
            now = self.clock.now_ns()
            self.desk.expire(now)
            self.broker.check_timeouts()  # limit entries past their timeout expire
            closed = self.close_bars(now)
            if closed:
                await self.on_bars_closed(closed)
        elif self.desk.pending:
            # data time stood still (feed paused or ended) while the trader's least time
            # to decide ran out: the data-time TTL, already past, expires it now
            self.desk.expire(self.clock.now_ns())
        self.notifier.bump()

    # ------------------------------------------------------------------ the seam a backtest drives

    async def feed_item(self, item) -> int:
        """One item as the feed task handles it: apply it, act on the bars it closed.
        Returns how many bars closed."""
        closed = self.on_data(item)
        if closed:
            await self.on_bars_closed(closed)
        if self.desk.awaiting_price:
            await self._send_awaiting()
        return len(closed)

    def warm_up(self, bars: Iterable[Bar]) -> None:
        """History (the previous session) the analytics see, and the setups that ask for
        it (``learns_from_history``: indicators that span sessions, like the EMAs of
        STRATEGY.md 13) too; nothing is recorded or acted on."""
        learners = {sym: [s for s in setups if getattr(s, "learns_from_history", False)]
                    for sym, setups in self.setups.items()}
        if not any(learners.values()):
            self.data.warm_up(bars)
            return
        for bar in bars:
            if not self.data.warm_up((bar,)):
                continue
            hungry = learners.get(bar.symbol)
            if hungry:
                snap = self.analytics[bar.symbol].snapshot()
                if snap.in_session:
                    for setup in hungry:
                        self._setup_bar(bar.symbol, setup, snap, bar.ts_ns + BAR_NS)

    def catch_up(self, bars: Iterable[Bar]) -> int:
        """Bars this run already lived through (a restart's stored candles, oldest first):
        the analytics apply each one and the setups see it as they did live, so their
        memory (an episode already signalled) is what it was. Nothing is recorded or
        acted on. Returns the number of bars applied."""
        n = 0
        for bar in bars:
            if not self.data.warm_up((bar,), alerts=True):
                continue
            n += 1
            snap = self.analytics[bar.symbol].snapshot()
            if snap.in_session:
                for setup in self.setups[bar.symbol]:
                    self._setup_bar(bar.symbol, setup, snap, bar.ts_ns + BAR_NS)
        return n

    def close_bars(self, until_ns: int) -> list[tuple[str, Bar]]:
        """Bars whose minute ended by ``until_ns`` (time passed without trades)."""
        return self.data.close_bars(until_ns)

    def end_of_data_bars(self) -> list[tuple[str, Bar]]:
        """A finite feed ended: its last bars."""
        return self.data.close_bars(self.clock.now_ns() + END_OF_DATA_NS)

    def advance_data_time(self, ts_ns: int) -> None:
        self.data.advance(ts_ns)

    def reach_session(self, now: int) -> None:
        """Data time reached ``now`` over bars the engine was not handed (a backtest
        skipping quiet bars): a session that began meanwhile begins here, as on a
        bar close (start-of-day equity, the risk manager's new day)."""
        self._maybe_new_session(now)

    def add_broker_listener(self, callback: Callable[[BrokerEvent], None]) -> None:
        """``callback(event)`` after the engine has handled each broker event."""
        self.router.add_event_listener(callback)

    def has_plan(self, symbol: str) -> bool:
        return symbol in self.router.plans

    def add_state_minutes(self, counts: dict[str, int]) -> None:
        """In-session bars per market state that a backtest counted without handing
        them to the engine (bars on which the engine provably does nothing else)."""
        minutes = self.state_minutes
        for key, n in counts.items():
            minutes[key] = minutes.get(key, 0) + n

    # ------------------------------------------------------------------ bar close: setups

    async def on_bars_closed(self, closed: list[tuple[str, Bar]], act: bool = True) -> None:
        """Bars closed: record them, show alerts, manage exits, run the setups.
        With act=False (history being caught up) setups still see every bar, so
        their memory is right, but nothing they say is acted on."""
        now = self.clock.now_ns()
        start, end = self._session_span
        if not (start <= now < end):  # (_maybe_new_session's first test: most bars need no call)
            self._maybe_new_session(now)
        if self._day_to_note is not None:
            day, self._day_to_note = self._day_to_note, None
            await sim_resume.day_began(self, day, now)
        state_minutes = self.state_minutes
        for sym, bar in closed:
            an = self.analytics[sym]
            snap = an.snapshot()
            if self.recorder.recording:  # (a backtest records nothing: no call a bar)
                self.recorder.bar(sym, bar, snap)
            alerts = an.drain_alerts()
            if not act:  # setups remember what they saw, as live: in-session bars
                if snap.in_session:
                    for setup in self.setups[sym]:
                        self._setup_bar(sym, setup, snap, bar.ts_ns)
                continue
            for alert in alerts:
                self.alerts.appendleft(alert)
                self.counters["lvn_alerts"] += 1
                # stamped with the alert's own time, as the alerts pane shows it (not the
                # time the bar was closed, a minute later)
                self.recorder.add(JournalEntry(alert.ts_ns, "info", "alert", f"LVN {alert.lvn_price:.2f} "
                                               f"({alert.source}) {alert.direction.replace('_', ' ')}, "
                                               f"{alert.distance_pct:.2f}%", sym))
            if sym in self.router.plans:  # router.manage_exits in two halves: most bars await nothing
                actions = self.router.exit_actions(sym, snap.last, now, snap.atr)
                if actions:
                    await self.router.act_on_exits(sym, actions)
            if not snap.in_session:
                continue
            key = _STATE_KEY[snap.state]
            state_minutes[key] = state_minutes.get(key, 0) + 1
            for setup in self.setups[sym]:
                # _setup_bar inlined (every bar of every setup; most give no signal)
                try:
                    sig = setup.on_bar(snap, now)
                except Exception as exc:  # noqa: BLE001 - any error of setup code must not stop the feed
                    self._setup_failed(sym, setup, exc)
                    continue
                if sig is not None:
                    sig = self._bracket(sym, sig, snap)
                if sig is not None:
                    to_send = self.desk.on_signal(sig, now)
                    if to_send is not None:
                        await self.router.send(to_send)
            history = self._atr_history.get(sym)
            if history is not None:  # after the setups: a signal is sized on the previous bars' ATR
                history.add(snap.atr)
        if self._skip_ahead:
            self._end_skip_ahead(now)
        if self.pending:  # (most bars have none: no call)
            self.desk.expire(now)
        self.notifier.bump()

    def _market_view(self, sym: str) -> Optional[MarketView]:
        an = self.analytics.get(sym)
        if an is None:
            return None
        snap = an.snapshot()
        history = self._atr_history.get(sym)
        return MarketView(snap.atr, history.mean if history is not None else float("nan"), snap.state)

    def _setup_bar(self, sym: str, setup, snap, now: int) -> Optional[Signal]:
        """``setup.on_bar``; a setup that raises (a trader's own, most likely) is disabled
        for the symbol with its traceback logged and journaled, and the engine goes on."""
        try:
            sig = setup.on_bar(snap, now)
        except Exception as exc:  # noqa: BLE001 - any error of setup code must not stop the feed
            self._setup_failed(sym, setup, exc)
            return None
        return None if sig is None else self._bracket(sym, sig, snap)

    def _bracket(self, sym: str, sig: Signal, snap) -> Optional[Signal]:
        """A setup's signal with its symbol's bracket and, for a mapped symbol, on its
        proxy (None when the proxy has no price yet); its first target noted."""
        # the symbol's stop mode sets the bracket, the same way for every setup (engine/stops.py)
        p = self.params[sym]
        sig = apply_stop_mode(sig, p, snap.atr)
        target1 = first_target(sig, p, snap.atr)
        proxy = self.execution_map.get(sym)
        if proxy is not None:  # the order goes to the proxy, at its prices (engine/execution_map.py)
            proxy_last = self.analytics[proxy].snapshot().last
            mapped = translate(sig, proxy, snap.last, proxy_last)
            if mapped is None:
                self.counters["execution_map_no_price"] += 1
                self.recorder.log("warning", "signal", f"{sig.setup} {sig.symbol} signal dropped: no {proxy} price "
                                  f"yet for execution_map {sym} -> {proxy}", sym)
                return None
            if target1 > 0:
                target1 = to_tick(target1 * proxy_last / snap.last)
            sig = mapped
        if target1 > 0:  # on the signal: stored with it, so a restart keeps it (pending or working)
            sig = evolve(sig, target1=target1)
        return sig

    def _setup_failed(self, sym: str, setup, exc: Exception) -> None:
        name = getattr(setup, "name", type(setup).__name__)
        tb = traceback.format_exc()
        # a new list: a loop over the old one (this bar's setups) carries on unharmed
        self.setups[sym] = [s for s in self.setups.get(sym, []) if s is not setup]
        _log.error("setup %s on %s raised and is disabled for it\n%s", name, sym, tb)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        self.recorder.log("error", "setup", f"setup {name} on {sym} raised {type(exc).__name__}: {exc} "
                          f"(at {frame.filename}:{frame.lineno}); disabled for {sym}, the engine goes on",
                          sym, {"setup": name, "traceback": tb})
        self.counters["setup_errors"] += 1

    def resume_session(self, now: int) -> None:
        """A restart inside the session: its start-of-day equity, daily-loss latch and
        losing streak carry on (they came back from the store), nothing is reset."""
        self._session_date = self.calendar.session_date(now)
        self._session_span = self.calendar.session_bounds(now)
        self.router.day_trades.date = str(self._session_date)

    def _maybe_new_session(self, now: int) -> None:
        """At the session boundary (data time, a bar or an overnight heartbeat): start-of-day
        equity, so the day's P&L, and the day's gates (daily loss, losing streak) start again.
        Every bar asks; inside the session day already seen the answer is two comparisons."""
        start, end = self._session_span
        if start <= now < end:
            return
        self._session_span = self.calendar.session_bounds(now)
        day = self.calendar.session_date(now)
        if day != self._session_date:
            first = self._session_date is None
            self._session_date = day
            self.router.day_trades.reset(str(day))
            self.broker.start_of_day(now)
            self.risk.new_session()
            if not first:
                self.recorder.log("info", "session", f"new session {day}")
                if self.sim_start is not None:
                    self._day_to_note = day

    # ------------------------------------------------------------------ per-symbol strategy configs

    async def reload_strategy_configs(self, rebuild_analytics: bool = False) -> list[str]:
        """Apply the store's strategy_configs on top of cockpit.toml (strategies.py)."""
        return await self.strategies.reload(self.recorder.store, self._rebuild_analytics if rebuild_analytics else None)

    async def set_strategy_config(self, symbol: str, enabled: bool, params: dict) -> None:
        """Change a symbol's parameters at run time (validated, stored, applied)."""
        await self.strategies.set(self.recorder.store, symbol, enabled, params, self.clock.now_ns())

    # ------------------------------------------------------------------ commands (EngineControl)

    def snapshot(self) -> EngineSnapshot:
        if self._snapshot is None or self._snapshot_version != self.version:
            self._snapshot = build_snapshot(self)
            self._snapshot_version = self.version
        return self._snapshot

    @property
    def version(self) -> int:
        return self.notifier.version + self.data.seen

    def add_listener(self, callback: Callable[[], None]) -> None:
        self.notifier.add_listener(callback)

    @property
    def mode(self) -> Mode:
        return self.desk.mode

    @property
    def entries_paused(self) -> bool:
        return self.desk.entries_paused

    async def approve(self, signal_id: str) -> Optional[Signal]:
        """The trader's approval: decided (risk as of now) and sent; or, when the broker
        cannot take the entry yet (no price of the symbol in this run, e.g. a signal a
        restart restored), held as pending "waiting for a price" (desk.hold_for_price),
        sent by ``_send_awaiting`` at the first price while the signal lives."""
        with self.notifier.batch():
            pending = self.desk.pending.get(signal_id)
            if pending is not None and not self.router.can_send_now(pending.symbol):
                return self.desk.hold_for_price(signal_id)
            sig = self.desk.approve(signal_id)
            if sig is not None and sig.decision is Decision.APPROVED:
                await self.router.send(sig)
            return sig

    async def _send_awaiting(self) -> None:
        """Held approvals whose symbol has a price now (after the data item that gave it,
        the desk's expiry by time and price already applied): decided and sent."""
        for sid in self.desk.ready_to_send(self.router.can_send_now):
            with self.notifier.batch():
                sig = self.desk.approve(sid)
                if sig is not None and sig.decision is Decision.APPROVED:
                    await self.router.send(sig)

    async def reject(self, signal_id: str, reason: str = "rejected by trader") -> Optional[Signal]:
        return self.desk.reject(signal_id, reason)

    def set_mode(self, mode: Mode) -> None:
        self.desk.set_mode(mode)
        self.notifier.bump()

    def pause_entries(self) -> None:
        self.desk.pause_entries()

    def resume_entries(self) -> None:
        self.desk.resume_entries()

    async def flatten_all(self) -> None:
        await self.router.flatten_all()

    async def flatten(self, symbol: str) -> None:
        await self.router.flatten(symbol)

    async def cancel_all(self) -> None:
        await self.router.cancel_all()

    async def cancel_order(self, order_id: str) -> Optional[Order]:
        return await self.router.cancel_order(order_id)

    def order_detail(self, order_id: str) -> Optional[OrderDetail]:
        return self.router.order_detail(order_id)

    def set_speed(self, factor: float) -> None:
        if self.feed.controllable:
            self.feed.set_speed(factor)
            self.recorder.log("info", "feed", f"speed {'max' if factor == 0 else f'x{factor:g}'}")

    def speed(self) -> float:
        return self.feed.status().speed

    def yield_to_input(self, seconds: float) -> None:
        """A trader's key is being handled: a replay / simulator running behind or at
        max speed hands the engine no data for up to ``seconds`` of wall time (0
        ends it early), so the key's effect is drawn first. Pacing only: the same data
        in the same order, the same data-time results. A live feed is never held."""
        self.feed.hold_for(seconds)

    def pause_feed(self) -> bool:
        """The trader holds the replay / simulator: data time stands still (so do data-time
        TTLs and bars); exits and money commands still act on the last prices."""
        if not self.feed.controllable:
            return False
        if not self.feed.status().paused:
            self.feed.pause()
            self.recorder.log("info", "feed", "paused by the trader: data time stands still")
            self.notifier.bump()
        return True

    def resume_feed(self) -> bool:
        """Carry on from the next item, paced from now (no catch-up burst): the same
        data in the same order, so the same data-time results as an unpaused run."""
        if not self.feed.controllable:
            return False
        if self.feed.status().paused:
            self.feed.resume()
            self.recorder.log("info", "feed", "resumed by the trader")
            self.notifier.bump()
        return True

    # ------------------------------------------------------------------ snapshot, journal

    def entry_block_reason(self, now: Optional[int] = None) -> str:
        return self.desk.entry_block_reason(self.clock.now_ns() if now is None else now)


    def summary(self) -> dict:
        """Figures of the run so far (the headless command prints them)."""
        return run_summary(self)
