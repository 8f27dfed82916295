"""An in-memory feed over a Dataset: bars or trades of several symbols merged in
time order (ties keep the symbol order, then file order), handed out as the same
model Trades/Bars a live feed produces.

With ``quotes`` (a pegged run: the peg follows the bid/ask, engine/peg.py), trades
that carry the quote prevailing before them (the ../shared/data trades files) are
preceded by a ``Quote`` at the trade's data time whenever the symbol's bid/ask
changed (feeds/quoted.py, shared with the live replay), as the simulator and the
Alpaca feed hand them out. Other runs get no quotes, as a live run without pegged
entries asks for none.

The backtest runner iterates ``items()`` synchronously; ``ArrayFeed`` is the same
sequence behind the Feed protocol, so an Engine can be built on it (and started
like a live engine, e.g. in the parity test).
"""
from __future__ import annotations

from typing import AsyncIterator, Iterator, Union

import numpy as np

from ..feeds.base import Feed
from ..feeds.loaders import BarsArrays, TradesArrays
from ..feeds.quoted import iter_quoted, quoted_trades
from ..model import Bar, FeedStatus, Quote, Trade
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


def items(ds: Dataset, quotes: bool = False) -> Iterator[Union[Bar, Trade, Quote]]:
    """Every item of the dataset as a model object, in time order; with ``quotes``, each
    trade whose prevailing quote changed comes after that ``Quote`` (module doc). One
    symbol without quotes: an iterator over its records' list (no generator step per item)."""
    syms = list(ds.series)
    if len(syms) == 1 and not (quotes and ds.kind == "trades"):
        return iter(_records(syms[0], ds.series[syms[0]]))
    return _merged(ds, syms, quotes)


def _merged(ds: Dataset, syms: list, quotes: bool) -> Iterator[Union[Bar, Trade, Quote]]:
    """``items`` of several symbols, or with quotes."""
    if quotes and ds.kind == "trades":
        if len(syms) == 1:
            yield from iter_quoted(syms[0], ds.series[syms[0]])
            return
        per_q = [quoted_trades(sym, ds.series[sym]) for sym in syms]
        which, idx = merge_order(ds)
        for k, i in zip(which.tolist(), idx.tolist()):
            yield from per_q[k][i]
        return
    per = [_records(sym, ds.series[sym]) for sym in syms]
    which, idx = merge_order(ds)
    for k, i in zip(which.tolist(), idx.tolist()):
        yield per[k][i]


class ArrayFeed(Feed):
    """A Feed over a Dataset, as fast as possible (no pacing); ``quotes``: hand out the
    trades' prevailing quotes too (a pegged run, module doc)."""

    name = "backtest"

    def __init__(self, ds: Dataset, yield_every: int = 4096, quotes: bool = False) -> None:
        self.ds = ds
        self.quotes = quotes
        self.quotes_out = 0  # Quotes handed out by ``items()``: not data rows (a run counts the trades)
        self._yield_every = yield_every
        self._connected = False
        self._done = False
        self._last = 0
        self.emitted = 0

    async def start(self) -> None:
        self._connected = True

    async def stop(self) -> None:
        self._connected = False

    def items(self) -> Iterator[Union[Bar, Trade, Quote]]:
        if not self.quotes:
            return items(self.ds)
        return self._counted(items(self.ds, True))

    def _counted(self, it: Iterator) -> Iterator:
        for x in it:
            if type(x) is Quote:
                self.quotes_out += 1
            yield x

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
