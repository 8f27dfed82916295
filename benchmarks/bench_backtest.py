"""Backtest speed, side by side with backtesting.py in the same run.

    .venv/bin/python benchmarks/bench_backtest.py [--part sma|auction|grid|floor|all]
        [--grid-symbols 10] [--grid-days 252] [--workers 2] [--rounds 3] [--vectorbt-python PATH]

Data: 252 simulated NYSE sessions x 390 one-minute bars = 98,280 bars of one
symbol, written to a plain OHLCV CSV that both tools read (bars only: our engine
classifies their volume by BVC, as for any bars-only file).

- sma_cross: SMA(20) cross entries long/short, ATR(14) Wilder bracket 1.5x/3.0x,
  one position, 100 shares (``--qty 100``), no commission or slippage; risk
  gates opened wide (consecutive losses, daily loss, notional) so both tools
  trade the same rule. Timed as whole commands (subprocess: interpreter start,
  imports, CSV load, run, breakdown, output) and as engine time alone (in
  process, data loaded). The whole commands: our packages' bytecode compiled
  first (as an install leaves it, and as backtesting.py's is), each command once
  untimed, then ``--rounds`` runs of each taken alternately; medians of wall
  and of CPU seconds (user + system of the child). vectorbt is the other peer,
  where it installs (benchmarks/vectorbt_peer.py, the same strategy through
  ``Portfolio.from_signals``), run by the interpreter ``--vectorbt-python`` names
  (default: this one when it can import vectorbt; else skipped, saying so): its
  whole command in the same alternating rounds, and its run time after a first
  run that pays numba's compilation (reported too), with its trades and return
  beside ours (its semantics differ: a speed peer, not a parity check).
- auction: the auction setup with every analytic (profiles, flow, state,
  structure, alerts: ``needs=None``, what the live path computes) over the same
  year, engine time; and the same run computing only what the auction setup
  reads (flow + state, the backtest default). Same trades either way.
- grid: the 54-combination grid on N symbols x D sessions with the process pool
  (analytics recorded once per symbol, replayed per combination).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PY = sys.executable
RISK_WIDE = ["--qty", "100", "--max-notional", "1e12", "--max-daily-loss", "100", "--initial-equity", "10000000",
             "--slippage-bps", "0", "--commission", "0"]

BT_SCRIPT = r'''
import sys, time
t0 = time.perf_counter()
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
import numpy as np

def sma(x, n):
    return pd.Series(x).rolling(n).mean().to_numpy()

def atr(h, l, c, n):
    h, l, c = (np.asarray(a, float) for a in (h, l, c))
    prev = np.concatenate(([np.nan], c[:-1]))
    tr = np.fmax(h - l, np.fmax(np.abs(h - prev), np.abs(l - prev)))
    tr[0] = h[0] - l[0]
    out = np.full(tr.shape, np.nan)
    a = tr[:n].mean(); out[n - 1] = a
    for i in range(n, len(tr)):
        a = (a * (n - 1) + tr[i]) / n; out[i] = a
    return out

class SmaCross(Strategy):
    def init(self):
        self.ma = self.I(sma, self.data.Close, 20)
        self.atr = self.I(atr, self.data.High, self.data.Low, self.data.Close, 14)
    def next(self):
        if self.position:
            return
        c, a = self.data.Close[-1], self.atr[-1]
        if not a > 0:
            return
        if crossover(self.data.Close, self.ma):
            self.buy(size=100, sl=c - 1.5 * a, tp=c + 3.0 * a)
        elif crossover(self.ma, self.data.Close):
            self.sell(size=100, sl=c + 1.5 * a, tp=c - 3.0 * a)

df = pd.read_csv(sys.argv[1])
df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), unit="s"))
df.columns = ["Open", "High", "Low", "Close", "Volume"]
t1 = time.perf_counter()
bt = Backtest(df, SmaCross, cash=10_000_000, commission=0.0, finalize_trades=True)
st = bt.run()
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {int(st['# Trades'])} {float(st['Return [%]']):.6f}")
'''


def bench_csv() -> tuple[Path, int]:
    """The year of one-minute bars every backtest benchmark reads (made once, then
    reused from the temp dir) and its number of bars."""
    csv = Path(tempfile.gettempdir()) / "cockpit-bench" / "bench_98280_bars.csv"
    if not csv.exists():
        csv.parent.mkdir(exist_ok=True)
        return csv, make_data(csv)
    with open(csv) as f:
        return csv, sum(1 for _ in f) - 1


def make_data(path: Path, days: int = 252) -> int:
    from engine.backtest.data import synthetic_bars

    b = synthetic_bars("BENCH", days, 7)
    with open(path, "w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for ts, o, h, lo, c, v in zip((b.ts_ns // 1_000_000_000).tolist(), b.open.tolist(), b.high.tolist(),
                                      b.low.tolist(), b.close.tolist(), b.volume.tolist()):
            fh.write(f"{ts},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{v:.0f}\n")
    return len(b)


def timed_cpu(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds (user + system of the child), stdout) of one run:
    the CPU is the rise of this process's reaped-children totals (runs are sequential),
    which the machine's load inflates far less than the wall time."""
    import resource

    def children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    c0, t = children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return dt, children_cpu() - c0, out.stdout


