"""The top bar: mode, entries, feed, how a simulated session started (FRESH /
RESUMED hh:mm), broker, store, equity, day P&L and the clock: the trading day's
phase (CLOSED / PRE / RTH, or 24H for a 24-hour market) and the time in the
instrument's own zone, with the time to the next open while it is closed.

Each badge is its own Label with a state class (``-auto``, ``-stale``, ...) so the
theme decides the colours and only the badge that changed is repainted. The clock
is the snapshot's time (data time in a replay), never the wall clock.
"""
from __future__ import annotations

from typing import Optional

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from engine.model import EngineSnapshot, FeedStatus, Mode, StoreHealth, StoreStatus

from . import format as fmt
from .base import View


def mode_badge(mode: Mode) -> tuple[str, str]:
    if mode is Mode.AUTO:
        return " ⚠ AUTO ", "-auto"
    if mode is Mode.SEMI:
        return " SEMI ", "-semi"
    return " WATCH ", "-watch"


FEED_NAME = {"synthetic": "SIM", "replay": "REPLAY"}


def feed_badge(feed: FeedStatus) -> tuple[str, str]:
    """live / replay xN / reconnecting in Ns / STALE, with a class for the colour. A
    refusal by the service (``feed.refused``: KEY IN USE, NOT IN PLAN) takes the place
    of DISCONNECTED, or follows LIVE when only some symbols were refused."""
    name = FEED_NAME.get(feed.name, feed.name.upper())
    down = feed.refused or "DISCONNECTED"
    if feed.reconnect_in_s is not None and not feed.connected:
        return f" {name} {down} · retry in {fmt.duration(feed.reconnect_in_s)} ", "-down"
    if feed.done:
        return f" {name} ENDED ", "-ended"
    if not feed.connected:
        return f" {name} {down} ", "-down"
    if feed.stale:
        return f" {name} STALE {fmt.duration(feed.lag_s)} ", "-stale"
    speed = "max" if feed.speed == 0 else f"x{feed.speed:g}"
    if feed.name in ("replay", "synthetic"):
        if feed.paused:
            return f" PAUSED FEED · {name} {speed} ", "-feed-paused"
        return f" {name} {speed} ", "-replay"
    if feed.refused:
        return f" {name} LIVE · {feed.refused} ", "-stale"
    return f" {name} LIVE ", "-live"


def start_badge(label: str) -> tuple[str, str]:
    """How a simulated session started: FRESH, or RESUMED at the data time it carried on from."""
    if not label:
        return "", "-hidden"
    return f" {label} ", "-fresh" if label == "FRESH" else "-resumed"


def broker_badge(kind: str) -> tuple[str, str]:
    kind = (kind or "").upper()
    if kind == "LIVE":
        return " LIVE MONEY ", "-live-money"
    if kind == "PAPER":
        return " PAPER ", "-paper"
    return f" {kind or 'SIMULATED'} ", "-simulated"


STORE_REASON_CELLS = 40  # the header stays one line: the full reason is in the journal


def store_badge(store: Optional[StoreStatus]) -> tuple[str, str]:
    """STORE OK / BEHIND n records / FAILING: reason / NO STORE, with a class for the colour
    (hidden when the snapshot does not say: a fixed demo snapshot)."""
    if store is None:
        return "", "-hidden"
    label = store.label
    if store.health is StoreHealth.FAILING and len(label) > STORE_REASON_CELLS:
        label = label[: STORE_REASON_CELLS - 1] + "…"
    text = f" {label} " if store.health is StoreHealth.NONE else f" STORE {label} "
    return text, f"-store-{store.health.value}"


def clock_badge(view: View) -> tuple[str, str]:
    """The trading day's phase, the clock in the instrument's own zone and, when it is
    not trading, the time to the next open: ``RTH 10:42:13 ET``, ``24H 03:12:44 UTC``,
    ``CLOSED 17:20 ET open in 16h 10m``."""
    info = view.snap.session
    if info is None or not info.phase:
        return f" {fmt.et(view.now_ns, tz=view.tz)} ET ", ""
    if info.phase in ("RTH", "24H") or info.next_open_ns <= view.now_ns:
        return f" {info.phase} {fmt.et(view.now_ns, tz=info.tz)} {info.zone} ", f"-phase-{info.phase.lower()}"
    # closed: minutes are enough, and the line keeps room for the badges before it
    wait = fmt.duration((info.next_open_ns - view.now_ns) / 1e9)
    return (f" {info.phase} {fmt.et(view.now_ns, '%H:%M', info.tz)} {info.zone} open in {wait} ",
            f"-phase-{info.phase.lower()}")


