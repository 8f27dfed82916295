"""LVN alerts (STRATEGY.md section 6), newest first: symbol, LVN price, source
profile, distance in % and ATR, and the side price approaches from."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from engine.model import LvnAlert

from . import format as fmt
from .base import Pane, SyncTable, View

COLUMNS = (
    ("time", "Time", 6),
    ("symbol", "Sym", 6),
    ("lvn", "LVN", 8, "right"),
    ("source", "Source", 9),
    ("pct", "Dist%", 6, "right"),
    ("atr", "ATR", 5, "right"),
    ("dir", "From", 8),
)
MAX_ROWS = 50


def alert_key(a: LvnAlert) -> str:
    return f"{a.symbol}|{a.ts_ns}|{a.lvn_price}|{a.source}"


class AlertsPane(Pane):
    def __init__(self) -> None:
        super().__init__("LVN alerts", id="alerts", page="flow")

    def compose(self) -> ComposeResult:
        yield SyncTable(COLUMNS, id="alerts-table", show_cursor=False)

    def apply(self, view: View, force: bool = False) -> None:
        table = self.query_one(SyncTable)
        if force:
            table.forget()
        rows = []
        for a in view.snap.alerts[:MAX_ROWS]:
            above = a.direction == "from_above"
            rows.append(
                (
                    alert_key(a),
                    (
                        Text(fmt.et(a.ts_ns, "%H:%M", tz=view.tz), style=table.tone("muted")),
                        Text(a.symbol, style=table.tone("strong")),
                        fmt.price(a.lvn_price, sep=False),
                        a.source,
                        fmt.num(a.distance_pct),
                        fmt.num(a.distance_atr),
                        Text("↓ above" if above else "↑ below", style=table.tone("down" if above else "up")),
                    ),
                )
            )
        table.sync(rows)
