"""Plain data that crosses module boundaries: market data, signals, orders, fills,
positions, account, and the immutable snapshots the UI renders.

Everything here is a slotted dataclass, immutable by contract, so it can be
handed from the engine to the UI, the store or the backtester without anyone
mutating it behind another's back. Times are integer nanoseconds since the Unix
epoch, UTC, as the recorded data carries them: cheap to compare and free of
timezone mistakes.

Why not ``frozen=True``: a frozen dataclass builds every field through
``object.__setattr__`` (a 12-field Bar: 3.3 us against 0.35 us), and records are
built on every trade, bar, order event and fill. So in a run they are plain
slotted dataclasses (hashable by their fields, as a frozen one is); the test
suite builds them frozen (``COCKPIT_FROZEN_RECORDS=1``, set by tests/conftest.py),
so code that assigns to a record fails there. Change a record with ``evolve``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from enum import Enum
from functools import cached_property
from typing import Any, Callable, Optional

FROZEN_RECORDS = os.environ.get("COCKPIT_FROZEN_RECORDS", "") == "1"


def record(cls):
    """The records' dataclass: slotted, hashable and equal by fields; frozen only
    under ``COCKPIT_FROZEN_RECORDS=1`` (the tests; see the module doc)."""
    return dataclass(cls, frozen=FROZEN_RECORDS, slots=True, unsafe_hash=not FROZEN_RECORDS)


NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S


class StrEnum(str, Enum):
    """String-valued enum that prints as its value (for logs, JSON and the DB)."""

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


# Aggressor side of a trade: +1 buyer-initiated, -1 seller-initiated, 0 unknown.
BUY = 1
SELL = -1
UNKNOWN = 0


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    # cached_property: worked out once per member, then a plain attribute of it (a property
    # is a Python call on every read, and a round trip reads a side's sign ~20 times)
    @cached_property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class MarketState(StrEnum):
    BALANCE = "BALANCE"
    IMBALANCE_UP = "IMBALANCE_UP"
    IMBALANCE_DOWN = "IMBALANCE_DOWN"


class Mode(StrEnum):
    WATCH = "WATCH"
    SEMI = "SEMI"
    AUTO = "AUTO"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    HELD = "held"  # bracket child waiting for its parent to fill
    # the submit got no answer and the look-ups by client order id failed: the order may be
    # live at the broker, so it counts as open (exposure) until a look-up, the order stream or
    # a reconcile tells which; it is never resent before a look-up says it does not exist
    UNKNOWN = "unknown"

    @cached_property  # once per member, then a plain attribute (read ~20 times a round trip)
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.HELD,
                        OrderStatus.UNKNOWN)


class OrderLeg(StrEnum):
    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    EXIT = "exit"  # a plain closing order (flatten, time exit, partial exit)


class Decision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    AUTO = "auto"
    BLOCKED = "blocked"
    WATCHED = "watched"  # WATCH mode: shown, never sent
    DROPPED = "dropped"  # a pending or open signal already exists for the symbol


# --------------------------------------------------------------------------- market data


@record
class Trade:
    symbol: str
    ts_ns: int
    price: float
    size: float
    side: int = UNKNOWN  # true aggressor side if the source knows it
    bid: Optional[float] = None  # prevailing quote, if known (for Lee-Ready)
    ask: Optional[float] = None


@record
class Heartbeat:
    """Data time passes with no market data (the simulator's overnight between two
    days): the clock, the session indicator and the bars move with it."""

    ts_ns: int


@record
class Quote:
    symbol: str
    ts_ns: int
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0


@record
class Bar:
    """A one-minute bar. ``ts_ns`` is the bar's start. Buy/sell volume are NaN when
    the source carries no flow (bars-only history: bulk volume classification fills
    them in)."""

    symbol: str
    ts_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    buy_volume: float = float("nan")
    sell_volume: float = float("nan")
    trades: int = 0
    vwap: float = float("nan")
    # volume at price: ((bin centre price, volume), ...) when built from trades.
    # Stored with the candle so a restart rebuilds the profiles exactly; None for
    # bars-only history (its volume is then spread evenly over the high-low range).
    vap: Optional[tuple[tuple[float, float], ...]] = None


# --------------------------------------------------------------------------- analytics views


@record
class Node:
    """A high- or low-volume node: bin centre price and its (smoothed) volume."""

    price: float
    volume: float


@record
class ProfileStats:
    """POC / value area / nodes of one volume profile, and the histogram to draw."""

    bin_size: float
    total_volume: float
    poc: float  # bin centre
    vah: float  # top edge of the value area's highest bin
    val: float  # bottom edge of the value area's lowest bin
    value_area_volume: float
    lvns: tuple[Node, ...] = ()
    hvns: tuple[Node, ...] = ()
    low: float = 0.0  # lowest bin's bottom edge
    high: float = 0.0  # highest bin's top edge
    # (bin centre, volume) from low to high, for drawing the histogram
    histogram: tuple[tuple[float, float], ...] = ()


@record
class ImpulseLeg:
    side: Side
    start_ns: int
    start_price: float
    extreme_price: float
    extreme_ns: int
    range_atr: float
    active: bool  # still extending (not yet ended by a retrace)
    counts: bool  # range >= impulse_min_atr
    lvns: tuple[Node, ...] = ()


@record
class LvnAlert:
    symbol: str
    ts_ns: int
    lvn_price: float
    source: str  # "session" | "previous" | "impulse"
    price: float
    distance_pct: float
    distance_atr: float  # NaN when ATR is not known yet
    direction: str  # "from_above" | "from_below"


@record
class SessionInfo:
    name: str  # ASIA | LONDON | NEW_YORK | AFTER_HOURS | CLOSED
    et_time: str  # HH:MM:SS America/New_York
    recommended_setup: Optional[str]
    is_trading_day: bool
    is_half_day: bool
    rth_open_ns: Optional[int]  # today's RTH open/close, None on a closed day
    rth_close_ns: Optional[int]
    next_session: str
    seconds_to_next: float
    in_rth: bool
    # trading session policies (STRATEGY.md 13), when configured: the active window's label
    # ("09:35-10:30 orb, vwap_reclaim"), the next one today and the seconds until it starts
    policy: Optional[str] = None
    next_policy: Optional[str] = None
    seconds_to_next_policy: Optional[float] = None
    # the instrument's own view (issue 20): CLOSED | PRE | RTH (US stocks) or 24H | CLOSED
    # (24-hour markets), its clock and zone, and the next open (0: unknown)
    phase: str = ""
    local_time: str = ""  # HH:MM:SS in the session's zone
    zone: str = "ET"  # ET | UTC | CT
    tz: str = "America/New_York"  # the zone's IANA name
    next_open_ns: int = 0


@record
class FlowView:
    """Order flow of the last closed bars (STRATEGY.md sections 1 and 5)."""

    aggression: float = 0.0  # 0..100
    direction: Optional[Side] = None
    volume_ratio: float = float("nan")
    cvd: float = 0.0
    cvd_change: float = 0.0  # over flow_lookback bars
    buy_pressure: float = float("nan")
    sell_pressure: float = float("nan")
    pressure_ratio: float = float("nan")
    last_delta: float = 0.0
    cvd_history: tuple[float, ...] = ()  # per closed bar, for the sparkline


@record
class SymbolSnapshot:
    """Everything a pane or a setup needs to know about one symbol, at one time."""

    symbol: str
    ts_ns: int
    last: float
    prev_close: float  # previous session close (NaN if unknown)
    change_pct: float
    state: MarketState
    distance_from_poc_pct: float
    momentum: float  # ATR units
    atr: float  # NaN until enough bars
    vwap: float
    rolling: Optional[ProfileStats]  # state reference profile (lookback_minutes)
    session_profile: Optional[ProfileStats]  # developing RTH session
    previous_profile: Optional[ProfileStats]  # previous session
    flow: FlowView
    balance_low: float  # previous session VAL (NaN if unknown)
    balance_high: float  # previous session VAH
    impulse: Optional[ImpulseLeg]
    pullback: bool  # price in an impulse LVN band while beyond the balance edge
    bars: int  # closed bars this session
    last_bar: Optional[Bar]
    in_session: bool = True


# --------------------------------------------------------------------------- signals and orders


@record
class Signal:
    id: str
    symbol: str
    setup: str
    side: Side
    entry: float
    stop: float
    target: float
    confidence: float
    reason: str
    created_ns: int
    qty: int = 0  # set by risk sizing
    risk_usd: float = 0.0
    r_multiple: float = 0.0  # |target-entry| / |entry-stop|
    expires_ns: int = 0
    decision: Decision = Decision.PENDING
    decision_reason: str = ""
    decided_ns: int = 0
    # the first target (engine.stops.first_target; 0 = none): on the signal, so a signal
    # still pending or working across a restart keeps its partial exit plan
    target1: float = 0.0
    # the execution map (engine/execution_map.py): the symbol the setup read, its prices
    # and r = proxy last / index last; "" / None when the signal was not mapped
    index_symbol: str = ""
    index_entry: Optional[float] = None
    index_stop: Optional[float] = None
    index_target: Optional[float] = None
    map_ratio: Optional[float] = None


@record
class OrderRequest:
    """What we ask a broker for. A bracket when take_profit and stop_loss are set."""

    client_order_id: str
    symbol: str
    side: Side
    qty: int
    type: OrderType = OrderType.MARKET
    limit_price: Optional[float] = None
    stop_price: Optional[float] = None
    take_profit: Optional[float] = None
    stop_loss: Optional[float] = None
    signal_id: Optional[str] = None
    leg: OrderLeg = OrderLeg.ENTRY
    timeout_s: Optional[float] = None  # limit entry: cancel if unfilled after this
    # a pegged entry (engine.peg.PegPolicy): the broker sets and moves the limit from the
    # quotes; limit_price is only the reference price for the buying-power check
    peg: Optional[Any] = None


@record
class Order:
    id: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: int
    status: OrderStatus
    filled_qty: int = 0
    avg_fill_price: float = 0.0
    limit_price: Optional[float] = None
    stop_price: Optional[float] = None
    leg: OrderLeg = OrderLeg.ENTRY
    parent_id: Optional[str] = None
    signal_id: Optional[str] = None
    created_ns: int = 0
    updated_ns: int = 0
    reason: str = ""  # rejection / cancel reason
    # the execution map: the order's price in the symbol the setup read (its limit or stop
    # / map_ratio; a market entry: the signal's index entry); "" / None when not mapped
    index_symbol: str = ""
    index_price: Optional[float] = None
    map_ratio: Optional[float] = None


@record
class Fill:
    id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price: float
    commission: float
    ts_ns: int
    leg: OrderLeg = OrderLeg.ENTRY


@record
class Position:
    symbol: str
    qty: int  # signed: >0 long, <0 short
    avg_price: float
    last: float
    unrealized_pnl: float
    realized_pnl: float = 0.0
    stop: Optional[float] = None
    target: Optional[float] = None
    opened_ns: int = 0


@record
class Account:
    equity: float
    cash: float
    buying_power: float
    start_of_day_equity: float
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    commissions: float = 0.0

    @property
    def day_pnl(self) -> float:
        return self.equity - self.start_of_day_equity


# --------------------------------------------------------------------------- status and journal


@record
class FeedStatus:
    name: str  # "synthetic" | "replay" | "alpaca" | "polygon"
    connected: bool = False
    stale: bool = False
    lag_s: float = 0.0
    speed: float = 1.0  # replay/simulator factor; 0 means max
    paused: bool = False
    reconnect_in_s: Optional[float] = None
    message: str = ""
    done: bool = False  # a finite feed reached its end
    last_data_ns: int = 0
    reconnects: int = 0  # connections re-made after a drop, this run (live feeds)
    # why the service refuses (part of) the stream, short, for the header: "KEY IN USE" (another
    # session holds this key's connection), "NOT IN PLAN" or "NOT IN PLAN: XYZ" (entitlement)
    refused: str = ""


@record
class JournalEntry:
    ts_ns: int
    level: str  # "info" | "warn" | "error"
    kind: str  # "signal" | "decision" | "order" | "fill" | "block" | "malformed" | "feed" | "broker" | "mode" | ...
    message: str
    symbol: Optional[str] = None
    data: Optional[dict] = None

    def __eq__(self, other):
        # by fields, whichever class built it: a line formatted when read (LazyJournalEntry)
        # equals the same line built whole
        if not isinstance(other, JournalEntry):
            return NotImplemented
        return (self.ts_ns, self.level, self.kind, self.message, self.symbol, self.data) == \
            (other.ts_ns, other.level, other.kind, other.message, other.symbol, other.data)


_MESSAGE_SLOT = JournalEntry.__dict__["message"]  # the slot behind the field (LazyJournalEntry writes it)


class LazyJournalEntry(JournalEntry):
    """A journal line whose text is formatted (and redacted) when it is first read.

    The engine journals several lines per round trip, and most are never read: a
    backtest records nothing and keeps only the newest lines, and a live run's
    store writes them on the writer's side, in a batch. So the hot path keeps the
    template and its arguments, and ``message`` builds the text on first read
    (``template.format(*args)``: the text an f-string with the same fields and
    format specs gives), keeps it and drops the arguments. Otherwise a plain
    ``JournalEntry``: the same fields, equal to the line built whole, and pickled
    as one (``__reduce__``)."""

    __slots__ = ("_unformatted",)  # (template, args, redact) until the text is built

    if FROZEN_RECORDS:  # the tests: a frozen record's __setattr__ refuses fields, so through their slots
        def __init__(self, ts_ns: int, level: str, kind: str, template: str, args: tuple,
                     symbol: Optional[str] = None, data: Optional[dict] = None,
                     redact: Callable[[str], str] = str) -> None:
            for slot, value in zip(_SLOTS, (ts_ns, level, kind, symbol, data)):
                slot.__set__(self, value)
            object.__setattr__(self, "_unformatted", (template, args, redact))
    else:
        def __init__(self, ts_ns: int, level: str, kind: str, template: str, args: tuple,
                     symbol: Optional[str] = None, data: Optional[dict] = None,
                     redact: Callable[[str], str] = str) -> None:
            self.ts_ns = ts_ns
            self.level = level
            self.kind = kind
            self.symbol = symbol
            self.data = data
            self._unformatted = (template, args, redact)

    @property
    def message(self) -> str:  # type: ignore[override]
        unformatted = self._unformatted
        if unformatted is None:
            return _MESSAGE_SLOT.__get__(self)
        template, args, redact = unformatted
        text = redact(template.format(*args))
        _MESSAGE_SLOT.__set__(self, text)
        object.__setattr__(self, "_unformatted", None)
        return text

    def __reduce__(self):
        return JournalEntry, (self.ts_ns, self.level, self.kind, self.message, self.symbol, self.data)

    def __repr__(self) -> str:
        return JournalEntry.__repr__(self)


_SLOTS = tuple(JournalEntry.__dict__[n] for n in ("ts_ns", "level", "kind", "symbol", "data"))


@record
class BrokerEvent:
    """An order/fill/rejection update a broker reports to the engine."""

    # "new" | "fill" | "partial_fill" | "canceled" | "rejected" | "expired" | "replaced"
    # | "resolved" (an UNKNOWN placeholder whose real order became known: ``order`` is the
    #   placeholder, closed; the real order's own events follow)
    kind: str
    order: Order
    fill: Optional[Fill] = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One thing that happened to an order, as the router heard it (the order detail's history)."""

    ts_ns: int
    kind: str  # "submitted" | a BrokerEvent kind | "cancel requested"
    status: OrderStatus
    filled_qty: int = 0
    price: Optional[float] = None  # the fill's price for a fill
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderDetail:
    """An order with its bracket legs (the parent, or its children), its events and fills."""

    order: Order
    legs: tuple[Order, ...] = ()
    events: tuple[OrderEvent, ...] = ()
    fills: tuple[Fill, ...] = ()


