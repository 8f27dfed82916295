"""The ways out with nobody to ask: SIGTERM, SIGHUP (the terminal closed, the SSH
link dropped) and SIGINT sent by another process.

A careful trader expects the same thing from each: nothing is flattened behind
their back (a market order fired because a link dropped is a loss taken blind),
positions and orders stay where they are (with a real broker the bracket's stop
and target legs keep protecting each position; nothing in the cockpit manages
exits any more), and the record says so. The run stops like a normal quit: the
feed stops, the engine journals "exited on SIGHUP with N position(s) and M
order(s) open", the store is flushed and closed, and the process exits with
128 + the signal's number (129 SIGHUP, 130 SIGINT, 143 SIGTERM), so whoever
started it can tell it was stopped. A second signal while stopping is ignored:
the store's flush is not cut short.
"""
from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Callable, Iterator, Optional

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)
WHY = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    WHY[signal.SIGHUP] = "terminal hung up"


def exit_status(signal_name: Optional[str]) -> int:
    """128 + the signal's number (the shell's convention for 'stopped by a
    signal'), 0 for a run that was not stopped by one."""
    return 128 + signal.Signals[signal_name].value if signal_name else 0


class StopRequest:
    """Set once by the first stop signal; read by whoever runs the engine."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.event = asyncio.Event()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def reason(self) -> str:
        """For the journal line: 'on SIGHUP (terminal hung up)'."""
        return f"on {self.name} ({WHY.get(self.signum, 'signal')})" if self.signum is not None else ""

    @property
    def exit_status(self) -> int:
        return exit_status(self.name or None)

    def set(self, signum: int) -> bool:
        """Record the signal; False when one was already received."""
        if self.signum is not None:
            return False
        self.signum = signum
        self.event.set()
        return True


@contextlib.contextmanager
def stop_signals_handled(on_stop: Optional[Callable[[StopRequest], None]] = None) -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM/SIGHUP set the returned StopRequest (and
    call ``on_stop`` once) instead of killing the process; on leaving it, the
    previous handlers are back. Must be entered on the running event loop."""
    loop = asyncio.get_running_loop()
    request = StopRequest()

    def received(signum: int) -> None:
        if request.set(signum) and on_stop is not None:
            on_stop(request)

    installed = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, received, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / not POSIX
            continue
        installed.append(signum)
    try:
        yield request
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
