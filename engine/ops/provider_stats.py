"""Requests to the data vendor and the broker, counted per endpoint kind.

The HTTP clients are made deep inside the brokers, feeds and importers (three
libraries: alpaca-py over requests, polygon-api-client over urllib3), so the
count is kept where every request passes: the transport each client is given
(``engine.live.rest.harden_client`` for Alpaca, ``feeds.polygon.make_rest_client``
for Polygon). One process-wide ``PROVIDER_STATS`` holds them; requests run in
executor threads, so it takes a lock.

An endpoint *kind* (orders, bars, quotes, ...) rather than the URL path keeps the
metric's label set small and closed: a path carries symbols and order ids.
"""
from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Optional

# first matching pattern of the URL path wins; the kinds are the labels the metrics use
_KINDS: tuple[tuple[str, re.Pattern], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("options", r"/options/|/v3/snapshot/options"),
    ("quotes", r"/quotes|/nbbo|/last/quote"),
    ("trades", r"/trades|/last/trade"),
    ("bars", r"/bars|/aggs/"),
    ("snapshot", r"/snapshot"),
    ("orders", r"/orders"),
    ("positions", r"/positions"),
    ("account", r"/account"),
    ("clock", r"/clock|/calendar|/marketstatus"),
    ("assets", r"/assets|/reference/"),
))
ENDPOINT_KINDS: tuple[str, ...] = tuple(k for k, _ in _KINDS) + ("other",)


def endpoint_kind(path: str) -> str:
    """The kind of a request path: "/v2/stocks/AAPL/bars" -> "bars"."""
    for kind, pattern in _KINDS:
        if pattern.search(path):
            return kind
    return "other"


@dataclass(frozen=True)
class ProviderCount:
    provider: str  # "alpaca" (trading API) | "alpaca_data" (market data API) | "polygon"
    endpoint: str  # an ENDPOINT_KINDS value
    requests: int
    errors: int  # HTTP >= 400 or no answer
    rate_limited: int  # HTTP 429


class ProviderStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._errors: Counter[tuple[str, str]] = Counter()
        self._limited: Counter[tuple[str, str]] = Counter()

    def record(self, provider: str, path: str, status: Optional[int]) -> None:
        """One request sent; ``status`` None = no answer (timeout, connection refused)."""
        key = (provider, endpoint_kind(path))
        with self._lock:
            self._requests[key] += 1
            if status is None or status >= 400:
                self._errors[key] += 1
            if status == 429:
                self._limited[key] += 1

    def counts(self) -> list[ProviderCount]:
        with self._lock:
            return [ProviderCount(p, e, n, self._errors[(p, e)], self._limited[(p, e)])
                    for (p, e), n in sorted(self._requests.items())]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._errors.clear()
            self._limited.clear()


PROVIDER_STATS = ProviderStats()
