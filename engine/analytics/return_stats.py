"""Stylised facts of one-minute bars: what the simulator is calibrated against.

Why it exists: a simulator whose returns are smoother or more predictable than
a market's hands every strategy free money (issue 16, "numbers you can
believe"). These are the few statistics that tell a market's one-minute
returns from a scripted path, computed the same way for real bar files and for
simulated sessions so they can be printed side by side
(``benchmarks/sim_calibration.py``) and tested (tests/test_sim_calibration.py).

Definitions (pure numpy; ``r`` = log return of the close between two bars
exactly one minute apart, so session gaps and missing minutes never make a
return; bars with a non-positive close are skipped):

- ``std_bps``: standard deviation of ``r`` in basis points (scale only: it
  differs by instrument, the shape statistics below do not);
- ``excess_kurtosis``: m4 / m2^2 - 3 of ``r`` (0 for a normal; fat tails > 0);
- ``acf_r1``: lag-1 autocorrelation of ``r`` (near zero in a liquid market:
  slightly negative from the bid-ask bounce);
- ``acf_abs``: autocorrelation of ``|r|`` at lags 1..10 (volatility
  clustering: positive and slowly decaying). A lag pairs two returns only when
  both exist;
- ``variance_ratio``: var of the sum of ``k`` consecutive returns / (k x var
  of one), for k = 5 and 30 (1 for a random walk; > 1 trends, < 1 mean
  reversion: the predictability a trend or reversal strategy would harvest);
- ``volume_abs_corr``: correlation of a bar's volume with its ``|r|`` (busy
  minutes are the volatile ones);
- ``volume_curve``: mean volume per ``bucket_min``-minute bucket of the
  session, divided by the mean over buckets (the intraday volume curve), with
  ``open_ratio`` / ``close_ratio`` = first / last bucket over the median bucket
  (a U-shape: both > 1). Sessions are days of ``ts + day_offset_ns`` (UTC days
  for 24-hour markets; any offset keeps a US regular session in one day) and
  minutes count from each session's first bar.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

NS_PER_MIN = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000
LAGS = 10
VR_HORIZONS = (5, 30)


@dataclass(frozen=True)
class ReturnStats:
    """The stylised facts of one bar series (see the module docstring)."""

    bars: int
    returns: int
    std_bps: float
    excess_kurtosis: float
    acf_r1: float
    acf_abs: tuple[float, ...]  # lags 1..LAGS
    variance_ratio: dict[int, float]
    volume_abs_corr: float
    volume_curve: tuple[float, ...]
    open_ratio: float
    close_ratio: float

    def as_dict(self) -> dict:
        return asdict(self)


def one_minute_returns(ts_ns: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``r[i]`` = log(close[i] / close[i-1]) when bar i starts exactly a minute after
    bar i-1, else NaN (``r[0]`` is NaN): one value per bar, aligned with the bars."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    c = np.asarray(close, dtype=float)
    r = np.full(c.shape, np.nan)
    if len(c) < 2:
        return r
    ok = (np.diff(ts) == NS_PER_MIN) & (c[1:] > 0) & (c[:-1] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = np.where(ok, np.log(c[1:] / np.where(c[:-1] > 0, c[:-1], 1.0)), np.nan)
    return r


def autocorr(x: np.ndarray, lag: int) -> float:
    """Autocorrelation at ``lag`` of a series with NaN holes: pairs where both exist,
    around the mean and variance of all existing values."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    if ok.sum() < lag + 3:
        return float("nan")
    mu = x[ok].mean()
    var = ((x[ok] - mu) ** 2).mean()
    if var <= 0:
        return float("nan")
    a, b = x[:-lag], x[lag:]
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return float("nan")
    return float(((a[both] - mu) * (b[both] - mu)).mean() / var)


def excess_kurtosis(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 4:
        return float("nan")
    d = x - x.mean()
    m2 = (d * d).mean()
    return float((d ** 4).mean() / (m2 * m2) - 3.0) if m2 > 0 else float("nan")


def variance_ratio(r: np.ndarray, k: int) -> float:
    """var(sum of k consecutive returns) / (k var(r)), over non-overlapping runs of
    k returns that all exist."""
    r = np.asarray(r, dtype=float)
    n = (len(r) // k) * k
    blocks = r[:n].reshape(-1, k)
    blocks = blocks[np.isfinite(blocks).all(axis=1)]
    one = r[np.isfinite(r)]
    if len(blocks) < 3 or len(one) < 3:
        return float("nan")
    v1 = one.var(ddof=1)
    return float(blocks.sum(axis=1).var(ddof=1) / (k * v1)) if v1 > 0 else float("nan")


def volume_curve(ts_ns: np.ndarray, volume: np.ndarray, bucket_min: int = 30,
                 day_offset_ns: int = 0) -> np.ndarray:
    """Mean volume per ``bucket_min`` bucket since each session's first bar, over the
    mean of the buckets (buckets seen in fewer than half of the sessions are dropped:
    a half day's or a partial file's tail)."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    v = np.asarray(volume, dtype=float)
    if len(ts) == 0:
        return np.zeros(0)
    day = (ts + int(day_offset_ns)) // NS_PER_DAY
    starts = np.r_[True, day[1:] != day[:-1]]
    first = ts[starts][np.cumsum(starts) - 1]
    bucket = (ts - first) // (bucket_min * NS_PER_MIN)
    n_days = int(starts.sum())
    sums = np.bincount(bucket, weights=v)
    # sessions each bucket was seen in
    seen = np.bincount(bucket, weights=np.r_[True, (bucket[1:] != bucket[:-1]) | starts[1:]].astype(float))
    keep = seen >= max(1, n_days // 2)
    mean = np.where(keep, sums / np.maximum(seen, 1), np.nan)
    mean = mean[: int(np.flatnonzero(keep).max()) + 1] if keep.any() else mean[:0]
    total = np.nanmean(mean) if len(mean) else np.nan
    return mean / total if total and np.isfinite(total) else mean


def bar_stats(ts_ns: np.ndarray, close: np.ndarray, volume: Optional[np.ndarray] = None,
              bucket_min: int = 30, day_offset_ns: int = 0) -> ReturnStats:
    """The stylised facts of one symbol's one-minute bars (time order)."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    r = one_minute_returns(ts, close)
    ok = r[np.isfinite(r)]
    absr = np.abs(r)
    vr = {k: variance_ratio(r, k) for k in VR_HORIZONS}
    if volume is not None:
        v = np.asarray(volume, dtype=float)
        both = np.isfinite(r) & np.isfinite(v)
        corr = float(np.corrcoef(v[both], absr[both])[0, 1]) if both.sum() > 3 and v[both].std() > 0 else float("nan")
        curve = volume_curve(ts, v, bucket_min, day_offset_ns)
    else:
        corr, curve = float("nan"), np.zeros(0)
    if len(curve) >= 3:
        mid = float(np.nanmedian(curve))
        open_ratio, close_ratio = float(curve[0] / mid), float(curve[-1] / mid)
    else:
        open_ratio = close_ratio = float("nan")
    return ReturnStats(
        bars=int(len(ts)),
        returns=int(len(ok)),
        std_bps=float(ok.std() * 1e4) if len(ok) > 1 else float("nan"),
        excess_kurtosis=excess_kurtosis(r),
        acf_r1=autocorr(r, 1),
        acf_abs=tuple(autocorr(absr, k) for k in range(1, LAGS + 1)),
        variance_ratio=vr,
        volume_abs_corr=corr,
        volume_curve=tuple(float(x) for x in curve),
        open_ratio=open_ratio,
        close_ratio=close_ratio,
    )
