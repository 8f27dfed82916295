"""`cockpit bench ui`: how the cockpit behaves while the engine is flooded.

Two measurements, both on the real app and the real engine sharing one event loop:

1. Key-to-effect latency (in process, headless, 120x40). The engine consumes a
   max-speed replay of the BTCUSDT trades file (looped, see ``LoopedFeed``) or the
   5-symbol simulator at max speed. Keys are delivered to the app the way a
   terminal driver delivers them (``driver.send_message(events.Key)``). The
   *effect* of a key is reached at the end of the first frame that Textual hands
   to the terminal once the key's result is in the app's state and on screen:

   - ``space``: the engine's ``entries_paused`` flipped and, when pausing, the
     header's entries badge is styled shown and the frame's text holds ``PAUSED``;
     when resuming, the badge no longer says PAUSED (it is hidden, blank in its
     reserved slot, or says BLOCKED when entries are blocked for another reason);
   - ``t``: the next theme is the app's theme, its CSS is applied (the
     screen's computed background changed) and the panes re-rendered their
     theme-coloured text (the app's full re-apply after a theme switch ran);
   - ``1``..``5`` (several symbols only): the symbol is selected and the frame's
     text holds the market pane's new title ``Market state · SYM``;
   - ``F``, ``C``, ``f`` (the money keys): their confirmation is the screen and
     the frame's text holds its title (``FLATTEN ALL?``, ``CANCEL ALL ORDERS?``,
     ``FLATTEN SYM?``); the bench then answers No with Escape (not timed). With
     nothing to flatten for the symbol (decided by the app when the key arrives,
     so either counts for ``f``), ``f``'s effect is the key bar's notice:
     the frame's text holds ``nothing to flatten: no SYM``.

   "A frame handed to the terminal" means Textual's ``App._display`` was called
   with a compositor update; the headless driver discards it, so the tap also
   renders it to the ANSI string a real xterm-256color driver writes (that cost
   is included, and gives ``headless_render_kb_per_s``). A key whose effect
   never shows within 2 s counts as a timeout. ``repaint_profile`` splits those
   bytes per widget.

2. Bytes to the terminal (a pseudo-terminal, what an SSH link carries). A child
   process (``python -m cockpit.bench_ui serve SCENARIO``) runs ``run_app`` with
   the real Linux driver on the slave side of a pty of the given size with
   TERM=xterm-256color (no COLORTERM, as over a plain SSH session); the parent
   reads everything from the master side and counts the bytes written after a
   warm-up. The child reports how many trades its engine consumed, so the
   number comes with the load it was measured under.

Feeds are finite (the trades file holds 5 minutes, 21k trades; the simulator
one session), so they are looped: lap k of the replay is the same trades shifted
by k file-spans in time; lap k of the simulator is its default session (seed 7,
5 symbols) shifted to the k-th next trading day.
Nothing here is asserted; the numbers are printed.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from engine.feeds.base import ControllableFeed
from engine.feeds.pacing import PacedFeed

REPO = Path(__file__).resolve().parents[1]
DATA_FILE = REPO.parent / "shared" / "data" / "btcusdt_perp_20240808_trades.csv"
DEFAULT_SIZES = ((120, 40), (80, 24))
PTY_SCENARIOS = ("sim5-x1", "sim5-x10", "replay-max")
KEY_SCENARIOS = ("replay-max", "sim5-max")
PTY_WARMUP_S = 3.0  # after the first byte: engine warm-up, first full paint, layout settling
KEY_WARMUP_S = 1.0
KEY_TIMEOUT_S = 2.0
ANSI = re.compile(r"\x1b\[[0-9;?<=>$]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


# --------------------------------------------------------------------------- feeds


class LoopedFeed(ControllableFeed):
    """A finite feed run lap after lap, so a benchmark
    sees a steady state. ``make_lap(k, speed)`` builds lap k (its timestamps must
    follow lap k-1's). Pause and speed carry over from lap to lap."""

    def __init__(self, make_lap: Callable[[int, float], Any], speed: float) -> None:
        self._make = make_lap
        self._speed = speed
        self._paused = False
        self._stopped = False
        self.lap = 0
        self._inner = make_lap(0, speed)
        self.name = self._inner.name
        self._emitted_before = 0

    def previous_session_bars(self) -> list:
        return list(self._inner.previous_session_bars())

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        self._stopped = True
        await self._inner.stop()

    async def stream(self):
        while not self._stopped:
            async for item in self._inner.stream():
                yield item
            if self._stopped:
                break
            self._emitted_before += self._inner.emitted
            self.lap += 1
            self._inner = self._make(self.lap, self._speed)
            if self._paused:
                self._inner.pause()
            await self._inner.start()

    def set_speed(self, factor: float) -> None:
        self._speed = factor
        self._inner.set_speed(factor)

    def pause(self) -> None:
        self._paused = True
        self._inner.pause()

    def resume(self) -> None:
        self._paused = False
        self._inner.resume()

    def hold_for(self, seconds: float) -> None:
        self._inner.hold_for(seconds)

    @property
    def emitted(self) -> int:
        return self._emitted_before + self._inner.emitted

    def status(self):
        s = self._inner.status()
        return replace(s, done=False, message=f"{s.message} (bench lap {self.lap + 1})")


def _replay_laps(symbol: str):
    from engine.feeds.loaders import load_trades
    from engine.feeds.replay import ReplayFeed

    if not DATA_FILE.exists():
        raise FileNotFoundError(f"the UI benchmark replays {DATA_FILE}, which is absent")
    data = load_trades(DATA_FILE)
    span = int(data.ts_ns[-1] - data.ts_ns[0]) + 1_000_000_000

    def make(k: int, speed: float):
        lap = data if k == 0 else replace(data, ts_ns=data.ts_ns + k * span)
        return ReplayFeed(lap, symbol=symbol, speed=speed)

    return make


class MergedTradesFeed(PacedFeed):
    """Trades of several symbols already merged in time
    order (numpy columns), turned into model Trades a chunk at a time, so the
    start of a lap costs no more than any other moment (SyntheticFeed converts a
    whole session up front, which is fine once but not every few seconds)."""

    name = "synthetic"
    CHUNK = 4096

    def __init__(self, cols: dict, names: list[str], speed: float, message: str, warm=()) -> None:
        from engine.feeds.pacing import Pacer

        self._cols = cols  # ts_ns, price, size, bid, ask, sym (index into names)
        self._names = names
        self._pacer = Pacer(speed)
        self._message = message
        self._warm = list(warm)
        self._connected = self._done = False
        self._emitted = 0
        self._last_data_ns = 0

    def previous_session_bars(self) -> list:
        return self._warm

    async def start(self) -> None:
        self._connected = True

    async def stop(self) -> None:
        self._pacer.stop()
        self._connected = False

    async def stream(self):
        from engine.model import Trade

        c, names, pacer = self._cols, self._names, self._pacer
        n = len(c["ts_ns"])
        for start in range(0, n, self.CHUNK):
            end = start + self.CHUNK
            chunk = [c[k][start:end].tolist() for k in ("ts_ns", "price", "size", "bid", "ask", "sym")]
            for ts, p, sz, b, a, k in zip(*chunk):
                await pacer.wait_for(ts)
                if pacer.stopped:
                    return
                self._last_data_ns = ts
                self._emitted += 1
                yield Trade(names[k], ts, p, sz, 0, b, a)
        self._done = True

    def status_message(self) -> str:
        return self._message


def _synthetic_laps(symbols, seed: int):
    """The simulator's default session (what `cockpit run` shows), replayed on
    the following trading days: lap k is the same trades shifted to the k-th
    next NYSE session (same ET clock times; the laps stay within one DST period)."""
    import numpy as np

    from engine.feeds.synthetic import DEFAULT_SESSION_DATE, SyntheticFeed, merge_sessions, trading_days_from

    sim = SyntheticFeed(symbols=tuple(symbols), seed=seed, session_date=DEFAULT_SESSION_DATE)
    sims = [sim.sessions()[s] for s in sim.symbols]
    order, names = merge_sessions(sims)
    which, idx = order[:, 0], order[:, 1]
    cols = {"sym": which.astype(np.int64)}
    for name in ("ts_ns", "price", "size", "bid", "ask"):
        per = [getattr(x.trades, name) for x in sims]
        offsets = np.cumsum([0] + [len(a) for a in per[:-1]])
        cols[name] = np.concatenate(per)[offsets[which] + idx]
    warm = sim.previous_session_bars()
    days = trading_days_from(DEFAULT_SESSION_DATE, 60)
    message = f"seed {seed}, {DEFAULT_SESSION_DATE.isoformat()}, {len(names)} symbols"

    def make(k: int, speed: float):
        shift = (days[k] - DEFAULT_SESSION_DATE).days * 86_400 * 1_000_000_000
        lap = dict(cols, ts_ns=cols["ts_ns"] + shift)
        return MergedTradesFeed(lap, names, speed, message, warm=warm if k == 0 else ())

    return make


@dataclass(frozen=True)
class Scenario:
    name: str
    feed: str  # "replay" | "synthetic"
    speed: float  # 0 = as fast as possible
    description: str


SCENARIOS = {
    "replay-max": Scenario("replay-max", "replay", 0.0, "BTCUSDT trades file, max speed, looped"),
    "sim5-max": Scenario("sim5-max", "synthetic", 0.0, "simulator, 5 symbols, max speed, looped"),
    "sim5-x10": Scenario("sim5-x10", "synthetic", 10.0, "simulator, 5 symbols, x10"),
    "sim5-x1": Scenario("sim5-x1", "synthetic", 1.0, "simulator, 5 symbols, real time"),
}


def scenario_config(sc: Scenario):
    """The built-in defaults (no cockpit.toml, no environment) plus the scenario's feed."""
    from engine.config import load_config

    if sc.feed == "replay":
        over = {"app": {"symbols": ["BTCUSDT"]},
                "feed": {"kind": "replay", "file": str(DATA_FILE), "session": "24h_utc", "speed": sc.speed}}
    else:
        over = {"feed": {"kind": "synthetic", "speed": sc.speed}}
    return load_config(None, overrides=over, env={})


def build_bench_engine(sc: Scenario):
    """An Engine like ``build_engine(config, use_store=False)`` but on a looped feed."""
    from engine.analytics.session import SessionCalendar
    from engine.clock import DataClock, MonotonicClock
    from engine.engine import Engine
    from engine.factory import build_broker

    config = scenario_config(sc)
    clock = DataClock()
    if sc.feed == "replay":
        make = _replay_laps(config.app.symbols[0])
    else:
        make = _synthetic_laps(config.app.symbols, config.app.seed)
    feed = LoopedFeed(make, sc.speed)
    broker = build_broker(config, clock)
    calendar = SessionCalendar(config.feed.session, config.sessions.policy_for(config.feed.session))
    return Engine(config, feed, broker, clock, calendar=calendar, wall_clock=MonotonicClock()), config


# --------------------------------------------------------------------------- key-to-effect


class FrameTap:
    """Wraps ``app._display``: renders each compositor update to the string a
    terminal driver would write, counts it, and resolves the pending probe."""

    def __init__(self, app, by_widget: bool = False) -> None:
        from rich.console import Console

        self.app = app
        # what a real driver on an xterm-256color terminal writes (the headless
        # app's own console has no terminal to detect colours from)
        self.console = Console(color_system="256", force_terminal=True, legacy_windows=False,
                               file=open(os.devnull, "w"))
        self.by_widget: Optional[dict[str, int]] = {} if by_widget else None
        self.frames = 0
        self.bytes = 0
        self.probe: Optional[tuple[Callable[[], bool], Any]] = None  # (ready, marker: str, tuple of str or None)
        self.hit_at: Optional[float] = None
        self.done = asyncio.Event()
        self.forced_applies = 0  # full repaints of every pane (after a theme switch, a resize)
        self._orig = app._display
        app._display = self._display
        self._orig_apply = app._apply
        app._apply = self._apply

    def _apply(self, force: bool = False) -> None:
        self._orig_apply(force)
        if force:
            self.forced_applies += 1

    def _display(self, screen, renderable) -> None:
        from textual._compositor import CompositorUpdate

        self._orig(screen, renderable)
        if not isinstance(renderable, CompositorUpdate):
            return
        text = renderable.render_segments(self.console)
        self.frames += 1
        self.bytes += len(text.encode("utf-8"))
        if self.by_widget is not None:
            self._attribute(screen, renderable)
        probe = self.probe
        if probe is not None and self.hit_at is None:
            ready, marker = probe
            if ready() and (marker is None or _shows(marker, ANSI.sub("", text))):
                self.hit_at = time.perf_counter()
                self.done.set()

    def _attribute(self, screen, update) -> None:
        """Bytes of a partial update per widget (the chops are cut at widget edges)."""
        from textual._compositor import ChopsUpdate

        if not isinstance(update, ChopsUpdate):
            self.by_widget["(full repaint)"] = self.by_widget.get("(full repaint)", 0) + len(
                update.render_segments(self.console).encode("utf-8"))
            return
        for y, x1, x2 in update.spans:
            for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items()):
                if strip is None or x > x2 or end <= x1:
                    continue
                try:
                    widget, _ = screen.get_widget_at(x, y)
                    name = f"{type(widget).__name__}#{widget.id or (widget.parent.id if widget.parent else '')}"
                except Exception:  # a region no widget claims (a gap)
                    name = "(none)"
                n = len(strip.render(self.console).encode("utf-8")) + 8  # + the cursor move
                self.by_widget[name] = self.by_widget.get(name, 0) + n

    def arm(self, ready: Callable[[], bool], marker) -> None:
        self.probe = (ready, marker)
        self.hit_at = None
        self.done.clear()


