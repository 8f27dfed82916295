"""Today's trades: each closed round trip (exit time, symbol, setup, side, qty,
entry, exit, P&L, R and why it ended), newest first, and the day's totals by
setup and by symbol under it. Everything shown comes from the snapshot's
``day_trades`` (engine/day_trades.py); nothing is summed here."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from engine.model import DayTradesView, TradeTotals

from . import format as fmt
from .base import Pane, SyncTable, TextPane, View, sign_tone

# what a trader reads first on the left (P&L, R, why), the prices last: at 80
# columns the prices are what is cut, at 120 everything shows
COLUMNS = (
    ("time", "Closed", 9),
    ("symbol", "Sym", 6),
    ("setup", "Setup", 12),
    ("side", "Side", 6),
    ("qty", "Qty", 5, "right"),
    ("pnl", "P&L", 11, "right"),
    ("r", "R", 6, "right"),
    ("reason", "Why it ended", 29),
    ("entry", "Entry", 10, "right"),
    ("exit", "Exit", 10, "right"),
)
MAX_ROWS = 200


def totals_line(t: TradeTotals) -> str:
    """'auction 3 (2 won) +123.45 +0.8R avg' for one group."""
    avg = fmt.signed(t.avg_r, 1, "R avg") if t.r_count else "R —"
    return f"{t.key} {t.trades} ({t.wins} won) {fmt.money(t.pnl, sign=True)} {avg}"


def totals_text(day: DayTradesView, pane: TextPane) -> Text:
    muted = pane.tone("muted")
    text = Text()
    for label, groups in (("by setup  ", day.by_setup), ("by symbol ", day.by_symbol)):
        if text:
            text.append("\n")
        text.append(label, style=muted)
        for i, t in enumerate(groups):
            if i:
                text.append(" · ", style=muted)
            text.append(totals_line(t), style=pane.tone(sign_tone(t.pnl)))
        if not groups:
            text.append("no closed trade yet", style=muted)
    return text


class TradesPane(Pane):
    def __init__(self) -> None:
        super().__init__("Today's trades", id="trades", page="trades")

    def compose(self) -> ComposeResult:
        yield SyncTable(COLUMNS, id="trades-table", cursor_when_focused=True)
        yield TextPane(id="trades-totals")

    def apply(self, view: View, force: bool = False) -> None:
        table = self.query_one(SyncTable)
        totals = self.query_one("#trades-totals", TextPane)
        if force:
            table.forget()
            totals.forget()
        day = view.snap.day_trades
        rows = []
        for t in day.trades[:MAX_ROWS]:
            long = t.side == "long"
            rows.append(
                (
                    f"{t.symbol}|{t.entry_ns}|{t.exit_ns}",
                    (
                        Text(fmt.et(t.exit_ns, tz=view.tz), style=table.tone("muted")),
                        Text(t.symbol, style=table.tone("strong")),
                        t.setup,
                        Text(t.side, style=table.tone("up" if long else "down")),
                        str(t.qty),
                        Text(fmt.money(t.pnl, sign=True), style=table.tone(sign_tone(t.pnl))),
                        Text(fmt.signed(t.r, 2), style=table.tone(sign_tone(t.r))),
                        t.exit_reason,
                        fmt.price(t.entry_price),
                        fmt.price(t.exit_price),
                    ),
                )
            )
        table.sync(rows)
        totals.show_text(totals_text(day, totals))
        total = day.total
        title = (f"{self.base_title} · {total.trades} · {fmt.money(total.pnl, sign=True)}"
                 if total.trades else self.base_title)
        if self.border_title != title:
            self.border_title = title
