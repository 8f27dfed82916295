"""Benchmark of the analytics hot path: trades/s through SymbolAnalytics (and the
setups on every closed bar), per-trade latency percentiles, and the time to
build a session profile with value area and LVNs from arrays.

Prices are the real BTCUSDT trades of ../shared/data when present (tiled, each
repetition shifted in time and rebased in price so the path continues where the
last one ended), else a seeded random walk. Trades are spread over symbols
round robin, each symbol's clock running ~4 trades per second of data time so
bars close at a realistic rate (about one close per 240 trades).

Run: ``python -m cockpit.bench_analytics [n_trades] [n_symbols]``; ``cockpit bench engine``
prints it for 1 and 10 symbols next to the whole engine.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from engine.analytics.batch import session_profile_from_arrays
from engine.analytics.session import SessionCalendar
from engine.analytics.symbol import SymbolAnalytics
from engine.config import StrategyParams
from engine.model import NS_PER_S, Trade
from engine.strategy.registry import make_setups

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "btcusdt_perp_20240808_trades.csv"
START_NS = 1_709_563_800 * NS_PER_S  # 2024-03-04 14:50 UTC (09:50 ET), a Monday in RTH


def price_path(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(prices, sizes, sides) of n trades scaled to a ~$100 stock, and the source name."""
    if DATA.exists():
        d = np.genfromtxt(DATA, delimiter=",", names=True)
        rel = d["price"] / d["price"][0]
        steps = np.diff(np.log(rel))
        reps = -(-n // steps.size)
        logp = np.concatenate([[0.0], np.cumsum(np.tile(steps, reps))])[:n]
        sizes = np.tile(np.maximum(1.0, np.round(d["size"] * 100)), reps + 1)[:n]
        sides = np.tile(d["side"].astype(np.int64), reps + 1)[:n]
        src = "btcusdt trades (tiled)"
    else:
        rng = np.random.default_rng(seed)
        logp = np.cumsum(rng.normal(0, 2e-5, n))
        sizes = rng.integers(1, 500, n).astype(np.float64)
        sides = np.zeros(n, dtype=np.int64)
        src = "seeded random walk"
    prices = np.round(100.0 * np.exp(logp), 2)
    return prices, sizes, sides, src


def bench_engine_analytics(n_trades: int = 200_000, n_symbols: int = 1, with_setups: bool = True,
                           true_side: bool = False) -> dict:
    """Trades/s and per-trade latency (µs) through SymbolAnalytics.on_trade, bar
    closes included; with ``with_setups`` the setups' on_bar runs on each closed
    bar. With ``true_side`` False the tick rule classifies."""
    params = StrategyParams()
    cal = SessionCalendar("us_equity")
    cal.session_bounds(START_NS)  # load the exchange calendar outside the timing
    prices, sizes, sides, src = price_path(n_trades)
    if not true_side:
        sides = np.zeros_like(sides)
    symbols = [f"S{k}" for k in range(n_symbols)]
    analytics = {s: SymbolAnalytics(s, params, cal) for s in symbols}
    setups = {s: (make_setups(s, params) if with_setups else []) for s in symbols}
    # ~4 trades per second per symbol: 250 ms apart on each symbol's clock
    step = 250_000_000
    trades = []
    pl, sl, dl = prices.tolist(), sizes.tolist(), sides.tolist()
    for i in range(n_trades):
        sym = symbols[i % n_symbols]
        ts = START_NS + (i // n_symbols) * step + (i % n_symbols)
        trades.append(Trade(sym, ts, pl[i], sl[i], dl[i]))
    lat = np.empty(n_trades)
    perf = time.perf_counter_ns
    closes = signals = 0
    t_start = time.perf_counter()
    for i, t in enumerate(trades):
        t0 = perf()
        an = analytics[t.symbol]
        bar = an.on_trade(t)
        if bar is not None:
            closes += 1
            snap = an.snapshot()
            for s in setups[t.symbol]:
                if s.on_bar(snap, t.ts_ns) is not None:
                    signals += 1
        lat[i] = perf() - t0
    elapsed = time.perf_counter() - t_start
    # hot path alone: the same trades without timing overhead and without setups
    fresh = {s: SymbolAnalytics(s, params, cal) for s in symbols}
    t0 = time.perf_counter()
    for t in trades:
        fresh[t.symbol].on_trade(t)
    raw = time.perf_counter() - t0
    lat_us = lat / 1000.0
    # session profile (value area + LVNs) of all the trades from arrays
    ts = np.array([t.ts_ns for t in trades], dtype=np.int64)
    t0 = time.perf_counter()
    prof = session_profile_from_arrays(ts, prices, sizes, params, cal, session=0)
    prof_s = time.perf_counter() - t0
    return {
        "source": src,
        "n_trades": n_trades,
        "n_symbols": n_symbols,
        "bars_closed": closes,
        "signals": signals,
        "setups": sum(len(v) for v in setups.values()),
        "trades_per_s": n_trades / elapsed,
        "trades_per_s_no_setups": n_trades / raw,
        "latency_us_p50": float(np.percentile(lat_us, 50)),
        "latency_us_p99": float(np.percentile(lat_us, 99)),
        "latency_us_p999": float(np.percentile(lat_us, 99.9)),
        "latency_us_max": float(lat_us.max()),
        "session_profile_ms": prof_s * 1000.0,
        "session_profile_bins": len(prof.histogram) if prof else 0,
        "session_profile_lvns": len(prof.lvns) if prof else 0,
    }


def main(argv: Optional[list[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 200_000
    k = int(argv[1]) if len(argv) > 1 else 1
    for key, val in bench_engine_analytics(n, k).items():
        print(f"{key:26s} {val:,.2f}" if isinstance(val, float) else f"{key:26s} {val}")


if __name__ == "__main__":
    main()
