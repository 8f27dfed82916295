"""The Alpaca broker: paper or live trading through alpaca-py.

Orders go out through alpaca-py's TradingClient (synchronous ``requests``: every
call runs in an executor, never on the loop); order updates come back on
alpaca-py's TradingStream (``trade_updates``), run as a task inside our loop.

What this adapter guarantees on top of the raw clients:

- Never a blind resend. A submit that times out or loses its connection may
  still have reached Alpaca, so the order is looked up by our client order id
  first; only when Alpaca has never seen it is it sent again, with the SAME id
  (Alpaca refuses a reused id, so a doubled order is impossible). A genuinely
  new attempt is the caller's, with a new id; an id we have seen is refused.
- An ambiguous submit is UNKNOWN, not rejected. When the POST got no answer and
  the look-ups got none either (and the order stream has not reported the
  order meanwhile), submit returns a placeholder ``unknown:<client id>`` with
  status UNKNOWN: open, so it counts as exposure. The next look-up (retried in
  the background with backoff), a stream update or a reconcile resolves it: the
  placeholder closes ("resolved", replaced by the real order, whose own events
  follow) or, when a look-up says Alpaca has no such order, it ends REJECTED.
  It is never resent after the submit returned.
- Updates apply once. Alpaca may repeat or reorder trade updates (and the
  REST answer races the stream). Per order we keep the furthest status reached
  and the filled quantity: a fill counts only for quantity not yet counted, a
  status only when it moves the order forward. Anything else changes nothing.
- Rejections are visible: 403/422 become a REJECTED Order whose reason is
  Alpaca's message ("insufficient buying power"), plus a BrokerEvent.
- 429s wait (Retry-After when given) without blocking the loop.
- The broker is the truth: ``reconcile()`` replaces our positions and open
  orders with Alpaca's and returns each difference as a readable line; it runs
  on start and after every stream reconnect. It also asks for the orders closed
  since the session start (``restore``) or this run's start, and emits every
  fill not yet counted (by the stream, an earlier reconcile or, after a restart,
  the store) exactly once, oldest first, so fills missed while the stream was
  down or the engine was stopped reach the handler like live ones.
- Brackets settle without waiting for an update that may never come. Real
  Alpaca keeps the stop leg ``held`` after the entry fills and cancels it,
  when the take-profit fills, WITHOUT a trade update (alpaca-py issue #198);
  so after any fill of a bracket's parent or leg the parent is looked up by id
  (legs nested) and what the siblings really are (canceled, replaced, filled)
  is recorded once, retried briefly while a sibling of a filled exit still
  shows open. Open orders are listed both nested and flat, and a position
  whose stop is not found that way has its bracket looked up by symbol (a held
  leg is missing from some open listings, alpaca-trade-api-js issue #87).
- Exit management never trips on a phantom: ``replace_stop`` moves the newest
  live stop of an open position, and on a refusal looks the order up and tries
  the next; ``close`` cancels whatever Alpaca says still holds the shares
  (``held_for_orders``), including legs we never knew, before closing.
- A fill's price is derived from the change in ``filled_qty`` and
  ``filled_avg_price`` (right whether the update's ``price`` is the average or
  the execution's own price, see ``_fill_price``).
- Keys never reach logs or error text: every message goes through ``redact``.
"""
from __future__ import annotations

import asyncio
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Optional, Sequence

from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import ClosePositionResponse, Order as AlpacaOrder, TradeUpdate
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from alpaca.trading.stream import TradingStream

from ..clock import Clock, WallClock
from .alpaca_peg import UNKNOWN_PREFIX, AlpacaPegs, is_waiting
from .base import Broker
from ..stop_cover import uncovered
from ..live.backoff import Backoff
from ..live.reconcile import describe_fill, describe_order, diff_open_orders, diff_positions
from ..live.rest import AlpacaRestError, call_rest, harden_client
from ..live.secrets import install_log_redaction, redact, register_secret
from ..live.streams import FrameGuard, decodes_as_json_object, wait_unless_stopped
from ..model import (
    Account,
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
)

log = logging.getLogger(__name__)

# Alpaca order status -> ours
_STATUS = {
    "pending_new": OrderStatus.NEW,
    "pending_review": OrderStatus.NEW,
    "new": OrderStatus.NEW,
    "accepted": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "stopped": OrderStatus.ACCEPTED,
    "pending_cancel": OrderStatus.ACCEPTED,
    "pending_replace": OrderStatus.ACCEPTED,
    "held": OrderStatus.HELD,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "done_for_day": OrderStatus.EXPIRED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.REJECTED,
}
# how far along its life an order is; a status that does not move this forward is stale
_TERMINAL_RANK = 6
_RANK = {
    "pending_new": 0, "pending_review": 0, "held": 1,
    "new": 2, "accepted": 2, "accepted_for_bidding": 2, "calculated": 2, "stopped": 2,
    "pending_cancel": 3, "pending_replace": 3,
    "partially_filled": 4,
    "filled": _TERMINAL_RANK, "canceled": _TERMINAL_RANK, "replaced": _TERMINAL_RANK,
    "done_for_day": _TERMINAL_RANK, "expired": _TERMINAL_RANK, "rejected": _TERMINAL_RANK,
    "suspended": _TERMINAL_RANK,
}
# status reached -> BrokerEvent kind (statuses not listed produce no event)
_EVENT_KIND = {
    "new": "new", "accepted": "new", "held": "new", "pending_new": "new",
    "canceled": "canceled", "replaced": "replaced", "expired": "expired", "done_for_day": "expired",
    "rejected": "rejected", "suspended": "rejected",
}
# our open statuses back in Alpaca's words (a restart's restored orders)
_ALPACA_OPEN = {OrderStatus.NEW: "new", OrderStatus.ACCEPTED: "accepted",
                OrderStatus.PARTIALLY_FILLED: "partially_filled", OrderStatus.HELD: "held"}
_PLACEHOLDER = UNKNOWN_PREFIX  # id prefix of an UNKNOWN submit's placeholder order
_REPLACED_BY = "replaced by "  # the reason of an order Alpaca replaced, followed by the new order's id


def _local(order_id: str) -> bool:
    """An order only we hold (an UNKNOWN submit's placeholder, a peg waiting for the
    spread): never looked up at Alpaca by its id."""
    return order_id.startswith(_PLACEHOLDER) or is_waiting(order_id)
_TYPE = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP,
         "stop_limit": OrderType.STOP, "trailing_stop": OrderType.STOP}


_DUPLICATE_ID_CODE = 40010001  # Alpaca's code for a reused client_order_id (also for other invalid requests)
_SETTLE_DELAYS_S = (0.0, 0.25, 1.0, 3.0)  # look-ups of a bracket's siblings after a fill


def _duplicate_client_id(err: AlpacaRestError) -> bool:
    """Alpaca refused the submit, possibly because it already holds our client id.
    Known by its wording ("client_order_id must be unique", "duplicate
    client_order_id") or by its code; the code also covers other invalid
    requests, so the caller looks the id up before adopting anything."""
    return err.status == 422 and ("client_order_id" in err.message or err.code == _DUPLICATE_ID_CODE)


def _ns(dt: Optional[datetime]) -> int:
    if dt is None:
        return 0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _dt(ns: int) -> datetime:
    """UTC datetime of ``ns`` (microseconds, floored: what alpaca-py sends)."""
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ns // 1_000)


def _f(value: Any) -> Optional[float]:
    if value is None or value == "":
        return None
    return float(value)


def _enum_value(value: Any) -> str:
    return getattr(value, "value", value) or ""


def _finite_quote(q: Quote) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in (q.bid, q.ask))


def _tick_round(price: float) -> float:
    """Alpaca accepts 2 decimals at $1 and above, 4 below."""
    return round(price, 2 if price >= 1.0 else 4)


@dataclass
class _Track:
    """What we have already applied for one order: the de-duplication state."""

    status: str = ""
    rank: int = -1
    filled: float = 0.0
    avg: float = 0.0
    ts_ns: int = 0


