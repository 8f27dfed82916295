"""The quotes a trades file carries (the bid/ask prevailing before each trade, as
../shared/data's trades files have them), handed out as ``Quote`` items for a pegged
run, whose entries follow the bid/ask (engine/peg.py): by the backtester
(backtest/feed.py) and by a live replay of the file (feeds/replay.py) alike, so both
peg on the same quotes at the same data times.

A ``Quote`` comes at a trade's data time, just before the trade, whenever the
symbol's bid/ask changed since the last one handed out (the first known quote
included); a trade without a quote (NaN) hands out none and keeps the last one
standing. Runs that do not peg get no quotes, as a live feed asks for none.
"""
from __future__ import annotations

from typing import Iterator, Union

import numpy as np

from ..model import Quote, Trade
from .loaders import BarsArrays, TradesArrays


def has_quotes(s: Union[BarsArrays, TradesArrays]) -> bool:
    """Whether a series carries a usable bid/ask (a trades file with bid and ask columns)."""
    return isinstance(s, TradesArrays) and bool(np.any(~np.isnan(s.bid) & ~np.isnan(s.ask)))


def _quoted(sym: str, s: TradesArrays) -> Iterator[tuple]:
    last = None
    for t in s.iter_trades(sym):
        q = (t.bid, t.ask)
        if t.bid is not None and t.ask is not None and q != last:
            last = q
            yield Quote(sym, t.ts_ns, t.bid, t.ask), t
        else:
            yield (t,)


def quoted_trades(sym: str, s: TradesArrays) -> list[tuple]:
    """One entry per trade: ``(Quote, Trade)`` when the trade's prevailing bid/ask differs
    from the last one handed out, else ``(Trade,)`` (module doc); for merging symbols."""
    return list(_quoted(sym, s))


def iter_quoted(sym: str, s: TradesArrays) -> Iterator[Union[Quote, Trade]]:
    """The trades of one symbol in file order, each after its ``Quote`` when the quote changed."""
    for group in _quoted(sym, s):
        yield from group
