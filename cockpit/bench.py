"""`cockpit bench engine|ui|faults|soak|store`: measured speed, printed as throughputs and latency
percentiles (never asserted in tests), fault trials counted (bench_faults.py), memory
and store growth over unattended days (bench_soak.py), and the store writer's rows/s on
SQLite and PostgreSQL (bench_store.py)."""
from __future__ import annotations

import argparse
import json
import platform
import time


def _full_engine_path(seed: int = 7) -> dict:
    """A whole simulated session (5 symbols) through Engine.on_data: analytics,
    setups, risk and the paper broker in AUTO mode, no store. Trades are generated
    before the clock starts, so this is the engine's own time."""
    import asyncio
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
    bench.add_argument("what", choices=["engine", "ui", "faults", "soak", "store"])
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--trades", type=int, default=1_000_000, help="trades through the analytics path, spread over 1 and then 10 symbols (engine bench)")
    bench.add_argument("--seconds", type=float, default=20.0, help="UI bench duration")
    bench.add_argument("--trials", type=int, default=50, help="crash-restart trials (faults bench)")
    bench.add_argument("--days", type=int, default=30, help="soak: session days to run unattended at max speed")
    bench.add_argument("--feed", choices=["synthetic", "replay"], default="synthetic", help="soak: the data")
    bench.add_argument("--file", default="", help="soak: the replay file (trades or 1-minute bars CSV)")
    bench.add_argument("--session", help="soak: session kind of the instrument (us_equity, 24h_utc, 24h_chicago)")
    bench.add_argument("--symbols", help="soak: comma-separated symbols (default: the config's)")
    bench.add_argument("--seed", type=int, default=7, help="soak: simulator seed")
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
    if args.what == "soak":
        return _soak(args)
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


def _print_engine(r: dict, console=None) -> None:
    """The engine bench as a table whose numbers are never cut: on a narrow terminal
    the path names wrap, the figures keep their width (each column is as wide as
    its widest figure)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = []
    for name, key in (("analytics+setups 1 sym", "analytics_1_symbol"), ("analytics+setups 10 sym", "analytics_10_symbols")):
        a = r[key]
        rows.append((name, f"{a['n_trades']:,}", f"{a['trades_per_s']:,.0f}", f"{a['trades_per_s_no_setups']:,.0f}",
                     f"{a['latency_us_p50']:.2f}", f"{a['latency_us_p99']:.2f}", f"{a['latency_us_p999']:.1f}",
                     f"{a['bars_closed']:,}", f"{a['signals']:,}"))
    f = r["full_engine_5_symbols"]
    rows.append(("whole engine 5 sym", f"{f['trades']:,}", f"{f['trades_per_s']:,.0f}", "", "", "", "", "",
                 f"{f['signals']:,}"))
    heads = ("trades", "trades/s", "no setups", "p50µs", "p99µs", "p999µs", "bars", "signals")
    widths = [max(len(col), *(len(row[i]) for row in rows)) for i, col in enumerate(heads, 1)]
    path_w = max(len(row[0]) for row in rows)
    con = console or Console()
    title = f"cockpit bench engine ({r['machine']})"
    if sum(widths) + 2 * len(widths) + path_w <= con.width:
        t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        t.add_column("path", no_wrap=True)
        for col, w in zip(heads, widths):
            t.add_column(col, justify="right", no_wrap=True, min_width=w)
        for row in rows:
            t.add_row(*row)
        con.print(t)
    else:  # too narrow for one row per path: one block per path, every figure whole
        con.print(title)
        for row in rows:
            con.print(f"\n{row[0]}")
            for col, cell in zip(heads, row[1:]):
                if cell:
                    con.print(f"  {col:<10} {cell:>{max(widths)}}")
    con.print("whole engine = Engine.on_data over a simulated session: analytics, setups, risk, paper broker, AUTO, "
              "no store", soft_wrap=False)
    a = r["analytics_1_symbol"]
    con.print(f"session profile with value area and LVNs from arrays: {a['session_profile_ms']:.1f} ms "
              f"({a['n_trades']:,} trades, {a['session_profile_bins']} bins)")


def _soak(args: argparse.Namespace) -> int:
    from engine.config import ConfigError

    from .bench_soak import as_dicts, print_table, run_soak

    if args.days < 1:
        raise ConfigError(f"--days {args.days} is not valid: allowed: a whole number of days >= 1")
    if args.feed == "replay" and not args.file:
        raise ConfigError("bench soak --feed replay needs --file PATH: a trades CSV or 1-minute bars CSV")
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    live = None if args.json else (lambda r: print(f"day {r.day:3d} {r.session_date}  RSS {r.rss_mb:7.1f} MB  "
                                                   f"store {r.store_mb:7.1f} MB  rows {r.rows:>9,}", flush=True))
    rows = run_soak(args.days, args.feed, args.file, args.session, symbols, args.seed, on_day=live)
    if args.json:
        print(json.dumps(as_dicts(rows), indent=2))
    else:
        what = f"replay of {args.file}" if args.feed == "replay" else f"simulator seed {args.seed}"
        print_table(rows, f"cockpit bench soak: {len(rows)} day(s), {what}, AUTO, max speed, fresh store")
    return 0
