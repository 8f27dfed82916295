"""Volume profiles (STRATEGY.md section 2): POC, value area, HVN/LVN.

Bins are integers: ``bin = floor(price / bin_size + 1e-6)``. The small guard
keeps a price that sits on a bin edge (20.01 with 0.01 bins is
2000.9999999999998 bins in floating point) in the bin it names. Bin ``i``
covers ``[i*bin_size, (i+1)*bin_size)``; its centre is ``(i+0.5)*bin_size``.
Prices derived from bins are rounded to 10 decimals so 0.01 bins print as 20.01
and not 20.010000000000002.

A profile lives as a dict ``bin -> volume`` (O(1) per trade, merge/subtract of
bar histograms for rolling windows). Its statistics are computed by one
function, :func:`dense_stats`, over the dense histogram from the lowest to the
highest non-empty bin (empty bins in between included as zeros). The numpy path
(:func:`profile_from_arrays`) builds the same dense histogram with
``np.bincount``, which sums in array order exactly as the dict does trade by
trade, so both paths give identical ProfileStats.

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
"""
from __future__ import annotations

import math
from dataclasses import fields
from itertools import compress, islice
from typing import Iterable, Optional

import numpy as np

from ..config import StrategyParams
from ..model import Node, ProfileStats
from .indicators import ordered_sum

BIN_EPS = 1e-6
PRICE_DECIMALS = 10
_ROUND_STEPS = (1.0, 2.0, 2.5, 5.0)


def bin_index(price: float, bin_size: float) -> int:
    return math.floor(price / bin_size + BIN_EPS)


def bin_indexes(prices: np.ndarray, bin_size: float) -> np.ndarray:
    return np.floor(np.asarray(prices, dtype=np.float64) / bin_size + BIN_EPS).astype(np.int64)


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


# --------------------------------------------------------------------------- incremental profile


class VolumeProfile:
    """A volume histogram over integer price bins (dict bin -> volume)."""

    __slots__ = ("bin_size", "bins")

    def __init__(self, bin_size: float) -> None:
        if not (bin_size > 0.0 and math.isfinite(bin_size)):
            raise ValueError(f"bin_size must be a positive number, got {bin_size!r}")
        self.bin_size = float(bin_size)
        self.bins: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.bins)

    @property
    def total(self) -> float:
        s = 0.0
        for v in self.bins.values():
            s += v
        return s

    def add(self, price: float, size: float) -> None:
        i = math.floor(price / self.bin_size + BIN_EPS)
        b = self.bins
        b[i] = b.get(i, 0.0) + size

    def add_bin(self, idx: int, volume: float) -> None:
        b = self.bins
        b[idx] = b.get(idx, 0.0) + volume

    def add_range(self, low: float, high: float, volume: float) -> None:
        """Spread a bar's volume evenly over the bins its [low, high] range covers."""
        for i, v in range_bins(low, high, volume, self.bin_size):
            self.add_bin(i, v)

    def merge(self, other: "VolumeProfile | dict[int, float]") -> None:
        bins = other.bins if isinstance(other, VolumeProfile) else other
        b = self.bins
        for i, v in bins.items():
            b[i] = b.get(i, 0.0) + v

    def subtract(self, other: "VolumeProfile | dict[int, float]") -> None:
        """Remove a histogram merged earlier. A bin left with no more than a
        billionth of what was removed (floating point residue) is deleted."""
        bins = other.bins if isinstance(other, VolumeProfile) else other
        b = self.bins
        for i, v in bins.items():
            r = b.get(i, 0.0) - v
            if r <= v * 1e-9:
                b.pop(i, None)
            else:
                b[i] = r

    def clear(self) -> None:
        self.bins.clear()

    def copy(self) -> "VolumeProfile":
        p = VolumeProfile(self.bin_size)
        p.bins = dict(self.bins)
        return p

    def dense(self) -> tuple[int, np.ndarray]:
        """(lowest bin, volumes from the lowest to the highest bin, zeros included)."""
        b = self.bins
        if not b:
            return 0, np.zeros(0)
        keys = np.fromiter(b.keys(), dtype=np.int64, count=len(b))
        vals = np.fromiter(b.values(), dtype=np.float64, count=len(b))
        lo = int(keys.min())
        hist = np.zeros(int(keys.max()) - lo + 1)
        hist[keys - lo] = vals
        return lo, hist

    def stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """The statistics of the profile as it is now (worked out when first read)."""
        return bins_stats(dict(self.bins), self.bin_size, params)

    def vap(self) -> tuple[tuple[float, float], ...]:
        """((bin centre, volume), ...) from low to high, as a Bar carries it."""
        bs = self.bin_size
        return tuple((bin_centre(i, bs), self.bins[i]) for i in sorted(self.bins))