def compile_bytecode() -> None:
    """Compile our packages' bytecode, as ``pip install`` does: backtesting.py and
    pandas run from compiled site-packages, and a checkout under
    PYTHONDONTWRITEBYTECODE would otherwise compile ~60 modules on every run
    (~0.2 s CPU) that no installed copy compiles."""
    import compileall

    for pkg in ("cockpit", "engine", "widgets"):
        compileall.compile_dir(str(ROOT / pkg), quiet=1)


def whole_commands(cmds: dict[str, list[str]], rounds: int) -> dict[str, list[tuple[float, float, str]]]:
    """Each command once untimed (file cache), then ``rounds`` rounds taken alternately."""
    for cmd in cmds.values():
        timed_cpu(cmd)
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            runs[name].append(timed_cpu(cmd))
    return runs


def engine_time(csv: Path, setup: str, extra: dict | None = None, all_analytics: bool = False,
                path: str = "engine") -> tuple[float, dict, dict]:
    """Run time with the data loaded, on ``path`` (engine: the Engine bar by bar;
    arrays: the array path, which must support the run, its caches of the series
    emptied first): (wall seconds, metrics, summary). ``LAST_CPU_S`` keeps the
    run's CPU seconds (the figure the machine's load inflates least)."""
    from engine.backtest.data import load_dataset
    from engine.backtest.runner import SETUP_NEEDS, backtest_config, run_backtest

    if path == "arrays":
        from engine.backtest.arrays import run_arrays, unsupported

        def run_backtest(cfg, ds, needs=SETUP_NEEDS):  # noqa: F811 - the same call on the array path
            why = unsupported(cfg, ds, needs)
            if why:
                raise SystemExit(f"the array path does not run this: {why}")
            return run_arrays(cfg, ds, needs)

    ds = load_dataset([str(csv)], ["BENCH"])
    risk = {"fixed_qty": 100, "max_position_notional": 1e12, "max_daily_loss_pct": 100.0,
            "max_consecutive_losses": 1_000_000} if setup == "sma_cross" else {}
    broker = {"initial_equity": 1e7, "slippage_bps": 0.0, "commission_per_share": 0.0} if setup == "sma_cross" else {}
    cfg = backtest_config(None, ds.symbols, setup=setup, risk=risk | (extra or {}), broker=broker)
    needs = None if all_analytics else SETUP_NEEDS
    run_backtest(cfg, ds.window(int(ds.series["BENCH"].ts_ns[0]), int(ds.series["BENCH"].ts_ns[500])), needs=needs)  # warm caches
    if path == "arrays":
        _forget_array_caches()
    c = time.process_time()
    t = time.perf_counter()
    res = run_backtest(cfg, ds, needs=needs)
    dt = time.perf_counter() - t
    LAST_CPU_S[0] = time.process_time() - c
    return dt, res.metrics.as_dict(), res.summary


LAST_CPU_S = [0.0]


def _forget_array_caches() -> None:
    """The array path keeps what it worked out for a series (batch analytics, calendar
    columns, lists) for the next run of it, as a sweep's combinations share them: emptied
    so each timed run pays for its own."""
    from engine.backtest import array_calendar, array_reuse, array_support, arrays

    for cache in (arrays._BATCH, arrays._WINDOWS, array_calendar._DAYS, array_reuse._LISTS, array_support._CHECKED,
                  array_support._SERIES_KEYS):
        cache.clear()
    array_reuse._RTH.clear()


