"""What a UI may ask of the engine, and nothing more.

The cockpit talks to the engine only through these commands and reads the
immutable EngineSnapshot it publishes. Commands that touch money (flatten,
cancel) go straight to the broker; they never wait behind strategy work.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol, runtime_checkable

from .model import EngineSnapshot, Mode, Order, OrderDetail, Signal


@runtime_checkable
class EngineControl(Protocol):
    # -- reading
    def snapshot(self) -> EngineSnapshot:
        """The latest published snapshot (immutable, cheap to call)."""
        ...

    @property
    def version(self) -> int:
        """Increments whenever the published state changes; the UI polls it at its refresh rate."""
        ...

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called (from the engine's loop) when something a trader must see happens now
        (an order rejection, a fill, a new signal); the UI may redraw early on it."""
        ...

    # -- signals
    async def approve(self, signal_id: str) -> Optional[Signal]: ...

    async def reject(self, signal_id: str, reason: str = "rejected by trader") -> Optional[Signal]: ...

    # -- mode and entries
    def set_mode(self, mode: Mode) -> None: ...

    def pause_entries(self) -> None: ...

    def resume_entries(self) -> None: ...

    # -- money: straight to the broker
    async def flatten_all(self) -> None: ...

    async def flatten(self, symbol: str) -> None: ...

    async def cancel_all(self) -> None: ...

    async def cancel_order(self, order_id: str) -> Optional[Order]:
        """Cancel one order; its state after the request, None for an id the broker does not know."""
        ...

    # -- reading one order
    def order_detail(self, order_id: str) -> Optional[OrderDetail]:
        """The order with its bracket legs, events and fills (None: no such order known)."""
        ...

    # -- replay / simulator
    def set_speed(self, factor: float) -> None: ...

    def yield_to_input(self, seconds: float) -> None:
        """A key is being handled: hold a replay / simulator's data for up to ``seconds`` (0 ends it)."""
        ...

    def pause_feed(self) -> bool:
        """Hold the replay / simulator (data time stands still). False: a live feed, not paused."""
        ...

    def resume_feed(self) -> bool:
        """Release a held replay / simulator where it stopped. False: a live feed."""
        ...

    def speed(self) -> float: ...
