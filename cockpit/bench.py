"""`cockpit bench engine|ui|faults|store`: measured speed, printed as throughputs and latency
percentiles (never asserted in tests), fault trials counted (bench_faults.py), and the
store writer's rows/s on SQLite and PostgreSQL (bench_store.py)."""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time


def _full_engine_path(seed: int = 7) -> dict:
    """A whole simulated session (5 symbols) through Engine.on_data: analytics,
    setups, risk and the paper broker in AUTO mode, no store. Trades are generated
    before the clock starts, so this is the engine's own time."""
    from engine.config import load_config
    from engine.factory import build_engine

    cfg = load_config(None, overrides={"app": {"mode": "AUTO", "seed": seed},
                                       "feed": {"kind": "synthetic", "speed": 0}}, env={})
    engine = build_engine(cfg, use_store=False)

    async def go() -> dict:
        await engine.prepare()
        items = []
        async for item in engine.feed.stream():
            items.append(item)
        t0 = time.perf_counter()
        on_data = engine.on_data
        for item in items:
            closed = on_data(item)
            if closed:
                await engine.on_bars_closed(closed)
        elapsed = time.perf_counter() - t0
        return {"trades": len(items), "seconds": elapsed, "trades_per_s": len(items) / elapsed,
                "fills": engine.counters["fills"], "signals": engine.counters["signals"]}

    return asyncio.run(go())


def bench_engine(n_trades: int) -> dict:
    from .bench_analytics import bench_engine_analytics

    one = bench_engine_analytics(n_trades, 1)
    ten = bench_engine_analytics(n_trades, 10)
    full = _full_engine_path()
    return {"machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
            "analytics_1_symbol": one, "analytics_10_symbols": ten, "full_engine_5_symbols": full}


def add_commands(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks: engine throughput/latency, UI latency/bytes, fault trials")
    bench.add_argument("what", choices=["engine", "ui", "faults", "store"])
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--trades", type=int, default=1_000_000, help="trades through the analytics path, spread over 1 and then 10 symbols (engine bench)")
    bench.add_argument("--seconds", type=float, default=20.0, help="UI bench duration")
    bench.add_argument("--trials", type=int, default=50, help="crash-restart trials (faults bench)")
    bench.add_argument("--pg", metavar="URL", help="store bench: an empty PostgreSQL database (default: a throwaway "
                                                   "server from the pgserver wheel, if installed)")
    bench.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    if args.what == "store":
        from .bench_store import bench_store, print_store

        result = bench_store(args.pg)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_store(result)
        return 0
    if args.what == "faults":
        from .bench_faults import as_dicts, print_table, run_fault_trials

        results = run_fault_trials(args.trials)
        if args.json:
            print(json.dumps(as_dicts(results), indent=2))
        else:
            print_table(results)
        return 0 if all(r.survived == r.trials for r in results) else 1
    if args.what == "engine":
        result = bench_engine(args.trades)
    else:
        from .bench_ui import bench_ui

        result = bench_ui(seconds=args.seconds)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if args.what == "engine":
        _print_engine(result)
    else:
        for k, v in result.items():
            print(f"{k:>34}: {v:,.2f}" if isinstance(v, float) else f"{k:>34}: {v}")
    return 0


def _print_engine(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"cockpit bench engine ({r['machine']})")
    t.add_column("path")
    for col in ("trades", "trades/s", "no setups", "p50µs", "p99µs", "p999µs", "bars", "signals"):
        t.add_column(col, justify="right")
    for name, key in (("analytics+setups 1 sym", "analytics_1_symbol"), ("analytics+setups 10 sym", "analytics_10_symbols")):
        a = r[key]
        t.add_row(name, f"{a['n_trades']:,}", f"{a['trades_per_s']:,.0f}", f"{a['trades_per_s_no_setups']:,.0f}",
                  f"{a['latency_us_p50']:.2f}", f"{a['latency_us_p99']:.2f}", f"{a['latency_us_p999']:.1f}",
                  f"{a['bars_closed']:,}", f"{a['signals']:,}")
    f = r["full_engine_5_symbols"]
    t.add_row("whole engine 5 sym", f"{f['trades']:,}", f"{f['trades_per_s']:,.0f}", "", "", "", "", "", f"{f['signals']:,}")
    Console().print(t)
    print("whole engine = Engine.on_data over a simulated session: analytics, setups, risk, paper broker, AUTO, no store")
    a = r["analytics_1_symbol"]
    print(f"session profile with value area and LVNs from arrays: {a['session_profile_ms']:.1f} ms "
          f"({a['n_trades']:,} trades, {a['session_profile_bins']} bins)")
