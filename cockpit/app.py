"""The Textual application: lays out the panes, applies engine snapshots at a
capped rate, and turns keys into engine commands.

Keys go first. From the moment a key is queued until the frame that shows its
action (at most INPUT_FIRST_S), a replay or simulator running flat out hands the
engine no data, the collector does not run and the app applies no snapshot unless
a key asks for it, so the key's effect is the next frame and it is a small one: a
key redraws what it changed (space, p, m, +/-: the header; a symbol key: the
detail panes; F, C, f: their confirmation), the panes follow at the next poll.
The turn ends once nothing the key changed is still on its way to the screen
(cockpit/key_turn.py).

The app never computes analytics. It polls ``engine.version`` every
1/refresh_hz seconds and, only when the version moved (or a visible countdown
ticked), hands the latest immutable snapshot to the visible panes, one pane per
frame (PANES_FIRST), so no frame a key could wait behind draws them all; each
pane repaints only what changed. Money commands (flatten, cancel) ask for a
confirmation and then go straight to the engine, which sends them to the broker.
"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from rich.markup import escape
from textual import events
from textual.app import App, ComposeResult
from textual.containers import Container, Vertical
from textual.events import Resize
from textual.screen import ModalScreen
from textual.theme import Theme
from textual.widgets import DataTable, Static

import themes as themes_pkg
from engine.config import CockpitConfig
from engine.control import EngineControl
from engine.model import NS_PER_S, Decision, EngineSnapshot, Mode
from widgets.aggression import AggressionPane
from widgets.alerts import AlertsPane, alert_key
from widgets.base import Pane, View
from widgets.header import CockpitHeader
from widgets.keybar import KeyBar
from widgets.log import LogPane, new_entries
from widgets.market_state import MarketStatePane
from widgets.orders import OrdersPane
from widgets.positions import PositionsPane
from widgets.profile import ProfilePane
from widgets.session import SessionPane
from widgets.signals import SignalsPane
from widgets.trades import TradesPane
from widgets.watchlist import WatchlistPane

from . import strip_cycles, too_small
from .coalesce import refreshes_coalesced
from .detail_actions import DetailActions
from .heap import HeapKeeper
from .key_turn import effect_pending
from .keys import bindings, display_key, effective_keys, key_hints, resolve_keymap
from .screens import ConfirmScreen, HelpScreen
from .settings import THEMES, UISettings, default_settings_path
from .theme_css import ThemeCachedStylesheet

strip_cycles.install()  # rendered lines die by reference counting, not by full GC pauses
THEME_DIR = Path(themes_pkg.__file__).resolve().parent
PAGES = (
    ("watch", "Watch"),
    ("profile", "Profile"),
    ("flow", "Flow"),
    ("signals", "Signals"),
    ("book", "Book"),
    ("trades", "Trades"),
    ("log", "Log"),
)
PAGE_IDS = tuple(p for p, _ in PAGES)
FULL_MIN_SIZE = (120, 40)  # the full dashboard from this size up, compact below
SPEED_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 0.0)  # 0 = as fast as possible
MODE_CYCLE = {Mode.WATCH: Mode.SEMI, Mode.SEMI: Mode.AUTO, Mode.AUTO: Mode.WATCH}
# after a key, until the frame that shows its effect and never longer than this: no
# data handed to the engine, no snapshot applied unless asked. (0.15 s was too short
# on a loaded machine: a theme switch's frame came after 0.3-0.6 s, and the engine's
# data and a polled snapshot slipped in before it.)
INPUT_FIRST_S = 0.5
# Coalesce harder under load: applying snapshots (and drawing what they changed)
# takes at most about this share of the time; when an apply gets slow (a busy feed,
# a loaded machine) the next one waits longer, up to MAX_APPLY_GAP_S.
APPLY_SHARE = 0.1
MAX_APPLY_GAP_S = 1.0
# A polled snapshot is drawn a pane at a time, each pane in its own frame
# (_apply_next_pane), the money panes first: a key arriving meanwhile waits behind
# one pane's repaint, not all of them (drawing every pane's change at once took
# 25-35 ms of CPU, 50-100 ms on the loaded bench machine, and a key that came
# during that frame, or just before it, waited for all of it: `cockpit bench ui`).
PANES_FIRST = ("positions", "orders", "signals")
NOTIFY_KINDS = ("broker", "order")

# Textual base-widget colours per cockpit theme (DataTable, the key bar, buttons); the
# cockpit's own colours live in themes/*.tcss.
HIGH_CONTRAST = Theme(
    name="cockpit-high-contrast",
    primary="#4da3ff",
    secondary="#1f6fd1",
    accent="#ff9e1f",
    warning="#ff9e1f",
    error="#ff9e1f",
    success="#4da3ff",
    foreground="#ffffff",
    background="#000000",
    surface="#0a0a0a",
    panel="#1a1a1a",
    dark=True,
)
TEXTUAL_THEME = {"dark": "textual-dark", "light": "textual-light", "high-contrast": HIGH_CONTRAST.name}


class PageBar(Static):
    """The compact layout's pane switcher: click a name or press [ / ]. It also
    names the feed's keys (pause, speed), which an 80-column footer cannot hold."""

    keys_hint = "\\[ ] switch · T trades"

    def show_page(self, page: str, pending: int) -> None:
        parts = []
        for pid, label in PAGES:
            if pid == "signals" and pending:
                label = f"{label}({pending})"
            text = f"[@click=app.page_to('{pid}')] {label} [/]"
            parts.append(f"[reverse]{text}[/reverse]" if pid == page else text)
        self.update("".join(parts) + f"  [dim]{self.keys_hint}[/dim]", layout=False)  # fixed 1 x 100%


