"""Pilot tests of the cockpit on the REAL engine: the seeded synthetic feed and
the simulated paper broker. Keys are pressed in the app; assertions read the
broker and the engine, and the panes that show them.

The feed runs at max speed until the engine has a pending signal, then the test
pauses the feed (the harness, not the UI) so the trader's keys act on a still
market; it resumes the feed when a fill is needed.
"""
from __future__ import annotations

import contextlib
import io
from typing import Callable

import pytest
from rich.console import Console

from cockpit.app import CockpitApp
from cockpit.screens import ConfirmScreen
from engine.config import CockpitConfig
from engine.model import Decision, Mode, OrderLeg
from tests.factories import engine_config, paper_engine
from tests.waiting import wait_for
from widgets.base import SyncTable

SYMBOLS = ["SPY", "QQQ", "AAPL"]


def make_config(**engine_over) -> CockpitConfig:
    """SEMI on the seeded session; signals never expire unless a test says so."""
    return engine_config("SEMI", app={"symbols": SYMBOLS},
                         engine={"signal_ttl_s": 1e6, "signal_run_fraction": 1e6, **engine_over},
                         ui={"refresh_hz": 20, "bell": False})


@contextlib.asynccontextmanager
async def cockpit(tmp_path, config=None, size=(160, 50)):
    config = config or make_config()
    engine = paper_engine(config)
    await engine.start()
    app = CockpitApp(engine, config, settings_path=tmp_path / "ui.json")
    try:
        async with app.run_test(size=size) as pilot:
            yield app, engine, pilot
    finally:
        await engine.stop()


def hold_on_next_signal(engine, want: Callable[[], bool]) -> None:
    """One-shot engine listener: pause the feed the moment ``want()`` holds, so a
    max-speed feed cannot expire the signal before the test presses a key."""
    armed = [True]

    def hold() -> None:
        if armed[0] and want():
            armed[0] = False
            engine.feed.pause()

    engine.add_listener(hold)


async def first_pending(app, engine, pilot):
    """Run the feed until a signal is pending, then hold the market still."""
    hold_on_next_signal(engine, lambda: bool(engine.pending))
    await wait_for(lambda: bool(engine.pending), 30, "a pending signal")
    engine.feed.pause()
    await pilot.pause()
    sig = next(iter(engine.pending.values()))
    await wait_for(lambda: sig.id in app.query_one("#pending-table", SyncTable).keys, 5, "the signal row")
    app.query_one("#pending-table", SyncTable).move_cursor(row=app.query_one("#pending-table", SyncTable).keys.index(sig.id))
    return sig


def entry_orders(engine, sig):
    return [o for o in engine.broker.recent_orders(200) if o.signal_id == sig.id or o.client_order_id.find(sig.id) >= 0]


async def open_position(app, engine, pilot):
    sig = await first_pending(app, engine, pilot)
    await pilot.press("a")
    await wait_for(lambda: any(o.signal_id == sig.id for o in engine.broker.recent_orders(200)), 5, "entry order")
    engine.feed.resume()
    await wait_for(lambda: any(p.symbol == sig.symbol and p.qty for p in engine.broker.positions()), 30, "a fill")
    engine.feed.pause()
    await pilot.pause()
    return sig