class _Badge(Label):
    """A label that changes text/class only when told something new."""

    def __init__(self, id: str) -> None:
        super().__init__("", id=id, classes="badge")
        self._state: Optional[tuple[str, str]] = None

    def set(self, text: str, cls: str = "") -> bool:
        if self._state == (text, cls):
            return False
        old = self._state[1] if self._state else ""
        if old and old != cls:
            self.remove_class(old)
        if cls and cls != old:
            self.add_class(cls)
        old_text = self._state[0] if self._state else None
        self._state = (text, cls)
        # width is auto: a layout pass (the whole screen) only when the width changes;
        # a badge in a reserved slot (fixed width) never changes the layout
        resized = old_text is None or cell_len(old_text) != cell_len(text)
        self.update(text, layout=resized and not self.has_class("-slot"))
        return True


# what a narrow terminal gives up first; mode, broker and Day P&L are never dropped
NEVER_DROPPED = ("mode", "broker", "pnl")
DROP_ORDER = ("start", "store", "equity", "feed", "clock", "entries")
MIN_CELLS = {"equity": 13, "pnl": 14}  # as base.tcss's min-width
GAP = 1  # each badge's margin-right
# the entries badge's reserved slot, as base.tcss's #hdr-entries.-slot width: " BLOCKED "
ENTRIES_SLOT = 9


def badges_to_drop(widths: dict[str, int], width: int) -> set[str]:
    """The badges (by name) to hide so the shown ones fit ``width`` cells, dropping
    in DROP_ORDER; ``widths`` holds the cells of every non-empty badge."""
    total = sum(w + GAP for w in widths.values())
    dropped: set[str] = set()
    for name in DROP_ORDER:
        if total <= width:
            break
        if name in widths:
            dropped.add(name)
            total -= widths[name] + GAP
    return dropped


def entries_slot_fits(widths: dict[str, int], width: int) -> bool:
    """Whether the line has room for every badge and a fixed slot for the entries badge
    (PAUSED / BLOCKED / blank). With the slot, pausing entries (space, the trader's most
    pressed key) repaints one badge instead of re-laying out the whole screen; without
    room, the badge is shown and hidden as before and nothing else is given up for it."""
    others = sum(w + GAP for name, w in widths.items() if name != "entries")
    return others + ENTRIES_SLOT + GAP <= width


class CockpitHeader(Horizontal):
    """One line at the top of the screen: what mode, what data, what money, what time.
    When the line is too narrow for every badge, the least needed ones are hidden
    (``badges_to_drop``): the mode, the broker and the day's P&L always stay."""

    _fitted: Optional[tuple] = None

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Hide what does not fit; only when a badge's width or the line's width changed
        (the header is applied at every refresh)."""
        badges = {(b.id or "").removeprefix("hdr-"): b for b in self.children if isinstance(b, _Badge)}
        widths = {}
        for name, badge in badges.items():
            if badge._state and badge._state[0] and badge._state[1] != "-hidden":
                widths[name] = max(cell_len(badge._state[0]), MIN_CELLS.get(name, 0))
        key = (self.size.width, tuple(sorted(widths.items())))
        if key == self._fitted:
            return
        self._fitted = key
        slot = bool(self.size.width) and entries_slot_fits(widths, self.size.width)
        dropped = badges_to_drop(widths, self.size.width) if self.size.width and not slot else set()
        for name, badge in badges.items():
            badge.set_class(name in dropped, "-dropped")
        if "entries" in badges:
            badges["entries"].set_class(slot, "-slot")

    def compose(self) -> ComposeResult:
        # most important first: what a narrow terminal cuts is the end of the line
        yield _Badge("hdr-mode")
        yield _Badge("hdr-entries")
        yield _Badge("hdr-broker")
        yield _Badge("hdr-pnl")
        yield _Badge("hdr-equity")
        yield _Badge("hdr-feed")
        yield _Badge("hdr-store")
        yield _Badge("hdr-start")
        yield _Badge("hdr-clock")

    def apply(self, view: View, force: bool = False) -> None:
        snap: EngineSnapshot = view.snap
        get = lambda n: self.query_one(f"#hdr-{n}", _Badge)  # noqa: E731
        get("mode").set(*mode_badge(snap.mode))
        if snap.entries_paused:
            get("entries").set(" PAUSED ", "-paused")
        elif snap.blocked_entries_reason:
            # the reason is spelled out under the pending signals; the header stays one line
            get("entries").set(" BLOCKED ", "-blocked")
        else:
            get("entries").set("", "-hidden")
        get("feed").set(*feed_badge(snap.feed))
        get("start").set(*start_badge(snap.start_label))
        get("broker").set(*broker_badge(snap.broker_kind))
        get("store").set(*store_badge(snap.store))
        get("equity").set(f" Eq {snap.account.equity:,.0f} ", "")
        pnl = snap.account.day_pnl
        get("pnl").set(f" Day {fmt.money(pnl, sign=True)} ", "-up" if pnl > 0 else "-down" if pnl < 0 else "")
        get("clock").set(*clock_badge(view))
        self._fit()