VECTORBT_PEER = Path(__file__).resolve().with_name("vectorbt_peer.py")


def vectorbt_python(given: str | None) -> tuple[str | None, str]:
    """(the interpreter that runs the vectorbt peer, or None; why not): the one given,
    when it can import vectorbt, else this one when it can. vectorbt is not installed
    into the project's venv by default (it pulls numba and plotly): a separate venv's
    python is passed with ``--vectorbt-python``."""
    import importlib.util

    if given is None:
        if importlib.util.find_spec("vectorbt") is not None:
            return PY, ""
        return None, f"not importable by {PY} (pass --vectorbt-python PATH: an interpreter that has vectorbt)"
    try:
        probe = subprocess.run([given, "-c", "import vectorbt"], capture_output=True, text=True)
    except OSError as e:
        return None, f"--vectorbt-python {given} cannot be run: {e.strerror}"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"--vectorbt-python {given} cannot import vectorbt: {last}"
    return given, ""


def part_sma(csv: Path, n: int, rounds: int = 3, vbt_python: str | None = None) -> dict:
    out: dict = {"bars": n}
    try:
        import backtesting  # noqa: F401
        have_bt = True
    except ImportError:
        have_bt = False
    cmd = [PY, "-m", "cockpit", "backtest", "--data", str(csv), "--symbols", "BENCH", "--setup", "sma_cross",
           *RISK_WIDE, "--no-store", "--json", "--path", "arrays"]
    cfg_path = Path(tempfile.gettempdir()) / "bench_cockpit.toml"
    cfg_path.write_text("[risk]\nmax_consecutive_losses = 1000000\n")
    cmd += ["--config", str(cfg_path)]
    compile_bytecode()
    cmds = {"ours": cmd}
    if have_bt:
        script = Path(tempfile.gettempdir()) / "bench_backtestingpy.py"
        script.write_text(BT_SCRIPT)
        cmds["backtesting_py"] = [PY, str(script), str(csv)]
    vbt_py, why_not = vectorbt_python(vbt_python)
    if vbt_py:
        cmds["vectorbt"] = [vbt_py, str(VECTORBT_PEER), str(csv)]
    else:
        print(f"vectorbt: skipped, {why_not}", file=sys.stderr, flush=True)
    runs = whole_commands(cmds, rounds)
    ours = json.loads(runs["ours"][0][2])
    if ours["path"] != "arrays":
        raise SystemExit(f"the sma_cross bench ran on {ours['path']}")
    med = lambda xs: round(statistics.median(xs), 3)  # noqa: E731
    out["whole_rounds"] = rounds
    out["ours_whole_s"] = med([w for w, _, _ in runs["ours"]])
    out["ours_whole_cpu_s"] = med([c for _, c, _ in runs["ours"]])
    out["ours_trades"] = ours["metrics"]["trades"]
    out["ours_return_pct"] = ours["metrics"]["return_pct"]
    e, met, _ = engine_time(csv, "sma_cross", path="arrays")
    out["ours_engine_s"] = round(e, 3)
    out["ours_engine_cpu_s"] = round(LAST_CPU_S[0], 3)
    out["ours_bars_per_s"] = round(n / e)
    e2, met2, _ = engine_time(csv, "sma_cross")
    if met2 != met:
        raise SystemExit(f"sma_cross: the array path's metrics differ from the Engine's: {met} != {met2}")
    out["engine_path_s"] = round(e2, 3)
    if have_bt:
        bt = runs["backtesting_py"]
        out["backtesting_py_whole_s"] = med([w for w, _, _ in bt])
        out["backtesting_py_whole_cpu_s"] = med([c for _, c, _ in bt])
        out["backtesting_py_engine_s"] = med([float(stdout.split()[1]) for _, _, stdout in bt])
        out["backtesting_py_trades"] = int(bt[0][2].split()[2])
        out["backtesting_py_return_pct"] = round(float(bt[0][2].split()[3]), 4)
        out["speedup_whole"] = round(out["backtesting_py_whole_s"] / out["ours_whole_s"], 2)
        out["speedup_whole_cpu"] = round(out["backtesting_py_whole_cpu_s"] / out["ours_whole_cpu_s"], 2)
        out["speedup_engine"] = round(out["backtesting_py_engine_s"] / out["ours_engine_s"], 2)
    else:
        out["backtesting_py"] = "not installed (pip install 'cockpit[bench]')"
    if vbt_py:
        out.update(vectorbt_figures(vbt_py, csv, runs["vectorbt"], rounds, out))
    else:
        out["vectorbt"] = f"skipped: {why_not}"
    return out


