"""Open positions: signed qty, average price, last, unrealised P&L, stop, target.

A position with no working stop at the broker (the snapshot's ``unprotected``)
shows UNPROT in red reverse in the Stop column and is counted in the subtitle,
until it has one; one whose stops cover only part of it shows ``UNP <shares>``,
the shares no stop covers (the snapshot's ``uncovered``), until they are."""
from __future__ import annotations

from rich.style import Style
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
        bare = set(view.snap.unprotected)
        for p in view.snap.positions:
            if p.qty == 0:
                continue
            stop = (Text(_bare_label(p.qty, view.snap.uncovered.get(p.symbol)),
                         style=table.tone("down") + Style(reverse=True, bold=True)) if p.symbol in bare
                    else fmt.price(p.stop, sep=False))
            rows.append(
                (
                    p.symbol,
                    (
                        Text(p.symbol, style=table.tone("strong")),
                        Text(f"{p.qty:+d}", style=table.tone("up" if p.qty > 0 else "down")),
                        fmt.price(p.avg_price, sep=False),
                        fmt.price(p.last, sep=False),
                        Text(fmt.money(p.unrealized_pnl, sign=True), style=table.tone(sign_tone(p.unrealized_pnl))),
                        stop,
                        fmt.price(p.target, sep=False),
                    ),
                )
            )
        table.sync(rows)
        subtitle = f"{len(rows)} open" if rows else "flat"
        unprotected = sum(1 for p in view.snap.positions if p.qty and p.symbol in bare)
        if unprotected:
            subtitle += f" · {unprotected} UNPROTECTED"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle


def _bare_label(qty: int, short) -> str:
    """UNPROT for a position no stop covers; UNP and the shares left over for one partly covered."""
    return f"UNP {short}" if short and short < abs(qty) else "UNPROT"
