"""One-minute bars from classified trades.

A bar is open while trades of its minute arrive. It closes when a trade of a
later minute arrives, or when ``close_until(ts_ns)`` says that time has passed
beyond the bar's end (the timer calls it when no trades come). A minute with no
trades produces no bar: an empty bar has no price, and inventing one (the
previous close, zero volume) would put fake zero-volume bars into the volume
ratio and fake flat true ranges into the ATR.

A trade stamped in an earlier minute than the open bar (a late print, within the
caller's tolerance) is added to the open bar: closed bars never change.

The bar carries buy/sell volume (unknown-side volume is in neither), the number
of trades, the VWAP of its prints and its volume at price
``((bin centre, volume), ...)`` so the profiles can be rebuilt exactly from
stored bars.
"""
from __future__ import annotations

import math
from typing import Optional

from ..model import NS_PER_MIN, Bar
from .profile import BIN_EPS, bin_centre

NAN = float("nan")
_floor = math.floor  # (a module global: one lookup per trade, not two)


class MinuteBarBuilder:
    __slots__ = (
        "symbol", "bin_size", "minute", "open", "high", "low", "close",
        "volume", "buy", "sell", "trades", "pv", "vap", "close_bin",
    )

    def __init__(self, symbol: str, bin_size: float) -> None:
        self.symbol = symbol
        self.bin_size = bin_size
        self.minute = -1  # start ns of the open bar; -1 = no open bar
        self.vap: dict[int, float] = {}
        self.close_bin = 0  # the price bin of the open bar's last trade (valid while a bar is open)
        self._reset()

    def _reset(self) -> None:
        self.open = self.high = self.low = self.close = NAN
        self.volume = self.buy = self.sell = self.pv = 0.0
        self.trades = 0
        self.vap = {}

    @property
    def is_open(self) -> bool:
        return self.minute >= 0

    def add(self, ts_ns: int, price: float, size: float, side: int) -> Optional[Bar]:
        """Add a classified trade; returns the bar it closed, if any.

        A trade at the open bar's last price (about a third of real prints) changes
        neither its high nor its low and lands in the last trade's price bin, which
        is kept (``close_bin``) rather than worked out again."""
        m = ts_ns - ts_ns % NS_PER_MIN
        closed = None
        vap = self.vap
        if m > self.minute:
            if self.minute >= 0:
                closed = self.close_bar()
                vap = self.vap
            self.minute = m
            self.open = self.high = self.low = price
            i = self.close_bin = _floor(price / self.bin_size + BIN_EPS)
            vap[i] = vap.get(i, 0.0) + size
        elif price == self.close:
            vap[self.close_bin] += size
        else:
            if price > self.high:
                self.high = price
            elif price < self.low:
                self.low = price
            i = self.close_bin = _floor(price / self.bin_size + BIN_EPS)
            vap[i] = vap.get(i, 0.0) + size
        self.close = price
        self.volume += size
        if side > 0:
            self.buy += size
        elif side < 0:
            self.sell += size
        self.trades += 1
        self.pv += price * size
        return closed

    def close_until(self, ts_ns: int) -> Optional[Bar]:
        """Close the open bar if ``ts_ns`` is at or past its end."""
        if self.minute >= 0 and ts_ns >= self.minute + NS_PER_MIN:
            return self.close_bar()
        return None

    def close_bar(self) -> Bar:
        bs = self.bin_size
        vap = self.vap
        bar = Bar(
            symbol=self.symbol,
            ts_ns=self.minute,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            buy_volume=self.buy,
            sell_volume=self.sell,
            trades=self.trades,
            vwap=self.pv / self.volume,
            vap=tuple((bin_centre(i, bs), vap[i]) for i in sorted(vap)),
        )
        self.minute = -1
        self._reset()
        return bar

    def bins(self) -> dict[int, float]:
        """The open bar's volume at price (bin -> volume); do not mutate."""
        return self.vap
