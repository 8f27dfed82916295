"""The watchlist: one row per symbol (last, change, state, aggression, a pending
signal marker). Highlighting a row selects the symbol the detail panes show."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from engine.model import EngineSnapshot

from . import format as fmt
from .base import Pane, SyncTable, View, sign_tone
from .market_state import state_label

COLUMNS = (
    ("n", "#", 2),
    ("symbol", "Sym", 8),
    ("last", "Last", 9, "right"),
    ("chg", "Chg%", 8, "right"),
    ("state", "State", 7),
    ("aggr", "Aggr", 5, "right"),
    ("sig", "Signal", 7),
)


class WatchlistTable(SyncTable):
    pass


class WatchlistPane(Pane):
    def __init__(self, symbols: list[str]) -> None:
        super().__init__("Watchlist", id="watchlist", page="watch")
        self.symbols = list(symbols)

    def compose(self) -> ComposeResult:
        yield WatchlistTable(COLUMNS, id="watchlist-table")

    @property
    def table(self) -> WatchlistTable:
        return self.query_one(WatchlistTable)

    def rows(self, snap: EngineSnapshot) -> list[tuple[str, tuple]]:
        t = self.table
        pending = {}
        for sig in snap.pending:
            pending.setdefault(sig.symbol, sig)
        order = self.symbols + [s for s in snap.symbols if s not in self.symbols]
        out = []
        for i, name in enumerate(order):
            sym = snap.symbols.get(name)
            n = Text(str(i + 1) if i < 9 else " ", style=t.tone("muted"))
            if sym is None:
                out.append((name, (n, Text(name), "…", "", "", "", "")))
                continue
            word, tone = state_label(sym.state, short=True)
            flow = sym.flow
            arrow = "" if flow.direction is None else ("▲" if flow.direction.sign > 0 else "▼")
            aggr_tone = None
            if flow.direction is not None and flow.aggression >= 70:
                aggr_tone = "up" if flow.direction.sign > 0 else "down"
            sig = pending.get(name)
            marker = Text(f"● {sig.side.value.upper()}", style=t.tone("warn")) if sig else Text("")
            out.append(
                (
                    name,
                    (
                        n,
                        Text(name, style=t.tone("strong")),
                        fmt.price(sym.last, sep=False),
                        Text(fmt.pct(sym.change_pct), style=t.tone(sign_tone(sym.change_pct))),
                        Text(word, style=t.tone(tone)),
                        Text(f"{sym.flow.aggression:3.0f}{arrow}", style=t.tone(aggr_tone)),
                        marker,
                    ),
                )
            )
        return out

    def apply(self, view: View, force: bool = False) -> None:
        if force:
            self.table.forget()
        self.table.sync(self.rows(view.snap))

    def symbol_at(self, index: int) -> str | None:
        keys = self.table.keys
        return keys[index] if 0 <= index < len(keys) else None

    def select(self, symbol: str) -> None:
        keys = self.table.keys
        if symbol in keys and self.table.cursor_row != keys.index(symbol):
            self.table.move_cursor(row=keys.index(symbol))
