"""What the UI is told: a version number it polls and listeners it registers.

The version moves on every change a snapshot would show; listeners are called
when something a trader must see happens now (a new pending signal, a fill, a
rejection), so the screen can redraw before its next poll. A command that
causes several changes at once (an approval: the decision, then the broker's
events for the entry and its legs) runs inside ``batch()`` and the listeners
hear of it once, when it is complete.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


class Notifier:
    def __init__(self) -> None:
        self.version = 0
        self._listeners: list[Callable[[], None]] = []
        self._depth = 0
        self._held = False

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def bump(self) -> None:
        """The published state changed; nobody needs to hear of it before the next poll."""
        self.version += 1

    def notify(self) -> None:
        """The published state changed and the trader must see it now."""
        self.version += 1
        if self._depth:
            self._held = True
        else:
            self._fire()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Notifications inside are held and given once, at the end."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._held:
                self._held = False
                self._fire()

    def _fire(self) -> None:
        for callback in self._listeners:
            callback()