def _shows(marker, text: str) -> bool:
    """A probe's marker: a text the frame holds, or a tuple of texts any of which it holds."""
    return any(m in text for m in marker) if isinstance(marker, tuple) else marker in text


def _key_probes(app, engine, tap: FrameTap, symbols: list[str]):
    """Endless (key, ready, marker) triples; each key's effect is checkable."""
    from textual.widgets import Label

    def pause_probe():
        want = not engine.entries_paused
        badge = app.query_one("#hdr-entries", Label)

        def ready() -> bool:
            if engine.entries_paused != want:
                return False
            state = getattr(badge, "_state", None) or ("", "")
            if not want:  # resumed: PAUSED is gone (the badge is blank, or BLOCKED for another reason)
                return "PAUSED" not in state[0] and not badge.has_class("-paused")
            # the badge's class change is styled on idle: shown only then; in its reserved
            # slot (a wide line) it stays displayed, blank when not paused
            shown = badge.styles.display != "none" and bool(state[0].strip())
            return "PAUSED" in state[0] and shown and badge.has_class("-paused")

        return "space", ready, ("PAUSED" if want else None)

    def theme_probe():
        from .settings import THEMES

        want = THEMES[(THEMES.index(app.theme_name) + 1) % len(THEMES)]
        before = app.screen.styles.background
        forced = tap.forced_applies

        def ready() -> bool:
            # the CSS is applied AND the panes re-rendered their theme-coloured text
            return (app.theme_name == want and app.screen.styles.background != before
                    and tap.forced_applies > forced)

        return "t", ready, None

    def symbol_probe(i: int):
        sym = symbols[i]
        pane = app.query_one("#market")

        def ready() -> bool:
            return app.selected == sym and str(pane.border_title or "").endswith(sym)

        return str(i + 1), ready, f"Market state · {sym}"

    def money_probe(key: str, screen_id: str, title: Callable[[], str]):
        # the money keys' first effect is their confirmation on screen (the answer is
        # the trader's); the bench closes it with Escape before the next key
        marker = title()

        def ready() -> bool:
            return app.screen.id == screen_id

        return key, ready, marker

    def flatten_symbol_probe():
        # f asks only when the symbol has something to flatten; else its effect is the
        # "nothing to flatten" notice in the key bar (issue 14), on screen in a frame.
        # Which one is the app's to decide when the key arrives (a position can open or
        # close between this probe and the key, at max speed): either counts.
        sym = app.selected
        keybar = app.query_one("#keybar")
        keybar.clear_notice()  # (the last press's notice may still show: this press must put it back)
        # (the notice whatever the symbol: a late row highlight may still change the selection under the key)
        notice = "nothing to flatten: no "

        def ready() -> bool:
            return app.screen.id == "confirm-flatten-symbol" or keybar.notice.startswith(notice)

        return "f", ready, (f"FLATTEN {sym}?", notice)

    k = 0
    while True:
        yield pause_probe()
        yield theme_probe()
        if len(symbols) > 1:
            k = (k + 1) % len(symbols)
            yield symbol_probe(k)
        yield money_probe("F", "confirm-flatten-all", lambda: "FLATTEN ALL?")
        yield money_probe("C", "confirm-cancel-all", lambda: "CANCEL ALL ORDERS?")
        yield flatten_symbol_probe()


