"""`cockpit run`: the UI (default) or a headless run that prints a summary."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Optional, get_args

from engine.config import MODE_NAMES, FeedKind, SessionKind, ThemeName

from .settings_from_args import config_from_args

if TYPE_CHECKING:  # (imported where a run needs them: the metrics endpoint pulls in prometheus_client)
    from .operations import MetricsAddress


def add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="cockpit.toml to use (default: ./cockpit.toml or the shipped one)")
    p.add_argument("--feed", choices=get_args(FeedKind), help="market data source")
    p.add_argument("--file", help="replay: trades CSV or 1-minute bars CSV (.gz ok)")
    p.add_argument("--speed", help="replay/simulator speed: 1, 10, ... or max")
    p.add_argument("--mode", type=str.upper, choices=MODE_NAMES, help="signal handling mode")
    p.add_argument("--symbols", help="comma-separated symbols, e.g. SPY,QQQ")
    p.add_argument("--theme", choices=get_args(ThemeName))
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--date", help="simulator session date YYYY-MM-DD")
    p.add_argument("--days", type=int, help="simulator: trading days to play one after the other "
                   "(default: until quit in the UI, one day with --headless)")
    p.add_argument("--session", choices=get_args(SessionKind), help="session definition of the instrument")
    p.add_argument("--db", help="store: a SQLite file path or any SQLAlchemy URL")
    p.add_argument("--no-store", action="store_true", help="do not persist anything")
    p.add_argument("--fresh", action="store_true",
                   help="simulator: start the session anew instead of resuming the one in the store")
    p.add_argument("--live", action="store_true", help="trade real money (asks for the account number)")
    p.add_argument("--setup-file", action="append", metavar="FILE.py",
                   help="your own setup(s) from a Python file (README: 'Your own setup'); they run with the "
                        "configured setups; repeatable")


def add_commands(sub) -> None:
    run = sub.add_parser("run", help="run the cockpit (UI by default, --headless for a summary)")
    add_run_flags(run)
    run.add_argument("--headless", action="store_true", help="no UI: run the feed to its end and print a summary")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="serve Prometheus metrics on this port (off by default)")
    run.add_argument("--metrics-host", metavar="ADDR", help="address the metrics endpoint listens on "
                     "(default 127.0.0.1: this machine only)")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    import asyncio

    from .operations import Operations, metrics_address
    from .stop_signals import exit_status

    config = config_from_args(args)
    metrics = metrics_address(args.metrics_port, args.metrics_host)
    if args.live or config.broker.live:
        from .live_confirm import confirm_live  # asks for the account number

        if not confirm_live(config):
            print("cockpit: live trading not confirmed; nothing was started", file=sys.stderr)
            return 1
    if args.headless:
        summary = asyncio.run(_headless(config, use_store=not args.no_store, fresh=args.fresh, metrics=metrics))
        _print_quietly(summary, args.json)
        if summary["rows_not_recorded"]:  # the day is not fully in the store: say so, and fail
            print(f"cockpit: store: {summary['rows_not_recorded']:,} records were not recorded", file=sys.stderr)
            if not summary.get("stopped_by"):
                return 1
        return exit_status(summary.get("stopped_by"))
    reason = terminal_cannot_draw(os.environ)
    if reason:
        print(f"cockpit: {reason}", file=sys.stderr)
        return EXIT_NO_TERMINAL
    from engine.factory import build_engine

    from .app import run_app

    engine = build_engine(config, use_store=not args.no_store, fresh=args.fresh, until_quit=True)
    return run_app(engine, config, operations=lambda: Operations(engine, config, metrics))


EXIT_NO_TERMINAL = 2


def terminal_cannot_draw(env) -> str:
    """Why this terminal cannot show the cockpit ("" if it can). A dumb terminal has
    no cursor movement and no colours: Textual would still draw the full screen
    in 24-bit colour escape codes, unreadable there."""
    if env.get("TERM", "") == "dumb":
        return ("TERM=dumb: this terminal cannot draw the cockpit (no cursor movement, no colour); "
                "run `cockpit run --headless` here, or set TERM (e.g. TERM=xterm-256color)")
    return ""


async def _headless(config, use_store: bool, fresh: bool = False, metrics: Optional[MetricsAddress] = None) -> dict:
    """Run the feed to its end, or until SIGINT/SIGTERM/SIGHUP: either way the
    engine stops cleanly (store flushed, exit journaled) and the summary is made.
    A stopped run's summary says which signal and what was left open; records
    the store could not write are counted (``rows_not_recorded``)."""
    from engine.factory import build_engine

    from .operations import Operations
    from .stop_signals import stop_signals_handled

    engine = build_engine(config, use_store=use_store, fresh=fresh)
    with stop_signals_handled() as stop:
        from engine.store.writer import StoreError  # (here: `cockpit backtest` never loads SQLAlchemy)

        async with Operations(engine, config, metrics):
            try:
                await _until_stopped(engine.start(), stop)  # a start that fails (store in use) raises here, as before
            except Exception:
                await _stop_after_failed_start(engine)
                raise
            try:
                if not stop.requested:
                    await _until_stopped(engine.wait_done(), stop)
                if not stop.requested:
                    await engine.tick()
            finally:
                summary = engine.summary()
                open_orders = len(engine.broker.open_orders())
                try:
                    await engine.stop(stop.reason)
                except StoreError as exc:  # records the close could not write: counted below, the summary still printed
                    print(f"cockpit: store: {exc}", file=sys.stderr)
                summary["rows_not_recorded"] = engine.recorder.rows_not_recorded
    summary["symbols"] = list(config.app.symbols)
    summary["mode"] = config.app.mode.value
    summary["feed"] = config.feed.kind
    if stop.requested:
        summary["stopped_by"] = stop.name
        summary["open_orders"] = open_orders
    return summary


async def _stop_after_failed_start(engine) -> None:
    """Stop what a failed start had begun (the store it opened and its writer, the
    broker's REST threads): left to asyncio.run's shutdown, a thread answering the
    closed loop can print after the one-line error, and queued journal rows are
    never written. The start's error is the one reported; a failing stop is only
    logged at debug level (stderr keeps its one line)."""
    import logging

    try:
        await engine.stop("at a failed start")
    except Exception:
        logging.getLogger(__name__).debug("stopping after a failed start also failed", exc_info=True)


async def _until_stopped(coro, stop) -> None:
    """Await ``coro`` unless a stop signal comes first (then it is cancelled)."""
    import asyncio
    work = asyncio.ensure_future(coro)
    signalled = asyncio.ensure_future(stop.event.wait())
    try:
        await asyncio.wait((work, signalled), return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
    if work.done():
        work.result()  # re-raise a failure (a feed that died)
        return
    work.cancel()
    try:
        await work
    except asyncio.CancelledError:
        pass


def _print_quietly(summary: dict, as_json: bool) -> None:
    """Print the summary; a terminal that is gone (SIGHUP) is no reason to fail
    after the store was closed cleanly."""
    try:
        if as_json:
            print(json.dumps(summary, indent=2, sort_keys=True))
        else:
            print_summary(summary)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the CLI handles a reader that left (`| head`)
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def print_summary(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]Cockpit headless run[/]  feed {s['feed']}  mode {s['mode']}  symbols {', '.join(s['symbols'])}")
    t = Table(title="Signals by setup and decision")
    decisions = sorted({d for v in s["signals_by_setup"].values() for d in v})
    t.add_column("setup")
    for d in decisions:
        t.add_column(d, justify="right")
    for setup, counts in sorted(s["signals_by_setup"].items()):
        t.add_row(setup, *(str(counts.get(d, 0)) for d in decisions))
    console.print(t)
    if s["blocked_reasons"]:
        b = Table(title="Blocked reasons")
        b.add_column("rule")
        b.add_column("count", justify="right")
        for k, v in sorted(s["blocked_reasons"].items(), key=lambda kv: -kv[1]):
            b.add_row(k, str(v))
        console.print(b)
    m = Table(title="Run")
    m.add_column("figure")
    m.add_column("value", justify="right")
    for k in ("orders", "fills", "rejections", "lvn_alerts", "malformed", "rows_not_recorded", "open_positions",
              "realized_pnl", "day_pnl", "equity"):
        m.add_row(k, f"{s[k]:,}" if isinstance(s[k], int) else f"{s[k]:,.2f}")
    for k, v in sorted(s.get("states", {}).items()):
        m.add_row(f"minutes in {k}", f"{v:,}")
    console.print(m)
    if s.get("stopped_by"):
        console.print(f"[bold]stopped by {s['stopped_by']}[/] before the feed ended: "
                      f"{s['open_positions']} position(s) and {s['open_orders']} order(s) left open, not flattened")
