"""Keeping Python's cyclic garbage collector out of a trader's way.

A full (generation 2) collection walks every object the collector tracks. With
the engine running flat out that was every second or two, 50-80 ms of CPU each
(100-360 ms on the loaded 2-core bench machine, `cockpit bench ui` sim5-max),
and no key is handled meanwhile. Most of what it walked was alive and stayed
alive (the engine's state, Textual's caches). So what survives is moved out of
the collector's reach (``gc.freeze``): after start-up, and again after each full
collection (once the young garbage is collected), so the next full collection
walks only what is newer than the last one.

Objects still die by reference counting as before. What a frozen object can no
longer do is be collected as part of a garbage *cycle* (a closed toast, the style
nodes a theme switch replaces; rendered lines no longer form cycles, see
strip_cycles.py). Those are reclaimed by an unfreeze and a full collection every
RECLAIM_S, when no key has been pressed for QUIET_S.

Measured (sim5-max, load ~7 on 2 cores): full collections during a 12 s key run
went from ~10 (45-110k objects walked, 50-250 ms each) to none after start-up.

No collection at all during a trader's key (``hold`` / ``release``, from the key's
arrival to the frame that shows its effect, at most HOLD_MAX_S): the theme key
allocates a new style for every widget and met a generation-1 collection in most
presses (40-66 ms of CPU inside the key's wait on the loaded bench machine). What
the key's turn made is frozen with the rest when it ends (``release``), not walked
by a collection right after the frame, where the next key would wait.
"""
from __future__ import annotations

import asyncio
import gc
import time
from typing import Callable

RECLAIM_S = 600.0
QUIET_S = 2.0
# Young collections less often (default 700 allocations): most of a busy loop's
# objects die by reference counting before the next one, so far fewer are promoted
# to the older generations only to be walked again there.
GEN0_THRESHOLD = 10_000
# A key's hold on the collector ends with its frame; never later than this (a key
# whose action draws nothing still gets its collections back).
HOLD_MAX_S = 1.0


class HeapKeeper:
    def __init__(self, loop: asyncio.AbstractEventLoop, last_key_at: Callable[[], float]) -> None:
        self._loop = loop
        self._last_key_at = last_key_at
        self.last_reclaim = time.monotonic()
        self.refreezes = 0
        self.turn_freezes = 0  # key turns whose young objects were frozen at release
        self.reclaims = 0
        self._pending = False
        self._thresholds = None
        self._held_until = 0.0  # monotonic: collections off until then, or until release()

    def start(self) -> None:
        """Freeze start-up's heap (modules, CSS, widgets, the engine's warm-up) and
        refreeze after every full collection from now on."""
        gc.collect()
        gc.freeze()
        self._thresholds = gc.get_threshold()
        gc.set_threshold(GEN0_THRESHOLD, *self._thresholds[1:])
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def hold(self) -> None:
        """A key is being handled: no collection until ``release`` (its frame is drawn)."""
        self._held_until = time.monotonic() + HOLD_MAX_S
        gc.disable()

    def release(self) -> None:
        """The key's frame is drawn: collections on again. When the key made more than
        a young collection's worth (the theme key restyles every widget), that is
        frozen first (it leaves the collector's generations, as after a full
        collection): the collection that met it right after the frame walked all of
        it, 40-350 ms under load, where the trader's next key waited (`cockpit bench
        ui`, a digit right after t). Its cycles, if any, are collected at the next
        reclaim, like the rest of the frozen heap. A key that made less (most) leaves
        it to the next young collection, which also collects its cycles."""
        if self._held_until:
            self._held_until = 0.0
            if gc.get_count()[0] >= gc.get_threshold()[0]:
                gc.freeze()
                self.turn_freezes += 1
            gc.enable()

    def release_if_overdue(self) -> None:
        if self._held_until and time.monotonic() > self._held_until:
            self.release()

    def stop(self) -> None:
        self.release()
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        # (inside a collection, possibly on another thread: only schedule)
        if phase == "stop" and info.get("generation") == 2 and not self._pending and not self._loop.is_closed():
            self._pending = True
            self._loop.call_soon_threadsafe(self.refreeze)

    def refreeze(self) -> None:
        """What survived the full collection leaves the collector's generations (the
        young garbage made since is collected first)."""
        self._pending = False
        gc.collect(1)
        gc.freeze()
        self.refreezes += 1

    def reclaim_if_due(self) -> bool:
        """Every RECLAIM_S, when the trader has not pressed a key for QUIET_S: the
        cycles that died frozen are collected (one full walk of the heap)."""
        now = time.monotonic()
        if now - self.last_reclaim < RECLAIM_S or now - self._last_key_at() < QUIET_S:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.last_reclaim = now
        self.reclaims += 1
        return True
