"""Hooks for alpaca-py's websocket streams: a guard that counts and skips
malformed frames, and the reconnect wait on our own backoff.

Why the guard: alpaca-py decodes each frame inside its consume loop; an
undecodable frame raises there and is only logged, invisible to us (and the
rest of the frame is lost). Wrapping the connection's ``recv`` lets the
adapters count such frames (the feeds journal them, the engine counts them as
malformed) and hand alpaca-py only frames it can decode and dispatch. Any
exception while checking a frame makes it malformed, RecursionError included
(a frame of 5,000 ``[``). Everything else is delegated to the real connection.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Optional

import msgpack


def decodes_as_msgpack_list(frame: Any) -> bool:
    """A data-stream frame alpaca-py can dispatch: a msgpack array of maps, each
    with a string type ``T`` (it calls ``msg.get("T")`` and looks the type up)."""
    if not isinstance(frame, (bytes, bytearray)):
        return False
    msgs = msgpack.unpackb(frame)
    return isinstance(msgs, list) and all(isinstance(m, dict) and isinstance(m.get("T"), str) for m in msgs)


def decodes_as_json_object(frame: Any) -> bool:
    return isinstance(json.loads(frame), dict)


class FrameGuard:
    def __init__(self, ws: Any, is_valid: Callable[[Any], bool], on_malformed: Callable[[Any], None],
                 on_frame: Callable[[], None] | None = None) -> None:
        self._ws = ws
        self._is_valid = is_valid
        self._on_malformed = on_malformed
        self._on_frame = on_frame

    async def recv(self) -> Any:
        while True:
            frame = await self._ws.recv()
            if self._on_frame is not None:
                self._on_frame()
            try:
                ok = self._is_valid(frame)
            except Exception:  # (RecursionError too: it is a RuntimeError)
                ok = False
            if ok:
                return frame
            self._on_malformed(frame)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


async def wait_unless_stopped(stop: Optional[asyncio.Event], delay_s: float) -> None:
    """The reconnect wait of an alpaca-py stream: ``delay_s`` seconds (our
    backoff's delay), cut short when the stream is stopped."""
    if stop is None or stop.is_set():
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    except asyncio.TimeoutError:
        pass
