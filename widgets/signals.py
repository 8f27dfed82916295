"""Signals: the pending ones (with the countdown to expiry) the trader approves
or rejects, and the last decisions (approved / rejected / expired / blocked, with
the reason: a risk block shows its reason here)."""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Label

from engine.model import NS_PER_S, Decision, Signal

from . import format as fmt
from .base import Pane, SyncTable, View

# every column fits the 120x40 dashboard's Signals pane (77 cells): the reason of
# the highlighted signal is the line under the table, Enter shows everything
PENDING_COLUMNS = (
    ("ttl", "TTL", 6, "right"),
    ("symbol", "Sym", 6),
    ("setup", "Setup", 12),
    ("side", "Side", 7),
    ("entry", "Entry", 8, "right"),
    ("stop", "Stop", 8, "right"),
    ("target", "Target", 8, "right"),
    ("qty", "Qty", 6, "right"),
    ("risk", "Risk$", 6, "right"),
    ("r", "R", 4, "right"),
    ("conf", "Conf", 5, "right"),
)
DECISION_COLUMNS = (
    ("time", "Time", 9),
    ("symbol", "Sym", 6),
    ("setup", "Setup", 12),
    ("side", "Side", 7),
    ("decision", "Decision", 9),
    ("reason", "Reason (Enter: all of it)", 120),
)
DECISION_TONE = {
    Decision.APPROVED: "up",
    Decision.AUTO: "up",
    Decision.REJECTED: "muted",
    Decision.EXPIRED: "muted",
    Decision.BLOCKED: "down",
    Decision.DROPPED: "warn",
    Decision.WATCHED: "accent",
}
MAX_DECISIONS = 30


def side_text(table: SyncTable, sig: Signal) -> Text:
    up = sig.side.sign > 0
    return Text(("▲ " if up else "▼ ") + sig.side.value.upper(), style=table.tone("up" if up else "down"))


class SignalsPane(Pane):
    def __init__(self) -> None:
        super().__init__("Signals", id="signals", page="signals")
        self._pending: dict[str, Signal] = {}
        self._decisions: dict[str, Signal] = {}
        self._status = ""
        self._hint: Optional[str] = None
        self._decision_cells: dict[str, tuple[Signal, tuple]] = {}  # key -> (decision, its cells) as last built

    def compose(self) -> ComposeResult:
        yield SyncTable(PENDING_COLUMNS, id="pending-table")
        yield Label("", id="pending-hint", classes="hint")
        yield Label("Last decisions", classes="subtitle")
        yield SyncTable(DECISION_COLUMNS, id="decisions-table", cursor_when_focused=True)

    @property
    def pending_table(self) -> SyncTable:
        return self.query_one("#pending-table", SyncTable)

    def selected_signal_id(self) -> Optional[str]:
        return self.pending_table.cursor_key()

    def signal(self, key: str) -> Optional[Signal]:
        """The pending signal or the decision a row of either table shows."""
        if key in self._pending:
            return self._pending[key]
        return self._decisions.get(key)

    def on_data_table_row_highlighted(self, event) -> None:
        if event.data_table.id == "pending-table":
            self._update_hint()

    def _update_hint(self) -> None:
        """One line under the pending table: why entries are blocked, else the full
        reason of the highlighted signal (the Reason column may be cut)."""
        sig = self._pending.get(self.selected_signal_id() or "")
        if self._status:
            hint = self._status
        elif sig is not None:
            cap = f"{sig.decision_reason} | " if sig.decision_reason else ""  # which cap bound the size
            hint = f"{sig.symbol} {sig.side.value}: {cap}{sig.reason}   (a approve · r reject · Enter detail)"
        else:
            hint = "no pending signal"
        if hint != self._hint:
            self._hint = hint
            self.query_one("#pending-hint", Label).update(hint, layout=False)  # .hint: fixed 1 x 100%

    def apply(self, view: View, force: bool = False) -> None:
        pending = self.pending_table
        decisions = self.query_one("#decisions-table", SyncTable)
        if force:
            pending.forget()
            decisions.forget()
        rows = []
        for sig in view.snap.pending:
            left = view.snap.decide_left_s.get(sig.id)  # wall seconds, at any speed
            if left is None:
                left = (sig.expires_ns - view.now_ns) / NS_PER_S if sig.expires_ns else None
            ttl_tone = "down" if left is not None and left < 10 else "warn"
            rows.append(
                (
                    sig.id,
                    (
                        Text(fmt.duration(left), style=pending.tone(ttl_tone)),
                        Text(sig.symbol, style=pending.tone("strong")),
                        sig.setup,
                        side_text(pending, sig),
                        fmt.price(sig.entry, sep=False),
                        fmt.price(sig.stop, sep=False),
                        fmt.price(sig.target, sep=False),
                        str(sig.qty),
                        f"{sig.risk_usd:.0f}" if fmt.is_num(sig.risk_usd) else fmt.MISSING,
                        fmt.num(sig.r_multiple, 1),
                        f"{sig.confidence:.0f}",
                    ),
                )
            )
        pending.sync(rows)
        self._pending = {s.id: s for s in view.snap.pending}
        n = len(view.snap.pending)
        title = f"{self.base_title} · {n} pending" if n else self.base_title
        if self.border_title != title:
            self.border_title = title
        status = ""
        if view.snap.entries_paused:
            status = "new entries PAUSED (space resumes); exits still managed"
        elif view.snap.blocked_entries_reason:
            status = f"new entries BLOCKED: {view.snap.blocked_entries_reason}"
        self._status = status
        self._update_hint()
        drows = []
        self._decisions = {f"{s.id}|{s.decision.value}": s for s in view.snap.decisions[:MAX_DECISIONS]}
        if force:
            self._decision_cells.clear()
        built = {}
        for sig in view.snap.decisions[:MAX_DECISIONS]:
            key = f"{sig.id}|{sig.decision.value}"
            kept = self._decision_cells.get(key)
            if kept is None or kept[0] != sig:
                tone = DECISION_TONE.get(sig.decision)
                kept = (sig, (
                    Text(fmt.et(sig.decided_ns or sig.created_ns, tz=view.tz), style=decisions.tone("muted")),
                    Text(sig.symbol, style=decisions.tone("strong")),
                    sig.setup,
                    side_text(decisions, sig),
                    Text(sig.decision.value.upper(), style=decisions.tone(tone)),
                    sig.decision_reason or sig.reason,
                ))
            built[key] = kept
            drows.append((key, kept[1]))
        # a decision that did not change is handed over as the same cells, which the table skips
        self._decision_cells = built
        decisions.sync(drows)
