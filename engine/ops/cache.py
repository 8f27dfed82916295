"""Provider look-ups kept for a while: a TTL cache per kind, with hit counts.

A quote is good for seconds, a minute bar that closed never changes, an option
chain moves slowly: asking the vendor again inside those times only spends the
rate limit. ``LookupCache`` keeps one ``cachetools.TTLCache`` per kind
(``[cache]`` in cockpit.toml: quotes 5 s, option chains 60 s, bars 300 s) and
counts hits and misses into the process-wide ``CACHE_STATS``, which
``cockpit doctor`` and the metrics endpoint show. The clock is the cache's
timer, so tests move time by hand instead of sleeping.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, Optional, TypeVar

from cachetools import TTLCache

T = TypeVar("T")
DEFAULT_TTLS_S = {"quotes": 5.0, "option_chains": 60.0, "bars": 300.0}
MAX_ENTRIES = 4096  # per kind; the least recently used go first beyond it


@dataclass(frozen=True)
class CacheCount:
    kind: str
    hits: int
    misses: int

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CacheStats:
    """Hits and misses per kind across every cache of the process (thread-safe:
    look-ups run in executor threads too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._misses: Counter[str] = Counter()

    def hit(self, kind: str) -> None:
        with self._lock:
            self._hits[kind] += 1

    def miss(self, kind: str) -> None:
        with self._lock:
            self._misses[kind] += 1

    def counts(self) -> list[CacheCount]:
        with self._lock:
            kinds = sorted(set(self._hits) | set(self._misses))
            return [CacheCount(k, self._hits[k], self._misses[k]) for k in kinds]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._misses.clear()


CACHE_STATS = CacheStats()


class LookupCache:
    """One TTL cache per kind. ``ttls_s`` maps a kind to seconds (0 = not cached)."""

    def __init__(self, ttls_s: Optional[dict[str, float]] = None, stats: CacheStats = CACHE_STATS,
                 timer: Callable[[], float] = time.monotonic, maxsize: int = MAX_ENTRIES) -> None:
        self.ttls_s = dict(DEFAULT_TTLS_S if ttls_s is None else ttls_s)
        self.stats = stats
        self._lock = threading.Lock()
        self._maxsize, self._timer = maxsize, timer
        self._caches = {kind: TTLCache(maxsize, ttl, timer=timer) for kind, ttl in self.ttls_s.items() if ttl > 0}

    def configure(self, ttls_s: dict[str, float]) -> None:
        """New TTLs (``[providers]``): what was kept is dropped; the same TTLs change nothing."""
        with self._lock:
            if dict(ttls_s) == self.ttls_s:
                return
            self.ttls_s = dict(ttls_s)
            self._caches = {kind: TTLCache(self._maxsize, ttl, timer=self._timer)
                            for kind, ttl in self.ttls_s.items() if ttl > 0}

    def clear(self) -> None:
        """Forget every kept answer (the TTLs stay)."""
        with self._lock:
            for cache in self._caches.values():
                cache.clear()

    def _lookup(self, kind: str, key: Hashable) -> tuple[bool, object]:
        cache = self._caches.get(kind)
        if cache is None:
            self.stats.miss(kind)
            return False, None
        with self._lock:
            try:
                value = cache[key]
            except KeyError:
                self.stats.miss(kind)
                return False, None
        self.stats.hit(kind)
        return True, value

    def _keep(self, kind: str, key: Hashable, value: object) -> None:
        cache = self._caches.get(kind)
        if cache is not None:
            with self._lock:
                cache[key] = value

    def get(self, kind: str, key: Hashable, fetch: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``fetch()`` kept for the kind's TTL.
        A fetch that raises keeps nothing (the next look-up asks again)."""
        found, value = self._lookup(kind, key)
        if found:
            return value  # type: ignore[return-value]
        value = fetch()
        self._keep(kind, key, value)
        return value

    async def aget(self, kind: str, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """``get`` for a coroutine fetch."""
        found, value = self._lookup(kind, key)
        if found:
            return value  # type: ignore[return-value]
        value = await fetch()
        self._keep(kind, key, value)
        return value


LOOKUPS = LookupCache()  # the process' provider look-ups (configured from [providers] by engine.ops.providers)
