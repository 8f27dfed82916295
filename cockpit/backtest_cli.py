"""`cockpit backtest | sweep | walkforward | runs`: the tuning loop from the shell.

Every handler returns an exit code; bad input raises ConfigError (exit 2 in
cockpit.cli). Results are stored (``Store.save_run``) unless ``--no-store``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from typing import Literal, Optional, get_args

from engine.config import SETUP_NAMES, ConfigError, Objective, SessionKind

from .store_cli import store_location as _config_store

RunKind = Literal["backtest", "sweep", "walkforward"]  # what `cockpit runs` lists


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "1", "yes", "on"):
        return True
    if t in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true/false")


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", default=[], metavar="PATH",
                   help="trades CSV or 1-minute bars CSV(.gz) (one symbol per file), or synthetic:SYMBOLS:DAYS:SEED")
    p.add_argument("--symbols", help="comma-separated: names for the --data files, or which symbols to load --from-store")
    p.add_argument("--from-store", action="store_true", help="use candles recorded in the store")
    p.add_argument("--start", help="first date (YYYY-MM-DD, UTC)")
    p.add_argument("--end", help="last date (YYYY-MM-DD, UTC, inclusive)")
    p.add_argument("--session", choices=get_args(SessionKind), help="session definition (24h_utc / 24h_chicago for 24-hour markets)")
    p.add_argument("--config", help="cockpit.toml to start from (default: built-in defaults)")
    p.add_argument("--db", help="store: SQLite path or SQLAlchemy URL (default: the user data dir)")
    p.add_argument("--no-store", action="store_true", help="do not save the run")


def _strategy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--setup", default=None, help=f"setup(s), comma-separated: {', '.join(SETUP_NAMES)}, "
                   "or the name of one of your own (--setup-file)")
    p.add_argument("--setup-file", action="append", metavar="FILE.py",
                   help="your own setup(s) from a Python file (README: 'Your own setup'); without --setup, "
                        "the file's setups are the ones run; repeatable")
    p.add_argument("--min-aggression", type=float)
    p.add_argument("--atr-stop", type=float)
    p.add_argument("--atr-target", type=float)
    p.add_argument("--allow-balance-trades", type=_bool, nargs="?", const=True, metavar="BOOL")
    p.add_argument("--risk-per-trade", type=float, help="percent of equity risked per trade")
    p.add_argument("--qty", type=int, help="fixed shares per entry (risk.fixed_qty) instead of risk sizing")
    p.add_argument("--max-positions", type=int)
    p.add_argument("--max-daily-loss", type=float, help="percent of start-of-day equity")
    p.add_argument("--max-notional", type=float, help="max_position_notional $")
    p.add_argument("--initial-equity", type=float)
    p.add_argument("--slippage-bps", type=float)
    p.add_argument("--commission", type=float, help="$ per share")


def add_commands(sub) -> None:
    bt = sub.add_parser("backtest", help="run the engine over history and report section 12 metrics")
    _data_flags(bt)
    _strategy_flags(bt)
    bt.add_argument("--json", action="store_true", help="print one JSON object")
    bt.add_argument("--execution-map", action="append", metavar="INDEX=PROXY",
                    help="read INDEX, trade PROXY at INDEX's prices x PROXY/INDEX (STRATEGY.md 14), as "
                         "[execution_map] in --config; synthetic data simulates the pair, files need both; repeatable")
    bt.add_argument("--export", metavar="TRADES.CSV", help="write every trade to a CSV file")
    bt.add_argument("--plot", metavar="OUT.html|OUT.png", help="write an equity/drawdown chart")
    bt.add_argument("--no-chart", action="store_true", help="no terminal equity chart")
    _review_flags(bt)
    bt.add_argument("--path", choices=("engine", "arrays"), default="engine",
                    help="engine (default: the live Engine bar by bar) or arrays (the vectorised path, for the "
                         "configurations it supports; anything else runs on the engine and says why)")
    bt.add_argument("--verify", action="store_true",
                    help="run the array path and the engine and fail naming the first difference")
    bt.set_defaults(handler=backtest_command)

    sw = sub.add_parser("sweep", help="every grid combination on every symbol, in parallel, ranked")
    _data_flags(sw)
    _strategy_flags(sw)
    sw.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                    help="e.g. min_aggression=60,70,80 atr_stop=1.0,1.5 allow_balance_trades=false,true")
    _pool_flags(sw)
    sw.add_argument("--resume", metavar="FILE", help="finish an interrupted sweep from its results file")
    sw.add_argument("--results", metavar="FILE", help="also write every result to this JSON file")
    sw.add_argument("--top", type=int, default=20, help="rows to show")
    sw.add_argument("--verify-top", type=int, default=3, metavar="N",
                    help="re-run the N best combinations through the engine; exit 1 naming any difference (0: skip)")
    sw.add_argument("--json", action="store_true")
    _review_flags(sw, "the best combination's ")
    sw.set_defaults(handler=sweep_command)

    wf = sub.add_parser("walkforward", help="rolling in-sample optimisation, out-of-sample test")
    _data_flags(wf)
    _strategy_flags(wf)
    wf.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2")
    wf.add_argument("--train", default="20d", help="in-sample sessions per fold (e.g. 20d)")
    wf.add_argument("--test", default="5d", help="out-of-sample sessions per fold (e.g. 5d)")
    _pool_flags(wf)
    wf.add_argument("--plot", metavar="OUT.html|OUT.png", help="chart of the stitched out-of-sample equity")
    wf.add_argument("--json", action="store_true")
    _review_flags(wf, "the stitched out-of-sample ")
    wf.set_defaults(handler=walkforward_command)

    rn = sub.add_parser("runs", help="list stored backtest / sweep / walk-forward results")
    rn.add_argument("--db", help="store: SQLite path or SQLAlchemy URL")
    rn.add_argument("--kind", choices=get_args(RunKind))
    rn.add_argument("--limit", type=int, default=20)
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(handler=runs_command)


def _review_flags(p: argparse.ArgumentParser, whose: str = "") -> None:
    p.add_argument("--acceptance", action="store_true",
                   help=f"pass/fail of {whose}result against the plan's targets and the promotion checklist")
    p.add_argument("--no-breakdown", action="store_true",
                   help=f"skip {whose}breakdown per symbol, setup, session window and market state, and the "
                        "buy-and-hold benchmark (they cost one analytics pass over the data)")


def _pool_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    p.add_argument("--executor", help="process (default), inline, or dask://HOST:PORT")
    p.add_argument("--objective", choices=get_args(Objective), default="sharpe")
    p.add_argument("--min-trades", type=int, default=30, help="fewer trades than this never ranks first / passes PF")


# --------------------------------------------------------------------------- shared


def _symbols(args) -> Optional[list[str]]:
    return [s.strip().upper() for s in args.symbols.split(",") if s.strip()] if args.symbols else None


def store_location(args):
    """The store (``store_cli.store_location``); a config with an ``[execution_map]`` is
    read with the map's indexes as its symbols, which the backtest's data supplies."""
    emap = _execution_map(args) if getattr(args, "config", None) and not getattr(args, "db", None) else {}
    if not emap:
        return _config_store(args)
    from engine.config import load_config

    return load_config(args.config, overrides={"app": {"symbols": list(emap)}}).app.db or None


def _execution_map(args) -> dict[str, str]:
    """The execution map of the run: --config's ``[execution_map]``, then each
    ``--execution-map INDEX=PROXY`` (backtest only). Read before the data, which it
    shapes: the simulator makes the index from its proxy, files must hold both."""
    from engine.config import normalize_execution_map, read_toml

    raw = dict(read_toml(args.config).get("execution_map") or {}) if args.config else {}
    for item in getattr(args, "execution_map", None) or []:
        index, sep, proxy = item.partition("=")
        if not sep or not index.strip() or not proxy.strip():
            raise ConfigError(f"--execution-map {item!r}: expected INDEX=PROXY, e.g. SPX=SPY")
        raw[index.strip()] = proxy.strip()
    try:
        return normalize_execution_map(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _dataset(args, mapped_ok: bool = False):
    from engine.backtest.data import load_dataset

    emap = _execution_map(args)
    if emap and not mapped_ok:
        raise ConfigError(f"execution_map ({', '.join(f'{k} -> {p}' for k, p in emap.items())}): "
                          "a sweep or walk-forward does not run a mapped strategy yet; `cockpit backtest` does "
                          "(or drop [execution_map] from --config)")
    return load_dataset(args.data, _symbols(args), args.start, args.end, args.from_store, store_location(args),
                        execution_map=emap)


def _overrides(args) -> tuple[dict, dict, dict]:
    strat = {k: v for k, v in (("min_aggression", args.min_aggression), ("atr_stop", args.atr_stop),
                               ("atr_target", args.atr_target), ("allow_balance_trades", args.allow_balance_trades))
             if v is not None}
    risk = {k: v for k, v in (("risk_per_trade_pct", args.risk_per_trade), ("max_positions", args.max_positions),
                              ("max_daily_loss_pct", args.max_daily_loss), ("fixed_qty", args.qty),
                              ("max_position_notional", args.max_notional)) if v is not None}
    broker = {k: v for k, v in (("initial_equity", args.initial_equity), ("slippage_bps", args.slippage_bps),
                                ("commission_per_share", args.commission)) if v is not None}
    return strat, risk, broker


def _config(args, symbols: list[str]):
    from engine.backtest.result import backtest_config
    from engine.config import load_config

    # the data's symbols as app.symbols while reading the file: an [execution_map] key must be
    # among them (backtest_config then sets what is traded and what only followed)
    base = load_config(args.config, overrides={"app": {"symbols": symbols}}) if args.config else None
    strat, risk, broker = _overrides(args)
    setup = args.setup or (None if args.config else "auction")
    if args.setup_file:
        from engine.strategy.plugins import plugins_of_files

        plugins = plugins_of_files(args.setup_file)
        strat["plugins"] = {**(base.strategy.plugins if base else {}), **plugins}
        setup = args.setup or ",".join(plugins)
    return backtest_config(base, symbols, setup=setup, session=args.session, strategy=strat, risk=risk, broker=broker,
                           execution_map=_execution_map(args))


def _save(args, kind: RunKind, params: dict, metrics: dict, fingerprint: str, detail=None) -> Optional[str]:
    if args.no_store:
        return None
    from engine.store.sync import open_sync

    with open_sync(store_location(args)) as st:
        return st.save_run(kind, params, metrics, fingerprint=fingerprint, detail=detail,
                           created_ns=time.time_ns())


def _console():
    from rich.console import Console

    return Console()


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str, allow_nan=False))


# --------------------------------------------------------------------------- backtest


def backtest_command(args) -> int:
    """`cockpit backtest`, with the garbage collector paused (engine/backtest/gc_pause.py):
    the command is its imports, the data load, the run and the breakdown."""
    from engine.backtest.gc_pause import paused_gc

    with paused_gc():
        return _backtest(args)


def _backtest(args) -> int:
    from engine.backtest import report
    from engine.backtest.paths import ParityError, run_on_path
    from engine.backtest.result import equity_points

    ds = _dataset(args, mapped_ok=True)
    cfg = _config(args, ds.symbols)
    t0 = time.perf_counter()
    progress = ItemsProgress(ds.n_items, ds.description) if not args.json and sys.stderr.isatty() else None
    try:
        res, path = run_on_path(cfg, ds, args.path, verify=args.verify, should_stop=progress)
    except ParityError as exc:
        print(f"verify FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.stop()
    elapsed = time.perf_counter() - t0
    res.params["data"] = ds.description
    detail = {"daily": [[d, round(e, 2)] for d, e in res.daily], "summary": res.summary,
              "elapsed_s": round(elapsed, 3), "items": res.items, "path": path.label}
    run_id = _save(args, "backtest", res.params, res.metrics.as_dict(), res.fingerprint, detail)
    if args.export:
        report.export_trades(args.export, res.trades)
    ts, eq = equity_points(res, cfg.broker.initial_equity)
    if args.plot:
        report.write_plot(args.plot, ts, eq, f"{','.join(ds.symbols)} {','.join(cfg.strategy.setups)}")
    review = _review(args, res.metrics, res.trades, lambda: _backtest_breakdown(res.trades, ds, cfg))
    if args.json:
        out = res.as_dict()
        out.update(run_id=run_id, elapsed_s=round(elapsed, 3), malformed_rows=ds.malformed, path=path.label, **review.as_json())
        if cfg.execution_map:  # a mapped run: each trade on the proxy with the index's prices beside
            out.update(execution_map=cfg.execution_map, trades=[t.as_dict() for t in res.trades])
        _print_json(out)
        return 0
    con = _console()
    con.print(f"[bold]{ds.description}[/]: {res.items:,} {ds.kind} of {', '.join(ds.symbols)}, "
              f"setups {', '.join(cfg.strategy.setups)}, session {cfg.feed.session}; "
              f"run time {elapsed:.2f} s ({res.items / max(elapsed, 1e-9):,.0f} items/s)")
    con.print(f"path: {path.label}", markup=False)
    if ds.malformed:
        con.print(f"[yellow]{ds.malformed} malformed rows skipped while loading[/]")
    con.print(report.metrics_table(res.metrics, "Backtest metrics (STRATEGY.md section 12)"))
    if cfg.execution_map:
        con.print(report.mapped_trades_text(cfg.execution_map, res.trades), markup=False)
    s = res.summary
    con.print(f"signals {s['signals_total']} {s['signals_by_decision']}; blocked {s['blocked_reasons'] or '{}'}; "
              f"fills {s['fills']}, rejections {s['rejections']}")
    review.print(con, res.metrics)
    if not args.no_chart:
        con.print(report.equity_text(ts, eq))
    if args.export:
        con.print(f"trades written to {args.export}")
    if args.plot:
        con.print(f"chart written to {args.plot}")
    if run_id:
        con.print(f"stored as run {run_id} (cockpit runs)")
    return 0


# --------------------------------------------------------------------------- sweep


class ItemsProgress:
    """A progress bar for a backtest on a terminal (none when piped or --json): the
    runner asks ``should_stop`` every RUNNER_STEP items, which is where it advances."""

    RUNNER_STEP = 0x10000  # engine/backtest/runner.py checks should_stop every 65,536 items

    def __init__(self, total: int, what: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(TextColumn("[bold]backtest[/] " + what), BarColumn(), MofNCompleteColumn(),
                           TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self._task = self._p.add_task("items", total=total)
        self._done = 0
        self._total = total
        self._p.start()

    def __call__(self) -> bool:
        self._done = min(self._total, self._done + self.RUNNER_STEP)
        self._p.update(self._task, completed=self._done)
        return False  # never stops the run

    def stop(self) -> None:
        self._p.stop()


def _resume_hint(path: str) -> str:
    argv = [a for a in sys.argv[1:]]
    if "--resume" in argv:
        i = argv.index("--resume")
        del argv[i:i + 2]
    return "cockpit " + " ".join(shlex.quote(a) for a in argv) + f" --resume {shlex.quote(path)}"


def sweep_command(args, client=None) -> int:
    from engine.backtest import report
    from engine.backtest.executors import make_executor
    from engine.backtest.grid import STRATEGY_KEYS, parse_grid
    from engine.backtest.sweep import paths_used, run_sweep, symbol_datasets, verify_top

    grid = parse_grid(args.grid)
    ds = _dataset(args)
    cfg = _config(args, ds.symbols)
    handle = make_executor(args.executor, args.workers, client=client)
    verified, difference = [], ""
    try:
        data = symbol_datasets(ds)  # pickled once (when first sent) for the sweep and the verification
        out = run_sweep(ds, cfg, grid, handle, objective=args.objective, min_trades=args.min_trades,
                        resume=args.resume, results_path=args.results, progress=not args.json, symbol_data=data)
        if out.complete and args.verify_top > 0:
            verified, difference = verify_top(ds, cfg, out, handle, args.verify_top, symbol_data=data,
                                              progress=not args.json)
    finally:
        handle.close()
    if not out.complete:  # said before the partial table, so it is not read as the whole sweep
        print(f"interrupted: {out.done_tasks} of {out.total_tasks} runs finished; what follows ranks only those",
              file=sys.stderr)
    paths = paths_used(out)
    if difference:
        print(f"verify FAILED: {difference}", file=sys.stderr)
    elif verified and not args.json:
        print(f"top {len(verified)} verified by the engine")
    elif out.complete and args.verify_top > 0 and not args.json:
        print("the top results ran on the engine: nothing to verify")
    rows = [{"rank": k, "params": r.combo, "baseline": r.index == -1, "metrics": r.metrics.as_dict(),
             "pf_ok": r.pf_ok, "sharpe_ok": r.sharpe_ok} for k, r in enumerate(out.rows, 1)]
    top = next((r for r in out.rows if r.index != -1), None)
    review = Review()
    if top is not None and out.complete:
        from engine.backtest.sweep import combo_config

        top_trades = sorted((t for (i, _), run in out.raw.items() if i == top.index
                             for t in run.trade_records()), key=lambda t: t.exit_ns)
        top_cfg = combo_config(cfg.model_dump(mode="json"), ds.symbols, top.combo)
        review = _review(args, top.metrics, top_trades, lambda: _backtest_breakdown(top_trades, ds, top_cfg))
    run_id = None
    if out.complete:
        best = next((r for r in out.rows if r.index != -1), None)
        params = {"grid": grid.spec(), "objective": args.objective, "min_trades": args.min_trades,
                  "symbols": ds.symbols, "data": ds.description, "best": best.combo if best else None,
                  "setups": list(cfg.strategy.setups), "session": cfg.feed.session}
        run_id = _save(args, "sweep", params, best.metrics.as_dict() if best else {}, ds.fingerprint,
                       {"rows": rows, "elapsed_s": round(out.elapsed_s, 2), "executor": out.executor})
    if args.json:
        _print_json({"complete": out.complete, "done": out.done_tasks, "total": out.total_tasks,
                     "elapsed_s": round(out.elapsed_s, 2), "executor": out.executor, "run_id": run_id,
                     "results_file": out.results_path, "paths": paths,
                     "verified_by_engine": [r.label for r in verified] if not difference else [],
                     "verify_difference": difference or None, "rows": rows, **review.as_json("best_")})
    else:
        con = _console()
        base_values = {k: getattr(cfg.strategy if k in STRATEGY_KEYS else cfg.risk, k) for k in grid.keys}
        con.print(report.sweep_table(out.rows, args.objective, args.top, args.min_trades, keys=grid.keys,
                                     base_values=base_values, width=con.width))
        con.print(f"{len(grid)} combinations x {len(ds.symbols)} symbols (+ baseline) on {ds.description}: "
                  f"{out.elapsed_s:.1f} s with {out.executor}")
        if top is not None:
            review.print(con, top.metrics, f"best ({top.label}) ")
        con.print("paths: " + "; ".join(f"{label}: {n} runs" for label, n in paths.items()), markup=False)
        if run_id:
            con.print(f"stored as run {run_id} (cockpit runs)")
    if not out.complete:
        print(f"\nthe {out.done_tasks} finished runs are kept in {out.results_path}\n"
              f"resume with:\n  {_resume_hint(out.results_path)}", file=sys.stderr)
        return 130
    return 1 if difference else 0


# --------------------------------------------------------------------------- walk-forward


def walkforward_command(args, client=None) -> int:
    from engine.backtest import metrics as M
    from engine.backtest import report
    from engine.backtest.executors import make_executor
    from engine.backtest.grid import parse_grid
    from engine.backtest.walkforward import folds_table, parse_sessions, run_walkforward

    grid = parse_grid(args.grid)
    train, test = parse_sessions(args.train, "train"), parse_sessions(args.test, "test")
    ds = _dataset(args)
    cfg = _config(args, ds.symbols)
    handle = make_executor(args.executor, args.workers, client=client)
    try:
        wf = run_walkforward(ds, cfg, grid, handle, train, test, objective=args.objective, min_trades=args.min_trades)
    finally:
        handle.close()
    folds = [{"fold": f.n, "train": f.train, "test": f.test, "params": f.params,
              "in_sample": f.in_sample.as_dict(), "out_of_sample": f.out_sample.as_dict()} for f in wf.folds]
    deg = None if wf.degradation != wf.degradation else round(wf.degradation, 4)
    params = {"grid": grid.spec(), "train": train, "test": test, "objective": args.objective,
              "symbols": ds.symbols, "data": ds.description, "setups": list(cfg.strategy.setups)}
    metrics = wf.stitched.as_dict() | {"degradation": deg}
    run_id = _save(args, "walkforward", params, metrics, ds.fingerprint, {"folds": folds})
    if args.plot:
        report.write_plot(args.plot, wf.stitched_ts, wf.stitched_equity, "Stitched out-of-sample equity")
    oos_trades = [t for f in wf.folds for t in f.oos_trades]
    review = _review(args, wf.stitched, oos_trades, lambda: _walkforward_breakdown(wf, ds, cfg), deg)
    if args.json:
        _print_json({"folds": folds, "stitched": wf.stitched.as_dict(), "degradation": deg, "run_id": run_id,
                     **review.as_json("out_of_sample_")})
        return 0
    con = _console()
    con.print(folds_table(wf, width=con.width))
    con.print(report.metrics_table(wf.stitched, "Stitched out-of-sample"))
    con.print(f"degradation ratio (mean OOS / mean IS {args.objective}): {M.fmt(wf.degradation, '{:.3f}')}")
    review.print(con, wf.stitched, "out-of-sample ")
    con.print(report.equity_text(wf.stitched_ts, wf.stitched_equity))
    if run_id:
        con.print(f"stored as run {run_id} (cockpit runs)")
    return 0


# --------------------------------------------------------------------------- breakdowns and acceptance


class Review:
    """A result's breakdown (unless --no-breakdown) and acceptance checks (with --acceptance)."""

    def __init__(self, breakdown=None, checks=None) -> None:
        self.breakdown, self.checks = breakdown, checks

    def as_json(self, prefix: str = "") -> dict:
        out = {}
        if self.breakdown is not None:
            out[f"{prefix}breakdown"] = self.breakdown.as_dict()
        if self.checks is not None:
            out[f"{prefix}acceptance"] = [c.as_dict() for c in self.checks]
        return out

    def print(self, con, strategy_metrics, what: str = "") -> None:
        from engine.backtest.breakdown_report import acceptance_table, benchmark_line, breakdown_tables

        if self.breakdown is not None:
            for table in breakdown_tables(self.breakdown, con.width, what.capitalize()):
                con.print(table)
            con.print(benchmark_line(self.breakdown, strategy_metrics))
        if self.checks is not None:
            con.print(acceptance_table(self.checks, con.width))


