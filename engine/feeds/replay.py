"""Replay of a recorded trades or 1-minute bars file, in data time / speed.

The file is loaded once into numpy arrays (engine.feeds.loaders) and handed out
as model Trades or Bars in file order. Speed 1 is real time, 10 is ten times
faster, 0 is as fast as possible (still yielding to the event loop regularly).
Pause, resume and speed changes act at once. The engine advances its data clock
from the items, so its time is the data's time.

With ``quotes`` (a pegged run, whose entries follow the bid/ask) a trades file that
carries the prevailing quote (bid and ask columns, as ../shared/data's) hands out a
``Quote`` before each trade whose bid/ask changed, as the backtester does
(feeds/quoted.py); other runs get the trades alone.

A file is loaded when the feed is made, so an unreadable file is refused before
anything starts (``DataFileError``, one line naming the file and the problem).
Every row the loader skipped is journaled by ``drain_notices()`` (the first
``JOURNALED_ROWS`` one by one with line number and reason, the rest in one entry),
which also puts them in the run's malformed total.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Optional, Union

from ..model import JournalEntry, Quote
from .base import MarketData
from .loaders import BarsArrays, DataArrays, TradesArrays, iter_records, load
from .quoted import iter_quoted
from .notices import SkippedLog
from .pacing import PacedFeed, Pacer

JOURNALED_ROWS = 100  # skipped rows journaled one by one; the rest in one entry


class ReplayFeed(PacedFeed):
    """Feed + ControllableFeed over a recorded file (or arrays already loaded)."""

    name = "replay"

    def __init__(
        self,
        source: Union[str, Path, TradesArrays, BarsArrays],
        symbol: str,
        speed: float = 1.0,
        yield_every: int = 512,
        max_gap_s: Optional[float] = None,
        quotes: bool = False,
    ) -> None:
        self.symbol = symbol
        self._source = source
        self._data: DataArrays = source if isinstance(source, (TradesArrays, BarsArrays)) else load(source)
        self.quotes = quotes and isinstance(self._data, TradesArrays)  # a bars file carries no quotes
        self._pacer = Pacer(speed, yield_every=yield_every, max_gap_s=max_gap_s)
        self._connected = False
        self._done = False
        self._emitted = 0  # the file's rows handed out (the quotes are not rows)
        self.quotes_out = 0
        self._last_data_ns = 0
        self._message = ""
        data = self._data
        name = Path(str(data.source)).name or "arrays"
        first_ns = int(data.ts_ns[0]) if len(data) else 0
        self._skipped = SkippedLog(f"replay of {name}", lambda: self._last_data_ns or first_ns, cap=JOURNALED_ROWS,
                                   hint=f"`cockpit analyze {data.source} --json` lists every one")
        for line, reason in data.malformed.rows:
            self._skipped.add(f"line {line}: {reason}", symbol, {"line": line})

    # ------------------------------------------------------------------ lifecycle

    @property
    def data(self) -> DataArrays:
        """The loaded arrays."""
        return self._data

    async def start(self) -> None:
        data = self.data
        self._connected = True
        bad = data.malformed.count
        self._message = f"{len(data)} {data.kind} from {Path(str(data.source)).name or 'arrays'}" + (
            f", {bad} malformed rows skipped" if bad else ""
        )

    async def stop(self) -> None:
        self._pacer.stop()
        self._connected = False

    async def stream(self) -> AsyncIterator[MarketData]:
        if not self._connected:
            await self.start()
        pacer = self._pacer
        records = iter_quoted(self.symbol, self.data) if self.quotes else iter_records(self.data, self.symbol)
        for item in records:
            await pacer.wait_for(item.ts_ns)
            if pacer.stopped:
                break
            self._last_data_ns = item.ts_ns
            if type(item) is Quote:
                self.quotes_out += 1
            else:
                self._emitted += 1
            yield item
        else:
            self._done = True

    # ------------------------------------------------------------------ control

    def status_message(self) -> str:
        return self._message

    def finished_line(self) -> str:
        return f"replay finished: {self._emitted:,} {self.data.kind}"

    def drain_notices(self) -> list[JournalEntry]:
        """The rows the loader skipped (once; kind "malformed", counted by the engine)."""
        return self._skipped.drain()
