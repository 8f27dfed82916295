"""`cockpit analyze FILE`: what the engine sees in a data file
(cockpit.file_analysis), as tables or one JSON object."""
from __future__ import annotations

import argparse
import json
from typing import get_args

from engine.config import SessionKind


def add_commands(sub) -> None:
    an = sub.add_parser("analyze", help="profile, market states and classification accuracy of a data file")
    an.add_argument("file")
    an.add_argument("--session", choices=get_args(SessionKind), default=None)
    an.add_argument("--bin-size", type=float, default=None)
    an.add_argument("--json", action="store_true")
    an.set_defaults(handler=analyze_command)


def analyze_command(args: argparse.Namespace) -> int:
    from .file_analysis import analyze

    result = analyze(args.file, args.session, args.bin_size)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    c = Console()
    c.print(f"[bold]{result['file']}[/]  {result['kind']}, {result['rows']:,} rows, {result['bars']:,} one-minute bars, "
            f"{result['from']} .. {result['to']}, session {result['session']}")
    if result["malformed_rows"]:
        c.print(f"[yellow]{result['malformed_rows']} malformed rows skipped[/], e.g. "
                + "; ".join(f"line {m['line']}: {m['reason']}" for m in result["malformed_examples"][:3]))
    p = result["profile_last_session"]
    if p:
        t = Table(title=f"Last session profile (bin {p['bin_size']:g})")
        for col in ("POC", "VAH", "VAL", "volume", "value area"):
            t.add_column(col, justify="right")
        t.add_row(f"{p['poc']:g}", f"{p['vah']:g}", f"{p['val']:g}", f"{p['total_volume']:,.2f}",
                  f"{p['value_area_volume'] / p['total_volume']:.1%}")
        c.print(t)
        c.print("LVNs: " + (", ".join(f"{n['price']:g}" for n in p["lvns"]) or "none"))
        c.print("HVNs: " + (", ".join(f"{n['price']:g}" for n in p["hvns"]) or "none"))
    if "state_minutes" in result:
        c.print("Minutes per state: " + ", ".join(f"{k} {v:,}" for k, v in result["state_minutes"].items()))
        t = Table(title="Market state over time (last runs)")
        for col in ("from", "to", "state", "bars"):
            t.add_column(col)
        for r in result["state_runs"][-15:]:
            t.add_row(r["from"], r["to"], r["state"], str(r["bars"]))
        c.print(t)
    acc = result.get("classification")
    if acc:
        t = Table(title=f"Classification vs the true aggressor side ({acc['trades_with_true_side']:,} trades)")
        t.add_column("method")
        t.add_column("by trades", justify="right")
        t.add_column("by volume", justify="right")
        for m in ("tick_rule", "lee_ready"):
            if m in acc:
                t.add_row(m, f"{acc[m]['by_trades']:.1%}", f"{acc[m]['by_volume']:.1%}")
        c.print(t)
        b = acc["bvc_1m"]
        c.print(f"BVC on {b['bars']} one-minute bars: mean |error| of the buy fraction {b['mean_abs_error_of_buy_fraction']:.1%}; "
                f"total buy fraction {b['total_buy_fraction_bvc']:.1%} (true {b['total_buy_fraction_true']:.1%})")
    return 0
