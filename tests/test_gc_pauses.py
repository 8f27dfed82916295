"""What keeps the cyclic garbage collector's full walks short while the engine
runs flat out: rendered lines that are not reference cycles (strip_cycles.py),
the heap frozen after each full collection (heap.py), and scrolling panes that
grow without a whole-screen layout (widgets/base.ContainedScroll)."""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys

from rich.segment import Segment
from textual.screen import Screen
from textual.strip import Strip

from cockpit import strip_cycles
from cockpit.heap import GEN0_THRESHOLD, HeapKeeper
from engine.model import JournalEntry
from tests.ui_fixtures import T0, FixedEngine, fixed_app


def test_a_strip_cropped_or_divided_to_itself_is_not_a_cycle():
    strip_cycles.install()
    strip = Strip([Segment("hello "), Segment("world")])
    refs = sys.getrefcount(strip)
    assert strip.crop_extend(0, strip.cell_length, None) is strip
    assert strip.divide([strip.cell_length]) == [strip]
    assert sys.getrefcount(strip) == refs  # no cache of its own holds it: it dies by reference counting
    assert strip.crop_extend(0, 20, None).cell_length == 20  # the other cases as before
    assert [s.cell_length for s in strip.divide([5, 11])] == [5, 6]


async def test_the_heap_is_frozen_again_after_each_full_collection_and_reclaimed_when_quiet():
    loop = asyncio.get_running_loop()
    keeper = HeapKeeper(loop, lambda: 0.0)
    before = gc.get_threshold()
    try:
        keeper.start()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        gc.collect(2)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert keeper.refreezes == 1
        assert not keeper.reclaim_if_due()  # not yet due
        keeper.last_reclaim -= 3600
        assert keeper.reclaim_if_due() and keeper.reclaims == 1
    finally:
        keeper.stop()
        gc.unfreeze()
    assert keeper._on_gc not in gc.callbacks
    assert gc.get_threshold() == before  # the young-collection threshold is given back


async def test_the_log_grows_and_scrolls_without_laying_out_the_screen(tmp_path, monkeypatch):
    layouts = []
    orig = Screen._refresh_layout

    def counting(self, *a, **k):
        layouts.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(Screen, "_refresh_layout", counting)
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        log = app.query_one("#log-view")
        layouts.clear()
        journal = engine.snapshot().journal
        for batch in range(25):  # (8 a poll: a larger batch is written a screenful at a time)
            journal = journal + tuple(JournalEntry(T0 + batch * 10**9 + i, "info", "test", f"line {batch}.{i}", None)
                                      for i in range(8))
            engine.publish(dataclasses.replace(engine.snapshot(), journal=journal))
            app.refresh_from_engine(force=True)
            await pilot.pause()
        assert log.virtual_size.height >= 200
        assert log.show_vertical_scrollbar and log.scroll_y == log.max_scroll_y  # scrolled to the newest line
        assert len(layouts) <= 3, len(layouts)  # (the scrollbar appearing is one)


def test_no_collection_inside_a_keys_wait_and_collections_back_after_it(monkeypatch):
    """A key holds the collector off until its frame is drawn (cockpit/heap.py), and
    never longer than HOLD_MAX_S."""
    import cockpit.heap as heap

    keeper = HeapKeeper(asyncio.new_event_loop(), lambda: 0.0)
    try:
        keeper.hold()
        assert not gc.isenabled()
        keeper.release()
        assert gc.isenabled()
        keeper.hold()
        keeper.release_if_overdue()
        assert not gc.isenabled()  # not overdue yet
        monkeypatch.setattr(heap, "HOLD_MAX_S", -1.0)
        keeper.hold()
        keeper.release_if_overdue()
        assert gc.isenabled()
    finally:
        keeper.release()
        gc.enable()


async def test_a_key_press_holds_the_collector_until_its_frame(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    seen = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.heap = HeapKeeper(asyncio.get_running_loop(), lambda: 0.0)  # (run_app makes one)
        engine.pause_entries = lambda: seen.append(gc.isenabled())
        await pilot.press("space")
        await pilot.pause()
        await pilot.pause()
        assert seen == [False]  # inside the key's action: no collection
        assert gc.isenabled()  # after its frame: collections again
    gc.enable()


def test_what_a_keys_turn_made_is_frozen_when_it_ends_not_walked_behind_its_frame():
    """The young generation grew for the whole key (collections were off): when it
    holds more than a young collection's worth at the end of the turn it is frozen,
    not left for a collection that would walk all of it right where the trader's next
    key comes (cockpit/heap.py release)."""
    loop = asyncio.new_event_loop()
    keeper = HeapKeeper(loop, lambda: 0.0)
    before = gc.get_threshold()
    gc.collect()
    try:
        gc.set_threshold(1000, *before[1:])
        frozen = gc.get_freeze_count()
        keeper.hold()
        small = [[i] for i in range(100)]  # a key that made little: left to the next young collection
        keeper.release()
        assert gc.isenabled() and gc.get_freeze_count() == frozen and keeper.turn_freezes == 0
        keeper.hold()
        made = [[i] for i in range(5000)]  # more than a young collection's worth (tracked objects)
        keeper.release()
        assert gc.isenabled() and keeper.turn_freezes == 1
        assert gc.get_freeze_count() >= frozen + len(made) + len(small)
        assert gc.get_count()[0] < len(made)  # the young generation starts again empty
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
        gc.enable()
        loop.close()
