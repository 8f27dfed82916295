"""Volume profiles (STRATEGY.md section 2): POC, value area, HVN/LVN.

Bins are integers: ``bin = floor(price / bin_size + 1e-6)``. The small guard
keeps a price that sits on a bin edge (20.01 with 0.01 bins is
2000.9999999999998 bins in floating point) in the bin it names. Bin ``i``
covers ``[i*bin_size, (i+1)*bin_size)``; its centre is ``(i+0.5)*bin_size``.
Prices derived from bins are rounded to 10 decimals so 0.01 bins print as 20.01
and not 20.010000000000002.

Volumes are exact. A profile holds integers: volume in units of
``10**-VOLUME_DECIMALS`` (1e-9) of the instrument's volume unit, so that sizes
given in decimals (0.7 BTC, 100 shares, 0.001 of a fractional share) add, and
subtract again when a bar leaves the rolling window, without rounding residue.
Every comparison the rules below make (POC ties, value-area pair ties and its
target, the LVN/HVN thresholds and prominences) is a comparison of integers or
of exact rationals, so ties are ties and a volume of exactly ``0.35 x`` the mean
is at the threshold. Where the volume comes from:

- a trade's size, or a bar's volume at price as one float per bin, is read as
  the nearest whole number of units (:func:`volume_units`). A bar built from
  trades sums its sizes per bin in floating point (the per-trade hot path
  stays a float addition): exact for integer sizes; for decimal sizes the sum
  is within half a unit of the decimal sum unless one bin of one bar gathers
  thousands of fractional prints adding up to a million or more;
- a bar without trades spreads its volume (in units) evenly over the ``n``
  bins of its range: each gets ``units / n``, which need not be whole. A
  profile that holds such shares counts in units of ``1 / per`` unit, ``per``
  the least common multiple of the ``n`` it has spread over (it grows when a
  bar needs it, every bin multiplied by the factor), so the shares stay
  integers too (:class:`SpreadBins` carries a bar's spread).
- Thresholds given as parameters (``value_area_pct``, ``lvn_ratio``,
  ``lvn_prominence``, ``hvn_ratio``, ``hvn_prominence``) are read as the
  decimals they are written as: 0.35 is 7/20 (:func:`exact_ratio`).

Volumes come out (total, value area volume, node volumes, histogram) as the
nearest double to the exact value, whichever order the volume arrived in: the
incremental profiles (:class:`VolumeProfile`, a dict; :class:`DenseProfile`, a
list for the per-bar rolling and session profiles) and the array functions
(:mod:`.batch`) give identical ProfileStats.

Rules (exact):

- POC: the bin with the most volume; a tie goes to the bin nearest the middle of
  the profile's range (by bin index), then to the lower price.
- Value area: start at the POC; compare the next two bins above with the next
  two bins below (near an edge a "pair" is what is left: one bin or none); add
  the larger pair; a tie adds the pair above (when there is one above); stop as
  soon as the area holds ``>= value_area_pct`` % of the total. VAL/VAH are the
  bottom edge of the lowest and the top edge of the highest bin of the area.
- Smoothing: centered moving average over ``smooth_bins`` bins (for even widths
  the extra bin is on the upper side). At the ends of the range the window is
  truncated and the average is over the bins that exist (no padding with zeros).
- LVN: a local minimum of the smoothed histogram strictly inside the range (a
  flat bottom of several equal bins is one minimum, reported at its middle bin,
  the lower middle for an even run), whose smoothed volume is
  ``<= lvn_ratio x`` the mean of the non-empty raw bins, and whose prominence is
  ``>= lvn_prominence x`` the POC (raw) volume. Prominence: walk left from the
  minimum until a bin strictly lower than it (the next deeper minimum) or the
  end of the range, take the highest smoothed bin on the way; the same to the
  right; prominence is the lower of those two peaks minus the minimum's volume.
- HVN: the mirror image (local maximum strictly inside the range, smoothed volume
  ``>= hvn_ratio x`` mean of non-empty bins, prominence = its volume minus the
  higher of the lowest bins on either side up to the next higher maximum,
  ``>= hvn_prominence x`` POC volume).

Node price is the bin centre; node volume is the smoothed volume.

Bounds: a profile spans at most ``MAX_PROFILE_BINS`` bins (lowest to highest
bin it was given). Memory and the time of its statistics grow with the span,
so one absurd price would otherwise cost the whole range between it and the
real ones; beyond the bound the profiles raise :class:`ProfileRangeError`
(nothing is added) and a price whose bin is not a finite number raises it too
(never OverflowError). The engine keeps prices inside the bound before they
reach the analytics (engine/sanity.py), so these are a last guard.
"""
from __future__ import annotations

import math
from dataclasses import fields
from fractions import Fraction
from functools import lru_cache
from itertools import compress, islice, repeat
from operator import ge, le
from typing import Iterable, Optional

import numpy as np

from ..config import StrategyParams
from ..model import Node, ProfileStats

BIN_EPS = 1e-6
PRICE_DECIMALS = 10
_ROUND_STEPS = (1.0, 2.0, 2.5, 5.0)

VOLUME_DECIMALS = 9
UNITS_PER_VOLUME = 10**VOLUME_DECIMALS  # the integer volume unit is 1e-9 of the instrument's
_UNIT = float(UNITS_PER_VOLUME)


def volume_units(volume: float) -> int:
    """A volume as the nearest whole number of units (1e-9; half to even).
    Up to about 2e6 of volume with at most 9 decimals this is the decimal the
    double was read from; beyond, the double's own resolution."""
    return round(volume * _UNIT)


