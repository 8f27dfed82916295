"""Orders, open first then recent closed: id, symbol, side, type/leg, qty, status,
prices and the broker's reason when it rejected or cancelled one. An order whose
submit outcome is UNKNOWN (possibly live at the broker) stands out in reverse
video until a look-up, the order stream or a reconcile resolves it."""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult

from engine.model import OrderStatus

from . import format as fmt
from .base import Pane, SyncTable, View

COLUMNS = (
    ("id", "Id", 9),
    ("symbol", "Sym", 6),
    ("side", "Side", 5),
    ("type", "Type", 7),
    ("leg", "Leg", 6),
    ("qty", "Qty", 8, "right"),
    ("status", "Status", 9),
    ("price", "Price", 10, "right"),
    ("reason", "Reason", 40),
)
STATUS_SHORT = {"partially_filled": "partial", "unknown": "UNKNOWN?"}
LEG_SHORT = {"entry": "entry", "take_profit": "tp", "stop_loss": "sl", "exit": "exit"}
STATUS_TONE = {
    OrderStatus.FILLED: "up",
    OrderStatus.REJECTED: "down",
    OrderStatus.CANCELED: "muted",
    OrderStatus.EXPIRED: "muted",
    OrderStatus.HELD: "muted",
}
MAX_ROWS = 40


class OrdersPane(Pane):
    def __init__(self) -> None:
        super().__init__("Orders", id="orders", page="book")

    def compose(self) -> ComposeResult:
        yield SyncTable(COLUMNS, id="orders-table")

    def apply(self, view: View, force: bool = False) -> None:
        table = self.query_one(SyncTable)
        if force:
            table.forget()
        rows = []
        open_count = 0
        for o in view.snap.orders[:MAX_ROWS]:
            open_count += o.status.is_open
            if o.avg_fill_price and o.filled_qty:
                px = f"@{fmt.price(o.avg_fill_price, sep=False)}"
            elif o.limit_price is not None:
                px = f"L {fmt.price(o.limit_price, sep=False)}"
            elif o.stop_price is not None:
                px = f"S {fmt.price(o.stop_price, sep=False)}"
            else:
                px = "mkt"
            qty = f"{o.filled_qty}/{o.qty}" if o.filled_qty and o.filled_qty != o.qty else str(o.qty)
            status_style = table.tone(STATUS_TONE.get(o.status, "warn" if o.status.is_open else None))
            if o.status is OrderStatus.UNKNOWN:
                status_style += Style(reverse=True)
            rows.append(
                (
                    o.id,
                    (
                        Text(o.id[-8:], style=table.tone("muted")),
                        Text(o.symbol, style=table.tone("strong")),
                        Text(o.side.value, style=table.tone("up" if o.side.sign > 0 else "down")),
                        o.type.value,
                        LEG_SHORT.get(o.leg.value, o.leg.value),
                        qty,
                        Text(STATUS_SHORT.get(o.status.value, o.status.value), style=status_style),
                        px,
                        Text(o.reason, style=table.tone("down" if o.status is OrderStatus.REJECTED else
                                                        "warn" if o.status is OrderStatus.UNKNOWN else "muted")),
                    ),
                )
            )
        table.sync(rows)
        subtitle = f"{open_count} open"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