@record
class ClosedTrade:
    """One round trip of the day (flat -> position -> flat), as the Trades pane and
    ``cockpit trades`` show it. ``r`` is NaN when the initial stop is not known."""

    symbol: str
    setup: str
    side: str  # "long" | "short"
    qty: int  # largest size held
    entry_ns: int
    exit_ns: int
    entry_price: float  # average entry fill
    exit_price: float  # average exit fill
    pnl: float  # net of commissions
    r: float
    exit_reason: str  # target / stop / stop (moved to x) / the exit rule or command that closed it
    # the execution map: the index the setup read, entry and exit in its terms, r ("" / NaN when not mapped)
    index_symbol: str = ""
    index_entry_price: float = math.nan
    index_exit_price: float = math.nan
    map_ratio: float = math.nan


@dataclass(frozen=True, slots=True)
class TradeTotals:
    """Totals of a group of closed trades (a setup, a symbol, or the whole day)."""

    key: str
    trades: int = 0
    wins: int = 0
    pnl: float = 0.0
    r_sum: float = 0.0  # over the trades whose R is known
    r_count: int = 0

    @property
    def avg_r(self) -> float:
        return self.r_sum / self.r_count if self.r_count else float("nan")


@dataclass(frozen=True, slots=True)
class DayTradesView:
    """The day's closed trades (newest first) with totals by setup and by symbol."""

    date: str = ""
    trades: tuple[ClosedTrade, ...] = ()
    by_setup: tuple[TradeTotals, ...] = ()
    by_symbol: tuple[TradeTotals, ...] = ()
    total: TradeTotals = TradeTotals("all")
    source: str = ""  # where a stored day's trades came from (cockpit trades)