async def test_approve_sends_a_bracket_to_the_paper_broker_and_orders_pane_shows_it(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        sig = await first_pending(app, engine, pilot)
        await pilot.press("a")
        await wait_for(lambda: not engine.pending.get(sig.id), 5, "approval")
        orders = [o for o in engine.broker.recent_orders(200) if o.signal_id == sig.id]
        legs = {o.leg for o in orders}
        assert OrderLeg.ENTRY in legs and OrderLeg.TAKE_PROFIT in legs and OrderLeg.STOP_LOSS in legs, orders
        entry = next(o for o in orders if o.leg is OrderLeg.ENTRY)
        assert entry.qty == sig.qty and entry.side == sig.side
        tp = next(o for o in orders if o.leg is OrderLeg.TAKE_PROFIT)
        sl = next(o for o in orders if o.leg is OrderLeg.STOP_LOSS)
        assert tp.limit_price == pytest.approx(sig.target) and sl.stop_price == pytest.approx(sig.stop)
        assert engine.decisions[0].id == sig.id and engine.decisions[0].decision is Decision.APPROVED
        await wait_for(lambda: entry.id in app.query_one("#orders-table", SyncTable).keys, 5, "orders pane row")
        assert f"{sig.id}|approved" in app.query_one("#decisions-table", SyncTable).keys


async def test_reject_is_journaled_and_shown(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        sig = await first_pending(app, engine, pilot)
        await pilot.press("r")
        await wait_for(lambda: sig.id not in engine.pending, 5, "rejection")
        assert engine.decisions[0].decision is Decision.REJECTED
        assert any(e.kind == "decision" and "rejected" in e.message and e.symbol == sig.symbol for e in engine.journal)
        assert not [o for o in engine.broker.recent_orders(200) if o.signal_id == sig.id]
        await wait_for(lambda: f"{sig.id}|rejected" in app.query_one("#decisions-table", SyncTable).keys, 5, "row")
        assert sig.id not in app.query_one("#pending-table", SyncTable).keys


async def test_expiry_is_journaled_and_shown(tmp_path):
    async with cockpit(tmp_path, make_config(signal_ttl_s=5, min_decision_s=1)) as (app, engine, pilot):
        sig = await first_pending(app, engine, pilot)
        engine.feed.resume()  # data time moves on: 5 s of it expire the signal
        await wait_for(lambda: any(d.id == sig.id and d.decision is Decision.EXPIRED for d in engine.decisions),
                       30, "expiry")
        engine.feed.pause()
        assert any(e.kind == "decision" and "expired" in e.message and e.symbol == sig.symbol for e in engine.journal)
        await wait_for(lambda: f"{sig.id}|expired" in app.query_one("#decisions-table", SyncTable).keys, 5, "row")


async def test_entering_auto_needs_the_confirmation(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        await pilot.pause()
        engine.feed.pause()
        assert engine.mode is Mode.SEMI
        await pilot.press("m")  # SEMI -> AUTO asks
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-auto"
        await pilot.press("n")
        await pilot.pause()
        assert engine.mode is Mode.SEMI and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("m")
        await pilot.press("y")
        await pilot.pause()
        assert engine.mode is Mode.AUTO
        assert "AUTO" in str(app.query_one("#hdr-mode").content)
        assert app.query_one("#hdr-mode").has_class("-auto")
        await pilot.press("m")  # AUTO -> WATCH needs no confirmation
        await pilot.pause()
        assert engine.mode is Mode.WATCH and not isinstance(app.screen, ConfirmScreen)


async def test_flatten_all_leaves_no_position_and_no_open_order(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        sig = await open_position(app, engine, pilot)
        assert engine.broker.open_orders(), "the bracket's exits should be working"
        await pilot.press("F")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-flatten-all"
        await pilot.press("y")
        engine.feed.resume()  # the closing market order fills on the next trade
        await wait_for(lambda: not any(p.qty for p in engine.broker.positions()), 30, "flat")
        engine.feed.pause()
        assert engine.broker.open_orders() == []
        await wait_for(lambda: app.query_one("#positions-table", SyncTable).keys == [], 5, "the positions pane emptied")
        assert sig.symbol not in [p.symbol for p in engine.snapshot().positions]


async def test_cancel_all_leaves_no_open_order(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        sig = await first_pending(app, engine, pilot)
        await pilot.press("a")
        await wait_for(lambda: bool(engine.broker.open_orders()), 5, "open bracket")
        await pilot.press("C")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-cancel-all"
        await pilot.press("y")
        await wait_for(lambda: engine.broker.open_orders() == [], 5, "no open order")
        statuses = {o.id: o.status.value for o in engine.snapshot().orders}

        def pane_shows_no_open_order() -> bool:
            shown = app.query_one("#orders-table", SyncTable).keys
            return bool(shown) and all(statuses[k] not in ("accepted", "new", "held") for k in shown)

        await wait_for(pane_shows_no_open_order, 5, "the orders pane without an open order")


async def test_pause_blocks_new_entries_while_exits_still_work(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        held = await open_position(app, engine, pilot)
        await pilot.press("space")
        await pilot.pause()
        assert engine.entries_paused
        assert app.query_one("#hdr-entries").has_class("-paused")
        # the exit of the open position still works while paused: flatten the symbol
        app._select(held.symbol)
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-flatten-symbol"
        await pilot.press("y")
        await wait_for(lambda: any(o.symbol == held.symbol and o.leg is OrderLeg.EXIT
                                   for o in engine.broker.recent_orders(500)), 5, "the closing order")
        engine.feed.resume()
        await wait_for(lambda: not any(p.symbol == held.symbol and p.qty for p in engine.broker.positions()),
                       30, "exit")
        exit_order = next(o for o in engine.broker.recent_orders(500) if o.symbol == held.symbol and o.leg is OrderLeg.EXIT)
        assert exit_order.side != held.side
        # a new signal arriving while paused is blocked, never sent
        await wait_for(lambda: any(d.decision is Decision.BLOCKED and "pause" in d.decision_reason
                                   for d in engine.decisions), 60, "a blocked signal")
        engine.feed.pause()
        blocked = next(d for d in engine.decisions if d.decision is Decision.BLOCKED and "pause" in d.decision_reason)
        assert not [o for o in engine.broker.recent_orders(500) if o.signal_id == blocked.id]
        assert engine.entries_paused
        await wait_for(lambda: f"{blocked.id}|blocked" in app.query_one("#decisions-table", SyncTable).keys, 5,
                       "the blocked signal's row")


QUIT_KEYS = ("q", "ctrl+q", "ctrl+c")


@pytest.mark.parametrize("key", QUIT_KEYS)
async def test_quit_asks_when_positions_are_open(tmp_path, key):
    """Every key a trader quits with asks first when exposure is open (Textual's
    own ctrl+q used to quit at once, and ctrl+c only showed a toast)."""
    async with cockpit(tmp_path) as (app, engine, pilot):
        await open_position(app, engine, pilot)
        await wait_for(lambda: app._open_counts() != (0, 0), 10, "open exposure on screen")
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-quit"
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        await pilot.press(key)
        await pilot.pause()
        assert app.screen.id == "confirm-quit"
        await pilot.press("y")
        await wait_for(lambda: app.return_code is not None, 5, "the app to exit")
    assert app.exit_reason == f"by the trader ({key}, confirmed)"


@pytest.mark.parametrize("key", QUIT_KEYS)
async def test_quit_when_flat_is_immediate_and_journaled(tmp_path, key):
    config = make_config()
    engine = paper_engine(config)
    await engine.start()
    app = CockpitApp(engine, config, settings_path=tmp_path / "ui.json")
    async with app.run_test(size=(160, 50)) as pilot:
        engine.feed.pause()
        await pilot.pause()
        assert app._open_counts() == (0, 0)
        await pilot.press(key)
        await wait_for(lambda: app.return_code is not None, 5, "the app to exit")
    await engine.stop(app.exit_reason)
    last = engine.journal[-1]
    assert last.kind == "engine"
    assert last.message == f"exited by the trader ({key}) with 0 position(s) and 0 order(s) open"


def rendered_text(renderable) -> str:
    console = Console(width=400, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


async def test_help_lists_every_way_out(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        text = rendered_text(app.screen.query_one("#help-ways-out").content)
        for way in ("q", "ctrl+q", "ctrl+c", "SIGTERM", "SIGHUP"):
            assert way in text, way
        assert "nothing is flattened" in text and "flushed" in text


async def test_flatten_all_works_while_the_signals_table_has_focus(tmp_path):
    async with cockpit(tmp_path) as (app, engine, pilot):
        await first_pending(app, engine, pilot)
        app.query_one("#pending-table").focus()
        await pilot.pause()
        assert app.focused is app.query_one("#pending-table")
        await pilot.press("F")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-flatten-all"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
