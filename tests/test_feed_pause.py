"""The trader pauses the replay / simulator with its own key (``p``, not space,
which pauses entries): PAUSED FEED in the header, the key in the footer and the
help, data time stands still, and resuming gives the same data-time results."""
from __future__ import annotations

import asyncio
import io

from rich.console import Console

from cockpit.screens import HelpScreen
from engine.model import FeedStatus
from tests.factories import engine_config, paper_engine, run_session
from tests.ui_fixtures import FixedEngine, fixed_app
from tests.waiting import wait_for
from widgets.header import feed_badge


def test_paused_feed_badge_says_paused_feed():
    text, cls = feed_badge(FeedStatus("synthetic", connected=True, speed=10, paused=True))
    assert "PAUSED FEED" in text and "x10" in text and cls == "-feed-paused"
    text, cls = feed_badge(FeedStatus("synthetic", connected=True, speed=10))
    assert "PAUSED" not in text and cls == "-replay"


async def test_p_pauses_and_resumes_the_feed_and_the_header_says_so(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        badge = app.query_one("#hdr-feed")
        assert "PAUSED FEED" not in str(badge.content)
        await pilot.press("p")
        await pilot.pause()
        assert [c for c in engine.calls if c[0] != "yield_to_input"][-1] == ("pause_feed",)
        assert "PAUSED FEED" in str(badge.content) and badge.has_class("-feed-paused")
        assert not engine.snapshot().entries_paused  # space's job, not p's
        await pilot.press("p")
        await pilot.pause()
        assert [c for c in engine.calls if c[0] != "yield_to_input"][-1] == ("resume_feed",)
        assert "PAUSED FEED" not in str(badge.content)


def _footer_text(app) -> str:
    return app.query_one("#keybar").plain()


def _text(renderable) -> str:
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_footer_and_help_show_the_feed_pause_and_speed_keys(tmp_path):
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = _footer_text(app)
        assert "Feed" in footer and "Speed" in footer, footer
        assert "+/-" in footer, footer
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = _text(app.screen.query_one("#help-table").content)
        assert "pause / resume the replay or simulator" in help_text


async def test_at_80x24_help_and_quit_stay_in_the_footer_and_the_page_bar_names_the_feed_keys(tmp_path):
    app = fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = _footer_text(app)[:80]
        assert "? Help" in shown and "q Quit" in shown and "F Flat all" in shown, shown
        bar = str(app.query_one("#pagebar").render())
        assert "p feed" in bar and "+/- speed" in bar and "[ ] switch" in bar, bar


async def test_data_time_stands_still_while_paused_and_results_match_an_unpaused_run():
    reference = (await run_session(engine_config("AUTO"))).summary()

    eng = paper_engine(engine_config("AUTO"))
    await eng.start()
    await wait_for(lambda: eng.feed.emitted > 20_000, 60, "the session under way")
    assert eng.pause_feed()
    assert eng.snapshot().feed.paused
    for _ in range(50):  # the feed task runs as it would: it is held, not stopped
        await asyncio.sleep(0)
    t, n = eng.clock.now_ns(), eng.feed.emitted
    for _ in range(200):
        await asyncio.sleep(0)
    assert (eng.clock.now_ns(), eng.feed.emitted) == (t, n)
    assert any(e.kind == "feed" and "paused by the trader" in e.message for e in eng.journal)
    assert eng.resume_feed()
    await eng.wait_done()
    await eng.tick()
    await eng.stop()
    assert eng.summary() == reference
