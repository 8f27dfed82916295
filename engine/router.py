"""The order router: what happens between an approved signal and the broker.

It owns the orders: the bracket it sends for a signal (with a client order id,
so a retry never doubles it), what the broker reports back (fills, cancels,
rejections; every one recorded and journaled), the plan of each open position
and its exit management (break-even, trailing, partials, time exits), the
consecutive-loss result of each closed round trip, and the trader's
flatten/cancel commands, which go straight to the broker.

No broker error stops the feed or the engine: an error in sending, in exit
management or in a trader's command is caught, journaled, shown as a failed
row on the orders pane (``failures``) with its reason, and followed by a
look-up of the symbol's orders at the broker. A position whose shares are
not all covered by working stops (the broker's ``uncovered``) gets a
protective stop for the rest at its plan's stop, under a client order id derived from the plan so a retry is
refused as a duplicate instead of doubling it; without a plan it stays
flagged UNPROTECTED (the snapshot, the positions pane) until it has one.

Listeners added with ``add_event_listener`` hear each broker event after the
router has handled it (the backtester's books).
"""
from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import replace
from typing import Awaitable, Callable, Iterable, Optional, Sequence

from .brokers.base import Broker
from .config import CockpitConfig, StrategyParams
from .execution_map import with_index
from .exits import ExitAction, ExitManager
from .ids import ClientOrderIds
from .model import (BrokerEvent, JournalEntry, Decision, Fill, Order, OrderDetail, OrderLeg, OrderRequest, OrderStatus, OrderType, Position, Side,
                    Signal)
from .day_trades import DayTrades
from .notify import Notifier
from .peg import PEG_JOURNAL, PegPolicy
from .order_events import OrderEvents
from .recorder import Recorder
from .risk import RiskManager
from .stop_cover import closing_side, holding_orders
from .stops import exit_profile


# the journal kind of what a restart needs of an exit plan beyond its signal: the first
# target's price, the percent trail's high-water mark, whether the partial went
EXIT_PLAN = "exit_plan"
RECENT_FILLS = 500  # fills kept in memory (the store has every one)
RECENT_ATTEMPTS = 1000  # signals whose send attempts are counted (a retry comes soon after the first)


