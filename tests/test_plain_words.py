"""Issue 14 defect 8: what the cockpit says, said once and blaming the right source."""
from __future__ import annotations

import argparse

import pytest

from cockpit.run import terminal_cannot_draw
from cockpit.screens import ConfirmScreen
from cockpit.settings_from_args import parse_speed, parse_symbols
from engine.config import ConfigError, load_config
from engine.model import JournalEntry
from tests.factories import engine_config, run_session
from tests.ui_fixtures import FixedEngine, fixed_app
from tests.waiting import wait_for
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


def bottom_line(app) -> str:
    return "".join(seg.text for seg in app.screen._compositor.render_strips()[-1])


async def test_flatten_of_a_symbol_with_nothing_open_says_so_and_asks_nothing(tmp_path):
    engine = FixedEngine()  # the demo: SPY selected, no SPY position or order
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert not [c for c in engine.calls if c[0] == "flatten"]
        # the answer is the key bar's notice, repainted in place: no toast is mounted for it
        keybar = app.query_one("#keybar")
        assert keybar.plain().startswith(" nothing to flatten: no SPY position or order  ")
        assert not app._notifications
        await pilot.pause()
        # on screen, and the money keys still named on an 80-column line after it
        assert bottom_line(app).startswith(" nothing to flatten: no SPY position or order  F Flat all C Cancel f Flat sym")


async def test_space_answers_in_the_key_bar_not_with_a_toast(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space")
        await pilot.pause()
        assert engine.snapshot().entries_paused
        assert bottom_line(app).startswith(" new entries paused; exits still managed  F Flat all C Cancel f Flat sym")
        await pilot.press("space")
        await pilot.pause()
        assert bottom_line(app).startswith(" new entries resumed  F Flat all")
        assert not app._notifications


async def test_the_nothing_to_flatten_notice_goes_after_its_time(tmp_path, monkeypatch):
    monkeypatch.setattr("widgets.keybar.NOTICE_S", 0.05)
    app = fixed_app(tmp_path, FixedEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        keybar = app.query_one("#keybar")
        cleared = []  # the notice each time its time ran out
        clear = keybar.clear_notice
        keybar.clear_notice = lambda: (cleared.append(keybar.notice), clear())
        await pilot.press("f")
        await wait_for(lambda: cleared, what="the notice's time to run out")
        assert cleared[0].startswith("nothing to flatten: no SPY") and not keybar.notice
        assert keybar.plain().startswith("a ")  # the keys line as before


async def test_a_notice_taken_off_early_leaves_no_timer_to_take_the_next_one_off(tmp_path):
    app = fixed_app(tmp_path, FixedEngine())
    async with app.run_test(size=(80, 24)):
        keybar = app.query_one("#keybar")
        keybar.say("first")
        first = keybar._notice_timer
        keybar.clear_notice()
        assert first._task is None  # stopped: it will not take "second" off at "first"'s time
        keybar.say("second")
        assert keybar.notice == "second" and keybar._notice_timer is not first


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


def test_the_drawdown_chart_reaches_the_reported_max_drawdown():
    from engine.backtest import metrics as M
    from engine.backtest.report import equity_text

    eq = [100_000.0 + i for i in range(5000)]
    eq[2501] = 90_000.0  # one deep dip between two evenly spaced picks
    text = equity_text(list(range(len(eq))), eq, width=60)
    dd_axis = text.split("Drawdown % (0 at the top)\n")[1].splitlines()
    assert f"{-M.max_drawdown_pct(eq):.2f}" in dd_axis[3]  # the bottom label is the max drawdown


def test_the_engine_bench_never_cuts_a_figure_at_80_columns():
    from rich.console import Console

    from cockpit.bench import _print_engine

    a = {"n_trades": 1_000_000, "trades_per_s": 828_812.3, "trades_per_s_no_setups": 1_012_345.0,
         "latency_us_p50": 1.21, "latency_us_p99": 3.45, "latency_us_p999": 12.3, "bars_closed": 23_400,
         "signals": 123, "session_profile_ms": 4.2, "session_profile_bins": 310}
    r = {"machine": "2 cores", "analytics_1_symbol": a, "analytics_10_symbols": a,
         "full_engine_5_symbols": {"trades": 456_789, "trades_per_s": 123_456.0, "signals": 77}}
    for width in (80, 120):
        con = Console(width=width, record=True)
        _print_engine(r, con)
        out = con.export_text()
        for figure in ("828,812", "1,012,345", "1,000,000", "23,400", "456,789", "123,456", "12.3"):
            assert figure in out, (width, figure)
        assert "…" not in out


def test_a_backtest_progress_bar_counts_the_runners_steps_and_never_stops_it():
    from cockpit.backtest_cli import ItemsProgress

    p = ItemsProgress(100_000, "test data")
    try:
        assert p() is False and p() is False
        assert p._done == 100_000
    finally:
        p.stop()


def test_an_interrupted_sweep_says_so_before_its_partial_table(tmp_path, monkeypatch):
    import io

    import engine.backtest.sweep as sweep
    from cockpit.cli import main

    real = sweep.run_sweep

    def interrupted(*args, **kwargs):
        def ctrl_c(done, total):
            raise KeyboardInterrupt  # Ctrl-C after the first finished run

        return real(*args, **{**kwargs, "on_progress": ctrl_c, "progress": False})

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    both = io.StringIO()  # stdout and stderr as a terminal shows them: one stream, in order
    monkeypatch.setattr("sys.stdout", both)
    monkeypatch.setattr("sys.stderr", both)
    status = main(["sweep", "--data", "synthetic:SPY:2:3", "--grid", "atr_stop=1.0,2.0", "--executor", "inline",
                   "--results", str(tmp_path / "r.json"), "--db", str(tmp_path / "s.db")])
    out = both.getvalue()
    assert status == 130
    assert "interrupted:" in out and "resume with" in out
    assert out.index("interrupted:") < out.index("combinations x")  # said first
