"""The cyclic garbage collector paused for a span of backtest work.

A backtest run, a sweep task and the Engine's check of a sweep's top results
allocate millions of short-lived records and keep large graphs alive (a
recording holds a snapshot per bar) with no reference cycles that must go
before the span ends: collections there are pure cost. Recording a symbol-year
of analytics with the collector on spends a quarter of its time in it (the
young generations are scanned again and again as the recording grows).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it after only if it was on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
