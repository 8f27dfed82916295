"""SyncTable keeps newest-first tables showing their newest rows."""
from rich.text import Text
from textual.app import App

from widgets.base import SyncTable

COLS = [("t", "Time", 8), ("s", "Sym", 6)]


class _TableApp(App):
    def __init__(self, show_cursor: bool) -> None:
        super().__init__()
        self.show_cursor = show_cursor

    def compose(self):
        yield SyncTable(COLS, id="t", show_cursor=self.show_cursor)

    CSS = "#t { height: 4; }"


def _rows(keys):
    return [(k, (Text(k), Text("X"))) for k in keys]


async def test_a_table_without_cursor_stays_at_its_newest_rows():
    app = _TableApp(show_cursor=False)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncTable)
        keys: list[str] = []
        for i in range(20):  # decisions arrive one by one, newest first
            keys.insert(0, f"d{i:02d}")
            table.sync(_rows(keys))
            await pilot.pause()
        assert table.scroll_y == 0
        assert table.get_row_at(0)[0].plain.strip() == "d19"


async def test_a_visible_cursor_stays_on_its_row_when_rows_arrive_above():
    app = _TableApp(show_cursor=True)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncTable)
        table.sync(_rows(["b", "a"]))
        await pilot.pause()
        table.move_cursor(row=1)  # the trader selected "a"
        table.sync(_rows(["c", "b", "a"]))
        await pilot.pause()
        assert table.cursor_key() == "a"


async def test_one_changed_cell_renders_that_cell_only(monkeypatch):
    """DataTable re-renders every cell of a repainted line after any cell update (its
    cache is keyed by the table's update count); a SyncTable keeps each rendered cell
    for as long as the same cell object sits in the same place (issue 14 item 9)."""
    from textual.widgets import DataTable

    app = _TableApp(show_cursor=False)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncTable)
        rows = [(k, (Text(k), Text(f"{k}-x"))) for k in ("a", "b", "c", "d")]
        table.sync(rows)
        await pilot.pause()
        rendered = []
        original = DataTable._render_cell
        monkeypatch.setattr(DataTable, "_render_cell",
                            lambda self, row, col, *a, **k: (rendered.append((row, col)), original(self, row, col, *a, **k))[1])
        rows[1] = ("b", (Text("b"), Text("b-CHANGED")))
        table.sync(rows)
        await pilot.pause()
        assert table.get_cell("b", "s").plain.startswith("b-CH")
        assert (1, 1) in rendered  # the changed cell
        body = [rc for rc in rendered if rc[0] >= 0]  # (the header row aside)
        assert set(body) == {(1, 1)}, body


async def test_the_same_cells_tuple_again_is_skipped_without_fitting(monkeypatch):
    app = _TableApp(show_cursor=False)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncTable)
        rows = _rows(["a", "b"])
        table.sync(rows)
        fitted = []
        original = SyncTable._fit
        monkeypatch.setattr(SyncTable, "_fit", staticmethod(lambda c, w, a: (fitted.append(c), original(c, w, a))[1]))
        assert table.sync(rows) is False and fitted == []  # the very tuples given before: nothing done
        changed = [rows[0], ("b", (Text("b"), Text("Y")))]
        assert table.sync(changed) is True and len(fitted) == 2  # only the new tuple's cells
        await pilot.pause()
        assert table.get_cell("b", "s").plain.strip() == "Y"
