"""Textual's rendered lines (``textual.strip.Strip``) without self-references.

Two of Strip's memo caches store the strip itself when the operation changes
nothing: ``crop_extend(0, len)`` and ``divide([len])`` (the compositor does both
for nearly every line of every frame). A strip that holds itself is a reference
cycle: it cannot die by reference counting, only by the cyclic garbage collector,
so every frame left thousands of them for it. With the engine running flat out
that was a full collection every second or two, 50-80 ms of CPU (100-360 ms on the
loaded bench machine) during which no key is handled (`cockpit bench ui`).

``install()`` returns ``self`` for those two cases before the cache is consulted,
which is what the cached answer was: the output is the same, the cycle is gone.
Idempotent; a Textual without these methods is left alone.
"""
from __future__ import annotations

from textual.strip import Strip

_installed = False


def install() -> None:
    global _installed
    if _installed or not (hasattr(Strip, "crop_extend") and hasattr(Strip, "divide")):
        return
    crop_extend, divide = Strip.crop_extend, Strip.divide

    def crop_extend_no_cycle(self: Strip, start: int, end: int, style=None) -> Strip:
        if start <= 0 and end == self.cell_length:
            return self
        return crop_extend(self, start, end, style)

    def divide_no_cycle(self: Strip, cuts):
        cuts = [cut for cut in cuts if cut <= self.cell_length]
        if cuts == [self.cell_length]:
            return [self]
        return divide(self, cuts)

    crop_extend_no_cycle.__doc__, divide_no_cycle.__doc__ = crop_extend.__doc__, divide.__doc__
    Strip.crop_extend, Strip.divide = crop_extend_no_cycle, divide_no_cycle
    _installed = True
