"""The `cockpit` command. With no arguments it opens the UI on the embedded
default (simulated session, simulated paper broker, SEMI mode).

Subcommands: run (UI or --headless), bench, analyze, backtest, sweep,
walkforward, runs, import, doctor. Each command module registers its
subcommands with an ``add_commands(sub)`` function, every subcommand's
handler is set with ``set_defaults(handler=...)`` and returns the exit code.
Every one that prints figures takes --json and then prints one JSON object.
A bad configuration exits with status 2 and a message naming the key, the
value and what is allowed.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Optional

from engine.config import ConfigError
from engine.feeds.loaders import DataFileError
from engine.store.writer import StoreError

from . import analyze, backtest_cli, bench, live_cli, run

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130

COMMAND_MODULES = (run, bench, analyze, backtest_cli, live_cli)


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DataFileError as exc:  # (a ConfigError: first) one line naming the file and the problem
        print(f"cockpit: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"cockpit: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:  # a store in use, unreadable or unwritable: one line, no traceback
        print(f"cockpit: store: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # piped into `head`: the reader left, that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