@dataclass
class _Pos:
    qty: int = 0
    avg: float = 0.0
    last: float = 0.0
    realized: float = 0.0
    opened_ns: int = 0


class _TradeUpdatesStream(TradingStream):
    """alpaca-py's TradingStream with three hooks: malformed frames are counted
    and skipped, each (re)connection is reported (a reconnect triggers a
    reconcile), and the reconnect wait uses our backoff and reports it."""

    def __init__(self, owner: "AlpacaBroker", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner
        self._connected_before = False

    async def _connect(self) -> None:
        await super()._connect()
        self._ws = FrameGuard(self._ws, decodes_as_json_object, self._owner._on_malformed_frame)

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self._owner._on_stream_connected(reconnect=self._connected_before)
        self._connected_before = True

    async def _wait_before_reconnect(self, retries: int) -> None:
        delay = self._owner._stream_backoff.next_delay()
        self._owner._on_stream_down(delay)
        await wait_unless_stopped(self._stop_stream_event, delay)


class AlpacaBroker(Broker):
    """Broker protocol over Alpaca (paper by default). See the module doc."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        paper: bool = True,
        url_override: Optional[str] = None,
        stream_url_override: Optional[str] = None,
        clock: Optional[Clock] = None,
        request_timeout_s: float = 10.0,
        submit_attempts: int = 3,
        rate_limit_retries: int = 5,
        rate_limit_backoff: Optional[Backoff] = None,
        stream_backoff: Optional[Backoff] = None,
        close_retry_s: float = 0.2,
        executor_workers: int = 4,
        unknown_lookup_backoff: Optional[Backoff] = None,
        orders_page_size: int = 500,
        max_order_pages: int = 20,
        light_reconcile_s: Optional[float] = 30.0,
    ) -> None:
        if not api_key or not secret_key:
            raise ValueError("AlpacaBroker needs both an API key id and a secret key (APCA_API_KEY_ID, APCA_API_SECRET_KEY)")
        if submit_attempts < 1:
            raise ValueError(f"submit_attempts must be >= 1, got {submit_attempts!r}")
        if not 1 <= orders_page_size <= 500:
            raise ValueError(f"orders_page_size must be within [1, 500] (Alpaca's limit), got {orders_page_size!r}")
        register_secret(api_key)
        register_secret(secret_key)
        install_log_redaction()
        self.kind = "PAPER" if paper else "LIVE"
        self._clock = clock or WallClock()
        self._client = TradingClient(api_key, secret_key, paper=paper, url_override=url_override)
        harden_client(self._client, request_timeout_s)
        self._stream = _TradeUpdatesStream(
            self, api_key, secret_key, paper=paper, raw_data=True, url_override=stream_url_override
        )
        self._stream.subscribe_trade_updates(self._on_trade_update)  # before it runs: never blocks
        self._executor = ThreadPoolExecutor(max_workers=executor_workers, thread_name_prefix="alpaca-rest")
        self._submit_attempts = submit_attempts
        self._rate_limit_retries = rate_limit_retries
        self._rate_backoff = rate_limit_backoff or Backoff(initial_s=0.5, max_s=30.0)
        self._stream_backoff = stream_backoff or Backoff(initial_s=1.0, max_s=30.0)
        self._close_retry_s = close_retry_s
        self._unknown_backoff = unknown_lookup_backoff or Backoff(initial_s=1.0, max_s=30.0)
        self._page_size = orders_page_size
        self._max_pages = max(1, max_order_pages)
        if light_reconcile_s is not None and light_reconcile_s <= 0:
            raise ValueError(f"light_reconcile_s must be > 0 seconds (or None), got {light_reconcile_s!r}")
        self._light_every_s = light_reconcile_s
        self._unknown: dict[str, str] = {}  # client id of an UNKNOWN submit -> its placeholder's order id
        self._resolving: set[str] = set()  # client ids with a background look-up running
        self._settling: set[str] = set()  # bracket parents whose legs are being looked up
        self._since_ns: Optional[int] = None  # closed orders submitted after this are asked for
        self._handler: Optional[Callable[[BrokerEvent], None]] = None
        self._reconcile_handler: Optional[Callable[[list[str]], None]] = None
        self._protect_handler: Optional[Callable[[str], Awaitable[None]]] = None
        self._orders: dict[str, Order] = {}
        self._tracks: dict[str, _Track] = {}
        self._by_client: dict[str, str] = {}
        self._used_client_ids: set[str] = set()
        self._meta: dict[str, tuple[Optional[str], OrderLeg]] = {}  # client id -> (signal id, leg)
        self._roles: dict[str, tuple[OrderLeg, Optional[str]]] = {}  # order id -> (leg, parent id)
        self._positions: dict[str, _Pos] = {}
        self._account = Account(equity=0.0, cash=0.0, buying_power=0.0, start_of_day_equity=0.0)
        self._realized = 0.0
        self._stream_task: Optional[asyncio.Task] = None
        self._tasks: set[asyncio.Task] = set()
        self.stream_connected = False
        self._stopping = False
        self.stream_reconnect_in_s: Optional[float] = None
        self.last_differences: list[str] = []
        self._pegs = AlpacaPegs(self)  # pegged entries (alpaca_peg.py): the feed's quotes, replace, fallback
        self.counters: dict[str, int] = {
            "malformed_frames": 0, "malformed_updates": 0, "stale_updates": 0, "rate_limited": 0,
            "submit_lookups": 0, "submit_resends": 0, "reconciles": 0, "stream_reconnects": 0,
            "submit_unknown": 0, "missed_fills": 0,
        }

    # ------------------------------------------------------------------ lifecycle

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None:
        self._handler = handler

    def set_reconcile_handler(self, handler: Callable[[list[str]], None]) -> None:
        """Called with the differences of every reconcile that runs by itself
        (after a stream reconnect), so the engine can journal them."""
        self._reconcile_handler = handler

    def set_protect_handler(self, handler: Callable[[str], Awaitable[None]]) -> None:
        self._protect_handler = handler

    async def protect(self, symbol: str) -> None:
        """Ask the engine to give ``symbol``'s position stops for the shares none covers
        (a pegged entry cancelled part-filled, alpaca_peg.py). Never raises."""
        if self._protect_handler is None:
            return
        try:
            await self._protect_handler(symbol)
        except Exception as exc:  # the router's protect journals its own failures
            log.warning("protecting %s failed: %s", symbol, redact(exc))

    async def start(self) -> list[str]:
        """Load the broker's state (reconcile) and start the order-update stream.
        Returns the differences found (empty on a clean start)."""
        if self._since_ns is None:  # no restore: nothing before this run was seen by us
            self._since_ns = self._clock.now_ns()
        differences = await self.reconcile()
        await self._pegs.resume()  # restored pegged entries: carried on within their window, or cancelled
        if self._stream_task is None:
            self._stream_task = asyncio.create_task(self._stream._run_forever(), name="alpaca-trade-updates")
            if self._light_every_s is not None:
                self._spawn(self._light_reconcile_forever())
        return differences

    @property
    def settling(self) -> bool:
        """True while a bracket's siblings are being looked up after a fill."""
        return bool(self._settling)

    async def stop(self) -> None:
        self._stopping = True
        if self._stream_task is not None:
            await self._stream.stop_ws()
            try:
                await self._stream.close()  # wakes its recv at once instead of its 5 s poll
            except Exception:
                pass
            try:
                await asyncio.wait_for(self._stream_task, 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self._stream_task.cancel()
            self._stream_task = None
        for task in list(self._tasks):
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ REST plumbing

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await call_rest(
            fn, *args, executor=self._executor, rate_limit_retries=self._rate_limit_retries,
            backoff=self._rate_backoff, on_rate_limited=self._count_rate_limited,
        )

    def _count_rate_limited(self, wait_s: float) -> None:
        self.counters["rate_limited"] += 1

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _deliver(self, event: BrokerEvent, sink: Optional[list[BrokerEvent]]) -> None:
        """To the handler now, or into ``sink`` (a reconcile emits in time order at its end)."""
        if sink is not None:
            sink.append(event)
        else:
            self._emit(event)

    def _emit(self, event: BrokerEvent) -> None:
        if self._handler is None:
            return
        try:
            self._handler(event)
        except Exception as exc:  # a bad handler must not kill the stream
            log.error("broker event handler failed: %s", redact(exc))

    # ------------------------------------------------------------------ orders in

    def _build_request(self, req: OrderRequest) -> Any:
        bracket = req.take_profit is not None and req.stop_loss is not None
        common: dict[str, Any] = dict(
            symbol=req.symbol, qty=req.qty, side=OrderSide(req.side.value), time_in_force=TimeInForce.DAY,
            client_order_id=req.client_order_id,
        )
        if bracket:
            common.update(
                order_class=OrderClass.BRACKET,
                take_profit=TakeProfitRequest(limit_price=_tick_round(req.take_profit)),
                stop_loss=StopLossRequest(stop_price=_tick_round(req.stop_loss)),
            )
        if req.type is OrderType.MARKET:
            return MarketOrderRequest(**common)
        if req.type is OrderType.LIMIT:
            return LimitOrderRequest(limit_price=_tick_round(req.limit_price), **common)
        return StopOrderRequest(stop_price=_tick_round(req.stop_price), **common)

    @staticmethod
    def _problem(req: OrderRequest) -> Optional[str]:
        if not req.client_order_id:
            return "client_order_id is empty"
        if not req.symbol:
            return "symbol is empty"
        if req.qty <= 0:
            return f"qty must be a positive whole number of shares, got {req.qty!r}"
        if (req.take_profit is None) != (req.stop_loss is None):
            return "a bracket needs both take_profit and stop_loss"
        for name in ("limit_price", "stop_price", "take_profit", "stop_loss"):
            value = getattr(req, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                return f"{name} must be a positive price, got {value!r}"
        if req.peg is not None and (req.type is not OrderType.LIMIT or req.leg is not OrderLeg.ENTRY):
            return "invalid order: only a limit entry can be pegged"
        if req.type is OrderType.LIMIT and req.limit_price is None:
            return "a limit order needs limit_price"
        if req.type is OrderType.STOP and req.stop_price is None:
            return "a stop order needs stop_price"
        return None

    def _reject(self, req: OrderRequest, reason: str) -> Order:
        reason = redact(reason)
        now = self._clock.now_ns()
        order = Order(
            id=f"rejected:{req.client_order_id}", client_order_id=req.client_order_id, symbol=req.symbol,
            side=req.side, type=req.type, qty=req.qty, status=OrderStatus.REJECTED,
            limit_price=req.limit_price, stop_price=req.stop_price, leg=req.leg, signal_id=req.signal_id,
            created_ns=now, updated_ns=now, reason=reason,
        )
        self._orders.setdefault(order.id, order)
        log.warning("order %s %s %s x%d rejected: %s", req.client_order_id, req.symbol, req.side.value, req.qty, reason)
        self._emit(BrokerEvent("rejected", order, reason=reason))
        return order

    async def _lookup_client_id(self, client_order_id: str) -> tuple[Optional[AlpacaOrder], bool]:
        """(order, certain): the order Alpaca holds under this client id, or None.
        ``certain`` is False when the lookup itself got no answer."""
        self.counters["submit_lookups"] += 1
        for _ in range(3):
            try:
                return await self._call(self._client.get_order_by_client_id, client_order_id), True
            except AlpacaRestError as err:
                if err.status == 404:
                    return None, True
                if not err.no_answer:
                    return None, False
                await asyncio.sleep(self._rate_backoff.step(0))
        return None, False

    async def submit(self, request: OrderRequest) -> Order:
        problem = self._problem(request)
        if problem is None and request.client_order_id in self._used_client_ids:
            problem = f"client order id {request.client_order_id} was already used; a new attempt needs a new id"
        if problem is not None:
            return self._reject(request, problem)
        self._used_client_ids.add(request.client_order_id)
        self._meta[request.client_order_id] = (request.signal_id, request.leg)
        if request.peg is not None:  # placed and followed by engine/brokers/alpaca_peg.py
            return await self._pegs.submit(request)
        return await self._send(request)

    async def _send(self, request: OrderRequest) -> Order:
        """One order to Alpaca under its client id (already marked used): never a blind
        resend, an ambiguous outcome UNKNOWN, a refusal REJECTED with Alpaca's reason."""
        self._used_client_ids.add(request.client_order_id)
        self._meta.setdefault(request.client_order_id, (request.signal_id, request.leg))
        try:
            alpaca_request = self._build_request(request)
        except ValueError as exc:
            return self._reject(request, f"invalid order: {exc}")
        coid = request.client_order_id
        last_error = ""
        attempt = 0
        for attempt in range(self._submit_attempts):
            if attempt:
                self.counters["submit_resends"] += 1
            try:
                raw = await self._call(self._client.submit_order, alpaca_request)
                return self._merge(raw, emit=False)
            except AlpacaRestError as err:
                last_error = err.message
                if not err.no_answer:
                    if _duplicate_client_id(err):
                        # an earlier attempt of ours did reach Alpaca after all
                        known = self.order_by_client_id(coid)
                        if known is not None:
                            return known
                        found, certain = await self._lookup_client_id(coid)
                        if found is not None:
                            return self._merge(found, emit=False)
                        if not certain:
                            return self._hold_unknown(request, f"possibly live at Alpaca: it holds client id"
                                                      f" {coid} ({err.message}) but the look-ups got no answer")
                    return self._reject(request, err.message)
            # no answer: did it reach Alpaca? Look before sending anything again.
            known = self.order_by_client_id(coid)  # the order stream may have told us meanwhile
            if known is not None:
                return known
            found, certain = await self._lookup_client_id(coid)
            if found is not None:
                return self._merge(found, emit=False)
            known = self.order_by_client_id(coid)
            if known is not None:
                return known
            if not certain:
                return self._hold_unknown(
                    request, f"possibly live at Alpaca, not resent: no answer to the submit ({last_error})"
                    f" nor to the look-ups after {attempt + 1} attempt(s)")
            # Alpaca has never seen this id: sending it again (same id) cannot double it
        return self._reject(
            request, f"no answer from Alpaca after {attempt + 1} attempt(s) ({last_error}); it has no order"
            f" with client id {coid}, so none was placed")

    # ------------------------------------------------------------------ an ambiguous submit

    def _hold_unknown(self, req: OrderRequest, reason: str) -> Order:
        """The submit's outcome is unknown: a placeholder that counts as open until
        a look-up, the order stream or a reconcile says what happened."""
        reason = redact(reason)
        now = self._clock.now_ns()
        order = Order(
            id=f"{_PLACEHOLDER}{req.client_order_id}", client_order_id=req.client_order_id, symbol=req.symbol,
            side=req.side, type=req.type, qty=req.qty, status=OrderStatus.UNKNOWN,
            limit_price=req.limit_price if req.type is OrderType.LIMIT else None,
            stop_price=req.stop_price if req.type is OrderType.STOP else None,
            leg=req.leg, signal_id=req.signal_id, created_ns=now, updated_ns=now, reason=reason,
        )
        self._orders[order.id] = order
        self._unknown[req.client_order_id] = order.id
        self.counters["submit_unknown"] += 1
        log.warning("order %s %s %s x%d outcome unknown: %s", req.client_order_id, req.symbol, req.side.value,
                    req.qty, reason)
        self._keep_resolving(req.client_order_id)
        return order

    def _keep_resolving(self, client_order_id: str) -> None:
        if client_order_id not in self._resolving:
            self._resolving.add(client_order_id)
            self._spawn(self._resolve_unknown(client_order_id))

    async def _resolve_unknown(self, client_order_id: str) -> None:
        """Look the UNKNOWN order up again, with backoff, until something says what it is."""
        attempt = 0
        try:
            while client_order_id in self._unknown and not self._stopping:
                await asyncio.sleep(self._unknown_backoff.step(attempt))
                attempt += 1
                if client_order_id in self._unknown:
                    await self._look_up_unknown(client_order_id)
        finally:
            self._resolving.discard(client_order_id)

    async def _look_up_unknown(self, client_order_id: str) -> bool:
        """One look-up of an UNKNOWN order; True once it is resolved."""
        found, certain = await self._lookup_client_id(client_order_id)
        return self._settle_unknown(client_order_id, found, certain)

    def _settle_unknown(self, client_order_id: str, found: Optional[AlpacaOrder], certain: bool,
                        sink: Optional[list[BrokerEvent]] = None) -> bool:
        if client_order_id not in self._unknown:
            return True  # the stream or a reconcile resolved it meanwhile
        if found is not None:  # closes the placeholder; a reconcile (sink) moves positions itself
            self._merge(found, emit=True, sink=sink, force=sink is not None, apply_position=sink is None)
            return True
        if certain:
            self._close_placeholder(
                self._unknown.pop(client_order_id), OrderStatus.REJECTED,
                f"Alpaca has no order with client id {client_order_id}: the submit never reached it (not resent)",
                "rejected", sink)
            return True
        return False

    def _close_placeholder(self, placeholder_id: str, status: OrderStatus, reason: str, kind: str,
                           sink: Optional[list[BrokerEvent]]) -> None:
        placeholder = self._orders.get(placeholder_id)
        if placeholder is None:
            return
        closed = replace(placeholder, status=status, reason=redact(reason),
                         updated_ns=max(placeholder.updated_ns, self._clock.now_ns()))
        if kind == "resolved":
            del self._orders[placeholder_id]  # the real order takes its place
        else:
            self._orders[placeholder_id] = closed
        log.info("order %s: %s", placeholder.client_order_id, closed.reason)
        self._deliver(BrokerEvent(kind, closed, reason=closed.reason), sink)

    def _placeholder_client_id(self, order_id: str) -> Optional[str]:
        return next((c for c, pid in self._unknown.items() if pid == order_id), None)

    async def cancel(self, order_id: str) -> Optional[Order]:
        stopped = self._pegs.stop_order(order_id)  # its peg places nothing more
        if stopped is not None or is_waiting(order_id):
            return stopped or self._orders.get(order_id)
        return await self._cancel(order_id)

    async def _cancel(self, order_id: str) -> Optional[Order]:
        """Ask Alpaca to cancel one order (an UNKNOWN submit is looked up first)."""
        coid = self._placeholder_client_id(order_id)
        if coid is not None:
            # an UNKNOWN submit: find out what it is before anything can be canceled
            if not await self._look_up_unknown(coid):
                log.warning("cancel %s: its submit's outcome is still unknown (look-ups fail); not canceled", coid)
                return self._orders.get(order_id)
            real = self.order_by_client_id(coid)
            if real is None or not real.status.is_open:
                return real or self._orders.get(order_id)
            order_id = real.id
        try:
            await self._call(self._client.cancel_order_by_id, order_id)
        except AlpacaRestError as err:
            log.warning("cancel %s failed: %s", order_id, err.message)
            if err.status in (404, 422):
                try:
                    self._merge(await self._call(self._client.get_order_by_id, order_id), emit=True)
                except AlpacaRestError:
                    pass
                return self._orders.get(order_id)
            raise
        return self._orders.get(order_id)

    async def cancel_all(self) -> list[Order]:
        """Ask Alpaca to cancel every open order. Returns the orders it accepted
        to cancel; their CANCELED status arrives as trade updates."""
        out = self._pegs.stop(why="cancel all")  # before Alpaca's: no peg re-places anything after it
        responses = await self._call(self._client.cancel_orders)
        for response in responses:
            oid = str(response.id)
            if response.status >= 300:
                log.warning("cancel of %s refused (HTTP %s)", oid, response.status)
            order = self._orders.get(oid)
            if order is not None:
                out.append(order)
        return out

    async def close_all(self) -> list[Order]:
        """Cancel every open order and close every position at market, in one
        Alpaca call (DELETE /v2/positions?cancel_orders=true)."""
        out: list[Order] = self._pegs.stop(why="flatten all")
        responses: list[ClosePositionResponse] = await self._call(self._client.close_all_positions, True)
        for response in responses:
            body = response.body
            if isinstance(body, AlpacaOrder):
                self._roles[str(body.id)] = (OrderLeg.EXIT, None)
                out.append(self._merge(body, emit=True))
            else:
                symbol = response.symbol or getattr(body, "symbol", "") or "?"
                out.append(self._reject(
                    OrderRequest(client_order_id=f"close:{symbol}", symbol=symbol, side=Side.SELL, qty=0,
                                 leg=OrderLeg.EXIT),
                    f"close {symbol} failed: {getattr(body, 'message', body)}",
                ))
        return out

    async def close(self, symbol: str) -> list[Order]:
        """Cancel the symbol's open orders, then close its position at market.
        Alpaca refuses the close while shares are still held for orders
        (``held_for_orders``): then it is asked which orders of the symbol are
        still open (legs we never knew included, e.g. after a restart), those
        are canceled, and the close is retried briefly."""
        out: list[Order] = self._pegs.stop(symbol, why=f"close {symbol}")
        asked: set[str] = set()
        for order in [o for o in self._orders.values() if o.symbol == symbol and o.status.is_open]:
            asked.add(order.id)
            canceled = await self.cancel(order.id)
            if canceled is not None:
                out.append(canceled)
        last = ""
        for attempt in range(10):
            try:
                raw = await self._call(self._client.close_position, symbol)
            except AlpacaRestError as err:
                if err.status == 404:
                    return out  # no position
                if err.status == 403 and ("held" in err.message or "insufficient qty" in err.message):
                    last = err.message
                    for order in await self._orders_holding(symbol):
                        if order.id not in asked:
                            asked.add(order.id)
                            canceled = await self.cancel(order.id)
                            if canceled is not None:
                                out.append(canceled)
                    await asyncio.sleep(self._close_retry_s)
                    continue
                raise
            self._roles[str(raw.id)] = (OrderLeg.EXIT, None)
            out.append(self._merge(raw, emit=True))
            return out
        raise AlpacaRestError(f"close {symbol}: shares still held for orders after cancel ({last})", status=403)

    async def check_orders(self, symbol: str) -> list[str]:
        """The symbol's orders as Alpaca has them now (merged, each change
        emitted once), and a line if its position is left without a stop."""
        await self._orders_holding(symbol)
        return [line for line in self._unprotected() if line.startswith(f"position {symbol} ")]

    async def _orders_holding(self, symbol: str) -> list[Order]:
        """The symbol's orders open at Alpaca, as Alpaca lists them now (flat and
        nested) plus the legs of its brackets found by symbol; each is merged. An
        order we believe open that no listing shows is looked up by id (it may have
        been canceled without a trade update)."""
        try:
            views = await self._open_views(symbol)
            views += await self._bracket_views(symbol)
        except AlpacaRestError as err:
            log.warning("orders of %s could not be listed: %s", symbol, err.message)
            return []
        listed = {str(v.id) for ao in views for v in (ao, *(ao.legs or ()))}
        for ao in views:
            self._merge(ao, emit=True, force=True)
        for oid in [o.id for o in self._orders.values() if o.symbol == symbol and o.status.is_open
                    and o.id not in listed and not _local(o.id)][:20]:
            await self._look_up(oid)
        return [o for o in self._orders.values() if o.symbol == symbol and o.status.is_open
                and not _local(o.id)]

    async def _open_views(self, symbol: Optional[str] = None) -> list[AlpacaOrder]:
        """Open orders listed nested (parents with their legs) and flat (a filled
        parent's live legs: some listings drop a filled parent from the nested
        view, and some leave held legs out of both, alpaca-trade-api-js #87)."""
        nested, flat = await asyncio.gather(self._list_orders(QueryOrderStatus.OPEN, None, symbol=symbol),
                                            self._list_orders(QueryOrderStatus.OPEN, None, symbol=symbol,
                                                              nested=False))
        return [*nested, *flat]

    async def _bracket_views(self, symbol: str, limit: int = 50) -> list[AlpacaOrder]:
        """The symbol's latest bracket parents with their legs, whatever their
        status: a held stop leg missing from every open listing is found here."""
        page = await self._call(self._client.get_orders, GetOrdersRequest(
            status=QueryOrderStatus.ALL, nested=True, limit=limit, direction=Sort.DESC, symbols=[symbol]))
        return [ao for ao in page if ao.legs and any(_RANK.get(_enum_value(leg.status), 2) < _TERMINAL_RANK
                                                     for leg in ao.legs)]

    async def replace_stop(self, symbol: str, new_stop: float) -> Optional[Order]:
        """Move the stop of the symbol's open position: the newest stop leg we
        believe live. A refusal (e.g. 422 on an order that is no longer open)
        is followed by a look-up of that order's real state and the next
        candidate; when none could be moved the last error is raised (the old
        stop, if any, stays in force)."""
        pos = self._positions.get(symbol)
        if pos is None or pos.qty == 0:
            return None
        last_error: Optional[AlpacaRestError] = None
        tried: set[str] = set()
        while True:
            stops = sorted((o for o in self._orders.values()
                            if o.symbol == symbol and o.leg is OrderLeg.STOP_LOSS and o.status.is_open
                            and o.id not in tried and not _local(o.id)),
                           key=lambda o: (o.created_ns, o.updated_ns), reverse=True)
            if not stops:
                if last_error is not None:
                    raise last_error
                return None
            old = stops[0]
            tried.add(old.id)
            try:
                raw = await self._call(self._client.replace_order_by_id, old.id,
                                       ReplaceOrderRequest(stop_price=_tick_round(new_stop)))
            except AlpacaRestError as err:
                log.warning("move stop %s %s to %.4f refused: %s", symbol, old.id, new_stop, err.message)
                last_error = err
                looked = await self._look_up(old.id)
                if looked is not None and looked.status.is_open:  # still in force, at its old price
                    self._orders[old.id] = replace(looked, reason=redact(
                        f"move to {_tick_round(new_stop)} refused: {err.message}"))
                continue
            self._roles[str(raw.id)] = (OrderLeg.STOP_LOSS, old.parent_id)
            return self._merge(raw, emit=False)

    async def _look_up(self, order_id: str, nested: bool = False) -> Optional[Order]:
        """The order's real state at Alpaca, merged (its events emitted once)."""
        try:
            raw = await self._call(self._client.get_order_by_id, order_id,
                                   GetOrderByIdRequest(nested=True) if nested else None)
        except AlpacaRestError as err:
            if err.status == 404 and order_id in self._orders and self._orders[order_id].status.is_open:
                gone = self._orders[order_id] = replace(self._orders[order_id], status=OrderStatus.CANCELED,
                                                        reason=f"not at broker ({err.message})")
                self._emit(BrokerEvent("canceled", gone, reason=gone.reason))
            else:
                log.warning("look-up of order %s failed: %s", order_id, err.message)
            return self._orders.get(order_id)
        return self._merge(raw, emit=True)

    # ------------------------------------------------------------------ brackets settle

    def _settle_after_fill(self, order: Order) -> None:
        """A fill of a bracket's parent or leg: look up its siblings (see module doc)."""
        parent = order.parent_id if order.parent_id is not None else (
            order.id if any(p == order.id for _, p in self._roles.values()) else None)
        if parent is not None and parent not in self._settling and not self._stopping:
            self._settling.add(parent)
            self._spawn(self._settle_bracket(parent))

    def _legs_of(self, parent_id: str) -> list[Order]:
        return [o for o in self._orders.values() if o.parent_id == parent_id]

    async def _settle_bracket(self, parent_id: str) -> None:
        try:
            for delay in _SETTLE_DELAYS_S:
                if delay:
                    await asyncio.sleep(delay)
                try:
                    raw = await self._call(self._client.get_order_by_id, parent_id, GetOrderByIdRequest(nested=True))
                except AlpacaRestError as err:
                    log.warning("look-up of bracket %s failed: %s", parent_id, err.message)
                    continue
                self._merge(raw, emit=True)
                nested = {str(leg.id) for leg in raw.legs or ()}
                for leg in self._legs_of(parent_id):  # e.g. a replaced stop not (yet) nested under it
                    if leg.status.is_open and leg.id not in nested:
                        await self._look_up(leg.id)
                legs = self._legs_of(parent_id)
                exited = any(o.status is OrderStatus.FILLED for o in legs)
                if not exited or not any(o.status.is_open for o in legs):
                    return  # entry filled (legs as they stand), or the exit's siblings are settled
        except Exception as exc:  # a background look-up must never take anything down
            log.warning("settling bracket %s failed: %s", parent_id, redact(exc))
        finally:
            self._settling.discard(parent_id)

    # ------------------------------------------------------------------ updates in

    def _role_of(self, ao: AlpacaOrder) -> tuple[OrderLeg, Optional[str]]:
        oid = str(ao.id)
        if oid in self._roles:
            return self._roles[oid]
        meta = self._meta.get(ao.client_order_id)
        if meta is not None:
            return meta[1], None
        if _enum_value(ao.order_class) in ("bracket", "oco", "oto") and not ao.legs:
            kind = _enum_value(ao.type or ao.order_type)
            return (OrderLeg.TAKE_PROFIT if kind == "limit" else OrderLeg.STOP_LOSS), None
        return OrderLeg.ENTRY, None

    def _merge(self, ao: AlpacaOrder, *, emit: bool, ts_ns: Optional[int] = None, price: Optional[float] = None,
               qty: Optional[float] = None, force: bool = False, apply_position: bool = True,
               sink: Optional[list[BrokerEvent]] = None) -> Order:
        """Fold one view of an order (REST answer, trade update, reconcile) into
        ours. Only progress counts: new filled quantity, or a status further
        along; ``force`` (reconcile) makes the broker's status win, except that
        what happened is never undone: filled quantity never shrinks and a
        terminal status never reopens (a REST view may be older than a stream
        update already applied). Events go to the handler, or into ``sink``."""
        oid = str(ao.id)
        leg, parent = self._role_of(ao)
        signal_id = self._meta.get(ao.client_order_id, (None, leg))[0]
        if parent is not None and parent in self._orders:
            signal_id = self._orders[parent].signal_id
        for child in ao.legs or ():
            kind = _enum_value(child.type or child.order_type)
            role = OrderLeg.TAKE_PROFIT if kind == "limit" else OrderLeg.STOP_LOSS
            self._roles.setdefault(str(child.id), (role, oid))
        status = _enum_value(ao.status)
        rank = _RANK.get(status, 2)
        filled = float(ao.filled_qty or 0.0)
        avg = float(ao.filled_avg_price or 0.0)
        if ts_ns is not None:
            ts = ts_ns
        else:  # a REST view: a filled order's fill time, else its last change
            ts = _ns(ao.filled_at if status == "filled" and ao.filled_at is not None else ao.updated_at)
        track = self._tracks.get(oid)
        if track is None:
            track = self._tracks[oid] = _Track()
        delta = filled - track.filled
        moves = rank > track.rank or (
            rank == track.rank == _TERMINAL_RANK and status != track.status and ts > track.ts_ns
        )
        if force:
            moves = (status != track.status or rank != track.rank) and not (
                track.rank == _TERMINAL_RANK and rank < _TERMINAL_RANK)
        fill: Optional[Fill] = None
        if delta > 1e-9:
            px = self._fill_price(filled, avg, track, delta, price)
            fill = Fill(
                id=f"{oid}:{filled:g}", order_id=oid, client_order_id=ao.client_order_id, symbol=ao.symbol or "",
                side=Side(_enum_value(ao.side)), qty=int(round(delta)), price=px, commission=0.0, ts_ns=ts, leg=leg,
            )
            if apply_position:
                self._apply_fill(fill)
        if fill is not None:  # a view with less filled than we counted is older than one we applied
            track.filled, track.avg = filled, avg
        if moves:
            track.status, track.rank, track.ts_ns = status, rank, ts
        if fill is None and not moves:
            existing = self._orders.get(oid)
            if existing is not None:
                if not force:
                    self.counters["stale_updates"] += 1
                if existing.leg is not leg or existing.parent_id != parent:
                    # the stream saw it before the REST answer told us its role
                    existing = self._orders[oid] = replace(existing, leg=leg, parent_id=parent)
                for child in ao.legs or ():
                    self._merge(child, emit=emit, force=force, apply_position=apply_position, sink=sink)
                return existing
        reason = ""
        if track.status == "replaced" and ao.replaced_by is not None:
            reason = f"{_REPLACED_BY}{ao.replaced_by}"
        elif track.status in ("rejected", "suspended") and ao.replaces is not None:
            # Alpaca's replace: the order it was to replace filled (or ended) before it landed
            reason = f"rejected by Alpaca: the replacement of order {ao.replaces} came too late"
        elif track.status in ("rejected", "suspended"):
            reason = "rejected by Alpaca"
        order = Order(
            id=oid, client_order_id=ao.client_order_id, symbol=ao.symbol or "",
            side=Side(_enum_value(ao.side)), type=_TYPE.get(_enum_value(ao.type or ao.order_type), OrderType.MARKET),
            qty=int(round(float(ao.qty or 0.0))), status=_STATUS.get(track.status, OrderStatus.ACCEPTED),
            filled_qty=int(round(track.filled)), avg_fill_price=track.avg, limit_price=_f(ao.limit_price),
            stop_price=_f(ao.stop_price), leg=leg, parent_id=parent, signal_id=signal_id,
            created_ns=_ns(ao.created_at), updated_ns=max(ts, track.ts_ns), reason=reason,
        )
        self._orders[oid] = order
        self._by_client[ao.client_order_id] = oid
        self._used_client_ids.add(ao.client_order_id)
        placeholder = self._unknown.pop(ao.client_order_id, None)
        if placeholder is not None:  # an UNKNOWN submit did reach Alpaca: this is it
            self._close_placeholder(placeholder, OrderStatus.CANCELED, f"replaced by Alpaca order {oid}"
                                    f" ({order.status.value}): the submit did reach Alpaca", "resolved", sink)
        for child in ao.legs or ():
            self._merge(child, emit=emit, force=force, apply_position=apply_position, sink=sink)
        if emit:
            if fill is not None:
                kind = "fill" if track.filled >= order.qty else "partial_fill"
                self._deliver(BrokerEvent(kind, order, fill), sink)
                if sink is None:
                    self._spawn(self._refresh_account_quietly())
                    if kind == "fill":
                        self._settle_after_fill(order)
            elif moves and status in _EVENT_KIND:
                self._deliver(BrokerEvent(_EVENT_KIND[status], order, reason=reason), sink)
        return order

    @staticmethod
    def _fill_price(filled: float, avg: float, track: _Track, delta: float, price: Any) -> float:
        """The price of the quantity newly filled, from the change in the order's
        cumulative quantity and notional (``filled_qty`` x ``filled_avg_price``).
        A trade update's ``price`` is documented as the average price per share
        of the order ("fill: price: The average price per share at which the
        order was filled", Alpaca's trade_updates docs), yet has been seen as the
        execution's own price: the cumulative figures are right under either
        reading (NautilusTrader derives fills the same way for venues that report
        averages). ``price`` serves only when no average is given."""
        if avg > 0:
            return round((avg * filled - track.avg * track.filled) / delta, 4)
        return float(price or 0.0)

    def _apply_fill(self, fill: Fill) -> None:
        pos = self._positions.get(fill.symbol) or _Pos(opened_ns=fill.ts_ns)
        signed = fill.qty * fill.side.sign
        if pos.qty == 0:
            pos.qty, pos.avg, pos.opened_ns = signed, fill.price, fill.ts_ns
        elif (pos.qty > 0) == (signed > 0):
            pos.avg = (abs(pos.qty) * pos.avg + fill.qty * fill.price) / (abs(pos.qty) + fill.qty)
            pos.qty += signed
        else:
            closing = min(abs(signed), abs(pos.qty))
            pnl = closing * (fill.price - pos.avg) * (1 if pos.qty > 0 else -1)
            pos.realized += pnl
            self._realized += pnl
            was_long = pos.qty > 0
            pos.qty += signed
            if pos.qty != 0 and (pos.qty > 0) != was_long:
                pos.avg, pos.opened_ns = fill.price, fill.ts_ns
        pos.last = fill.price
        if pos.qty == 0:
            self._positions.pop(fill.symbol, None)
        else:
            self._positions[fill.symbol] = pos

    async def _on_trade_update(self, message: Any) -> None:
        try:
            update = TradeUpdate(**message["data"])
        except Exception as exc:
            self.counters["malformed_updates"] += 1
            log.warning("malformed trade update skipped: %s", redact(str(exc)[:300]))
            return
        self._merge(update.order, emit=True, ts_ns=_ns(update.timestamp), price=update.price, qty=update.qty)

    def _on_malformed_frame(self, frame: Any) -> None:
        self.counters["malformed_frames"] += 1
        log.warning("malformed frame on the Alpaca trade stream skipped (%d bytes)", len(frame or b""))

    def _on_stream_connected(self, reconnect: bool) -> None:
        self.stream_connected = True
        self.stream_reconnect_in_s = None
        self._stream_backoff.reset()
        if reconnect:
            self.counters["stream_reconnects"] += 1
            # updates sent while we were away are lost: the broker's state is the truth
            self._spawn(self._reconcile_and_report())

    def _on_stream_down(self, reconnect_in_s: float) -> None:
        self.stream_connected = False
        if self._stopping:
            return
        self.stream_reconnect_in_s = reconnect_in_s
        log.warning("Alpaca trade stream down; reconnecting in %.2fs", reconnect_in_s)

    # ------------------------------------------------------------------ reconcile

    async def _light_reconcile_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._light_every_s)
            try:
                await self.light_reconcile()
            except Exception as exc:  # never fatal: the next round tries again
                log.warning("light reconcile failed: %s", redact(exc))

    async def light_reconcile(self) -> None:
        """What the order stream may never say, caught periodically: our orders as
        Alpaca lists them (open, and closed since the session start) and each
        order we believe open but no listing shows, looked up by id. Only orders
        we know (and their legs) are merged, forward only, each change emitted
        once, exactly as a late trade update would be; positions and orders we
        never knew are left to the full ``reconcile``."""
        raw_open, raw_closed = await asyncio.gather(
            self._open_views(), self._list_orders(QueryOrderStatus.CLOSED, self._since()))
        listed: set[str] = set()
        for ao in (*raw_closed, *raw_open):
            ids = [str(ao.id), *(str(leg.id) for leg in ao.legs or ())]
            listed.update(ids)
            if any(i in self._orders for i in ids):
                self._merge(ao, emit=True)
        for oid in [o.id for o in self._orders.values() if o.status.is_open and o.id not in listed
                    and not _local(o.id)][:20]:
            await self._look_up(oid)

    async def _reconcile_and_report(self) -> None:
        try:
            differences = await self.reconcile()
        except AlpacaRestError as err:
            log.error("reconcile failed: %s", err.message)
            return
        if differences and self._reconcile_handler is not None:
            try:
                self._reconcile_handler(differences)
            except Exception as exc:
                log.error("reconcile handler failed: %s", redact(exc))

    async def reconcile(self) -> list[str]:
        """Make Alpaca's positions and orders ours, emit what we missed, and
        return the differences, one readable line each.

        Asked for: positions, account, open orders, and the orders closed since
        ``since`` (the session start after a restore, else this run's start).
        Alpaca filters orders by submission time, so that bound is not the last
        fill seen: a bracket leg submitted with its entry at 10:00 can fill at
        11:00 while we are away. Each fill beyond what was already counted is
        emitted once, oldest first, with our positions stepping from (Alpaca's
        positions less those fills) to Alpaca's positions, so the handler sees
        each fill with the position it left. Orders we believed open report
        their new status; orders we never knew report only their fills (a
        fill before ``since`` on an order we never knew is history, not news).
        """
        since = self._since()
        raw_positions, raw_open, raw_closed, raw_account = await asyncio.gather(
            self._call(self._client.get_all_positions),
            self._open_views(),
            self._list_orders(QueryOrderStatus.CLOSED, since),
            self._call(self._client.get_account),
        )
        views = [v for ao in (*raw_closed, *raw_open) for v in (ao, *(ao.legs or ()))]
        # a position whose stop leg no listing showed (held legs go unlisted, a filled
        # parent drops out of the nested view): its bracket found by symbol
        believed_stops = {o.symbol for o in self._orders.values() if o.leg is OrderLeg.STOP_LOSS and o.status.is_open}
        listed_stops = {v.symbol for v in views if _enum_value(v.type or v.order_type) in ("stop", "stop_limit",
                                                                                           "trailing_stop")
                        and _RANK.get(_enum_value(v.status), 2) < _TERMINAL_RANK}
        for p in raw_positions:
            if p.symbol not in believed_stops | listed_stops:
                try:
                    raw_open = [*raw_open, *await self._bracket_views(p.symbol)]
                except AlpacaRestError as err:
                    log.warning("reconcile: brackets of %s could not be listed: %s", p.symbol, err.message)
        views = [v for ao in (*raw_closed, *raw_open) for v in (ao, *(ao.legs or ()))]
        listed = {str(v.id) for v in views}
        listed_clients = {v.client_order_id for v in views}
        open_at_broker = {str(v.id) for v in views}  # kept below only if open once merged
        believed_positions = {p.symbol: p for p in self.positions()}
        believed_open = {o.id: o for o in self._orders.values()
                         if o.status.is_open and o.status is not OrderStatus.UNKNOWN and not is_waiting(o.id)}
        fetched: list[AlpacaOrder] = []
        absent: dict[str, str] = {}
        unchecked: list[str] = []
        for oid in [oid for oid in believed_open if oid not in listed][:100]:
            try:
                fetched.append(await self._call(self._client.get_order_by_id, oid))
            except AlpacaRestError as err:
                if err.status == 404:
                    absent[oid] = err.message
                else:
                    unchecked.append(f"order {describe_order(believed_open[oid])}: could not check ({err.message})")
        open_at_broker |= {str(v.id) for ao in fetched for v in (ao, *(ao.legs or ()))}
        lookups = {coid: await self._lookup_client_id(coid)
                   for coid in [c for c in self._unknown if c not in listed_clients][:20]}

        # nothing below awaits: no stream update can interleave with what follows
        known_before = set(self._orders)
        unknown_before = {coid: self._orders[pid] for coid, pid in self._unknown.items() if pid in self._orders}
        events: list[BrokerEvent] = []
        for ao in (*raw_closed, *raw_open, *fetched):
            self._merge(ao, emit=True, force=True, apply_position=False, sink=events)
        for coid, (found, certain) in lookups.items():
            self._settle_unknown(coid, found, certain, sink=events)
        for coid in self._unknown:  # e.g. restored from the store: someone must keep asking
            self._keep_resolving(coid)
        for oid, message in absent.items():
            gone = self._orders[oid] = replace(self._orders[oid], status=OrderStatus.CANCELED,
                                               reason=f"not at broker ({message})")
            events.append(BrokerEvent("canceled", gone, reason=gone.reason))

        def news(ev: BrokerEvent) -> bool:
            oid = ev.order.id
            if oid.startswith(_PLACEHOLDER) or ev.order.client_order_id in unknown_before:
                return True  # an UNKNOWN submit settled: the placeholder and the real order
            if oid in believed_open or oid in absent:
                return True
            if oid in known_before:
                return ev.fill is not None
            if ev.fill is not None:
                return ev.fill.ts_ns >= since
            return ev.order.status.is_open  # adopted: open at Alpaca, unknown to us

        kept = sorted((ev for ev in events if news(ev)),
                      key=lambda ev: (ev.kind != "resolved", ev.fill.ts_ns if ev.fill else ev.order.updated_ns))
        missed = [ev.fill for ev in kept if ev.fill is not None]

        actual = {}
        for p in raw_positions:
            qty = int(round(abs(float(p.qty)))) * (-1 if _enum_value(p.side) == "short" else 1)
            actual[p.symbol] = (qty, float(p.avg_entry_price), float(p.current_price or p.avg_entry_price))
        self._positions = self._positions_before(actual, missed)
        self._set_account(raw_account)
        for ev in kept:
            if ev.fill is not None:
                self._apply_fill(ev.fill)
            self._emit(ev)
        final: dict[str, _Pos] = {}
        for symbol, (qty, avg, last) in actual.items():
            prior = self._positions.get(symbol)
            final[symbol] = _Pos(qty=qty, avg=avg, last=last, realized=prior.realized if prior else 0.0,
                                 opened_ns=prior.opened_ns if prior else 0)
        self._positions = final
        self._set_account(raw_account)

        actual_open = {oid: o for oid, o in self._orders.items() if oid in open_at_broker and o.status.is_open}
        differences = [f"fill missed while away: {describe_fill(f)}" for f in missed]
        for coid, o in unknown_before.items():
            if coid in self._by_client:
                real = self._orders[self._by_client[coid]]
                outcome = f"at broker as order {real.id} ({real.status.value})"
            elif coid in self._unknown:
                outcome = "still unknown (look-ups get no answer)"
            else:
                outcome = "broker has no such order: none was placed"
            differences.append(f"order {describe_order(o)}: submit outcome was unknown, {outcome}")
        differences += diff_positions(believed_positions, {p.symbol: p for p in self.positions()})
        differences += diff_open_orders(believed_open, actual_open)
        differences += unchecked
        differences += self._unprotected()
        self.counters["reconciles"] += 1
        self.counters["missed_fills"] += len(missed)
        self.last_differences = differences
        for line in differences:
            log.info("reconcile: %s", line)
        return differences

    def _unprotected(self) -> list[str]:
        """A position not wholly covered by stop orders open at the broker, one line each."""
        out = []
        for symbol, short in sorted(self.uncovered().items()):
            qty = self._positions[symbol].qty
            out.append(f"position {symbol} {qty:+d}: UNPROTECTED, no stop order open at broker"
                       if short >= abs(qty) else
                       f"position {symbol} {qty:+d}: UNPROTECTED for {short} shares, stop orders open at "
                       f"broker cover {abs(qty) - short}")
        return out

    def _since(self) -> int:
        if self._since_ns is None:
            self._since_ns = self._clock.now_ns()
        return self._since_ns

    def _positions_before(self, actual: dict[str, tuple[int, float, float]], fills: Sequence[Fill]) -> dict[str, _Pos]:
        """Alpaca's positions less the fills about to be emitted: where each symbol
        stood before them (our own book when it agrees on the quantity)."""
        net: dict[str, int] = {}
        first_price: dict[str, float] = {}
        for f in fills:
            net[f.symbol] = net.get(f.symbol, 0) + f.qty * f.side.sign
            first_price.setdefault(f.symbol, f.price)
        out: dict[str, _Pos] = {}
        for symbol in set(actual) | set(net):
            qty, avg, last = actual.get(symbol, (0, 0.0, 0.0))
            before = qty - net.get(symbol, 0)
            prior = self._positions.get(symbol)
            if before == 0:
                continue
            if prior is not None and prior.qty == before:
                out[symbol] = replace(prior)
            else:
                same_side = qty != 0 and (qty > 0) == (before > 0)
                out[symbol] = _Pos(qty=before, avg=avg if same_side else first_price.get(symbol, avg),
                                   last=last or first_price.get(symbol, 0.0),
                                   realized=prior.realized if prior else 0.0, opened_ns=prior.opened_ns if prior else 0)
        return out

    async def _list_orders(self, status: QueryOrderStatus, since_ns: Optional[int], *,
                           symbol: Optional[str] = None, nested: bool = True) -> list[AlpacaOrder]:
        """Every order of ``status`` (submitted after ``since_ns`` when given), legs
        nested, oldest first. Alpaca pages by time, not by token: the next page
        starts just before the last submission time seen (the bound is exclusive
        and only microseconds travel), and repeats are dropped by id."""
        out: list[AlpacaOrder] = []
        seen: set[str] = set()
        after_ns = since_ns - 1_000 if since_ns else None
        for _ in range(self._max_pages):
            page = await self._call(self._client.get_orders, GetOrdersRequest(
                status=status, nested=nested, limit=self._page_size, direction=Sort.ASC,
                after=_dt(after_ns) if after_ns else None, symbols=[symbol] if symbol else None))
            fresh = [ao for ao in page if str(ao.id) not in seen]
            seen.update(str(ao.id) for ao in fresh)
            out.extend(fresh)
            if len(page) < self._page_size or not fresh:
                return out
            last = page[-1]
            after_ns = _ns(last.submitted_at or last.created_at) - 1_000
        log.warning("%s orders: stopped after %d pages of %d", _enum_value(status), self._max_pages, self._page_size)
        return out

    # ------------------------------------------------------------------ restart

    def restore(self, positions, open_orders, account=None, *, fills: Sequence[Fill] = (), since_ns: int = 0) -> None:
        """What the store kept of this session becomes what we believed, so the
        first reconcile reports what changed while we were away and emits only
        fills the store does not have: an order's quantity in ``fills`` (or in
        its stored filled_qty) is never emitted again. UNKNOWN orders are looked
        up again. ``since_ns`` (the session start) bounds the closed orders
        asked for."""
        if isinstance(positions, dict):
            positions = list(positions.values())
        for p in positions:
            if p.qty and p.symbol not in self._positions:
                self._positions[p.symbol] = _Pos(qty=p.qty, avg=p.avg_price, last=p.last or p.avg_price,
                                                 realized=p.realized_pnl, opened_ns=p.opened_ns)
        for o in open_orders:
            if not o.status.is_open or o.id in self._orders:
                continue
            self._orders[o.id] = o
            self._used_client_ids.add(o.client_order_id)
            self._meta.setdefault(o.client_order_id, (o.signal_id, o.leg))
            self._pegs.restored(o)  # a pegged entry: resumed or cancelled once started (alpaca_peg.py)
            if is_waiting(o.id):
                continue  # a peg's local waiting order: nothing at Alpaca to track
            if o.status is OrderStatus.UNKNOWN:
                self._unknown[o.client_order_id] = o.id
                continue
            self._by_client[o.client_order_id] = o.id
            self._roles.setdefault(o.id, (o.leg, o.parent_id))
            status = _ALPACA_OPEN.get(o.status, "accepted")
            self._tracks[o.id] = _Track(status=status, rank=_RANK[status], filled=float(o.filled_qty),
                                        avg=float(o.avg_fill_price or 0.0), ts_ns=o.updated_ns)
        counted: dict[str, tuple[float, float]] = {}
        for f in fills:
            qty, notional = counted.get(f.order_id, (0.0, 0.0))
            counted[f.order_id] = (qty + f.qty, notional + f.qty * f.price)
        for oid, (qty, notional) in counted.items():
            track = self._tracks.setdefault(oid, _Track())
            if qty > track.filled + 1e-9:
                track.filled, track.avg = qty, notional / qty
        if since_ns > 0:
            self._since_ns = since_ns if self._since_ns is None else min(self._since_ns, since_ns)

    # ------------------------------------------------------------------ pegged entries (alpaca_peg.py)

    @property
    def follows_quotes(self) -> bool:
        return True  # a pegged entry follows the feed's bid/ask

    def on_quote(self, quote: Quote) -> None:
        if _finite_quote(quote):
            self._pegs.on_quote(quote)

    def check_timeouts(self) -> list[Order]:
        """The engine's timer: a pegged entry whose window ended goes to market or is cancelled."""
        self._pegs.due(self._clock.now_ns())
        return []

    def peg_progress(self, order_id: str) -> Optional[dict]:
        return self._pegs.progress(order_id)

    def carry_pegs(self, saved: Sequence[dict]) -> None:
        self._pegs.carry(saved)

    # ------------------------------------------------------------------ account

    def _set_account(self, raw: Any) -> None:
        equity = float(raw.equity or 0.0)
        unrealized = sum(p.unrealized_pnl for p in self.positions())
        self._account = Account(
            equity=equity, cash=float(raw.cash or 0.0), buying_power=float(raw.buying_power or 0.0),
            start_of_day_equity=float(raw.last_equity or equity), realized_pnl=self._realized,
            unrealized_pnl=unrealized,
        )

    async def refresh_account(self) -> Account:
        self._set_account(await self._call(self._client.get_account))
        return self._account

    async def _refresh_account_quietly(self) -> None:
        try:
            await self.refresh_account()
        except AlpacaRestError as err:
            log.warning("account refresh failed: %s", err.message)

    # ------------------------------------------------------------------ views

    def positions(self) -> list[Position]:
        out = []
        for symbol, pos in sorted(self._positions.items()):
            stop = target = None
            for o in self._orders.values():
                if o.symbol == symbol and o.status.is_open:
                    if o.leg is OrderLeg.STOP_LOSS:
                        stop = o.stop_price
                    elif o.leg is OrderLeg.TAKE_PROFIT:
                        target = o.limit_price
            out.append(Position(
                symbol=symbol, qty=pos.qty, avg_price=pos.avg, last=pos.last,
                unrealized_pnl=(pos.last - pos.avg) * pos.qty, realized_pnl=pos.realized,
                stop=stop, target=target, opened_ns=pos.opened_ns,
            ))
        return out

    def open_orders(self) -> list[Order]:
        return [o for o in self._orders.values() if o.status.is_open]

    def order_count(self) -> int:
        """Orders this session has seen (placed here or reported by the account stream)."""
        return len(self._orders)

    def recent_orders(self, n: int = 50) -> list[Order]:
        return sorted(self._orders.values(), key=lambda o: o.updated_ns, reverse=True)[:n]

    def order(self, order_id: str) -> Optional[Order]:
        return self._orders.get(order_id)

    def uncovered(self) -> dict[str, int]:
        """As ``Broker.uncovered``, with a stop Alpaca has replaced (a moved stop) still
        counted until its replacing order is known here: the stream says "replaced"
        before the replace's answer names the new order, and the stop is in force
        meanwhile under that new id."""
        orders = [o for o in self._orders.values() if o.status.is_open]
        for o in self._orders.values():
            if o.leg is OrderLeg.STOP_LOSS and o.reason.startswith(_REPLACED_BY) \
                    and o.reason[len(_REPLACED_BY):] not in self._orders and self._tracks.get(o.id) is not None \
                    and self._tracks[o.id].status == "replaced":
                orders.append(replace(o, status=OrderStatus.ACCEPTED))
        return uncovered(self.positions(), orders, self.order)

    def order_by_client_id(self, client_order_id: str) -> Optional[Order]:
        oid = self._by_client.get(client_order_id)
        return None if oid is None else self._orders.get(oid)

    def account(self) -> Account:
        return self._account
