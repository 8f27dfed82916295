"""Issue 14 defect 8: what the cockpit says, said once and blaming the right source."""
from __future__ import annotations

import argparse

import pytest

from cockpit.run import terminal_cannot_draw
from cockpit.screens import ConfirmScreen
from cockpit.settings_from_args import parse_speed, parse_symbols
from engine.config import ConfigError, load_config
from engine.model import JournalEntry
from tests.factories import run_session, engine_config
from tests.ui_fixtures import FixedEngine, fixed_app
from widgets.log import repeats_kind


@pytest.mark.parametrize("kind, message, repeats", [
    ("mode", "mode SEMI -> AUTO", True),
    ("feed", "feed finished", True),
    ("block", "blocked: auction buy SPY — max_positions", True),
    ("engine", "started: 5 symbols", False),
    ("alert", "LVN 511.00 (session) from above", False),
])
def test_the_log_does_not_say_the_kind_twice(kind, message, repeats):
    assert repeats_kind(JournalEntry(0, "info", kind, message)) is repeats


async def test_alerts_are_journaled_at_the_time_the_alerts_pane_shows():
    engine = await run_session(engine_config("WATCH", app={"symbols": ["SPY"]}))
    lines = [e for e in engine.journal if e.kind == "alert"]
    assert lines and engine.alerts
    stamps = {(a.symbol, a.ts_ns) for a in engine.alerts}
    assert all((e.symbol, e.ts_ns) in stamps for e in lines[-len(engine.alerts):])
    started = next(e for e in engine.journal if e.kind == "engine" and e.message.startswith("started"))
    assert started.message.startswith("started: 1 symbol (SPY)")


async def test_flatten_of_a_symbol_with_nothing_open_says_so_and_asks_nothing(tmp_path):
    engine = FixedEngine()  # the demo: SPY selected, no SPY position or order
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("nothing to flatten: no SPY position or open order" in n.message for n in app._notifications)
        assert not [c for c in engine.calls if c[0] == "flatten"]


def test_symbols_flag_is_deduplicated_and_an_empty_one_is_an_error():
    assert parse_symbols("spy, QQQ,SPY,,") == ["SPY", "QQQ"]
    with pytest.raises(ConfigError, match="--symbols '' names no symbol"):
        parse_symbols("")
    with pytest.raises(ConfigError, match="--symbols ' , ' names no symbol"):
        parse_symbols(" , ")
    assert load_config(None, overrides={"app": {"symbols": ["SPY", "spy", "QQQ"]}}, env={}).app.symbols == ["SPY", "QQQ"]


def test_a_bad_value_names_where_it_came_from(tmp_path):
    toml = tmp_path / "cockpit.toml"
    toml.write_text("[risk]\nmax_positions = 3\n")
    with pytest.raises(ConfigError, match=r"^environment COCKPIT_FEED__SPEED: feed.speed = 'abc'"):
        load_config(toml, env={"COCKPIT_FEED__SPEED": "abc"})
    with pytest.raises(ConfigError, match=r"^command line: feed.speed = -1"):
        load_config(toml, overrides={"feed": {"speed": -1}}, env={"COCKPIT_FEED__SPEED": "2"})
    toml.write_text("[risk]\nmax_positions = -3\n")
    with pytest.raises(ConfigError, match=f"^{toml}: risk.max_positions = -3"):
        load_config(toml, env={})
    for bad in ("nan", "inf", "-2", "abc"):
        with pytest.raises(ConfigError, match=f"--speed '{bad}' is not valid"):
            parse_speed(bad)


def test_a_dumb_terminal_is_told_to_run_headless():
    assert "--headless" in terminal_cannot_draw({"TERM": "dumb"})
    assert terminal_cannot_draw({"TERM": "xterm-256color"}) == ""


def test_cockpit_refuses_to_draw_on_a_dumb_terminal(monkeypatch, capsys):
    from cockpit.cli import main

    monkeypatch.setenv("TERM", "dumb")
    assert main(["run", "--no-store"]) == 2
    assert "TERM=dumb" in capsys.readouterr().err