def volume_units_list(volumes) -> list[int]:
    """:func:`volume_units` of each element of an array or sequence (Python ints:
    no overflow whatever the volume)."""
    return [round(v) for v in (np.asarray(volumes, dtype=np.float64) * _UNIT).tolist()]


@lru_cache(maxsize=256)
def exact_ratio(x: float) -> tuple[int, int]:
    """(numerator, denominator > 0) of a parameter read as the decimal it is
    written as: 0.35 -> (7, 20), 70.0 -> (70, 1)."""
    f = float(x)
    if not math.isfinite(f):
        raise ValueError(f"a profile threshold must be a finite number, got {x!r}")
    r = Fraction(repr(f))
    return r.numerator, r.denominator


MAX_PROFILE_BINS = 100_000  # 50x the first price with auto bins (5 bps); 800 kB per dense list


class ProfileRangeError(ValueError):
    """A price or a range of prices a profile cannot hold within its bounds."""


def bin_index(price: float, bin_size: float) -> int:
    q = price / bin_size + BIN_EPS
    if not -_HUGE < q < _HUGE:
        raise ProfileRangeError(f"price {price!r} has no bin of size {bin_size!r} (bin number {q!r})")
    return math.floor(q)


_HUGE = 2.0**62  # bin numbers beyond this are no price anyone trades (and bin edges would lose the exact value)


def _check_span(lo: int, hi: int) -> None:
    if hi - lo >= MAX_PROFILE_BINS:
        raise ProfileRangeError(f"bins {lo}..{hi} span {hi - lo + 1:,} bins; a profile holds at most "
                                f"{MAX_PROFILE_BINS:,} (a price far from the others?)")


def bin_indexes(prices: np.ndarray, bin_size: float) -> np.ndarray:
    q = np.floor(np.asarray(prices, dtype=np.float64) / bin_size + BIN_EPS)
    if q.size and not (np.abs(q) < _HUGE).all():
        bad = np.asarray(prices, dtype=np.float64).ravel()[~(np.abs(q) < _HUGE).ravel()][0]
        raise ProfileRangeError(f"price {float(bad)!r} has no bin of size {bin_size!r}")
    return q.astype(np.int64)


_SCALE = 10.0**PRICE_DECIMALS


def bin_edge(idx: int, bin_size: float) -> float:
    # round(x * 1e10) / 1e10 here and np.rint(x * 1e10) / 1e10 in the arrays:
    # the same operations (half to even), so both give the same double
    return round(idx * bin_size * _SCALE) / _SCALE


def bin_centre(idx: int, bin_size: float) -> float:
    return round((idx + 0.5) * bin_size * _SCALE) / _SCALE


def _prices(x: np.ndarray) -> list[float]:  # kept for callers of the array form
    return (np.rint(x * _SCALE) / _SCALE).tolist()


def auto_bin_size(price: float, bps: float = 5.0) -> float:
    """A round bin size (1, 2, 2.5 or 5 x 10^k) nearest (in ratio) to ``bps`` of price.

    SPY at 450 -> 0.25, a $20 stock -> 0.01, BTC at 60,000 -> 25.
    """
    if not (price > 0.0 and math.isfinite(price)):
        raise ValueError(f"auto bin size needs a positive finite price, got {price!r}")
    target = price * bps / 10_000.0
    k = math.floor(math.log10(target))
    best, best_err = 0.0, math.inf
    for e in (k - 1, k, k + 1):
        for m in _ROUND_STEPS:
            cand = round(m * 10.0**e, 12)
            err = abs(math.log(cand / target))
            if err < best_err - 1e-12:
                best, best_err = cand, err
    return best


def resolve_bin_size(params: StrategyParams, price: float) -> float:
    """The bin size a symbol uses: the configured one, or auto from its first price."""
    b = params.bin_size
    if b == "auto":
        return auto_bin_size(price)
    b = float(b)
    if not b > 0.0:
        raise ValueError(f"bin_size must be > 0 or 'auto', got {b!r}")
    return b


# --------------------------------------------------------------------------- bar histograms


class SpreadBins(dict):
    """A bar's volume spread evenly over the bins ``first..last`` of its range.

    As a dict it reads like any bar histogram (bin -> ``volume / n`` as a
    float); the profiles take the exact share, ``units / n`` of the bar's volume
    in units, from ``first``, ``last`` and ``units``."""

    __slots__ = ("first", "last", "units")


BarBins = dict  # a bar's histogram: bin -> volume (float); a SpreadBins for a bar spread over its range


def range_bins(low: float, high: float, volume: float, bin_size: float) -> list[tuple[int, float]]:
    """The (bin, volume) pairs of a bar's volume spread evenly over its range."""
    i0 = bin_index(low, bin_size)
    i1 = bin_index(high, bin_size)
    if i1 < i0:
        i0, i1 = i1, i0
    _check_span(i0, i1)
    n = i1 - i0 + 1
    v = volume / n
    return [(i, v) for i in range(i0, i1 + 1)]


def range_bin_dict(low: float, high: float, volume: float, bin_size: float) -> SpreadBins:
    """:func:`range_bins` as a :class:`SpreadBins` (built in C: one call per bar)."""
    i0 = bin_index(low, bin_size)
    i1 = bin_index(high, bin_size)
    if i1 < i0:
        i0, i1 = i1, i0
    _check_span(i0, i1)
    d = SpreadBins.fromkeys(range(i0, i1 + 1), volume / (i1 - i0 + 1))
    d.first, d.last, d.units = i0, i1, round(volume * _UNIT)
    return d


