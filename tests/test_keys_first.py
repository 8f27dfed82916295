"""Keys go first: a key holds the replay's data and the snapshot polls back for
a moment (cockpit/app.py INPUT_FIRST_S) and redraws only what it changed."""
from __future__ import annotations

import dataclasses

from cockpit.app import INPUT_FIRST_S
from engine.model import NS_PER_S
from tests.ui_fixtures import FixedEngine, fixed_app
from tests.waiting import wait_for


async def test_a_key_yields_the_engine_first_and_draws_its_own_effect(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        engine.calls.clear()
        await pilot.press("space")
        await pilot.pause()
        assert engine.calls[:2] == [("yield_to_input", INPUT_FIRST_S), ("pause",)]
        assert "PAUSED" in str(app.query_one("#hdr-entries").content)


async def test_during_a_keys_turn_only_a_forced_refresh_applies(tmp_path, monkeypatch):
    monkeypatch.setattr("cockpit.app.INPUT_FIRST_S", 60.0)  # a turn long enough for a loaded machine
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("z")  # a key with no action: its turn lasts INPUT_FIRST_S
        engine.publish(dataclasses.replace(engine.snapshot(), counters={"signals": 99}))
        assert app.refresh_from_engine() is False  # the poll waits for the key's frame
        assert app.refresh_from_engine(force=True) is True


async def test_a_keys_turn_ends_with_the_frame_that_shows_its_action(tmp_path, monkeypatch):
    monkeypatch.setattr("cockpit.app.INPUT_FIRST_S", 60.0)
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        engine.calls.clear()
        await pilot.press("j")
        await pilot.pause()
        assert engine.calls == [("yield_to_input", 60.0), ("yield_to_input", 0)]  # held, then released
        engine.publish(dataclasses.replace(engine.snapshot(), counters={"signals": 99}))
        app.refresh_from_engine(force=True)  # (spacing of polled applies aside)
        assert app.query_one("#watchlist-table").cursor_row == 1


async def test_a_confirmation_is_built_once_and_asks_the_new_question_each_time(tmp_path):
    from textual.widgets import Button, Static

    from cockpit.screens import ConfirmScreen

    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("F")
        first = app.screen
        assert isinstance(first, ConfirmScreen) and app.focused is first.query_one("#confirm-no", Button)
        before = str(first.query_one("#confirm-message", Static).content)
        await pilot.press("n")
        await pilot.pause()
        snap = engine.snapshot()
        engine.publish(dataclasses.replace(snap, positions=()))
        app.refresh_from_engine(force=True)
        await pilot.press("F")
        await pilot.pause()
        assert app.screen is first  # the same dialog, shown again
        assert app.focused is first.query_one("#confirm-no", Button)  # No has the focus again
        after = str(first.query_one("#confirm-message", Static).content)
        assert "close 0 position(s)" in after and after != before
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert ("flatten_all",) in engine.calls


async def test_a_slow_apply_spaces_the_next_polled_one_out(tmp_path, monkeypatch):
    """Coalescing under load: applies take at most APPLY_SHARE of the time (here any
    apply is 'slow'), so a new snapshot waits for the next allowed poll; a key's or a
    command's forced refresh does not wait."""
    monkeypatch.setattr("cockpit.app.APPLY_SHARE", 1e-9)
    monkeypatch.setattr("cockpit.app.MAX_APPLY_GAP_S", 60.0)
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        engine.publish(dataclasses.replace(engine.snapshot(), counters={"signals": 1}))
        assert app.refresh_from_engine(force=True) is True and app.apply_cost_s > 0
        engine.publish(dataclasses.replace(engine.snapshot(), counters={"signals": 2}))
        assert app.refresh_from_engine() is False  # spaced out: the next apply waits
        assert app.refresh_from_engine(force=True) is True


async def test_a_key_starts_its_turn_when_queued_not_when_the_app_reaches_it(tmp_path):
    """Until the app's queue reaches the key, a poll (its apply and the frame drawing
    it) or the engine's data could still go first: the turn begins at once."""
    from textual import events

    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        engine.calls.clear()
        engine.publish(dataclasses.replace(engine.snapshot(), counters={"signals": 99}))
        app.post_message(events.Key("space", " "))  # (as the terminal driver queues a key)
        assert engine.calls == [("yield_to_input", INPUT_FIRST_S)]  # before the key is handled
        assert app.refresh_from_engine() is False  # no polled apply ahead of it
        await pilot.pause()
        assert ("pause",) in engine.calls
        assert engine.calls.count(("yield_to_input", INPUT_FIRST_S)) == 1  # one turn for the key


async def test_a_keys_turn_lasts_until_what_it_changed_is_on_screen(tmp_path, monkeypatch):
    """After a refresh the turn ends only when nothing the key changed is still on its
    way to the screen (cockpit/key_turn.py); an older key's end of turn cannot end a
    newer key's turn."""
    import cockpit.app as app_module

    monkeypatch.setattr("cockpit.app.INPUT_FIRST_S", 60.0)
    pending = [True, True]
    real = app_module.effect_pending
    monkeypatch.setattr(app_module, "effect_pending", lambda a: pending.pop() if pending else real(a))
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        engine.calls.clear()
        await pilot.press("j")
        await wait_for(lambda: ("yield_to_input", 0) in engine.calls, what="the end of j's turn")
        assert app.turn_extended == 2  # two refreshes found the key's effect still on its way
        old_turn = app._turn
        await pilot.press("z")  # no action: its turn lasts INPUT_FIRST_S
        engine.calls.clear()
        app._end_turn_if_shown(old_turn)  # j's callback, late
        assert ("yield_to_input", 0) not in engine.calls and app._in_key_turn()


async def test_what_a_key_changed_is_pending_until_a_frame_draws_it(tmp_path):
    from cockpit.key_turn import effect_pending

    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert not effect_pending(app)
        app.query_one("#keybar").say("a notice")
        assert effect_pending(app)  # the widget has a repaint to ask for
        await pilot.pause()
        assert not effect_pending(app)
        app._confirm("FLATTEN ALL?", "Cancel 0 open order(s).", "Flatten all", lambda: None, id="confirm-flatten-all")
        assert effect_pending(app)  # the dialog's first frame is still to come
        await pilot.pause()
        assert not effect_pending(app)


def _pane_order(app, monkeypatch, pending_at_apply: list | None = None) -> list[str]:
    """Record the order the panes are applied in (and whether anything was still on
    its way to the screen at each apply)."""
    from cockpit.key_turn import effect_pending
    from widgets.base import Pane

    seen: list[str] = []
    for pane in app.query(Pane):
        orig = pane.apply

        def apply(view, force=False, orig=orig, pid=pane.id):
            seen.append(pid)
            if pending_at_apply is not None:
                pending_at_apply.append(effect_pending(app))
            orig(view, force)

        monkeypatch.setattr(pane, "apply", apply)
    return seen


async def test_a_polled_snapshot_is_drawn_one_pane_per_frame_money_panes_first(tmp_path, monkeypatch):
    from tests.ui_fixtures import demo_snapshot

    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pending: list[bool] = []
        seen = _pane_order(app, monkeypatch, pending)
        assert not app._panes_to_apply  # nothing left from start-up
        applied = app.applied_count
        app._next_apply_at = 0.0
        later = dataclasses.replace(demo_snapshot(), ts_ns=engine.snapshot().ts_ns + 61 * NS_PER_S)
        engine.publish(dataclasses.replace(later, positions=(), orders=()))  # (clocks, countdowns, the book: a new look)
        assert app.refresh_from_engine() is True
        assert seen == ["positions"]  # one pane now, the rest after the frames that draw it
        assert app.applied_count == applied  # not all on screen yet
        await wait_for(lambda: not app._panes_to_apply, what="every pane drawn")
        assert seen[:3] == ["positions", "orders", "signals"] and len(seen) == len(set(seen)) > 3
        assert not any(pending[1:])  # each pane after the last one's change was on screen
        assert app.applied_count == applied + 1


async def test_no_pane_of_a_polled_snapshot_is_drawn_during_a_keys_turn(tmp_path, monkeypatch):
    from textual import events

    monkeypatch.setattr("cockpit.app.INPUT_FIRST_S", 60.0)
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        seen = _pane_order(app, monkeypatch)
        app._next_apply_at = 0.0
        engine.publish(dataclasses.replace(engine.snapshot(), counters={"signals": 7}))
        assert app.refresh_from_engine() is True and seen == ["positions"]
        app.post_message(events.Key("z", "z"))  # a key (no action: its turn lasts)
        for _ in range(3):
            await pilot.pause()
        assert seen == ["positions"] and app._panes_to_apply  # the key goes first
        assert app.refresh_from_engine(force=True) is True  # a forced refresh draws every pane at once
        assert not app._panes_to_apply


async def test_a_confirmation_shown_again_is_restyled_only_after_the_css_changed(tmp_path, monkeypatch):
    """Textual restyles a screen each time it is shown; a money key's dialog is installed
    once and shown again and again, and its styles stay those of the current CSS until
    a theme switch (the restyle was ~160 repaint requests inside F / C / f's wait)."""
    from cockpit.screens import ConfirmScreen

    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        restyles = []
        orig = ConfirmScreen.update_node_styles
        monkeypatch.setattr(ConfirmScreen, "update_node_styles",
                            lambda self, animate=True: (restyles.append(self.id), orig(self, animate))[1])

        async def ask_and_answer_no() -> None:
            await pilot.press("F")
            await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await pilot.pause()
            assert app.focused is app.screen.query_one("#confirm-no")
            await pilot.press("n")
            await wait_for(lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog closed")

        await ask_and_answer_no()
        first = len(restyles)
        await ask_and_answer_no()
        assert len(restyles) == first  # shown again: no restyle
        await pilot.press("t")
        await pilot.pause()
        await ask_and_answer_no()
        assert len(restyles) == first + 1  # the theme changed: restyled for it
