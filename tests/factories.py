"""Builders of what tests start from: market data (bars, trades, seeded random
walks), engine configurations, an engine on the simulated paper broker, and the
few readings of results that several test files compare.

Each builder takes keywords for what a test varies and fills the rest with plain
defaults, so a test states only what matters to it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Optional, Sequence

import numpy as np

from engine.analytics.session import SessionCalendar
from engine.analytics.symbol import SymbolAnalytics
from engine.config import CockpitConfig, StrategyParams, load_config
from engine.engine import Engine
from engine.factory import build_engine
from engine.model import NS_PER_MIN, NS_PER_S, Bar, Trade

T0 = 1_699_999_980 * NS_PER_S  # 2023-11-14 22:13:00 UTC: a minute boundary, for data whose wall time does not matter
US_EQUITY = SessionCalendar("us_equity")


# --------------------------------------------------------------------------- time


def utc_ns(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: float = 0.0) -> int:
    """Unix nanoseconds of a UTC wall time."""
    return int(datetime(y, mo, d, h, mi, tzinfo=timezone.utc).timestamp()) * NS_PER_S + int(s * NS_PER_S)


# --------------------------------------------------------------------------- market data


def minute_bar(minute: int, o: float, h: float, l: float, c: float, *, symbol: str = "SPY",  # noqa: E741
               start_ns: int = T0, volume: float = 1000.0, **fields) -> Bar:
    """The one-minute bar that starts ``minute`` minutes after ``start_ns``."""
    return Bar(symbol, start_ns + minute * NS_PER_MIN, o, h, l, c, volume, **fields)


def trade(price: float, *, symbol: str = "SPY", dt_s: float = 0.0, size: float = 100, start_ns: int = T0,
          **fields) -> Trade:
    """A print ``dt_s`` seconds after ``start_ns``."""
    return Trade(symbol=symbol, ts_ns=start_ns + int(dt_s * NS_PER_S), price=price, size=size, **fields)


def random_walk_trades(seed: int, days: Sequence[tuple[int, int, int]], *, symbol: str = "XYZ",
                       start_price: float = 50.0, mean_gap_s: float = 4.0, step_sd: float = 0.02,
                       side_weights: Optional[Sequence[float]] = (0.3, 0.4, 0.3)) -> list[Trade]:
    """Seeded random-walk trades 13:00-22:00 UTC on each day (08:00-17:00 ET before
    DST: pre-market, the regular session and after hours), on a 0.01 grid, with a
    true side of -1, 0 or +1 drawn with ``side_weights`` (None: equally likely)."""
    rng = np.random.default_rng(seed)
    out: list[Trade] = []
    px = start_price
    for y, mo, d in days:
        t, end = utc_ns(y, mo, d, 13, 0), utc_ns(y, mo, d, 22, 0)
        while t < end:
            t += int(rng.exponential(mean_gap_s) * NS_PER_S) + 1
            px = round(max(1.0, px + rng.normal(0, step_sd)), 2)
            side = int(rng.choice([-1, 0, 1], p=side_weights))
            out.append(Trade(symbol, t, px, float(rng.integers(1, 500)), side))
    return out


def analytics_bars(trades: Iterable[Trade], params: StrategyParams = StrategyParams(),
                   calendar: SessionCalendar = US_EQUITY) -> tuple[SymbolAnalytics, list[Bar]]:
    """Feed ``trades`` (one symbol) through a fresh SymbolAnalytics and close the last
    minute: the analytics and every bar it closed, in order."""
    an: Optional[SymbolAnalytics] = None
    bars: list[Bar] = []
    last_ns = 0
    for t in trades:
        an = an or SymbolAnalytics(t.symbol, params, calendar)
        bar = an.on_trade(t)
        if bar is not None:
            bars.append(bar)
        last_ns = t.ts_ns
    if an is None:
        raise ValueError("analytics_bars needs at least one trade")
    bar = an.close_until(last_ns + NS_PER_MIN)
    if bar is not None:
        bars.append(bar)
    return an, bars


# --------------------------------------------------------------------------- configuration and engines


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def engine_config(mode: str = "AUTO", **sections: dict) -> CockpitConfig:
    """The seeded simulated session (synthetic feed at full speed, seed 7, paper
    broker) in ``mode``; ``sections`` are merged into the defaults by config section,
    e.g. ``engine_config("SEMI", engine={"signal_ttl_s": 5}, app={"db": path})``.
    The environment is not read."""
    base = {"app": {"mode": mode, "seed": 7}, "feed": {"kind": "synthetic", "speed": 0}}
    return load_config(None, overrides=_merge(base, sections), env={})


def paper_engine(config: Optional[CockpitConfig] = None, **kwargs) -> Engine:
    """An engine on the simulated paper broker, wired but not started, with no store
    unless ``use_store=True`` is passed."""
    kwargs.setdefault("use_store", False)
    return build_engine(config or engine_config(), **kwargs)


async def run_session(config: Optional[CockpitConfig] = None, use_store: bool = False) -> Engine:
    """Run the whole simulated session through a paper engine and stop it: the
    engine, with everything it decided, sent and recorded."""
    engine = paper_engine(config, use_store=use_store)
    await engine.start()
    await engine.wait_done()
    await engine.tick()
    await engine.stop()
    return engine


# --------------------------------------------------------------------------- results


def write_bars_csv(path, symbol: str, days: int, seed: int = 7):
    """``days`` simulated sessions of ``symbol`` as a plain OHLCV CSV (epoch-second times),
    the format of benchmarks/bench_backtest.py's data file; returns ``path``."""
    from engine.backtest.data import synthetic_bars

    b = synthetic_bars(symbol, days, seed)
    with open(path, "w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for ts, o, h, lo, c, v in zip((b.ts_ns // 10**9).tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(),
                                      b.close.tolist(), b.volume.tolist()):
            fh.write(f"{ts},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{v:.0f}\n")
    return path


def sweep_table(out) -> list[tuple]:
    """A sweep's result table as comparable rows: label, metrics, pass flags."""
    return [(r.label, r.metrics.as_dict(), r.pf_ok, r.sharpe_ok) for r in out.rows]
