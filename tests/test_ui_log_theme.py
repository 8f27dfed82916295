"""The log keeps its scroll-back across a theme switch (issue 14): the written lines
are recoloured in place, not rewritten (which kept only a screenful)."""
from __future__ import annotations

import dataclasses
import re

import pytest

from cockpit.settings import THEMES
from engine.model import JournalEntry
from tests.ui_fixtures import T0, FixedEngine, fixed_app
from widgets.log import TONES_USED, _written_styles, restyle_map, tone_styles

STAMP = re.compile(r"\d\d:\d\d:\d\d ")  # a line that starts an entry (not a wrapped one)


def _journal(n: int) -> tuple[JournalEntry, ...]:
    levels = ("info", "warn", "error")
    return tuple(JournalEntry(T0 + i * 10**9, levels[i % 3], "test", f"entry {i}", "SPY" if i % 2 else None)
                 for i in range(n))


async def test_after_the_theme_key_the_log_holds_the_same_entries_in_order(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        log = app.query_one("#log-view")
        journal = engine.snapshot().journal
        for batch in range(6):  # 60 entries, 10 a poll: every one written (no flood cap)
            journal = journal + _journal(60)[batch * 10:(batch + 1) * 10]
            engine.publish(dataclasses.replace(engine.snapshot(), journal=journal))
            app.refresh_from_engine(force=True)
            await pilot.pause()
        before = [line.text for line in log.lines]
        assert len(before) > 3 * max(8, log.size.height)  # far more than a screenful
        muted_before = log.tone("muted")
        await pilot.press("t")
        await pilot.pause()
        assert app.theme_name == "light"
        assert [line.text for line in log.lines] == before
        # and in the new colours: every timestamp is in the light theme's muted tone
        muted = log.tone("muted")
        assert muted != muted_before
        stamps = [next(iter(line)).style for line in log.lines if STAMP.match(line.text)]
        assert stamps and all(style == muted for style in stamps)
        # new entries still follow, after the old ones
        engine.publish(dataclasses.replace(engine.snapshot(), journal=journal + (
            JournalEntry(T0 + 999 * 10**9, "info", "test", "after the switch", None),)))
        app.refresh_from_engine(force=True)
        await pilot.pause()
        assert [line.text for line in log.lines][:-1] == before and log.lines[-1].text.rstrip().endswith("after the switch")


@pytest.mark.parametrize("old", THEMES)
async def test_every_written_style_has_one_counterpart_in_every_other_theme(tmp_path, old):
    """The recolour maps styles: two tones that looked alike in a shipped theme and
    apart in another would be recoloured alike."""
    looks = {}
    for name in THEMES:
        app = fixed_app(tmp_path / name, theme=name)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            looks[name] = tone_styles(app.query_one("#log-view"))
    assert len(looks[old]) == len(TONES_USED)
    for new in THEMES:
        pairs = list(zip(_written_styles(looks[old]), _written_styles(looks[new])))
        mapping = restyle_map(looks[old], looks[new])
        assert all(mapping.get(before, before) == after for before, after in pairs), (old, new)