def vap_bins(vap: Iterable[tuple[float, float]], bin_size: float) -> dict[int, float]:
    """A bar's volume-at-price as a bin histogram (bins re-derived from the centres)."""
    out: dict[int, float] = {}
    for price, vol in vap:
        i = bin_index(price, bin_size)
        out[i] = out.get(i, 0.0) + vol
    return out


# --------------------------------------------------------------------------- incremental profiles


def _check_bin_size(bin_size: float) -> float:
    if not (bin_size > 0.0 and math.isfinite(bin_size)):
        raise ValueError(f"bin_size must be a positive number, got {bin_size!r}")
    return float(bin_size)


class VolumeProfile:
    """A volume histogram over integer price bins, exact (see the module doc):
    a dict bin -> volume in units of ``1 / (UNITS_PER_VOLUME * per)``."""

    __slots__ = ("bin_size", "_u", "_per")

    def __init__(self, bin_size: float) -> None:
        self.bin_size = _check_bin_size(bin_size)
        self._u: dict[int, int] = {}
        self._per = 1

    def __len__(self) -> int:
        return len(self._u)

    @property
    def bins(self) -> dict[int, float]:
        """bin -> volume (the nearest double), for reading."""
        den = UNITS_PER_VOLUME * self._per
        return {i: u / den for i, u in self._u.items()}

    @property
    def total(self) -> float:
        return sum(self._u.values()) / (UNITS_PER_VOLUME * self._per)

    def _add(self, i: int, u: int) -> None:
        b = self._u
        r = b.get(i, 0) + u
        if r:
            b[i] = r
        else:
            b.pop(i, None)

    def _grow(self, n: int) -> None:
        """Count in units fine enough that ``1 / n`` of a unit is a whole number."""
        per = self._per
        if per % n:
            f = n // math.gcd(per, n)
            self._per = per * f
            b = self._u
            for i in b:
                b[i] *= f

    def add(self, price: float, size: float) -> None:
        self._add(bin_index(price, self.bin_size), round(size * _UNIT) * self._per)

    def add_bin(self, idx: int, volume: float) -> None:
        self._add(idx, round(volume * _UNIT) * self._per)

    def add_range(self, low: float, high: float, volume: float) -> None:
        """Spread a bar's volume evenly over the bins its [low, high] range covers."""
        self.merge(range_bin_dict(low, high, volume, self.bin_size))

    def _apply(self, other: "VolumeProfile | BarBins", sign: int) -> None:
        if isinstance(other, VolumeProfile):
            self._grow(other._per)
            f = sign * (self._per // other._per)
            for i, u in other._u.items():
                self._add(i, u * f)
        elif type(other) is SpreadBins:
            n = other.last - other.first + 1
            self._grow(n)
            share = sign * other.units * (self._per // n)
            for i in range(other.first, other.last + 1):
                self._add(i, share)
        else:
            f = sign * self._per
            for i, v in other.items():
                self._add(i, round(v * _UNIT) * f)

    def merge(self, other: "VolumeProfile | BarBins") -> None:
        self._apply(other, 1)

    def subtract(self, other: "VolumeProfile | BarBins") -> None:
        """Remove a histogram merged earlier (exactly: a bin it leaves at zero is dropped)."""
        self._apply(other, -1)

    def clear(self) -> None:
        self._u.clear()
        self._per = 1

    def copy(self) -> "VolumeProfile":
        p = VolumeProfile(self.bin_size)
        p._u = dict(self._u)
        p._per = self._per
        return p

    def stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """The statistics of the profile as it is now (worked out when first read)."""
        return units_bins_stats(dict(self._u), UNITS_PER_VOLUME * self._per, self.bin_size, params)

    def core_stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """The core numbers only, worked out now (as :func:`core_stats`)."""
        return _core_only(self.stats(params))


class DenseProfile:
    """An exact volume histogram that bar histograms are merged into (and, for a
    rolling window, subtracted from), kept as a dense list of integer bins with
    an offset.

    Why: the rolling and session profiles' statistics are needed after every
    bar. As a dict they would mean copying it and building the dense list (and
    trimming it) each time; here the list is there and the bounds of the bins
    that may hold volume are tracked.

    The numbers are those of :class:`VolumeProfile` fed the same merges and
    subtractions (both are exact). Statistics take the bins from the lowest to
    the highest one holding volume (``> 0``). Invariant: no bin outside
    ``[_first, _last]`` holds volume. The total is kept as the bins change
    (statistics after every bar need it, and a sum of long integers is not
    free), and whether a negative volume was ever added (only then can a bin
    be below zero, which statistics read as empty).
    """

    __slots__ = ("bin_size", "_h", "_base", "_first", "_last", "_per", "_total", "_neg")

    _PAD = 64  # bins added beyond a bin that falls outside the list
    _PER_BITS = 64  # a ``per`` this long is reduced by the common factor of the bins, if any

    def __init__(self, bin_size: float) -> None:
        self.bin_size = _check_bin_size(bin_size)
        self._h: list[int] = []
        self._base = 0  # bin index of _h[0]
        self._first = 0  # list positions: bins outside _first.._last hold no volume
        self._last = -1
        self._per = 1  # bins count in units of 1 / (UNITS_PER_VOLUME * _per)
        self._total = 0  # the sum of the bins
        self._neg = False  # a negative volume was merged or subtracted: bins may be < 0

    def _cover(self, lo: int, hi: int) -> int:
        """Make room for bins lo..hi and widen the bounds over them; returns ``_base``."""
        base = self._base
        if self._first <= lo - base and hi - base <= self._last:
            return base
        h = self._h
        if self._first <= self._last:
            _check_span(min(lo, base + self._first), max(hi, base + self._last))
        else:
            _check_span(lo, hi)
        if not h:
            self._base = base = lo - self._PAD
            h.extend([0] * (hi - lo + 1 + 2 * self._PAD))
            self._first, self._last = lo - base, hi - base
            return base
        if lo < base:
            grow = base - lo + self._PAD
            h[:0] = [0] * grow
            self._base = base = base - grow
            self._first += grow
            self._last += grow
        top = base + len(h)
        if hi >= top:
            h.extend([0] * (hi - top + 1 + self._PAD))
        a, b = lo - base, hi - base
        if self._first > self._last:
            self._first, self._last = a, b
        else:
            if a < self._first:
                self._first = a
            if b > self._last:
                self._last = b
        return base

    def _grow(self, n: int) -> None:
        """Count in units fine enough that ``1 / n`` of a unit is a whole number.
        ``per`` grows to the least common multiple of the spreads seen; once it is
        long, the factor common to every bin (bars that left) is divided out first."""
        h, per, total = self._h, self._per, self._total
        if per.bit_length() > self._PER_BITS:
            g = math.gcd(per, *h)
            if g > 1:
                per //= g
                h = [v // g for v in h]
                total //= g
        f = n // math.gcd(per, n)
        if f != 1:
            h = [v * f for v in h]
            total *= f
        self._h, self._per, self._total = h, per * f, total

    def merge(self, bins: BarBins) -> None:
        """Add a bar's histogram (bin -> volume, or a :class:`SpreadBins`)."""
        if type(bins) is SpreadBins:
            if bins.units < 0:
                self._neg = True
            self.add_spread(bins.first, bins.last, bins.units)
        elif bins:
            self._add_volumes(bins, 1)

    def subtract(self, bins: BarBins) -> None:
        """Remove a histogram merged earlier (exactly)."""
        if type(bins) is SpreadBins:
            if bins.units < 0:
                self._neg = True
            self.add_spread(bins.first, bins.last, -bins.units)
        elif bins:
            self._add_volumes(bins, -1)

    def _add_volumes(self, bins: dict[int, float], sign: int) -> None:
        """Add ``sign x`` each bin's volume, read as whole units (:func:`volume_units`)."""
        base = self._cover(min(bins), max(bins))
        h = self._h
        unit = _UNIT
        f = sign * self._per
        t = 0
        if f == 1:
            for i, v in bins.items():
                u = round(v * unit)
                h[i - base] += u
                t += u
        else:
            for i, v in bins.items():
                u = round(v * unit) * f
                h[i - base] += u
                t += u
        self._total += t
        if not self._neg and min(bins.values()) < 0.0:
            self._neg = True

    def merge_pairs(self, idx: Iterable[int], vols: Iterable[float]) -> None:
        """:meth:`merge` of a histogram given as bins (each once) and their volumes."""
        if idx:
            self.add_units(idx, [round(v * _UNIT) for v in vols])

    def subtract_pairs(self, idx: Iterable[int], vols: Iterable[float]) -> None:
        """:meth:`subtract` of a histogram given as bins (each once) and their volumes."""
        if idx:
            self.add_units(idx, [round(v * _UNIT) for v in vols], -1)

    def add_units(self, idx: Iterable[int], units: Iterable[int], sign: int = 1) -> None:
        """Add ``sign x`` the volumes ``units`` (whole units, see :func:`volume_units`)
        to the bins ``idx`` (each once; a re-iterable collection)."""
        if not idx:
            return
        base = self._cover(min(idx), max(idx))
        h = self._h
        f = sign * self._per
        if f == 1:
            for i, u in zip(idx, units):
                h[i - base] += u
        else:
            for i, u in zip(idx, units):
                h[i - base] += u * f
        self._total += sum(units) * f
        if not self._neg and min(units) < 0:
            self._neg = True

    def add_spread(self, first: int, last: int, units: int) -> None:
        """Add ``units`` spread evenly over the bins ``first..last``; negative
        ``units`` remove a spread added earlier."""
        n = last - first + 1
        if self._per % n:
            self._grow(n)
        share = units * (self._per // n)
        base = self._cover(first, last)
        h = self._h
        for k in range(first - base, last - base + 1):
            h[k] += share
        self._total += units * self._per

    def clear(self) -> None:
        self._h = []
        self._first, self._last = 0, -1
        self._per = 1
        self._total = 0
        self._neg = False

    def _dense(self) -> tuple[int, list[int]]:
        """(lowest bin holding volume, a copy of the bins (units) from it to the
        highest one holding volume); (0, []) when no bin does."""
        h = self._h
        f, last = self._first, self._last
        while f <= last and not h[f] > 0:
            f += 1
        while last >= f and not h[last] > 0:
            last -= 1
        self._first, self._last = f, last
        if f > last:
            return 0, []
        return self._base + f, h[f : last + 1]

    def dense(self) -> tuple[int, list[float]]:
        """(lowest bin holding volume, the volumes from it to the highest bin holding
        volume, each the nearest double); (0, []) when no bin does."""
        lo, h = self._dense()
        den = UNITS_PER_VOLUME * self._per
        return lo, [v / den for v in h]

    @property
    def bins(self) -> dict[int, float]:
        """The bins holding volume as a dict bin -> volume (for inspection)."""
        lo, h = self.dense()
        return {lo + k: v for k, v in enumerate(h) if v > 0.0}

    def _sum_and_sign(self) -> tuple[Optional[int], bool]:
        """(the total of the bins holding volume if known, whether a bin may be < 0).
        With a negative volume ever added, bins outside the range may be < 0 and
        the kept total is not that of the range: it is summed again."""
        return (None, True) if self._neg else (self._total, False)

    def stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """Every statistic, worked out when first read (as ``VolumeProfile.stats``)."""
        lo, h = self._dense()
        return units_stats(lo, h, UNITS_PER_VOLUME * self._per, self.bin_size, params, self._sum_and_sign()[0])

    def core_stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """The core numbers only, worked out now (as :func:`core_stats`): total,
        POC, value area, range; no nodes and no histogram."""
        lo, h = self._dense()
        if not h:
            return None
        bs = self.bin_size
        _, total, _, poc, vah, val, va_vol, low, high = _core_numbers(lo, h, bs, params, *self._sum_and_sign())
        den = UNITS_PER_VOLUME * self._per
        return ProfileStats(bs, total / den, poc, vah, val, va_vol / den, (), (), low, high, ())

    def value_area(self, params: StrategyParams) -> Optional[tuple[float, float, float]]:
        """(POC, VAH, VAL) as :meth:`core_stats` gives them; None when empty."""
        lo, h = self._dense()
        if not h:
            return None
        return _core_numbers(lo, h, self.bin_size, params, *self._sum_and_sign())[3:6]


# --------------------------------------------------------------------------- numpy path


def profile_from_arrays(prices: np.ndarray, sizes: np.ndarray, bin_size: float) -> tuple[int, list[int]]:
    """Dense histogram (lowest bin, volumes in whole units) of trades: the numbers
    of ``VolumeProfile.add`` over the same trades."""
    p = np.asarray(prices, dtype=np.float64)
    if p.size == 0:
        return 0, []
    idx = bin_indexes(p, bin_size)
    lo = int(idx.min())
    _check_span(lo, int(idx.max()))
    hist = [0] * (int(idx.max()) - lo + 1)
    for i, u in zip((idx - lo).tolist(), volume_units_list(sizes)):
        hist[i] += u
    return lo, hist


def stats_from_arrays(prices: np.ndarray, sizes: np.ndarray, bin_size: float, params: StrategyParams) -> Optional[ProfileStats]:
    lo, hist = profile_from_arrays(prices, sizes, bin_size)
    return units_stats(lo, hist, UNITS_PER_VOLUME, float(bin_size), params)


def stats_from_ranges(lows: np.ndarray, highs: np.ndarray, volumes: np.ndarray, bin_size: float,
                      params: StrategyParams) -> Optional[ProfileStats]:
    """The profile of bars spread over their high-low ranges (the numbers of
    ``VolumeProfile.add_range`` bar after bar). Bars without volume add nothing."""
    prof = DenseProfile(bin_size)
    i0 = bin_indexes(lows, bin_size)
    i1 = bin_indexes(highs, bin_size)
    units = volume_units_list(volumes)
    for a, b, u in zip(np.minimum(i0, i1).tolist(), np.maximum(i0, i1).tolist(), units):
        if u > 0:
            prof.add_spread(a, b, u)
    return prof.stats(params)


# --------------------------------------------------------------------------- statistics


def smooth(hist: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average, window truncated at the ends (see module doc)."""
    s, w = smooth_sums(np.asarray(hist, dtype=np.float64).tolist(), width)
    return np.array([v / w for v in s], dtype=np.float64)


def smooth_sums(h: list, width: int) -> tuple[list, int]:
    """The centered moving average of ``h`` as ``(sums, w)``: smoothed bin ``i`` is
    ``sums[i] / w``. Each window's sum is scaled by ``w / (bins in the window)``,
    ``w`` the least common multiple of the window sizes, so integer bins give
    integer sums and the averages compare exactly (width 3: ``w`` = 6, the
    end bins average two bins, the others three)."""
    n = len(h)
    if width <= 1 or n == 0:
        return list(h), 1
    below = (width - 1) // 2
    above = width - 1 - below
    if below == 1 and above == 1 and n >= 3:  # the default width 3: one pass in C
        out = [(h[0] + h[1]) * 3]
        out += [(a + b + c) * 2 for a, b, c in zip(h, h[1:], h[2:])]
        out.append((h[-2] + h[-1]) * 3)
        return out, 6
    spans = [(max(0, i - below), min(n, i + above + 1)) for i in range(n)]
    w = math.lcm(*{b - a for a, b in spans})
    return [sum(h[a:b]) * (w // (b - a)) for a, b in spans], w


def poc_index(hist: list) -> int:
    """Index of the POC: the highest bin; of equal highest bins the one nearest
    the middle of the range, then the lower one. The equal bins are found by
    ``list.index`` (in C), lowest first, stopping once past the middle."""
    top = max(hist)
    c = hist.count(top)
    i = hist.index(top)
    if c == 1:
        return i
    mid2 = len(hist) - 1  # twice the middle index, to stay in integers
    best, best_d = i, abs(2 * i - mid2)
    for _ in range(c - 1):
        if 2 * i >= mid2:  # at or past the middle: the later ones are farther from it
            break
        i = hist.index(top, i + 1)
        d = abs(2 * i - mid2)
        if d < best_d:  # equal distance keeps the lower bin
            best, best_d = i, d
    return best


def value_area(hist: list[int], poc: int, pct: float, total: Optional[int] = None) -> tuple[int, int, int]:
    """(lowest bin, highest bin, volume) of the value area of integer volumes, by
    the pairs rule. ``total`` is ``sum(hist)`` when the caller already has it.
    The area is short of ``pct`` % (read as its decimal, :func:`exact_ratio`)
    while ``volume < pct x total / 100``, i.e. while it is below the smallest
    integer at or above that. The pair on the side that did not move is kept
    from the step before (the same sum)."""
    n = len(hist)
    if total is None:
        total = sum(hist)
    pn, pd = exact_ratio(pct)
    target = _at_least(pn * total, 100 * pd)
    lo = hi = poc
    vol = hist[poc]
    if not vol < target:
        return lo, hi, vol
    last = n - 1
    room = last - hi
    if room >= 2:
        up_n, up = 2, hist[hi + 1] + hist[hi + 2]
    elif room == 1:
        up_n, up = 1, hist[hi + 1]
    else:
        up_n, up = 0, 0
    if lo >= 2:
        dn_n, dn = 2, hist[lo - 1] + hist[lo - 2]
    elif lo == 1:
        dn_n, dn = 1, hist[0]
    else:
        dn_n, dn = 0, 0
    while vol < target:
        if up_n and (dn_n == 0 or up >= dn):
            hi += up_n
            vol += up
            room = last - hi
            if room >= 2:
                up_n, up = 2, hist[hi + 1] + hist[hi + 2]
            elif room == 1:
                up_n, up = 1, hist[hi + 1]
            else:
                up_n, up = 0, 0
        elif dn_n:
            lo -= dn_n
            vol += dn
            if lo >= 2:
                dn_n, dn = 2, hist[lo - 1] + hist[lo - 2]
            elif lo == 1:
                dn_n, dn = 1, hist[0]
            else:
                dn_n, dn = 0, 0
        else:
            break
    return lo, hi, vol


def find_lvns(s: list, ratio_cap, min_prom) -> list[int]:
    """Indexes of the LVNs of a smoothed histogram ``s`` (see module doc): at or
    below ``ratio_cap``, prominence at least ``min_prom``.

    Only bins at or below ``ratio_cap`` can be one, so those are picked out first
    (in C); each that starts a run of equal values with a higher bin on its left
    is then followed to the end of its run and checked."""
    out: list[int] = []
    n = len(s)
    if n < 3:
        return out
    last = n - 1
    for a in compress(range(1, last), map(le, islice(s, 1, last), repeat(ratio_cap))):
        v = s[a]
        if not s[a - 1] > v:  # inside a run, or a lower bin on the left
            continue
        b = a
        while b < last and s[b + 1] == v:
            b += 1
        if b == last or not s[b + 1] > v:
            continue
        left = v
        i = a - 1
        while i >= 0 and s[i] >= v:
            if s[i] > left:
                left = s[i]
            i -= 1
        right = v
        i = b + 1
        while i < n and s[i] >= v:
            if s[i] > right:
                right = s[i]
            i += 1
        if min(left, right) - v >= min_prom:
            out.append((a + b) // 2)
    return out

def find_hvns(s: list, ratio_floor, min_prom) -> list[int]:
    """Indexes of the HVNs of ``s``: the mirror image of :func:`find_lvns`."""
    out: list[int] = []
    n = len(s)
    if n < 3:
        return out
    last = n - 1
    for a in compress(range(1, last), map(ge, islice(s, 1, last), repeat(ratio_floor))):
        v = s[a]
        if not s[a - 1] < v:
            continue
        b = a
        while b < last and s[b + 1] == v:
            b += 1
        if b == last or not s[b + 1] < v:
            continue
        left = v
        i = a - 1
        while i >= 0 and s[i] <= v:
            if s[i] < left:
                left = s[i]
            i -= 1
        right = v
        i = b + 1
        while i < n and s[i] <= v:
            if s[i] < right:
                right = s[i]
            i += 1
        if v - max(left, right) >= min_prom:
            out.append((a + b) // 2)
    return out


class _PriceGrid:
    """Bin edges and centres of one bin size, computed once per bin index and kept
    in two contiguous lists (``bin_edge``/``bin_centre`` of each index)."""

    __slots__ = ("bin_size", "lo", "edges", "centres")

    def __init__(self, bin_size: float) -> None:
        self.bin_size = bin_size
        self.lo = 0
        self.edges: list[float] = []
        self.centres: list[float] = []

    def cover(self, lo: int, hi: int) -> int:
        """Make indexes lo..hi (edges up to hi + 1) available; returns the offset of ``lo``."""
        if not self.edges:
            self._build(lo - 64, hi + 64)
        elif lo < self.lo or hi + 1 >= self.lo + len(self.edges):
            self._build(min(lo - 64, self.lo), max(hi + 64, self.lo + len(self.edges) - 1))
        return lo - self.lo

    def _build(self, lo: int, hi: int) -> None:
        bs = self.bin_size
        self.lo = lo
        self.edges = [bin_edge(i, bs) for i in range(lo, hi + 2)]
        self.centres = [bin_centre(i, bs) for i in range(lo, hi + 2)]


_GRIDS: dict[float, _PriceGrid] = {}


def _grid(bin_size: float) -> _PriceGrid:
    g = _GRIDS.get(bin_size)
    if g is None:
        if len(_GRIDS) > 256:
            _GRIDS.clear()
        g = _GRIDS[bin_size] = _PriceGrid(bin_size)
    return g


def units_stats(lo: int, h: list[int], den: int, bs: float, params: StrategyParams,
                total: Optional[int] = None) -> Optional[ProfileStats]:
    """ProfileStats of a dense list of integer volumes (bin ``lo`` first), each
    ``den`` to one unit of volume; the result keeps the list (the caller hands
    it over). ``total``: the sum of the bins, when the caller keeps it. None
    when no bin holds volume."""
    if not h or not max(h) > 0:
        return None
    st = object.__new__(LazyProfileStats)
    _BIN_SIZE_SLOT(st, bs)
    _set_work(st, (lo, h, den, params, total))
    return st


def units_bins_stats(bins: dict[int, int], den: int, bs: float, params: StrategyParams) -> Optional[ProfileStats]:
    """:func:`units_stats` of a dict bin -> integer volume, which the result keeps
    (the caller hands it over: pass a copy of a dict that will change)."""
    if not bins or not max(bins.values()) > 0:
        return None
    st = object.__new__(LazyProfileStats)
    _BIN_SIZE_SLOT(st, bs)
    _set_work(st, (bins, den, params))
    return st


def bins_stats(bins: dict[int, float], bs: float, params: StrategyParams) -> Optional[ProfileStats]:
    """ProfileStats of a dict bin -> volume, each volume read as whole units."""
    return units_bins_stats({i: round(v * _UNIT) for i, v in bins.items()}, UNITS_PER_VOLUME, bs, params)


def _dense_of(bins: dict[int, int]) -> tuple[int, list[int]]:
    lo = min(bins)
    h = [0] * (max(bins) - lo + 1)
    for i, v in bins.items():
        h[i - lo] = v
    return lo, h


# --------------------------------------------------------------------------- lazy statistics


_FIELDS = tuple(f.name for f in fields(ProfileStats))
_BIN_SIZE_SLOT = ProfileStats.__dict__["bin_size"].__set__


class LazyProfileStats(ProfileStats):
    """A ProfileStats whose numbers are worked out when first read.

    Why: the analytics publish a fresh ProfileStats for the rolling and the
    session profile on every closed bar, but most bars nobody reads most of it
    (market state needs only POC/VAH/VAL of the rolling profile; nodes and the
    histogram are read by the panes a few times a second and by some setups).
    Reading any field gives exactly what the eager computation gives: the same
    function computes it from the same histogram, which the object keeps until
    then (``_work``). Two stages: the core (total, POC, value area, range) and
    the details (smoothing, LVNs/HVNs, the histogram to draw), which need the
    core. Once filled, fields are plain slot reads behind a property.

    It is a ProfileStats in every way that matters: isinstance, equality with
    any ProfileStats of the same values, hashing, repr, ``dataclasses.replace``,
    pickling (the values, not the pending work).
    """

    __slots__ = ("_work",)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProfileStats):
            return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)
        return NotImplemented

    __hash__ = ProfileStats.__hash__

    def __repr__(self) -> str:  # reads like the eager ProfileStats it stands for
        return "ProfileStats(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS) + ")"


_set_work = LazyProfileStats.__dict__["_work"].__set__


def _fill(st: LazyProfileStats, detail: bool) -> None:
    """Work out the core of ``st`` (and its details when asked) from its ``_work``:
    (bins dict, den, params) -> (lo, dense list, den, params, total or None)
    -> (lo, list, den, total, POC index, params) -> None."""
    work = st._work
    if len(work) == 3:  # the bins as handed over, not yet made dense
        work = (*_dense_of(work[0]), work[1], work[2], None)
    if len(work) == 5:  # the core is pending
        work = _core(st, *work)
        _set_work(st, work)
    if detail and work is not None:  # the details are pending
        _details(st, *work)
        _set_work(st, None)


def _trimmed(lo: int, h: list[int]) -> tuple[int, list[int]]:
    """The histogram without its empty bins at either end (``lo`` moved with it); a
    histogram with no positive bin is the caller's to refuse."""
    n = len(h)
    first = 0
    while first < n and not h[first] > 0:
        first += 1
    last = n - 1
    while not h[last] > 0:
        last -= 1
    if first or last != n - 1:
        return lo + first, h[first : last + 1]
    return lo, h


def _core(st: LazyProfileStats, lo: int, h: list[int], den: int, params: StrategyParams,
          total: Optional[int]) -> tuple:
    lo, h = _trimmed(lo, h)
    h, total, p, poc, vah, val, va_vol, low, high = _core_numbers(lo, h, _BIN_SIZE_GET(st), params, total)
    _SET["total_volume"](st, total / den)
    _SET["poc"](st, poc)
    _SET["vah"](st, vah)
    _SET["val"](st, val)
    _SET["value_area_volume"](st, va_vol / den)
    _SET["low"](st, low)
    _SET["high"](st, high)
    return (lo, h, den, total, p, params)


def _core_numbers(lo: int, h: list[int], bs: float, params: StrategyParams, total: Optional[int] = None,
                  may_be_negative: bool = True) -> tuple:
    """The core of the statistics of a trimmed dense histogram ``h`` of integer
    volumes (first and last bin > 0) whose first bin is ``lo``: (h with negative
    bins read as 0, total, POC index, POC, VAH, VAL, value area volume, low, high),
    the volumes in the units of ``h``. ``total``: the sum of ``h`` when the caller
    keeps it; ``may_be_negative=False``: the caller knows no bin is < 0."""
    n = len(h)
    if may_be_negative and min(h) < 0:
        h = [0 if v < 0 else v for v in h]
        total = None
    if total is None:
        total = sum(h)
    p = poc_index(h)
    va_lo, va_hi, va_vol = value_area(h, p, params.value_area_pct, total)
    g = _grid(bs)
    o = g.cover(lo, lo + n)
    edges = g.edges
    return h, total, p, g.centres[o + p], edges[o + va_hi + 1], edges[o + va_lo], va_vol, edges[o], edges[o + n]


def _at_most(num: int, den: int) -> int:
    """The largest integer <= num / den (den > 0)."""
    return num // den


def _at_least(num: int, den: int) -> int:
    """The smallest integer >= num / den (den > 0)."""
    return -(-num // den)


def _details(st: LazyProfileStats, lo: int, h: list[int], den: int, total: int, p: int,
             params: StrategyParams) -> None:
    """Nodes and the histogram. The smoothed bins are ``s[i] / w`` (in the units
    of ``h``); with ``m`` = total / non-empty bins their mean, an LVN needs
    ``s[i] / w <= lvn_ratio x m``, i.e. ``s[i] <= lvn_ratio x total x w / non-empty``,
    and a prominence ``>= lvn_prominence x POC x w`` in the units of ``s``: both
    sides are integers or exact rationals, so each threshold becomes the
    integer bound an integer ``s[i]`` (or difference of two) is compared with."""
    n = len(h)
    poc_vol = h[p]
    filled = n - h.count(0)  # the non-empty bins (their sum is ``total``)
    s, w = smooth_sums(h, params.smooth_bins)
    g = _grid(_BIN_SIZE_GET(st))
    o = g.cover(lo, lo + n)
    centres = g.centres
    sden = den * w
    if not _has_lvns(st):  # (read alone before: ``_lvns_only`` put them there)
        rn, rd = exact_ratio(params.lvn_ratio)
        pn, pd = exact_ratio(params.lvn_prominence)
        lvns = find_lvns(s, _at_most(rn * total * w, rd * filled), _at_least(pn * poc_vol * w, pd))
        _SET["lvns"](st, tuple([Node(centres[o + i], s[i] / sden) for i in lvns]))
    rn, rd = exact_ratio(params.hvn_ratio)
    pn, pd = exact_ratio(params.hvn_prominence)
    hvns = find_hvns(s, _at_least(rn * total * w, rd * filled), _at_least(pn * poc_vol * w, pd))
    _SET["hvns"](st, tuple([Node(centres[o + i], s[i] / sden) for i in hvns]))
    _SET["histogram"](st, tuple(zip(centres[o : o + n], [v / den for v in h])))


def _lvns_only(st: LazyProfileStats) -> None:
    """Work out the LVNs of ``st`` alone, leaving its core and other details
    pending. Why: the LVN alert levels read the developing session profile's
    LVNs after every bar and nothing else of it, while the core (value area)
    and the HVNs and histogram cost as much again. The numbers are those of
    ``_core`` and ``_details``: the same trimmed histogram (negative bins read
    as 0), total, POC volume (its largest bin), smoothing and ``find_lvns``."""
    work = st._work
    if work is None:
        return
    if len(work) == 3:  # the bins as handed over, not yet made dense
        work = (*_dense_of(work[0]), work[1], work[2], None)
        _set_work(st, work)
    if len(work) == 5:  # the core is pending: trim and clip as _core and _core_numbers do
        lo, h, den, params, total = work
        lo, h = _trimmed(lo, h)
        if min(h) < 0:
            h = [0 if v < 0 else v for v in h]
            total = None
        if total is None:
            total = sum(h)
        poc_vol = max(h)
    else:  # the core is done: (lo, h, den, total, POC index, params)
        lo, h, den, total, p, params = work
        poc_vol = h[p]
    n = len(h)
    filled = n - h.count(0)
    s, w = smooth_sums(h, params.smooth_bins)
    rn, rd = exact_ratio(params.lvn_ratio)
    pn, pd = exact_ratio(params.lvn_prominence)
    lvns = find_lvns(s, _at_most(rn * total * w, rd * filled), _at_least(pn * poc_vol * w, pd))
    g = _grid(_BIN_SIZE_GET(st))
    o = g.cover(lo, lo + n)
    centres = g.centres
    sden = den * w
    _SET["lvns"](st, tuple([Node(centres[o + i], s[i] / sden) for i in lvns]))


def _has_lvns(st: LazyProfileStats) -> bool:
    try:
        _LVNS_GET(st)
    except AttributeError:
        return False
    return True


_BIN_SIZE_GET = ProfileStats.__dict__["bin_size"].__get__
_LVNS_GET = ProfileStats.__dict__["lvns"].__get__
_SET = {f: ProfileStats.__dict__[f].__set__ for f in _FIELDS}
_DETAIL_FIELDS = ("lvns", "hvns", "histogram")


def _lazy_field(name: str) -> property:
    get_slot = ProfileStats.__dict__[name].__get__
    detail = name in _DETAIL_FIELDS

    def fget(self: LazyProfileStats):
        try:
            return get_slot(self)
        except AttributeError:
            _fill(self, detail)
            return get_slot(self)

    if name == "lvns":  # read alone every bar by the alert levels: worked out alone (``_lvns_only``)
        def fget(self: LazyProfileStats):  # noqa: F811
            try:
                return get_slot(self)
            except AttributeError:
                _lvns_only(self)
                return get_slot(self)

    return property(fget, _SET[name], doc=f"ProfileStats.{name}, worked out on first read")


for _name in _FIELDS:
    if _name != "bin_size":
        setattr(LazyProfileStats, _name, _lazy_field(_name))
del _name


def core_stats(bins: dict[int, float], bs: float, params: StrategyParams) -> Optional[ProfileStats]:
    """The core numbers only (total, POC, value area, range), worked out now; no
    nodes and no histogram (empty tuples). For analytics that were told nobody
    reads them (``SymbolAnalytics(needs=...)`` without "profiles")."""
    return _core_only(bins_stats(bins, bs, params))


def _core_only(st: Optional[LazyProfileStats]) -> Optional[ProfileStats]:
    """``st`` with its core worked out and no nodes or histogram."""
    if st is None:
        return None
    _fill(st, False)
    for f in _DETAIL_FIELDS:
        _SET[f](st, ())
    _set_work(st, None)
    return st
