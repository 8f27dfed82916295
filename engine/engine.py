"""The Engine: feed -> analytics -> setups -> risk -> approval -> broker.

One object per run, used identically live, on a replay and in the backtester.
Market data is handled synchronously per item (the hot path); only when a bar
closes, a signal is sent, or a trader command arrives does anything await.
Commands that touch money (flatten, cancel) call the broker directly: the feed
loop yields to the event loop regularly, so they never wait behind strategy work.

Everything that happens is journaled (in memory for the UI, in the store for
the record) and published in an immutable EngineSnapshot.
"""
from __future__ import annotations

import asyncio
import math
import re
from collections import Counter, deque
from dataclasses import replace
from typing import Callable, Optional

from .analytics.session import SessionCalendar
from .analytics.symbol import SymbolAnalytics
from .brokers.base import Broker
from .clock import Clock, DataClock
from pydantic import ValidationError

from .config import CockpitConfig, StrategyParams
from .exits import ExitManager
from .feeds.base import Feed
from .ids import ClientOrderIds
from .model import (
    evolve,
    NS_PER_S,
    Bar,
    BrokerEvent,
    Decision,
    EngineSnapshot,
    FeedStatus,
    JournalEntry,
    LvnAlert,
    MarketState,
    Mode,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    Signal,
    Trade,
)
from .risk import RiskManager
from .strategy.registry import make_setups

MAX_DECISIONS = 50
CONFIG_POLL_S = 10.0  # how often the strategy_configs table is re-read
MAX_ALERTS = 100
_STATE_KEY = {s: s.value for s in MarketState}  # (an enum's .value is a descriptor call, per bar here)


