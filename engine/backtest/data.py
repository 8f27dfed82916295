"""Where backtest data comes from, and what identifies it.

Sources:
- files (``--data PATH...``): trades CSV or 1-minute bars CSV(.gz), told apart
  by the header (engine.feeds.loaders); one symbol per file, named by
  ``--symbols`` in the same order or else by the file name's first word
  (``btcusdt_perp_202201_bars_1m.csv`` -> BTCUSDT);
- ``synthetic:SYMBOLS:DAYS:SEED`` (e.g. ``synthetic:SPY,QQQ:252:7``): the
  seeded stock-session simulator, DAYS chained NYSE sessions per symbol ending
  on ``--end`` (default the simulator's reference date), aggregated to bars
  with true flow and volume at price. Generation is cached on disk by its
  arguments (a year for 10 symbols is generated once);
- the store (``--from-store``): candles recorded by earlier runs.

``--start/--end`` (dates, UTC, end inclusive) cut any source. The fingerprint
is a hash of the arrays actually used, so two runs on the same data compare.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..config import ConfigError
from ..feeds.loaders import BarsArrays, TradesArrays, load
from ..model import NS_PER_S, Bar

Series = Union[BarsArrays, TradesArrays]
SYNTHETIC_TRADES_PER_SESSION = 12_000  # bars-only history: ~30 trades a minute is plenty for OHLC + flow
DAY_NS = 86_400 * NS_PER_S


@dataclass
class Dataset:
    kind: str  # "bars" | "trades"
    series: dict[str, Series]  # symbol -> arrays, each in time order
    description: str = ""
    malformed: int = 0
    _fingerprint: str = field(default="", repr=False)

    @property
    def symbols(self) -> list[str]:
        return list(self.series)

    @property
    def n_items(self) -> int:
        return sum(len(s) for s in self.series.values())

    @property
    def fingerprint(self) -> str:
        if not self._fingerprint:
            h = hashlib.sha256()
            for sym in sorted(self.series):
                s = self.series[sym]
                h.update(sym.encode())
                h.update(np.ascontiguousarray(s.ts_ns).tobytes())
                px = s.close if isinstance(s, BarsArrays) else s.price
                vol = s.volume if isinstance(s, BarsArrays) else s.size
                h.update(np.ascontiguousarray(px).tobytes())
                h.update(np.ascontiguousarray(vol).tobytes())
            self._fingerprint = f"{self.kind}:{self.n_items}:{h.hexdigest()[:16]}"
        return self._fingerprint

    def bounds(self) -> tuple[int, int]:
        firsts = [int(s.ts_ns[0]) for s in self.series.values() if len(s)]
        lasts = [int(s.ts_ns[-1]) for s in self.series.values() if len(s)]
        return (min(firsts), max(lasts)) if firsts else (0, 0)

    def window(self, start_ns: int, end_ns: int) -> "Dataset":
        """Items with start_ns <= ts < end_ns (symbols left empty are dropped)."""
        out: dict[str, Series] = {}
        for sym, s in self.series.items():
            i, j = np.searchsorted(s.ts_ns, [start_ns, end_ns], side="left")
            if j > i:
                out[sym] = slice_series(s, int(i), int(j))
        return Dataset(self.kind, out, f"{self.description} [{_day(start_ns)}..{_day(end_ns - 1)}]")


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).date().isoformat()


def slice_series(s: Series, i: int, j: int) -> Series:
    if isinstance(s, TradesArrays):
        return s.slice(i, j)
    opt = lambda a: None if a is None else a[i:j]  # noqa: E731
    return BarsArrays(s.ts_ns[i:j], s.open[i:j], s.high[i:j], s.low[i:j], s.close[i:j], s.volume[i:j],
                      opt(s.buy_volume), opt(s.sell_volume), opt(s.trades), opt(s.vwap),
                      None if s.vap is None else s.vap[i:j], source=s.source)


def parse_date(text: Optional[str], what: str) -> Optional[date]:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--{what} {text!r} is not a date YYYY-MM-DD") from None


def date_ns(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) * NS_PER_S


def symbol_from_path(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return (name.split("_")[0] or name).upper()


# --------------------------------------------------------------------------- sources


def load_files(paths: Sequence[str], symbols: Optional[Sequence[str]]) -> Dataset:
    if symbols and len(symbols) != len(paths):
        raise ConfigError(f"--symbols names {len(symbols)} symbols for {len(paths)} --data files; "
                          "give one symbol per file, in the same order, or none (named from the file)")
    series: dict[str, Series] = {}
    kinds = set()
    bad = 0
    for k, p in enumerate(paths):
        path = Path(p)
        if not path.exists():
            raise ConfigError(f"--data {p!r}: no such file")
        arrays = load(path)  # a DataFileError names the file and the problem
        sym = symbols[k].upper() if symbols else symbol_from_path(path)
        if sym in series:
            raise ConfigError(f"--data: two files map to symbol {sym}; name them with --symbols")
        series[sym] = arrays
        kinds.add(arrays.kind)
        bad += arrays.malformed.count
    if len(kinds) > 1:
        raise ConfigError("--data mixes trades files and bars files; backtest one kind at a time")
    return Dataset(kinds.pop(), series, ", ".join(Path(p).name for p in paths), malformed=bad)


def parse_synthetic(spec: str) -> tuple[list[str], int, int]:
    parts = spec.split(":")
    if len(parts) != 4 or parts[0] != "synthetic":
        raise ConfigError(f"--data {spec!r}: expected synthetic:SYMBOLS:DAYS:SEED, e.g. synthetic:SPY,QQQ:20:7")
    syms = [s.strip().upper() for s in parts[1].split(",") if s.strip()]
    if not syms:
        raise ConfigError(f"--data {spec!r}: no symbols between the first two colons")
    try:
        days, seed = int(parts[2]), int(parts[3])
    except ValueError:
        raise ConfigError(f"--data {spec!r}: DAYS and SEED must be whole numbers") from None
    if days < 1:
        raise ConfigError(f"--data {spec!r}: DAYS must be >= 1")
    return syms, days, seed


def _cache_dir() -> Path:
    env = os.environ.get("COCKPIT_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cockpit")) / "synthetic"


def _pack_bars(days: list[BarsArrays]) -> dict[str, np.ndarray]:
    cat = lambda name: np.concatenate([getattr(d, name) for d in days]) if days else np.zeros(0)  # noqa: E731
    vap_bar, vap_px, vap_v = [], [], []
    base = 0
    for d in days:
        for i, v in enumerate(d.vap or []):
            for px, vol in v:
                vap_bar.append(base + i)
                vap_px.append(px)
                vap_v.append(vol)
        base += len(d)
    return {n: cat(n) for n in ("ts_ns", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume",
                                "trades", "vwap")} | {
        "vap_bar": np.asarray(vap_bar, dtype=np.int64), "vap_px": np.asarray(vap_px), "vap_v": np.asarray(vap_v)}


def _unpack_bars(z, source: str) -> BarsArrays:
    n = len(z["ts_ns"])
    vap: list[tuple] = [()] * n
    vb, vp, vv = z["vap_bar"], z["vap_px"], z["vap_v"]
    if len(vb):
        cuts = np.flatnonzero(np.diff(vb)) + 1
        for bars_idx, px, vol in zip(np.split(vb, cuts), np.split(vp, cuts), np.split(vv, cuts)):
            vap[int(bars_idx[0])] = tuple(zip(px.tolist(), vol.tolist()))
    return BarsArrays(z["ts_ns"].astype(np.int64), z["open"], z["high"], z["low"], z["close"], z["volume"],
                      z["buy_volume"], z["sell_volume"], z["trades"].astype(np.int64), z["vwap"],
                      [v if v else None for v in vap], source=source)


def synthetic_bars(symbol: str, days: int, seed: int, end: Optional[date] = None,
                   trades_per_session: int = SYNTHETIC_TRADES_PER_SESSION, cache: bool = True) -> BarsArrays:
    """``days`` chained simulated sessions of ``symbol`` as one-minute bars."""
    from ..feeds.synthetic import DEFAULT_SESSION_DATE, GENERATOR_VERSION, generate_bars, is_trading_day, \
        previous_trading_day, trading_days_ending

    last = end or DEFAULT_SESSION_DATE
    while not is_trading_day(last):
        last = previous_trading_day(last)
    key = f"{symbol}-{seed}-{days}-{last.isoformat()}-{trades_per_session}-v{GENERATOR_VERSION}"
    path = _cache_dir() / f"{key}.npz"
    source = f"synthetic:{symbol}:{days}:{seed}"
    if cache and path.exists():
        try:
            with np.load(path) as z:
                return _unpack_bars(z, source)
        except Exception:
            pass  # a damaged cache file is regenerated
    day_list = trading_days_ending(last, days)
    packed = _pack_bars(generate_bars(symbol, seed, day_list, trades_per_session=trades_per_session))
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **packed)
            os.replace(tmp, path)
        except OSError:
            pass  # caching is an optimisation only
    return _unpack_bars(packed, source)


def load_synthetic(spec: str, end: Optional[date] = None, index_of: Optional[dict[str, str]] = None) -> Dataset:
    """The simulator's bars. ``index_of`` (the execution map, index -> proxy): an index
    in the spec moves with its proxy (``index_bars``, as the live simulator's
    ``feeds.synthetic.index_session``), and the proxy is simulated even when not listed."""
    syms, days, seed = parse_synthetic(spec)
    mapped = {k: p for k, p in (index_of or {}).items() if k in syms}
    series: dict[str, Series] = {}
    for s in [*syms, *(p for p in mapped.values() if p not in syms)]:
        if s not in mapped:
            series[s] = synthetic_bars(s, days, seed, end)
    for k, p in mapped.items():
        series[k] = index_bars(series[p], k)
    return Dataset("bars", {s: series[s] for s in [*syms, *(p for p in mapped.values() if p not in syms)]}, spec)


def index_bars(proxy: BarsArrays, symbol: str) -> BarsArrays:
    """A simulated index's bars: its proxy's at the simulator's factor for it (SPX 10 x
    SPY), prices on the cent grid; the same times, volumes and flow."""
    from ..feeds.synthetic import _index_factor

    f = _index_factor(symbol)
    scale = lambda a: None if a is None else np.round(np.asarray(a, dtype=float) * f, 2)  # noqa: E731
    vap = None if proxy.vap is None else [tuple((round(px * f, 2), v) for px, v in bar) for bar in proxy.vap]
    return replace(proxy, open=scale(proxy.open), high=scale(proxy.high), low=scale(proxy.low),
                   close=scale(proxy.close), vwap=scale(proxy.vwap), vap=vap,
                   source=f"{proxy.source} x {f:g} as {symbol}")


def proxies_first(ds: Dataset, index_of: dict[str, str]) -> Dataset:
    """The dataset with each mapped index's proxy first: items of one time go in series
    order, so the proxy's bar of a minute is in before the index's closes and runs the
    setups, and r is the two closes of that bar (not the proxy's minute before)."""
    proxies = [p for k, p in index_of.items() if k in ds.series and p in ds.series]
    if not proxies:
        return ds
    order = [*dict.fromkeys(proxies), *(s for s in ds.series if s not in proxies)]
    return replace(ds, series={s: ds.series[s] for s in order})


def require_mapped_pairs(ds: Dataset, index_of: dict[str, str]) -> None:
    """A mapped backtest reads the index and trades the proxy: data for an index of the
    map needs its proxy's data too (ConfigError naming both)."""
    for k, p in index_of.items():
        if k in ds.series and p not in ds.series:
            raise ConfigError(f"execution_map {k} -> {p}: the data has {k} but not {p}; a mapped backtest reads "
                              f"{k} and trades {p}, so it needs both symbols' data (e.g. --data {k}.csv {p}.csv "
                              f"--symbols {k},{p})")


def bars_to_arrays(bars: Sequence[Bar], source: str) -> BarsArrays:
    f = lambda name: np.asarray([getattr(b, name) for b in bars], dtype=float)  # noqa: E731
    return BarsArrays(np.asarray([b.ts_ns for b in bars], dtype=np.int64), f("open"), f("high"), f("low"),
                      f("close"), f("volume"), f("buy_volume"), f("sell_volume"),
                      np.asarray([b.trades for b in bars], dtype=np.int64), f("vwap"),
                      [b.vap for b in bars], source=source)


def load_from_store(db: Optional[str], symbols: Sequence[str], start: Optional[date], end: Optional[date]) -> Dataset:
    if not symbols:
        raise ConfigError("--from-store needs --symbols (which candles to load)")
    from ..store.sync import open_sync

    start_ns = date_ns(start) if start else 0
    end_ns = date_ns(end) + DAY_NS if end else 2**62
    series: dict[str, Series] = {}
    with open_sync(db or None) as st:
        for sym in symbols:
            bars = st.load_bars(sym.upper(), start_ns, end_ns)
            if bars:
                series[sym.upper()] = bars_to_arrays(bars, f"store:{sym.upper()}")
    if not series:
        raise ConfigError(f"--from-store: no candles stored for {', '.join(symbols)} in that date range")
    return Dataset("bars", series, f"store {db or 'default'}")


def load_dataset(data: Sequence[str], symbols: Optional[Sequence[str]] = None, start: Optional[str] = None,
                 end: Optional[str] = None, from_store: bool = False, db: Optional[str] = None,
                 execution_map: Optional[dict[str, str]] = None) -> Dataset:
    """The one entry point the CLI uses: pick the source, then cut to --start/--end.
    ``execution_map`` (index -> proxy): the simulator makes the pair; files and the store
    must hold both."""
    d0, d1 = parse_date(start, "start"), parse_date(end, "end")
    if d0 and d1 and d1 < d0:
        raise ConfigError(f"--end {end} is before --start {start}")
    if from_store:
        ds = load_from_store(db, symbols or [], d0, d1)
    elif not data:
        raise ConfigError("no data: give --data PATH... (trades or 1-minute bars CSV), "
                          "--data synthetic:SYMBOLS:DAYS:SEED, or --from-store")
    elif len(data) == 1 and data[0].startswith("synthetic"):
        ds = load_synthetic(data[0], d1, execution_map)
    else:
        ds = load_files(data, symbols)
    if execution_map:
        require_mapped_pairs(ds, execution_map)
        ds = proxies_first(ds, execution_map)
    if d0 or d1:
        lo = date_ns(d0) if d0 else 0
        hi = date_ns(d1) + DAY_NS if d1 else 2**62
        malformed = ds.malformed
        ds = ds.window(lo, hi)
        ds.malformed = malformed
        if not ds.series:
            raise ConfigError(f"no data between --start {start or '-'} and --end {end or '-'}")
    return ds