class DenseProfile:
    """A volume histogram that bar histograms are merged into (and, for a rolling
    window, subtracted from), kept as a dense list of bins with an offset.

    Why: the rolling and session profiles' statistics are needed after every
    bar. As a dict they would mean copying it and building the dense list (and
    trimming it) each time; here the list is there and the bounds of the bins
    that may hold volume are tracked.

    The numbers are exactly those of :class:`VolumeProfile` fed the same merges
    and subtractions: a bin the dict does not hold is a 0.0 here, ``0.0 + v`` is
    what the dict's ``get(i, 0.0) + v`` adds, and a subtraction that the dict
    pops (residue ``<= v * 1e-9``) leaves 0.0. Statistics take the bins from the
    lowest to the highest one holding volume (``> 0``), as :func:`dense_stats`
    trims them. Invariant: no bin outside ``[_first, _last]`` holds volume.
    """

    __slots__ = ("bin_size", "_h", "_base", "_first", "_last", "_neg")

    _PAD = 64  # bins added beyond a bin that falls outside the list

    def __init__(self, bin_size: float) -> None:
        if not (bin_size > 0.0 and math.isfinite(bin_size)):
            raise ValueError(f"bin_size must be a positive number, got {bin_size!r}")
        self.bin_size = float(bin_size)
        self._h: list[float] = []
        self._base = 0  # bin index of _h[0]
        self._first = 0  # list positions: bins outside _first.._last hold no volume
        self._last = -1
        self._neg = False  # a negative volume was merged or subtracted: bins may be < 0

    def _cover(self, lo: int, hi: int) -> None:
        """Grow the list so bins lo..hi are in it, and widen the bounds over them."""
        h = self._h
        if not h:
            self._base = lo - self._PAD
            h.extend([0.0] * (hi - lo + 1 + 2 * self._PAD))
            self._first, self._last = lo - self._base, hi - self._base
            return
        if lo < self._base:
            grow = self._base - lo + self._PAD
            h[:0] = [0.0] * grow
            self._base -= grow
            self._first += grow
            self._last += grow
        top = self._base + len(h)
        if hi >= top:
            h.extend([0.0] * (hi - top + 1 + self._PAD))
        a, b = lo - self._base, hi - self._base
        if self._first > self._last:
            self._first, self._last = a, b
        else:
            if a < self._first:
                self._first = a
            if b > self._last:
                self._last = b

    def merge(self, bins: dict[int, float]) -> None:
        """Add a bar's histogram (bin -> volume)."""
        self.merge_pairs(bins, bins.values())  # (a dict's keys and values, in the same order)

    def subtract(self, bins: dict[int, float]) -> None:
        """Remove a histogram merged earlier; a bin left with no more than a
        billionth of what was removed (floating point residue) becomes 0.0."""
        self.subtract_pairs(bins, bins.values())

    def _take(self, idx: Iterable[int], vols: Iterable[float]) -> int:
        """Make room for bins ``idx`` (widening the bounds only when needed) and note
        a negative volume; returns ``_base`` after any growth."""
        if not self._neg and min(vols) < 0.0:
            self._neg = True
        lo, hi = min(idx), max(idx)
        base = self._base
        if not (self._first <= lo - base and hi - base <= self._last):  # else inside the bounds already
            self._cover(lo, hi)  # (removing a negative volume adds volume: subtract covers too)
            base = self._base
        return base

    def merge_pairs(self, idx: Iterable[int], vols: Iterable[float]) -> None:
        """:meth:`merge` of a histogram given as bins (each once) and their volumes
        (re-iterable collections: lists, or a dict and its values)."""
        if not idx:
            return
        base = self._take(idx, vols)
        h = self._h
        for i, v in zip(idx, vols):
            h[i - base] += v

    def subtract_pairs(self, idx: Iterable[int], vols: Iterable[float]) -> None:
        """:meth:`subtract` of a histogram given as bins (each once) and their volumes."""
        if not idx:
            return
        base = self._take(idx, vols)
        h = self._h
        for i, v in zip(idx, vols):
            k = i - base
            r = h[k] - v
            h[k] = 0.0 if r <= v * 1e-9 else r

    def clear(self) -> None:
        self._h = []
        self._first, self._last = 0, -1
        self._neg = False

    def dense(self) -> tuple[int, list[float]]:
        """(lowest bin holding volume, a copy of the bins from it to the highest
        one holding volume); (0, []) when no bin does."""
        h = self._h
        f, last = self._first, self._last
        while f <= last and not h[f] > 0.0:
            f += 1
        while last >= f and not h[last] > 0.0:
            last -= 1
        self._first, self._last = f, last
        if f > last:
            return 0, []
        return self._base + f, h[f : last + 1]

    @property
    def bins(self) -> dict[int, float]:
        """The bins holding volume as a dict bin -> volume (for inspection)."""
        lo, h = self.dense()
        return {lo + k: v for k, v in enumerate(h) if v > 0.0}

    def stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """Every statistic, worked out when first read (as ``VolumeProfile.stats``)."""
        lo, h = self.dense()
        return list_stats(lo, h, self.bin_size, params)

    def core_stats(self, params: StrategyParams) -> Optional[ProfileStats]:
        """The core numbers only, worked out now (as :func:`core_stats`): total,
        POC, value area, range; no nodes and no histogram."""
        lo, h = self.dense()
        if not h:
            return None
        bs = self.bin_size
        _, total, _, poc, vah, val, va_vol, low, high = _core_numbers(lo, h, bs, params, self._neg)
        return ProfileStats(bs, total, poc, vah, val, va_vol, (), (), low, high, ())

    def value_area(self, params: StrategyParams) -> Optional[tuple[float, float, float]]:
        """(POC, VAH, VAL) as :meth:`core_stats` gives them; None when empty."""
        lo, h = self.dense()
        if not h:
            return None
        return _core_numbers(lo, h, self.bin_size, params, self._neg)[3:6]


