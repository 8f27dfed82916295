"""Pacing of recorded or simulated data: data time / speed, pause and resume.

Both the replay feed and the simulator hand out items whose timestamps are data
time. ``Pacer.wait_for(ts_ns)`` holds an item back until the wall time that
corresponds to it at the current speed, and returns at once at speed 0 (as fast
as possible) while still yielding to the event loop every ``yield_every`` items so
a UI sharing the loop stays responsive. Speed changes and resumes re-anchor the
schedule at the item being waited for, so they take effect immediately and a
pause never turns into a burst of catch-up.

The wall side uses the event loop's monotonic clock: that is pacing, not the
engine's notion of time (the engine's DataClock, which the engine advances from
the items it is handed).
"""
from __future__ import annotations

import asyncio
import time
from typing import Optional

from ..model import FeedStatus
from .base import ControllableFeed

NS = 1_000_000_000
MIN_SLEEP_S = 0.001  # below this an item is just handed out (sleep granularity)


# As fast as possible still hands the event loop back often enough for a key press
# to be seen promptly: after yield_every items, or after MAX_HOLD_S of work
# (checked every CHECK_EVERY items, since reading the clock per item costs too).
MAX_HOLD_S = 0.002
CHECK_EVERY = 32
# While a trader's key is being handled (``Pacer.hold``) an unpaced feed hands out
# nothing, re-checking this often, so the key's effect reaches the screen first.
HOLD_POLL_S = 0.005


class Pacer:
    def __init__(self, speed: float = 1.0, yield_every: int = 512, max_gap_s: Optional[float] = None) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
        self.speed = float(speed)
        self.yield_every = max(1, int(yield_every))
        self.max_gap_s = max_gap_s  # cap on one wait (e.g. overnight gaps in bars)
        self._running = asyncio.Event()
        self._running.set()
        self._changed = asyncio.Event()
        self._anchor_wall: Optional[float] = None
        self._anchor_data = 0
        self._count = 0
        self._held_since = time.perf_counter()
        self.lag_s = 0.0  # how far behind schedule the last item was handed out
        self.stopped = False
        self.fast = False  # hand items out at once until pace_from_here() (a session skipping ahead)
        self._hold_until = 0.0  # perf_counter time: no unpaced item before it (a key goes first)

    # ------------------------------------------------------------------ control

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()
        self._changed.set()

    def resume(self) -> None:
        self._anchor_wall = None  # re-anchor: no burst after a pause
        self._running.set()
        self._changed.set()

    def set_speed(self, factor: float) -> None:
        if factor < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {factor}")
        self.speed = float(factor)
        self._anchor_wall = None
        self._changed.set()

    def stop(self) -> None:
        self.stopped = True
        self._running.set()
        self._changed.set()

    def fast_forward(self) -> None:
        """Hand items out at once (still yielding, still honouring pause) until
        ``pace_from_here``."""
        self.fast = True

    def pace_from_here(self) -> None:
        """Pace again from the next item, at the current speed, with no catch-up."""
        if self.fast:
            self.fast = False
            self._anchor_wall = None

    def hold(self, seconds: float) -> None:
        """Let a UI sharing the loop go first: hand out no item for up to ``seconds``
        (0 ends a hold). Pacing only: the items and their order are unchanged."""
        self._hold_until = time.perf_counter() + seconds if seconds > 0 else 0.0

    async def _yield(self) -> None:
        """Hand the event loop back (every yield_every items or MAX_HOLD_S of work),
        and for as long as a hold lasts."""
        await asyncio.sleep(0)
        while self._hold_until and not self.stopped:
            if time.perf_counter() >= self._hold_until:
                self._hold_until = 0.0
                break
            await asyncio.sleep(HOLD_POLL_S)
        self._held_since = time.perf_counter()

    def reset_anchor(self) -> None:
        """Restart the schedule at the next item (e.g. after a fast-forward)."""
        self._anchor_wall = None

    # ------------------------------------------------------------------ pacing

    async def wait_for(self, ts_ns: int, paced: bool = True, max_wait_s: Optional[float] = None) -> None:
        """Return when the item stamped ``ts_ns`` is due. ``paced=False`` hands it
        out at once (fast-forward) but still honours pause; ``max_wait_s`` caps this
        one wait like ``max_gap_s`` (a simulated overnight passes in seconds)."""
        loop = asyncio.get_running_loop()
        self._count += 1
        while True:
            if self.stopped:
                return
            if not self._running.is_set():
                await self._running.wait()
                continue
            if self.speed == 0 or not paced or self.fast:
                self.lag_s = 0.0
                if self._count % self.yield_every == 0 or (
                    self._count % CHECK_EVERY == 0 and (
                        time.perf_counter() - self._held_since > MAX_HOLD_S or self._hold_until)
                ):
                    await self._yield()
                return
            now = loop.time()
            if self._anchor_wall is None:
                self._anchor_wall = now
                self._anchor_data = ts_ns
            due = self._anchor_wall + (ts_ns - self._anchor_data) / NS / self.speed
            delay = due - now
            cap = self.max_gap_s if max_wait_s is None else (
                max_wait_s if self.max_gap_s is None else min(max_wait_s, self.max_gap_s))
            if cap is not None and delay > cap:
                # compress a long gap: shift the anchor so the wait is the cap
                self._anchor_wall -= delay - cap
                delay = cap
            if delay < MIN_SLEEP_S:
                self.lag_s = max(0.0, -delay)
                if self._count % self.yield_every == 0 or (
                    self._count % CHECK_EVERY == 0 and (
                        time.perf_counter() - self._held_since > MAX_HOLD_S or self._hold_until)
                ):
                    await self._yield()
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            # loop: re-evaluate (paused, speed changed, or simply due now)


class PacedFeed(ControllableFeed):
    """The control and status surface every paced feed shares (ControllableFeed):
    speed, pause and resume go to its Pacer; status() reports from the fields the
    feed keeps (``_pacer``, ``_connected``, ``_done``, ``_last_data_ns``,
    ``_emitted``) plus ``status_message()``."""

    name = "paced"

    def set_speed(self, factor: float) -> None:
        self._pacer.set_speed(factor)

    def pause(self) -> None:
        self._pacer.pause()

    def resume(self) -> None:
        self._pacer.resume()

    def fast_forward(self) -> None:
        self._pacer.fast_forward()

    def pace_from_here(self) -> None:
        self._pacer.pace_from_here()

    def hold_for(self, seconds: float) -> None:
        self._pacer.hold(seconds)

    @property
    def emitted(self) -> int:
        return self._emitted

    def status_message(self) -> str:
        return ""

    def status(self) -> FeedStatus:
        return FeedStatus(
            name=self.name,
            connected=self._connected,
            lag_s=self._pacer.lag_s,
            speed=self._pacer.speed,
            paused=self._pacer.paused,
            message=self.status_message(),
            done=self._done,
            last_data_ns=self._last_data_ns,
        )
