"""`cockpit signals expectancy`: did the signals the cockpit refused deserve it?

    cockpit signals expectancy [--limit 200] [--horizon 30] [--symbol S] [--db PATH|URL] [--json]

Reads the newest ``--limit`` signals of the store (every decision: taken or
not), the bars the store recorded after each one (the ``candles`` table: every
bar the engine closed, whatever the feed: live, replay or simulated) and the
journal's block lines (which RiskRule blocked each), and replays each signal's
own bracket over ``--horizon`` minutes (engine/signal_expectancy.py says how).
A signal with no recorded bar after it is shown as ``no bars``: counted, never
guessed, and left out of the expectancy.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from engine.config import default_config_path

JOURNAL_BLOCK_LINES = 100_000  # the newest block lines read to name each block's rule


def add_commands(sub) -> None:
    sig = sub.add_parser("signals", help="recorded signals: expectancy per setup and decision")
    kinds = sig.add_subparsers(dest="signals_kind", metavar="KIND")
    sig.set_defaults(handler=lambda args: (sig.print_help(), 2)[1])
    ex = kinds.add_parser("expectancy", help="replay the last N recorded signals (taken or not) against the bars "
                          "that followed: expectancy in R per setup and per decision")
    ex.add_argument("--limit", type=_positive_int, default=200, help="the newest N signals (default 200)")
    ex.add_argument("--horizon", type=_positive_int, default=30,
                    help="minutes of bars after each signal (default 30); neither stop nor target by then: "
                         "marked at the last close")
    ex.add_argument("--symbol", help="only this symbol's signals")
    ex.add_argument("--config", help="cockpit.toml to use (default: ./cockpit.toml or the shipped one)")
    ex.add_argument("--db", help="store: a SQLite file path or any SQLAlchemy URL (default: the config's)")
    ex.add_argument("--outcomes", action="store_true", help="also list every signal's outcome")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(handler=expectancy_command)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: at least 1")
    return value


def read_report(store, limit: int, horizon_min: int, symbol: str | None = None):
    """The expectancy of the newest ``limit`` signals of ``store`` (a SyncStore)."""
    from engine.model import NS_PER_MIN
    from engine.signal_expectancy import expectancy

    signals = store.signals(symbol=symbol, limit=limit)
    rules: dict[str, str] = {}
    wanted = {s.id for s in signals}
    for entry in store.journal("block", JOURNAL_BLOCK_LINES):
        data = entry.data or {}
        if data.get("signal_id") in wanted and data.get("rule"):
            rules[data["signal_id"]] = data["rule"]  # the newest line wins: the decision the store kept
    bars: dict[str, list] = {}
    for sym in sorted({s.symbol for s in signals}):
        times = [s.created_ns for s in signals if s.symbol == sym]
        bars[sym] = store.load_bars(sym, min(times) - NS_PER_MIN, max(times) + (horizon_min + 1) * NS_PER_MIN)
    return expectancy(signals, bars, horizon_min, rules)


def expectancy_command(args: argparse.Namespace) -> int:
    from engine.config import load_config

    from .lookups_cli import _open_store

    over = {"app": {"db": args.db}} if args.db else {}
    config = load_config(args.config or default_config_path(), overrides=over)
    store = _open_store(config.app.db)
    if store is None:
        print("cockpit: no store to read (the default store was never made, or --db names no file)", file=sys.stderr)
        return 2
    with store:
        report = read_report(store, args.limit, args.horizon, args.symbol.upper() if args.symbol else None)
    if args.json:
        print(json.dumps({"limit": args.limit, "bars_source": "store candles", **report.as_dict()},
                         indent=2, sort_keys=True))
        return 0
    if not report.outcomes:
        print(f"no recorded signals{f' of {args.symbol.upper()}' if args.symbol else ''} in this store: nothing to "
              "replay (a run records each signal with its decision)")
        return 0
    _print_tables(report, args.limit, args.outcomes)
    return 0


def _fmt(x, spec: str = "+.2f") -> str:
    return "-" if x is None else format(x, spec)


def _print_tables(report, limit: int, outcomes: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    o = report.overall
    console.print(f"{o.signals} signal(s) (the newest up to {limit}), each bracket replayed on the store's bars for "
                  f"{report.horizon_min} min: stop first when a bar reaches both; neither by then = marked at the "
                  f"last close.")
    if o.no_bars:
        console.print(f"{o.no_bars} signal(s) had no recorded bar after them: shown as 'no bars', not in the "
                      "expectancy.")
    if o.no_risk:
        console.print(f"{o.no_risk} signal(s) had no risk to measure R by (entry = stop, or not recorded): "
                      "'no risk', not in the expectancy.")
    for title, groups in (("per setup", report.by_setup), ("per decision", report.by_decision)):
        t = Table(title=f"Expectancy {title} (R)", box=box.SIMPLE_HEAD, pad_edge=False)
        t.add_column(title.removeprefix("per "), overflow="fold")
        for col in ("n", "E[R]", "win", "PF", "tgt", "stop", "hzn", "none"):
            t.add_column(col, justify="right", no_wrap=True)
        for g in [*groups, report.overall]:
            t.add_row(g.key, str(g.signals), _fmt(g.expectancy_r),
                      _fmt(g.win_rate, ".0%"), _fmt(g.profit_factor, ".2f"), str(g.targets), str(g.stops),
                      str(g.at_horizon), str(g.no_bars + g.no_risk))
        console.print(t)
    console.print("n = signals, E[R] = mean R of those with bars after them, win = R > 0, PF = winning R / "
                  "losing R, tgt/stop/hzn = how the bracket ended (hzn: marked at the horizon's last close), "
                  "none = no bar after the signal or no risk (not in E[R]); --json has the sums")
    if outcomes:
        t = Table(title="Outcomes (oldest first)")
        for col in ("time UTC", "symbol", "setup", "decision", "side", "entry", "stop", "target", "exit", "at", "R",
                    "bars"):
            t.add_column(col)
        for x in report.outcomes:
            when = datetime.fromtimestamp(x.created_ns / 1e9, tz=timezone.utc).strftime("%m-%d %H:%M")
            t.add_row(when, x.symbol, x.setup, x.decision, x.side, f"{x.entry:.2f}", f"{x.stop:.2f}",
                      f"{x.target:.2f}", x.exit + (" (short)" if x.short else ""), _fmt(x.exit_price, ".2f"),
                      _fmt(x.r), str(x.bars))
        console.print(t)
