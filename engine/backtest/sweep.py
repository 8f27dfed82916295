"""Parameter sweeps: every grid combination on every symbol, in parallel.

Work is split into tasks of (symbol, a chunk of combinations). A worker loads
nothing itself: it gets the symbol's arrays and the base config, computes the
symbol's analytics once per distinct set of analytics parameters (replay.py),
then runs the real Engine per combination with the recorded snapshots. The
baseline (the base config, no grid overrides) runs alongside as combination -1,
so the acceptance rules compare like with like.

Each symbol runs on its own account (the array path runs one symbol); a
combination's score pools its symbols (pool.py): all their trades, and a combined
equity (initial equity plus the sum of every symbol's P&L). A run comes back as
columns (sweep_runs.SymbolRun), not a dict per trade, so the pooling and ranking
after the pool are numpy over the results.

Workers are fed whole symbols, and a symbol's data as little as possible
(symbol_data.py: forked workers already hold it; elsewhere it is pickled once).

Acceptance flags against the baseline (STRATEGY-style tuning rules):
- PF: profit factor above the baseline's with at least ``min_trades`` trades
  (a better profit factor from a handful of trades is noise);
- SR: Sharpe above the baseline's with max drawdown at most twice the baseline's.

Ctrl-C keeps every finished task: they are written to the results file and a
rerun with ``--resume FILE`` skips them.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, get_args


from ..analytics.session import SessionCalendar
from ..config import CockpitConfig, ConfigError, Objective, parse_config
from . import metrics as M
from .data import Dataset
from .executors import ExecutorHandle
from .gc_pause import paused_gc
from .grid import Grid, combo_label, split_params
from .pool import combine, pooled_equity  # noqa: F401 - the pooling's home is pool.py
from .progress import RunTicker, SweepProgress, tell
from .replay import ReplayedAnalytics, analytics_key, record_bars, record_signals
from .sweep_runs import SymbolRun
from .symbol_data import DataNotInherited, SymbolData, forks_workers, symbol_datasets  # noqa: F401 - re-exported
from ..strategy.registry import make_setups, register_plugins, setups_needs
from .array_support import unsupported
from .arrays import run_arrays
from .runner import backtest_config, run_backtest

# objective name -> the BacktestMetrics attribute a sweep ranks by
OBJECTIVES: dict[str, str] = {"sharpe": "sharpe", "profit_factor": "profit_factor", "expectancy": "expectancy_r"}
assert set(OBJECTIVES) == set(get_args(Objective)), "every config.Objective needs a metric here"


def objective_metric(objective: str) -> str:
    """The BacktestMetrics attribute ``objective`` ranks by; ConfigError for an unknown one."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: allowed: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[objective]
BASELINE = -1


# --------------------------------------------------------------------------- worker side


def combo_config(base: dict, symbols: list[str], combo: dict) -> CockpitConfig:
    strat, risk = split_params(combo)
    return backtest_config(parse_config(base, "sweep base"), symbols, strategy=strat, risk=risk)


# Recordings a worker process made, kept for its next task (the same symbol's
# next chunk of combinations records nothing). Keyed by the symbol's data
# fingerprint and the analytics key; only the latest few are kept.
_WORKER_RECORDINGS: dict[tuple, Any] = {}
_WORKER_KEEP = 2


def _recording(ds: Dataset, symbol: str, cfg: CockpitConfig, params) -> Any:
    needs = setups_needs(params)
    key = (ds.fingerprint, symbol, analytics_key(params), needs, cfg.feed.session,
           repr(cfg.sessions.model_dump()))
    rec = _WORKER_RECORDINGS.get(key)
    if rec is None:
        cal = SessionCalendar(cfg.feed.session, cfg.sessions.policy_for(cfg.feed.session))
        rec = record_bars(symbol, ds.series[symbol], params, cal, needs=needs)
        while len(_WORKER_RECORDINGS) >= _WORKER_KEEP:
            _WORKER_RECORDINGS.pop(next(iter(_WORKER_RECORDINGS)))
        _WORKER_RECORDINGS[key] = rec
    return rec


