"""A new user's first run shows a signal within the first minute: a simulated
session started at the open hands the session out at once up to its first
signal a trader can act on, then paces at the chosen speed from there
(``feed.sim_start = "first_signal"``, the default); ``"open"`` paces from 09:30."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.config import ConfigError, load_config
from tests.factories import engine_config, paper_engine
from tests.waiting import wait_for

ET = ZoneInfo("America/New_York")


def _et(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, ET)


async def test_the_default_session_at_x1_paces_from_its_first_signal():
    eng = paper_engine(engine_config("SEMI", feed={"speed": 1.0}))
    await eng.start()
    try:
        # at x1 from the open the first signal is ~40 minutes of data away: seconds here
        await wait_for(lambda: bool(eng.pending), 60, "the first pending signal")
        sig = next(iter(eng.pending.values()))
        assert _et(sig.created_ns).time() > _et(sig.created_ns).replace(hour=9, minute=35).time()
        assert not eng.feed.status().paused
        line = next(e for e in eng.journal if e.kind == "feed" and "skipped ahead" in e.message)
        assert "first signal" in line.message and 'sim_start = "open"' in line.message
        # paced from there: data time now moves at about x1, not at max speed
        t = eng.clock.now_ns()
        await wait_for(lambda: eng.clock.now_ns() > t, 10, "data time moving at x1")
        assert eng.clock.now_ns() - t < 120 * 10**9
    finally:
        await eng.stop()


async def test_sim_start_open_paces_from_the_open():
    eng = paper_engine(engine_config("SEMI", feed={"speed": 1.0, "sim_start": "open"}))
    await eng.start()
    try:
        await wait_for(lambda: eng.clock.now_ns() > 0, 10, "the first trade")
        first = _et(eng.clock.now_ns())
        assert (first.hour, first.minute) == (9, 30)
        assert not any("skipped ahead" in e.message for e in eng.journal)
    finally:
        await eng.stop()


def test_sim_start_names_its_allowed_values():
    with pytest.raises(ConfigError, match="sim_start"):
        load_config(None, overrides={"feed": {"sim_start": "noon"}}, env={})