def _review(args, metrics, trades, make_breakdown, degradation=None) -> Review:
    from engine.backtest.acceptance import acceptance
    from engine.backtest.breakdown import group_figures

    bd = None if args.no_breakdown else make_breakdown()
    checks = None
    if args.acceptance:
        by_symbol = bd.by_symbol if bd is not None else group_figures(trades, lambda t: t.symbol)
        checks = acceptance(metrics, trades, by_symbol, degradation)
    return Review(bd, checks)


def _backtest_breakdown(trades, ds, cfg):
    from engine.backtest.breakdown import backtest_breakdown

    return backtest_breakdown(trades, ds, cfg)


def _walkforward_breakdown(wf, ds, cfg):
    """Each fold's trades labelled with that fold's parameters, over its test window;
    buy-and-hold from the first test session to the end of the last."""
    from engine.backtest.breakdown import LabelledTrades, breakdown, buy_and_hold
    from engine.backtest.grid import split_params
    from engine.backtest.result import backtest_config

    labelled = LabelledTrades()
    for f in wf.folds:
        strat, risk = split_params(f.params)
        labelled.extend(LabelledTrades.of(f.oos_trades, ds, backtest_config(cfg, ds.symbols, strategy=strat, risk=risk)))
    start = min((t for t in wf.stitched_ts), default=None)
    end = max((t for t in wf.stitched_ts), default=None)
    return breakdown(labelled, buy_and_hold(ds, cfg, start, None if end is None else end + 1))


