"""What the UI is told: a version number it polls and listeners it registers.

The version moves on every change a snapshot would show; listeners are called
when something a trader must see happens now (a new pending signal, a fill, a
rejection), so the screen can redraw before its next poll. A command that
causes several changes at once (an approval: the decision, then the broker's
events for the entry and its legs) runs inside ``batch()`` and the listeners
hear of it once, when it is complete.
"""
from __future__ import annotations

from typing import Callable


class Notifier:
    def __init__(self) -> None:
        self.version = 0
        self._listeners: list[Callable[[], None]] = []
        self._depth = 0
        self._held = False
        self._batch = _Batch(self)

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
            for callback in self._listeners:
                callback()

    def batch(self) -> "_Batch":
        """Notifications inside are held and given once, at the end (a context
        manager; a plain object rather than a generator: every order sent opens one)."""
        return self._batch

    def _fire(self) -> None:
        for callback in self._listeners:
            callback()


class _Batch:
    """``Notifier.batch()``: entered, notifications are held (nested batches count);
    left, even by an exception, the outermost gives them once."""

    __slots__ = ("_notifier",)

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def __enter__(self) -> None:
        self._notifier._depth += 1

    def __exit__(self, *exc_info) -> None:
        n = self._notifier
        n._depth -= 1
        if not n._depth and n._held:
            n._held = False
            n._fire()