class StoreHealth(StrEnum):
    """How the run's recording is doing, as the header shows it."""

    OK = "ok"  # everything recorded is written, or about to be (within a flush interval)
    BEHIND = "behind"  # writes succeed but records have been waiting longer than they should
    FAILING = "failing"  # the last write failed; the records are kept and retried
    NONE = "none"  # this run records nothing (--no-store, a backtest)


@record
class StoreStatus:
    """The store's state at one moment: the header badge and the journal line of a change."""

    health: StoreHealth
    backlog: int = 0  # records recorded but not written yet
    reason: str = ""  # FAILING: the last write error (no credentials: see store.writer.describe_error)
    not_recorded: int = 0  # records whose writing failed and has not succeeded since

    @property
    def label(self) -> str:
        if self.health is StoreHealth.BEHIND:
            return f"BEHIND {self.backlog:,} records"
        if self.health is StoreHealth.FAILING:
            return f"FAILING: {self.reason}"
        if self.health is StoreHealth.NONE:
            return "NO STORE"
        return "OK"


NO_STORE = StoreStatus(StoreHealth.NONE)


@record
class EngineSnapshot:
    """The whole state the UI renders. Immutable; the engine publishes a new one."""

    ts_ns: int
    mode: Mode
    entries_paused: bool
    broker_kind: str  # "SIMULATED" | "PAPER" | "LIVE"
    feed: FeedStatus
    symbols: dict[str, SymbolSnapshot]
    alerts: tuple[LvnAlert, ...]  # newest first
    pending: tuple[Signal, ...]
    decisions: tuple[Signal, ...]  # newest first
    positions: tuple[Position, ...]
    orders: tuple[Order, ...]  # open orders first, then recent closed
    account: Account
    session: Optional[SessionInfo]
    journal: tuple[JournalEntry, ...]  # newest last
    blocked_entries_reason: str = ""  # why new entries are blocked right now ("" = not blocked)
    counters: dict[str, int] = field(default_factory=dict)
    store: Optional[StoreStatus] = None  # the recording's state (None: the producer did not say)
    start_label: str = ""  # a simulated session: "FRESH" or "RESUMED 11:42" (engine/sim_resume.py)
    unprotected: tuple[str, ...] = ()  # symbols whose open position is not wholly covered by working stops
    day_trades: DayTradesView = DayTradesView()  # today's closed trades and their totals
    # pending signal id -> wall seconds the trader has left to decide it (SignalDesk.time_left_s);
    # empty when only the data-time TTL counts (the UI counts expires_ns down)
    decide_left_s: dict[str, float] = field(default_factory=dict)
    # symbol -> shares of its open position no working stop at the broker covers (engine/stop_cover.py);
    # its keys are ``unprotected``
    uncovered: dict[str, int] = field(default_factory=dict)


