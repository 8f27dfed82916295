"""The help screen: every key (as remapped by [ui.keys]) and what it does, and
every way out of the cockpit with what it leaves behind."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..keys import KEY_ACTIONS, REFLEX_QUIT_KEYS, display_key

EXPLAIN = {
    "approve": "approve the selected pending signal (sends the bracket order)",
    "reject": "reject the selected pending signal",
    "cycle_mode": "cycle mode WATCH → SEMI → AUTO (AUTO asks first)",
    "pause": "pause / resume new entries (exits still managed)",
    "pause_feed": "pause / resume the replay or simulator: data time stands still, PAUSED FEED in the header",
    "flatten_all": "flatten all: cancel every order, close every position (asks)",
    "cancel_all": "cancel all open orders (asks)",
    "flatten_symbol": "flatten the selected symbol, or the highlighted position (asks)",
    "next_symbol": "select the next symbol (also ↓ in the watchlist)",
    "prev_symbol": "select the previous symbol (also ↑ in the watchlist)",
    "faster": "replay / simulator faster (the header shows the speed)",
    "slower": "replay / simulator slower",
    "next_page": "next pane group (compact layout)",
    "prev_page": "previous pane group (compact layout)",
    "trades": "today's closed trades with totals by setup and symbol (again: back)",
    "theme": "cycle theme dark → light → high-contrast (remembered)",
    "help": "this help",
    "quit": "quit; ctrl+q and ctrl+c too (all ask when positions or orders are open)",
}
WAYS_OUT = (
    ("q / " + " / ".join(REFLEX_QUIT_KEYS),
     "quit; with positions or orders open it asks first, flat it quits at once"),
    ("SIGTERM, SIGHUP",
     "(kill, terminal closed, SSH dropped; also an outside SIGINT) nobody to ask: nothing is "
     "flattened, positions and orders stay open at the broker (a real broker's bracket stop/target "
     "legs keep protecting them; exits are no longer managed), the journal records "
     "\"exited on SIGHUP (terminal hung up) with N position(s) and M order(s) open\", the store is flushed and "
     "closed; exit status 128 + signal (129 SIGHUP, 143 SIGTERM)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", priority=True)]

    def __init__(self, keys: dict[str, str]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False, expand=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("what")
        for a in KEY_ACTIONS:
            table.add_row(display_key(self.keys.get(a.id, a.key)), EXPLAIN.get(a.id, a.description))
        table.add_row("1-9", "pick a symbol from the watchlist")
        table.add_row("tab", "move focus between tables (arrows move inside)")
        table.add_row("enter", "on a signal or an order: its detail (an open order: x cancels it, asks first)")
        ways_out = Table(box=None, show_header=False, pad_edge=False, expand=False)
        ways_out.add_column("how", style="bold", no_wrap=True)
        ways_out.add_column("what happens")
        quit_key = display_key(self.keys.get("quit", "q"))
        for how, what in WAYS_OUT:
            ways_out.add_row(how.replace("q /", f"{quit_key} /", 1), what)
        with VerticalScroll(id="help-box"):
            yield Label("Cockpit keys  (Esc closes, ↑ ↓ scroll)", id="help-title")
            yield Static(table, id="help-table")
            yield Label("Ways out", id="help-ways-out-title")
            yield Static(ways_out, id="help-ways-out")
            yield Static(
                "Remap in cockpit.toml:  [ui.keys]  flatten_all = \"ctrl+x\"",
                id="help-note",
            )

    def action_close(self) -> None:
        self.dismiss(None)
