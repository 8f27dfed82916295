"""LVN alerts (STRATEGY.md section 6), newest first: symbol, LVN price, source
profile, distance in % and ATR, and the side price approaches from.

At the 0.25 ATR band an LVN re-arms once price is half an ATR away, which trades
cross back and forth several times in a minute: the engine counts each approach
(as the spec says), and the pane folds the repeats of one level in one minute into
a single row whose From cell gives their count ("↑ x4": four approaches from
below in that minute; the arrow keeps the side), so a burst at one node does not push
every other alert off the pane."""
from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult

from engine.model import NS_PER_MIN, LvnAlert

from . import format as fmt
from .base import Pane, SyncTable, View

COLUMNS = (
    ("time", "Time", 6),
    ("symbol", "Sym", 6),
    ("lvn", "LVN", 8, "right"),
    ("source", "Source", 9),
    ("pct", "Dist%", 6, "right"),
    ("atr", "ATR", 5, "right"),
    ("dir", "From", 8),
)
MAX_ROWS = 50


def alert_key(a: LvnAlert) -> str:
    return f"{a.symbol}|{a.ts_ns}|{a.lvn_price}|{a.source}"


def folded(alerts: Iterable[LvnAlert]) -> list[tuple[LvnAlert, int, str]]:
    """(newest alert, how many, row key) per run of alerts, newest first, where a run is
    consecutive alerts of one level (symbol, LVN, source, side) in one minute of data
    time. The key is the run's oldest alert's, so the row keeps its key
    while newer repeats join it."""
    out: list[tuple[LvnAlert, int, str]] = []
    last = None
    for a in alerts:
        level = (a.symbol, a.lvn_price, a.source, a.direction, a.ts_ns // NS_PER_MIN)
        if level == last:
            newest, n, _ = out[-1]
            out[-1] = (newest, n + 1, alert_key(a))
        else:
            out.append((a, 1, alert_key(a)))
            last = level
    return out


class AlertsPane(Pane):
    def __init__(self) -> None:
        super().__init__("LVN alerts", id="alerts", page="flow")
        # each alert's cells as last built, by key: an alert that did not change is
        # handed to the table as the same tuple, which it skips (SyncTable.sync)
        self._built: dict[str, tuple[tuple[LvnAlert, int], tuple]] = {}

    def compose(self) -> ComposeResult:
        yield SyncTable(COLUMNS, id="alerts-table", show_cursor=False)

    def apply(self, view: View, force: bool = False) -> None:
        table = self.query_one(SyncTable)
        if force:
            table.forget()
            self._built.clear()
        rows = []
        built = {}
        for a, n, key in folded(view.snap.alerts)[:MAX_ROWS]:
            kept = self._built.get(key)
            if kept is not None and kept[0] == (a, n):
                built[key] = kept
                rows.append((key, kept[1]))
                continue
            above = a.direction == "from_above"
            cells = (
                Text(fmt.et(a.ts_ns, "%H:%M", tz=view.tz), style=table.tone("muted")),
                Text(a.symbol, style=table.tone("strong")),
                fmt.price(a.lvn_price, sep=False),
                a.source,
                fmt.num(a.distance_pct),
                fmt.num(a.distance_atr),
                Text((("↓" if above else "↑") + f" x{n}") if n > 1 else ("↓ above" if above else "↑ below"),
                     style=table.tone("down" if above else "up")),
            )
            built[key] = ((a, n), cells)
            rows.append((key, cells))
        self._built = built
        table.sync(rows)
