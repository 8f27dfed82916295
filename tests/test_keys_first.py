"""Keys go first: a key holds the replay's data and the snapshot polls back for
a moment (cockpit/app.py INPUT_FIRST_S) and redraws only what it changed."""
from __future__ import annotations

import dataclasses

from cockpit.app import INPUT_FIRST_S
from tests.ui_fixtures import FixedEngine, fixed_app


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
