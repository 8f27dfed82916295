"""The day's closed trades (round trips) with the reason each one ended and
totals by setup and by symbol: the Trades pane live, ``cockpit trades --date D``
from the store. One builder for both, so the two always agree.

Round trips come from the fills by the backtester's own rules
(``backtest.metrics.TradeBuilder``: flat -> position -> flat, P&L net of
commissions, R = P&L / (largest qty x |average entry - initial stop|)). The
initial stop and the setup come from the signal that opened the position; the
exit reason from the closing fill's leg (target, stop, a moved stop) or, for a
plain exit order, the exit rule or trader command journaled just before it.
"""
from __future__ import annotations

import math
from dataclasses import replace
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Iterable, Optional, Sequence
from zoneinfo import ZoneInfo

from .backtest.metrics import TradeBuilder, TradeRecord
from .model import NS_PER_S, ClosedTrade, DayTradesView, Decision, Fill, JournalEntry, Order, OrderLeg, Signal, TradeTotals

NOTE_KINDS = ("exit", "command")  # journal kinds that say why a plain exit order was sent
LOOK_BACK_DAYS = 5
_CATCH_UP_AT = 1000  # unread fills that DayTrades turns into trades without waiting for a read  # a stored day's trades: fills this far back may have opened them


def exit_reason(leg: str, note: str = "", stop_price: Optional[float] = None,
                initial_stop: Optional[float] = None) -> str:
    """Why a round trip ended, in the trader's words."""
    if leg == OrderLeg.TAKE_PROFIT.value:
        return "target"
    if leg == OrderLeg.STOP_LOSS.value:
        if stop_price is not None and initial_stop is not None and abs(stop_price - initial_stop) > 1e-9:
            return f"stop (moved to {stop_price:.2f})"
        return "stop"
    return f"exit: {note}" if note else "exit"


def closed_trade(rec: TradeRecord, reason: str) -> ClosedTrade:
    return ClosedTrade(rec.symbol, rec.setup or "?", rec.side, rec.qty, rec.entry_ns, rec.exit_ns,
                       rec.entry_price, rec.exit_price, rec.pnl, rec.r, reason, rec.index_symbol,
                       rec.index_entry_price, rec.index_exit_price, rec.map_ratio)


def summarize(trades: Sequence[ClosedTrade], date: str = "") -> DayTradesView:
    """Totals by setup, by symbol and overall; trades newest first."""
    def totals(key: str, group: Iterable[ClosedTrade]) -> TradeTotals:
        group = list(group)
        rs = [t.r for t in group if not math.isnan(t.r)]
        return TradeTotals(key, len(group), sum(1 for t in group if t.pnl > 0), sum(t.pnl for t in group),
                           sum(rs), len(rs))

    by_setup: dict[str, list[ClosedTrade]] = defaultdict(list)
    by_symbol: dict[str, list[ClosedTrade]] = defaultdict(list)
    for t in trades:
        by_setup[t.setup].append(t)
        by_symbol[t.symbol].append(t)
    return DayTradesView(
        date=date,
        trades=tuple(sorted(trades, key=lambda t: t.exit_ns, reverse=True)),
        by_setup=tuple(totals(k, v) for k, v in sorted(by_setup.items())),
        by_symbol=tuple(totals(k, v) for k, v in sorted(by_symbol.items())),
        total=totals("all", trades),
    )


class DayTrades:
    """Live: fed each fill by the order router (with the plan of the symbol's
    position), reset at each new session."""

    def __init__(self) -> None:
        self.date = ""
        self._builder = TradeBuilder()
        self._trades: list[ClosedTrade] = []
        self._notes: dict[str, str] = {}
        # fills heard (``record``) and not yet turned into round trips: a backtest hears
        # two a round trip and never looks at the Trades pane, so the work is done when read
        self._unread: list[tuple[Fill, Optional[Signal], Optional[Order]]] = []
        self._view: Optional[DayTradesView] = DayTradesView()

    def reset(self, date: str) -> None:
        self.date = date
        self._builder = TradeBuilder()
        self._trades.clear()
        self._notes.clear()
        self._unread.clear()  # the old day's builder and trades go: so do its unread fills
        self._view = None

    def note_exit(self, symbol: str, text: str) -> None:
        """What is about to close a position (an exit rule, flatten): the reason of a plain exit fill."""
        self._catch_up()  # the fills heard before it read the notes as they were
        self._notes[symbol] = text

    def record(self, fill: Fill, plan: Optional[Signal], order: Optional[Order] = None) -> None:
        """``on_fill`` when next read (the router's call: the same trades, built when the
        view, a note or a restore needs them; the notes they read do not change meanwhile)."""
        unread = self._unread
        unread.append((fill, plan, order))
        if len(unread) >= _CATCH_UP_AT:  # a long unwatched day stays bounded
            self._catch_up()

    def _catch_up(self) -> None:
        if self._unread:
            unread, self._unread = self._unread, []
            for fill, plan, order in unread:
                self.on_fill(fill, plan, order)

    def on_fill(self, fill: Fill, plan: Optional[Signal], order: Optional[Order] = None) -> Optional[ClosedTrade]:
        if self._unread:  # in the order heard
            self._catch_up()
        b = self._builder
        if b.position(fill.symbol) == 0 and plan is not None:
            b.plans[fill.order_id] = (plan.stop, plan.setup)
            if plan.index_symbol and plan.map_ratio:
                b.index_of[fill.order_id] = (plan.index_symbol, plan.map_ratio)
        initial_stop = plan.stop if plan is not None else None
        rec = b.on_fill(fill)
        if rec is None:
            return None
        b.plans.pop(fill.order_id, None)
        stop_price = order.stop_price if order is not None else None
        trade = closed_trade(rec, exit_reason(rec.exit_leg, self._notes.pop(fill.symbol, ""), stop_price, initial_stop))
        self._trades.append(trade)
        self._view = None
        return trade

    def restore(self, fills: Sequence[Fill], decisions: Sequence[Signal], orders: Sequence[Order] = (),
                journal: Sequence[JournalEntry] = ()) -> None:
        """A restart: today's stored fills (oldest first) rebuild today's trades."""
        self._catch_up()
        for trade in trades_from_records(fills, decisions, orders, journal, builder=self._builder):
            self._trades.append(trade)
        self._view = None

    def view(self) -> DayTradesView:
        self._catch_up()
        if self._view is None:
            self._view = summarize(self._trades, self.date)
        return self._view


