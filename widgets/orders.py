"""Orders: the working ones first (always at the top, whatever the trader scrolled
to before), then the recent filled / cancelled / rejected ones, dimmed. Each row:
a short reference, symbol, side, leg and type, qty, status, the full price and
the broker's reason (an order placed through the execution map starts it with its
price in the index the setup read, e.g. ``SPX 5,001.20``). Enter on a row opens the order's detail (full ids, legs,
events) where that one order can be cancelled.

The Reason column is the last and, in a half-width pane (the 120x40 dashboard),
mostly cut; so the line under the table spells out one order's reason in full
(``reason_line``): the highlighted order's while the trader is in the table, else
the order that most needs reading (an UNKNOWN outcome, then the newest rejection,
then the first row with a reason: the latest cancel).

An order whose submit outcome is UNKNOWN (possibly live at the broker) stands
out in reverse video until a look-up, the order stream or a reconcile resolves it.
"""
from __future__ import annotations

from typing import Optional

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from engine.model import Order, OrderStatus, OrderType

from . import format as fmt
from .base import Pane, SyncTable, View

# sized so every column up to Price fits the 120x40 dashboard's half-width pane (57 cells)
COLUMNS = (
    ("ref", "#", 6),
    ("symbol", "Sym", 6),
    ("side", "Side", 5),
    ("leg", "Leg", 10),
    ("qty", "Qty", 8, "right"),
    ("status", "Status", 9),
    ("price", "Price", 12, "right"),
    ("reason", "Reason", 44),
)
STATUS_SHORT = {"partially_filled": "partial", "unknown": "UNKNOWN?"}
LEG_SHORT = {"entry": "entry", "take_profit": "tp", "stop_loss": "sl", "exit": "exit"}
TYPE_SHORT = {OrderType.MARKET: "mkt", OrderType.LIMIT: "limit", OrderType.STOP: "stop"}
REASON_TONE = {OrderStatus.REJECTED: "down", OrderStatus.UNKNOWN: "warn"}
STATUS_TONE = {
    OrderStatus.FILLED: "up",
    OrderStatus.REJECTED: "down",
    OrderStatus.CANCELED: "muted",
    OrderStatus.EXPIRED: "muted",
    OrderStatus.HELD: "muted",
}
MAX_CLOSED_ROWS = 40  # history shown under the working orders (every working order is always shown)


def short_ref(order_id: str) -> str:
    """The table's reference of an order: the counter of a ``<prefix>-N`` id (the
    part that differs between a run's orders), else the id's last 6 characters.
    The detail (Enter) shows the full id and client order id."""
    head, _, tail = order_id.rpartition("-")
    if head and tail.isdigit() and len(str(int(tail))) <= 5:
        return f"#{int(tail)}"
    return order_id if len(order_id) <= 6 else "…" + order_id[-5:]


def price_text(o: Order) -> str:
    """What the order did or waits for, with every decimal: @fill, L limit, S stop, mkt."""
    if o.avg_fill_price and o.filled_qty:
        return f"@{fmt.price(o.avg_fill_price)}"
    if o.limit_price is not None:
        return f"L {fmt.price(o.limit_price)}"
    if o.stop_price is not None:
        return f"S {fmt.price(o.stop_price)}"
    return "mkt"


def index_text(o: Order) -> str:
    """An order placed through the execution map: its price in the index the setup
    read (``SPX 5,001.20``); "" otherwise. The engine works it out (Order.index_price)."""
    if not o.index_symbol:
        return ""
    return f"{o.index_symbol} {fmt.price(o.index_price)}"


def reason_text(o: Order) -> str:
    """The Reason column: the index price first for a mapped order, then the broker's reason."""
    idx = index_text(o)
    return f"{idx} · {o.reason}" if idx and o.reason else idx or o.reason


def leg_text(o: Order) -> str:
    return f"{LEG_SHORT.get(o.leg.value, o.leg.value)} {TYPE_SHORT.get(o.type, o.type.value)}"


def ordered(orders: tuple[Order, ...]) -> list[Order]:
    """Working orders first (as the broker lists them), then at most MAX_CLOSED_ROWS closed ones."""
    working = [o for o in orders if o.status.is_open]
    closed = [o for o in orders if not o.status.is_open][:MAX_CLOSED_ROWS]
    return working + closed