def range_bins(low: float, high: float, volume: float, bin_size: float) -> list[tuple[int, float]]:
    """The (bin, volume) pairs of a bar's volume spread evenly over its range."""
    i0 = math.floor(low / bin_size + BIN_EPS)
    i1 = math.floor(high / bin_size + BIN_EPS)
    if i1 < i0:
        i0, i1 = i1, i0
    n = i1 - i0 + 1
    v = volume / n
    return [(i, v) for i in range(i0, i1 + 1)]


def range_bin_dict(low: float, high: float, volume: float, bin_size: float) -> dict[int, float]:
    """:func:`range_bins` as a dict bin -> volume (built in C: one call per bar)."""
    i0 = math.floor(low / bin_size + BIN_EPS)
    i1 = math.floor(high / bin_size + BIN_EPS)
    if i1 < i0:
        i0, i1 = i1, i0
    return dict.fromkeys(range(i0, i1 + 1), volume / (i1 - i0 + 1))


def vap_bins(vap: Iterable[tuple[float, float]], bin_size: float) -> dict[int, float]:
    """A bar's volume-at-price as a bin histogram (bins re-derived from the centres)."""
    out: dict[int, float] = {}
    for price, vol in vap:
        i = math.floor(price / bin_size + BIN_EPS)
        out[i] = out.get(i, 0.0) + vol
    return out


# --------------------------------------------------------------------------- numpy path


def profile_from_arrays(prices: np.ndarray, sizes: np.ndarray, bin_size: float) -> tuple[int, np.ndarray]:
    """Dense histogram (lowest bin, volumes) of trades: the same numbers as
    ``VolumeProfile.add`` over the same trades in the same order."""
    p = np.asarray(prices, dtype=np.float64)
    if p.size == 0:
        return 0, np.zeros(0)
    idx = bin_indexes(p, bin_size)
    lo = int(idx.min())
    hist = np.bincount(idx - lo, weights=np.asarray(sizes, dtype=np.float64))
    return lo, hist


def profile_from_ranges(lows: np.ndarray, highs: np.ndarray, volumes: np.ndarray, bin_size: float) -> tuple[int, np.ndarray]:
    """Dense histogram of bars spread over their high-low ranges (same numbers as
    ``VolumeProfile.add_range`` bar after bar)."""
    lo_i = bin_indexes(lows, bin_size)
    hi_i = bin_indexes(highs, bin_size)
    lo_i, hi_i = np.minimum(lo_i, hi_i), np.maximum(lo_i, hi_i)
    if lo_i.size == 0:
        return 0, np.zeros(0)
    n = hi_i - lo_i + 1
    per = np.asarray(volumes, dtype=np.float64) / n
    base = int(lo_i.min())
    starts = np.repeat(lo_i - base, n)
    offs = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    hist = np.bincount(starts + offs, weights=np.repeat(per, n))
    return base, hist


def stats_from_arrays(prices: np.ndarray, sizes: np.ndarray, bin_size: float, params: StrategyParams) -> Optional[ProfileStats]:
    lo, hist = profile_from_arrays(prices, sizes, bin_size)
    return dense_stats(lo, hist, bin_size, params)


