"""`cockpit bench ui`: a short timed run returns every figure, each sane (a
benchmark itself, so marked ``bench``: run with ``pytest -m bench``), and the
looped replay it drives keeps data time moving forward."""
from __future__ import annotations

import math

import pytest

from cockpit.bench_ui import DATA_FILE, LoopedFeed, SCENARIOS, bench_ui, build_bench_engine
from tests.ui_fixtures import FixedEngine


@pytest.fixture(autouse=True)
def replay_data(shared_data):
    """Both tests replay the real BTC trades file from ../shared/data: fail naming it
    when it is missing (the bench's own path must be that same file)."""
    assert shared_data(DATA_FILE.name) == DATA_FILE

KEY_FIELDS = ("samples", "timeouts", "p50_ms", "p99_ms", "max_ms", "trades_per_s", "feed_laps",
              "frames_per_s", "snapshots_applied_per_s", "headless_render_kb_per_s")
PTY_FIELDS = ("kb_per_s", "peak_1s_kb", "startup_kb", "trades_per_s")


@pytest.mark.bench
def test_bench_ui_short_run_reports_every_figure():
    r = bench_ui(seconds=2.0, sizes=((80, 24),), pty_scenarios=("sim5-x10",), key_scenarios=("replay-max",),
                 pty_warmup=1.0)
    assert r["refresh_hz"] == 4.0
    for f in KEY_FIELDS:
        v = r[f"keys_replay-max_{f}"]
        assert isinstance(v, (int, float)) and math.isfinite(v) and v >= 0, (f, v)
    assert r["keys_replay-max_samples"] >= 3  # several keys took effect in 2 s
    assert r["keys_replay-max_timeouts"] == 0
    assert r["keys_replay-max_p50_ms"] <= r["keys_replay-max_p99_ms"] <= r["keys_replay-max_max_ms"]
    assert r["keys_replay-max_trades_per_s"] > 0  # the engine was consuming the replay meanwhile
    assert r["keys_replay-max_space_p50_ms"] > 0  # pause took effect on screen (a frame showing PAUSED)
    assert r["keys_replay-max_color_system"] == "256"
    for f in PTY_FIELDS:
        v = r[f"pty_sim5-x10_80x24_{f}"]
        assert isinstance(v, float) and math.isfinite(v) and v >= 0, (f, v)
    assert r["pty_sim5-x10_80x24_kb_per_s"] > 0  # the clock and prices move: bytes flow
    assert r["pty_sim5-x10_80x24_startup_kb"] > r["pty_sim5-x10_80x24_peak_1s_kb"] / 10  # a first full paint happened
    assert r["pty_sim5-x10_80x24_trades_per_s"] > 0


async def test_looped_replay_restarts_with_later_timestamps():
    engine, config = build_bench_engine(SCENARIOS["replay-max"])
    feed = engine.feed
    assert isinstance(feed, LoopedFeed)
    await feed.start()
    n_file = 0
    last = 0
    first_of_lap2 = None
    async for item in feed.stream():
        assert item.ts_ns >= last  # time never goes back across laps
        last = item.ts_ns
        if feed.lap == 0:
            n_file += 1
        elif first_of_lap2 is None:
            first_of_lap2 = item.ts_ns
        if feed.lap == 2:
            break
    await feed.stop()
    assert n_file > 20_000  # the whole file was one lap
    assert feed.emitted >= 2 * n_file
    assert first_of_lap2 is not None and first_of_lap2 > 0
    assert feed.status().done is False


class _ProbedEngine(FixedEngine):
    """The fixed engine with the one engine property the bench's probes read."""

    @property
    def entries_paused(self) -> bool:
        return self.snapshot().entries_paused


async def test_the_space_probe_counts_a_resume_that_shows_blocked_entries(tmp_path):
    """Resuming while entries are blocked for another reason (stale data) puts BLOCKED
    where PAUSED was: that is the key's effect, not a key that never took effect."""
    import dataclasses

    from cockpit.bench_ui import FrameTap, _key_probes
    from tests.ui_fixtures import demo_snapshot, fixed_app

    engine = _ProbedEngine(dataclasses.replace(demo_snapshot(), entries_paused=True,
                                        blocked_entries_reason="data stale (> 15 s)"))
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        key, ready, marker = next(_key_probes(app, engine, FrameTap(app), ["SPY"]))
        assert (key, marker) == ("space", None) and not ready()
        await pilot.press("space")
        await pilot.pause()
        assert "BLOCKED" in str(app.query_one("#hdr-entries").content)
        assert ready()


async def test_the_f_probe_counts_the_notice_or_the_confirmation_whichever_the_app_shows(tmp_path):
    """At max speed a position can close between the probe and the key: f's effect is
    then the notice, not the confirmation the probe would have expected."""
    import dataclasses

    from cockpit.bench_ui import FrameTap, _key_probes, _shows
    from engine.model import Position
    from tests.ui_fixtures import T0, demo_snapshot, fixed_app

    snap = demo_snapshot()
    held = dataclasses.replace(snap, positions=(Position("SPY", 10, 500.0, 501.0, 0.0, opened_ns=T0),), orders=())
    engine = _ProbedEngine(held)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        probes = _key_probes(app, engine, FrameTap(app), ["SPY"])
        key, ready, marker = next(p for p in probes if p[0] == "f")
        engine.publish(dataclasses.replace(held, positions=()))  # SPY flat before the key arrives
        app.refresh_from_engine(force=True)
        assert not ready()
        await pilot.press("f")
        await pilot.pause()
        assert ready() and _shows(marker, app.query_one("#keybar").plain())
