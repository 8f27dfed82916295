"""The simulated broker: fills orders from the market data the engine already sees.

The same class serves the live paper run (trades from a feed), the replay and the
backtester (trades or one-minute bars), so a strategy is judged by one set of
fill rules everywhere. The rules are chosen to never flatter a strategy:

Trades (``on_trade``)
    * market: fills at the NEXT trade of the symbol after submission, at that
      trade's price plus ``slippage_bps`` against us (buy higher, sell lower);
    * limit: fills when a trade prints at or through the limit, at the limit;
    * stop: triggers when a trade reaches the stop and fills at that trade's
      price plus slippage (a trade that gapped through fills where it printed).

Bars (``on_bar``, bars-only backtests; the bar's prices in the order O, then H/L)
    * market: fills at the bar's open plus slippage;
    * limit: at the limit when the bar trades to it, at the open when the bar
      opened through it in our favour (no slippage on limits);
    * stop: at the open plus slippage when the bar gapped through it, else at the
      stop plus slippage when the bar reached it;
    * a bar that touches both the stop-loss and the take-profit of a bracket fills
      the stop (the pessimistic assumption: the order inside the bar is unknown);
    * an entry filled in a bar arms its stop-loss in that same bar (the rest of the
      bar may have hit it) but its take-profit only from the next bar.

Everything else
    * orders become eligible to fill only on data that arrives after they were
      placed (no fill on the print that triggered the decision);
    * bracket children (take-profit limit, stop-loss stop) are HELD until the entry
      fills, then work for the filled quantity; one filling cancels the other (OCO);
    * exit legs (take-profit, stop-loss, exit) are reduce-only: they never open or
      flip a position, shrink with the position and are cancelled when it is flat;
    * flatten (``close``/``close_all``) cancels at once and sends market orders
      that fill on the next trade/bar, exactly like the backtest would; with
      ``immediate=True`` they fill now at the last price plus slippage (use it when
      no more data will come, e.g. at the end of a backtest or a frozen replay);
    * commission is ``commission_per_share`` per share filled, charged to cash;
    * no partial fills, no queue position, no borrow limits for shorts.

Money
    equity = cash + sum(qty x last); unrealized = sum(qty x (last - avg price));
    realized P&L is booked on reductions (gross of commission);
    equity = initial + realized + unrealized - commissions.
    buying power = max(0, equity x ``margin_multiplier`` - gross position notional
    - notional reserved by open entry orders); an order that adds exposure needs
    qty x reference price (limit, stop, else last trade, else quote mid) of it.
    Day P&L = equity - start-of-day equity (``start_of_day`` resets the latter).

State changes are reported to the event handler as BrokerEvents ("new", "fill",
"canceled", "rejected", "expired", "replaced") after each operation completes,
so a handler that reads ``positions()`` sees the state the event describes.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable, Optional

from ..clock import Clock
from .base import BacktestBroker
from ..config import BrokerConfig
from ..ids import ClientOrderIds, is_valid_client_order_id
from ..peg import PegAction, PegState, progress, resumed, window_left_s
from ..model import (
    NS_PER_MIN,
    NS_PER_S,
    Account,
    Bar,
    BrokerEvent,
    Fill,
    Order,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    Trade,
    field_names,
    record_builder,
)

_REDUCE_ONLY = (OrderLeg.TAKE_PROFIT, OrderLeg.STOP_LOSS, OrderLeg.EXIT)
_LEG_VALUE = {leg: leg.value for leg in OrderLeg}  # (an enum's .value is a descriptor call: 4 per bracket)
_EPS = 1e-9
# the reason a pegged entry carries (engine/peg.py): before its first placement, and when a
# restart cancels it
PEG_WAITING = "peg: waiting for the spread"
PEG_NOT_RESTORED = "peg: not restored after a restart (its re-pegs and deadline are not stored): cancelled"
PEG_WINDOW_OVER = "peg: not resumed after a restart: its window ended {ago:.1f}s ago (data time): cancelled"
PEG_RESUMED = "peg: resumed after a restart with {left:.1f}s of its window left, {reprices} re-pegs used"
KEEP_DONE_ORDERS = 200  # finished orders kept in memory across a new day (recent_orders, look-ups)
_INF = math.inf


@dataclass(slots=True)
class _Working:
    """The broker's mutable record of one order; callers only ever see ``snapshot()``.
    It declares every field of ``Order`` (checked at import, see below) and the
    broker's own bookkeeping after them."""

    id: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: int
    status: OrderStatus
    leg: OrderLeg
    created_ns: int
    limit_price: Optional[float] = None
    stop_price: Optional[float] = None
    parent_id: Optional[str] = None
    signal_id: Optional[str] = None
    updated_ns: int = 0
    filled_qty: int = 0
    avg_fill_price: float = 0.0
    reason: str = ""
    # the execution map's index price and ratio: set by the router on what it records and shows, not here
    index_symbol: str = ""
    index_price: Optional[float] = None
    map_ratio: Optional[float] = None
    expires_ns: int = 0  # 0 = no timeout
    timeout_s: float = 0.0
    armed_tick: int = 0  # eligible to fill on data ticks after this one
    touch: int = 0  # order of the last change, for recent_orders
    children: list[str] = field(default_factory=list)
    sibling: Optional[str] = None  # the OCO partner of a bracket child

    snapshot: ClassVar[Callable[["_Working"], Order]]


# The Order of this working copy, built from Order's own field list (a snapshot
# is built for every event, so positionally, as fast as a hand-written call).
_Working.snapshot = record_builder(Order, _Working)
_ORDER_FIELDS = field_names(Order)


@dataclass(slots=True)
class _Book:
    """One symbol's position: signed quantity, average price, realized P&L so far."""

    qty: int = 0
    avg_price: float = 0.0
    realized: float = 0.0
    opened_ns: int = 0


def _finite_positive(x: Optional[float]) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x) and x > 0


