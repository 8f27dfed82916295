"""Price sanity: one absurd print must not reach the broker or the analytics.

Feeds only promise "a number"; the analytics only check "finite and above
zero". A print at 1000x the price (a fat finger, a decimal shift, a bad
consolidated tick) would otherwise fill a simulated order, move every profile
and, through the dense histograms, cost memory and time in proportion to the
range it spans; a print at 1e308 overflows the bin maths. So every trade and
bar passes a :class:`PriceBand` (one per symbol) before anything else sees it.

What a band rejects:

- always (structural): a price outside ``[PRICE_FLOOR, PRICE_CEILING]`` (the
  bin maths and ``auto_bin_size`` are exact well inside it), and a price that
  would make the prices the analytics have seen span more than
  ``MAX_PROFILE_BINS`` profile bins (what bounds every profile's memory and
  time, whatever the band setting);
- with ``price_band_pct`` = N > 0: a price whose ratio to the last good price
  is above ``1 + N/100`` or below ``1 / (1 + N/100)`` (N = 50: up 50% or down
  33%), *unless* it is confirmed: ``confirm_prints`` prints in a row (trades
  or bars) that agree with each other (each within the band of the first) and
  not with the old price. The last of them is accepted and becomes the new
  reference, so a real gap or a halt reopening costs ``confirm_prints - 1``
  prints and a single bad print (or fewer than ``confirm_prints`` in a row)
  costs nothing. A print back inside the band of the old price drops the
  candidate level.

A bar is judged by its open, high, low and close together (all must be good),
and its close becomes the reference. A price that is not a positive finite
number is left to the analytics, which reject it as malformed as they always
did (and the band learns nothing from it).

The band compares against a reference it moves only when the price leaves an
inner window of a tenth of the band around it (or leaves the range seen so
far), so a good print costs two float comparisons (the hot path).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .analytics.profile import MAX_PROFILE_BINS
from .config import PriceBandParams

PRICE_FLOOR = 1e-6  # below this auto_bin_size has no round bin to give
PRICE_CEILING = 1e9  # far above any traded price; bin edges stay exact below it
_INNER = 0.1  # the part of the band a print may move before the reference follows
_INF = math.inf


def _price_problem(p: float) -> Optional[str]:
    if p < PRICE_FLOOR:
        return f"price {p!r} is below the floor {PRICE_FLOOR:g}"
    if p > PRICE_CEILING:
        return f"price {p!r} is above the ceiling {PRICE_CEILING:g}"
    return None


def _positive_finite(p) -> bool:
    return isinstance(p, (float, int)) and not isinstance(p, bool) and 0.0 < p < _INF


class PriceBand:
    """One symbol's band. ``fast_lo <= price <= fast_hi`` is the hot-path test (a
    price inside needs no judging); everything else goes through :meth:`judge`."""

    __slots__ = ("ratio", "confirm", "ref", "low", "high", "fast_lo", "fast_hi", "candidate", "candidate_n")

    def __init__(self, params: PriceBandParams) -> None:
        pct = params.price_band_pct
        self.ratio = 1.0 + pct / 100.0 if pct > 0 else 0.0  # 0: the band is off
        self.confirm = params.confirm_prints
        self.ref = 0.0  # the last good price the band is centred on (0: none yet)
        self.low = _INF  # the range of the good prices so far (the analytics' range)
        self.high = -_INF
        self.fast_lo = _INF  # empty until the first good price
        self.fast_hi = -_INF
        self.candidate = 0.0  # a new level seen but not yet confirmed
        self.candidate_n = 0

    # ------------------------------------------------------------------ judging

    def judge(self, prices: tuple, bin_size: Optional[float]) -> tuple[Optional[str], bool]:
        """(why the prices are rejected or None, whether they confirmed a new
        level). ``prices``: one trade's price, or a bar's open/high/low/close
        (the last is the new reference). ``bin_size``: the symbol's profile bin
        (None before its first price)."""
        for p in prices:
            if not _positive_finite(p):
                return None, False  # the analytics reject it, as for any malformed value
        for p in prices:
            problem = _price_problem(p)
            if problem is not None:
                return problem, False
        lo, hi = min(prices), max(prices)
        if bin_size and self.ref:
            span = (max(hi, self.high) - min(lo, self.low)) / bin_size
            if span > MAX_PROFILE_BINS:
                return (f"price {(hi if hi > self.high else lo)!r} would make the profiles span {span:,.0f} bins "
                        f"of {bin_size:g} (at most {MAX_PROFILE_BINS:,})"), False
        last = prices[-1]
        ratio = self.ratio
        if not ratio or not self.ref or self._within(lo, hi, self.ref):
            self.candidate_n = 0
            self._accept(lo, hi, last)
            return None, False
        cand = self.candidate
        if self.candidate_n and self._within(lo, hi, cand):
            self.candidate_n += 1
        elif self._within(lo, hi, last):
            self.candidate, self.candidate_n = last, 1
        else:
            self.candidate_n = 0  # a bar wider than the band: no level to confirm
        if self.candidate_n >= self.confirm:
            self.candidate_n = 0
            self._accept(lo, hi, last)
            return None, True
        move = (last / self.ref - 1.0) * 100.0
        return (f"price {last!r} is {move:+.1f}% from the last good price {self.ref!r} (band "
                f"{(ratio - 1.0) * 100:g}%; {self.candidate_n}/{self.confirm} prints at the new level)"), False

    def _within(self, lo: float, hi: float, ref: float) -> bool:
        return ref / self.ratio <= lo and hi <= ref * self.ratio

    def _accept(self, lo: float, hi: float, last: float) -> None:
        if lo < self.low:
            self.low = lo
        if hi > self.high:
            self.high = hi
        self.ref = last
        # the fast window: near the reference and inside the range already seen
        if self.ratio:
            inner = 1.0 + (self.ratio - 1.0) * _INNER
            self.fast_lo = max(last / inner, self.low)
            self.fast_hi = min(last * inner, self.high)
        else:
            self.fast_lo, self.fast_hi = self.low, self.high


@dataclass
class RejectLog:
    """How often bad prints are journaled: the first of a symbol at once, then at
    most one line per ``every_ns`` of clock time saying how many were skipped
    since (a storm of bad prints is counted in full but not written line by line)."""

    every_ns: int = 60 * 1_000_000_000
    last_ns: dict = None  # symbol -> clock time of its last line
    held: dict = None  # symbol -> bad prints counted but not yet written

    def __post_init__(self) -> None:
        self.last_ns, self.held = {}, {}

    def due(self, symbol: str, now_ns: int) -> int:
        """0: hold this one back; else the number of bad prints the line stands for."""
        n = self.held.get(symbol, 0) + 1
        last = self.last_ns.get(symbol)
        if last is not None and now_ns - last < self.every_ns:
            self.held[symbol] = n
            return 0
        self.last_ns[symbol] = now_ns
        self.held[symbol] = 0
        return n