def order_to_explain(rows: list[Order]) -> Optional[Order]:
    """The order whose reason the line under the table shows when no row is
    highlighted: an UNKNOWN outcome first (possibly live at the broker), then a
    rejection, then the first row (in the table's order) that has a reason."""
    with_reason = [o for o in rows if o.reason]
    for status in (OrderStatus.UNKNOWN, OrderStatus.REJECTED):
        for o in with_reason:
            if o.status is status:
                return o
    return with_reason[0] if with_reason else None


def reason_line(o: Optional[Order], highlighted: bool) -> str:
    """``#41 TSLA buy canceled: OCO: take_profit filled``: whose reason, what it did, and why."""
    if o is None:
        return "" if not highlighted else "no order highlighted"
    status = STATUS_SHORT.get(o.status.value, o.status.value)
    head = f"{short_ref(o.id)} {o.symbol} {o.side.value} {leg_text(o)} {status}"
    if not o.reason:
        return f"{head} (no reason given)   Enter: detail" if highlighted else head
    return f"{head}: {o.reason}" + ("   Enter: detail" if highlighted else "")


class OrdersPane(Pane):
    def __init__(self) -> None:
        super().__init__("Orders", id="orders", page="book")
        self._by_id: dict[str, Order] = {}
        self._unhighlighted: Optional[Order] = None  # what the line explains when no row is highlighted
        self._line: Optional[tuple[str, str]] = None

    def compose(self) -> ComposeResult:
        # a cursor only while the trader is in the table: otherwise the working orders on top stay in view
        yield SyncTable(COLUMNS, id="orders-table", cursor_when_focused=True)
        yield Static("", id="orders-reason", classes="reason-line")

    @property
    def table(self) -> SyncTable:
        return self.query_one(SyncTable)

    def selected_order_id(self) -> Optional[str]:
        return self.table.cursor_key()

    def on_data_table_row_highlighted(self, event) -> None:
        self._update_reason_line()

    def on_descendant_focus(self) -> None:
        self._update_reason_line()

    def on_descendant_blur(self) -> None:
        self._update_reason_line()

    def _update_reason_line(self) -> None:
        table = self.table
        highlighted = table.has_focus  # (the cursor shows only then)
        order = self._by_id.get(table.cursor_key() or "") if highlighted else self._unhighlighted
        text = reason_line(order, highlighted)
        tone = REASON_TONE.get(order.status, "muted") if order is not None else "muted"
        if self._line != (text, tone):
            self._line = (text, tone)
            # fixed 1 x 100% (base.tcss .reason-line): a repaint, never a layout pass
            self.query_one("#orders-reason", Static).update(Text(text, style=table.tone(tone), no_wrap=True,
                                                                 overflow="ellipsis"), layout=False)

    def apply(self, view: View, force: bool = False) -> None:
        table = self.table
        if force:
            table.forget()
        rows = []
        open_count = 0
        shown = ordered(view.snap.orders)
        for o in shown:
            is_open = o.status.is_open
            open_count += is_open
            qty = f"{o.filled_qty}/{o.qty}" if o.filled_qty and o.filled_qty != o.qty else str(o.qty)
            status_style = table.tone(STATUS_TONE.get(o.status, "warn" if is_open else None))
            if o.status is OrderStatus.UNKNOWN:
                status_style += Style(reverse=True)
            dim = None if is_open else "muted"
            rows.append(
                (
                    o.id,
                    (
                        Text(short_ref(o.id), style=table.tone("muted")),
                        Text(o.symbol, style=table.tone("strong" if is_open else "muted")),
                        Text(o.side.value, style=table.tone("up" if o.side.sign > 0 else "down")),
                        Text(leg_text(o), style=table.tone(dim)),
                        Text(qty, style=table.tone(dim)),
                        Text(STATUS_SHORT.get(o.status.value, o.status.value), style=status_style),
                        Text(price_text(o), style=table.tone(dim)),
                        Text(reason_text(o), style=table.tone("down" if o.status is OrderStatus.REJECTED else
                                                        "warn" if o.status is OrderStatus.UNKNOWN else "muted")),
                    ),
                )
            )
        table.sync(rows)
        self._by_id = {o.id: o for o in shown}
        self._unhighlighted = order_to_explain(shown)
        if force:
            self._line = None
        self._update_reason_line()
        subtitle = f"{open_count} open"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
