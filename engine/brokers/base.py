"""The Broker the engine trades through: the paper broker and Alpaca.

Every order carries our client order id; submitting an id a second time is
refused, never doubled. Rejections come back as an Order with status REJECTED
and a reason, never as a silent drop. Updates (fills, cancels, rejections) are
delivered as BrokerEvents to the handler given to ``set_event_handler``.

``Broker`` is an abstract base class: the commands and views every broker must
implement are abstract, and what only some brokers need (a network session to
start and stop, fills driven by market data, a restore from the store) has a
no-op default here, so the engine calls methods and never probes for them.
``BacktestBroker`` adds what the backtester alone reads (idle checks, the first
bar that can fill an order, equity at a given price).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Awaitable, Callable, Optional, Sequence

from ..model import Account, Bar, BrokerEvent, Fill, Order, OrderLeg, OrderRequest, Position, Quote, Trade
from ..stop_cover import uncovered


class Broker(ABC):
    kind: str = ""  # "SIMULATED" | "PAPER" | "LIVE"

    # ------------------------------------------------------------------ wiring

    @abstractmethod
    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None: ...

    def set_reconcile_handler(self, handler: Callable[[list[str]], None]) -> None:
        """Where lines describing a reconcile with the real account go (a network broker)."""

    def set_protect_handler(self, handler: Callable[[str], Awaitable[None]]) -> None:
        """Who gives a symbol's position stops for its uncovered shares (the router's
        ``protect``): a broker whose own steps can leave part of a position without a
        stop (a pegged entry at Alpaca cancelled part-filled) awaits it right there."""

    async def start(self) -> list[str]:
        """Connect and reconcile; returns what the reconcile changed, one line each."""
        return []

    async def stop(self) -> None:
        """Disconnect (a network broker)."""

    # ------------------------------------------------------------------ commands

    @abstractmethod
    async def submit(self, request: OrderRequest) -> Order:
        """Submit an order (a bracket when take_profit and stop_loss are set).
        Returns the entry order; status REJECTED with a reason when refused."""

    @abstractmethod
    async def cancel(self, order_id: str) -> Optional[Order]: ...

    @abstractmethod
    async def cancel_all(self) -> list[Order]: ...

    @abstractmethod
    async def close_all(self) -> list[Order]:
        """Cancel every open order, then close every position at market."""

    @abstractmethod
    async def close(self, symbol: str) -> list[Order]:
        """Cancel the symbol's open orders and close its position at market."""

    @abstractmethod
    async def replace_stop(self, symbol: str, new_stop: float) -> Optional[Order]:
        """Move the protective stop of the symbol's position (break-even, trailing)."""

    async def check_orders(self, symbol: str) -> list[str]:
        """After a refused exit action: look up the real state of the symbol's
        orders at the broker and say what is wrong, one line each (e.g. a
        position left without a stop). A broker whose book is its own has
        nothing to look up."""
        return []

    def check_timeouts(self) -> list[Order]:
        """Expire working orders past their timeout (a broker that keeps the timers)."""
        return []

    # ------------------------------------------------------------------ views

    @abstractmethod
    def positions(self) -> list[Position]: ...

    @abstractmethod
    def open_orders(self) -> list[Order]: ...

    @abstractmethod
    def recent_orders(self, n: int = 50) -> list[Order]: ...

    @abstractmethod
    def account(self) -> Account: ...

    def position(self, symbol: str) -> Optional[Position]:
        return next((p for p in self.positions() if p.symbol == symbol), None)

    def order(self, order_id: str) -> Optional[Order]:
        """An order this broker knows (open or not) by its id, else None."""
        return next((o for o in self.recent_orders(200) if o.id == order_id), None)

    def uncovered(self) -> dict[str, int]:
        """Symbol -> shares of its open position that no working stop order at the broker
        covers (``engine/stop_cover.py``; only symbols with some). A stop whose submit
        outcome is UNKNOWN does not count: it may not exist."""
        return uncovered(self.positions(), self.open_orders(), self.order)

    def unprotected(self) -> list[str]:
        """Symbols whose open position is not wholly covered by working stop orders."""
        return sorted(self.uncovered())

    def can_price_market(self, symbol: str) -> bool:
        """Whether a market order in ``symbol`` can be taken now: a real broker prices it
        itself; a simulated one needs a price of the market first (the paper broker's last
        trade or quote; none right after a restart until the feed gives one)."""
        return True

    def has_exposure(self, symbol: str) -> bool:
        """A position, or an entry order that may become one."""
        if any(p.symbol == symbol and p.qty != 0 for p in self.positions()):
            return True
        return any(o.symbol == symbol and o.leg is OrderLeg.ENTRY for o in self.open_orders())

    def order_count(self) -> int:
        """Orders taken in this run."""
        return len(self.recent_orders(10_000))

    # ------------------------------------------------------------------ market data and the day

    def on_trade(self, trade: Trade) -> None:
        """A simulated broker fills from market data; a real one ignores it."""

    def on_bar(self, bar: Bar) -> None:
        """A simulated broker fills from market data; a real one ignores it."""

    def on_quote(self, quote: Quote) -> None:
        """A simulated broker fills from market data; a real one ignores it."""

    @property
    def fills_from_market_data(self) -> bool:
        """Whether on_trade/on_bar/on_quote matter (the engine skips them otherwise)."""
        return False

    @property
    def follows_quotes(self) -> bool:
        """Whether on_quote matters: a simulated broker fills from the tape, and a real
        one that pegs entries (engine/peg.py) follows the feed's bid/ask."""
        return self.fills_from_market_data

    # ------------------------------------------------------------------ pegged entries

    def peg_progress(self, order_id: str) -> Optional[dict]:
        """A working pegged entry's progress (``engine.peg.progress``: its window, re-pegs
        used, working price), which the router journals so a restart can resume it;
        None when ``order_id`` is not a working pegged entry."""
        return None

    def carry_pegs(self, saved: Sequence[dict]) -> None:
        """Before ``restore``: the journaled progress of the pegged entries the last run
        left working (newest per entry). A broker that pegs resumes each one whose window
        has time left and cancels the others with the reason; one that does not ignores it."""

    def start_of_day(self, ts_ns: int) -> None:
        """A new session began: start-of-day equity := current equity."""

    def restore(self, positions, open_orders: Sequence[Order], account: Optional[Account] = None, *,
                fills: Sequence[Fill] = (), since_ns: int = 0) -> None:
        """After a restart, the state the store kept: a simulated broker carries on
        from it; a real broker takes it as what it believed, so its reconcile can
        tell what changed and emit only the fills not in ``fills`` (this
        session's, recorded since ``since_ns``, the session start)."""


class BacktestBroker(Broker):
    """What the backtester reads besides the Broker interface, to skip bars on
    which provably nothing can happen."""

    @abstractmethod
    def is_idle(self, symbol: str) -> bool:
        """No position and no working order in ``symbol``."""

    @abstractmethod
    def first_touch(self, symbol: str, highs, lows, start: int, stop: int) -> int:
        """The first bar index in [start, stop) whose range could fill a working order, else stop."""

    @abstractmethod
    def equity_with_last(self, symbol: str, price: float) -> float:
        """Equity if ``symbol`` last traded at ``price``."""

    @abstractmethod
    def equity(self) -> float: ...
