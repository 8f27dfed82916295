"""The order router: what happens between an approved signal and the broker.

It owns the orders: the bracket it sends for a signal (with a client order id,
so a retry never doubles it), what the broker reports back (fills, cancels,
rejections; every one recorded and journaled), the plan of each open position
and its exit management (break-even, trailing, partials, time exits), the
consecutive-loss result of each closed round trip, and the trader's
flatten/cancel commands, which go straight to the broker.

Listeners added with ``add_event_listener`` hear each broker event after the
router has handled it (the backtester's books).
"""
from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Callable, Optional, Sequence

from .brokers.base import Broker
from .config import CockpitConfig, StrategyParams
from .exits import ExitAction, ExitManager
from .ids import ClientOrderIds
from .model import (BrokerEvent, Decision, Fill, Order, OrderDetail, OrderLeg, OrderRequest, OrderStatus, OrderType, Position, Side,
                    Signal)
from .day_trades import DayTrades
from .notify import Notifier
from .order_events import OrderEvents
from .recorder import Recorder
from .risk import RiskManager


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
        self.fills: list[Fill] = []  # this run's
        self._earlier_fills: list[Fill] = []  # this session's before a restart (restore_fills)
        self._attempt: Counter[str] = Counter()
        self._listeners: list[Callable[[BrokerEvent], None]] = []
        self.events = OrderEvents()  # each order's history, for the order detail
        self.day_trades = DayTrades()  # today's round trips, for the Trades pane
        broker.set_event_handler(self.on_broker_event)

    def add_event_listener(self, callback: Callable[[BrokerEvent], None]) -> None:
        self._listeners.append(callback)

    # ------------------------------------------------------------------ entries

    async def send(self, sig: Signal) -> None:
        """The signal's bracket to the broker. A rejection is journaled by the broker's event."""
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
        with self.notifier.batch():
            order = await self.broker.submit(req)
            self.events.add("submitted", order)
            if order.status is OrderStatus.UNKNOWN:
                # possibly live: keep the plan so exit management starts if it fills
                self.plans[sig.symbol] = sig
                self.recorder.log("warn", "order", f"bracket {sig.side.value} {sig.qty} {sig.symbol} id {coid}: "
                                  f"outcome unknown ({self.redact(order.reason)})", sig.symbol)
            elif order.status is not OrderStatus.REJECTED:
                self.plans[sig.symbol] = sig
                self.recorder.log("info", "order", f"sent bracket {sig.side.value} {sig.qty} {sig.symbol} (stop "
                                  f"{sig.stop:.2f}, target {sig.target:.2f}) id {coid}", sig.symbol)
            self.recorder.order(order)
            self.notifier.notify()

    # ------------------------------------------------------------------ what the broker says

    def on_broker_event(self, ev: BrokerEvent) -> None:
        o = ev.order
        rec = self.recorder
        rec.order(o)
        self.events.add(ev.kind, o, ev.fill, ev.reason)
        if ev.kind in ("fill", "partial_fill") and ev.fill is not None:
            f = ev.fill
            self.fills.append(f)
            self.counters["fills"] += 1
            rec.fill(f)
            rec.account(self.broker)
            rec.log("info", "fill", f"filled {f.side.value} {f.qty} {f.symbol} @ {f.price:.2f} ({f.leg.value})", f.symbol)
            self.day_trades.on_fill(f, self.plans.get(f.symbol), o)
            self._after_fill(f)
        elif ev.kind == "rejected":
            self.counters["rejections"] += 1
            rec.log("error", "broker", f"{o.symbol} order {o.client_order_id} rejected: "
                    f"{self.redact(ev.reason or o.reason)}", o.symbol)
            plan = self.plans.get(o.symbol)
            if o.leg is OrderLeg.ENTRY and plan is not None and plan.id == o.signal_id and not o.filled_qty:
                self.plans.pop(o.symbol)  # its entry never became a position (e.g. an UNKNOWN never placed)
        elif ev.kind == "resolved":
            rec.log("info", "order", f"{o.symbol} order {o.client_order_id}: {ev.reason or o.reason}", o.symbol)
        elif ev.kind in ("canceled", "expired") or (ev.kind == "replaced" and o.leg is OrderLeg.TAKE_PROFIT):
            # a take-profit "replaced" is Alpaca ending it because its stop triggered (a moved stop's
            # "replaced" is routine and not journaled)
            rec.log("info", "order", f"{o.symbol} {o.leg.value} order {o.client_order_id} {ev.kind}"
                    + (f": {ev.reason}" if ev.reason else ""), o.symbol)
        self.notifier.notify()
        for listener in self._listeners:
            listener(ev)

    def _after_fill(self, f: Fill) -> None:
        pos = self.broker.position(f.symbol)
        if f.leg is OrderLeg.ENTRY:
            plan = self.plans.get(f.symbol)
            if plan is not None and pos is not None:
                try:
                    self.exits.on_position_opened(f.symbol, plan.side, pos.avg_price, plan.stop, plan.target,
                                                  abs(pos.qty), f.ts_ns, params=self.params[f.symbol])
                except ValueError as exc:  # e.g. filled beyond the stop: the bracket still protects it
                    self.recorder.log("warn", "exit", f"exit management not started: {exc}", f.symbol)
        elif pos is None or pos.qty == 0:
            # the position is closed: its result feeds the consecutive-loss gate
            plan = self.plans.pop(f.symbol, None)
            self.exits.on_position_closed(f.symbol)
            if plan is not None:
                self.risk.record_closed_trade(self._closed_trade_pnl(f.symbol))

    def _closed_trade_pnl(self, symbol: str) -> float:
        """Realised P&L of the round trip that just closed, from its fills."""
        qty = 0
        cash = 0.0
        for f in chain(reversed(self.fills), reversed(self._earlier_fills)):
            if f.symbol != symbol:
                continue
            s = f.qty if f.side is Side.BUY else -f.qty
            qty += s
            cash -= s * f.price + f.commission
            if qty == 0:
                break
        return cash

    # ------------------------------------------------------------------ exits

    async def manage_exits(self, symbol: str, price: float, now: int, atr: float) -> None:
        """What the exit rules call for at a closed bar of a symbol with an open plan.
        A broker error in one action is journaled and followed by a look-up of the
        symbol's orders; it never leaves this method (it would stop the feed)."""
        for action in self.exits.on_price(symbol, price, now, atr):
            self.recorder.log("info", "exit", f"{action.kind} {symbol}: {action.reason}", symbol)
            if action.kind in ("close", "partial"):
                self.day_trades.note_exit(symbol, f"{action.kind} {symbol}: {action.reason}")
            try:
                await self._exit_action(symbol, action)
            except Exception as exc:
                self.counters["exit_errors"] += 1
                self.recorder.log("error", "exit", f"{action.kind} {symbol} failed: {type(exc).__name__}: "
                                  f"{self.redact(str(exc))}", symbol)
                try:
                    for line in await self.broker.check_orders(symbol):
                        self.recorder.log("error", "exit", self.redact(line), symbol)
                except Exception as look_up_exc:
                    self.recorder.log("error", "exit", f"{symbol}: orders could not be looked up after the error: "
                                      f"{self.redact(str(look_up_exc))}", symbol)

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
            await self.broker.submit(OrderRequest(
                client_order_id=self.ids.next_exit(symbol, "p"),
                symbol=symbol, side=side, qty=min(action.qty, abs(pos.qty)), leg=OrderLeg.EXIT))
            if action.new_stop is not None:
                await self.broker.replace_stop(symbol, action.new_stop)

    def restore_fills(self, fills: list[Fill]) -> None:
        """A restart: this session's fills, oldest first, so the P&L of a round trip
        that closes after the restart counts its opening fills too, and the round trips
        they closed rebuild the consecutive-loss count."""
        self._earlier_fills = list(fills)
        open_qty: Counter[str] = Counter()
        cash: Counter[str] = Counter()
        for f in self._earlier_fills:
            s = f.qty if f.side is Side.BUY else -f.qty
            open_qty[f.symbol] += s
            cash[f.symbol] -= s * f.price + f.commission
            if open_qty[f.symbol] == 0:
                self.risk.record_closed_trade(cash.pop(f.symbol))

    def restore_plans(self, positions: list[Position], decisions: list[Signal],
                      open_orders: Sequence[Order] = ()) -> None:
        """A restart: manage each restored position's exits as before, from the newest
        signal that opened it (``decisions`` newest first); an entry still open (working,
        or UNKNOWN) keeps its signal's plan, so exit management starts if it fills."""
        by_id = {d.id: d for d in decisions if d.decision in (Decision.APPROVED, Decision.AUTO)}
        for o in open_orders:
            if o.leg is OrderLeg.ENTRY and o.signal_id in by_id and o.symbol in self.params:
                self.plans.setdefault(o.symbol, by_id[o.signal_id])
        for pos in positions:
            sig = next((d for d in decisions if d.symbol == pos.symbol and d.decision in
                        (Decision.APPROVED, Decision.AUTO)), None)
            if sig is None:
                continue
            self.plans[pos.symbol] = sig
            try:
                self.exits.on_position_opened(pos.symbol, sig.side, pos.avg_price, sig.stop, sig.target,
                                              abs(pos.qty), pos.opened_ns, params=self.params[pos.symbol])
            except ValueError as exc:  # the broker's bracket still protects it
                self.recorder.log("warn", "exit", f"restored {pos.symbol} position: exit management not "
                                  f"resumed: {exc}", pos.symbol)

    # ------------------------------------------------------------------ the trader's commands

    async def flatten_all(self) -> None:
        self.recorder.log("warn", "command", "FLATTEN ALL")
        for p in self.broker.positions():
            self.day_trades.note_exit(p.symbol, "FLATTEN ALL")
        await self._command(self.broker.close_all())

    async def flatten(self, symbol: str) -> None:
        self.recorder.log("warn", "command", f"flatten {symbol}", symbol)
        self.day_trades.note_exit(symbol, f"flatten {symbol}")
        await self._command(self.broker.close(symbol))

    async def cancel_all(self) -> None:
        self.recorder.log("warn", "command", "CANCEL ALL orders")
        await self._command(self.broker.cancel_all())

    async def cancel_order(self, order_id: str) -> Optional[Order]:
        """Cancel one order (an entry takes its held children with it). Returns its
        state after the request, None if the broker does not know the id."""
        self.recorder.log("warn", "command", f"cancel order {order_id}")
        working = next((o for o in self.broker.open_orders() if o.id == order_id), None)
        if working is not None:  # before the broker's answer, which may come during the call
            self.events.add("cancel requested", working)
        with self.notifier.batch():
            order = await self.broker.cancel(order_id)
            if order is not None:
                self.recorder.order(order)
            return order

    def order_detail(self, order_id: str) -> Optional[OrderDetail]:
        known = list(self.broker.open_orders()) + list(self.broker.recent_orders(200))
        order = next((o for o in known if o.id == order_id), None)
        return None if order is None else self.events.detail(order, known)

    async def _command(self, call) -> None:
        with self.notifier.batch():
            for order in await call:
                self.recorder.order(order)
            self.notifier.notify()
