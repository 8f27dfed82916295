"""The `cockpit` command. With no arguments it opens the UI on the embedded
default (simulated session, simulated paper broker, SEMI mode).

Subcommands: run (UI or --headless), bench, analyze, backtest, sweep,
walkforward, runs, import, doctor, trades, store, and the look-ups config effective,
preview bracket|risk, orders cancel-stale, and signals expectancy. Each command module registers its
subcommands with an ``add_commands(sub)`` function, every subcommand's
handler is set with ``set_defaults(handler=...)`` and returns the exit code.
Every one that prints figures takes --json and then prints one JSON object.
A bad configuration exits with status 2 and a message naming the key, the
value and what is allowed.
"""
from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
from typing import Optional

from engine.config import ConfigError

from . import analyze, backtest_cli, bench, live_cli, lookups_cli, run, signals_cli, store_cli, trades_cli

EXIT_CONFIG = 2
EXIT_BROKER = 1  # a broker or data vendor refused or failed at start (keys, permissions, outage)
EXIT_INTERRUPTED = 130

COMMAND_MODULES = (run, bench, analyze, backtest_cli, live_cli, lookups_cli, signals_cli, store_cli, trades_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cockpit", description="Terminal trading cockpit (auction market theory, order flow)")
    parser.set_defaults(handler=functools.partial(_print_help, parser))
    sub = parser.add_subparsers(dest="command")
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    return parser


def _print_help(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    parser.print_help()
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """The program (``argv`` None: the process's own arguments) or one command in
    this process (tests). As the program, the heap is frozen once the command is
    done: the interpreter's last full collection at exit would walk every object
    left (~0.08 s of CPU after a year's backtest) only to free what exit frees anyway."""
    if argv is not None:
        return _command(list(argv))
    try:
        return _command(sys.argv[1:])
    finally:
        gc.freeze()


def _command(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        if is_data_file_error(exc):  # one line naming the file and the problem
            print(f"cockpit: {exc}", file=sys.stderr)
        else:
            print(f"cockpit: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # piped into `head`: the reader left, that is not an error (before Exception: it is one)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if is_store_error(exc):  # a store in use, unreadable or unwritable: one line, no traceback
            print(f"cockpit: store: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        line = vendor_error_line(exc)
        if line is None:
            raise
        print(f"cockpit: {line}", file=sys.stderr)
        return EXIT_BROKER


def is_data_file_error(exc: BaseException) -> bool:
    """A DataFileError (a ConfigError naming a data file), looked up only if the
    loaders were loaded: a command that read no data file does not import numpy."""
    loaders = sys.modules.get("engine.feeds.loaders")
    return loaders is not None and isinstance(exc, loaders.DataFileError)


def is_store_error(exc: BaseException) -> bool:
    """A StoreError, looked up only if the store was loaded: a command that never
    opened a store (a backtest with --no-store) does not import SQLAlchemy (~0.4 s)."""
    writer = sys.modules.get("engine.store.writer")
    return writer is not None and isinstance(exc, writer.StoreError)


def vendor_error_line(exc: BaseException) -> Optional[str]:
    """One line for a broker REST error (Alpaca) or a data vendor's (Polygon), None
    for anything else. Their messages are redacted where they are raised. The
    modules are looked up only if loaded: a run that used neither never imports them."""
    rest = sys.modules.get("engine.live.rest")
    if rest is not None and isinstance(exc, rest.AlpacaRestError):
        status = f"HTTP {exc.status}" if exc.status is not None else "no answer"
        hint = " (check the keys and account with `cockpit doctor`)" if exc.status in (401, 403) else ""
        return f"Alpaca REST error ({status}): {exc.message}{hint}"
    polygon = sys.modules.get("engine.feeds.polygon")
    if polygon is not None and isinstance(exc, polygon.PolygonError):
        status = exc.status or (f"HTTP {exc.http_status}" if exc.http_status else "no answer")
        hint = " (check POLYGON_API_KEY and the plan with `cockpit doctor`)" if exc.http_status in (401, 403) else ""
        return f"Polygon REST error ({status}): {exc.message}{hint}"
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
