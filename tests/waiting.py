"""Waiting on conditions instead of sleeping a fixed time.

A test that sleeps "long enough" is slow when the machine is fast and flaky when
it is busy; ``wait_for`` returns as soon as the condition holds and fails, naming
what it waited for, only when it never does. The timeout is a guard, never a
measurement.
"""
from __future__ import annotations

import asyncio
from typing import Callable

POLL_S = 0.005


async def wait_for(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Return once ``condition()`` is true, polling on the running loop (so the code
    under test, a stand-in server or a Textual app on the same loop keeps running)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def let_others_run(turns: int = 50) -> None:
    """Hand the loop to every other ready task ``turns`` times, so a test can assert
    that something did NOT happen (a paused feed stayed paused) without a fixed sleep."""
    for _ in range(turns):
        await asyncio.sleep(0)
