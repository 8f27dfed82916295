"""The cyclic garbage collector paused for a span of backtest work.

A backtest (a run, a sweep's runs and the Engine's check of its top results, the whole
`cockpit backtest` command) allocates millions of short-lived objects and keeps large
graphs alive (a recording holds a snapshot per bar) with no reference cycles that must be
freed before it ends, so a collection there is pure cost (6-12% of a year's run; a quarter
of the time of recording a symbol-year of analytics, whose young generations are scanned
again and again as the recording grows)."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    """Collector off inside the block, back as it was after (nested blocks are fine).

    Everything the block allocated and kept would sit in the young generation, and the
    first allocation after the collector comes back would walk all of it (1M tracked
    objects: ~0.15 s). It is handed to the old generation instead:
    ``freeze`` then ``unfreeze`` splices the generations' lists, no walk; a full
    collection still reaches it. (Not when something else holds objects frozen, which
    the unfreeze would let go.)"""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