def trades_from_records(fills: Sequence[Fill], signals: Sequence[Signal], orders: Sequence[Order] = (),
                        journal: Sequence[JournalEntry] = (), *,
                        builder: Optional[TradeBuilder] = None) -> list[ClosedTrade]:
    """Closed trades from stored records (fills oldest first). The opening signal
    of a round trip is the entry order's signal, else the symbol's newest sent
    signal decided before the first fill; a plain exit's reason is the symbol's
    last exit / command journal line before the closing fill."""
    b = builder or TradeBuilder()
    sent = sorted((s for s in signals if s.decision in (Decision.APPROVED, Decision.AUTO)), key=lambda s: s.decided_ns)
    by_id = {s.id: s for s in signals}
    orders_by_id = {o.id: o for o in orders}
    notes = sorted((e for e in journal if e.kind in NOTE_KINDS), key=lambda e: e.ts_ns)
    out: list[ClosedTrade] = []
    stops: dict[str, Optional[float]] = {}
    for f in fills:
        if b.position(f.symbol) == 0:
            order = orders_by_id.get(f.order_id)
            sig = by_id.get(order.signal_id) if order is not None and order.signal_id else None
            if sig is None:
                sig = next((s for s in reversed(sent) if s.symbol == f.symbol and s.decided_ns <= f.ts_ns), None)
            if sig is not None:
                b.plans[f.order_id] = (sig.stop, sig.setup)
                if sig.index_symbol and sig.map_ratio:
                    b.index_of[f.order_id] = (sig.index_symbol, sig.map_ratio)
            stops[f.symbol] = sig.stop if sig is not None else None
        rec = b.on_fill(f)
        if rec is None:
            continue
        note = next((e.message for e in reversed(notes) if e.ts_ns <= f.ts_ns and e.ts_ns >= rec.entry_ns
                     and (e.symbol == f.symbol or e.symbol is None)), "")
        order = orders_by_id.get(f.order_id)
        out.append(closed_trade(rec, exit_reason(rec.exit_leg, note, order.stop_price if order else None,
                                                 stops.pop(f.symbol, None))))
    return out


def simulated_runs(sessions, day: str) -> list[list[str]]:
    """The simulated sessions stored for ``day``, oldest first, each as the run
    tokens of its chain (a FRESH start and the runs that resumed it)."""
    chains: list[list[str]] = []
    for r in sorted((r for r in sessions if r.session_date == day), key=lambda r: r.seq):
        if r.start == "fresh" or not chains:
            chains.append([])
        chains[-1].append(r.run_id)
    return chains


async def day_trades_from_store(store, day: date, tz: str = "America/New_York",
                                session: Optional[int] = None) -> DayTradesView:
    """The closed trades of one calendar day (in ``tz``) from a store: a round trip
    counts on the day its closing fill happened; fills before the day that opened
    a position still open at its start are read too. A day the store holds
    several simulated sessions of (each ``--fresh`` start is one) shows one of
    them: ``session`` (1 = the oldest), by default the newest; their records
    carry their runs' tokens, so they never mix."""
    zone = ZoneInfo(tz)
    start = int(datetime.combine(day, time(0), zone).timestamp()) * NS_PER_S
    end = int(datetime.combine(day + timedelta(days=1), time(0), zone).timestamp()) * NS_PER_S
    look_back = start - LOOK_BACK_DAYS * 86_400 * NS_PER_S  # an overnight position's opening fills
    fills = [f for f in await store.fills(since_ns=look_back) if f.ts_ns < end]
    signals = await store.signals(since_ns=look_back - 86_400 * NS_PER_S)
    orders = await store.orders()
    journal = [e for kind in NOTE_KINDS for e in await store.journal(kind, limit=1_000_000)
               if look_back <= e.ts_ns < end]
    source = "the store's fills"
    chains = simulated_runs(await store.sim_sessions(), day.isoformat())
    if chains:
        n = len(chains) if session is None else session
        if not 1 <= n <= len(chains):
            raise ValueError(f"session {session}: the store holds {len(chains)} simulated session(s) of {day}")
        tokens = chains[n - 1]
        order_prefix = tuple(f"paper-{t}-" for t in tokens)
        fills = [f for f in fills if f.id.startswith(order_prefix)]
        orders = [o for o in orders if o.id.startswith(order_prefix)]
        signals = [s for s in signals if s.id.startswith(tuple(f"{t}:" for t in tokens))]
        source = (f"simulated session {n} of {len(chains)} that day (runs {', '.join(tokens)})"
                  + ("; --session N for another" if len(chains) > 1 else ""))
    trades = [t for t in trades_from_records(fills, signals, orders, journal) if start <= t.exit_ns < end]
    return replace(summarize(trades, day.isoformat()), source=source)
