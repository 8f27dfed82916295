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
        # each alert's cells as last built, by key: an alert that did not change is
        # handed to the table as the same tuple, which it skips (SyncTable.sync)
        self._built: dict[str, tuple[LvnAlert, tuple]] = {}

    def compose(self) -> ComposeResult:
        yield SyncTable(COLUMNS, id="alerts-table", show_cursor=False)

    def apply(self, view: View, force: bool = False) -> None:
        table = self.query_one(SyncTable)
        if force:
            table.forget()
            self._built.clear()
        rows = []
        built = {}
        for a in view.snap.alerts[:MAX_ROWS]:
            key = alert_key(a)
            kept = self._built.get(key)
            if kept is not None and kept[0] == a:
                built[key] = kept
                rows.append((key, kept[1]))
                continue
            above = a.direction == "from_above"
            cells = (
                Text(fmt.et(a.ts_ns, "%H:%M", tz=view.tz), style=table.tone("muted")),
                Text(a.symbol, style=table.tone("strong")),
                fmt.price(a.lvn_price, sep=False),
                a.source,
                fmt.num(a.distance_pct),
                fmt.num(a.distance_atr),
                Text("↓ above" if above else "↑ below", style=table.tone("down" if above else "up")),
            )
            built[key] = (a, cells)
            rows.append((key, cells))
        self._built = built
        table.sync(rows)