def vectorbt_figures(vbt_py: str, csv: Path, whole: list[tuple[float, float, str]], rounds: int, ours: dict) -> dict:
    """The vectorbt peer's figures: its whole command (the rounds taken with ours), the
    first run of a process (numba compiles vectorbt's simulator then: vectorbt caches
    none of it on disk, so every new process pays it) and the run time after it (median
    of ``rounds`` runs in one process)."""
    med = lambda xs: round(statistics.median(xs), 3)  # noqa: E731
    firsts = [json.loads(stdout) for _, _, stdout in whole]
    _, _, stdout = timed_cpu([vbt_py, str(VECTORBT_PEER), str(csv), "--engine-rounds", str(rounds)])
    eng = json.loads(stdout)
    out = {"vectorbt_python": vbt_py, "vectorbt_whole_s": med([w for w, _, _ in whole]),
           "vectorbt_whole_cpu_s": med([c for _, c, _ in whole]),
           "vectorbt_first_run_s": med([f["first_run_s"] for f in firsts]),
           "vectorbt_first_run_cpu_s": med([f["first_run_cpu_s"] for f in firsts]),
           "vectorbt_engine_s": med(eng["run_s"]), "vectorbt_engine_cpu_s": med(eng["run_cpu_s"]),
           "vectorbt_trades": eng["trades"], "vectorbt_return_pct": eng["return_pct"]}
    out["speedup_vs_vectorbt_whole"] = round(out["vectorbt_whole_s"] / ours["ours_whole_s"], 2)
    out["speedup_vs_vectorbt_whole_cpu"] = round(out["vectorbt_whole_cpu_s"] / ours["ours_whole_cpu_s"], 2)
    out["speedup_vs_vectorbt_engine"] = round(out["vectorbt_engine_s"] / ours["ours_engine_s"], 3)
    out["speedup_vs_vectorbt_engine_cpu"] = round(out["vectorbt_engine_cpu_s"] / ours["ours_engine_cpu_s"], 3)
    return out


def part_auction(csv: Path, n: int) -> dict:
    e, met, summ = engine_time(csv, "auction", all_analytics=True)
    c = LAST_CPU_S[0]
    e4, met4, summ4 = engine_time(csv, "auction", all_analytics=True, path="arrays")
    c4 = LAST_CPU_S[0]
    e2, met2, _ = engine_time(csv, "auction")
    e3, met3, _ = engine_time(csv, "auction", path="arrays")
    c3 = LAST_CPU_S[0]
    if not (met == met2 == met3 == met4):
        raise SystemExit(f"auction: all analytics / its needs / arrays / arrays with all analytics differ: "
                         f"{met} / {met2} / {met3} / {met4}")
    if summ4 != summ:
        diff = {k: (summ4.get(k), summ.get(k)) for k in set(summ) | set(summ4) if summ4.get(k) != summ.get(k)}
        raise SystemExit(f"auction with all analytics: the array path's summary differs (arrays, engine): {diff}")
    return {"bars": n, "auction_all_analytics_engine_s": round(e, 3), "bars_per_s": round(n / e),
            "auction_all_analytics_engine_cpu_s": round(c, 3),
            "auction_all_analytics_arrays_s": round(e4, 3), "auction_all_analytics_arrays_cpu_s": round(c4, 3),
            "auction_setup_needs_engine_s": round(e2, 3), "setup_needs_bars_per_s": round(n / e2),
            "auction_arrays_s": round(e3, 3), "auction_arrays_cpu_s": round(c3, 3), "trades": met["trades"],
            "lvn_alerts": summ["lvn_alerts"]}