SAMPLE_NAMES = {"space": "space", "t": "t", "F": "flatten_all", "C": "cancel_all", "f": "flatten_symbol"}


async def _close_dialog(app, driver) -> None:
    """A money key's confirmation is answered No (Escape), as a trader who changed
    their mind would, and the bench waits for the dashboard to be back (not timed)."""
    from textual import events

    from .screens import ConfirmScreen

    if not isinstance(app.screen, ConfirmScreen):
        return
    event = events.Key("escape", "\x1b")
    event.set_sender(app)
    driver.send_message(event)
    deadline = time.perf_counter() + KEY_TIMEOUT_S
    while isinstance(app.screen, ConfirmScreen) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


async def _key_latency_async(sc: Scenario, seconds: float, size: tuple[int, int], settings_dir: Path) -> dict:
    from textual import events

    from .app import CockpitApp

    engine, config = build_bench_engine(sc)
    await engine.start()
    app = CockpitApp(engine, config, settings_path=settings_dir / f"ui-{sc.name}.json")
    app.freeze_startup_heap = True  # as run_app does
    samples: dict[str, list[float]] = {}
    timeouts = 0
    timed_out: dict[str, int] = {}  # by key
    rng = random.Random(7)
    try:
        async with app.run_test(size=size) as pilot:
            tap = FrameTap(app)
            await asyncio.sleep(KEY_WARMUP_S)
            driver = app._driver
            probes = _key_probes(app, engine, tap, list(config.app.symbols))
            t_start = time.perf_counter()
            e0, f0, b0, a0 = engine.feed.emitted, tap.frames, tap.bytes, app.applied_count
            while time.perf_counter() - t_start < seconds:
                key, ready, marker = next(probes)
                tap.arm(ready, marker)
                char = " " if key == "space" else key
                event = events.Key(key, char)
                event.set_sender(app)
                t0 = time.perf_counter()
                driver.send_message(event)
                try:
                    await asyncio.wait_for(tap.done.wait(), KEY_TIMEOUT_S)
                    samples.setdefault(SAMPLE_NAMES.get(key, "digit"), []).append((tap.hit_at - t0) * 1e3)
                except asyncio.TimeoutError:
                    timeouts += 1
                    timed_out[SAMPLE_NAMES.get(key, "digit")] = timed_out.get(SAMPLE_NAMES.get(key, "digit"), 0) + 1
                tap.probe = None
                await _close_dialog(app, driver)
                # a trader's next key comes later; a random gap so presses do not phase-lock to the refresh timer
                await asyncio.sleep(rng.uniform(0.02, 0.08))
            elapsed = time.perf_counter() - t_start
            trades = engine.feed.emitted - e0
            frames, nbytes, applied = tap.frames - f0, tap.bytes - b0, app.applied_count - a0
            await pilot.pause()
    finally:
        await engine.stop()
    all_ms = [x for v in samples.values() for x in v]
    out = {
        "samples": len(all_ms),
        "timeouts": timeouts,
        "p50_ms": _pct(all_ms, 50),
        "p99_ms": _pct(all_ms, 99),
        "max_ms": max(all_ms) if all_ms else float("nan"),
        "trades_per_s": trades / elapsed,
        "feed_laps": engine.feed.lap + 1,
        "frames_per_s": frames / elapsed,
        "snapshots_applied_per_s": applied / elapsed,
        "headless_render_kb_per_s": nbytes / elapsed / 1000,
        "color_system": str(tap.console.color_system),
    }
    for key, v in sorted(samples.items()):
        out[f"{key}_p50_ms"] = _pct(v, 50)
        out[f"{key}_p99_ms"] = _pct(v, 99)
    for key, n in sorted(timed_out.items()):
        out[f"{key}_timeouts"] = n
    return out