class Engine:
    """Implements engine.control.EngineControl."""

    def __init__(
        self,
        config: CockpitConfig,
        feed: Feed,
        broker: Broker,
        clock: Clock,
        store=None,
        calendar: Optional[SessionCalendar] = None,
        redact: Callable[[str], str] = lambda s: s,
        store_opener=None,
        run_id: str = "",
    ) -> None:
        self.config = config
        self.feed = feed
        self.broker = broker
        self.clock = clock
        self.store = store
        self._store_opener = store_opener  # async () -> Store, run on the loop that starts us
        self.run_id = run_id  # namespaces signal ids of a simulated/replayed run ("" = none)
        self.redact = redact
        self.calendar = calendar or SessionCalendar(config.feed.session, config.sessions.policy)
        self.symbols = list(config.app.symbols)
        self.mode: Mode = config.app.mode
        self.entries_paused = False

        self.params = {s: config.strategy.for_symbol(s) for s in self.symbols}
        self.analytics = {s: SymbolAnalytics(s, self.params[s], self.calendar) for s in self.symbols}
        self.setups = {s: make_setups(s, self.params[s]) for s in self.symbols}
        self.risk = RiskManager(config.risk)
        self.exits = ExitManager(self.params[self.symbols[0]], self.calendar.minutes_to_close)

        self.pending: dict[str, Signal] = {}
        self.decisions: deque[Signal] = deque(maxlen=MAX_DECISIONS)
        self.alerts: deque[LvnAlert] = deque(maxlen=MAX_ALERTS)
        self.journal: deque[JournalEntry] = deque(maxlen=config.engine.journal_size)
        self.counters: Counter[str] = Counter()
        self.signal_counts: Counter[tuple[str, str]] = Counter()  # (setup, decision)
        self.block_reasons: Counter[str] = Counter()
        self.fills: list = []
        self.state_minutes: Counter[str] = Counter()  # closed in-session bars per market state

        self._version = 0
        self._snapshot: Optional[EngineSnapshot] = None
        self._snapshot_version = -1
        self._listeners: list[Callable[[], None]] = []
        self._last_data_ns = 0
        self._session_date = None
        self._plans: dict[str, Signal] = {}  # symbol -> signal of the open position
        self._attempt: Counter[str] = Counter()
        self.ids = ClientOrderIds("ck")
        self._feed_task: Optional[asyncio.Task] = None
        self._timer_task: Optional[asyncio.Task] = None
        self._stopping = False
        self._data_clock = clock if isinstance(clock, DataClock) else None
        self._resume_after_ns = 0  # after a restart: data up to here is already in the analytics
        self._reported: set = set()
        broker.set_event_handler(self._on_broker_event)
        # a simulated broker fills from market data; resolved once, not per trade
        self._broker_on_trade = getattr(broker, "on_trade", None)
        self._broker_on_bar = getattr(broker, "on_bar", None)
        self._broker_on_quote = getattr(broker, "on_quote", None)
        self._malformed_seen: Counter[str] = Counter()  # per symbol: rejects already journaled

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the store, warm up, restore today's state, start the feed and the timer."""
        await self.prepare()
        await self.feed.start()
        self._journal("info", "engine", f"started: {len(self.symbols)} symbols, mode {self.mode}, broker {self.broker.kind}")
        self._feed_task = asyncio.create_task(self._run_feed(), name="engine-feed")
        self._timer_task = asyncio.create_task(self._run_timer(), name="engine-timer")

    async def prepare(self) -> None:
        """Everything before data flows: the previous session first (balance range,
        previous profile), then what this session already stored (a restart)."""
        if self.store is None and self._store_opener is not None:
            self.store = await self._store_opener()
        if self.store is not None:
            await self.reload_strategy_configs(rebuild_analytics=True)
        warm = getattr(self.feed, "previous_session_bars", None)
        if callable(warm):
            for bar in warm():
                if bar.symbol in self.analytics:
                    self._apply_bar(bar, record=False)
        if self.store is not None:
            await self._restore()
        start_broker = getattr(self.broker, "start", None)
        if start_broker is not None:
            # a real broker reconciles first: its positions and open orders replace ours
            for line in await start_broker() or []:
                self._journal("warn", "reconcile", line)
            set_rh = getattr(self.broker, "set_reconcile_handler", None)
            if set_rh is not None:
                set_rh(lambda lines: [self._journal("warn", "reconcile", ln) for ln in lines])
        if callable(getattr(self.feed, "backfill", None)) and self._data_clock is None:
            await self._backfill()

    async def _backfill(self) -> None:
        """Live start: the previous session (1-minute bars: balance range, previous
        profile) and today so far (trades), so the panes are right from the first frame."""
        now = self.clock.now_ns()
        start = self.calendar.session_start_ns(now)
        prev_day = self.calendar.previous_trading_day(self.calendar.session_date(now))
        bounds = self.calendar.rth_bounds(prev_day)
        for sym in self.symbols:
            try:
                if bounds is not None:
                    for bar in await self.feed.backfill(sym, bounds[0], bounds[1], kind="bars"):
                        self._apply_bar(bar, record=False)
                items = await self.feed.backfill(sym, max(start, self._resume_after_ns), now, kind="trades")
            except Exception as exc:  # the trader must see a failed backfill, trading can still start
                self._journal("error", "feed", f"backfill of {sym} failed: {type(exc).__name__}: {self.redact(str(exc))}", sym)
                continue
            closed = []
            for item in items:
                closed.extend(self.on_data(item))
            if closed:
                await self._after_bars(closed, act=False)
            self._journal("info", "feed", f"backfilled {sym}: {len(items):,} trades today", sym)

    async def wait_done(self) -> None:
        """Until a finite feed (replay, one simulated session) has been consumed."""
        if self._feed_task is not None:
            await self._feed_task

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._timer_task, self._feed_task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        await self.feed.stop()
        stop_broker = getattr(self.broker, "stop", None)
        if stop_broker is not None:
            await stop_broker()
        if self.store is not None:
            self._record_account()
            await self.store.close()

    async def _run_feed(self) -> None:
        try:
            async for item in self.feed.stream():
                if self._stopping:
                    break
                closed = self.on_data(item)
                if closed:
                    await self._after_bars(closed)
            # end of a finite feed: close the last bars
            now = self.clock.now_ns()
            closed = []
            for sym, an in self.analytics.items():
                bar = an.close_until(now + 120 * NS_PER_S)
                if bar is not None:
                    closed.append((sym, bar))
            if closed:
                await self._after_bars(closed)
            self._journal("info", "feed", "feed finished")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a feed failure must be seen, not swallowed
            self._journal("error", "feed", f"feed failed: {type(exc).__name__}: {self.redact(str(exc))}")
            raise

    async def _run_timer(self) -> None:
        """Once a second: expire signals, close bars with no trades, time exits;
        every CONFIG_POLL_S re-read per-symbol strategy configs from the store."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + CONFIG_POLL_S
        while not self._stopping:
            await asyncio.sleep(1.0 if self.feed.status().speed != 0 else 0.05)
            await self.tick()
            if self.store is not None and loop.time() >= next_poll:
                next_poll = loop.time() + CONFIG_POLL_S
                try:
                    await self.reload_strategy_configs()
                except Exception as exc:  # a store hiccup must not stop the engine
                    self._journal("error", "store", f"reading strategy_configs failed: {self.redact(str(exc))}")

    async def tick(self) -> None:
        now = self.clock.now_ns()
        self._expire_signals(now)
        drain = getattr(self.feed, "drain_notices", None)
        if drain is not None:  # dropped symbols, reconnects: the trader must see them
            for entry in drain():
                self.journal.append(entry)
                if self.store is not None:
                    self.store.record_journal(entry)
        check_timeouts = getattr(self.broker, "check_timeouts", None)
        if check_timeouts is not None:
            check_timeouts()  # limit entries past their timeout expire
        closed = []
        for sym, an in self.analytics.items():
            bar = an.close_until(now)
            if bar is not None:
                closed.append((sym, bar))
        if closed:
            await self._after_bars(closed)
        self._bump()

    # ------------------------------------------------------------------ market data (hot path)

    def on_data(self, item) -> list[tuple[str, Bar]]:
        """Apply one market data item. Returns the bars it closed (usually none)."""
        if item.ts_ns < self._resume_after_ns:
            self.counters["already_restored"] += 1
            return []
        if type(item) is Trade:
            sym = item.symbol
            an = self.analytics.get(sym)
            if an is None:
                self.counters["unknown_symbol"] += 1
                return []
            if self._data_clock is not None:
                self._data_clock.advance(item.ts_ns)
            self._last_data_ns = item.ts_ns
            # the broker sees the trade first: orders placed because of this trade
            # fill on the next one, never at a price already seen
            if self._broker_on_trade is not None:
                self._broker_on_trade(item)
            bar = an.on_trade(item)
            if an.malformed != self._malformed_seen[sym]:
                self._drain_rejects(an)
            if self.pending:
                self._check_run_past(sym, item.price, item.ts_ns)
            self._version += 1
            return [(sym, bar)] if bar is not None else []
        if type(item) is Bar:
            if item.symbol not in self.analytics:
                self.counters["unknown_symbol"] += 1
                return []
            if self._data_clock is not None:
                self._data_clock.advance(item.ts_ns + 60 * NS_PER_S)
            self._last_data_ns = item.ts_ns
            if self._broker_on_bar is not None:
                self._broker_on_bar(item)
            closed = self._apply_bar(item, record=True)
            self._version += 1
            return [(item.symbol, closed)] if closed is not None else []
        if type(item) is Quote:
            an = self.analytics.get(item.symbol)
            if an is not None:
                an.on_quote(item)
                if self._broker_on_quote is not None:
                    self._broker_on_quote(item)
            return []
        self.counters["unknown_item"] += 1
        return []

    def _apply_bar(self, bar: Bar, record: bool) -> Optional[Bar]:
        an = self.analytics[bar.symbol]
        closed = an.on_bar(bar)
        if an.malformed != self._malformed_seen[bar.symbol]:
            self._drain_rejects(an)
        return closed if record else None

    def _drain_rejects(self, an: SymbolAnalytics) -> None:
        self._malformed_seen[an.symbol] = an.malformed
        for trade, reason in an.drain_rejects():  # rejected bars come as (close, volume) trades
            self.counters["malformed"] += 1
            self._journal("warn", "malformed", f"skipped data: {reason}", trade.symbol,
                          {"ts_ns": trade.ts_ns, "price": _num(trade.price), "size": _num(trade.size)})

    # ------------------------------------------------------------------ bar close: setups

    async def _after_bars(self, closed: list[tuple[str, Bar]], act: bool = True) -> None:
        """Bars closed: record them, show alerts, manage exits, run the setups.
        With act=False (history being caught up) setups still see every bar, so
        their memory is right, but nothing they say is acted on."""
        now = self.clock.now_ns()
        self._maybe_new_session(now)
        for sym, bar in closed:
            an = self.analytics[sym]
            snap = an.snapshot()
            if self.store is not None:
                self._record_bar(sym, bar, snap)
            alerts = an.drain_alerts()
            if not act:
                for setup in self.setups[sym]:
                    setup.on_bar(snap, bar.ts_ns)
                continue
            for alert in alerts:
                self.alerts.appendleft(alert)
                self.counters["lvn_alerts"] += 1
                self._journal("info", "alert", f"LVN {alert.lvn_price:.2f} ({alert.source}) {alert.direction.replace('_', ' ')}, {alert.distance_pct:.2f}%", sym)
            if sym in self._plans:  # (_manage_exits does nothing without a plan: skip the coroutine)
                await self._manage_exits(sym, snap.last, now, snap.atr)
            if not snap.in_session:
                continue
            self.state_minutes[_STATE_KEY[snap.state]] += 1
            for setup in self.setups[sym]:
                sig = setup.on_bar(snap, now)
                if sig is not None:
                    await self._on_signal(sig, now)
        self._expire_signals(now)
        self._bump()

    def add_state_minutes(self, counts: dict[str, int]) -> None:
        """In-session bars per market state that a backtest counted without handing
        them to the engine (bars on which the engine provably does nothing else)."""
        for key, n in counts.items():
            self.state_minutes[key] += n

    def _maybe_new_session(self, now: int) -> None:
        day = self.calendar.session_date(now)
        if day != self._session_date:
            first = self._session_date is None
            self._session_date = day
            sod = getattr(self.broker, "start_of_day", None)
            if sod is not None:
                sod(now)
            self.risk.new_session()
            if not first:
                self._journal("info", "session", f"new session {day}")

    async def _on_signal(self, sig: Signal, now: int) -> None:
        if self.run_id:
            sig = evolve(sig, id=f"{self.run_id}:{sig.id}")
        self.counters["signals"] += 1
        self._journal("info", "signal", f"{sig.setup} {sig.side.value} @ {sig.entry:.2f}: {sig.reason}", sig.symbol)
        if any(p.symbol == sig.symbol for p in self.pending.values()) or self._has_exposure(sig.symbol):
            self._decide(sig, Decision.DROPPED, f"{sig.symbol} already has a pending signal or an open position")
            return
        if self.config.sessions.enforce_policy:
            recommended = self.calendar.info(now).recommended_setup
            if recommended != sig.setup:
                self.block_reasons["session_policy"] += 1
                self._decide(sig, Decision.BLOCKED, f"session_policy: this window recommends {recommended or 'no setup'}",
                             level="warn")
                return
        decision = self.risk.check(sig, self.broker.account(), self.broker.positions(), self.broker.open_orders(),
                                   now, self._data_age_s(now), entries_paused=self.entries_paused)
        sig = decision.signal
        if not decision.allowed:
            self.block_reasons[_reason_key(decision.reason)] += 1
            self._decide(sig, Decision.BLOCKED, decision.reason, level="warn")
            return
        if self.mode is Mode.WATCH:
            self._decide(sig, Decision.WATCHED, "WATCH mode: shown, not sent")
        elif self.mode is Mode.SEMI:
            sig = evolve(sig, expires_ns=now + int(self.config.engine.signal_ttl_s * NS_PER_S))
            self.pending[sig.id] = sig
            if self.store is not None:
                self.store.record_signal(sig)
            self._notify()
        else:
            sig = self._decide(sig, Decision.AUTO, "AUTO mode")
            await self._send(sig)

    def _has_exposure(self, symbol: str) -> bool:
        fast = getattr(self.broker, "has_exposure", None)  # the paper broker answers without snapshots
        if fast is not None:
            return fast(symbol)
        if any(p.symbol == symbol and p.qty != 0 for p in self.broker.positions()):
            return True
        return any(o.symbol == symbol and o.leg is OrderLeg.ENTRY for o in self.broker.open_orders())

    def _position(self, symbol: str):
        """The broker's position in ``symbol`` or None; one lookup where the broker offers it."""
        one = getattr(self.broker, "position", None)
        if one is not None:
            return one(symbol)
        return next((p for p in self.broker.positions() if p.symbol == symbol), None)

    def _decide(self, sig: Signal, decision: Decision, reason: str, level: str = "info") -> Signal:
        sig = evolve(sig, decision=decision, decision_reason=reason, decided_ns=self.clock.now_ns())
        self.decisions.appendleft(sig)
        self.signal_counts[(sig.setup, decision.value)] += 1
        kind = "block" if decision is Decision.BLOCKED else "decision"
        self._journal(level, kind, f"{decision.value}: {sig.setup} {sig.side.value} {sig.symbol} — {reason}", sig.symbol,
                      {"signal_id": sig.id})
        if self.store is not None:
            self.store.record_signal(sig)
        self._bump()
        return sig

    # ------------------------------------------------------------------ sending orders

    async def _send(self, sig: Signal) -> None:
        self._attempt[sig.id] += 1
        coid = self.ids.for_signal(sig.id, self._attempt[sig.id])
        limit = self.config.engine.entry_type == "limit"
        req = OrderRequest(
            client_order_id=coid,
            symbol=sig.symbol,
            side=sig.side,
            qty=sig.qty,
            type=OrderType.LIMIT if limit else OrderType.MARKET,
            limit_price=sig.entry if limit else None,
            take_profit=sig.target,
            stop_loss=sig.stop,
            signal_id=sig.id,
            timeout_s=self.config.engine.limit_timeout_s if limit else None,
        )
        order = await self.broker.submit(req)
        if order.status is OrderStatus.REJECTED:
            self._journal("error", "broker", f"order {coid} rejected: {self.redact(order.reason)}", sig.symbol)
        else:
            self._plans[sig.symbol] = sig
            self._journal("info", "order", f"sent bracket {sig.side.value} {sig.qty} {sig.symbol} (stop {sig.stop:.2f}, target {sig.target:.2f}) id {coid}", sig.symbol)
        if self.store is not None:
            self.store.record_order(order)
        self._notify()

    def _on_broker_event(self, ev: BrokerEvent) -> None:
        o = ev.order
        if self.store is not None:
            self.store.record_order(o)
        if ev.kind in ("fill", "partial_fill") and ev.fill is not None:
            f = ev.fill
            self.fills.append(f)
            self.counters["fills"] += 1
            if self.store is not None:
                self.store.record_fill(f)
                self._record_account()
            self._journal("info", "fill", f"filled {f.side.value} {f.qty} {f.symbol} @ {f.price:.2f} ({f.leg.value})", f.symbol)
            self._after_fill(f)
        elif ev.kind == "rejected":
            self.counters["rejections"] += 1
            self._journal("error", "broker", f"{o.symbol} order {o.client_order_id} rejected: {self.redact(ev.reason or o.reason)}", o.symbol)
        elif ev.kind in ("canceled", "expired"):
            self._journal("info", "order", f"{o.symbol} {o.leg.value} order {o.client_order_id} {ev.kind}" + (f": {ev.reason}" if ev.reason else ""), o.symbol)
        self._bump()
        self._notify()

    def _after_fill(self, f) -> None:
        pos = self._position(f.symbol)
        if f.leg is OrderLeg.ENTRY:
            plan = self._plans.get(f.symbol)
            if plan is not None and pos is not None:
                try:
                    self.exits.on_position_opened(f.symbol, plan.side, pos.avg_price, plan.stop, plan.target,
                                                  abs(pos.qty), f.ts_ns, params=self.params[f.symbol])
                except ValueError as exc:  # e.g. filled beyond the stop: the bracket still protects it
                    self._journal("warn", "exit", f"exit management not started: {exc}", f.symbol)
        elif pos is None or pos.qty == 0:
            # the position is closed: its result feeds the consecutive-loss gate
            plan = self._plans.pop(f.symbol, None)
            self.exits.on_position_closed(f.symbol)
            pnl = self._closed_trade_pnl(f.symbol)
            if plan is not None:
                self.risk.record_closed_trade(pnl)

    def _closed_trade_pnl(self, symbol: str) -> float:
        """Realised P&L of the round trip that just closed, from its fills."""
        qty = 0
        cash = 0.0
        for f in reversed(self.fills):
            if f.symbol != symbol:
                continue
            s = f.qty if f.side is Side.BUY else -f.qty
            qty += s
            cash -= s * f.price + f.commission
            if qty == 0:
                break
        return cash

    async def _manage_exits(self, symbol: str, price: float, now: int, atr: float) -> None:
        if symbol not in self._plans:
            return
        for action in self.exits.on_price(symbol, price, now, atr):
            self._journal("info", "exit", f"{action.kind} {symbol}: {action.reason}", symbol)
            if action.kind == "close":
                await self.broker.close(symbol)
            elif action.kind == "move_stop" and action.new_stop is not None:
                await self.broker.replace_stop(symbol, action.new_stop)
            elif action.kind == "partial" and action.qty > 0:
                pos = self._position(symbol)
                if pos is None or pos.qty == 0:
                    continue
                side = Side.SELL if pos.qty > 0 else Side.BUY
                await self.broker.submit(OrderRequest(
                    client_order_id=self.ids.next_exit(symbol, "p"),
                    symbol=symbol, side=side, qty=min(action.qty, abs(pos.qty)), leg=OrderLeg.EXIT))
                if action.new_stop is not None:
                    await self.broker.replace_stop(symbol, action.new_stop)

    # ------------------------------------------------------------------ pending signals

    def _expire_signals(self, now: int) -> None:
        if not self.pending:
            return
        for sid, sig in list(self.pending.items()):
            if sig.expires_ns and now >= sig.expires_ns:
                del self.pending[sid]
                self._decide(sig, Decision.EXPIRED, f"not approved within {self.config.engine.signal_ttl_s:g} s")

    def _check_run_past(self, symbol: str, price: float, ts_ns: int) -> None:
        frac = self.config.engine.signal_run_fraction
        for sid, sig in list(self.pending.items()):
            if sig.symbol != symbol:
                continue
            stop_dist = abs(sig.entry - sig.stop)
            run = (price - sig.entry) * sig.side.sign
            if stop_dist > 0 and run > frac * stop_dist:
                del self.pending[sid]
                self._decide(sig, Decision.EXPIRED, f"price {price:.2f} ran {run / stop_dist:.2f}x the stop distance past entry")

    # ------------------------------------------------------------------ per-symbol strategy configs

    async def reload_strategy_configs(self, rebuild_analytics: bool = False) -> list[str]:
        """Apply the strategy_configs table (per symbol: enabled + parameters JSON) on top
        of cockpit.toml. Setups are rebuilt for a changed symbol at once; analytics
        parameters (bins, lookbacks) only take effect when analytics are rebuilt, i.e.
        at start (``rebuild_analytics``), never in the middle of a session."""
        changed = []
        for sym, (enabled, stored) in (await self.store.all_strategy_configs()).items():
            if sym not in self.analytics:
                continue
            merged = self.config.strategy.for_symbol(sym).model_dump()
            merged.update(stored)
            merged["enabled"] = enabled
            try:
                new = StrategyParams(**merged)
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                key = ("bad_config", sym, detail)
                if key not in self._reported:
                    self._reported.add(key)
                    self._journal("error", "config", f"strategy_configs for {sym} ignored: {detail}", sym)
                continue
            if new == self.params[sym]:
                continue
            diff = sorted(k for k, v in new.model_dump().items() if getattr(self.params[sym], k) != v)
            self.params[sym] = new
            self.setups[sym] = make_setups(sym, new)
            if rebuild_analytics:
                self.analytics[sym] = SymbolAnalytics(sym, new, self.calendar)
            changed.append(sym)
            self._journal("info", "config", f"{sym} strategy parameters from the store: {', '.join(diff)}", sym)
        return changed

    async def set_strategy_config(self, symbol: str, enabled: bool, params: dict) -> None:
        """Change a symbol's parameters at run time (validated, stored, applied)."""
        merged = {**self.config.strategy.for_symbol(symbol).model_dump(), **params, "enabled": enabled}
        StrategyParams(**merged)  # raises a ValidationError naming the bad key
        await self.store.set_strategy_config(symbol, enabled, params, updated_ns=self.clock.now_ns())
        await self.reload_strategy_configs()

    # ------------------------------------------------------------------ commands (EngineControl)

    def snapshot(self) -> EngineSnapshot:
        if self._snapshot is None or self._snapshot_version != self._version:
            self._snapshot = self._build_snapshot()
            self._snapshot_version = self._version
        return self._snapshot

    @property
    def version(self) -> int:
        return self._version

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    async def approve(self, signal_id: str) -> Optional[Signal]:
        sig = self.pending.pop(signal_id, None)
        if sig is None:
            self._journal("warn", "decision", f"approve: no pending signal {signal_id}")
            return None
        now = self.clock.now_ns()
        decision = self.risk.check(sig, self.broker.account(), self.broker.positions(), self.broker.open_orders(),
                                   now, self._data_age_s(now), entries_paused=self.entries_paused)
        if not decision.allowed:
            self.block_reasons[_reason_key(decision.reason)] += 1
            return self._decide(decision.signal, Decision.BLOCKED, f"approved but blocked: {decision.reason}", level="warn")
        sig = self._decide(decision.signal, Decision.APPROVED, "approved by trader")
        await self._send(sig)
        return sig

    async def reject(self, signal_id: str, reason: str = "rejected by trader") -> Optional[Signal]:
        sig = self.pending.pop(signal_id, None)
        if sig is None:
            return None
        return self._decide(sig, Decision.REJECTED, reason)

    def set_mode(self, mode: Mode) -> None:
        if mode is self.mode:
            return
        old, self.mode = self.mode, mode
        self._journal("warn" if mode is Mode.AUTO else "info", "mode", f"mode {old} -> {mode}")
        if mode is not Mode.SEMI:
            # pending approvals belong to SEMI; in WATCH they must not be sent, in AUTO
            # they were never risk-checked for automatic sending: expire them visibly
            for sid, sig in list(self.pending.items()):
                del self.pending[sid]
                self._decide(sig, Decision.EXPIRED, f"mode changed to {mode}")
        self._bump()

    def pause_entries(self) -> None:
        if not self.entries_paused:
            self.entries_paused = True
            self._journal("warn", "mode", "new entries paused (exits still managed)")
            self._bump()

    def resume_entries(self) -> None:
        if self.entries_paused:
            self.entries_paused = False
            self._journal("info", "mode", "new entries resumed")
            self._bump()

    async def flatten_all(self) -> None:
        self._journal("warn", "command", "FLATTEN ALL")
        orders = await self.broker.close_all()
        for o in orders:
            if self.store is not None:
                self.store.record_order(o)
        self._bump()
        self._notify()

    async def flatten(self, symbol: str) -> None:
        self._journal("warn", "command", f"flatten {symbol}", symbol)
        for o in await self.broker.close(symbol):
            if self.store is not None:
                self.store.record_order(o)
        self._bump()
        self._notify()

    async def cancel_all(self) -> None:
        self._journal("warn", "command", "CANCEL ALL orders")
        for o in await self.broker.cancel_all():
            if self.store is not None:
                self.store.record_order(o)
        self._bump()
        self._notify()

    def set_speed(self, factor: float) -> None:
        set_speed = getattr(self.feed, "set_speed", None)
        if set_speed is not None:
            set_speed(factor)
            self._journal("info", "feed", f"speed {'max' if factor == 0 else f'x{factor:g}'}")
            self._bump()

    def speed(self) -> float:
        return self.feed.status().speed

    # ------------------------------------------------------------------ snapshot, journal

    def entry_block_reason(self, now: Optional[int] = None) -> str:
        now = self.clock.now_ns() if now is None else now
        if self.entries_paused:
            return "entries paused"
        return self.risk.entry_block_reason(now, self.broker.account(), self._data_age_s(now))

    def _build_snapshot(self) -> EngineSnapshot:
        now = self.clock.now_ns()
        status = self.feed.status()
        age = self._data_age_s(now)
        if (status.connected and not status.done and age is not None
                and age > self.config.risk.stale_after_s and self.calendar.in_rth(now)):
            status = replace(status, stale=True)
        open_orders = self.broker.open_orders()
        recent = [o for o in self.broker.recent_orders(30) if not o.status.is_open]
        return EngineSnapshot(
            ts_ns=now,
            mode=self.mode,
            entries_paused=self.entries_paused,
            broker_kind=self.broker.kind,
            feed=status,
            symbols={s: an.snapshot() for s, an in self.analytics.items()},
            alerts=tuple(self.alerts),
            pending=tuple(self.pending.values()),
            decisions=tuple(self.decisions),
            positions=tuple(p for p in self.broker.positions() if p.qty != 0),
            orders=tuple(open_orders) + tuple(recent),
            account=self.broker.account(),
            session=self.calendar.info(now) if now else None,
            journal=tuple(self.journal),
            blocked_entries_reason=self.entry_block_reason(now) if now else "",
            counters=dict(self.counters),
        )

    def _data_age_s(self, now: int) -> Optional[float]:
        if self._data_clock is not None:
            return 0.0  # data time: the last item *is* now
        if not self._last_data_ns:
            return None
        return max(0.0, (now - self._last_data_ns) / NS_PER_S)

    def _journal(self, level: str, kind: str, message: str, symbol: Optional[str] = None, data: Optional[dict] = None) -> None:
        entry = JournalEntry(self.clock.now_ns(), level, kind, self.redact(message), symbol, data)
        self.journal.append(entry)
        if self.store is not None:
            self.store.record_journal(entry)
        self._bump()

    def _bump(self) -> None:
        self._version += 1

    def _notify(self) -> None:
        for cb in self._listeners:
            cb()

    # ------------------------------------------------------------------ persistence

    def _record_bar(self, sym: str, bar: Bar, snap) -> None:
        st = self.store
        st.record_bar(bar)
        r = snap.rolling
        st.record_state(sym, bar.ts_ns, snap.state.value, r.poc if r else math.nan, r.vah if r else math.nan,
                        r.val if r else math.nan, snap.distance_from_poc_pct, snap.momentum)
        fl = snap.flow
        st.record_flow(sym, bar.ts_ns, buy=_num(bar.buy_volume), sell=_num(bar.sell_volume), delta=fl.last_delta,
                       cvd=fl.cvd, pressure=_num(fl.buy_pressure), aggression=fl.aggression,
                       direction=fl.direction.value if fl.direction else None)

    def _record_account(self) -> None:
        now = self.clock.now_ns()
        self.store.record_account(self.broker.account(), now)
        for p in self.broker.positions():
            self.store.record_position(p, now)

    async def _restore(self) -> None:
        """A restart in the same session: replay today's stored candles into the analytics,
        bring back pending signals (the broker restores its own orders and positions)."""
        now = self.clock.now_ns()
        if not now:
            return
        start = self.calendar.session_start_ns(now)
        state = await self.store.load_today(start)
        n = 0
        last_ns = 0
        for sym, bars in state.bars.items():
            if sym not in self.analytics:
                continue
            for bar in bars:
                self._apply_bar(bar, record=False)
                n += 1
                last_ns = max(last_ns, bar.ts_ns + 60 * NS_PER_S)
        self._resume_after_ns = last_ns
        for sig in reversed(state.decisions[:MAX_DECISIONS]):
            self.decisions.appendleft(sig)
        restore = getattr(self.broker, "restore", None)
        if restore is not None:
            restore(state.positions, state.open_orders, state.account)
        for sig in state.pending:
            if sig.symbol in self.analytics:
                self.pending[sig.id] = sig
        for pos in (state.positions.values() if isinstance(state.positions, dict) else state.positions):
            sig = next((d for d in state.decisions if d.symbol == pos.symbol and d.decision in
                        (Decision.APPROVED, Decision.AUTO)), None)
            if sig is not None:  # manage the restored position's exits as before the restart
                self._plans[pos.symbol] = sig
                try:
                    self.exits.on_position_opened(pos.symbol, sig.side, pos.avg_price, sig.stop, sig.target,
                                                  abs(pos.qty), pos.opened_ns, params=self.params[pos.symbol])
                except ValueError as exc:  # the broker's bracket still protects it
                    self._journal("warn", "exit", f"restored {pos.symbol} position: exit management not "
                                  f"resumed: {exc}", pos.symbol)
        if n or state.pending or state.positions:
            self._journal("info", "engine", f"restored {n} bars, {len(state.positions)} positions, "
                          f"{len(state.open_orders)} open orders, {len(state.pending)} pending signals")

    # ------------------------------------------------------------------ summary

    def _order_count(self) -> int:
        """Orders taken by the broker: counted where it can (a year's backtest has tens
        of thousands; snapshotting them all only to count them cost ~3% of a sweep run)."""
        count = getattr(self.broker, "order_count", None)
        return count() if count is not None else len(self.broker.recent_orders(10_000))

    def summary(self) -> dict:
        """Figures of the run so far (the headless command prints them)."""
        acct = self.broker.account()
        by_setup: dict[str, dict[str, int]] = {}
        by_decision: Counter[str] = Counter()
        for (setup, decision), n in self.signal_counts.items():
            if n:
                by_setup.setdefault(setup, {})[decision] = n
                by_decision[decision] += n
        return {
            "signals_total": self.counters["signals"],
            "signals_by_setup": by_setup,
            "signals_by_decision": dict(by_decision),
            "blocked_reasons": dict(self.block_reasons),
            "orders": self._order_count(),
            "fills": self.counters["fills"],
            "rejections": self.counters["rejections"],
            "lvn_alerts": self.counters["lvn_alerts"],
            "malformed": self.counters["malformed"],
            "equity": round(acct.equity, 2),
            "day_pnl": round(acct.day_pnl, 2),
            "realized_pnl": round(acct.realized_pnl, 2),
            "open_positions": sum(1 for p in self.broker.positions() if p.qty != 0),
            "states": dict(self.state_minutes),
        }


def _num(x: float) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _reason_key(reason: str) -> str:
    """Group block reasons by their rule, dropping the numbers that vary:
    "max_positions 3 reached" -> "max_positions",
    "outside the trading window 09:35-15:50 ET (now ...)" -> "outside the trading window"."""
    if not reason:
        return "unknown"
    head = re.split(r"[\d:(]", reason, maxsplit=1)[0].strip(" ,;-")
    return head or reason
