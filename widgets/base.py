"""Building blocks every pane shares: theme tones, a text pane that repaints only
when its text changed, and a DataTable that syncs rows in place.

Why: the cockpit must stay cheap on a slow SSH link. A pane that re-renders the
same text still costs terminal bytes, and a table that is cleared and refilled
repaints every cell and loses the trader's cursor. So panes compare before they
update, and tables add/remove only changed rows and update only changed cells.
Colours come from the theme's .tcss through component classes (``tone--up`` ...),
so a theme switch is a CSS change, not a code change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine.model import EngineSnapshot

TONES = ("up", "down", "flat", "warn", "muted", "accent", "strong")
RENDERED_CELLS_KEPT = 2048  # per table: every visible cell of the largest pane a few times over
TONE_CLASSES = {f"tone--{t}" for t in TONES}


@dataclass(frozen=True, slots=True)
class View:
    """What a pane renders: the snapshot, the selected symbol and 'now' for countdowns."""

    snap: EngineSnapshot
    symbol: Optional[str]
    now_ns: int
    tz: str = "America/New_York"


class Toned:
    """Mixin: named colours read from the active theme's CSS.

    Textual only merges COMPONENT_CLASSES found on DOMNode classes, so every
    subclass gets the tone classes in its own namespace."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "COMPONENT_CLASSES" not in cls.__dict__:
            cls.COMPONENT_CLASSES = set(TONE_CLASSES)

    def tone(self, name: Optional[str]) -> Style:
        if not name:
            return Style()
        return self.get_component_rich_style(f"tone--{name}", partial=True)  # type: ignore[attr-defined]


def same(a: Any, b: Any) -> bool:
    """Cell/text equality that also compares a Text's base style (Text.__eq__ ignores it)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.spans == b.spans and str(a.style) == str(b.style)
    return type(a) is type(b) and a == b


def crop_lines(text: Text, width: int) -> Text:
    """Cut every line to ``width`` cells so a narrow pane never wraps a line."""
    lines = text.split("\n", allow_blank=True)
    for line in lines:
        line.truncate(max(1, width), overflow="crop")
    return Text("\n").join(lines)


def sign_tone(x: float) -> Optional[str]:
    """Direction of a number as a tone name (P&L, change, CVD)."""
    if x != x or x == 0:  # NaN or flat
        return None
    return "up" if x > 0 else "down"


def _shape(text: Text) -> tuple[int, int]:
    lines = text.plain.split("\n")
    return len(lines), max(cell_len(line) for line in lines)


def _needs_layout(old: Text, new: Text, width: int) -> bool:
    (old_n, old_w), (new_n, new_w) = _shape(old), _shape(new)
    return old_n != new_n or old_w >= width or new_w >= width


class TextPane(Toned, Static):
    """A Static that repaints only when the rendered text actually changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: Optional[Text] = None
        self._stale = False  # repaint on the next show even if the text is the same (new theme)

    def show_text(self, text: Text) -> bool:
        if not self._stale and self._shown is not None and same(text, self._shown):
            return False
        old, self._shown, self._stale = self._shown, text, False
        # a layout pass re-arranges the whole screen (tens of ms): only when the
        # height (auto) can change, i.e. the line count changed or a line may wrap
        self.update(text, layout=old is None or _needs_layout(old, text, self.size.width))
        return True

    def forget(self) -> None:
        """Repaint on the next show (after a theme switch); the text's shape is kept, so
        a repaint in new colours is not also a layout pass of the whole screen."""
        self._stale = True