def key_latency(scenario: str, seconds: float, size: tuple[int, int] = (120, 40)) -> dict:
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-ui-") as d:
        return asyncio.run(_key_latency_async(SCENARIOS[scenario], seconds, size, Path(d)))


async def _repaint_profile_async(sc: Scenario, seconds: float, size: tuple[int, int], settings_dir: Path) -> dict:
    from .app import CockpitApp

    engine, config = build_bench_engine(sc)
    await engine.start()
    app = CockpitApp(engine, config, settings_path=settings_dir / f"ui-{sc.name}.json")
    try:
        async with app.run_test(size=size) as pilot:
            await asyncio.sleep(KEY_WARMUP_S)
            tap = FrameTap(app, by_widget=True)
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            elapsed = time.perf_counter() - t0
            by_widget = dict(tap.by_widget or {})
            total = tap.bytes
            await pilot.pause()
    finally:
        await engine.stop()
    return {"kb_per_s": total / elapsed / 1000,
            "widgets": {k: v / elapsed / 1000 for k, v in sorted(by_widget.items(), key=lambda kv: -kv[1])}}


def repaint_profile(scenario: str, seconds: float, size: tuple[int, int] = (120, 40)) -> dict:
    """Which widgets the terminal bytes go to (headless, no keys pressed): KB/s
    per widget, rendered for an xterm-256color terminal."""
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-ui-") as d:
        return asyncio.run(_repaint_profile_async(SCENARIOS[scenario], seconds, size, Path(d)))