def run_task(base: dict, symbol: str, ds, combos: list[tuple[int, dict]], ticker=None) -> list[SymbolRun]:
    """One symbol, several combinations. Runs in a worker process (or Dask worker).
    A combination the array path supports runs there (arrays.py); any other runs
    on the Engine (``engine_result``). Each run says which path it took.
    ``ds``: the symbol's Dataset or its SymbolData. A combination whose config is
    one already run in this task (the baseline is often a grid point) takes that
    run's result: a run depends on its config and data only. ``ticker``: the
    channel each finished run is told to (progress.RunTicker), or None."""
    if isinstance(ds, SymbolData):
        ds = ds.get()
    out = []
    ran: dict[str, SymbolRun] = {}
    with paused_gc():  # as a backtest run does (runner.BacktestRun.run): short-lived objects, no cycles to free
        for idx, combo in combos:
            cfg = combo_config(base, [symbol], combo)
            same = ran.get(key := cfg.model_dump_json())
            if same is not None:
                out.append(replace(same, combo=idx))
            else:
                register_plugins(cfg.strategy.plugins)  # a worker process imports a trader's own setups itself
                why = unsupported(cfg, ds)
                res = run_arrays(cfg, ds) if not why else engine_result(cfg, symbol, ds)
                out.append(ran.setdefault(key, SymbolRun.from_result(idx, symbol, res,
                                                                     "arrays" if not why else f"engine ({why})")))
            tell(ticker)
    return out


def engine_result(cfg: CockpitConfig, symbol: str, ds: Dataset):
    """One combination on the Engine. With bars, the symbol's analytics are
    recorded once (per distinct analytics parameters and setups' needs, kept for
    the worker's next task) and replayed into the real Engine, with the same Bar
    objects; the combination's setups run once over the recording (a signal tape)
    so the engine is handed only the bars it can act on."""
    analytics = items = tape = None
    if ds.kind == "bars":
        params = cfg.strategy.for_symbol(symbol)
        rec = _recording(ds, symbol, cfg, params)
        analytics = {symbol: ReplayedAnalytics(rec)}
        items = rec.inputs
        # dynamic sizing keeps the ATR of every bar: the engine must visit them all (no tape)
        tape = None if cfg.sizing.dynamic else record_signals(rec, make_setups(symbol, params))
    return run_backtest(cfg, ds, analytics=analytics, items=items, tape=tape)


def verify_task(base: dict, symbol: str, ds, combos: list[tuple[int, dict, SymbolRun]]) -> tuple[int, str]:
    """Some combinations' array-path runs of one symbol, as the sweep ranked them,
    against the Engine's (its analytics recorded once for all of them): (-2, "")
    when they all agree, else (the combination, its first difference:
    paths.first_difference). Runs in a worker. The sweep's own runs are what is
    checked (not a fresh array-path run), so what was ranked is what was verified."""
    from .paths import first_difference

    if isinstance(ds, SymbolData):
        ds = ds.get()
    with paused_gc():  # the recording of the symbol's analytics is most of the job (gc_pause.py)
        for idx, combo, run in combos:
            cfg = combo_config(base, [symbol], combo)
            if unsupported(cfg, ds):
                continue  # it ran on the engine in the first place
            diff = first_difference(run.as_result(cfg.broker.initial_equity), engine_result(cfg, symbol, ds))
            if diff:
                return idx, diff
    return -2, ""


# --------------------------------------------------------------------------- ranking


@dataclass
class SweepRow:
    index: int
    combo: dict
    metrics: M.Metrics
    symbols: int
    pf_ok: bool = False
    sharpe_ok: bool = False

    @property
    def label(self) -> str:
        return "baseline" if self.index == BASELINE else combo_label(self.combo)


@dataclass
class SweepOutcome:
    rows: list[SweepRow]  # ranked, best first (baseline included, flagged by index -1)
    baseline: Optional[SweepRow]
    objective: str
    complete: bool
    done_tasks: int
    total_tasks: int
    elapsed_s: float
    results_path: Optional[str] = None
    executor: str = ""
    raw: dict = field(default_factory=dict)  # (combination, symbol) -> SymbolRun


def _key(v: float) -> float:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return -math.inf
    return v


