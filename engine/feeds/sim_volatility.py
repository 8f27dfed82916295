"""The simulator's volatility: clustered, fat-tailed, busiest at the open and close.

Why it exists: a scripted path plus constant-scale noise has thin tails, no
volatility clustering and (when the script dominates) strongly autocorrelated
one-minute returns, which every trend strategy harvests as free money
(issue 16). Real one-minute bars (the shared BTC perpetual and 6E futures
files, engine/analytics/return_stats.py) show excess kurtosis in the tens,
autocorrelation of |r| near 0.3 at lag 1 still about 0.2 at lag 10, and a
volume that rises with volatility.

The model: a per-minute log-volatility ``h`` that is the sum of a slow AR(1)
component (hours: the day's mood) and a fast one (minutes: bursts), plus an
intraday U-shape; the noise scale of a second is ``exp(h)`` of its minute
(normalised so the mean variance is 1) and the trade rate follows its square
root (floored, so no minute is empty), so busy minutes are the volatile ones.
After each of the script's bursts both stay lifted for a few minutes
(``aftershock``), as after news. Constants are calibrated with
``benchmarks/sim_calibration.py``.

Drawn from its own generator (the session's seed words plus a tag), so the
regime script of a session does not depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VolatilityModel:
    """Constants of the log-volatility process (per minute)."""

    slow_minutes: float = 240.0  # memory of the slow component
    slow_std: float = 0.6  # its stationary standard deviation
    fast_minutes: float = 8.0  # memory of the fast component
    fast_std: float = 0.7
    open_boost: float = 0.8  # extra volatility at the open (decays over open_minutes)
    open_minutes: float = 25.0
    close_boost: float = 0.35
    close_minutes: float = 30.0
    rate_power: float = 0.5  # trade rate ~ vol ** rate_power ...
    rate_floor: float = 0.4  # ... but never below this (a liquid stock trades every minute)
    shock_boost: float = 0.8  # a burst (the script's jumps) lifts volatility and trading by this ...
    shock_seconds: float = 600.0  # ... decaying over this: the market stays excited after a jump
    max_clustered: float = 5.0  # the clustered part never above this (a 3-sigma h would be 7x: a crash a day)


DEFAULT_MODEL = VolatilityModel()


def _ar1(rng: np.random.Generator, n: int, minutes: float, std: float) -> np.ndarray:
    """A stationary AR(1) of ``n`` steps with memory ``minutes`` and stationary ``std``."""
    phi = float(np.exp(-1.0 / minutes))
    eps = rng.standard_normal(n) * std * np.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    x = rng.standard_normal() * std
    for i in range(n):
        x = phi * x + eps[i]
        out[i] = x
    return out


def intraday_shape(n_min: int, model: VolatilityModel = DEFAULT_MODEL) -> np.ndarray:
    """Volatility multiplier by minute of the session: high at the open, lifted at the close."""
    m = np.arange(n_min, dtype=np.float64)
    span = float(n_min)
    return 1.0 + model.open_boost * np.exp(-m / model.open_minutes) \
        + model.close_boost * np.exp(-(span - m) / model.close_minutes)


def clustered_volatility(rng: np.random.Generator, n_min: int, model: VolatilityModel = DEFAULT_MODEL) -> np.ndarray:
    """The clustered part of each minute's volatility multiplier, ``exp(h)`` scaled so
    its mean square is 1 over the process's law (E[exp(2h)] = exp(2 var h))."""
    h = _ar1(rng, n_min, model.slow_minutes, model.slow_std) + _ar1(rng, n_min, model.fast_minutes, model.fast_std)
    return np.minimum(np.exp(h - (model.slow_std ** 2 + model.fast_std ** 2)), model.max_clustered)


def session_volatility(rng: np.random.Generator, n_min: int,
                       model: VolatilityModel = DEFAULT_MODEL) -> tuple[np.ndarray, np.ndarray]:
    """(volatility multiplier of each minute, trade-rate multiplier of each minute): the
    clustered part times the intraday shape (mean square 1), and the clustered part
    to ``rate_power``, at least ``rate_floor`` (the trade rate has its own U-shape in the simulator)."""
    clustered = clustered_volatility(rng, n_min, model)
    shape = intraday_shape(n_min, model)
    shape = shape / np.sqrt(np.mean(shape * shape))
    return clustered * shape, np.maximum(clustered ** model.rate_power, model.rate_floor)


def aftershock(n_sec: int, jump_starts: np.ndarray, model: VolatilityModel = DEFAULT_MODEL) -> np.ndarray:
    """Per-second multiplier 1 + boost x sum of exp(-(t - start) / shock_seconds) over the
    jumps started before t: volatility (and activity) cluster after a jump, as after news."""
    out = np.ones(n_sec)
    t = np.arange(n_sec, dtype=np.float64)
    for start in np.asarray(jump_starts, dtype=np.int64):
        if 0 <= start < n_sec:
            out[start:] += model.shock_boost * np.exp(-(t[start:] - start) / model.shock_seconds)
    return out
