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
from typing import Iterable, Optional

import numpy as np

from ..config import StrategyParams
from ..model import Node, ProfileStats

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


def _prices(x: np.ndarray) -> list[float]:
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
        lo, hist = self.dense()
        return dense_stats(lo, hist, self.bin_size, params)

    def vap(self) -> tuple[tuple[float, float], ...]:
        """((bin centre, volume), ...) from low to high, as a Bar carries it."""
        bs = self.bin_size
        return tuple((bin_centre(i, bs), self.bins[i]) for i in sorted(self.bins))


def range_bins(low: float, high: float, volume: float, bin_size: float) -> list[tuple[int, float]]:
    """The (bin, volume) pairs of a bar's volume spread evenly over its range."""
    i0 = math.floor(low / bin_size + BIN_EPS)
    i1 = math.floor(high / bin_size + BIN_EPS)
    if i1 < i0:
        i0, i1 = i1, i0
    n = i1 - i0 + 1
    v = volume / n
    return [(i, v) for i in range(i0, i1 + 1)]


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
    n = hist.size
    if width <= 1 or n == 0:
        return hist.astype(np.float64, copy=True)
    below = (width - 1) // 2
    above = width - 1 - below
    out = np.zeros(n)
    cnt = np.zeros(n)
    for off in range(-below, above + 1):  # fixed order: deterministic sums
        lo = max(0, -off)
        hi = min(n, n - off)
        out[lo:hi] += hist[lo + off : hi + off]
        cnt[lo:hi] += 1.0
    return out / cnt


def poc_index(hist: list[float]) -> int:
    n = len(hist)
    top = max(hist)
    mid2 = n - 1  # twice the middle index, to stay in integers
    best, best_d = -1, None
    for i, v in enumerate(hist):
        if v == top:
            d = abs(2 * i - mid2)
            if best_d is None or d < best_d:  # equal distance keeps the lower bin
                best, best_d = i, d
    return best


def value_area(hist: list[float], poc: int, pct: float) -> tuple[int, int, float]:
    """(lowest bin, highest bin, volume) of the value area, by the pairs rule."""
    n = len(hist)
    total = 0.0
    for v in hist:
        total += v
    target = total * (pct / 100.0)
    lo = hi = poc
    vol = hist[poc]
    while vol < target:
        up_n = min(2, n - 1 - hi)
        dn_n = min(2, lo)
        if up_n == 0 and dn_n == 0:
            break
        up = 0.0
        for k in range(1, up_n + 1):
            up += hist[hi + k]
        dn = 0.0
        for k in range(1, dn_n + 1):
            dn += hist[lo - k]
        if up_n and (dn_n == 0 or up >= dn):
            hi += up_n
            vol += up
        else:
            lo -= dn_n
            vol += dn
    return lo, hi, vol


def _runs(s: list[float]) -> list[tuple[int, int]]:
    """Maximal runs of equal values: [(start, end)], inclusive."""
    runs = []
    a = 0
    n = len(s)
    for i in range(1, n + 1):
        if i == n or s[i] != s[a]:
            runs.append((a, i - 1))
            a = i
    return runs


def find_lvns(s: list[float], ratio_cap: float, min_prom: float) -> list[int]:
    """Indexes of the LVNs of a smoothed histogram ``s`` (see module doc)."""
    out = []
    n = len(s)
    for a, b in _runs(s):
        if a == 0 or b == n - 1:
            continue
        v = s[a]
        if not (s[a - 1] > v and s[b + 1] > v) or v > ratio_cap:
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
    out = []
    n = len(s)
    for a, b in _runs(s):
        if a == 0 or b == n - 1:
            continue
        v = s[a]
        if not (s[a - 1] < v and s[b + 1] < v) or v < ratio_floor:
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


def dense_stats(lo: int, hist: np.ndarray, bin_size: float, params: StrategyParams) -> Optional[ProfileStats]:
    """ProfileStats of a dense histogram whose first element is bin ``lo``.

    Leading/trailing empty bins are trimmed first (the range is lowest to highest
    non-empty bin). Returns None for an empty profile.
    """
    hist = np.asarray(hist, dtype=np.float64)
    nz = np.flatnonzero(hist > 0.0)
    if nz.size == 0:
        return None
    first, last = int(nz[0]), int(nz[-1])
    h_arr = hist[first : last + 1].copy()
    h_arr[h_arr < 0.0] = 0.0
    lo += first
    h = h_arr.tolist()
    n = len(h)
    total = 0.0
    for v in h:
        total += v
    p = poc_index(h)
    va_lo, va_hi, va_vol = value_area(h, p, params.value_area_pct)
    poc_vol = h[p]
    nonempty = [v for v in h if v > 0.0]
    mean_ne = 0.0
    for v in nonempty:
        mean_ne += v
    mean_ne /= len(nonempty)
    s = smooth(h_arr, params.smooth_bins).tolist()
    lvns = find_lvns(s, params.lvn_ratio * mean_ne, params.lvn_prominence * poc_vol)
    hvns = find_hvns(s, params.hvn_ratio * mean_ne, params.hvn_prominence * poc_vol)
    bs = bin_size
    idx = np.arange(lo, lo + n + 1, dtype=np.float64)
    edges = _prices(idx * bs)
    centres = _prices((idx[:-1] + 0.5) * bs)
    return ProfileStats(
        bin_size=bs,
        total_volume=total,
        poc=centres[p],
        vah=edges[va_hi + 1],
        val=edges[va_lo],
        value_area_volume=va_vol,
        lvns=tuple(Node(centres[i], s[i]) for i in lvns),
        hvns=tuple(Node(centres[i], s[i]) for i in hvns),
        low=edges[0],
        high=edges[n],
        histogram=tuple(zip(centres, h)),
    )