def rank(results: dict[tuple[int, str], SymbolRun], combos: list[dict], symbols: list[str], initial: float,
         objective: str, min_trades: int) -> tuple[list[SweepRow], Optional[SweepRow]]:
    attr = OBJECTIVES[objective]
    rows: list[SweepRow] = []
    for idx in [BASELINE, *range(len(combos))]:
        got = [results[(idx, s)] for s in symbols if (idx, s) in results]
        if not got:
            continue
        rows.append(SweepRow(idx, {} if idx == BASELINE else combos[idx], combine(got, initial), len(got)))
    base = next((r for r in rows if r.index == BASELINE), None)
    for r in rows:
        m = r.metrics
        if base is not None and r is not base:
            b = base.metrics
            r.pf_ok = m.trades >= min_trades and _key(m.profit_factor) > _key(b.profit_factor)
            r.sharpe_ok = _key(m.sharpe) > _key(b.sharpe) and (
                m.max_drawdown_pct <= 2.0 * b.max_drawdown_pct if b.max_drawdown_pct > 0 else m.max_drawdown_pct == 0)
    rows.sort(key=lambda r: (r.metrics.trades >= min_trades, _key(getattr(r.metrics, attr))), reverse=True)
    return rows, base


# --------------------------------------------------------------------------- the sweep