# --------------------------------------------------------------------------- runs


def runs_command(args) -> int:
    from engine.backtest import metrics as M
    from engine.store.sync import open_sync

    with open_sync(store_location(args)) as st:
        runs = st.list_runs(args.kind, args.limit)
    if args.json:
        _print_json([{"id": r.id, "created_ns": r.created_ns, "kind": r.kind, "params": r.params,
                      "fingerprint": r.fingerprint, "metrics": r.metrics} for r in runs])
        return 0
    from engine.backtest.report import Column, fitted_table

    whens = [datetime.fromtimestamp(r.created_ns / 1e9, tz=timezone.utc) for r in runs]
    this_year = len({w.year for w in whens}) <= 1
    cols = [Column("id", [r.id[:8] for r in runs], "left"),
            Column("when (UTC)", [w.strftime("%m-%d %H:%M" if this_year else "%Y-%m-%d %H:%M") for w in whens], "left",
                   drop=3),
            Column("kind", [r.kind for r in runs], "left"),
            Column("data", [str(r.params.get("data", "")) for r in runs], "left", wrap=True),
            Column("parameters", [_short_params(r.kind, r.params) for r in runs], "left", wrap=True)]
    for header, key, spec, drop in (("trades", "trades", None, 0), ("PF", "profit_factor", "{:.2f}", 2),
                                    ("Sharpe", "sharpe", "{:.2f}", 0), ("max\nDD %", "max_drawdown_pct", "{:.2f}", 1),
                                    ("net $", "net_pnl", "{:,.0f}", 0)):
        cells = [str(r.metrics.get(key, "")) if spec is None else M.fmt(r.metrics.get(key), spec) for r in runs]
        cols.append(Column(header, cells, drop=drop))
    con = _console()
    con.print(fitted_table("Stored runs, newest first (ids: the first 8 characters)", cols, con.width))
    if not runs:
        print("no runs stored yet: cockpit backtest --data ... stores one")
    return 0


def _short_params(kind: str, p: dict) -> str:
    """One short line: what distinguishes a run at a glance."""
    setups = ",".join(p.get("setups", []))
    if kind == "backtest":
        qty = f" qty {p['fixed_qty']}" if p.get("fixed_qty") else ""
        return (f"{setups} agg {p.get('min_aggression')} stop {p.get('atr_stop')} tgt {p.get('atr_target')}"
                f"{' bal' if p.get('allow_balance_trades') else ''}{qty}")
    if kind == "sweep":
        best = p.get("best") or {}
        return f"{setups} best " + " ".join(f"{k}={v}" for k, v in best.items())
    return f"{setups} train {p.get('train')} test {p.get('test')}"