# --------------------------------------------------------------------------- bytes over a pty


def _serve(scenario: str, stats_path: str, settings_path: str) -> None:
    """Child process: ``run_app`` (what `cockpit run` runs) on this process's
    terminal, the engine on a looped feed. A thread writes the engine's
    consumed-trade count to ``stats_path`` twice a second."""
    import threading

    from .app import run_app

    engine, config = build_bench_engine(SCENARIOS[scenario])

    def report() -> None:
        while True:
            with open(stats_path, "a") as f:
                f.write(json.dumps({"t": time.time(), "emitted": engine.feed.emitted}) + "\n")
            time.sleep(0.5)

    threading.Thread(target=report, name="bench-stats", daemon=True).start()
    run_app(engine, config, settings_path=Path(settings_path))


def pty_bytes(scenario: str, size: tuple[int, int], seconds: float, warmup: float = PTY_WARMUP_S) -> dict:
    """Run the app in a child on a pty of ``size`` and count what it writes."""
    import fcntl
    import pty
    import termios

    cols, rows = size
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-pty-") as d:
        stats = Path(d) / "stats.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "COLORTERM", "COCKPIT_"))}
        env.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows), XDG_DATA_HOME=d, XDG_CONFIG_HOME=d,
                   PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
        cmd = [sys.executable, "-m", "cockpit.bench_ui", "serve", scenario, str(stats), str(Path(d) / "ui.json")]
        # Textual's driver writes the screen to stderr; all three go to the terminal
        proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=d, env=env, start_new_session=True)
        os.close(slave)
        chunks: list[tuple[float, int]] = []
        first: Optional[float] = None
        tail = b""  # the last output, for the error message if the app dies
        try:
            deadline = time.monotonic() + 60.0  # start-up must not hang the bench
            while True:
                now = time.monotonic()
                if first is not None and now >= first + warmup + seconds:
                    break
                if first is None and now > deadline:
                    raise RuntimeError(f"{scenario}: the app wrote nothing within 60 s")
                if proc.poll() is not None:
                    raise RuntimeError(f"{scenario}: the app exited with status {proc.returncode}: "
                                       + ANSI.sub("", tail.decode("utf-8", "replace"))[-2000:])
                r, _, _ = select.select([master], [], [], 0.05)
                if r:
                    try:
                        data = os.read(master, 1 << 16)
                    except OSError:
                        break
                    t = time.monotonic()
                    if first is None:
                        first = t
                    chunks.append((t, len(data)))
                    tail = (tail + data)[-8192:]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(master)
        lines = [json.loads(x) for x in stats.read_text().splitlines() if x.strip()] if stats.exists() else []
    assert first is not None
    t0, t1 = first + warmup, first + warmup + seconds
    window = [n for t, n in chunks if t0 <= t < t1]
    per_s: dict[int, int] = {}
    for t, n in chunks:
        if t0 <= t < t1:
            per_s[int(t - t0)] = per_s.get(int(t - t0), 0) + n
    total = sum(window)
    # trades consumed by the child's engine across the window (its wall clock, same machine)
    wall0 = time.time() - (time.monotonic() - t0)
    inside = [x for x in lines if x["t"] >= wall0]
    trades_per_s = ((inside[-1]["emitted"] - inside[0]["emitted"]) / (inside[-1]["t"] - inside[0]["t"])
                    if len(inside) >= 2 and inside[-1]["t"] > inside[0]["t"] else float("nan"))
    return {
        "kb_per_s": total / seconds / 1000,
        "peak_1s_kb": max(per_s.values()) / 1000 if per_s else 0.0,
        "startup_kb": sum(n for t, n in chunks if t < t0) / 1000,
        "trades_per_s": trades_per_s,
    }


