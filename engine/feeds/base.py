"""The Feed protocol: anything that produces market data for the engine.

A feed is started, yields Trades / Bars / Quotes in time order from ``stream()``,
reports a FeedStatus, and is stopped. Replay and simulator feeds also take a
speed factor (0 = as fast as possible) and pause/resume.
"""
from __future__ import annotations

from typing import AsyncIterator, Protocol, Union, runtime_checkable

from ..model import Bar, FeedStatus, Quote, Trade

MarketData = Union[Trade, Bar, Quote]


@runtime_checkable
class Feed(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def stream(self) -> AsyncIterator[MarketData]: ...

    def status(self) -> FeedStatus: ...


@runtime_checkable
class ControllableFeed(Feed, Protocol):
    """Replay and simulator: time can be sped up, slowed and paused."""

    def set_speed(self, factor: float) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...
