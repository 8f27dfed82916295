"""The `cockpit` command. With no arguments it opens the UI on the embedded
default (simulated session, simulated paper broker, SEMI mode).

Subcommands: run (UI or --headless), bench, analyze, backtest, sweep,
walkforward, runs, import, doctor. Every one that prints figures takes --json
and then prints one JSON object. A bad configuration exits with status 2 and a
message naming the key, the value and what is allowed.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

EXIT_CONFIG = 2


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="cockpit.toml to use (default: ./cockpit.toml or the shipped one)")
    p.add_argument("--feed", choices=["synthetic", "replay", "alpaca", "polygon"], help="market data source")
    p.add_argument("--file", help="replay: trades CSV or 1-minute bars CSV (.gz ok)")
    p.add_argument("--speed", help="replay/simulator speed: 1, 10, ... or max")
    p.add_argument("--mode", type=str.upper, choices=["WATCH", "SEMI", "AUTO"], help="signal handling mode")
    p.add_argument("--symbols", help="comma-separated symbols, e.g. SPY,QQQ")
    p.add_argument("--theme", choices=["dark", "light", "high-contrast"])
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--date", help="simulator session date YYYY-MM-DD")
    p.add_argument("--session", choices=["us_equity", "24h_utc", "24h_chicago"], help="session definition of the instrument")
    p.add_argument("--db", help="store: a SQLite file path or any SQLAlchemy URL")
    p.add_argument("--no-store", action="store_true", help="do not persist anything")
    p.add_argument("--live", action="store_true", help="trade real money (asks for the account number)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cockpit", description="Terminal trading cockpit (auction market theory, order flow)")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the cockpit (UI by default, --headless for a summary)")
    _add_run_flags(run)
    run.add_argument("--headless", action="store_true", help="no UI: run the feed to its end and print a summary")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    bench = sub.add_parser("bench", help="benchmarks: engine throughput/latency, UI latency/bytes")
    bench.add_argument("what", choices=["engine", "ui"])
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--trades", type=int, default=1_000_000, help="trades per symbol (engine bench)")
    bench.add_argument("--seconds", type=float, default=20.0, help="UI bench duration")

    an = sub.add_parser("analyze", help="profile, market states and classification accuracy of a data file")
    an.add_argument("file")
    an.add_argument("--symbol", default=None)
    an.add_argument("--session", choices=["us_equity", "24h_utc", "24h_chicago"], default=None)
    an.add_argument("--bin-size", type=float, default=None)
    an.add_argument("--json", action="store_true")

    try:
        from .backtest_cli import add_backtest_commands
    except ImportError:  # the backtester is optional at this stage of the build
        add_backtest_commands = None
    if add_backtest_commands is not None:
        add_backtest_commands(sub)
    try:
        from .live_cli import add_live_commands
    except ImportError:
        add_live_commands = None
    if add_live_commands is not None:
        add_live_commands(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    args = build_parser().parse_args(argv)
    from engine.config import ConfigError
    from engine.feeds.loaders import DataFileError

    try:
        if args.command == "run":
            from .run import run_command

            return run_command(args)
        if args.command == "bench":
            from .bench import bench_command

            return bench_command(args)
        if args.command == "analyze":
            from .analyze import analyze_command

            return analyze_command(args)
        handler = getattr(args, "handler", None)
        if handler is not None:
            return handler(args)
        build_parser().print_help()
        return 0
    except DataFileError as exc:  # (a ConfigError: first) one line naming the file and the problem
        print(f"cockpit: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"cockpit: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # piped into `head`: the reader left, that is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