class CockpitApp(DetailActions, App[None]):
    """The cockpit. ``engine`` is anything implementing EngineControl; ``clock_ns``
    overrides 'now' for countdowns and the clock (default: the snapshot's time)."""

    TITLE = "Cockpit"
    CSS_PATH = [
        THEME_DIR / "base.tcss",
        THEME_DIR / "dark.tcss",
        THEME_DIR / "light.tcss",
        THEME_DIR / "high-contrast.tcss",
    ]
    BINDINGS = bindings()
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        engine: EngineControl,
        config: CockpitConfig,
        *,
        clock_ns: Optional[Callable[[], int]] = None,
        settings_path: Optional[Path] = None,
    ) -> None:
        super().__init__()
        # each theme's CSS parsed once: ``t`` re-uses it (cockpit/theme_css.py)
        self.stylesheet = ThemeCachedStylesheet(variables=self.get_css_variables())
        self.engine = engine
        self.config = config
        self._clock_ns = clock_ns
        self.settings_path = Path(settings_path) if settings_path else default_settings_path()
        self.settings = UISettings.load(self.settings_path)
        self.theme_name = self.settings.theme or config.ui.theme
        self.key_overrides = resolve_keymap(dict(config.ui.keys))  # raises ConfigError on a bad [ui.keys]
        self.keys = effective_keys(self.key_overrides)
        self.symbols = list(config.app.symbols)
        self.selected: Optional[str] = self.symbols[0] if self.symbols else None
        self.page = "watch"
        self.compact: Optional[bool] = None
        self.snap: Optional[EngineSnapshot] = None
        self.applied_count = 0  # snapshots applied (render-cost accounting)
        self._version: Optional[int] = None
        self._now_s: Optional[int] = None
        self._last_apply = 0.0
        self._input_until = 0.0  # monotonic: until then a key's turn (see INPUT_FIRST_S)
        self.apply_cost_s = 0.0  # a smoothed apply's duration: the poll's spacing under load
        self._next_apply_at = 0.0  # monotonic: no polled apply before it (see APPLY_SHARE)
        self._panes_to_apply: list[Pane] = []  # the polled snapshot's panes still to draw (PANES_FIRST)
        self._next_pane_asked = False  # _apply_next_pane is scheduled after the next refresh
        self._panes_cost_s = 0.0  # the polled snapshot's apply so far (its panes' share of the time)
        self._dialogs: dict[str, ConfirmScreen] = {}  # installed confirmations by id, reused
        self._journal_last = None
        self._alert_last: Optional[str] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.freeze_startup_heap = False  # run_app sets it: see cockpit/heap.py
        self.heap: Optional[HeapKeeper] = None
        self._last_key_at = 0.0
        self._queued_key: Optional[events.Key] = None  # the key whose turn began when it was queued
        self._turn = 0  # keys queued so far: numbers each key's turn
        self.turn_extended = 0  # a key's turn outlived a refresh its effect was not yet in (key_turn.py)
        self._css_refreshed_at = -1  # App._css_update_count at the last CSS refresh (see refresh_css)
        self.exit_reason = ""  # how the trader (or a signal) ended the run, for the engine's last journal line

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield CockpitHeader(id="header")
            yield PageBar(id="pagebar")
        with Container(id="dash"):
            yield WatchlistPane(self.symbols)
            yield MarketStatePane()
            yield SessionPane()
            yield ProfilePane()
            yield AggressionPane()
            yield AlertsPane()
            yield TradesPane()  # full layout: in the middle row's place while T shows it
            yield SignalsPane()
            yield LogPane()
            yield PositionsPane()
            yield OrdersPane()
        yield Static("", id="too-small")
        yield KeyBar(key_hints(self.keys), id="keybar")

    def on_mount(self) -> None:
        k = {a: escape(display_key(self.keys[a])) for a in ("pause_feed", "faster", "slower", "prev_page", "next_page")}
        speed = "+/-" if (k["faster"], k["slower"]) == ("+", "-") else f"{k['faster']} {k['slower']}"
        self.query_one(PageBar).keys_hint = f"{k['pause_feed']} feed · {speed} speed · {k['prev_page']} {k['next_page']} switch · T trades"
        self.register_theme(HIGH_CONTRAST)
        if self.key_overrides:
            self.set_keymap(self.key_overrides)
        self._set_theme(self.theme_name)
        self._loop = asyncio.get_running_loop()
        self.engine.add_listener(self._on_engine_event)
        self._set_layout(self.size.width, self.size.height)
        self.refresh_from_engine(force=True)
        self.set_interval(1.0 / self.config.ui.refresh_hz, self.refresh_from_engine, name="snapshot-poll")
        self.query_one("#watchlist-table", DataTable).focus()
        if self.freeze_startup_heap:
            self.heap = HeapKeeper(self._loop, lambda: self._last_key_at)
            self.call_after_refresh(self.heap.start)
            self.set_interval(30.0, self.heap.reclaim_if_due, name="heap-reclaim")

    def on_unmount(self) -> None:
        if self.heap is not None:
            self.heap.stop()

    def on_resize(self, event: Resize) -> None:
        self._set_layout(event.size.width, event.size.height)

    def _set_layout(self, width: int, height: int) -> None:
        small = too_small.is_too_small(width, height)
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(too_small.notice(width, height, self.keys, FULL_MIN_SIZE))
        compact = width < FULL_MIN_SIZE[0] or height < FULL_MIN_SIZE[1]
        self.query_one(PageBar).display = compact and not small
        if compact == self.compact:
            return
        self.compact = compact
        dash = self.query_one("#dash")
        dash.set_class(compact, "-compact")
        dash.set_class(not compact, "-full")
        self._show_page(self.page)
        if self.snap is not None:
            self._apply(force=True)

    def _show_page(self, page: str) -> None:
        dash = self.query_one("#dash")
        for pid in PAGE_IDS:
            dash.set_class(pid == page, f"-page-{pid}")
        self.page = page
        self.query_one(PageBar).show_page(page, len(self.snap.pending) if self.snap else 0)

    # ------------------------------------------------------------------ snapshots

    def _now_ns(self, snap: EngineSnapshot) -> int:
        return self._clock_ns() if self._clock_ns is not None else snap.ts_ns

    def _on_engine_event(self) -> None:
        """Engine listener: redraw early if the last redraw is older than one refresh period."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def early() -> None:
            if time.monotonic() - self._last_apply >= 1.0 / self.config.ui.refresh_hz:
                self.refresh_from_engine()

        loop.call_soon_threadsafe(early)

    def post_message(self, message) -> bool:
        """A key from the terminal starts its turn when it is queued, not when the app's
        queue reaches it: until then a snapshot poll or the engine's data could still
        take the loop ahead of it (a poll's apply and its frame: 30-80 ms under load)."""
        if isinstance(message, events.Key) and not message.is_forwarded and threading.get_ident() == self._thread_id:
            self._input_first()
            self._queued_key = message
        return super().post_message(message)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:  # (once: not when it bubbles back)
            if event is not self._queued_key:  # (a key queued by post_message has its turn already)
                self._input_first()
            self._queued_key = None
        await super().on_event(event)

    def _input_first(self) -> None:
        """A key arrived: give it the loop (see INPUT_FIRST_S)."""
        self._last_key_at = time.monotonic()
        self._input_until = self._last_key_at + INPUT_FIRST_S
        self._turn += 1
        self.engine.yield_to_input(INPUT_FIRST_S)
        if self.heap is not None:
            self.heap.hold()  # no garbage collection inside the key's wait (cockpit/heap.py)

    async def run_action(self, action, default_namespace=None, namespaces=None) -> bool:
        result = await super().run_action(action, default_namespace, namespaces)
        if self._input_until:
            # a key's action ran: its turn ends with the frame that shows it
            self.call_after_refresh(self._end_turn_if_shown, self._turn)
        return result

    def _end_turn_if_shown(self, turn: int) -> None:
        """After a refresh: the key's turn ends if what it changed is on the screen, else
        after the next refresh (cockpit/key_turn.py); never later than INPUT_FIRST_S.
        ``turn`` is the turn the action ran in: a later key's turn is its own to end."""
        if not self._input_until or turn != self._turn:
            return
        if time.monotonic() < self._input_until and effect_pending(self):
            self.turn_extended += 1
            self.call_after_refresh(self._end_turn_if_shown, turn)
            return
        self._input_done()

    def _input_done(self) -> None:
        self._input_until = 0.0
        self.engine.yield_to_input(0)
        if self.heap is not None:
            self.heap.release()
        self._ask_next_pane()  # the polled snapshot's panes go on after the key

    def _say(self, message: str) -> None:
        """A key's short answer (paused, resumed, nothing to flatten): the key bar's
        notice slot, repainted in place in the key's own frame (widgets/keybar.py). Not a
        toast: a toast is a widget mounted, laid out and, seconds later, removed and laid
        out again, work that a later key would wait behind under load."""
        self.query_one(KeyBar).say(message)

    def _refresh_header(self) -> None:
        """A key's own effect at once: the header from the latest snapshot. The panes
        follow at the next poll (the version this app applied is left behind)."""
        self.snap = self.engine.snapshot()
        self.query_one(CockpitHeader).apply(self._view())

    def refresh_from_engine(self, force: bool = False) -> bool:
        """Apply the latest snapshot if it changed (or a shown countdown ticked).
        ``force`` applies it now even if unchanged; panes still repaint only what
        changed (a full repaint is for a new look: theme, layout). During a key's
        turn only a forced refresh applies."""
        if not self.is_running and not force:
            return False
        if self.heap is not None:
            self.heap.release_if_overdue()
        if not force and self._panes_to_apply:
            self._ask_next_pane()  # the last snapshot is still being drawn, pane by pane
            return False
        if not force and time.monotonic() < max(self._input_until, self._next_apply_at):
            return False
        version = self.engine.version
        snap = self.engine.snapshot() if (force or version != self._version or self.snap is None) else self.snap
        now_s = self._now_ns(snap) // NS_PER_S
        if not force and version == self._version and now_s == self._now_s:
            return False
        self._version = version
        self._now_s = now_s
        self.snap = snap
        t0 = time.perf_counter()
        if force:
            self._apply()
            self._space_next_apply(time.perf_counter() - t0)
        else:
            self._start_panes()
        return True

    def _space_next_apply(self, cost: float) -> None:
        """Coalescing under load: the next polled apply waits cost / APPLY_SHARE."""
        self.apply_cost_s = cost if not self.apply_cost_s else 0.7 * self.apply_cost_s + 0.3 * cost
        self._next_apply_at = time.monotonic() + min(MAX_APPLY_GAP_S, self.apply_cost_s / APPLY_SHARE)

    def _in_key_turn(self) -> bool:
        return time.monotonic() < self._input_until

    def _pane_shown(self, pane: Pane) -> bool:
        if self.compact:
            return pane.page == self.page
        return pane.page != "trades" or self.query_one("#dash").has_class("-show-trades")

    def _start_panes(self) -> None:
        """A polled snapshot: the header and the notifications now, the panes one per
        frame (PANES_FIRST)."""
        snap = self.snap
        assert snap is not None
        t0 = time.perf_counter()
        self._last_apply = time.monotonic()
        if self.selected not in snap.symbols and snap.symbols and self.selected is None:
            self.selected = next(iter(snap.symbols))
        self.query_one(CockpitHeader).apply(self._view())
        if self.compact:
            self.query_one(PageBar).show_page(self.page, len(snap.pending))
        self._announce(snap)
        panes = [p for p in self.query(Pane) if self._pane_shown(p)]
        first = {pid: i for i, pid in enumerate(PANES_FIRST)}
        self._panes_to_apply = sorted(panes, key=lambda p: first.get(p.id or "", len(first)))
        self._panes_cost_s = time.perf_counter() - t0
        self._apply_next_pane()

    def _ask_next_pane(self) -> None:
        if self._panes_to_apply and not self._next_pane_asked:
            self._next_pane_asked = True
            self.call_after_refresh(self._apply_next_pane)

    def _apply_next_pane(self) -> None:
        """One pane of the polled snapshot, then the next after the frame that draws it;
        none during a key's turn (its end, or the next poll, goes on)."""
        self._next_pane_asked = False
        if not self._panes_to_apply or self._in_key_turn():
            return
        t0 = time.perf_counter()
        pane = self._panes_to_apply.pop(0)
        if self._pane_shown(pane) and self.snap is not None:
            pane.apply(self._view())
        self._panes_cost_s += time.perf_counter() - t0
        if self._panes_to_apply:
            self._ask_next_pane()
        else:  # the snapshot is on screen
            self.applied_count += 1
            self._space_next_apply(self._panes_cost_s)

    def _view(self) -> View:
        assert self.snap is not None
        # times in the instrument's own zone: app.timezone for US stocks, UTC / Chicago for a 24-hour market
        session = self.snap.session
        tz = session.tz if session is not None and self.config.feed.session != "us_equity" else self.config.app.timezone
        return View(self.snap, self.selected, self._now_ns(self.snap), tz)

    def _apply(self, force: bool = False) -> None:
        """Every shown pane at once (a forced refresh: a command's result, a theme, a
        layout); ``force`` repaints even what did not change."""
        snap = self.snap
        if snap is None:
            return
        self._panes_to_apply = []  # (a polled snapshot still being drawn: this one draws all)
        self._last_apply = time.monotonic()
        self.applied_count += 1
        if self.selected not in snap.symbols and snap.symbols and self.selected is None:
            self.selected = next(iter(snap.symbols))
        view = self._view()
        self.query_one(CockpitHeader).apply(view, force)
        for pane in self.query(Pane):
            if force or self._pane_shown(pane):
                pane.apply(view, force)
        if self.compact:
            self.query_one(PageBar).show_page(self.page, len(snap.pending))
        self._announce(snap)

    def _announce(self, snap: EngineSnapshot) -> None:
        """Errors a trader must see become notifications; a new LVN alert rings the bell."""
        first = self._journal_last is None
        fresh = new_entries(snap.journal, self._journal_last)
        if snap.journal:
            self._journal_last = snap.journal[-1]
        if not first:
            for e in fresh:
                if e.level == "error" and e.kind in NOTIFY_KINDS:
                    where = f"{e.symbol}: " if e.symbol else ""
                    self.notify(f"{where}{e.message}", title=f"{e.kind} error", severity="error", timeout=10)
        newest = alert_key(snap.alerts[0]) if snap.alerts else None
        if newest is not None and newest != self._alert_last and self._alert_last is not None:
            if self.config.ui.bell:
                self.bell()
        if newest is not None:
            self._alert_last = newest
        elif self._alert_last is None:
            self._alert_last = ""

    def _reapply_details(self) -> None:
        if self.snap is None:
            return
        view = self._view()
        for pane in self.query(Pane):
            if pane.id in ("market", "profile", "aggression"):
                pane.apply(view)

    # ------------------------------------------------------------------ selection

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The watchlist's highlight (a click, the table's own cursor keys) selects.

        The event is posted when the cursor moves and arrives later; a digit or j/k
        has already set ``selected`` at once (``_select``). An event for a row the
        cursor has since left is stale (under load it can land between a digit and
        ``f``) and must not take the selection back to the older symbol: the money
        keys act on what the trader chose last."""
        if event.data_table.id == "watchlist-table" and event.row_key.value:
            if event.cursor_row != event.data_table.cursor_row:
                return  # stale: the cursor has moved on since this highlight was posted
            if event.row_key.value != self.selected:
                self.selected = event.row_key.value
                self._reapply_details()

    def _select(self, symbol: Optional[str]) -> None:
        """A symbol key's choice (digit, j, k). These are priority bindings, so they
        reach the app with a dialog up too; there they do nothing: the dialog asks
        about the symbol it was opened for and the panes behind it stay on it."""
        if symbol is None or isinstance(self.screen, ModalScreen):
            return
        self.query_one(WatchlistPane).select(symbol)
        if symbol != self.selected:
            self.selected = symbol
            self._reapply_details()

    def action_toggle_trades(self) -> None:
        """Today's trades: the Trades page in the compact layout (T again goes back);
        in the full dashboard the pane takes the middle row (profile, aggression,
        alerts) until T is pressed again."""
        if self.compact:
            self.action_page_to("watch" if self.page == "trades" else "trades")
            return
        dash = self.query_one("#dash")
        show = not dash.has_class("-show-trades")
        dash.set_class(show, "-show-trades")
        if show and self.snap is not None:
            self.query_one(TradesPane).apply(self._view())

    def action_move_symbol(self, delta: int) -> None:
        keys = self.query_one(WatchlistPane).table.keys
        if not keys:
            return
        i = keys.index(self.selected) if self.selected in keys else 0
        self._select(keys[(i + delta) % len(keys)])

    def action_pick_symbol(self, index: int) -> None:
        self._select(self.query_one(WatchlistPane).symbol_at(index))

    def action_page(self, delta: int) -> None:
        i = PAGE_IDS.index(self.page)
        self.action_page_to(PAGE_IDS[(i + delta) % len(PAGE_IDS)])

    def action_page_to(self, page: str) -> None:
        if page not in PAGE_IDS:
            return
        self._show_page(page)
        if self.snap is not None:
            view = self._view()
            for pane in self.query(Pane):
                if pane.page == page:
                    pane.apply(view)
        if self.compact:
            focus = {"watch": "#watchlist-table", "signals": "#pending-table", "book": "#positions-table",
                     "trades": "#trades-table"}.get(page)
            if focus:
                self.query_one(focus, DataTable).focus()

    # ------------------------------------------------------------------ commands

    def _busy_with_dialog(self) -> bool:
        return isinstance(self.screen, ConfirmScreen)

    async def _command(self, label: str, coro) -> None:
        """Run an engine command; a failure is shown, never swallowed, never fatal."""
        try:
            await coro
        except Exception as exc:  # the engine/broker refused: tell the trader why
            self.notify(f"{label} failed: {exc}", title="command failed", severity="error", timeout=10)
        self.refresh_from_engine(force=True)

    def _confirm(self, title: str, message: str, yes: str, then: Callable[[], None], *, id: str) -> None:
        def done(ok: Optional[bool]) -> None:
            if ok:
                then()

        # each confirmation is built once and reused: a money key's dialog is then a
        # few labels changed, not a screen composed, styled and thrown away each time
        screen = self._dialogs.get(id)
        if screen is None:
            screen = self._dialogs[id] = ConfirmScreen(title, message, yes=yes, id=id)
            self.install_screen(screen, name=id)
        else:
            screen.ask(title, message, yes)
        self.push_screen(id, done)

    def _selected_signal(self):
        snap = self.snap
        if snap is None or not snap.pending:
            return None
        sid = self.query_one(SignalsPane).selected_signal_id()
        by_id = {s.id: s for s in snap.pending}
        if sid in by_id:
            return by_id[sid]
        for s in snap.pending:
            if s.symbol == self.selected:
                return s
        return snap.pending[0] if len(snap.pending) == 1 else None

    async def action_approve(self) -> None:
        sig = self._selected_signal()
        if sig is None:
            self.notify("no pending signal selected", severity="warning")
            return
        result = await self._engine_call(self.engine.approve(sig.id))
        if result is None:
            self.notify(f"{sig.symbol} signal is no longer pending", severity="warning")
        elif result.decision is Decision.BLOCKED:
            self.notify(f"{sig.symbol} not sent: {result.decision_reason}", severity="warning", timeout=8)
        elif result.decision is Decision.PENDING:  # held: no price of the symbol yet in this run
            self.notify(f"{sig.symbol} approved: waiting for a price, sent at the first one while the signal lives",
                        timeout=6)
        else:
            self.notify(f"{sig.symbol} {sig.side.value.upper()} {result.qty} approved: bracket sent", timeout=4)

    async def action_reject(self) -> None:
        sig = self._selected_signal()
        if sig is None:
            self.notify("no pending signal selected", severity="warning")
            return
        result = await self._engine_call(self.engine.reject(sig.id, "rejected by trader"))
        if result is not None:
            self.notify(f"{sig.symbol} signal rejected")

    async def _engine_call(self, coro):
        try:
            return await coro
        except Exception as exc:
            self.notify(f"{exc}", title="command failed", severity="error", timeout=10)
            return None
        finally:
            self.refresh_from_engine(force=True)

    def action_cycle_mode(self) -> None:
        if self.snap is None or self._busy_with_dialog():
            return
        new = MODE_CYCLE[self.snap.mode]
        if new is Mode.AUTO:
            self._confirm(
                "Enter AUTO mode?",
                "The engine will SEND every signal that passes risk, without asking you.\n"
                "Flatten all (F) and pause (space) stay available.",
                "Enter AUTO",
                lambda: self._set_mode(Mode.AUTO),
                id="confirm-auto",
            )
        else:
            self._set_mode(new)

    def _set_mode(self, mode: Mode) -> None:
        self.engine.set_mode(mode)
        self._refresh_header()

    def action_toggle_pause(self) -> None:
        if self.snap is None or self._busy_with_dialog():
            return
        if self.snap.entries_paused:
            self.engine.resume_entries()
            self._say("new entries resumed")
        else:
            self.engine.pause_entries()
            self._say("new entries paused; exits still managed")
        self._refresh_header()

    def action_toggle_feed_pause(self) -> None:
        if self.snap is None or self._busy_with_dialog():
            return
        if self.snap.feed.paused:
            done, what = self.engine.resume_feed(), "feed resumed"
        else:
            done, what = self.engine.pause_feed(), "feed paused: data time stands still (p resumes)"
        if done:
            self._say(what)
        else:
            self._say("a live feed cannot be paused (space pauses new entries)")
        self._refresh_header()

    def _open_counts(self) -> tuple[int, int]:
        snap = self.snap
        if snap is None:
            return 0, 0
        return sum(1 for p in snap.positions if p.qty), sum(1 for o in snap.orders if o.status.is_open)

    def action_flatten_all(self) -> None:
        if self._busy_with_dialog():
            return
        npos, nord = self._open_counts()
        self._confirm(
            "FLATTEN ALL?",
            f"Cancel {nord} open order(s) and close {npos} position(s) at market.",
            "Flatten all",
            lambda: self.run_worker(self._command("flatten all", self.engine.flatten_all()), exit_on_error=False),
            id="confirm-flatten-all",
        )

    def action_cancel_all(self) -> None:
        if self._busy_with_dialog():
            return
        _, nord = self._open_counts()
        self._confirm(
            "CANCEL ALL ORDERS?",
            f"Cancel {nord} open order(s). Positions stay open (their protective stops are cancelled too).",
            "Cancel all",
            lambda: self.run_worker(self._command("cancel all", self.engine.cancel_all()), exit_on_error=False),
            id="confirm-cancel-all",
        )

    def _symbol_to_flatten(self) -> Optional[str]:
        """The highlighted position when the positions table has focus, else the selected symbol."""
        table = self.query_one("#positions-table", DataTable)
        if self.focused is table:
            key = table.cursor_key()  # type: ignore[attr-defined]
            if key:
                return key
        return self.selected

    def action_flatten_symbol(self) -> None:
        symbol = self._symbol_to_flatten()
        if self._busy_with_dialog() or symbol is None:
            return
        pos = next((p for p in (self.snap.positions if self.snap else ()) if p.symbol == symbol and p.qty), None)
        orders = sum(1 for o in (self.snap.orders if self.snap else ()) if o.symbol == symbol and o.status.is_open)
        if pos is None and not orders:
            self._say(f"nothing to flatten: no {symbol} position or order")
            return
        what = f"close {pos.qty:+d} {symbol} at market" if pos else f"no {symbol} position is open"
        self._confirm(
            f"FLATTEN {symbol}?",
            f"Cancel {symbol}'s {orders} open order(s) and {what}.",
            f"Flatten {symbol}",
            lambda: self.run_worker(self._command(f"flatten {symbol}", self.engine.flatten(symbol)), exit_on_error=False),
            id="confirm-flatten-symbol",
        )

    def action_speed(self, direction: int) -> None:
        current = self.engine.speed()
        ladder = list(SPEED_STEPS)
        if current in ladder:
            i = ladder.index(current)
        else:  # a speed from the config that is not on the ladder: nearest step
            i = min(range(len(ladder) - 1), key=lambda k: abs(ladder[k] - current))
        i = max(0, min(len(ladder) - 1, i + direction))
        self.engine.set_speed(ladder[i])  # the header's feed badge shows the new speed
        self._refresh_header()

    # ------------------------------------------------------------------ theme, help, quit

    def _set_theme(self, name: str, restyle_now: bool = True) -> None:
        """``restyle_now=False``: leave the restyle to the new Textual theme's CSS
        refresh (one pass over the whole DOM, not two); the caller re-applies the
        panes after it."""
        if name not in THEMES:
            name = "dark"
        textual_theme = TEXTUAL_THEME[name]
        restyle_now = restyle_now or self.theme == textual_theme
        self.update_classes({f"theme-{t}": t == name for t in THEMES}, update=restyle_now)
        self.theme = textual_theme
        self.theme_name = name

    def action_cycle_theme(self) -> None:
        """The next theme in one frame: the restyle (every widget's CSS), the layout and
        the panes' theme-coloured text are done at once inside one batch, so the screen
        is composed and drawn once. (Left to Textual, the theme's CSS refresh ran on the
        next turn and drew a whole frame in the old text colours, then the re-applied
        panes were drawn again; a snapshot poll could slip in between.)"""
        name = THEMES[(THEMES.index(self.theme_name) + 1) % len(THEMES)]
        with self.batch_update():
            self._set_theme(name, restyle_now=False)  # queues Textual's CSS refresh, done here instead
            with refreshes_coalesced():  # one repaint request per widget, not one per colour
                self.refresh_css(animate=False)
            if self.snap is not None:
                self._apply(True)
        self.settings.theme = name
        # saved after the frame: a file write is not what the trader waits to see
        self.call_after_refresh(self._save_settings)
        # (no toast: the new colours say it, and a toast is a widget mounted, laid out
        # and removed again right behind the heaviest key, where the next key waits)

    def refresh_css(self, animate: bool = True) -> None:
        """Textual's CSS refresh, skipped when nothing changed since the last one: the
        theme key restyles at once (action_cycle_theme) and the refresh the theme change
        queued would restyle every widget a second time."""
        current = self._css_update_count
        if current == self._css_refreshed_at and all(s._css_update_count == current for s in self.screen_stack):
            return
        super().refresh_css(animate)
        self._css_refreshed_at = current

    def _save_settings(self) -> None:
        try:
            self.settings.save(self.settings_path)
        except OSError as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")

    def action_help(self) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        self.push_screen(HelpScreen(self.keys))

    def action_request_quit(self, key: str = "q") -> None:
        """Every interactive way out (q, ctrl+q, ctrl+c) comes here: with positions
        or orders open it asks first; flat, it quits at once."""
        if self._busy_with_dialog():
            return
        npos, nord = self._open_counts()
        if npos or nord:
            self._confirm(
                "Quit with open exposure?",
                f"{npos} position(s) and {nord} open order(s) are still open. "
                "Quitting does not close them and nothing will manage their exits. Flatten first with F.",
                "Quit anyway",
                lambda: self._quit(f"by the trader ({key}, confirmed)"),
                id="confirm-quit",
            )
        else:
            self._quit(f"by the trader ({key})")

    def _quit(self, reason: str, return_code: int = 0) -> None:
        self.exit_reason = reason
        self.exit(return_code=return_code)

    async def action_quit(self) -> None:
        """Textual's own quit (ctrl+q by default): asks like q does."""
        self.action_request_quit("ctrl+q")

    def action_help_quit(self) -> None:
        """Textual's ctrl+c (a toast saying "press ctrl+q"): asks like q does."""
        self.action_request_quit("ctrl+c")

    def stop_on_signal(self, reason: str, return_code: int) -> None:
        """SIGTERM / SIGHUP / an outside SIGINT: nobody to ask; leave now and
        let run_app stop the engine (which journals what stays open)."""
        self._quit(reason, return_code)


def run_app(engine: EngineControl, config: CockpitConfig, operations: Optional[Callable[[], Any]] = None,
            **kwargs) -> int:
    """Run the cockpit until the trader quits (or a SIGTERM / SIGHUP / outside
    SIGINT stops it; see stop_signals). The engine is started on the app's event
    loop (if it has ``start``) and stopped after the app exits, so the engine
    and the UI share one loop and commands never cross threads. ``operations``
    makes the run's metrics endpoint and alert webhook (cockpit/operations.py),
    run on the same loop around the engine. Returns the exit status: 0, or 128 +
    the signal's number."""
    from contextlib import AsyncExitStack

    from .stop_signals import stop_signals_handled

    status = 0

    async def main() -> None:
        async with AsyncExitStack() as services:
            if operations is not None:
                await services.enter_async_context(operations())
            await _run_until_stopped()

    async def _run_until_stopped() -> None:
        nonlocal status
        app: Optional[CockpitApp] = None

        def on_stop(request) -> None:
            if app is None or app.return_code is not None:
                return  # not started yet (main checks before starting it) or already leaving
            if app.is_running:
                app.stop_on_signal(request.reason, request.exit_status)
            else:  # still starting: ask again once it runs
                asyncio.get_running_loop().call_later(0.05, on_stop, request)

        with stop_signals_handled(on_stop) as stop:
            reason = ""
            start = getattr(engine, "start", None)
            if start is not None:
                await start()  # a start that fails (store in use) raises here, as before
            try:
                if not stop.requested:
                    app = CockpitApp(engine, config, **kwargs)
                    app.freeze_startup_heap = True
                    await app.run_async()
                    reason = app.exit_reason
            finally:
                if stop.requested:
                    reason, status = stop.reason, stop.exit_status
                stop_engine = getattr(engine, "stop", None)
                if stop_engine is not None:
                    await stop_engine(reason)

    asyncio.run(main())
    return status