# --------------------------------------------------------------------------- statistics


def smooth(hist: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average, window truncated at the ends (see module doc)."""
    return np.array(smooth_list(np.asarray(hist, dtype=np.float64).tolist(), width), dtype=np.float64)


def smooth_list(h: list[float], width: int) -> list[float]:
    """:func:`smooth` on a list. Each output is ``0.0 + h[i-below] + ... + h[i+above]``
    (the bins that exist, lowest first) divided by how many there are: the order
    of the additions is fixed, so the result is the same double every time."""
    n = len(h)
    if width <= 1 or n == 0:
        return list(h)
    below = (width - 1) // 2
    above = width - 1 - below
    if below == 1 and above == 1 and n >= 3:  # the default width 3: one pass in C
        out = [(h[0] + h[1]) / 2.0]
        out += [(a + b + c) / 3.0 for a, b, c in zip(h, h[1:], h[2:])]
        out.append((h[-2] + h[-1]) / 2.0)
        return out
    out = []
    for i in range(n):
        acc = 0.0
        cnt = 0
        for j in range(max(0, i - below), min(n, i + above + 1)):
            acc += h[j]
            cnt += 1
        out.append(acc / cnt)
    return out


def poc_index(hist: list[float]) -> int:
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


_sum = ordered_sum  # 0.0 + h[0] + h[1] + ... in index order (one fixed order of additions)


def value_area(hist: list[float], poc: int, pct: float, total: Optional[float] = None) -> tuple[int, int, float]:
    """(lowest bin, highest bin, volume) of the value area, by the pairs rule.
    ``total`` is ``_sum(hist)`` when the caller already has it. The pair on the
    side that did not move is kept from the step before (the same sum)."""
    n = len(hist)
    if total is None:
        total = _sum(hist)
    target = total * (pct / 100.0)
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
        up_n, up = 0, 0.0
    if lo >= 2:
        dn_n, dn = 2, hist[lo - 1] + hist[lo - 2]
    elif lo == 1:
        dn_n, dn = 1, hist[0]
    else:
        dn_n, dn = 0, 0.0
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
                up_n, up = 0, 0.0
        elif dn_n:
            lo -= dn_n
            vol += dn
            if lo >= 2:
                dn_n, dn = 2, hist[lo - 1] + hist[lo - 2]
            elif lo == 1:
                dn_n, dn = 1, hist[0]
            else:
                dn_n, dn = 0, 0.0
        else:
            break
    return lo, hi, vol


def find_lvns(s: list[float], ratio_cap: float, min_prom: float) -> list[int]:
    """Indexes of the LVNs of a smoothed histogram ``s`` (see module doc).

    Only bins at or below ``ratio_cap`` can be one, so those are picked out first
    (in C); each that starts a run of equal values with a higher bin on its left
    is then followed to the end of its run and checked."""
    out: list[int] = []
    n = len(s)
    if n < 3:
        return out
    last = n - 1
    for a in compress(range(1, last), map(float(ratio_cap).__ge__, islice(s, 1, last))):
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

def find_hvns(s: list[float], ratio_floor: float, min_prom: float) -> list[int]:
    """Indexes of the HVNs of ``s``: the mirror image of :func:`find_lvns`."""
    out: list[int] = []
    n = len(s)
    if n < 3:
        return out
    last = n - 1
    for a in compress(range(1, last), map(float(ratio_floor).__le__, islice(s, 1, last))):
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


def dense_stats(lo: int, hist, bin_size: float, params: StrategyParams) -> Optional[ProfileStats]:
    """ProfileStats of a dense histogram (array or list) whose first element is bin ``lo``.

    Leading/trailing empty bins are trimmed first (the range is lowest to highest
    non-empty bin). Returns None for an empty profile.
    """
    h = hist.tolist() if isinstance(hist, np.ndarray) else list(hist)
    return list_stats(lo, h, float(bin_size), params)


def list_stats(lo: int, h: list[float], bs: float, params: StrategyParams) -> Optional[ProfileStats]:
    """:func:`dense_stats` of a list of floats, which the result keeps (the caller
    hands it over). None when no bin holds volume."""
    if not h or not max(h) > 0.0:
        return None
    st = object.__new__(LazyProfileStats)
    _BIN_SIZE_SLOT(st, bs)
    _set_work(st, (lo, h, params))
    return st


def bins_stats(bins: dict[int, float], bs: float, params: StrategyParams) -> Optional[ProfileStats]:
    """:func:`dense_stats` of a bin -> volume dict, which the result keeps (the
    caller hands it over: pass a copy of a dict that will change)."""
    if not bins or not max(bins.values()) > 0.0:
        return None
    st = object.__new__(LazyProfileStats)
    _BIN_SIZE_SLOT(st, bs)
    _set_work(st, (bins, params))
    return st


def _dense_of(bins: dict[int, float]) -> tuple[int, list[float]]:
    lo = min(bins)
    h = [0.0] * (max(bins) - lo + 1)
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
    (bins dict, params) -> (lo, dense list, params) -> (lo, list, total, POC index, params) -> None."""
    work = st._work
    if len(work) == 2:  # the bins as handed over, not yet made dense
        work = (*_dense_of(work[0]), work[1])
    if len(work) == 3:  # the core is pending
        work = _core(st, *work)
        _set_work(st, work)
    if detail and work is not None:  # the details are pending
        _details(st, *work)
        _set_work(st, None)


def _core(st: LazyProfileStats, lo: int, h: list[float], params: StrategyParams) -> tuple:
    n = len(h)
    first = 0
    while first < n and not h[first] > 0.0:
        first += 1
    last = n - 1
    while not h[last] > 0.0:
        last -= 1
    if first or last != n - 1:
        h = h[first : last + 1]
        lo += first
    h, total, p, poc, vah, val, va_vol, low, high = _core_numbers(lo, h, _BIN_SIZE_GET(st), params)
    _SET["total_volume"](st, total)
    _SET["poc"](st, poc)
    _SET["vah"](st, vah)
    _SET["val"](st, val)
    _SET["value_area_volume"](st, va_vol)
    _SET["low"](st, low)
    _SET["high"](st, high)
    return (lo, h, total, p, params)


def _core_numbers(lo: int, h: list[float], bs: float, params: StrategyParams, may_be_negative: bool = True) -> tuple:
    """The core of the statistics of a trimmed dense histogram ``h`` (first and
    last bin > 0) whose first bin is ``lo``: (h with negative bins read as 0,
    total, POC index, POC, VAH, VAL, value area volume, low, high).
    ``may_be_negative=False``: the caller knows no bin is < 0 (skips the check)."""
    n = len(h)
    if may_be_negative and min(h) < 0.0:
        h = [0.0 if v < 0.0 else v for v in h]
    total = _sum(h)
    p = poc_index(h)
    va_lo, va_hi, va_vol = value_area(h, p, params.value_area_pct, total)
    g = _grid(bs)
    o = g.cover(lo, lo + n)
    edges = g.edges
    return h, total, p, g.centres[o + p], edges[o + va_hi + 1], edges[o + va_lo], va_vol, edges[o], edges[o + n]


def _details(st: LazyProfileStats, lo: int, h: list[float], total: float, p: int, params: StrategyParams) -> None:
    n = len(h)
    poc_vol = h[p]
    # the mean of the non-empty bins: their sum is ``total`` (empty bins add 0.0)
    mean_ne = total / (n - h.count(0.0))
    s = smooth_list(h, params.smooth_bins)
    lvns = find_lvns(s, params.lvn_ratio * mean_ne, params.lvn_prominence * poc_vol)
    hvns = find_hvns(s, params.hvn_ratio * mean_ne, params.hvn_prominence * poc_vol)
    g = _grid(_BIN_SIZE_GET(st))
    o = g.cover(lo, lo + n)
    centres = g.centres
    _SET["lvns"](st, tuple([Node(centres[o + i], s[i]) for i in lvns]))
    _SET["hvns"](st, tuple([Node(centres[o + i], s[i]) for i in hvns]))
    _SET["histogram"](st, tuple(zip(centres[o : o + n], h)))


_BIN_SIZE_GET = ProfileStats.__dict__["bin_size"].__get__
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

    return property(fget, _SET[name], doc=f"ProfileStats.{name}, worked out on first read")


for _name in _FIELDS:
    if _name != "bin_size":
        setattr(LazyProfileStats, _name, _lazy_field(_name))
del _name


def core_stats(bins: dict[int, float], bs: float, params: StrategyParams) -> Optional[ProfileStats]:
    """The core numbers only (total, POC, value area, range), worked out now; no
    nodes and no histogram (empty tuples). For analytics that were told nobody
    reads them (``SymbolAnalytics(needs=...)`` without "profiles")."""
    st = bins_stats(bins, bs, params)
    if st is None:
        return None
    _fill(st, False)
    for f in _DETAIL_FIELDS:
        _SET[f](st, ())
    _set_work(st, None)
    return st
