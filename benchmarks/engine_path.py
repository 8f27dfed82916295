"""The Engine path's cost on a shared, loaded machine: CPU seconds and Python calls.

    .venv/bin/python benchmarks/engine_path.py [--reps 3] [--calls] [--root DIR]

Two figures of issue 13 item 1, each the least CPU time (``time.process_time``) of
``--reps`` runs in one process, which other jobs on the machine disturb far less than
wall time (at a load of 10 on 2 cores wall times here move by 2x, the least CPU time
by ~5%):

- ``sma_cpu_s``: sma_cross through the Engine over bench_backtest.py's year of
  one-minute bars (97,920 bars, 6,120 trades; the same run as ``--part sma``'s
  ``engine_path_s``, data loaded, a warm-up run first);
- ``full_trades_per_s``: ``cockpit bench engine``'s whole engine, a simulated
  session of 5 symbols through ``Engine.on_data`` in AUTO mode (trades per CPU second).

``--calls`` adds the Python calls (cProfile's count, builtins included) per bar of the
sma_cross run with its signals suppressed, and per round trip (the calls the signals
add, over the trades: the decision, the bracket, its events, fills and exits, and the
dropped signals). ``--root DIR`` measures another checkout (e.g. a ``git archive`` of
the base) with this script, for before/after runs taken alternately.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path


def _sma_run(root: Path):
    """The sma_cross backtest of bench_backtest.py's ``--part sma`` as a callable."""
    sys.path.insert(0, str(root / "benchmarks"))
    # make_data, not bench_backtest.bench_csv: ROOT may be an older commit's tree (--root), which has only make_data
    from bench_backtest import make_data
    from engine.backtest.data import load_dataset
    from engine.backtest.runner import SETUP_NEEDS, backtest_config, run_backtest

    csv = Path(tempfile.gettempdir()) / "cockpit-bench" / "bench_98280_bars.csv"
    if not csv.exists():
        csv.parent.mkdir(exist_ok=True)
        make_data(csv)
    ds = load_dataset([str(csv)], ["BENCH"])
    risk = {"fixed_qty": 100, "max_position_notional": 1e12, "max_daily_loss_pct": 100.0,
            "max_consecutive_losses": 1_000_000}
    broker = {"initial_equity": 1e7, "slippage_bps": 0.0, "commission_per_share": 0.0}
    cfg = backtest_config(None, ds.symbols, setup="sma_cross", risk=risk, broker=broker)
    ts = ds.series["BENCH"].ts_ns
    run_backtest(cfg, ds.window(int(ts[0]), int(ts[500])), needs=SETUP_NEEDS)  # warm caches
    return (lambda: run_backtest(cfg, ds, needs=SETUP_NEEDS)), len(ts)


def _full_engine_cpu() -> float:
    """Trades per CPU second of cockpit bench engine's whole-engine run (cockpit/bench.py)."""
    from engine.config import load_config
    from engine.factory import build_engine

    cfg = load_config(None, overrides={"app": {"mode": "AUTO", "seed": 7},
                                       "feed": {"kind": "synthetic", "speed": 0}}, env={})
    engine = build_engine(cfg, use_store=False)

    async def go() -> float:
        await engine.prepare()
        items = [item async for item in engine.feed.stream()]
        t0 = time.process_time()
        on_data = engine.on_data
        for item in items:
            closed = on_data(item)
            if closed:
                await engine.on_bars_closed(closed)
        return len(items) / (time.process_time() - t0)

    return asyncio.run(go())


def _calls(run, bars: int) -> dict:
    import cProfile
    import pstats

    import engine.strategy.sma_cross as sma

    def counted():
        prof = cProfile.Profile()
        prof.enable()
        res = run()
        prof.disable()
        return pstats.Stats(prof).total_calls, res.metrics.as_dict()["trades"]

    total, trades = counted()
    setup = next(v for v in vars(sma).values() if isinstance(v, type) and "on_bar" in vars(v))
    on_bar = setup.on_bar
    setup.on_bar = lambda self, snap, now: (on_bar(self, snap, now), None)[1]  # the setup's work, no signal
    try:
        quiet, _ = counted()
    finally:
        setup.on_bar = on_bar
    return {"calls_per_bar": round(quiet / bars, 1), "calls_per_round_trip": round((total - quiet) / trades, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--calls", action="store_true")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    run, bars = _sma_run(root)
    sma = []
    for _ in range(args.reps):
        t = time.process_time()
        res = run()
        sma.append(time.process_time() - t)
    full = [_full_engine_cpu() for _ in range(args.reps)]
    out = {"root": str(root), "sma_cpu_s": round(min(sma), 3), "sma_trades": res.metrics.as_dict()["trades"],
           "full_trades_per_s": round(max(full)), "sma_runs": [round(x, 3) for x in sma],
           "full_runs": [round(x) for x in full]}
    if args.calls:
        out.update(_calls(run, bars))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
