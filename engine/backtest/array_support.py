"""Whether a backtest can take the array path (arrays.py), and why not: the
configuration (one symbol's bars, one setup with an array form, AUTO, market
or limit entries, no dynamic sizing, adds or options gate, only the setups'
analytics) and the bars (none the Engine would skip: malformed, or refused by
the symbol's price band). Answers are cached by the arrays' contents, since a
sweep asks once per combination."""
from __future__ import annotations

import hashlib
import weakref
from typing import Any

import numpy as np

from ..analytics.profile import resolve_bin_size
from ..config import CockpitConfig, StrategyParams
from ..feeds.loaders import BarsArrays
from ..model import NS_PER_MIN, Mode
from ..sanity import PriceBand
from ..strategy.registry import SETUPS
from .data import Dataset


def digest(*arrays: np.ndarray) -> bytes:
    """What the caches below are keyed by: the arrays' contents (ids get reused)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.digest()


_ARRAY_KEYS: dict[int, tuple] = {}  # id(array) -> (weak reference, its content key)


def array_key(a: np.ndarray) -> bytes:
    """``digest(a)``, worked out once per array object (a year's bar times take
    ~2 ms to hash, a sixth of a sweep's array-path run); an id whose array died
    is hashed again. Like the series below, the array is not changed after."""
    got = _ARRAY_KEYS.get(id(a))
    if got is not None and got[0]() is a:
        return got[1]
    key = digest(a)
    if len(_ARRAY_KEYS) > 64:
        _ARRAY_KEYS.clear()
    _ARRAY_KEYS[id(a)] = (weakref.ref(a), key)
    return key


_SERIES_KEYS: dict[int, tuple] = {}  # id(series) -> (weak reference, its content key)


def series_key(s: BarsArrays) -> bytes:
    """A bar series' content key, worked out once per series object (its vap
    tuples cost a hash of every bar); an id whose object died is recomputed."""
    got = _SERIES_KEYS.get(id(s))
    if got is not None and got[0]() is s:
        return got[1]
    flow = [a for a in (s.buy_volume, s.sell_volume, s.vwap) if a is not None]
    key = digest(s.ts_ns, s.open, s.high, s.low, s.close, s.volume, *flow) + \
        hash(tuple(s.vap) if s.vap else 0).to_bytes(8, "little", signed=True)
    if len(_SERIES_KEYS) > 64:
        _SERIES_KEYS.clear()
    _SERIES_KEYS[id(s)] = (weakref.ref(s), key)
    return key


def array_setup(params: StrategyParams):
    """The class of the one setup ``params`` runs if it has an array form, or None."""
    names = list(dict.fromkeys(params.setups)) if params.enabled else []
    if len(names) != 1:
        return None
    cls = SETUPS.get(names[0])
    return cls if getattr(cls, "array_signals", None) is not None else None


def unsupported(config: CockpitConfig, ds: Dataset, needs: Any = "setups", warmup=(), analytics=None,
                items=None, tape=None) -> str:
    """Why this run cannot take the array path ("" when it can)."""
    if analytics or tape is not None or items is not None:
        return "replayed analytics (a sweep's recording)"
    if list(warmup):
        return "warm-up bars"
    if needs is not None and needs != "setups":  # every analytic (None) is worked out over arrays too
        return f"a chosen set of analytics ({', '.join(sorted(needs))}), neither the setups' needs nor every one"
    if config.execution_map:
        pairs = ", ".join(f"{k} -> {v}" for k, v in config.execution_map.items())
        return f"the execution map ({pairs}): orders go to a proxy at translated prices, not supported"
    if ds.kind != "bars":
        return "trades data (fills are worked out trade by trade)"
    if len(ds.series) != 1:
        return f"{len(ds.series)} symbols (they share one account)"
    if config.app.mode is not Mode.AUTO:
        return f"mode {config.app.mode}"
    if config.engine.entry_type not in ("market", "limit"):
        return f"{config.engine.entry_type} entries not supported"
    sym = ds.symbols[0]
    rc = config.risk
    # risk features the array path does not model: the Engine decides these runs
    if config.sizing.dynamic:
        return "dynamic sizing (sizing.dynamic) not supported"
    if rc.max_positions_per_symbol > 1:
        return "several entries per symbol (risk.max_positions_per_symbol) not supported"
    if rc.options_gate:
        return "the options feedback gate (risk.options_gate) not supported"
    p = config.strategy.for_symbol(sym)
    if p.enabled:
        names = list(dict.fromkeys(p.setups))
        if len(names) != 1:
            return f"setups {', '.join(names)}: the array path runs one setup"
        if array_setup(p) is None:
            return f"setup {names[0]} has no array form"
    return _bars_problem(config, p, sym, ds.series[sym])


_CHECKED: dict[tuple, str] = {}  # (arrays, band, bin size) -> _bars_problem's answer (a sweep asks per combination)


def _bars_problem(config: CockpitConfig, p: StrategyParams, sym: str, s: BarsArrays) -> str:
    """Bars the Engine would skip (and journal): malformed ones, or ones its price band refuses."""
    key = (series_key(s), repr(config.data.for_symbol(sym)), p.bin_size)
    if key not in _CHECKED:
        if len(_CHECKED) > 16:
            _CHECKED.clear()
        _CHECKED[key] = _check_bars(config, p, sym, s)
    return _CHECKED[key]


def _check_bars(config: CockpitConfig, p: StrategyParams, sym: str, s: BarsArrays) -> str:
    o, h, lo, c, v = s.open, s.high, s.low, s.close, s.volume
    n = len(s)
    if n == 0:
        return "no bars"
    with np.errstate(invalid="ignore"):
        ok = (0.0 < lo) & (lo <= o) & (o <= h) & (h < np.inf) & (lo <= c) & (c <= h) & (0.0 <= v) & (v < np.inf)
    minute = s.ts_ns - s.ts_ns % NS_PER_MIN
    if n > 1:
        ok[1:] &= minute[1:] > minute[:-1]
    bad = int(n - np.count_nonzero(ok))
    if bad:
        return f"{bad} malformed or out-of-order bars (the Engine skips and journals them)"
    band = PriceBand(config.data.for_symbol(sym))
    bin_size = resolve_bin_size(p, 1.0 if p.bin_size != "auto" else float(o[0]))
    # the bars the band's quick pass does not let through, judged in order (judging moves
    # the band): found by numpy while they are few, then (a band judged often) bar by bar
    i, judged = _first_outside(band, lo, h, 0), 0
    while i < n and judged < _FEW_JUDGED:
        reason, _ = band.judge((float(o[i]), float(h[i]), float(lo[i]), float(c[i])), bin_size)
        if reason is not None:
            return f"the price band refuses bar {i} ({reason})"
        i, judged = _first_outside(band, lo, h, i + 1), judged + 1
    O, H, L, C = o[i:].tolist(), h[i:].tolist(), lo[i:].tolist(), c[i:].tolist()
    for k in range(len(L)):
        if band.fast_lo <= L[k] and H[k] <= band.fast_hi:
            continue
        reason, _ = band.judge((O[k], H[k], L[k], C[k]), bin_size)
        if reason is not None:
            return f"the price band refuses bar {i + k} ({reason})"
    return ""


_FEW_JUDGED = 400  # (~15 us each by numpy: past this many, the loop over lists is cheaper)


def _first_outside(band: PriceBand, lo: np.ndarray, h: np.ndarray, i: int) -> int:
    """The first bar from ``i`` on that the band's quick pass (``fast_lo <= low`` and
    ``high <= fast_hi``, as it stands now) does not let through; ``len(lo)`` when none.
    Looked for in chunks that grow."""
    n = len(lo)
    fast_lo, fast_hi = band.fast_lo, band.fast_hi
    step = 256
    while i < n:
        j = min(n, i + step)
        out = np.flatnonzero(~((fast_lo <= lo[i:j]) & (h[i:j] <= fast_hi)))
        if out.size:
            return i + int(out[0])
        i, step = j, step * 4
    return n
