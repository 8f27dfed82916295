"""One repaint request per widget while a theme switch restyles the whole screen.

Textual's restyle sets each changed style property on each widget, and every set
asks that widget to refresh: about 1,500 refresh calls for one press of the theme
key (46 widgets, ~30 colours each: text, background, four border sides, scrollbar
parts...), each working out the widget's region and queueing an idle check. A
refresh only marks the widget for the next frame, so one per widget, with the
union of what was asked (repaint, layout), ends in the same frame; the other
~1,450 were CPU a loaded machine spent inside the trader's wait (`cockpit bench
ui`, the theme key on sim5-max).

Only plain requests are merged (no regions, no recompose); those go through at
once. Synchronous code only: the merged requests are made when the block ends.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from textual.widget import Widget


@contextmanager
def refreshes_coalesced() -> Iterator[None]:
    original = Widget.refresh
    asked: dict[Widget, tuple[bool, bool]] = {}  # widget -> (repaint, layout), in order of first ask

    def merged(self: Widget, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        if regions or recompose:
            return original(self, *regions, repaint=repaint, layout=layout, recompose=recompose)
        was = asked.get(self, (False, False))
        asked[self] = (was[0] or repaint, was[1] or layout)
        return self

    Widget.refresh = merged  # type: ignore[method-assign]
    try:
        yield
    finally:
        Widget.refresh = original  # type: ignore[method-assign]
        for widget, (repaint, layout) in asked.items():
            widget.refresh(repaint=repaint, layout=layout)
