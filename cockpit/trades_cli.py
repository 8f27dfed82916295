"""`cockpit trades --date D`: a past (or today's) day's closed trades from the
store, with totals by setup and by symbol: the same rows and totals the Trades
pane shows live (engine/day_trades.py builds both)."""
from __future__ import annotations

import argparse
import json
import math
from datetime import date
from pathlib import Path

from engine.config import ConfigError

EXIT_OK = 0


def add_commands(sub) -> None:
    p = sub.add_parser("trades", help="a day's closed trades from the store, with totals by setup and symbol")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the day (in --tz) whose closed trades to show")
    p.add_argument("--db", help="store: SQLite path or SQLAlchemy URL (default: the cockpit's own)")
    p.add_argument("--tz", default="America/New_York", help="time zone of the day and of the times shown")
    p.add_argument("--session", type=int, metavar="N",
                   help="a day with several simulated sessions (--fresh starts): which one, 1 = the oldest "
                        "(default: the newest)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=trades_command)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r} is not a date: give it as YYYY-MM-DD (e.g. 2024-03-12)") from None


def trades_command(args: argparse.Namespace) -> int:
    import asyncio
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from engine.day_trades import day_trades_from_store
    from engine.store.core import Store

    day = parse_day(args.date)
    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz {args.tz!r} is not a time zone name (e.g. America/New_York, UTC)") from None
    if args.db and "://" not in args.db and args.db != ":memory:" and not Path(args.db).expanduser().exists():
        raise ConfigError(f"--db {args.db}: no such store file")
    async def read():
        store = await Store.open(args.db or None)
        try:
            return await day_trades_from_store(store, day, args.tz, args.session)
        finally:
            await store.close()

    try:
        view = asyncio.run(read())
    except ValueError as exc:
        raise ConfigError(f"--session: {exc}") from None
    if args.json:
        print(json.dumps(as_json(view), indent=2, allow_nan=False))
        return EXIT_OK
    print_view(view, args.tz)
    return EXIT_OK


def _num(x: float):
    return None if isinstance(x, float) and math.isnan(x) else round(x, 6)


def _index(t) -> dict:
    """A trade placed through the execution map: the index the setup read, entry and exit
    in its terms and r (nothing for a trade that was not mapped)."""
    if not t.index_symbol:
        return {}
    return {"index_symbol": t.index_symbol, "index_entry_price": _num(t.index_entry_price),
            "index_exit_price": _num(t.index_exit_price),
            "map_ratio": None if math.isnan(t.map_ratio) else t.map_ratio}  # whole: 6 places would move the index


def as_json(view) -> dict:
    def totals(t) -> dict:
        return {"key": t.key, "trades": t.trades, "wins": t.wins, "pnl": _num(t.pnl), "avg_r": _num(t.avg_r)}

    return {
        "date": view.date,
        "source": view.source,
        "trades": [{"symbol": t.symbol, "setup": t.setup, "side": t.side, "qty": t.qty, "entry_ns": t.entry_ns,
                    "exit_ns": t.exit_ns, "entry_price": _num(t.entry_price), "exit_price": _num(t.exit_price),
                    "pnl": _num(t.pnl), "r": _num(t.r), "exit_reason": t.exit_reason, **_index(t)}
                   for t in reversed(view.trades)],  # oldest first, as a file is read
        "by_setup": [totals(t) for t in view.by_setup],
        "by_symbol": [totals(t) for t in view.by_symbol],
        "total": totals(view.total),
    }


def print_view(view, tz: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from widgets import format as fmt

    con = Console()
    if not view.trades:
        print(f"no closed trades on {view.date} in this store ({view.source})")
        return
    print(f"from {view.source}")
    table = Table(title=f"Closed trades {view.date} ({tz}), oldest first", title_justify="left")
    mapped = any(t.index_symbol for t in view.trades)  # the execution map: the index's prices beside
    for name, justify in (("entry", "left"), ("exit", "left"), ("sym", "left"), ("setup", "left"),
                          ("side", "left"), ("qty", "right"), ("entry px", "right"), ("exit px", "right"),
                          *((("index entry / exit", "right"),) if mapped else ()),
                          ("P&L", "right"), ("R", "right"), ("why it ended", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "why it ended")
    for t in reversed(view.trades):
        index = ((f"{t.index_symbol} {fmt.price(t.index_entry_price)} / {fmt.price(t.index_exit_price)}"
                  if t.index_symbol else ""),) if mapped else ()
        table.add_row(fmt.et(t.entry_ns, tz=tz), fmt.et(t.exit_ns, tz=tz), t.symbol, t.setup, t.side, str(t.qty),
                      fmt.price(t.entry_price), fmt.price(t.exit_price), *index, fmt.money(t.pnl, sign=True),
                      fmt.signed(t.r, 2), t.exit_reason)
    con.print(table)
    for title, groups in (("by setup", view.by_setup), ("by symbol", view.by_symbol), ("day", (view.total,))):
        tt = Table(title=title, title_justify="left")
        for name in ("", "trades", "won", "P&L", "avg R"):
            tt.add_column(name, justify="left" if not name else "right")
        for g in groups:
            tt.add_row(g.key, str(g.trades), str(g.wins), fmt.money(g.pnl, sign=True), fmt.signed(g.avg_r, 2))
        con.print(tt)

