"""Widget and app-wiring tests on a fixed snapshot source (tests/ui_fixtures.py):
formatting, in-place table updates, skipped work, notifications, bell, badges,
key remapping, theme persistence, selection and the responsive layout."""
from __future__ import annotations

import dataclasses
import json

import pytest

from cockpit.keys import resolve_keymap
from cockpit.screens import ConfirmScreen, HelpScreen
from cockpit.settings import UISettings
from engine.config import ConfigError
from engine.model import NS_PER_S, FeedStatus, JournalEntry, LvnAlert, Mode
from tests.ui_fixtures import T0, FixedEngine, demo_snapshot, fixed_app
from tests.waiting import wait_for
from widgets import format as fmt
from widgets.base import SyncTable
from widgets.header import broker_badge, feed_badge


# ----------------------------------------------------------------- formatting


def test_format_helpers():
    assert fmt.duration(45) == "45s"
    assert fmt.duration(187) == "3:07"
    assert fmt.duration(3900) == "1h 05m"
    assert fmt.duration(-3) == "0s"
    assert fmt.price(float("nan")) == fmt.MISSING
    assert fmt.price(1234.5) == "1,234.50" and fmt.price(1234.5, sep=False) == "1234.50"
    assert fmt.pct(0.625) == "+0.62%" or fmt.pct(0.625) == "+0.63%"
    assert fmt.compact(-12345) == "-12.3k"
    assert fmt.gauge(75, 8) == "██████░░"
    assert fmt.sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"
    assert fmt.sparkline([1, 2, 3], 2) == "▁█"  # keeps the last `width` values
    assert fmt.bar(0.5, 4) == "██" and fmt.bar(0.0, 4) == ""
    assert fmt.et(T0) == "10:42:13"


def test_feed_and_broker_badges():
    text, cls = feed_badge(FeedStatus("alpaca", connected=False, reconnect_in_s=8.0))
    assert "retry in 8s" in text and cls == "-down"
    text, cls = feed_badge(FeedStatus("alpaca", connected=True, stale=True, lag_s=21))
    assert "STALE" in text and cls == "-stale"
    text, cls = feed_badge(FeedStatus("replay", connected=True, speed=10))
    assert "x10" in text and cls == "-replay"
    text, cls = feed_badge(FeedStatus("alpaca", connected=True))
    assert "LIVE" in text and cls == "-live"
    # a refusal by the service says why instead of a bare DISCONNECTED
    assert feed_badge(FeedStatus("alpaca", connected=False, reconnect_in_s=58.0, refused="KEY IN USE")) == (
        " ALPACA KEY IN USE · retry in 58s ", "-down")
    assert feed_badge(FeedStatus("alpaca", connected=False, refused="NOT IN PLAN")) == (
        " ALPACA NOT IN PLAN ", "-down")
    assert feed_badge(FeedStatus("polygon", connected=True, refused="NOT IN PLAN: XYZ")) == (
        " POLYGON LIVE · NOT IN PLAN: XYZ ", "-stale")
    assert broker_badge("SIMULATED") == (" SIMULATED ", "-simulated")
    assert broker_badge("LIVE")[1] == "-live-money"


def test_keymap_validation():
    assert resolve_keymap({"flatten_all": "X"}) == {"flatten_all": "X"}
    with pytest.raises(ConfigError, match="unknown action 'flaten_all'"):
        resolve_keymap({"flaten_all": "X"})
    with pytest.raises(ConfigError, match="bound to both"):
        resolve_keymap({"cancel_all": "F"})
    with pytest.raises(ConfigError, match="1-9 pick symbols"):
        resolve_keymap({"approve": "3"})


def test_ctrl_q_and_ctrl_c_always_quit_and_cannot_be_remapped():
    """They are what a trader presses by reflex to get out: they must ask like q,
    never flatten or cancel."""
    for action in ("flatten_all", "cancel_all"):
        for key in ("ctrl+q", "ctrl+c"):
            with pytest.raises(ConfigError, match="ctrl\\+q and ctrl\\+c always quit"):
                resolve_keymap({action: key})
    assert resolve_keymap({"quit": "x,ctrl+q"}) == {"quit": "x,ctrl+q"}


