"""Shared test wiring for the Alpaca adapters: stand-in servers on 127.0.0.1
and fake (but realistically long) keys that must never show up in any text."""
from __future__ import annotations

import asyncio
from typing import Callable

KEY_ID = "PKSTANDIN7Q2XK4M9ZT1"
SECRET = "sk9Vq3LmT8pWz2RyX6cN4bJh7Fd1Gs5Ka0Ee3Uo8"
T0 = 1_704_207_600_000_000_000  # 2024-01-02 15:00:00 UTC (10:00 ET)


async def until(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
