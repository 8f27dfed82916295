"""``cockpit import ...`` and ``cockpit doctor``: history into the store, and a
health check of the live connections.

    cockpit import csv FILE --symbol X
    cockpit import alpaca --symbols SPY,QQQ --start 2024-03-01 --end 2024-03-05 --timeframe 1Min|trades
    cockpit import polygon --symbols SPY --start 2024-03-05 --end 2024-03-05 --timeframe trades
    cockpit import polygon-flatfiles 2024-03-05.csv.gz [...] [--symbols SPY,QQQ]
    cockpit doctor [--json] [--only alpaca|polygon] [--metrics-port PORT]

Dates: ``YYYY-MM-DD`` is the whole calendar day in New York (``--end`` included);
a time without an offset is New York time; ``...Z`` / ``+00:00`` is taken as given.
Handlers return the exit code: 0 done, 1 something failed (the message says
what and how to fix it). Keys are never printed.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Optional, get_args
from zoneinfo import ZoneInfo

from engine.config import CockpitConfig, DataFeed, EndpointsConfig, ImportTimeframe, default_config_path, load_config

NEW_YORK = ZoneInfo("America/New_York")
MAX_SHOWN_MALFORMED = 20


# --------------------------------------------------------------------------- parsing


def parse_when(text: str, *, end: bool = False) -> int:
    """A command-line date/time to ns UTC. A bare date is the start of that New
    York day, or with ``end`` the start of the next one (so the day is included)."""
    s = text.strip()
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            if end:
                d = d + timedelta(days=1)
            dt = datetime.combine(d, time(0, 0), tzinfo=NEW_YORK)
        else:
            if s.endswith(("Z", "z")):
                s = s[:-1] + "+00:00"
            dt = datetime.fromisoformat(s)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=NEW_YORK)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM[:SS][+offset])") from None
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def _symbols(text: Optional[str]) -> list[str]:
    return [s.strip().upper() for s in (text or "").split(",") if s.strip()]


def _config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="cockpit.toml whose [endpoints] to use (default: ./cockpit.toml or the shipped one)")


def _endpoints(args: argparse.Namespace) -> EndpointsConfig:
    """The service base URLs: cockpit.toml's [endpoints] and their environment variables."""
    config: CockpitConfig = load_config(args.config or default_config_path())
    return config.endpoints


# --------------------------------------------------------------------------- parser


def add_commands(sub: "argparse._SubParsersAction") -> None:
    imp = sub.add_parser("import", help="import history into the store (csv, alpaca, polygon, polygon-flatfiles)")
    kinds = imp.add_subparsers(dest="import_kind", metavar="KIND")
    imp.set_defaults(handler=functools.partial(_help_for_missing_kind, imp))

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="store: a SQLite file path or any SQLAlchemy URL (default: the user data dir)")
        p.add_argument("--bin-size", type=float, default=None,
                       help="profile bin size for candles built from trades (default: auto from the price)")
        p.add_argument("--json", action="store_true", help="print the report as one JSON object")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        _config_flag(p)

    csv_p = kinds.add_parser("csv", help="a trades or 1-minute bars CSV (.gz ok)")
    csv_p.add_argument("file")
    csv_p.add_argument("--symbol", required=True, help="the instrument the file holds")
    common(csv_p)
    csv_p.set_defaults(handler=import_command)

    for name, what in (("alpaca", "Alpaca market data REST"), ("polygon", "Polygon (Massive) REST")):
        p = kinds.add_parser(name, help=f"history from {what}")
        p.add_argument("--symbols", required=True, help="comma-separated, e.g. SPY,QQQ")
        p.add_argument("--start", required=True, help="YYYY-MM-DD (New York day) or an ISO date-time")
        p.add_argument("--end", required=True, help="YYYY-MM-DD (included) or an ISO date-time")
        p.add_argument("--timeframe", choices=get_args(ImportTimeframe), default="1Min",
                       help="1Min: one-minute bars; trades: every trade, built into candles with order flow")
        if name == "alpaca":
            p.add_argument("--feed", choices=get_args(DataFeed), default="iex", help="Alpaca data feed")
        common(p)
        p.set_defaults(handler=import_command)

    ff = kinds.add_parser("polygon-flatfiles", help="local Polygon flat-file day files (.csv.gz): trades or minute aggs")
    ff.add_argument("files", nargs="+")
    ff.add_argument("--symbols", default="", help="only these tickers (recommended for trades files)")
    common(ff)
    ff.set_defaults(handler=import_command)

    doc = sub.add_parser("doctor", help="check keys, reachability, account and data entitlement (Alpaca, Polygon)")
    doc.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    doc.add_argument("--only", choices=["alpaca", "polygon"], help="check one provider only")
    doc.add_argument("--symbols", default="SPY", help="symbols whose data entitlement is checked (default SPY)")
    doc.add_argument("--feed", choices=get_args(DataFeed), default="iex", help="Alpaca data feed to check")
    doc.add_argument("--live", action="store_true", help="check live (real money) keys instead of paper")
    doc.add_argument("--timeout", type=float, default=5.0, help="seconds per network check")
    doc.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="also show a running cockpit's look-ups (requests, errors, cache hit rates) from its "
                          "metrics endpoint on 127.0.0.1 (or --metrics-host)")
    doc.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDR")
    _config_flag(doc)
    doc.set_defaults(handler=doctor_command)