def evolve(obj, **changes):
    """``dataclasses.replace`` for the slotted records above, about three times
    as fast (the signal path copies a Signal about three times per signal): one
    generated function per record class calls its constructor positionally, each
    field from ``changes`` or the original. No field here has ``init=False`` or a
    ``__post_init__``, which is what replace would add; unknown names raise
    TypeError like replace does. A subclass of a record (a journal line formatted
    when read) is copied into its record class, its fields read through it."""
    build = _EVOLVE.get(type(obj))
    if build is None:
        build = _EVOLVE[type(obj)] = _evolver(type(obj))
    return build(obj, changes)


_EVOLVE: dict[type, Callable[[Any, dict], Any]] = {}


def _evolver(cls: type) -> Callable[[Any, dict], Any]:
    """``build(obj, changes)`` for ``cls``, generated as source from the record's
    field names (as ``record_builder`` is), so a copy costs one positional call."""
    rec = next(k for k in cls.__mro__ if "__dataclass_fields__" in k.__dict__)
    names = field_names(rec)
    same = ", ".join(f"obj.{n}" for n in names)
    changed = ", ".join(f"c[{n!r}] if {n!r} in c else obj.{n}" for n in names)
    src = (f"def evolve_{rec.__name__.lower()}(obj, c):\n"
           f"    if not c:\n"
           f"        return _rec({same})\n"
           f"    if not _names.issuperset(c):\n"
           f"        raise TypeError(f\"{{type(obj).__name__}} has no field(s) {{', '.join(sorted(set(c) - _names))}}\")\n"
           f"    return _rec({changed})\n")
    namespace: dict[str, Any] = {"_rec": rec, "_names": frozenset(names)}
    exec(src, namespace)  # noqa: S102 - source built from dataclass field names only
    return namespace[f"evolve_{rec.__name__.lower()}"]


def field_names(cls: type) -> tuple[str, ...]:
    """A record's field names in declaration order, which is its positional order."""
    return tuple(f.name for f in fields(cls))


def record_builder(cls: type, source: type) -> Callable[[Any], Any]:
    """A function ``build(obj) -> cls`` that passes ``obj``'s same-named
    attributes to ``cls`` positionally, in ``cls``'s field order.

    For a mutable working copy of a record (the paper broker's order) that hands
    out frozen snapshots of itself on every event: the field list is the
    record's own, so it cannot fall out of step, and the function is generated
    as source, so a call costs what a hand-written positional call costs.
    Raises TypeError naming the fields ``source`` lacks."""
    names = field_names(cls)
    missing = [n for n in names if n not in field_names(source)]
    if missing:
        raise TypeError(f"{source.__name__} lacks {cls.__name__} field(s) {', '.join(missing)}")
    fn_name = f"{cls.__name__.lower()}_from_{source.__name__.strip('_').lower()}"
    src = f"def {fn_name}(obj):\n    return _cls({', '.join(f'obj.{n}' for n in names)})\n"
    namespace: dict[str, Any] = {"_cls": cls}
    exec(src, namespace)  # noqa: S102 - source built from dataclass field names only
    return namespace[fn_name]
