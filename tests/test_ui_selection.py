"""The symbol a money key acts on is the one the trader picked last (issue 14).

A digit sets the selection at once; the watchlist's row-highlight event for the
cursor move arrives later. Under load a highlight for an older row can land
between the digit and ``f``; it must not take the selection back."""
from __future__ import annotations

import dataclasses

from textual import events
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from cockpit.screens import ConfirmScreen
from engine.model import NS_PER_S, Position
from tests.ui_fixtures import T0, FixedEngine, demo_snapshot, fixed_app
from tests.waiting import wait_for
from widgets.base import SyncTable


def _held(*symbols: str):
    """The demo frame with a long position in each of ``symbols`` (so ``f`` asks)."""
    snap = demo_snapshot()
    last = {s: snap.symbols[s].last for s in symbols}
    positions = tuple(Position(s, 10, last[s], last[s], 0.0, opened_ns=T0 - 60 * NS_PER_S) for s in symbols)
    return dataclasses.replace(snap, positions=positions)


def _late_highlight(table: DataTable, row: int) -> DataTable.RowHighlighted:
    """The highlight event the table posted when its cursor went to ``row``, delivered late."""
    return DataTable.RowHighlighted(table, row, table.coordinate_to_cell_key(Coordinate(row, 0)).row_key)


async def test_a_late_highlight_for_an_older_row_does_not_undo_a_digit(tmp_path):
    engine = FixedEngine(_held("QQQ", "AAPL"))
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#watchlist-table", SyncTable)
        await pilot.press("3")
        assert app.selected == "AAPL"
        await pilot.press("2")
        assert app.selected == "QQQ"  # at once, not when the table's event comes back
        # AAPL's highlight (3rd row) arrives after the digit, as under a flood of snapshots
        for i in range(20):
            engine.publish(dataclasses.replace(engine.snapshot(), ts_ns=T0 + i))
        table.post_message(_late_highlight(table, 2))
        await pilot.pause()
        assert app.selected == "QQQ"
        await pilot.press("f")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the flatten confirmation")
        assert app.screen.id == "confirm-flatten-symbol"
        assert app.screen.title_text == "FLATTEN QQQ?"
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert ("flatten", "QQQ") in engine.calls and ("flatten", "AAPL") not in engine.calls
        assert "QQQ" in str(app.query_one("#market").border_title)


async def test_a_highlight_of_the_current_row_still_selects(tmp_path):
    """A click on a row (or the table's own cursor keys) still selects it."""
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#watchlist-table", SyncTable)
        table.focus()
        await pilot.press("down", "down")
        await wait_for(lambda: app.selected == "AAPL", what="the table's cursor selecting AAPL")


async def test_a_digit_then_f_in_one_burst_flattens_the_digits_symbol(tmp_path):
    """In tmux ``3f`` arrives in one read. ``f`` is a priority binding (it fires
    whatever has focus); the digit must act in the same order, not after a trip
    through the focused table's queue."""
    engine = FixedEngine(_held("SPY", "AAPL"))
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.query_one("#watchlist-table", SyncTable).focus()
        await pilot.pause()
        assert app.selected == "SPY"
        for key in "3f":
            app.post_message(events.Key(key, key))
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the flatten confirmation")
        assert app.screen.title_text == "FLATTEN AAPL?"


async def test_j_or_k_then_f_in_one_burst_flattens_the_symbol_moved_to(tmp_path):
    """Like the digits: ``jf`` (or ``kf``) in one read must flatten the symbol j/k
    moved to, not the one before (j/k went through the focused table's queue and
    came back after the priority ``f`` had acted)."""
    engine = FixedEngine(_held("SPY", "QQQ", "AAPL"))
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#watchlist-table", SyncTable)
        table.focus()
        await pilot.pause()
        assert app.selected == "SPY" and table.keys[:3] == ["SPY", "QQQ", "AAPL"]
        for key in "jf":
            app.post_message(events.Key(key, key))
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the flatten confirmation")
        assert app.screen.title_text == "FLATTEN QQQ?"
        await pilot.press("n")
        await wait_for(lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog closed")
        for key in "kkf":
            app.post_message(events.Key(key, key))
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the flatten confirmation")
        assert app.screen.title_text == f"FLATTEN {table.keys[-1]}?"
        chosen = app.selected
        await pilot.press("j", "1")  # behind the dialog the symbol keys do nothing
        assert app.selected == chosen and app.screen.title_text == f"FLATTEN {chosen}?"
