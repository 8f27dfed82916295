"""Detail dialogs opened with Enter on a row: one order (full ids, bracket legs,
events, fills; ``x`` cancels that order after a confirmation) and one signal
(every level and the full reason a table cell may cut).

They show what the engine gave them and compute nothing."""
from __future__ import annotations

from typing import Optional

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from engine.model import Order, OrderDetail, Signal
from widgets import format as fmt
from widgets.orders import index_text, leg_text, price_text

CLOSE_KEYS = "escape,enter,q"


def _fields(rows: list[tuple[str, str]]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    for k, v in rows:
        table.add_row(k, v)
    return table


def _order_line(o: Order) -> str:
    return f"{o.id}  {o.side.value} {leg_text(o)} {o.qty}  {o.status.value}  {price_text(o)}"


class OrderDetailScreen(ModalScreen[Optional[str]]):
    """Dismisses with the order id when the trader asks to cancel it (``x``), else None."""

    BINDINGS = [
        Binding(CLOSE_KEYS, "close", "Close", priority=True),
        Binding("x", "cancel_order", "Cancel this order", priority=True),
    ]

    def __init__(self, detail: OrderDetail, tz: str) -> None:
        super().__init__(id="order-detail")
        self.detail = detail
        self.tz = tz

    def compose(self) -> ComposeResult:
        d, o = self.detail, self.detail.order
        when = lambda ns: fmt.et(ns, "%H:%M:%S", tz=self.tz) if ns else fmt.MISSING  # noqa: E731
        rows = [
            ("order id", o.id),
            ("client id", o.client_order_id),
            ("order", f"{o.symbol} {o.side.value} {leg_text(o)}  qty {o.qty}  filled {o.filled_qty}"),
            ("status", o.status.value + (f"  ({o.reason})" if o.reason else "")),
            ("price", price_text(o)),
            ("created", when(o.created_ns) + "   updated " + when(o.updated_ns)),
        ]
        if o.index_symbol:  # placed through the execution map: the index the setup read
            rows.append(("index price", f"{index_text(o)}  (r = {fmt.num(o.map_ratio, 6)}, {o.symbol} / "
                                        f"{o.index_symbol})"))
        if o.parent_id:
            rows.append(("parent", o.parent_id))
        if o.signal_id:
            rows.append(("signal", o.signal_id))
        self.rows = rows  # what the dialog shows (tests read it)
        with VerticalScroll(id="detail-box"):
            yield Label(f"Order {o.symbol} {o.side.value} {leg_text(o)}", id="detail-title")
            yield Static(_fields(rows), id="detail-fields")
            yield Label("Legs", classes="detail-section")
            yield Static("\n".join(_order_line(leg) for leg in d.legs) or "none (a single order)", id="detail-legs")
            yield Label("Events", classes="detail-section")
            self.events = events = [f"{when(e.ts_ns)}  {e.kind:<16} {e.status.value:<9} filled {e.filled_qty}"
                      + (f" @ {fmt.price(e.price)}" if e.price is not None else "")
                      + (f"  {e.reason}" if e.reason else "") for e in d.events]
            yield Static(Text("\n".join(events) or "none heard this run"), id="detail-events")
            hint = "x cancel this order · Esc close" if o.status.is_open else "Esc close (the order is done)"
            yield Label(hint, id="detail-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel_order(self) -> None:
        if self.detail.order.status.is_open:
            self.dismiss(self.detail.order.id)
        else:
            self.notify("this order is no longer open: nothing to cancel", severity="warning")


class SignalDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding(CLOSE_KEYS, "close", "Close", priority=True)]

    def __init__(self, sig: Signal, now_ns: int, tz: str) -> None:
        super().__init__(id="signal-detail")
        self.sig = sig
        self.now_ns = now_ns
        self.tz = tz

    def compose(self) -> ComposeResult:
        s = self.sig
        rows = [
            ("signal", f"{s.symbol} {s.setup} {s.side.value.upper()}  ({s.id})"),
            ("entry / stop / target", f"{fmt.price(s.entry)} / {fmt.price(s.stop)} / {fmt.price(s.target)}"),
            ("qty · risk · R · conf", f"{s.qty} · ${fmt.money(s.risk_usd)} · {fmt.num(s.r_multiple, 1)}R · "
                                      f"{s.confidence:.0f}"),
            ("created", fmt.et(s.created_ns, tz=self.tz)),
            ("why", s.reason),
        ]
        if s.index_symbol:  # the execution map: what the setup saw, and r
            rows.insert(2, (f"{s.index_symbol} (read)", f"{fmt.price(s.index_entry)} / {fmt.price(s.index_stop)} / "
                                                       f"{fmt.price(s.index_target)}  (r = {fmt.num(s.map_ratio, 6)})"))
        if s.decision.value == "pending":
            left = (s.expires_ns - self.now_ns) / 1e9 if s.expires_ns else None
            rows.append(("expires in", fmt.duration(left)))
        else:
            rows.append(("decision", f"{s.decision.value.upper()} at {fmt.et(s.decided_ns, tz=self.tz)}"))
            rows.append(("because", s.decision_reason or fmt.MISSING))
        self.rows = rows  # what the dialog shows (tests read it)
        with VerticalScroll(id="detail-box"):
            yield Label(f"Signal {s.symbol} {s.side.value.upper()}", id="detail-title")
            yield Static(_fields(rows), id="detail-fields")
            yield Label("Esc close" + ("   (a approve · r reject from the table)" if s.decision.value == "pending"
                                       else ""), id="detail-hint")

    def action_close(self) -> None:
        self.dismiss(None)
