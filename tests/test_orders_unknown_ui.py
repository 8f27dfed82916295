"""The orders pane shows an order whose submit outcome is UNKNOWN apart from the
working ones: its own word, in reverse video, with the reason beside it."""
from __future__ import annotations

import dataclasses

from tests.ui_fixtures import T0, FixedEngine, demo_snapshot

from cockpit.app import CockpitApp
from engine.config import CockpitConfig
from engine.model import Order, OrderStatus, OrderType, Side
from widgets.base import SyncTable


async def test_unknown_order_stands_out_in_the_orders_pane(tmp_path):
    unknown = Order("unknown:ck-s9-1", "ck-s9-1", "AAPL", Side.BUY, OrderType.MARKET, 10, OrderStatus.UNKNOWN,
                    reason="possibly live at Alpaca, not resent: no answer to the submit nor to the look-ups")
    snap = demo_snapshot()
    snap = dataclasses.replace(snap, orders=(unknown,) + snap.orders)
    config = CockpitConfig.model_validate({"ui": {"bell": False}})
    app = CockpitApp(FixedEngine(snap), config, clock_ns=lambda: T0, settings_path=tmp_path / "ui.json")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one("#orders-table", SyncTable)
        status = table.get_cell(unknown.id, "status")
        working = table.get_cell("ord-000012", "status")
        assert status.plain.strip() == "UNKNOWN?" and status.style.reverse
        assert working.plain.strip() == "accepted" and not working.style.reverse
        assert "possibly live" in table.get_cell(unknown.id, "reason").plain
        assert app.query_one("#orders").border_subtitle == "3 open"  # it counts as open