def part_floor(csv: Path, n: int) -> dict:
    """What the sma_cross run costs before any trading, piece by piece: the Bar
    objects, the analytics it needs (bars, ATR) with a snapshot per bar, and the
    setup over those snapshots -- the per-bar floor of the object-per-bar engine."""
    from engine.analytics.session import SessionCalendar
    from engine.backtest.data import load_dataset
    from engine.backtest.replay import record_bars, record_signals
    from engine.backtest.runner import backtest_config
    from engine.strategy.registry import make_setups

    ds = load_dataset([str(csv)], ["BENCH"])
    cfg = backtest_config(None, ds.symbols, setup="sma_cross")
    params = cfg.strategy.for_symbol("BENCH")
    cal = SessionCalendar(cfg.feed.session, cfg.sessions.policy)
    arrays = ds.series["BENCH"]
    t = time.perf_counter()
    bars = list(arrays.iter_bars("BENCH"))
    t_bars = time.perf_counter() - t
    t = time.perf_counter()
    rec = record_bars("BENCH", arrays, params, cal, needs=frozenset())
    t_rec = time.perf_counter() - t
    t = time.perf_counter()
    tape = record_signals(rec, make_setups("BENCH", params))
    t_setup = time.perf_counter() - t
    return {"bars": len(bars), "bar_objects_s": round(t_bars, 3),
            "bar_objects_plus_analytics_and_snapshots_s": round(t_rec, 3),
            "setup_over_snapshots_s": round(t_setup, 3), "signals": len(tape.indices)}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its live children (the pool's
    workers) so far: on a shared machine, the figure the load does not inflate.
    NaN without psutil."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def part_grid(symbols: int, days: int, workers: int) -> dict:
    from engine.backtest.data import load_dataset
    from engine.backtest.executors import make_executor
    from engine.backtest.grid import parse_grid
    from engine.backtest.runner import backtest_config
    from engine.backtest.sweep import paths_used, run_sweep, symbol_datasets, verify_top

    names = ["SPY", "QQQ", "AAPL", "TSLA", "NVDA", "MSFT", "AMZN", "META", "GOOG", "AMD", "IWM", "DIA"][:symbols]
    t = time.perf_counter()
    ds = load_dataset([f"synthetic:{','.join(names)}:{days}:7"])
    gen = time.perf_counter() - t
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["min_aggression=60,70,80", "atr_stop=1.0,1.5,2.0", "atr_target=2,3,4",
                       "allow_balance_trades=false,true"])
    h = make_executor(None, workers)
    t = time.perf_counter()
    c0 = _cpu_s()
    try:
        data = symbol_datasets(ds)
        out = run_sweep(ds, cfg, grid, h, progress=True, symbol_data=data)
        dt = time.perf_counter() - t
        c1 = _cpu_s()
        t = time.perf_counter()
        checked, diff = verify_top(ds, cfg, out, h, 3, symbol_data=data, progress=True)
        dv = time.perf_counter() - t
        c2 = _cpu_s()
    finally:
        h.close()
    if diff:
        raise SystemExit(f"grid: the engine disagrees with the array path: {diff}")
    best = out.rows[0]
    return {"symbols": symbols, "sessions": days, "bars": ds.n_items, "combinations": len(grid),
            "runs": out.total_tasks, "workers": workers, "data_load_or_generate_s": round(gen, 2),
            "sweep_s": round(dt, 2), "verify_top3_s": round(dv, 2), "sweep_and_verify_s": round(dt + dv, 2),
            "sweep_cpu_s": round(c1 - c0, 1), "verify_cpu_s": round(c2 - c1, 1),
            "verified_by_engine": len(checked), "paths": paths_used(out), "best": best.label,
            "best_sharpe": best.metrics.as_dict()["sharpe"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["sma", "auction", "grid", "floor", "all"], default="all")
    ap.add_argument("--grid-symbols", type=int, default=10)
    ap.add_argument("--grid-days", type=int, default=252)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="sma: whole-command runs of each tool, taken alternately")
    ap.add_argument("--vectorbt-python", default=None, metavar="PATH",
                    help="sma: the interpreter that runs the vectorbt peer (default: this one if it imports vectorbt)")
    args = ap.parse_args()
    csv, n = bench_csv()
    results = {}
    if args.part in ("sma", "all"):
        results["sma_cross"] = part_sma(csv, n, args.rounds, args.vectorbt_python)
        print(json.dumps({"sma_cross": results["sma_cross"]}), flush=True)
    if args.part in ("auction", "all"):
        results["auction"] = part_auction(csv, n)
        print(json.dumps({"auction": results["auction"]}), flush=True)
    if args.part == "floor":
        print(json.dumps({"floor": part_floor(csv, n)}), flush=True)
    if args.part in ("grid", "all"):
        results["grid"] = part_grid(args.grid_symbols, args.grid_days, args.workers)
        print(json.dumps({"grid": results["grid"]}), flush=True)


if __name__ == "__main__":
    main()
