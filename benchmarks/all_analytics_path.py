"""The auction year with every analytic (issue 13's "< 1.5 s"), in CPU seconds.

    .venv/bin/python benchmarks/all_analytics_path.py [--path arrays|engine] [--needs all|setups] [--root DIR]

The run of bench_backtest.py's ``--part auction`` with ``needs=None`` (what the live
path computes: market states and LVN alerts counted) over its year of one-minute bars
(97,920 bars), data loaded, a warm-up run on a window first: ``--path arrays`` the
array path (``run_arrays(cfg, ds, None)``), ``--path engine`` the Engine
(``run_backtest(cfg, ds, needs=None)``; a checkout before the array path counted
alerts has only this). CPU time (``time.process_time``), which the machine's load
disturbs far less than wall time; the wall time is printed too. ``--root DIR``
measures another checkout (e.g. a ``git archive`` of the base) with this script, for
before/after runs taken alternately. ``--needs setups``: the same run computing only
what the setup reads (the backtest default; no alerts counted), for the cost of the
rest. Prints one JSON line with the trades, the LVN alerts and the minutes per market
state, which must agree between the runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", choices=["arrays", "engine"], default="arrays")
    ap.add_argument("--needs", choices=["all", "setups"], default="all")
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args()
    root = Path(args.root).resolve()
    sys.path.insert(0, str(root))
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
    cfg = backtest_config(None, ds.symbols, setup="auction")
    needs = None if args.needs == "all" else SETUP_NEEDS
    if args.path == "arrays":
        from engine.backtest.arrays import run_arrays

        def run(data):
            return run_arrays(cfg, data, None) if needs is None else run_arrays(cfg, data)
    else:
        def run(data):
            return run_backtest(cfg, data, needs=needs)
    ts = ds.series["BENCH"].ts_ns
    run(ds.window(int(ts[0]), int(ts[500])))  # warm caches
    c, t = time.process_time(), time.perf_counter()
    res = run(ds)
    print(json.dumps({"root": str(root), "path": args.path, "needs": args.needs, "cpu_s": round(time.process_time() - c, 3),
                      "wall_s": round(time.perf_counter() - t, 3), "trades": res.metrics.as_dict()["trades"],
                      "lvn_alerts": res.summary["lvn_alerts"], "states": res.summary["states"]}))


if __name__ == "__main__":
    main()
