"""What a feed skipped, as journal entries: one per item up to a cap, then one for the rest.

A feed that drops data (a replay file's malformed rows, a live stream's bad
frames or messages) reports each drop here; ``drain()`` turns what was reported
since the last call into ``JournalEntry`` objects of kind ``"malformed"``, which
the feed hands out from ``Feed.drain_notices()``. Each entry says in
``data["count"]`` how many skipped items it stands for (1 for an entry about one
item), and the engine adds that to the run's malformed total, so the journal and
the summary count the same drops. Beyond ``cap`` items per drain, the rest are
summed into one entry, so a storm of bad frames cannot flood the journal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ..model import JournalEntry

MALFORMED = "malformed"


def malformed_count(entry: JournalEntry) -> int:
    """How many skipped items a journal entry stands for (0 for any other kind)."""
    if entry.kind != MALFORMED:
        return 0
    return int((entry.data or {}).get("count", 1))


@dataclass
class SkippedLog:
    """Drops of one source (a file, a stream) waiting to be journaled."""

    source: str  # says where, e.g. "replay of trades.csv", "Polygon stream"
    now_ns: Callable[[], int]  # the time an entry is stamped with
    cap: int = 20  # entries about single items per drain; the rest become one entry
    hint: str = ""  # added to the entry about the rest: where to see every one
    total: int = 0  # every drop reported, ever
    _items: list[tuple[str, Optional[str], Optional[dict]]] = field(default_factory=list)
    _over: int = 0  # drops past the cap since the last drain
    _over_first: str = ""

    def add(self, reason: str, symbol: Optional[str] = None, data: Optional[dict] = None) -> None:
        self.total += 1
        if len(self._items) < self.cap:
            self._items.append((reason, symbol, data))
        else:
            if not self._over:
                self._over_first = reason
            self._over += 1

    def drain(self) -> list[JournalEntry]:
        if not self._items:
            return []
        ts = self.now_ns()
        out = [JournalEntry(ts, "warn", MALFORMED, f"{self.source}: {reason} (skipped)", symbol,
                            {**(data or {}), "count": 1})
               for reason, symbol, data in self._items]
        if self._over:
            out.append(JournalEntry(
                ts, "warn", MALFORMED,
                f"{self.source}: {self._over:,} more skipped (the first: {self._over_first}); "
                f"{self.total:,} skipped in all{'; ' + self.hint if self.hint else ''}", None, {"count": self._over},
            ))
        self._items, self._over, self._over_first = [], 0, ""
        return out