class PaperBroker(BacktestBroker):
    """Simulated broker (see the module docstring for every fill rule)."""

    kind = "SIMULATED"

    def __init__(
        self,
        config: BrokerConfig,
        clock: Clock,
        symbols: Iterable[str],
        ids: Optional[ClientOrderIds] = None,
        id_prefix: str = "paper",
    ) -> None:
        self._cfg = config
        self._clock = clock
        self._symbols = frozenset(symbols)
        if not self._symbols:
            raise ValueError("PaperBroker needs at least one symbol to trade")
        self._slip = config.slippage_bps / 10_000.0
        self._cps = config.commission_per_share
        self._margin = config.margin_multiplier
        self._ids = ids or ClientOrderIds("paper")
        # order/fill ids are "<id_prefix>-N": a run token in the prefix keeps two runs
        # that share a store from writing the same ids (the store keeps fills once by id)
        self._id_prefix = id_prefix
        self._handler: Optional[Callable[[BrokerEvent], None]] = None
        self._outbox: list[BrokerEvent] = []

        self._orders: dict[str, _Working] = {}
        self._forgotten = 0  # finished orders dropped from memory at a new day (the store has them)
        # the finished orders in ``_orders``, in the order they finished: that is their order of
        # last change (``touch``), since a finished order is never changed again
        self._done: list[_Working] = []
        self._open: dict[str, dict[str, _Working]] = {s: {} for s in self._symbols}
        self._timed: set[str] = set()
        self._used_client_ids: set[str] = set()
        self._books: dict[str, _Book] = {}
        self._last: dict[str, float] = {}
        self._quotes: dict[str, Quote] = {}
        # working pegged entries (engine/peg.py): order id -> its peg; one waiting for the
        # spread (price None) is out of the market and fills from nothing
        self._pegs: dict[str, PegState] = {}
        self._saved_pegs: dict[str, dict] = {}  # a restart: journaled progress by order id (carry_pegs)

        self._cash = float(config.initial_equity)
        self._realized = 0.0
        self._commissions = 0.0
        self._sod_equity = float(config.initial_equity)

        self._tick = 0
        self._order_seq = 0
        self._fill_seq = 0
        self._touch_seq = 0
        # per symbol: (touch_seq when worked out, lo, hi) - a trade strictly inside (lo, hi)
        # fills none of the symbol's working orders (see _quiet_band)
        self._quiet: dict[str, tuple[int, float, float]] = {}
        self.malformed = 0  # market data the broker could not use (counted, skipped)

    # ------------------------------------------------------------------ protocol: setup

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None:
        self._handler = handler

    @property
    def fills_from_market_data(self) -> bool:
        return True

    @property
    def symbols(self) -> frozenset[str]:
        return self._symbols

    # ------------------------------------------------------------------ protocol: commands

    async def submit(self, request: OrderRequest) -> Order:
        """Place an order (a bracket when take_profit/stop_loss are set). Returns the
        entry order: NEW when accepted, REJECTED with a reason when refused."""
        try:
            return self._submit(request)
        finally:
            self._flush()

    async def cancel(self, order_id: str) -> Optional[Order]:
        """Cancel one open order (an entry takes its held children with it).
        Returns the order's state, or None for an unknown id."""
        try:
            w = self._orders.get(order_id)
            if w is None:
                return None
            if w.status.is_open:
                self._cancel(w, "canceled by request", self._clock.now_ns())
            return w.snapshot()
        finally:
            self._flush()

    async def cancel_all(self) -> list[Order]:
        """Cancel every open order now. Returns the orders that were cancelled."""
        try:
            return self._cancel_where(lambda w: True, "cancel all")
        finally:
            self._flush()

    async def close(self, symbol: str, immediate: bool = False) -> list[Order]:
        """Cancel the symbol's open orders and close its position at market.
        Returns the cancelled orders followed by the closing order (if any)."""
        try:
            canceled = self._cancel_where(lambda w: w.symbol == symbol, f"close {symbol}")
            closing = self._close_position(symbol, immediate)
            return canceled + ([closing] if closing is not None else [])
        finally:
            self._flush()

    async def close_all(self, immediate: bool = False) -> list[Order]:
        """Cancel every open order, then close every position at market.
        Returns the cancelled orders followed by the closing orders."""
        try:
            out = self._cancel_where(lambda w: True, "close all")
            for symbol in sorted(self._books):
                closing = self._close_position(symbol, immediate)
                if closing is not None:
                    out.append(closing)
            return out
        finally:
            self._flush()

    async def replace_stop(self, symbol: str, new_stop: float) -> Optional[Order]:
        """Move the protective stop of the symbol's position to ``new_stop``.

        Changes the working (or held) stop-loss orders of the symbol; with none, a
        position gets a new reduce-only stop for its full size. None when there is
        neither a stop order nor a position. A stop already beyond the market is
        accepted and triggers on the next trade (it only ever exits sooner)."""
        if not _finite_positive(new_stop):
            raise ValueError(f"replace_stop({symbol!r}): new stop {new_stop!r} is not a positive price")
        try:
            now = self._clock.now_ns()
            stops = [w for w in self._open.get(symbol, {}).values() if w.leg is OrderLeg.STOP_LOSS]
            if stops:
                for w in stops:
                    old = w.stop_price
                    w.stop_price = float(new_stop)
                    self._touch(w, now)
                    self._emit("replaced", w, reason=f"stop {old} -> {new_stop}")
                return stops[-1].snapshot()
            book = self._books.get(symbol)
            if book is None or book.qty == 0:
                return None
            side = Side.SELL if book.qty > 0 else Side.BUY
            w = self._new_order(
                symbol, side, abs(book.qty), OrderType.STOP, OrderLeg.STOP_LOSS, now,
                stop_price=float(new_stop), client_order_id=self._fresh_id(symbol, "sl"),
            )
            self._emit("new", w)
            return w.snapshot()
        finally:
            self._flush()

    def check_timeouts(self) -> list[Order]:
        """Expire orders whose timeout has passed on the clock (the engine may call
        this on a timer; every trade and bar also does it)."""
        try:
            if self._pegs:
                self._pegs_due(self._clock.now_ns())
            return self._expire_due(self._clock.now_ns())
        finally:
            self._flush()

    def start_of_day(self, ts_ns: int) -> None:
        """A new session began: start-of-day equity := current equity; finished orders
        beyond the newest KEEP_DONE_ORDERS leave memory."""
        self._sod_equity = self.account().equity
        self._forget_done_orders()

    def _forget_done_orders(self) -> None:
        """A run left open for days keeps only what the orders pane and today's gates
        need: the oldest finished orders are dropped, a bracket only when every order
        of it is finished (the store has them all; ``order_count`` still counts them).
        The oldest are the front of ``_done`` (no scan and sort of every order a day)."""
        excess = len(self._done) - KEEP_DONE_ORDERS
        if excess <= 0:
            return
        # the families with an order working: every working order is in its symbol's open book
        working = {w.parent_id or w.id for book in self._open.values() for w in book.values()}
        kept = []
        for w in self._done[:excess]:
            if (w.parent_id or w.id) in working:
                kept.append(w)
            else:
                del self._orders[w.id]
                # its client id too: a retry comes within seconds, while its order is still here
                self._used_client_ids.discard(w.client_order_id)
                self._forgotten += 1
        self._done[:excess] = kept

    # ------------------------------------------------------------------ protocol: market data

    def on_trade(self, trade: Trade) -> None:
        symbol = trade.symbol
        book = self._open.get(symbol)  # keyed by exactly the broker's symbols: also the membership test
        if book is None:
            return
        price = trade.price
        # a plain float is judged by one chained comparison (the hot path); anything else by the full test
        if not (type(price) is float and 0.0 < price < _INF) and not _finite_positive(price):
            self.malformed += 1
            return
        self._tick += 1
        self._last[symbol] = price
        if not book and not self._timed:
            return  # the common case: nothing working, O(1)
        try:
            if self._timed:
                self._expire_due(max(self._clock.now_ns(), trade.ts_ns))
            if self._pegs:
                self._pegs_due(max(self._clock.now_ns(), trade.ts_ns))
            q = self._quiet.get(symbol)
            if q is None or q[0] != self._touch_seq:
                q = self._quiet_band(symbol, book)
            if q[1] < price < q[2]:
                return  # the common case with orders working: the trade is between their triggers
            tick = self._tick
            for w in [w for w in book.values() if w.status is OrderStatus.NEW and w.armed_tick < tick]:
                if w.status is not OrderStatus.NEW:  # cancelled by an OCO partner meanwhile
                    continue
                if self._pegs and self._peg_waiting(w):
                    continue
                px = self._trade_price(w, price)
                if px is not None:
                    self._execute(w, px, trade.ts_ns)
        finally:
            if self._outbox:  # (most trades with orders working fill none: no call to deliver nothing)
                self._flush()

    def on_bar(self, bar: Bar) -> None:
        symbol = bar.symbol
        if symbol not in self._symbols:
            return
        o, h, lo, c = bar.open, bar.high, bar.low, bar.close
        if type(o) is float and type(h) is float and type(lo) is float and type(c) is float:
            # the same test as below for plain floats: positive, finite, low <= open/close <= high
            ok = 0.0 < lo <= o <= h < _INF and lo <= c <= h
        else:
            ok = all(_finite_positive(x) for x in (o, h, lo, c)) and lo <= min(o, c) and h >= max(o, c)
        if not ok:
            self.malformed += 1
            return
        self._tick += 1
        book = self._open[symbol]
        if not book and not self._timed:  # the common case: nothing working (and nothing queued to flush)
            self._last[symbol] = c
            return
        try:
            if self._timed:
                self._expire_due(max(self._clock.now_ns(), bar.ts_ns))
            if book:
                q = self._quiet.get(symbol)
                if q is None or q[0] != self._touch_seq:
                    q = self._quiet_band(symbol, book)
                if not (q[1] < lo and h < q[2]):  # a bar inside the quiet band touches no trigger
                    self._fill_from_bar(book, bar)
        finally:
            self._last[symbol] = c
            if self._outbox:
                self._flush()

    def on_quote(self, quote: Quote) -> None:
        """Quotes do not fill orders; the mid is the reference price for buying power
        and bracket checks when the symbol has not traded yet."""
        if quote.symbol in self._symbols and _finite_positive(quote.bid) and _finite_positive(quote.ask):
            self._quotes[quote.symbol] = quote
            if self._pegs:  # a pegged entry follows the quote (engine/peg.py)
                try:
                    self._pegs_on_quote(quote)
                finally:
                    self._flush()
        elif quote.symbol in self._symbols:
            self.malformed += 1

    # ------------------------------------------------------------------ protocol: queries

    def positions(self) -> list[Position]:
        return [self._position_of(symbol, b) for symbol, b in self._books.items()]

    def position(self, symbol: str) -> Optional[Position]:
        """The symbol's entry of ``positions()`` (None without one), without building the others'."""
        b = self._books.get(symbol)
        return self._position_of(symbol, b) if b is not None else None

    def can_price_market(self, symbol: str) -> bool:
        return self._market_ref(symbol) is not None

    def has_exposure(self, symbol: str) -> bool:
        """A non-zero position or a working entry order in ``symbol`` (what the engine
        checks before acting on a signal), without snapshotting positions and orders."""
        b = self._books.get(symbol)
        if b is not None and b.qty != 0:
            return True
        return any(w.leg is OrderLeg.ENTRY for w in self._open.get(symbol, {}).values())

    def is_idle(self, symbol: str) -> bool:
        """No position, no order (working or held) in ``symbol`` and no timed order
        anywhere: a bar of ``symbol`` would only update its last price."""
        return not self._open[symbol] and symbol not in self._books and not self._timed

    def first_touch(self, symbol: str, highs, lows, start: int, stop: int) -> int:
        """For a backtest that skips quiet bars: the first index in ``[start, stop)``
        of the bars given by their highs and lows (numpy arrays) on which ``on_bar``
        could fill one of ``symbol``'s working orders, else ``stop``. A market order
        or any timed order answers ``start``. A bar touches a buy limit or a sell
        stop when its low reaches the price, a sell limit or a buy stop when its
        high does (an open beyond the price is inside the range), which is when
        ``_bar_price`` fills; held orders cannot fill."""
        if self._timed:
            return start
        first = stop
        for w in self._open[symbol].values():
            if w.status is not OrderStatus.NEW:
                continue
            if w.type is OrderType.MARKET:
                return start
            if first <= start:
                break
            if w.type is OrderType.LIMIT:
                price, from_above = w.limit_price, w.side is Side.BUY
            else:
                price, from_above = w.stop_price, w.side is Side.SELL
            hit = (lows[start:first] <= price) if from_above else (highs[start:first] >= price)
            k = int(hit.argmax())
            if hit[k]:
                first = start + k
        return first

    def equity_with_last(self, symbol: str, price: float) -> float:
        """``equity()`` as it would be with ``symbol`` last traded at ``price``."""
        market_value = 0.0
        for s, b in self._books.items():
            market_value += b.qty * (price if s == symbol else self._last.get(s, b.avg_price))
        return self._cash + market_value

    def _position_of(self, symbol: str, b: _Book) -> Position:
        last = self._last.get(symbol, b.avg_price)
        stop = target = None
        for w in self._open[symbol].values():
            if w.leg is OrderLeg.STOP_LOSS and w.status is OrderStatus.NEW:
                stop = w.stop_price
            elif w.leg is OrderLeg.TAKE_PROFIT and w.status is OrderStatus.NEW:
                target = w.limit_price
        return Position(
            symbol=symbol,
            qty=b.qty,
            avg_price=b.avg_price,
            last=last,
            unrealized_pnl=b.qty * (last - b.avg_price),
            realized_pnl=b.realized,
            stop=stop,
            target=target,
            opened_ns=b.opened_ns,
        )

    def open_orders(self) -> list[Order]:
        ws = [w for book in self._open.values() for w in book.values()]
        ws.sort(key=lambda w: w.touch)
        return [w.snapshot() for w in ws]

    def order_count(self) -> int:
        """Every order this broker has taken (rejected ones too), without snapshotting them."""
        return len(self._orders) + self._forgotten

    def recent_orders(self, n: int = 50) -> list[Order]:
        """The ``n`` most recently changed orders (open or not), newest first."""
        return [w.snapshot() for w in heapq.nlargest(n, self._orders.values(), key=lambda w: w.touch)]

    def order(self, order_id: str) -> Optional[Order]:
        w = self._orders.get(order_id)
        return w.snapshot() if w else None

    def last_price(self, symbol: str) -> Optional[float]:
        return self._last.get(symbol)

    def equity(self) -> float:
        """``account().equity`` (the same sums in the same order) without the rest of the account."""
        market_value = 0.0
        for symbol, b in self._books.items():
            market_value += b.qty * self._last.get(symbol, b.avg_price)
        return self._cash + market_value

    def account(self) -> Account:
        market_value = unrealized = gross = 0.0
        for symbol, b in self._books.items():
            last = self._last.get(symbol, b.avg_price)
            market_value += b.qty * last
            unrealized += b.qty * (last - b.avg_price)
            gross += abs(b.qty) * last
        equity = self._cash + market_value
        return Account(
            equity=equity,
            cash=self._cash,
            buying_power=self._buying_power(equity, gross),
            start_of_day_equity=self._sod_equity,
            realized_pnl=self._realized,
            unrealized_pnl=unrealized,
            commissions=self._commissions,
        )

    def _buying_power(self, equity: float, gross: float) -> float:
        return max(0.0, equity * self._margin - gross - self._reserved_notional())

    def _current_buying_power(self) -> float:
        """``account().buying_power`` (the same sums in the same order) without the rest."""
        market_value = gross = 0.0
        last_of = self._last.get
        for symbol, b in self._books.items():
            last = last_of(symbol, b.avg_price)
            market_value += b.qty * last
            gross += abs(b.qty) * last
        return self._buying_power(self._cash + market_value, gross)

    # ------------------------------------------------------------------ restart

    def restore(self, positions, open_orders, account=None, *, fills=(), since_ns: int = 0) -> None:
        """Take back the state a previous run of the same session left in the store:
        positions (a list, or a dict by symbol), working orders (bracket children
        keep their OCO pairing) and the account's cash and start-of-day equity."""
        if isinstance(positions, dict):
            positions = list(positions.values())
        for p in positions:
            if p.symbol in self._symbols and p.qty:
                self._books[p.symbol] = _Book(qty=p.qty, avg_price=p.avg_price, realized=p.realized_pnl,
                                              opened_ns=p.opened_ns)
                self._last.setdefault(p.symbol, p.last or p.avg_price)
        by_parent: dict[str, list[_Working]] = {}
        for o in open_orders:
            if o.symbol not in self._symbols or not o.status.is_open or o.id in self._orders:
                continue
            w = _Working(**{n: getattr(o, n) for n in _ORDER_FIELDS}, armed_tick=self._tick)
            self._touch(w, o.updated_ns)
            self._orders[w.id] = w
            self._open[o.symbol][w.id] = w
            self._used_client_ids.add(o.client_order_id)
            if o.parent_id:
                by_parent.setdefault(o.parent_id, []).append(w)
            seq = o.id.rsplit("-", 1)[-1]
            if o.id.startswith(self._id_prefix + "-") and seq.isdigit():
                self._order_seq = max(self._order_seq, int(seq))
        for parent_id, kids in by_parent.items():
            parent = self._orders.get(parent_id)
            if parent is not None:
                parent.children = [k.id for k in kids]
            if len(kids) == 2:
                kids[0].sibling, kids[1].sibling = kids[1].id, kids[0].id
        # a pegged entry still working as a limit: resumed from its journaled progress (the
        # router's "peg" entries, handed over by ``carry_pegs``) while its window has time left
        # by data time; otherwise cancelled, saying why: as a plain limit it could fill at the
        # signal's reference price (never guessed back to life)
        pegged = [self._orders[o.id] for o in open_orders if o.id in self._orders and o.leg is OrderLeg.ENTRY
                  and o.type is OrderType.LIMIT and o.reason.startswith("peg: ") and self._orders[o.id].status.is_open]
        for w in pegged:
            self._resume_peg(w, self._clock.now_ns())
        if pegged:
            self._flush()
        if account is not None:
            self._cash = account.cash
            self._realized = account.realized_pnl
            self._commissions = account.commissions
            self._sod_equity = account.start_of_day_equity

    # ------------------------------------------------------------------ submission

    def _submit(self, req: OrderRequest) -> Order:
        now = self._clock.now_ns()
        reason = self._validate(req)
        if reason:
            return self._reject(req, reason, now)
        entry = self._new_order(
            req.symbol, req.side, req.qty, req.type, req.leg, now,
            limit_price=req.limit_price, stop_price=req.stop_price,
            client_order_id=req.client_order_id, signal_id=req.signal_id,
        )
        if req.timeout_s is not None:
            entry.timeout_s = float(req.timeout_s)
            entry.expires_ns = now + int(req.timeout_s * NS_PER_S)
            self._timed.add(entry.id)
        if req.peg is not None:
            self._pegs[entry.id] = PegState(req.side, req.peg, now)
            entry.reason = PEG_WAITING  # stored with the order: a restart knows it was pegged
        self._emit("new", entry)
        children = []
        if req.take_profit is not None:
            children.append((OrderLeg.TAKE_PROFIT, OrderType.LIMIT, req.take_profit, None))
        if req.stop_loss is not None:
            children.append((OrderLeg.STOP_LOSS, OrderType.STOP, None, req.stop_loss))
        for leg, typ, limit, stop in children:
            child = self._new_order(
                req.symbol, req.side.opposite, req.qty, typ, leg, now,
                limit_price=limit, stop_price=stop, status=OrderStatus.HELD,
                client_order_id=ClientOrderIds.child(req.client_order_id, _LEG_VALUE[leg]),
                parent_id=entry.id, signal_id=req.signal_id,
            )
            entry.children.append(child.id)
            self._emit("new", child)
        if len(entry.children) == 2:
            tp, sl = (self._orders[i] for i in entry.children)
            tp.sibling, sl.sibling = sl.id, tp.id
        q = self._quotes.get(req.symbol)
        if req.peg is not None and q is not None:  # placed now if the spread allows
            self._pegs_on_quote(Quote(q.symbol, max(now, q.ts_ns), q.bid, q.ask))
        return entry.snapshot()

    def _validate(self, req: OrderRequest) -> str:
        """The reason ``req`` must be refused, or "" when it may be placed."""
        cid = req.client_order_id
        if not is_valid_client_order_id(cid):
            return f"client order id must be 1-48 characters (got {len(cid) if isinstance(cid, str) else cid!r})"
        if cid in self._used_client_ids:
            return f"duplicate client order id {cid!r}"
        if req.symbol not in self._symbols:
            return f"unknown symbol {req.symbol!r} (this broker trades {', '.join(sorted(self._symbols))})"
        if isinstance(req.qty, bool) or not isinstance(req.qty, int) or req.qty < 1:
            return f"qty must be a whole number >= 1 (got {req.qty!r})"
        if req.type is OrderType.LIMIT and not _finite_positive(req.limit_price):
            return f"invalid prices: a limit order needs a positive limit price (got {req.limit_price!r})"
        if req.type is OrderType.STOP and not _finite_positive(req.stop_price):
            return f"invalid prices: a stop order needs a positive stop price (got {req.stop_price!r})"
        for name, value in (("take_profit", req.take_profit), ("stop_loss", req.stop_loss)):
            if value is not None and not _finite_positive(value):
                return f"invalid prices: {name} {value!r} is not a positive price"
        if req.peg is not None and (req.type is not OrderType.LIMIT or req.leg is not OrderLeg.ENTRY):
            return "invalid order: only a limit entry can be pegged"
        if req.timeout_s is not None and not (_finite_positive(req.timeout_s)):
            return f"invalid timeout {req.timeout_s!r}: must be a positive number of seconds"
        bracket = req.take_profit is not None or req.stop_loss is not None
        if bracket and req.leg in _REDUCE_ONLY:
            return f"invalid order: a {req.leg.value} order cannot carry a bracket"
        for leg, price in ((OrderLeg.TAKE_PROFIT, req.take_profit), (OrderLeg.STOP_LOSS, req.stop_loss)):
            if price is not None:
                child_id = ClientOrderIds.child(cid, _LEG_VALUE[leg])
                if child_id in self._used_client_ids:
                    return f"duplicate client order id {child_id!r} (bracket {leg.value} of {cid!r})"
        pos = self._position_qty(req.symbol)
        if req.leg in _REDUCE_ONLY and (pos == 0 or (pos > 0) == (req.side is Side.BUY)):
            return f"nothing to close: a {req.leg.value} order needs a {req.symbol} position to reduce"
        ref = self._reference_price(req)
        if bracket and ref is not None:
            sign = req.side.sign
            if req.stop_loss is not None and (req.stop_loss - ref) * sign >= 0:
                where = "below" if sign > 0 else "above"
                return f"invalid prices: stop loss {req.stop_loss} must be {where} the entry {ref:.4f} for a {req.side.value}"
            if req.take_profit is not None and (req.take_profit - ref) * sign <= 0:
                where = "above" if sign > 0 else "below"
                return f"invalid prices: take profit {req.take_profit} must be {where} the entry {ref:.4f} for a {req.side.value}"
        opening = self._opening_qty(req.side, req.qty, pos)
        if opening > 0:
            if ref is None:
                return f"no price yet for {req.symbol}: cannot check buying power for a market order"
            need = opening * ref
            available = self._current_buying_power()
            if need > available + _EPS:
                return f"insufficient buying power: order needs ${need:,.2f}, available ${available:,.2f}"
        return ""

    def _reject(self, req: OrderRequest, reason: str, now: int) -> Order:
        self._order_seq += 1
        self._touch_seq += 1
        w = _Working(
            id=f"{self._id_prefix}-{self._order_seq}",
            client_order_id=req.client_order_id if isinstance(req.client_order_id, str) else str(req.client_order_id),
            symbol=req.symbol, side=req.side, type=req.type,
            qty=req.qty if isinstance(req.qty, int) else 0,
            status=OrderStatus.REJECTED, leg=req.leg, created_ns=now, updated_ns=now,
            limit_price=req.limit_price, stop_price=req.stop_price, signal_id=req.signal_id,
            reason=reason, touch=self._touch_seq,
        )
        self._orders[w.id] = w
        self._done.append(w)
        # a refused id stays taken, as at a real broker: a retry must use a new attempt
        if is_valid_client_order_id(req.client_order_id):
            self._used_client_ids.add(req.client_order_id)
        self._emit("rejected", w, reason=reason)
        return w.snapshot()

    def _new_order(
        self,
        symbol: str,
        side: Side,
        qty: int,
        typ: OrderType,
        leg: OrderLeg,
        now: int,
        *,
        client_order_id: str,
        limit_price: Optional[float] = None,
        stop_price: Optional[float] = None,
        status: OrderStatus = OrderStatus.NEW,
        parent_id: Optional[str] = None,
        signal_id: Optional[str] = None,
    ) -> _Working:
        self._order_seq += 1
        # positionally, in _Working's field order (3 orders a bracket: cheaper than keywords)
        w = _Working(f"{self._id_prefix}-{self._order_seq}", client_order_id, symbol, side, typ, qty, status, leg,
                     now, limit_price, stop_price, parent_id, signal_id, armed_tick=self._tick)
        self._touch(w, now)
        self._orders[w.id] = w
        self._open[symbol][w.id] = w
        self._used_client_ids.add(client_order_id)
        return w

    def _fresh_id(self, symbol: str, tag: str) -> str:
        while True:
            cid = self._ids.next_exit(symbol, tag)
            if cid not in self._used_client_ids:
                return cid

    # ------------------------------------------------------------------ fills

    def _quiet_band(self, symbol: str, book: dict[str, _Working]) -> tuple[int, float, float]:
        """The open price range (lo, hi) in which a trade, or a bar's whole range,
        fills none of ``book``'s orders: above every buy limit and sell stop, below
        every sell limit and buy stop (``_trade_price``'s and ``_bar_price``'s tests);
        empty with a market order working. Every
        order of a book counts that is NEW, armed or not, pegged or not, which only
        narrows the range (a trade outside it takes the full check). Kept with the
        broker's touch count: every change to an order touches it, and a trade with
        orders working checks the count, so a band is never used stale."""
        lo, hi = -_INF, _INF
        for w in book.values():
            if w.status is not OrderStatus.NEW:
                continue
            if w.type is OrderType.MARKET:
                lo, hi = _INF, -_INF
                break
            px = w.limit_price if w.type is OrderType.LIMIT else w.stop_price
            if not (type(px) is float or type(px) is int):
                lo, hi = _INF, -_INF  # not a plain number: every trade takes the full check
                break
            if (w.side is Side.BUY) is (w.type is OrderType.LIMIT):  # buy limit, sell stop: fills at or below
                lo = max(lo, px)
            else:  # sell limit, buy stop: fills at or above
                hi = min(hi, px)
        q = self._quiet[symbol] = (self._touch_seq, lo, hi)
        return q

    def _trade_price(self, w: _Working, price: float) -> Optional[float]:
        """The fill price of ``w`` on a trade at ``price``, None if it does not fill."""
        buy = w.side is Side.BUY
        if w.type is OrderType.MARKET:
            return price * (1 + self._slip) if buy else price * (1 - self._slip)
        if w.type is OrderType.LIMIT:
            lim = w.limit_price
            return lim if (price <= lim if buy else price >= lim) else None
        stop = w.stop_price
        if price >= stop if buy else price <= stop:
            return price * (1 + self._slip) if buy else price * (1 - self._slip)
        return None

    def _bar_price(self, w: _Working, bar: Bar) -> Optional[tuple[float, bool]]:
        """(fill price, filled at the open) of ``w`` in ``bar``, None if it does not fill."""
        buy = w.side is Side.BUY
        slip = (1 + self._slip) if buy else (1 - self._slip)
        if w.type is OrderType.MARKET:
            return bar.open * slip, True
        if w.type is OrderType.LIMIT:
            lim = w.limit_price
            if buy:
                if bar.open <= lim:
                    return bar.open, True
                return (lim, False) if bar.low <= lim else None
            if bar.open >= lim:
                return bar.open, True
            return (lim, False) if bar.high >= lim else None
        stop = w.stop_price
        if buy:
            if bar.open >= stop:
                return bar.open * slip, True
            return (stop * slip, False) if bar.high >= stop else None
        if bar.open <= stop:
            return bar.open * slip, True
        return (stop * slip, False) if bar.low <= stop else None

    def _fill_from_bar(self, book: dict[str, _Working], bar: Bar) -> None:
        tick = self._tick
        NEW = OrderStatus.NEW
        eligible = [w for w in book.values() if w.status is NEW and w.armed_tick < tick
                    and not (self._pegs and self._peg_waiting(w))]
        if not eligible:
            return
        bar_price = self._bar_price
        hits = [bar_price(w, bar) for w in eligible]
        if not any(hits):
            return  # nothing touched (the common bar while a bracket works)
        prices = {w.id: hit for w, hit in zip(eligible, hits)}
        mid_ns = bar.ts_ns + NS_PER_MIN // 2  # an intrabar fill happened some time inside the minute
        for w, hit in zip(eligible, hits):
            if hit is None or w.status is not NEW:
                continue
            if w.leg is OrderLeg.TAKE_PROFIT and w.sibling and prices.get(w.sibling) is not None:
                continue  # both touched: the stop-loss fills (pessimistic)
            px, at_open = hit
            self._execute(w, px, bar.ts_ns if at_open else mid_ns)
            # an entry filled in this bar: the rest of the bar may already hit its stop
            for cid in w.children:
                child = self._orders[cid]
                if child.leg is OrderLeg.STOP_LOSS and child.status is NEW:
                    stop = child.stop_price
                    sell = child.side is Side.SELL
                    touched = bar.low <= stop if sell else bar.high >= stop
                    if touched:
                        gapped = px <= stop if sell else px >= stop  # entry already beyond the stop
                        base = px if gapped else stop
                        fill = base * (1 - self._slip) if sell else base * (1 + self._slip)
                        self._execute(child, fill, mid_ns)

    def _execute(self, w: _Working, price: float, ts_ns: int) -> None:
        book = self._books.get(w.symbol)
        pos = book.qty if book else 0
        qty = w.qty
        if w.leg in _REDUCE_ONLY:
            if pos == 0 or (pos > 0) == (w.side is Side.BUY):
                self._cancel(w, "position already closed", ts_ns)
                return
            qty = min(qty, abs(pos))
        commission = qty * self._cps
        self._apply_fill(w.symbol, w.side.sign * qty, price, commission, ts_ns)

        w.status = OrderStatus.FILLED
        w.qty = qty
        w.filled_qty = qty
        w.avg_fill_price = price
        self._touch(w, ts_ns)
        self._close_out(w)
        self._fill_seq += 1
        fill = Fill(
            id=f"{self._id_prefix}-fill-{self._fill_seq}", order_id=w.id, client_order_id=w.client_order_id,
            symbol=w.symbol, side=w.side, qty=qty, price=price, commission=commission,
            ts_ns=ts_ns, leg=w.leg,
        )
        self._emit("fill", w, fill=fill)

        for cid in w.children:  # bracket children start working for the filled size
            child = self._orders[cid]
            if child.status is OrderStatus.HELD:
                child.status = OrderStatus.NEW
                child.qty = qty
                child.armed_tick = self._tick
                self._touch(child, ts_ns)
                self._emit("new", child, reason="parent filled")
        if w.sibling:
            other = self._orders[w.sibling]
            if other.status.is_open:
                self._cancel(other, f"OCO: {w.leg.value} filled", ts_ns)
        self._fit_exits_to_position(w.symbol, ts_ns)

    def _apply_fill(self, symbol: str, signed_qty: int, price: float, commission: float, ts_ns: int) -> None:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book(opened_ns=ts_ns)
        pos = book.qty
        if pos == 0 or (pos > 0) == (signed_qty > 0):
            new = pos + signed_qty
            book.avg_price = (abs(pos) * book.avg_price + abs(signed_qty) * price) / abs(new)
            book.qty = new
        else:
            closing = min(abs(signed_qty), abs(pos))
            pnl = closing * (price - book.avg_price) * (1 if pos > 0 else -1)
            book.realized += pnl
            self._realized += pnl
            new = pos + signed_qty
            if new != 0 and (new > 0) != (pos > 0):  # flipped: the remainder opens anew
                book.avg_price = price
                book.opened_ns = ts_ns
                book.realized = 0.0
            book.qty = new
        self._cash -= signed_qty * price + commission
        self._commissions += commission
        if book.qty == 0:
            del self._books[symbol]

    def _fit_exits_to_position(self, symbol: str, ts_ns: int) -> None:
        """Reduce-only orders never exceed the position and never outlive it."""
        pos = self._position_qty(symbol)
        for w in list(self._open[symbol].values()):
            if w.leg not in _REDUCE_ONLY or w.status is OrderStatus.HELD:
                continue
            if pos == 0 or (pos > 0) == (w.side is Side.BUY):
                self._cancel(w, "position closed", ts_ns)
            elif w.qty > abs(pos):
                w.qty = abs(pos)
                self._touch(w, ts_ns)
                self._emit("replaced", w, reason=f"qty reduced to the position's {abs(pos)}")

    # ------------------------------------------------------------------ cancels, expiry, closing

    def _cancel(self, w: _Working, reason: str, ts_ns: int, status: OrderStatus = OrderStatus.CANCELED) -> None:
        w.status = status
        w.reason = reason
        self._touch(w, ts_ns)
        self._close_out(w)
        self._emit("expired" if status is OrderStatus.EXPIRED else "canceled", w, reason=reason)
        for cid in w.children:
            child = self._orders[cid]
            if child.status is OrderStatus.HELD:
                self._cancel(child, f"parent {status.value}", ts_ns)

    def _cancel_where(self, pred: Callable[[_Working], bool], reason: str) -> list[Order]:
        now = self._clock.now_ns()
        first = len(self._outbox)
        for book in self._open.values():
            for w in list(book.values()):
                if w.status.is_open and pred(w):
                    self._cancel(w, reason, now)
        # exactly the orders this call cancelled (held children included), in order
        return [e.order for e in self._outbox[first:] if e.kind == "canceled"]

    def _expire_due(self, now_ns: int) -> list[Order]:
        out = []
        for oid in sorted(self._timed):
            w = self._orders[oid]
            if not w.status.is_open:
                self._timed.discard(oid)
            elif w.status is OrderStatus.NEW and now_ns >= w.expires_ns:
                self._cancel(w, f"unfilled after {w.timeout_s:g}s", now_ns, status=OrderStatus.EXPIRED)
                out.append(w.snapshot())
        return out

    def _close_position(self, symbol: str, immediate: bool) -> Optional[Order]:
        book = self._books.get(symbol)
        if book is None or book.qty == 0:
            return None
        now = self._clock.now_ns()
        side = Side.SELL if book.qty > 0 else Side.BUY
        w = self._new_order(
            symbol, side, abs(book.qty), OrderType.MARKET, OrderLeg.EXIT, now,
            client_order_id=self._fresh_id(symbol, "close"),
        )
        self._emit("new", w)
        if immediate:
            ref = self._last.get(symbol)
            if ref is None:
                ref = book.avg_price
            px = ref * (1 + self._slip) if side is Side.BUY else ref * (1 - self._slip)
            self._execute(w, px, now)
        return w.snapshot()

    def _close_out(self, w: _Working) -> None:
        """``w`` finished (filled, cancelled, expired): out of the working books."""
        if self._open[w.symbol].pop(w.id, None) is not None:
            self._done.append(w)
        self._timed.discard(w.id)
        self._pegs.pop(w.id, None)

    # ------------------------------------------------------------------ pegged entries

    def peg_progress(self, order_id: str) -> Optional[dict]:
        st = self._pegs.get(order_id)
        w = self._orders.get(order_id)
        return None if st is None or w is None else progress(st, w.client_order_id, order_id)

    def carry_pegs(self, saved) -> None:
        self._saved_pegs = {d["order_id"]: d for d in saved if isinstance(d, dict) and d.get("order_id")}

    def _resume_peg(self, w: _Working, now: int) -> None:
        """A restored pegged entry: its peg again (same window, re-pegs used, working
        price; out of the market while it was waiting) when time is left, else cancelled."""
        data = self._saved_pegs.pop(w.id, None)
        try:
            st = resumed(data) if data is not None else None
        except ValueError as exc:
            self._cancel(w, f"{PEG_NOT_RESTORED} ({exc})", now)
            return
        if st is None or st.done:
            self._cancel(w, PEG_NOT_RESTORED, now)
            return
        left = window_left_s(st, now)
        if left <= 0:
            self._cancel(w, PEG_WINDOW_OVER.format(ago=-left), now)
            return
        if st.price is not None:
            w.limit_price = st.price
        self._pegs[w.id] = st
        w.reason = PEG_RESUMED.format(left=left, reprices=st.reprices)
        self._touch(w, now)
        self._emit("replaced", w, reason=w.reason)

    def _peg_waiting(self, w: _Working) -> bool:
        """A pegged entry out of the market (not placed yet, or pulled: spread too wide)."""
        st = self._pegs.get(w.id)
        return st is not None and st.price is None

    def _pegs_on_quote(self, quote: Quote) -> None:
        for oid, st in list(self._pegs.items()):
            w = self._orders[oid]
            if w.symbol == quote.symbol and w.status is OrderStatus.NEW:
                self._apply_peg(w, st.on_quote(quote.bid, quote.ask, quote.ts_ns), quote.ts_ns)

    def _pegs_due(self, now_ns: int) -> None:
        for oid, st in list(self._pegs.items()):
            w = self._orders[oid]
            if w.status is OrderStatus.NEW:
                self._apply_peg(w, st.due(now_ns), now_ns)

    def _apply_peg(self, w: _Working, action: Optional[PegAction], ts_ns: int) -> None:
        """Carry out what the peg decided; each step is a "replaced" event whose reason
        starts with "peg" (the journal's line), a cancel is a "canceled" one."""
        if action is None:
            return
        if action.kind == "cancel":
            self._cancel(w, action.reason, ts_ns)
            return
        if action.kind == "market":
            self._pegs.pop(w.id, None)
            w.type = OrderType.MARKET
            w.limit_price = None
        elif action.price is not None:
            w.limit_price = action.price
        w.armed_tick = self._tick  # the new price works from the next trade
        w.reason = action.reason
        self._touch(w, ts_ns)
        self._emit("replaced", w, reason=action.reason)

    # ------------------------------------------------------------------ helpers

    def _position_qty(self, symbol: str) -> int:
        b = self._books.get(symbol)
        return b.qty if b else 0

    @staticmethod
    def _opening_qty(side: Side, qty: int, pos: int) -> int:
        """The part of an order that adds exposure (a reduction needs no buying power)."""
        if pos == 0 or (pos > 0) == (side is Side.BUY):
            return qty
        return max(0, qty - abs(pos))

    def _market_ref(self, symbol: str) -> Optional[float]:
        last = self._last.get(symbol)
        if last is not None:
            return last
        q = self._quotes.get(symbol)
        return (q.bid + q.ask) / 2 if q is not None else None

    def _reference_price(self, req: OrderRequest) -> Optional[float]:
        if req.type is OrderType.LIMIT:
            return req.limit_price
        if req.type is OrderType.STOP:
            return req.stop_price
        return self._market_ref(req.symbol)

    def _reserved_notional(self) -> float:
        total = 0.0
        for symbol, book in self._open.items():
            if not book:
                continue
            pos = self._position_qty(symbol)
            for w in book.values():
                if w.leg is OrderLeg.ENTRY and w.status is OrderStatus.NEW:
                    ref = w.limit_price if w.type is OrderType.LIMIT else w.stop_price if w.type is OrderType.STOP else self._market_ref(symbol)
                    total += self._opening_qty(w.side, w.qty, pos) * (ref or 0.0)
        return total

    def _touch(self, w: _Working, ts_ns: int) -> None:
        self._touch_seq += 1
        w.touch = self._touch_seq
        w.updated_ns = ts_ns

    def _emit(self, kind: str, w: _Working, fill: Optional[Fill] = None, reason: str = "") -> None:
        self._outbox.append(BrokerEvent(kind, w.snapshot(), fill, reason or w.reason))

    def _flush(self) -> None:
        """Deliver queued events once the operation's state change is complete.
        Every event is delivered even if a handler raises; the first error is re-raised."""
        if not self._outbox:
            return
        events, self._outbox = self._outbox, []
        if self._handler is None:
            return
        error: Optional[BaseException] = None
        for ev in events:
            try:
                self._handler(ev)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after all events
                if error is None:
                    error = exc
        if error is not None:
            raise error