def test_settings_file_round_trip_and_damage(tmp_path):
    path = tmp_path / "sub" / "ui.json"
    assert UISettings.load(path).theme is None
    UISettings(theme="light").save(path)
    assert UISettings.load(path).theme == "light"
    path.write_text("{not json")
    assert UISettings.load(path).theme is None
    path.write_text(json.dumps({"theme": "neon"}))
    assert UISettings.load(path).theme is None


# ----------------------------------------------------------------- rendering cost


async def test_tables_update_in_place_and_unchanged_versions_are_skipped(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one("#watchlist-table", SyncTable)
        assert table.keys == ["SPY", "QQQ", "AAPL", "TSLA", "NVDA"]
        applied, written = app.applied_count, table.cell_updates
        await pilot.pause(0.6)  # a few refresh ticks, same version, same clock
        assert app.applied_count == applied
        assert app.refresh_from_engine() is False
        # one price moves: one row, only the cells that changed are rewritten
        snap = engine.snapshot()
        qqq = dataclasses.replace(snap.symbols["QQQ"], last=439.00)
        engine.publish(dataclasses.replace(snap, symbols={**snap.symbols, "QQQ": qqq}))
        await wait_for(lambda: app.applied_count > applied, what="the new snapshot applied")
        assert app.applied_count == applied + 1
        assert table.cell_updates == written + 1
        assert "439.00" in str(table.get_cell("QQQ", "last"))
        assert table.keys == ["SPY", "QQQ", "AAPL", "TSLA", "NVDA"]


async def test_alerts_newest_first_and_bell(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine, bell=True)
    rings = []
    async with app.run_test(size=(160, 50)) as pilot:
        app.bell = lambda: rings.append(1)
        await pilot.pause()
        snap = engine.snapshot()
        first_keys = app.query_one("#alerts-table", SyncTable).keys
        assert len(first_keys) == 2 and first_keys[0].startswith("SPY|")
        new = LvnAlert("TSLA", T0, 178.50, "impulse", 178.90, 0.22, 0.9, "from_above")
        engine.publish(dataclasses.replace(snap, alerts=(new,) + snap.alerts))
        await wait_for(lambda: len(app.query_one("#alerts-table", SyncTable).keys) == 3, what="the new alert row")
        keys = app.query_one("#alerts-table", SyncTable).keys
        assert keys[0].startswith("TSLA|") and keys[1:] == first_keys
        assert rings == [1]


def test_repeats_of_one_level_in_one_minute_fold_into_one_row():
    from engine.model import NS_PER_MIN
    from widgets.alerts import alert_key, folded

    m0 = T0 // NS_PER_MIN * NS_PER_MIN  # the start of T0's minute

    def alert(s, lvn=187.35, source="session", direction="from_below"):
        return LvnAlert("TSLA", m0 + s * NS_PER_S, lvn, source, lvn - 0.01, 0.01, 0.05, direction)

    newest_first = [alert(50), alert(40), alert(30, direction="from_above"), alert(20), alert(10),
                     alert(5, source="previous"), alert(-5)]  # the last one is the minute before
    rows = folded(newest_first)
    assert [(a.ts_ns, n, key) for a, n, key in rows] == [
        (m0 + 50 * NS_PER_S, 2, alert_key(newest_first[1])),
        (m0 + 30 * NS_PER_S, 1, alert_key(newest_first[2])),
        (m0 + 20 * NS_PER_S, 2, alert_key(newest_first[4])),  # keyed by its oldest: stable as repeats join
        (m0 + 5 * NS_PER_S, 1, alert_key(newest_first[5])),
        (m0 - 5 * NS_PER_S, 1, alert_key(newest_first[6])),
    ]


async def test_the_alerts_pane_shows_a_burst_at_one_node_as_one_row_with_its_count(tmp_path):
    from engine.model import NS_PER_MIN

    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        snap = engine.snapshot()
        table = app.query_one("#alerts-table", SyncTable)
        before = list(table.keys)
        m0 = T0 // NS_PER_MIN * NS_PER_MIN
        burst = tuple(LvnAlert("TSLA", m0 + s * NS_PER_S, 187.35, "session", 187.36, 0.01, 0.05, "from_below")
                      for s in (40, 30, 20, 10))
        engine.publish(dataclasses.replace(snap, alerts=burst + snap.alerts))
        await wait_for(lambda: len(table.keys) == len(before) + 1, what="one row for the burst")
        key = table.keys[0]
        assert key.startswith("TSLA|") and table.keys[1:] == before
        assert table.get_cell(key, "dir").plain.strip() == "↑ x4"


async def test_bell_off_when_configured(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine, bell=False)
    rings = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.bell = lambda: rings.append(1)
        await pilot.pause()
        snap = engine.snapshot()
        new = LvnAlert("TSLA", T0, 178.50, "impulse", 178.90, 0.22, 0.9, "from_above")
        engine.publish(dataclasses.replace(snap, alerts=(new,) + snap.alerts))
        await wait_for(lambda: app.query_one("#alerts-table", SyncTable).keys[0].startswith("TSLA|"),
                       what="the new alert row")
        assert rings == []


async def test_broker_rejection_becomes_a_notification_and_a_log_line(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    seen = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.notify = lambda message, **kw: seen.append((message, kw.get("severity")))

        def log_text() -> str:
            return " ".join(" ".join(line.text.split()) for line in app.query_one("#log-view").lines)

        snap = engine.snapshot()
        err = JournalEntry(T0 + NS_PER_S, "error", "broker", "order ck-1 rejected: insufficient buying power", "SPY")
        engine.publish(dataclasses.replace(snap, journal=snap.journal + (err,)))
        await wait_for(lambda: seen, what="the notification")
        assert seen == [("SPY: order ck-1 rejected: insufficient buying power", "error")]
        # (a polled snapshot's panes are drawn one per frame: the log follows the notification)
        await wait_for(lambda: "ERROR broker" in log_text(), what="the log line")
        assert "rejected: insufficient" in log_text()
        # an info line is logged but not notified
        info = JournalEntry(T0 + 2 * NS_PER_S, "info", "order", "sent bracket", "SPY")
        engine.publish(dataclasses.replace(engine.snapshot(), journal=engine.snapshot().journal + (info,)))
        await wait_for(lambda: "sent bracket" in log_text(), what="the info line in the log")
        assert len(seen) == 1


async def test_stale_feed_and_blocked_entries_are_shown(tmp_path):
    snap = demo_snapshot()
    snap = dataclasses.replace(snap, feed=dataclasses.replace(snap.feed, name="alpaca", stale=True, lag_s=20),
                               blocked_entries_reason="data stale (> 15 s)")
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        feed = app.query_one("#hdr-feed")
        assert "STALE" in str(feed.content) and feed.has_class("-stale")
        entries = app.query_one("#hdr-entries")
        assert "BLOCKED" in str(entries.content) and entries.has_class("-blocked")
        assert "BLOCKED: data stale" in str(app.query_one("#pending-hint").content)
        # the risk block on a signal shows its reason in the decisions table
        row = app.query_one("#decisions-table", SyncTable).get_row("sig-aapl-0|blocked")
        assert "BLOCKED" in str(row[4]) and "max_positions reached" in str(row[5])


async def test_header_shows_simulated_badge_equity_pnl_and_et_clock(tmp_path):
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "SIMULATED" in str(app.query_one("#hdr-broker").content)
        assert "100,341" in str(app.query_one("#hdr-equity").content)
        assert "+341.00" in str(app.query_one("#hdr-pnl").content)
        assert "10:42:13 ET" in str(app.query_one("#hdr-clock").content)
        assert "SEMI" in str(app.query_one("#hdr-mode").content)


# ----------------------------------------------------------------- keys, selection, layout, theme


async def test_selecting_a_symbol_switches_the_detail_panes(tmp_path):
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.selected == "SPY"
        await pilot.press("3")
        await pilot.pause()
        assert app.selected == "AAPL"
        assert "AAPL" in str(app.query_one("#market").border_title)
        assert "IMBALANCE DOWN" in str(app.query_one("#market-body").content)
        await pilot.press("j")
        await pilot.pause()
        assert app.selected == "TSLA" and app.query_one("#watchlist-table", SyncTable).cursor_row == 3
        await pilot.press("k", "k")
        await pilot.pause()
        assert app.selected == "QQQ"


async def test_remapped_key_works_and_default_does_not(tmp_path):
    app = fixed_app(tmp_path, keys={"flatten_all": "X"})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("F")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("X")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-flatten-all"
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and app.screen.keys["flatten_all"] == "X"


async def test_flatten_confirmation_sends_only_on_yes(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("F", "n")
        await pilot.pause()
        assert ("flatten_all",) not in engine.calls
        await pilot.press("F", "y")
        await app.workers.wait_for_complete()
        assert ("flatten_all",) in engine.calls
        await pilot.press("f")  # SPY: no position, no order: nothing to ask, nothing sent
        assert not isinstance(app.screen, ConfirmScreen)
        assert ("flatten", "SPY") not in engine.calls
        await pilot.press("5", "f", "y")  # NVDA holds a position
        await app.workers.wait_for_complete()
        assert ("flatten", "NVDA") in engine.calls


async def test_speed_keys_step_the_replay_speed(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("plus", "plus", "minus")
        assert [c for c in engine.calls if c[0] == "set_speed"] == [("set_speed", 2.0), ("set_speed", 5.0), ("set_speed", 2.0)]


async def test_layout_switches_on_resize(tmp_path):
    app = fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        dash = app.query_one("#dash")
        assert dash.has_class("-compact") and app.query_one("#pagebar").display
        assert app.query_one("#watchlist").display and not app.query_one("#profile").display
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.query_one("#profile").display and not app.query_one("#watchlist").display
        await pilot.resize_terminal(120, 40)
        await wait_for(lambda: dash.has_class("-full"), what="the full layout")
        assert dash.has_class("-full") and not app.query_one("#pagebar").display
        assert all(app.query_one(f"#{p}").display for p in ("watchlist", "profile", "signals", "orders", "log"))


async def test_theme_cycles_and_persists(tmp_path):
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        up_dark = app.query_one("#watchlist-table", SyncTable).tone("up").color
        assert app.has_class("theme-dark")
        await pilot.press("t")
        await pilot.pause()
        assert app.has_class("theme-light") and not app.has_class("theme-dark")
        await pilot.press("t")
        await pilot.pause()
        assert app.has_class("theme-high-contrast")
        up_hc = app.query_one("#watchlist-table", SyncTable).tone("up").color
        assert up_hc != up_dark and up_hc.triplet.hex == "#4da3ff"  # blue, not green
        # the rendered watchlist cell follows the theme
        table = app.query_one("#watchlist-table", SyncTable)
        await wait_for(lambda: table.get_cell("SPY", "state").style.color.triplet.hex == "#4da3ff",
                       what="the state cell repainted in the new theme")
        assert "IMB" in table.get_cell("SPY", "state").plain
    assert json.loads((tmp_path / "ui.json").read_text())["theme"] == "high-contrast"
    again = fixed_app(tmp_path)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert again.has_class("theme-high-contrast")


async def test_a_theme_seen_before_is_not_parsed_again_and_looks_the_same(tmp_path, monkeypatch):
    """The theme key under load (issue 14 item 9): each theme's CSS is parsed once."""
    from textual.css import stylesheet as textual_stylesheet

    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#watchlist-table", SyncTable)
        seen = {}
        for _ in range(3):  # dark -> light -> high-contrast -> dark: every theme parsed once
            await pilot.press("t")
            await pilot.pause()
            seen[app.theme_name] = (app.screen.styles.background, table.tone("up").color)
        parsed = []
        original = textual_stylesheet.parse
        monkeypatch.setattr(textual_stylesheet, "parse", lambda *a, **k: (parsed.append(a[2]), original(*a, **k))[1])
        for _ in range(3):  # the second lap: the same looks, no CSS parsed
            await pilot.press("t")
            await pilot.pause()
            assert (app.screen.styles.background, table.tone("up").color) == seen[app.theme_name]
        assert parsed == []


async def test_the_theme_key_restyles_once_and_draws_one_frame_in_the_new_colours(tmp_path):
    """The theme key under load (issue 14 item 9): the CSS refresh, the layout and the
    panes' theme-coloured text land in one batch, so no frame is drawn in the new CSS
    with the old text colours, and every widget is restyled once, not twice."""
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        events = []
        display, apply, update = app._display, app._apply, app.stylesheet.update
        app._display = lambda screen, renderable: (events.append("frame"), display(screen, renderable))[1]
        app._apply = lambda force=False: (events.append(f"apply force={force}"), apply(force))[1]
        app.stylesheet.update = lambda root, animate=False: (events.append("restyle"), update(root, animate))[1]
        await pilot.press("t")
        await pilot.pause()
        await pilot.pause()
        assert app.has_class("theme-light")
        assert events.count("restyle") == 1
        restyled, reapplied = events.index("restyle"), events.index("apply force=True")
        assert restyled < reapplied and "frame" not in events[restyled:reapplied]  # no frame half in the old theme


@pytest.mark.parametrize("presses, theme", [(1, "light"), (2, "high-contrast"), (3, "dark")])
async def test_the_theme_key_draws_what_a_start_in_that_theme_draws(tmp_path, presses, theme):
    """However the key restyles (one batch, merged repaint requests), the screen after it
    is the one the cockpit draws when it starts in that theme."""
    app = fixed_app(tmp_path / "key")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(presses):
            await pilot.press("t")
            await pilot.pause()
        await pilot.pause()
        switched = app.export_screenshot()
    started = fixed_app(tmp_path / "start", theme=theme)
    async with started.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert started.theme_name == theme
        assert started.export_screenshot() == switched


@pytest.mark.parametrize("presses, theme", [(4, "light"), (6, "dark")])
async def test_a_theme_seen_before_reuses_its_component_styles_and_draws_what_a_start_draws(tmp_path, presses, theme):
    """The second lap through the themes takes each widget's component styles (table
    cursor, header, rows; the tones) from the first (cockpit/theme_css.py) instead of
    styling ~160 virtual nodes again, and still draws what a start in that theme draws."""
    app = fixed_app(tmp_path / "key")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for i in range(presses):
            if i == 3:
                reused = app.stylesheet.component_styles_reused
            await pilot.press("t")
            await pilot.pause()
        await pilot.pause()
        assert app.stylesheet.component_styles_reused > reused  # the second lap re-used them
        switched = app.export_screenshot()
    started = fixed_app(tmp_path / "start", theme=theme)
    async with started.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert started.export_screenshot() == switched


async def test_a_flood_of_journal_entries_is_written_a_screenful_at_a_time(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        log = app.query_one("#log-view")
        before = len(log.lines)
        flood = tuple(JournalEntry(T0 + i, "info", "test", f"entry {i}", None) for i in range(300))
        engine.publish(dataclasses.replace(engine.snapshot(), journal=engine.snapshot().journal + flood))
        app.refresh_from_engine(force=True)
        await pilot.pause()
        written = [line.text for line in log.lines[before:]]
        screenful = max(8, log.size.height)
        assert written[0].startswith(f"… {300 - screenful} more entries (in the journal)")
        assert len(written) == screenful + 1 and written[-1].endswith("entry 299")


async def test_mode_cycle_from_watch_to_semi_needs_no_confirmation(tmp_path):
    engine = FixedEngine(demo_snapshot(mode=Mode.WATCH))
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert ("set_mode", Mode.SEMI) in engine.calls and not isinstance(app.screen, ConfirmScreen)


async def test_a_position_without_a_stop_at_the_broker_is_flagged_unprotected_in_red(tmp_path):
    snap = dataclasses.replace(demo_snapshot(), unprotected=("NVDA",))
    engine = FixedEngine(snap)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#positions-table", SyncTable)
        stop = table.get_row("NVDA")[5]
        assert str(stop).strip() == "UNPROT" and stop.style.reverse and stop.style.color == table.tone("down").color
        assert app.query_one("#positions").border_subtitle == "1 open · 1 UNPROTECTED"
        # once it has a stop again the price is back and the flag is gone
        engine.publish(dataclasses.replace(snap, unprotected=()))
        await wait_for(lambda: str(table.get_row("NVDA")[5]).strip() == "896.40", what="the stop shown again")
        assert app.query_one("#positions").border_subtitle == "1 open"


async def test_pending_signal_and_session_pane_show_the_size_cap_and_the_policy(tmp_path):
    """Issue 15: the pending row (and its hint) says which cap bound the size; the
    session pane shows the active trading policy and the time to the next."""
    snap = demo_snapshot()
    note = "qty 97 capped by max_position_notional $50,000.00 at $512.25 (risk 0.5% sizes 310)"
    pending = (dataclasses.replace(snap.pending[0], qty=97, decision_reason=note),)
    session = dataclasses.replace(snap.session, policy="09:35-10:30 orb, vwap_reclaim",
                                  next_policy="10:30-14:00 sigma_fade", seconds_to_next_policy=25 * 60)
    app = fixed_app(tmp_path, FixedEngine(dataclasses.replace(snap, pending=pending, session=session)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "capped by max_position_notional" in str(app.query_one("#pending-hint").content)
        body = str(app.query_one("#session-body").render())
        assert "policy 09:35-10:30 orb, vwap_reclaim" in body and "next 10:30 in" in body
