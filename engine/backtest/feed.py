"""An in-memory feed over a Dataset: bars or trades of several symbols merged in
time order (ties keep the symbol order, then file order), handed out as the same
model Trades/Bars a live feed produces.

The backtest runner iterates ``items()`` synchronously; ``ArrayFeed`` is the same
sequence behind the Feed protocol, so an Engine can be built on it (and started
like a live engine, e.g. in the parity test).
"""
from __future__ import annotations

from typing import AsyncIterator, Iterator, Union

import numpy as np

from ..feeds.base import Feed
from ..feeds.loaders import BarsArrays, TradesArrays
from ..model import Bar, FeedStatus, Trade
from .data import Dataset


def merge_order(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(symbol number, item number) of every item, sorted by timestamp (stable)."""
    series = list(ds.series.values())
    if not series:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    if len(series) == 1:
        n = len(series[0])
        return np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64)
    ts = np.concatenate([s.ts_ns for s in series])
    which = np.concatenate([np.full(len(s), k, dtype=np.int32) for k, s in enumerate(series)])
    idx = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
    order = np.argsort(ts, kind="stable")
    return which[order], idx[order]


def _records(sym: str, s: Union[BarsArrays, TradesArrays]) -> list:
    return list(s.iter_bars(sym)) if isinstance(s, BarsArrays) else list(s.iter_trades(sym))


def items(ds: Dataset) -> Iterator[Union[Bar, Trade]]:
    """Every item of the dataset as a model object, in time order."""
    syms = list(ds.series)
    if len(syms) == 1:
        yield from _records(syms[0], ds.series[syms[0]])
        return
    per = [_records(sym, ds.series[sym]) for sym in syms]
    which, idx = merge_order(ds)
    for k, i in zip(which.tolist(), idx.tolist()):
        yield per[k][i]


class ArrayFeed(Feed):
    """A Feed over a Dataset, as fast as possible (no pacing)."""

    name = "backtest"

    def __init__(self, ds: Dataset, yield_every: int = 4096) -> None:
        self.ds = ds
        self._yield_every = yield_every
        self._connected = False
        self._done = False
        self._last = 0
        self.emitted = 0

    async def start(self) -> None:
        self._connected = True

    async def stop(self) -> None:
        self._connected = False

    def items(self) -> Iterator[Union[Bar, Trade]]:
        return items(self.ds)

    async def stream(self) -> AsyncIterator[Union[Bar, Trade]]:
        import asyncio

        for item in self.items():
            self._last = item.ts_ns
            self.emitted += 1
            if self.emitted % self._yield_every == 0:
                await asyncio.sleep(0)
            yield item
        self._done = True

    def status(self) -> FeedStatus:
        return FeedStatus(name=self.name, connected=self._connected, speed=0.0, done=self._done,
                          last_data_ns=self._last, message=self.ds.description)