# --------------------------------------------------------------------------- the command


def bench_ui(seconds: float = 20.0, *, sizes=DEFAULT_SIZES, pty_scenarios=PTY_SCENARIOS,
             key_scenarios=KEY_SCENARIOS, pty_warmup: float = PTY_WARMUP_S) -> dict:
    """Key-to-effect latency per key scenario (120x40, headless) and terminal
    bytes per pty scenario and size; a flat dict of numbers and strings."""
    from engine.config import load_config

    out: dict[str, Any] = {
        "seconds": float(seconds),
        "refresh_hz": float(load_config(None, env={}).ui.refresh_hz),
        "replay_file": DATA_FILE.name,
    }
    for name in key_scenarios:
        r = key_latency(name, seconds)
        for k, v in r.items():
            out[f"keys_{name}_{k}"] = v
    for name in pty_scenarios:
        for w, h in sizes:
            r = pty_bytes(name, (w, h), seconds, warmup=pty_warmup)
            for k, v in r.items():
                out[f"pty_{name}_{w}x{h}_{k}"] = v
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "serve":
        _serve(argv[1], argv[2], argv[3])
        return 0
    print("usage: python -m cockpit.bench_ui serve SCENARIO STATS_PATH SETTINGS_PATH "
          "(the child of `cockpit bench ui`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