class OrderRouter:
    def __init__(self, config: CockpitConfig, broker: Broker, recorder: Recorder, notifier: Notifier,
                 counters: Counter, risk: RiskManager, exits: ExitManager, params: dict[str, StrategyParams],
                 redact: Callable[[str], str] = str) -> None:
        self.config = config
        self.broker = broker
        self.recorder = recorder
        self.notifier = notifier
        self.counters = counters
        self.risk = risk
        self.exits = exits
        self.params = params  # per symbol, shared with the engine (a reload replaces entries)
        self.redact = redact
        self.ids = ClientOrderIds("ck")
        self.plans: dict[str, Signal] = {}  # symbol -> signal of the open position
        self.adds: Counter[str] = Counter()  # symbol -> adds sent to its open position (trend_pullback)
        self.add_ids: set[str] = set()  # client order ids of the add entries sent
        # signal id -> a signal sent through the execution map: its orders are recorded and
        # shown with their index prices (engine/execution_map.py, ``with_index``)
        self.mapped: dict[str, Signal] = {}
        # this run's latest fills (every fill is in the store; a run left open for days
        # must not keep them all), and per symbol the fills of the round trip in progress
        # (since it was last flat), whose P&L feeds the consecutive-loss gate when it closes
        self.fills: deque[Fill] = deque(maxlen=RECENT_FILLS)
        self._trips: dict[str, list[Fill]] = {}
        # signal id -> send attempts (a plain dict: a Counter's store and delete are Python-level calls)
        self._attempt: dict[str, int] = {}
        self._protective: Counter[str] = Counter()  # signal id -> protective stops tried this run
        self.failures: deque[Order] = deque(maxlen=20)  # failed actions, newest last (the orders pane)
        self._failures_seen = 0
        self._protect_lock = asyncio.Lock()  # one protect at a time: two would each place a stop
        self._listeners: list[Callable[[BrokerEvent], None]] = []
        self.events = OrderEvents()  # each order's history, for the order detail
        self.day_trades = DayTrades()  # today's round trips, for the Trades pane
        broker.set_event_handler(self.on_broker_event)
        broker.set_protect_handler(lambda symbol: self.protect([symbol]))

    def add_event_listener(self, callback: Callable[[BrokerEvent], None]) -> None:
        self._listeners.append(callback)

    # ------------------------------------------------------------------ entries

    def may_add(self, sig: Signal) -> bool:
        """Whether ``sig`` may add to its symbol's open position: the same side, and
        either a signal of the position's own setup with ``<setup>_max_adds`` not used
        up (STRATEGY.md 13, trend_pullback) or fewer entries than
        ``risk.max_positions_per_symbol``; the position is open and no entry is still
        working. Each add has its own bracket (the broker keeps
        every exit leg within the position). Only without partial exits and trailing
        stops: those move one stop per symbol and would not know about the adds."""
        plan = self.plans.get(sig.symbol)
        if plan is None or plan.side is not sig.side:
            return False
        params = self.params[sig.symbol]
        adds = self.adds.get(sig.symbol, 0)  # (get: a Counter's miss is a __missing__ call)
        own = plan.setup == sig.setup and adds < params.max_adds(sig.setup)
        if not (own or 1 + adds < self.config.risk.max_positions_per_symbol):
            return False
        exits = exit_profile(params)
        if exits.target1_r > 0 or exits.trail_activate_r > 0 or exits.trail_pct > 0 or exits.target1_atr > 0:
            return False
        pos = self.broker.position(sig.symbol)
        if pos is None or pos.qty * sig.side.sign <= 0:
            return False
        return not any(o.symbol == sig.symbol and o.leg is OrderLeg.ENTRY and o.status.is_open
                       for o in self.broker.open_orders())

    def can_send_now(self, symbol: str) -> bool:
        """Whether the broker can take this symbol's entry now: a market entry on a
        simulated broker needs a price of the market first (none right after a restart)."""
        return self.config.engine.entry_type != "market" or self.broker.can_price_market(symbol)

    async def send(self, sig: Signal) -> None:
        """The signal's bracket to the broker. A rejection is journaled by the broker's event.
        A signal for a symbol with an open plan is an add (``may_add``): the plan stays."""
        plan = self.plans.get(sig.symbol)
        if plan is not None and plan.id != sig.id and self.may_add(sig):
            self.adds[sig.symbol] += 1
            self.recorder.log("info", "order", f"add {self.adds[sig.symbol]} to the {plan.setup} {plan.side.value} "
                              f"position in {sig.symbol}", sig.symbol)
            sig_for_plan = plan
        else:
            sig_for_plan = sig  # a new position (a stale plan of a closed one is replaced)
        attempt = self._attempt[sig.id] = self._attempt.get(sig.id, 0) + 1
        if sig.index_symbol:
            self._note_mapped(sig)
        coid = self.ids.for_signal(sig.id, attempt)
        if sig_for_plan is not sig:
            self.add_ids.add(coid)
        if len(self._attempt) > RECENT_ATTEMPTS:  # a run left open for days: the oldest signals' counts go
            del self._attempt[next(iter(self._attempt))]
        ec = self.config.engine
        limit = ec.entry_type == "limit"
        peg = PegPolicy(ec.entry_spread_bps, ec.limit_offset_bps, ec.max_reprices, ec.peg_timeout_s,
                        ec.market_fallback) if ec.entry_type == "pegged" else None
        req = OrderRequest(
            client_order_id=coid,
            symbol=sig.symbol,
            side=sig.side,
            qty=sig.qty,
            type=OrderType.LIMIT if limit or peg else OrderType.MARKET,
            limit_price=sig.entry if limit or peg else None,
            take_profit=sig.target,
            stop_loss=sig.stop,
            signal_id=sig.id,
            timeout_s=self.config.engine.limit_timeout_s if limit else None,
            peg=peg,
        )
        with self.notifier.batch():
            try:
                order = await self.broker.submit(req)
            except Exception as exc:  # never out of here: it would stop the feed
                self.counters["order_errors"] += 1
                await self._failed(f"bracket {sig.side.value} {sig.qty} {sig.symbol} id {coid}", sig.symbol, exc,
                                   "order", client_order_id=coid, side=sig.side, qty=sig.qty)
                if self.broker.has_exposure(sig.symbol):  # it may be live: exits start if it fills
                    self.plans[sig.symbol] = sig
                self.notifier.notify()
                return
            self.events.add("submitted", order)
            if order.status is OrderStatus.UNKNOWN:
                # possibly live: keep the plan so exit management starts if it fills
                self.plans[sig.symbol] = sig_for_plan
                self.recorder.log("warn", "order", f"bracket {sig.side.value} {sig.qty} {sig.symbol} id {coid}: "
                                  f"outcome unknown ({self.redact(order.reason)})", sig.symbol)
            elif order.status is not OrderStatus.REJECTED:
                self.plans[sig.symbol] = sig_for_plan
                self.recorder.logf("info", "order", "sent bracket {} {} {} (stop {:.2f}, target {:.2f}) id {}",
                                   (sig.side, sig.qty, sig.symbol, sig.stop, sig.target, coid), sig.symbol)
                if peg is not None:
                    self._journal_peg(order)  # its window starts now: a restart resumes it from here
            self.recorder.order(self.with_index(order))
            self.notifier.notify()

    def _note_mapped(self, sig: Signal) -> None:
        self.mapped[sig.id] = sig
        if len(self.mapped) > RECENT_ATTEMPTS:  # a run left open for days: the oldest go
            del self.mapped[next(iter(self.mapped))]

    def with_index(self, order: Order) -> Order:
        """``order`` with its price in the index the setup read, when its signal went
        through the execution map; as it is otherwise."""
        sig = self.mapped.get(order.signal_id) if self.mapped and order.signal_id else None
        return order if sig is None else with_index(order, sig)

    def with_index_all(self, orders: Iterable[Order]) -> tuple[Order, ...]:
        """``with_index`` of each (the snapshot's orders, the order detail's legs)."""
        if not self.mapped:
            return tuple(orders)
        return tuple(self.with_index(o) for o in orders)

    def mapped_signal(self, signal_id: Optional[str]) -> Optional[Signal]:
        """The signal sent through the execution map with this id (its index prices, r)."""
        return self.mapped.get(signal_id) if signal_id else None

    # ------------------------------------------------------------------ what the broker says

    def on_broker_event(self, ev: BrokerEvent) -> None:
        o, kind, f = ev.order, ev.kind, ev.fill
        rec = self.recorder
        rec.order(self.with_index(o) if self.mapped else o)  # (most runs map nothing: no call)
        self.events.add(kind, o, f, ev.reason)
        if kind == "new":  # (5 of a round trip's 8 events: nothing more to journal)
            pass
        elif kind in ("fill", "partial_fill") and f is not None:
            self.fills.append(f)
            self._trips.setdefault(f.symbol, []).append(f)
            self.counters["fills"] += 1
            rec.fill(f)
            if rec.recording:  # (the account's rows: none without a store)
                rec.account(self.broker)
            rec.logf("info", "fill", "filled {} {} {} @ {:.2f} ({})", (f.side, f.qty, f.symbol, f.price, f.leg),
                     f.symbol)
            self.day_trades.record(f, self.plans.get(f.symbol), o)  # built when read
            self._after_fill(f)
        elif kind == "rejected":
            self.counters["rejections"] += 1
            rec.log("error", "broker", f"{o.symbol} order {o.client_order_id} rejected: "
                    f"{self.redact(ev.reason or o.reason)}", o.symbol)
            plan = self.plans.get(o.symbol)
            pos = self.broker.position(o.symbol)
            if o.leg is OrderLeg.ENTRY and plan is not None and plan.id == o.signal_id and not o.filled_qty \
                    and (pos is None or pos.qty == 0):
                # its entry never became a position (e.g. an UNKNOWN never placed); a pegged entry's
                # replacement refused because the order it replaced filled first keeps the plan
                self.plans.pop(o.symbol)
        elif kind == "resolved":
            rec.log("info", "order", f"{o.symbol} order {o.client_order_id}: {ev.reason or o.reason}", o.symbol)
        elif kind == "replaced" and o.leg is OrderLeg.ENTRY and ev.reason.startswith("peg: "):
            # a pegged entry placed, re-pegged, pulled or sent at market (engine/peg.py)
            rec.log("info", "order", f"{o.symbol} entry {o.client_order_id}: {ev.reason}", o.symbol)
            self._journal_peg(o)
        elif kind in ("canceled", "expired") or (kind == "replaced" and o.leg is OrderLeg.TAKE_PROFIT):
            # a take-profit "replaced" is Alpaca ending it because its stop triggered (a moved stop's
            # "replaced" is routine and not journaled)
            rec.logf("info", "order", "{} {} order {} {}{}", (o.symbol, o.leg, o.client_order_id, kind,
                                                             f": {ev.reason}" if ev.reason else ""), o.symbol)
        self.notifier.notify()
        for listener in self._listeners:
            listener(ev)

    def _after_fill(self, f: Fill) -> None:
        pos = self.broker.position(f.symbol)
        if f.leg is OrderLeg.ENTRY:
            plan = self.plans.get(f.symbol)
            if plan is not None and pos is not None and f.client_order_id in self.add_ids:
                self.exits.on_position_added(f.symbol, abs(pos.qty))  # an add: the plan's exits go on
            elif plan is not None and pos is not None:
                try:
                    opened = self.exits.on_position_opened(
                        f.symbol, plan.side, pos.avg_price, plan.stop, plan.target, abs(pos.qty), f.ts_ns,
                        params=self.params[f.symbol], target1=plan.target1)
                    if opened.target1 > 0 or opened.params.trail_pct > 0:
                        self._journal_exit_plan(opened)
                except ValueError as exc:  # e.g. filled beyond the stop: the bracket still protects it
                    self.recorder.log("warn", "exit", f"exit management not started: {exc}", f.symbol)
        elif pos is None or pos.qty == 0:
            # the position is closed: its result feeds the consecutive-loss gate
            plan = self.plans.pop(f.symbol, None)
            self.adds.pop(f.symbol, None)
            self.exits.on_position_closed(f.symbol)
            trip = self._trips.pop(f.symbol, [])  # the next round trip starts empty
            if plan is not None:
                self.risk.record_closed_trade(_trip_pnl(trip))

    # ------------------------------------------------------------------ exits

    def _journal_peg(self, o: Order) -> None:
        """A pegged entry's progress (window, re-pegs used, working price) after each step,
        kind ``peg``: what a restart needs to resume it (engine/startup.py, ``carry_pegs``)."""
        data = self.broker.peg_progress(o.id)
        if data is not None:
            left = (data["deadline_ns"] - self.recorder.clock.now_ns()) / 1e9
            self.recorder.log("info", PEG_JOURNAL, f"{o.symbol} peg of {o.client_order_id}: {data['reprices']} "
                              f"re-pegs used, {max(0.0, left):.1f}s of its window left", o.symbol, data)

    def _journal_exit_plan(self, plan) -> None:
        """What a restart needs of ``plan`` beyond its signal (``restore_plans`` reads it)."""
        side = "high" if plan.side.sign > 0 else "low"
        parts = ([f"target1 {plan.target1:g}"] if plan.target1 > 0 else []) + [f"{side}-water {plan.extreme:g}"] + \
                (["partial done"] if plan.partial_done else [])
        self.recorder.log("info", EXIT_PLAN, f"{plan.symbol} exit plan: {', '.join(parts)}", plan.symbol,
                          {"opened_ns": plan.opened_ns, "high_water": plan.extreme, "target1": plan.target1,
                           "partial_done": plan.partial_done})

    async def manage_exits(self, symbol: str, price: float, now: int, atr: float) -> None:
        """What the exit rules call for at a closed bar of a symbol with an open plan.
        A broker error in one action is journaled, shown, followed by a look-up of the
        symbol's orders, and the exit plan goes back to what the broker holds (a
        failed close is tried again at the next bar); a position left without a stop
        is protected. It never leaves this method (it would stop the feed)."""
        actions = self.exit_actions(symbol, price, now, atr)
        if actions:
            await self.act_on_exits(symbol, actions)

    def exit_actions(self, symbol: str, price: float, now: int, atr: float) -> list[ExitAction]:
        """``manage_exits``' first half, with no broker call: the actions the exit
        rules call for (and the exit plan journaled when a restart needs it). Most
        bars of an open position call for none, so the engine asks this every bar
        and awaits ``act_on_exits`` only when something is due."""
        plan = self.exits.plan(symbol)
        best = plan.extreme if plan is not None else None
        actions = self.exits.on_price(symbol, price, now, atr)
        if plan is not None and ((plan.params.trail_pct > 0 and plan.extreme != best)
                                 or (actions and any(a.kind == "partial" for a in actions))):
            self._journal_exit_plan(plan)  # a restart carries on from the mark, with no second partial
        return actions

    async def act_on_exits(self, symbol: str, actions: list[ExitAction]) -> None:
        """``manage_exits``' second half: each action journaled and sent to the broker
        (a failure journaled, shown, looked up, the plan put back, the position
        protected; never raised)."""
        for action in actions:
            self.recorder.logf("info", "exit", "{} {}: {}", (action.kind, symbol, action.reason), symbol)
            if action.kind in ("close", "partial"):
                self.day_trades.note_exit(symbol, f"{action.kind} {symbol}: {action.reason}")
            try:
                await self._exit_action(symbol, action)
            except Exception as exc:
                self.counters["exit_errors"] += 1
                pos = self.broker.position(symbol)
                side = Side.SELL if pos is None or pos.qty > 0 else Side.BUY
                await self._failed(f"{action.kind} {symbol}", symbol, exc, "exit", side=side, qty=action.qty,
                                   stop=action.new_stop if action.kind == "move_stop" else None)
                pos = self.broker.position(symbol)
                self.exits.action_failed(action, pos.stop if pos is not None else None,
                                         abs(pos.qty) if pos is not None else None)
                await self.protect([symbol])

    async def _exit_action(self, symbol: str, action: ExitAction) -> None:
        if action.kind == "close":
            await self.broker.close(symbol)
        elif action.kind == "move_stop" and action.new_stop is not None:
            await self.broker.replace_stop(symbol, action.new_stop)
        elif action.kind == "partial" and action.qty > 0:
            pos = self.broker.position(symbol)
            if pos is None or pos.qty == 0:
                return
            side = Side.SELL if pos.qty > 0 else Side.BUY
            sig = self.plans.get(symbol)
            await self.broker.submit(OrderRequest(
                client_order_id=self.ids.partial(sig.id) if sig is not None else self.ids.next_exit(symbol, "p"),
                symbol=symbol, side=side, qty=min(action.qty, abs(pos.qty)), leg=OrderLeg.EXIT,
                signal_id=sig.id if sig is not None else None))
            if action.new_stop is not None:
                await self.broker.replace_stop(symbol, action.new_stop)

    def restore_fills(self, fills: list[Fill]) -> None:
        """A restart: this session's fills, oldest first, so the P&L of a round trip
        that closes after the restart counts its opening fills too, and the round trips
        they closed rebuild the consecutive-loss count."""
        open_qty: Counter[str] = Counter()
        cash: Counter[str] = Counter()
        for f in fills:
            s = f.qty if f.side is Side.BUY else -f.qty
            open_qty[f.symbol] += s
            cash[f.symbol] -= s * f.price + f.commission
            self._trips.setdefault(f.symbol, []).append(f)
            if open_qty[f.symbol] == 0:
                self.risk.record_closed_trade(cash.pop(f.symbol))
                self._trips.pop(f.symbol)

    def restore_plans(self, positions: list[Position], decisions: list[Signal],
                      open_orders: Sequence[Order] = (), exit_plans: Sequence[JournalEntry] = ()) -> None:
        """A restart: manage each restored position's exits as before, from the newest
        signal that opened it (``decisions`` newest first); an entry still open (working,
        or UNKNOWN) keeps its signal's plan, so exit management starts if it fills.
        ``exit_plans``: the journaled exit plans (kind ``EXIT_PLAN``, oldest first); the
        latest of the same position gives back its first target, its high-water mark
        (the trail goes on from it) and whether its partial went."""
        by_id = {d.id: d for d in decisions if d.decision in (Decision.APPROVED, Decision.AUTO)}
        for d in reversed(list(by_id.values())):  # oldest first, so the newest stay
            if d.index_symbol:
                self._note_mapped(d)
        for o in open_orders:
            if o.leg is OrderLeg.ENTRY and o.signal_id in by_id and o.symbol in self.params:
                self.plans.setdefault(o.symbol, by_id[o.signal_id])
        for pos in positions:
            sent = [d for d in decisions if d.symbol == pos.symbol and d.decision in (Decision.APPROVED, Decision.AUTO)]
            if not sent:
                continue
            # signals decided after the position opened were adds to it: the plan is the one before them
            adds = 0
            while adds < len(sent) - 1 and pos.opened_ns > 0 and sent[adds].decided_ns >= pos.opened_ns:
                adds += 1
            sig = sent[adds]
            if adds:
                self.adds[pos.symbol] = adds
            self.plans[pos.symbol] = sig
            saved = [e.data for e in exit_plans if e.symbol == pos.symbol and e.data
                     and e.data.get("opened_ns") == pos.opened_ns and "high_water" in e.data]
            try:
                self.exits.on_position_opened(pos.symbol, sig.side, pos.avg_price, sig.stop, sig.target,
                                              abs(pos.qty), pos.opened_ns, params=self.params[pos.symbol],
                                              target1=float(saved[-1].get("target1") or 0.0) if saved else 0.0)
                if saved:
                    self.exits.restore_extreme(pos.symbol, float(saved[-1]["high_water"]),
                                               bool(saved[-1].get("partial_done")))
            except ValueError as exc:  # the broker's bracket still protects it
                self.recorder.log("warn", "exit", f"restored {pos.symbol} position: exit management not "
                                  f"resumed: {exc}", pos.symbol)

    # ------------------------------------------------------------------ errors and protection

    async def _failed(self, what: str, symbol: str, exc: Exception, kind: str, *, client_order_id: str = "",
                      side: Side = Side.SELL, qty: int = 0, stop: Optional[float] = None) -> None:
        """A broker call failed: one journal line, a failed row on the orders pane with
        the reason, then a look-up of the symbol's orders at the broker (what it says
        is wrong is journaled too). Never raises."""
        reason = f"{what} failed: {type(exc).__name__}: {self.redact(str(exc))}"
        self.recorder.log("error", kind, reason, symbol)
        now = self.recorder.clock.now_ns()
        self._failures_seen += 1  # its own count: the exit ids' sequence is not moved by a failure
        coid = client_order_id or f"{self.ids.prefix}-f-{symbol or 'all'}-{self._failures_seen}"
        row = Order(id=f"failed:{coid}", client_order_id=coid, symbol=symbol, side=side,
                    type=OrderType.STOP if stop is not None else OrderType.MARKET, qty=qty,
                    status=OrderStatus.REJECTED, stop_price=stop,
                    leg=OrderLeg.STOP_LOSS if stop is not None else OrderLeg.EXIT,
                    created_ns=now, updated_ns=now, reason=reason)
        self.failures.append(row)
        self.recorder.order(self.with_index(row))
        if not symbol:
            return
        try:
            for line in await self.broker.check_orders(symbol):
                self.recorder.log("error", kind, self.redact(line), symbol)
        except Exception as look_up_exc:
            self.recorder.log("error", kind, f"{symbol}: orders could not be looked up after the error: "
                              f"{self.redact(str(look_up_exc))}", symbol)
        self.notifier.notify()

    async def protect(self, symbols: Optional[Iterable[str]] = None) -> None:
        """Each open position (of ``symbols``, default all) whose shares are not all
        covered by working stops at the broker (``Broker.uncovered``, engine/stop_cover.py),
        and with no other closing order holding its shares, gets a stop for the shares
        left uncovered at its plan's stop (as the exit rules last moved it). Without a
        plan it is journaled as UNPROTECTED (the snapshot flags it until it is covered).
        The id is ``ids.protective(signal, n)``: the same n after a lost answer is refused
        as a duplicate and the order adopted, never doubled; an earlier one under that id
        that is no longer open (a restart) moves on to the next n. One runs at a time
        (the feed's exits, a command, a reconcile and the broker may each ask). Never raises."""
        async with self._protect_lock:
            await self._protect(symbols)

    async def _protect(self, symbols: Optional[Iterable[str]]) -> None:
        try:
            bare = self.broker.uncovered()
        except Exception as exc:
            self.recorder.log("error", "exit", f"positions could not be checked for stops: {self.redact(str(exc))}")
            return
        for symbol in sorted(bare) if symbols is None else [s for s in symbols if s in bare]:
            pos = self.broker.position(symbol)
            if pos is None or pos.qty == 0:
                continue
            short = min(bare[symbol], abs(pos.qty))
            side = closing_side(pos)
            holding = holding_orders(symbol, side, self.broker.open_orders())
            sig = self.plans.get(symbol)
            if holding or sig is None:
                why = (f"{holding[0].leg.value} order {holding[0].client_order_id} ({holding[0].status.value}) is "
                       f"working" if holding else "no plan to place one from")
                self.recorder.log("error", "exit", f"position {symbol} {pos.qty:+d}: {_bare(pos, short)}; none "
                                  f"placed: {why}", symbol)
                continue
            plan = self.exits.plan(symbol)
            stop = plan.stop if plan is not None else sig.stop
            await self._place_protective_stop(sig, pos, side, stop, short)

    async def _place_protective_stop(self, sig: Signal, pos: Position, side: Side, stop: float, qty: int) -> None:
        """A stop for the ``qty`` shares of ``pos`` no working stop covers."""
        symbol = pos.symbol
        for _ in range(5):
            self._protective[sig.id] += 1
            coid = self.ids.protective(sig.id, self._protective[sig.id])
            req = OrderRequest(client_order_id=coid, symbol=symbol, side=side, qty=qty, type=OrderType.STOP,
                               stop_price=stop, signal_id=sig.id, leg=OrderLeg.STOP_LOSS)
            try:
                order = await self.broker.submit(req)
            except Exception as exc:
                self.recorder.log("error", "exit", f"protective stop {coid} for {symbol} failed: "
                                  f"{type(exc).__name__}: {self.redact(str(exc))}; {_bare(pos, qty)}", symbol)
                return
            self.recorder.order(self.with_index(order))
            if order.status is OrderStatus.REJECTED:
                self.recorder.log("error", "exit", f"protective stop {coid} for {symbol} rejected: "
                                  f"{self.redact(order.reason)}; {_bare(pos, qty)}", symbol)
                return
            if order.status.is_open:
                had = ("had no stop at the broker" if qty >= abs(pos.qty) else
                       f"had stops at the broker for {abs(pos.qty) - qty} of its shares")
                self.recorder.log("warn", "exit", f"position {symbol} {pos.qty:+d} {had}: "
                                  f"protective stop {side.value} {qty} @ {stop:.2f} placed, id {coid}", symbol)
                self.notifier.notify()
                return
            # the broker already had an order under this id and it is closed (an earlier run's): the next id

    # ------------------------------------------------------------------ the trader's commands

    async def flatten_all(self) -> None:
        self.recorder.log("warn", "command", "FLATTEN ALL")
        for p in self.broker.positions():
            self.day_trades.note_exit(p.symbol, "FLATTEN ALL")
        await self._command("FLATTEN ALL", self.broker.close_all, self._exposed())

    async def flatten(self, symbol: str) -> None:
        self.recorder.log("warn", "command", f"flatten {symbol}", symbol)
        self.day_trades.note_exit(symbol, f"flatten {symbol}")
        await self._command(f"flatten {symbol}", lambda: self.broker.close(symbol), [symbol])

    async def cancel_all(self) -> None:
        self.recorder.log("warn", "command", "CANCEL ALL orders")
        await self._command("CANCEL ALL", self.broker.cancel_all, self._exposed())

    async def cancel_order(self, order_id: str) -> Optional[Order]:
        """Cancel one order (an entry takes its held children with it). Returns its
        state after the request, None if the broker does not know the id."""
        self.recorder.log("warn", "command", f"cancel order {order_id}")
        working = next((o for o in self.broker.open_orders() if o.id == order_id), None)
        if working is not None:  # before the broker's answer, which may come during the call
            self.events.add("cancel requested", working)
        with self.notifier.batch():
            try:
                order = await self.broker.cancel(order_id)
            except Exception as exc:  # journaled, shown and looked up like any command's failure
                self.counters["command_errors"] += 1
                symbol = working.symbol if working is not None else ""
                await self._failed(f"cancel order {order_id}", symbol, exc, "command",
                                   client_order_id=working.client_order_id if working is not None else "")
                self.notifier.notify()
                raise
            if order is not None:
                self.recorder.order(self.with_index(order))
            return order

    def order_detail(self, order_id: str) -> Optional[OrderDetail]:
        known = list(self.broker.open_orders()) + list(self.broker.recent_orders(200))
        order = next((o for o in known if o.id == order_id), None)
        if order is None:
            return None
        detail = self.events.detail(order, known)
        if not self.mapped:
            return detail
        return replace(detail, order=self.with_index(detail.order), legs=self.with_index_all(detail.legs))

    def _exposed(self) -> list[str]:
        return sorted({p.symbol for p in self.broker.positions() if p.qty} |
                      {o.symbol for o in self.broker.open_orders()})

    async def _command(self, what: str, call: Callable[[], Awaitable[list[Order]]], symbols: list[str]) -> None:
        """A trader's command straight to the broker. A failure is journaled, shown on the
        orders pane, followed by a look-up of each symbol concerned and protection of a
        position it left without a stop, then raised for the app to show."""
        with self.notifier.batch():
            try:
                orders = await call()
            except Exception as exc:
                self.counters["command_errors"] += 1
                for symbol in symbols or [""]:
                    pos = self.broker.position(symbol) if symbol else None
                    await self._failed(what, symbol, exc, "command",
                                       side=Side.BUY if pos is not None and pos.qty < 0 else Side.SELL,
                                       qty=abs(pos.qty) if pos is not None else 0)
                await self.protect(symbols)
                self.notifier.notify()
                raise
            for order in orders:
                self.recorder.order(self.with_index(order))
            self.notifier.notify()


def _bare(pos: Position, short: int) -> str:
    """What the journal says of a position with ``short`` shares no stop covers."""
    if short >= abs(pos.qty):
        return "UNPROTECTED, no stop at the broker"
    return f"UNPROTECTED for {short} shares, stops at the broker cover {abs(pos.qty) - short}"


def _trip_pnl(trip: list[Fill]) -> float:
    """Net cash of a round trip's fills, summed newest first (as it always was: the
    consecutive-loss gate sees the same sign for a trip that closes near zero)."""
    qty = 0
    cash = 0.0
    for f in reversed(trip):
        s = f.qty if f.side is Side.BUY else -f.qty
        qty += s
        cash -= s * f.price + f.commission
        if qty == 0:
            break
    return cash