class Drawing(Toned, Widget):
    """A widget drawn from stored data at whatever size it has: ``set_data``
    repaints only when the data changed; a resize redraws with the new size."""

    DEFAULT_CSS = "Drawing { height: 1fr; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data: Any = None
        self._text: Optional[Text] = None
        self._text_size = None

    def set_data(self, data: Any, force: bool = False) -> bool:
        """Store the data; repaint only if the drawing it gives actually differs
        (a trade that moves a histogram bar by less than a character costs nothing)."""
        if not force and data == self._data:
            return False
        self._data = data
        text = self._draw_now()
        if not force and self._text is not None and same(text, self._text):
            return False
        self._text = text
        self.refresh()
        return True

    def _draw_now(self) -> Text:
        if self._data is None:
            return Text("no symbol selected", style=self.tone("muted"))
        width, height = self.size.width, self.size.height
        return crop_lines(self.draw(self._data, width, height), width)

    def render(self) -> Text:
        if self._text is None or self._text_size != self.size:
            self._text = self._draw_now()
            self._text_size = self.size
        return self._text

    def draw(self, data: Any, width: int, height: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError


class Pane(Vertical):
    """A bordered pane; subclasses implement ``apply(view, force)``."""

    def __init__(self, title: str, *, id: str, page: str) -> None:
        super().__init__(id=id, classes=f"pane page-{page}")
        self.base_title = title
        self.border_title = title
        self.page = page

    def set_subject(self, subject: Optional[str]) -> None:
        title = f"{self.base_title} · {subject}" if subject else self.base_title
        if self.border_title != title:
            self.border_title = title

    def apply(self, view: View, force: bool = False) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ContainedScroll:
    """Mixin for a scrolling pane (a table, the log) whose own size the layout sets:
    a new virtual size (a row added, a log line written) updates its scrollbars and
    repaints it in place. Textual lays out the whole screen for it instead (one
    pass was 20-50 ms under load, several times a second with a busy feed,
    measured with `cockpit bench ui`), which is what a trader's key waited behind.
    A pane sized by its content (``height: auto``) is still laid out."""

    virtual_size = Reactive(Size(0, 0), layout=False, repaint=True)

    def watch_virtual_size(self, size: Size) -> None:
        styles = self.styles  # type: ignore[attr-defined]
        if any(d is not None and d.is_auto for d in (styles.height, styles.width)):
            self.refresh(layout=True)  # type: ignore[attr-defined]
        elif self.is_mounted and self.container_size:  # type: ignore[attr-defined]
            self._scroll_update(size)  # type: ignore[attr-defined]


class SyncTable(ContainedScroll, Toned, DataTable):
    """A DataTable whose rows are kept equal to a list of (key, cells) in place.

    Columns have fixed widths so an update never re-measures the table; each
    cell is fitted to its width with one space of gutter (``cell_padding`` 0
    would otherwise glue a right-aligned number to the next column). Row order
    follows the given list: rows are moved with ``sort`` (by the identity of each
    row's first cell, which is always a fresh Text object) only when the order
    differs.

    ``cursor_when_focused``: the cursor shows (and follows its row) only while
    the trader is in the table (Enter there opens a row's detail); otherwise the
    table behaves as one without a cursor, so the rows kept at the top stay in
    view and a changing top row costs no highlight repaint. Without it the cursor
    is a selection even while another widget has focus (the pending signal ``a``
    approves).
    """

    def __init__(self, columns: Sequence[tuple], *, cursor_when_focused: bool = False, **kwargs: Any) -> None:
        if cursor_when_focused:
            kwargs["show_cursor"] = False
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        kwargs.setdefault("cell_padding", 0)
        self._rendered_cells: LRUCache = LRUCache(RENDERED_CELLS_KEPT)  # (see _render_cell)
        super().__init__(**kwargs)
        # (key, label, width[, "right"])
        self._column_spec = [(c[0], c[1], c[2], c[3] if len(c) > 3 else "left") for c in columns]
        self._rows: dict[str, tuple] = {}
        self._given: dict[str, Any] = {}  # key -> the cells tuple last given to sync for it
        self._order: list[str] = []
        self.cursor_when_focused = cursor_when_focused
        self.cell_updates = 0  # cells written since creation (render-cost accounting)
        for key, label, width, align in self._column_spec:
            self.add_column(self._fit(Text(label), width, align), key=key, width=width)

    @staticmethod
    def _fit(cell: Any, width: int, align: str) -> Text:
        text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
        text.truncate(width - 1, overflow="ellipsis")
        if align == "right":
            text.align("right", width - 1)
        else:
            text.pad_right(width - 1 - text.cell_len)
        text.append(" ")
        text.justify = "left"  # aligned here; the table must not re-justify over the gutter
        return text

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False):
        """DataTable keys its rendered cells by the table's update count, which moves
        on every cell written: every cell of a repainted line went through Rich again
        (the whole row for one changed price; every visible row when a row is added,
        removed or moved, as orders, signals and the log's tables do all the time), in
        the frame a trader's key may be waiting for. A SyncTable's cells are Text
        objects replaced, never changed, when their content changes, so a rendered
        cell is kept for as long as the same object sits at the same place in the
        same style."""
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 and column_index >= 0 else None
        cell = self._data.get(row_key, {}).get(self._column_locations.get_key(column_index)) if row_key else None
        if cell is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (row_key, column_index, row_index, base_style, width, cursor, hover, self.show_cursor,
               self._show_hover_cursor, self._pseudo_class_state)
        kept = self._rendered_cells.get(key)
        if kept is not None and kept[0] is cell:
            return kept[1]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._rendered_cells.set(key, (cell, lines))
        return lines

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._rendered_cells.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()  # (a new theme or focus: every cell in new colours)
        self._rendered_cells.clear()

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False):
        """While cells are rewritten in place, swallow DataTable's whole-table
        refresh; sync() then repaints just the rows that changed."""
        if getattr(self, "_quiet", False) and not regions and not layout and not recompose:
            return self
        if getattr(self, "_no_layout", False):
            # a removed row: repaint the table, but a layout pass of the whole screen
            # is needed only if the table's size changes, and then DataTable's own
            # dimension update (on idle) asks for it
            layout = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    def cursor_key(self) -> Optional[str]:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:  # no rows
            return None
        return row_key.value

    def sync(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> bool:
        """Make the table show ``rows``; returns True if anything changed. A row whose
        cells are the very tuple given for it last time is skipped at once: a pane that
        keeps the cells it built for an unchanged record (alerts, decisions) pays
        nothing for it at the next poll."""
        # a visible cursor is a selection (what `a` approves): it follows its row. A
        # hidden one must not, or DataTable scrolls after it as rows are added above
        # and a newest-first table ends up showing its oldest rows.
        keep_cursor = self.cursor_key() if self.show_cursor else None
        wanted = [k for k, _ in rows]
        wanted_set = set(wanted)
        changed = False
        for key in [k for k in self._order if k not in wanted_set]:
            self._no_layout = True
            try:
                self.remove_row(key)
            finally:
                self._no_layout = False
            del self._rows[key]
            self._given.pop(key, None)
            changed = True
        col_keys = [c[0] for c in self._column_spec]
        specs = self._column_spec
        dirty: set[str] = set()
        for key, cells in rows:
            if self._given.get(key) is cells and key in self._rows:
                continue  # the very cells given last time: nothing to fit or compare (see ``sync``)
            self._given[key] = cells
            cells = tuple(self._fit(c, specs[i][2], specs[i][3]) for i, c in enumerate(cells))
            first = cells[0]
            old = self._rows.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                self.cell_updates += len(cells)
                self._rows[key] = cells
                changed = True
                continue
            new_cells = list(cells)
            new_cells[0] = old[0] if same(old[0], first) else first
            for i, (a, b) in enumerate(zip(old, new_cells)):
                if (a is not b) if i == 0 else not same(a, b):
                    self._quiet = True
                    try:
                        self.update_cell(key, col_keys[i], b)
                    finally:
                        self._quiet = False
                    self.cell_updates += 1
                    dirty.add(key)
                    changed = True
            self._rows[key] = tuple(new_cells)
        current = [k for k in self._order if k in wanted_set] + [k for k in wanted if k not in self._order]
        if current != wanted:
            rank = {id(self._rows[k][0]): i for i, k in enumerate(wanted)}
            self.sort(col_keys[0], key=lambda cell: rank[id(cell)])
            changed = True
        self._order = wanted
        for key in dirty:
            self.refresh_row(wanted.index(key))
        if keep_cursor is not None and keep_cursor in wanted_set and changed:
            index = wanted.index(keep_cursor)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
        return changed

    def on_focus(self) -> None:
        if self.cursor_when_focused:
            self.show_cursor = True

    def on_blur(self) -> None:
        if self.cursor_when_focused:
            self.show_cursor = False

    def forget(self) -> None:
        """Force every cell to be rewritten on the next sync (after a theme switch)."""
        self._given.clear()
        for key, cells in list(self._rows.items()):
            self._rows[key] = (cells[0],) + tuple(object() for _ in cells[1:])