# --------------------------------------------------------------------------- import


def _help_for_missing_kind(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`cockpit import` without a KIND: its help, and a failure status."""
    parser.print_help()
    return 1


class _ProgressBar:
    """A rich progress bar on stderr (so --json output stays clean)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self._enabled = enabled and sys.stderr.isatty()
        self._label = label
        self._progress = None
        self._task = None

    def __enter__(self) -> "_ProgressBar":
        if self._enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task(self._label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


async def _run_import(args: argparse.Namespace, urls: EndpointsConfig, progress: Callable[[int, int], None]):
    from engine.store import Store

    from .store_cli import store_location

    kind = args.import_kind
    store = await Store.open(store_location(args))
    try:
        if kind == "csv":
            from engine.importers.csv_import import import_csv

            return await import_csv(store, args.file, args.symbol, bin_size=args.bin_size, progress=progress)
        if kind == "polygon-flatfiles":
            from engine.importers.flatfiles import import_flat_files

            return await import_flat_files(store, args.files, symbols=_symbols(args.symbols) or None,
                                           bin_size=args.bin_size, progress=progress)
        start, end = parse_when(args.start), parse_when(args.end, end=True)
        if kind == "alpaca":
            from engine.importers.alpaca_import import import_alpaca

            return await import_alpaca(store, _symbols(args.symbols), start, end, args.timeframe, feed=args.feed,
                                       data_url=urls.alpaca_data or None, bin_size=args.bin_size, progress=progress)
        from engine.importers.polygon_import import import_polygon

        return await import_polygon(store, _symbols(args.symbols), start, end, args.timeframe,
                                    rest_base=urls.polygon_rest or None, bin_size=args.bin_size, progress=progress)
    finally:
        await store.close()


def import_command(args: argparse.Namespace) -> int:
    import asyncio
    from engine.importers import ImportFailed
    from engine.live.secrets import install_log_redaction, redact
    from engine.store import StoreError

    install_log_redaction()
    urls = _endpoints(args)
    try:
        with _ProgressBar(f"import {args.import_kind}", not (args.json or args.no_progress)) as bar:
            report = asyncio.run(_run_import(args, urls, bar))
    except (ImportFailed, StoreError, ValueError) as exc:
        msg = redact(str(exc))
        if args.json:
            print(json.dumps({"ok": False, "error": msg}))
        else:
            print(f"cockpit import: {msg}", file=sys.stderr)
        return 1
    ok = not report.errors
    if args.json:
        print(json.dumps({"ok": ok, **report.to_dict()}))
        return 0 if ok else 1
    print(report.summary())
    for line, reason in report.malformed_rows[:MAX_SHOWN_MALFORMED]:
        print(f"  line {line}: {reason}")
    if report.malformed > MAX_SHOWN_MALFORMED:
        print(f"  ... and {report.malformed - MAX_SHOWN_MALFORMED} more malformed rows")
    for note in report.notes:
        print(f"  note: {note}")
    for err in report.errors:
        print(f"  error: {err}", file=sys.stderr)
    return 0 if ok else 1


# --------------------------------------------------------------------------- doctor


def _as_dicts(checks: list, provider: str) -> list[dict]:
    return [asdict(c) | {"provider": provider} for c in checks]


async def _alpaca_checks(args: argparse.Namespace, urls: EndpointsConfig) -> list[dict]:
    from engine.live.doctor import CheckResult, check_alpaca
    from engine.live.secrets import SecretsError, load_alpaca_keys

    try:
        keys = load_alpaca_keys()
    except SecretsError as exc:
        return _as_dicts([CheckResult("keys", False, str(exc), "set both APCA_API_KEY_ID and APCA_API_SECRET_KEY "
                                                             "(or fix the key file permissions)")], "alpaca")
    result = await check_alpaca(keys, paper=not args.live, feed=args.feed,
                                probe_symbol=(_symbols(args.symbols) or ["SPY"])[0],
                                trading_url=urls.alpaca_trading or None, data_url=urls.alpaca_data or None,
                                stream_url=urls.alpaca_data_stream or None,
                                stream_symbols=_symbols(args.symbols) or ["SPY"], timeout_s=args.timeout)
    return _as_dicts(result, "alpaca")


async def _polygon_checks(args: argparse.Namespace, urls: EndpointsConfig) -> list[dict]:
    from engine.live.polygon_doctor import check_polygon

    options = load_config(args.config or default_config_path()).risk.options_gate  # its chain is checked too
    result = await check_polygon(symbols=_symbols(args.symbols) or ["SPY"], rest_base=urls.polygon_rest or None,
                                 ws_url=urls.polygon_ws or None, timeout_s=args.timeout, options=options)
    return _as_dicts(result, "polygon")


async def _doctor(args: argparse.Namespace, urls: EndpointsConfig) -> list[dict]:
    checks: list[dict] = []
    if args.only in (None, "alpaca"):
        checks += await _alpaca_checks(args, urls)
    if args.only in (None, "polygon"):
        checks += await _polygon_checks(args, urls)
    return checks


def doctor_command(args: argparse.Namespace) -> int:
    import asyncio
    from engine.live.secrets import install_log_redaction, redact

    install_log_redaction()
    checks = asyncio.run(_doctor(args, _endpoints(args)))
    for c in checks:  # belt and braces: nothing leaves unredacted
        c["detail"] = redact(c["detail"])
        c["fix"] = redact(c["fix"])
    reports = _lookup_reports(args)
    ok = all(c["ok"] for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": checks, "lookups": [r.as_dict() for r in reports]}))
        return 0 if ok else 1
    for c in checks:
        mark = "ok  " if c["ok"] else "FAIL"
        print(f"[{mark}] {c['provider']} {c['name']}: {c['detail']}")
        if not c["ok"] and c.get("fix"):
            print(f"       fix: {c['fix']}")
    for r in reports:
        print("\n".join(r.lines()))
    failed = sum(1 for c in checks if not c["ok"])
    print("all checks passed" if ok else f"{failed} check{'s' if failed != 1 else ''} failed")
    return 0 if ok else 1


def _lookup_reports(args: argparse.Namespace) -> list:
    """The doctor's own look-ups, and a running cockpit's when --metrics-port is given
    (an endpoint that does not answer is said so, it is not a failed check)."""
    import urllib.error
    import urllib.request

    from engine.ops.lookup_report import LookupReport, from_metrics_text, this_process

    reports = [this_process()]
    if args.metrics_port is not None:
        url = f"http://{args.metrics_host}:{args.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as resp:
                reports.append(from_metrics_text(resp.read().decode(), f"the cockpit at {url}"))
        except (urllib.error.URLError, OSError) as exc:
            reports.append(LookupReport(f"no cockpit answered at {url} ({type(exc).__name__})", answered=False))
    return reports


__all__ = ["add_commands", "doctor_command", "import_command", "parse_when"]
