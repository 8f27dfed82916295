"""The Feed: anything that produces market data for the engine.

A feed is started, yields Trades / Bars / Quotes in time order from ``stream()``,
reports a FeedStatus, and is stopped. What only some feeds offer has a default
here, so the engine calls methods and never probes for them:

- ``previous_session_bars()``: bars of the session before the first streamed one
  (the balance range and previous profile at the open); none by default.
- ``backfill()``: history from the data vendor (a live start catches up on the
  previous session and today so far); ``can_backfill`` says whether it exists.
- ``finished_line()``: the one journal line said when the stream ends
  ("replay finished: 45,031 bars").
- ``drain_notices()``: what the trader must see about the feed itself (dropped
  symbols, reconnects, skipped data) as journal entries; none by default. An
  entry of kind "malformed" stands for ``data["count"]`` skipped items, which
  the engine adds to the run's malformed total (feeds/notices.py).

``ControllableFeed`` (replay and simulator) adds speed, pause and resume.
Feeds never move the engine's clock: the engine advances data time itself
from the items it is handed.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import AsyncIterator, Union

from ..model import Bar, FeedStatus, Heartbeat, JournalEntry, Quote, Trade

MarketData = Union[Trade, Bar, Quote, Heartbeat]


class Feed(ABC):
    name: str = "feed"
    can_backfill: bool = False

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def stream(self) -> AsyncIterator[MarketData]: ...

    @abstractmethod
    def status(self) -> FeedStatus: ...

    def previous_session_bars(self) -> list[Bar]:
        return []

    async def backfill(self, symbol: str, start_ns: int, end_ns: int, kind: str = "trades") -> list[MarketData]:
        """Items of ``symbol`` in [start_ns, end_ns): ``kind`` "trades" or "bars"."""
        return []

    def drain_notices(self) -> list[JournalEntry]:
        return []

    def finished_line(self) -> str:
        """The one journal line when the stream has ended (a replay, the simulated days)."""
        return f"{self.name} finished"

    @property
    def controllable(self) -> bool:
        """Whether set_speed / pause / resume do anything (a live feed runs at the market's pace)."""
        return False

    def set_speed(self, factor: float) -> None:
        """Replay speed (0 = as fast as possible); a live feed ignores it."""

    def pause(self) -> None:
        """Hold the stream; a live feed ignores it."""

    def resume(self) -> None:
        """Release a paused stream; a live feed ignores it."""

    def fast_forward(self) -> None:
        """Hand items out as fast as possible (data time races ahead) until
        ``pace_from_here()``; a live feed ignores it."""

    def pace_from_here(self) -> None:
        """End a ``fast_forward``: pace from the next item at the current speed."""

    def hold_for(self, seconds: float) -> None:
        """Hand out nothing more for up to ``seconds`` of wall time (0 ends it), so a
        trader's key is handled first; a live feed ignores it."""


class ControllableFeed(Feed):
    """Replay and simulator: time can be sped up, slowed and paused."""

    @property
    def controllable(self) -> bool:
        return True

    @abstractmethod
    def set_speed(self, factor: float) -> None: ...

    @abstractmethod
    def pause(self) -> None: ...

    @abstractmethod
    def resume(self) -> None: ...
