"""The Broker protocol the engine trades through: the paper broker and Alpaca.

Every order carries our client order id; submitting an id a second time is
refused, never doubled. Rejections come back as an Order with status REJECTED
and a reason, never as a silent drop. Updates (fills, cancels, rejections) are
delivered as BrokerEvents through ``events()`` / the ``on_event`` callback.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol, runtime_checkable

from ..model import Account, Bar, BrokerEvent, Order, OrderRequest, Position, Quote, Trade


@runtime_checkable
class Broker(Protocol):
    kind: str  # "SIMULATED" | "PAPER" | "LIVE"

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None: ...

    async def submit(self, request: OrderRequest) -> Order:
        """Submit an order (a bracket when take_profit and stop_loss are set).
        Returns the entry order; status REJECTED with a reason when refused."""
        ...

    async def cancel_all(self) -> list[Order]: ...

    async def close_all(self) -> list[Order]:
        """Cancel every open order, then close every position at market."""
        ...

    async def close(self, symbol: str) -> list[Order]:
        """Cancel the symbol's open orders and close its position at market."""
        ...

    async def cancel(self, order_id: str) -> Optional[Order]: ...

    async def replace_stop(self, symbol: str, new_stop: float) -> Optional[Order]:
        """Move the protective stop of the symbol's position (break-even, trailing)."""
        ...

    def positions(self) -> list[Position]: ...

    def open_orders(self) -> list[Order]: ...

    def recent_orders(self, n: int = 50) -> list[Order]: ...

    def account(self) -> Account: ...


class MarketDrivenBroker(Broker, Protocol):
    """A simulated broker fills from the feed: it must see every trade / bar."""

    def on_trade(self, trade: Trade) -> None: ...

    def on_bar(self, bar: Bar) -> None: ...

    def on_quote(self, quote: Quote) -> None: ...

    def start_of_day(self, ts_ns: int) -> None:
        """A new session began: start-of-day equity := current equity."""
        ...
