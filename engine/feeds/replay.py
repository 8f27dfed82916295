"""Replay of a recorded trades or 1-minute bars file, in data time / speed.

The file is loaded once into numpy arrays (engine.feeds.loaders) and handed out
as model Trades or Bars in file order. Speed 1 is real time, 10 is ten times
faster, 0 is as fast as possible (still yielding to the event loop regularly).
Pause, resume and speed changes act at once. The engine advances its data clock
from the items, so its time is the data's time.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Optional, Union

from .base import MarketData
from .loaders import BarsArrays, DataArrays, TradesArrays, iter_records, load
from .pacing import PacedFeed, Pacer


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
    ) -> None:
        self.symbol = symbol
        self._source = source
        self._data: Optional[DataArrays] = source if isinstance(source, (TradesArrays, BarsArrays)) else None
        self._pacer = Pacer(speed, yield_every=yield_every, max_gap_s=max_gap_s)
        self._connected = False
        self._done = False
        self._emitted = 0
        self._last_data_ns = 0
        self._message = ""

    # ------------------------------------------------------------------ lifecycle

    @property
    def data(self) -> DataArrays:
        """The loaded arrays (loading the file on first use)."""
        if self._data is None:
            self._data = load(self._source)  # type: ignore[arg-type]
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
        for item in iter_records(self.data, self.symbol):
            await pacer.wait_for(item.ts_ns)
            if pacer.stopped:
                break
            self._last_data_ns = item.ts_ns
            self._emitted += 1
            yield item
        else:
            self._done = True

    # ------------------------------------------------------------------ control

    def status_message(self) -> str:
        return self._message
