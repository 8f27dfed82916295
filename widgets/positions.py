"""Open positions: signed qty, average price, last, unrealised P&L, stop, target."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from . import format as fmt
from .base import Pane, SyncTable, View, sign_tone

COLUMNS = (
    ("symbol", "Sym", 6),
    ("qty", "Qty", 7, "right"),
    ("avg", "Avg", 9, "right"),
    ("last", "Last", 9, "right"),
    ("upnl", "Unrl P&L", 10, "right"),
    ("stop", "Stop", 9, "right"),
    ("target", "Target", 9, "right"),
)


class PositionsPane(Pane):
    def __init__(self) -> None:
        super().__init__("Positions", id="positions", page="book")

    def compose(self) -> ComposeResult:
        yield SyncTable(COLUMNS, id="positions-table")

    def apply(self, view: View, force: bool = False) -> None:
        table = self.query_one(SyncTable)
        if force:
            table.forget()
        rows = []
        for p in view.snap.positions:
            if p.qty == 0:
                continue
            rows.append(
                (
                    p.symbol,
                    (
                        Text(p.symbol, style=table.tone("strong")),
                        Text(f"{p.qty:+d}", style=table.tone("up" if p.qty > 0 else "down")),
                        fmt.price(p.avg_price, sep=False),
                        fmt.price(p.last, sep=False),
                        Text(fmt.money(p.unrealized_pnl, sign=True), style=table.tone(sign_tone(p.unrealized_pnl))),
                        fmt.price(p.stop, sep=False),
                        fmt.price(p.target, sep=False),
                    ),
                )
            )
        table.sync(rows)
        subtitle = f"{len(rows)} open" if rows else "flat"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
