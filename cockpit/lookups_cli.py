"""Look-ups a trader asks for, without starting a run:

    cockpit config effective [--symbol AAPL] [run flags] [--json]
    cockpit preview bracket --symbol AAPL --qty 10 [--side buy] [--price P] [--stop-pct 0.01 --tp-pct 0.02]
    cockpit preview risk --symbol AAPL --qty 10 [same flags] [--at 2024-03-05T10:15]
    cockpit orders cancel-stale --minutes 60 [--dry-run]

Prices: ``--price``, else the latest trade at Alpaca when its keys are set
(kept for ``[providers] quotes_ttl_s``), else the last close the store recorded.
Without ``--stop-pct`` / ``--tp-pct`` the stop and target are the symbol's
``atr_stop`` / ``atr_target`` times the ATR of its recorded bars. The account a
risk preview checks against is the Alpaca account (``broker.kind = "alpaca"``),
or a fresh simulated paper account (``broker.initial_equity``, nothing open).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from engine.config import CockpitConfig, default_config_path
from engine.model import NS_PER_S, Account, Side

from .run import add_run_flags
from .settings_from_args import overrides_from_args

DAY_NS = 86_400 * NS_PER_S
PRICE_LOOKBACK_DAYS = (3, 30, 3650)  # widening windows: the newest recorded bars are found quickly


def add_commands(sub) -> None:
    cfg = sub.add_parser("config", help="configuration look-ups (effective: every value and its source)")
    cfg_kinds = cfg.add_subparsers(dest="config_kind", metavar="KIND")
    cfg.set_defaults(handler=lambda args: (cfg.print_help(), 2)[1])
    eff = cfg_kinds.add_parser("effective", help="every configuration value with its source: default, file, env, "
                               "flag, store")
    add_run_flags(eff)
    eff.add_argument("--symbol", help="show [strategy] and [data] as this symbol trades them (overrides, store)")
    eff.add_argument("--json", action="store_true", help="print one JSON object")
    eff.set_defaults(handler=config_effective_command)

    pre = sub.add_parser("preview", help="what an order would be, and what the risk gates would say, now")
    pre_kinds = pre.add_subparsers(dest="preview_kind", metavar="KIND")
    pre.set_defaults(handler=lambda args: (pre.print_help(), 2)[1])
    for name, handler, text in (("bracket", preview_bracket_command, "the bracket: entry, stop, target, risk, R"),
                                ("risk", preview_risk_command, "the risk gates on that bracket, with their figures")):
        p = pre_kinds.add_parser(name, help=text)
        p.add_argument("--symbol", required=True)
        p.add_argument("--qty", type=int, required=True, help="shares")
        p.add_argument("--side", choices=[s.value for s in Side], default="buy")
        p.add_argument("--price", type=float, help="entry price (default: the last close recorded in the store)")
        p.add_argument("--stop-pct", type=float, help="stop distance as a fraction of the price (0.01 = 1%%)")
        p.add_argument("--tp-pct", type=float, help="target distance as a fraction of the price (0.02 = 2%%)")
        p.add_argument("--config", help="cockpit.toml to use (default: ./cockpit.toml or the shipped one)")
        p.add_argument("--db", help="store: a SQLite file path or any SQLAlchemy URL")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "risk":
            p.add_argument("--at", help="check as of this time (YYYY-MM-DDTHH:MM, New York unless an offset is "
                           "given; default: now)")
        p.set_defaults(handler=handler)

    orders = sub.add_parser("orders", help="order upkeep at the broker (cancel-stale)")
    order_kinds = orders.add_subparsers(dest="orders_kind", metavar="KIND")
    orders.set_defaults(handler=lambda args: (orders.print_help(), 2)[1])
    cs = order_kinds.add_parser("cancel-stale", help="cancel entry orders working longer than --minutes "
                                "(never a bracket's stop or target)")
    cs.add_argument("--minutes", type=float, required=True)
    cs.add_argument("--dry-run", action="store_true", help="list them, cancel nothing")
    cs.add_argument("--config", help="cockpit.toml to use (default: ./cockpit.toml or the shipped one)")
    cs.add_argument("--json", action="store_true", help="print one JSON object")
    cs.set_defaults(handler=cancel_stale_command)


# --------------------------------------------------------------------------- shared


def _config(args: argparse.Namespace) -> CockpitConfig:
    from engine.config import load_config

    over: dict = {}
    if getattr(args, "db", None):
        over["app"] = {"db": args.db}
    return load_config(args.config or default_config_path(), overrides=over)


def _open_store(db: str):
    """The store for reading, or None when the default SQLite file was never made
    (a look-up must not create one)."""
    from engine.store.core import resolve_url
    from engine.store.sync import open_sync
    from sqlalchemy.engine import make_url

    if not db:
        from engine.store.core import default_db_path

        if not default_db_path().exists():
            return None
    else:
        url = make_url(resolve_url(db))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
                and not Path(url.database).exists():
            return None
    return open_sync(db or None)


def _recorded_bars(config: CockpitConfig, symbol: str, now_ns: int) -> list:
    store = _open_store(config.app.db)
    if store is None:
        return []
    with store:
        for days in PRICE_LOOKBACK_DAYS:
            bars = store.load_bars(symbol, now_ns - days * DAY_NS, now_ns + DAY_NS)
            if bars:
                return bars[-500:]
    return []


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


# --------------------------------------------------------------------------- config effective


def config_effective_command(args: argparse.Namespace) -> int:
    from engine.config_sources import Layers, effective

    path = args.config or default_config_path()
    layers = Layers.load(path, dict(os.environ), overrides_from_args(args))
    stored = None
    symbol = args.symbol.upper() if args.symbol else None
    config = layers.config()
    if symbol:
        store = _open_store(config.app.db)
        if store is not None:
            with store:
                stored = store.get_strategy_config(symbol)
    values = effective(layers, symbol, stored)
    if args.json:
        _print_json({"symbol": symbol, "config_file": str(path) if path else None,
                     "values": [{"key": v.key, "value": v.value, "source": v.source, "detail": v.detail}
                                for v in values]})
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Effective configuration{f' for {symbol}' if symbol else ''} (flag > env > file > default; "
                    f"the store's strategy_configs on top)")
    for col in ("key", "value", "source", "from"):
        t.add_column(col)
    for v in values:
        t.add_row(v.key, json.dumps(v.value, default=str) if not isinstance(v.value, str) else v.value,
                  v.source, v.detail)
    Console().print(t)
    return 0


# --------------------------------------------------------------------------- previews


def _bracket(args: argparse.Namespace, config: CockpitConfig, now_ns: int):
    from engine.analytics.indicators import WilderATR
    from engine.preview import PreviewError, bracket

    symbol = args.symbol.upper()
    params = config.strategy.for_symbol(symbol)
    need_atr = args.stop_pct is None or args.tp_pct is None
    live = None if args.price is not None else _alpaca_price(config, symbol)
    bars = _recorded_bars(config, symbol, now_ns) if (args.price is None and live is None) or need_atr else []
    if args.price is not None:
        entry, source = args.price, "--price"
    elif live is not None:
        entry, source = live.price, f"latest Alpaca trade ({live.feed}) at {_when(live.ts_ns)}"
    elif bars:
        entry, source = bars[-1].close, f"last recorded close, bar of {_when(bars[-1].ts_ns)}"
    else:
        raise PreviewError(f"no price for {symbol}: give --price (no Alpaca keys to ask, and the store has no "
                           f"recorded bars of {symbol})")
    atr = None
    if need_atr and bars:
        w = WilderATR(params.atr_period)
        for b in bars:
            w.update(b.high, b.low, b.close)
        atr = w.value if w.value == w.value else None
    return bracket(symbol, args.side, args.qty, entry, source, stop_pct=args.stop_pct, tp_pct=args.tp_pct,
                   atr=atr, atr_stop=params.atr_stop, atr_target=params.atr_target)


def _alpaca_price(config: CockpitConfig, symbol: str):
    """The latest trade at Alpaca when keys are set (kept for quotes_ttl_s), else None."""
    import asyncio
    from engine.live.latest_price import latest_trade_price
    from engine.live.rest import AlpacaRestError
    from engine.live.secrets import SecretsError, install_log_redaction, load_alpaca_keys
    from engine.ops.providers import configure

    try:
        keys = load_alpaca_keys()
    except SecretsError:
        keys = None
    if keys is None:
        return None
    install_log_redaction()
    configure(config.providers)
    try:
        return asyncio.run(latest_trade_price(keys.key_id, keys.secret_key, symbol, config.feed.data_feed,
                                              config.endpoints.alpaca_data or None))
    except AlpacaRestError as exc:
        print(f"cockpit: preview: Alpaca gave no price ({exc.message}); trying the store", file=sys.stderr)
        return None


def _preview_errors(fn):
    def run(args: argparse.Namespace) -> int:
        from engine.preview import PreviewError

        try:
            return fn(args)
        except PreviewError as exc:
            print(f"cockpit: preview: {exc}", file=sys.stderr)
            return 2
    return run


@_preview_errors
def preview_bracket_command(args: argparse.Namespace) -> int:
    config = _config(args)
    b = _bracket(args, config, time.time_ns())
    if args.json:
        _print_json(b.as_dict())
        return 0
    _print_bracket(b)
    return 0


def _print_bracket(b) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Bracket preview: {b.side} {b.qty} {b.symbol} (nothing is sent)")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_column("from")
    t.add_row("entry", f"{b.entry:,.2f}", b.price_source)
    t.add_row("stop", f"{b.stop:,.2f}", b.stop_from)
    t.add_row("target", f"{b.target:,.2f}", b.target_from)
    t.add_row("risk / share", f"{b.risk_per_share:,.2f}", "")
    t.add_row("risk", f"${b.risk_usd:,.2f}", "")
    t.add_row("reward", f"${b.reward_usd:,.2f}", "")
    t.add_row("reward:risk", f"{b.r_multiple:.2f}R", "")
    t.add_row("notional", f"${b.notional:,.2f}", "")
    Console().print(t)


async def _account_now(config: CockpitConfig):
    """(account, positions, open orders, where they came from)."""
    if config.broker.kind == "alpaca" or config.broker.live:
        from engine.clock import WallClock
        from engine.factory import build_broker

        broker = build_broker(config, WallClock())
        await broker.start()
        try:
            return broker.account(), broker.positions(), broker.open_orders(), \
                f"Alpaca {'live' if config.broker.live else 'paper'} account"
        finally:
            await broker.stop()
    eq = config.broker.initial_equity
    account = Account(eq, eq, eq * config.broker.margin_multiplier, eq)
    return account, [], [], f"a fresh simulated paper account (broker.initial_equity ${eq:,.0f}, nothing open)"


@_preview_errors
def preview_risk_command(args: argparse.Namespace) -> int:
    import asyncio
    from engine.preview import PreviewError, risk

    config = _config(args)
    now_ns = time.time_ns()
    if args.at:
        from .live_cli import parse_when

        try:
            now_ns = parse_when(args.at)
        except ValueError as exc:
            raise PreviewError(f"--at {exc}") from None
    b = _bracket(args, config, now_ns)
    account, positions, orders, account_from = asyncio.run(_account_now(config))
    options = None
    if config.risk.options_gate:  # today's chain at Polygon (when its key is set), kept as the engine keeps it
        from engine.factory import build_options

        options = build_options(config, live_feed_only=False)
        options.refresh(b.symbol)
    r = risk(config.risk, config.feed.session, b, account, positions, orders, now_ns, options=options)
    if args.json:
        _print_json({"bracket": b.as_dict(), "account_from": account_from, "at": _when(now_ns), **r.as_dict()})
        return 0
    from rich.console import Console
    from rich.table import Table

    _print_bracket(b)
    t = Table(title=f"Risk gates as of {_when(now_ns)} ({account_from})")
    t.add_column("gate")
    t.add_column("", justify="center")
    t.add_column("figures")
    for line in r.lines:
        t.add_row(line.gate, {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]n/a[/]"}[line.ok],
                  line.figure)
    con = Console()
    con.print(t)
    if r.verdict:
        con.print(f"[bold red]The cockpit would block this signal:[/] {r.verdict}")
    else:
        con.print(f"[bold green]The gates would pass it.[/] The cockpit's own sizing would send {r.sized_qty} shares"
                  + ("" if r.sized_qty == b.qty else f" (you asked for {b.qty})") + ".")
    return 0


# --------------------------------------------------------------------------- orders cancel-stale


def cancel_stale_command(args: argparse.Namespace) -> int:
    import asyncio
    config = _config(args)
    if args.minutes <= 0:
        print(f"cockpit: --minutes {args.minutes:g} is not valid: allowed: a positive number of minutes",
              file=sys.stderr)
        return 2
    if config.broker.kind != "alpaca" and not config.broker.live:
        msg = ("the simulated paper broker keeps no orders between runs: nothing to cancel "
               "(set broker.kind = \"alpaca\" to cancel at Alpaca)")
        if args.json:
            _print_json({"broker": "paper", "stale": [], "cancelled": [], "failed": [], "kept": [], "note": msg})
        else:
            print(msg)
        return 0
    result = asyncio.run(_cancel_stale(config, args.minutes, args.dry_run))
    now_ns = time.time_ns()

    def row(o) -> dict:
        from engine.stale_orders import age_minutes

        return {"id": o.id, "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
                "qty": o.qty, "leg": o.leg.value, "status": o.status.value,
                "age_min": round(age_minutes(o, now_ns), 1) if o.created_ns else None}

    if args.json:
        _print_json({"broker": "alpaca", "dry_run": args.dry_run, "minutes": args.minutes,
                     "stale": [row(o) for o in result.stale], "cancelled": [row(o) for o in result.cancelled],
                     "failed": [{**row(o), "reason": why} for o, why in result.failed],
                     "kept": [{**row(o), "reason": why} for o, why in result.kept]})
    else:
        verb = "would cancel" if args.dry_run else "cancelled"
        done = result.stale if args.dry_run else result.cancelled
        print(f"{verb} {len(done)} entry order(s) working longer than {args.minutes:g} min")
        for o in done:
            r = row(o)
            print(f"  {o.symbol} {o.side.value} {o.qty} {o.client_order_id or o.id}  {r['age_min']} min")
        for o, why in result.failed:
            print(f"  NOT cancelled {o.symbol} {o.client_order_id or o.id}: {why}")
        for o, why in result.kept:
            print(f"  kept {o.symbol} {o.leg.value} {o.client_order_id or o.id}: {why}")
    return 1 if result.failed else 0


async def _cancel_stale(config: CockpitConfig, minutes: float, dry_run: bool):
    from engine.clock import WallClock
    from engine.factory import build_broker
    from engine.stale_orders import cancel_stale

    clock = WallClock()
    broker = build_broker(config, clock)
    for line in await broker.start():
        print(f"reconcile: {line}", file=sys.stderr)
    try:
        return await cancel_stale(broker, clock.now_ns(), minutes, dry_run)
    finally:
        await broker.stop()
