"""Enter on a row opens its detail; from an order's detail ``x`` cancels that one
order after a confirmation. Mixed into CockpitApp, which supplies ``engine``,
``snap``, ``config``, ``_confirm`` and ``_engine_call``."""
from __future__ import annotations

from typing import Optional

from textual.screen import ModalScreen
from textual.widgets import DataTable

from widgets.signals import SignalsPane

from .screens import OrderDetailScreen, SignalDetailScreen


class DetailActions:
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: the signal's or the order's detail."""
        table_id, key = event.data_table.id, event.row_key.value
        if not key or self.snap is None or isinstance(self.screen, ModalScreen):
            return
        if table_id in ("pending-table", "decisions-table"):
            sig = self.query_one(SignalsPane).signal(key)
            if sig is not None:
                self.push_screen(SignalDetailScreen(sig, self._now_ns(self.snap), self.config.app.timezone))
        elif table_id == "orders-table":
            self.show_order(key)

    def show_order(self, order_id: str) -> None:
        """The order's detail; ``x`` there cancels it (after a confirmation)."""
        detail = self.engine.order_detail(order_id)
        if detail is None:
            self.notify(f"order {order_id} is no longer known to the broker", severity="warning")
            return
        self.push_screen(OrderDetailScreen(detail, self.config.app.timezone), self._cancel_order_asked)

    def _cancel_order_asked(self, order_id: Optional[str]) -> None:
        if not order_id:
            return
        detail = self.engine.order_detail(order_id)
        o = detail.order if detail is not None else None
        if o is None or not o.status.is_open:
            self.notify(f"order {order_id} is no longer open: nothing to cancel", severity="warning")
            return
        legs = sum(1 for leg in detail.legs if leg.parent_id == o.id and leg.status.is_open)
        extra = f" Its {legs} bracket leg(s) go with it." if legs else ""
        self._confirm(
            "CANCEL THIS ORDER?",
            f"Cancel {o.symbol} {o.side.value} {o.leg.value} {o.qty} ({o.id}).{extra}",
            "Cancel order",
            lambda: self.run_worker(self._cancel_order(o.id), exit_on_error=False),
            id="confirm-cancel-order",
        )

    async def _cancel_order(self, order_id: str) -> None:
        result = await self._engine_call(self.engine.cancel_order(order_id))
        if result is None:
            self.notify(f"order {order_id}: the broker does not know it", severity="warning")
        elif result.status.is_open:
            self.notify(f"order {order_id} cancel requested: {result.status.value}", timeout=4)
        else:
            self.notify(f"order {order_id} {result.status.value}", timeout=4)