def sweep_id(fingerprint: str, base: dict, grid: Grid) -> str:
    h = hashlib.sha256(json.dumps([fingerprint, base, grid.spec()], sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


def plan_tasks(symbols: list[str], n_combos: int, workers: int) -> list[tuple[str, list[int]]]:
    """(symbol, combination indexes) per task: one task per symbol when there are
    enough symbols to keep the workers busy, else each symbol's combinations
    split into chunks (each chunk then computes that symbol's analytics once)."""
    idxs = [BASELINE, *range(n_combos)]
    chunks = max(1, min(len(idxs), math.ceil(2 * workers / max(1, len(symbols)))))
    size = math.ceil(len(idxs) / chunks)
    return [(s, idxs[i:i + size]) for s in symbols for i in range(0, len(idxs), size)]


def run_sweep(
    ds: Dataset,
    base_config: CockpitConfig,
    grid: Grid,
    handle: ExecutorHandle,
    objective: str = "sharpe",
    min_trades: int = 30,
    resume: Optional[str] = None,
    results_path: Optional[str] = None,
    on_progress: Optional[Callable[[int, int], None]] = None,
    progress: bool = False,
    symbol_data: Optional[dict[str, "SymbolData"]] = None,
) -> SweepOutcome:
    """Run (or finish) a sweep. ``on_progress(done_combos, total_combos)`` is called
    after each finished task; a KeyboardInterrupt raised anywhere in the loop
    (Ctrl-C, or by the callback) stops it with the finished results kept.
    ``symbol_data``: each symbol's data as it goes to the workers (``symbol_datasets``),
    to hand the same to ``verify_top`` afterwards; made here when not given."""
    objective_metric(objective)  # an unknown objective fails before any work
    t0 = time.perf_counter()
    base = base_config.model_dump(mode="json")
    combos = grid.combinations()
    symbols = ds.symbols
    sid = sweep_id(ds.fingerprint, base, grid)
    path = results_path or resume or f"sweep-{sid}.json"
    results: dict[tuple[int, str], SymbolRun] = {}
    if resume and Path(resume).exists():
        saved = json.loads(Path(resume).read_text())
        if saved.get("id") != sid:
            raise ConfigError(f"--resume {resume}: that file belongs to another sweep (different data, "
                              "grid or settings); start a new one or give the same arguments")
        for r in saved["results"]:
            if "equity_ts" in r:  # a result without its equity curve cannot be pooled: that run is redone
                results[(r["combo"], r["symbol"])] = SymbolRun.from_row(r)
    tasks = [(s, [i for i in idxs if (i, s) not in results]) for s, idxs in plan_tasks(symbols, len(combos), handle.workers)]
    tasks = [(s, idxs) for s, idxs in tasks if idxs]
    total = (len(combos) + 1) * len(symbols)
    done = resumed = len(results)
    per_symbol = symbol_data if symbol_data is not None else symbol_datasets(ds, [s for s, _ in tasks])
    _send_by_key(per_symbol, handle)
    complete = False
    bar = SweepProgress(total, done, handle.description) if progress else None
    ticker = RunTicker(handle.executor) if progress else RunTicker(None)
    told = 0  # runs the workers told of (finished tasks' included)
    futures = {}
    queue = list(tasks)
    ahead = max(2, 2 * handle.workers)  # tasks in flight: enough to keep workers busy, no more

    def submit_more(pending: set) -> None:
        while queue and len(pending) < ahead:
            s, idxs = queue.pop(0)
            fut = handle.executor.submit(run_task, base, s, per_symbol[s],
                                         [(i, {} if i == BASELINE else combos[i]) for i in idxs], ticker.channel)
            futures[fut] = (s, idxs)
            pending.add(fut)

    try:
        pending: set = set()
        submit_more(pending)
        while pending:
            finished, pending = wait(pending, timeout=None if ticker.channel is None else 0.5,
                                     return_when=FIRST_COMPLETED)
            submit_more(pending)
            told += ticker.drain()
            for fut in finished:
                try:
                    runs = fut.result()
                except DataNotInherited:  # a worker forked before this data existed: send it the data
                    s, idxs = futures[fut]
                    per_symbol[s].inherit = False
                    queue.insert(0, (s, idxs))
                    continue
                for run in runs:
                    results[(run.combo, run.symbol)] = run
                done = len(results)
                if on_progress is not None:
                    on_progress(done, total)
            submit_more(pending)
            if bar is not None:
                bar.update(max(len(results), resumed + told))
        complete = True
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        handle.close(cancel=True)
    finally:
        ticker.close()
        if bar is not None:
            bar.stop()
    if not complete or resume or results_path:
        _save(path, sid, results)
    rows, baseline = rank(results, combos, symbols, base_config.broker.initial_equity, objective, min_trades)
    return SweepOutcome(rows, baseline, objective, complete, len(results), total, time.perf_counter() - t0,
                        path if (not complete or resume or results_path) else None, handle.description,
                        raw=results)


def _send_by_key(data: dict[str, SymbolData], handle: ExecutorHandle) -> None:
    """Workers forked from this process hold every SymbolData made before the fork:
    send those only their key (symbol_data.py)."""
    if forks_workers(handle.executor):
        for sd in data.values():
            if sd.inherit is None:
                sd.inherit = True


def _ran_on_arrays(out: SweepOutcome, idx: int, sym: str) -> bool:
    run = out.raw.get((idx, sym))
    return run is not None and run.path == "arrays"


def verify_top(ds: Dataset, base_config: CockpitConfig, out: SweepOutcome, handle: ExecutorHandle,
               n: int = 3, symbol_data: Optional[dict[str, SymbolData]] = None,
               progress: bool = False) -> tuple[list[SweepRow], str]:
    """Re-run the ``n`` best combinations (not the baseline) through the Engine on
    every symbol, on the executor, and compare each with the sweep's own run.
    Returns (the rows checked, "" or the first difference, naming the combination
    and the symbol). Rows whose runs all took the Engine need no check and are not
    returned. ``symbol_data``: the sweep's (its workers may still hold the data).
    ``progress``: a bar counting the symbols checked, with its ETA."""
    base = base_config.model_dump(mode="json")
    top = [r for r in out.rows if r.index != BASELINE][:max(0, n)]
    checked = [r for r in top if any(_ran_on_arrays(out, r.index, s) for s in ds.symbols)]
    wanted = {sym: [(r.index, r.combo, out.raw[(r.index, sym)]) for r in checked if _ran_on_arrays(out, r.index, sym)]
              for sym in ds.symbols}
    wanted = {sym: combos for sym, combos in wanted.items() if combos}
    data = dict(symbol_data or {})
    missing = [sym for sym in wanted if sym not in data]
    if missing:
        data.update(symbol_datasets(ds, missing))
    _send_by_key(data, handle)
    jobs = {}
    for sym, combos in wanted.items():  # one job per symbol: its analytics are recorded once for every combination
        jobs[handle.executor.submit(verify_task, base, sym, data[sym], combos)] = sym
    bar = SweepProgress(len(jobs), 0, f"top {len(checked)} through the engine", title="verify") \
        if progress and jobs else None
    try:
        for k, (fut, sym) in enumerate(jobs.items(), 1):
            try:
                idx, diff = fut.result()
            except DataNotInherited:  # a worker forked before this data existed: send it the data
                data[sym].inherit = False
                idx, diff = handle.executor.submit(verify_task, base, sym, data[sym], wanted[sym]).result()
            if bar is not None:
                bar.update(k)
            if diff:
                label = next(r.label for r in checked if r.index == idx)
                return checked, f"{label} on {sym}: {diff}"
    finally:
        if bar is not None:
            bar.stop()
    return checked, ""


def paths_used(out: SweepOutcome) -> dict[str, int]:
    """How many (combination, symbol) runs took each path."""
    counts: dict[str, int] = {}
    for run in out.raw.values():
        label = run.path
        counts[label] = counts.get(label, 0) + 1
    return counts


def _save(path: str, sid: str, results: dict) -> None:
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps({"id": sid, "results": [r.as_row() for r in results.values()]}))
    tmp.replace(p)
