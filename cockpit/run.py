"""`cockpit run`: the UI (default) or a headless run that prints a summary."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from engine.factory import build_engine

from .settings_from_args import config_from_args


def run_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if getattr(args, "live", False) or config.broker.live:
        from .live_confirm import confirm_live  # asks for the account number

        if not confirm_live(config):
            print("cockpit: live trading not confirmed; nothing was started", file=sys.stderr)
            return 1
    if getattr(args, "headless", False):
        summary = asyncio.run(_headless(config, use_store=not args.no_store))
        if args.json:
            print(json.dumps(summary, indent=2, sort_keys=True))
        else:
            print_summary(summary)
        return 0
    from .app import run_app

    engine = build_engine(config, use_store=not getattr(args, "no_store", False))
    run_app(engine, config)
    return 0


async def _headless(config, use_store: bool) -> dict:
    engine = build_engine(config, use_store=use_store)
    await engine.start()
    try:
        await engine.wait_done()
        await engine.tick()
    finally:
        summary = engine.summary()
        await engine.stop()
    summary["symbols"] = list(config.app.symbols)
    summary["mode"] = config.app.mode.value
    summary["feed"] = config.feed.kind
    return summary


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
    for k in ("orders", "fills", "rejections", "lvn_alerts", "malformed", "open_positions", "realized_pnl", "day_pnl", "equity"):
        m.add_row(k, f"{s[k]:,}" if isinstance(s[k], int) else f"{s[k]:,.2f}")
    for k, v in sorted(s.get("states", {}).items()):
        m.add_row(f"minutes in {k}", f"{v:,}")
    console.print(m)
