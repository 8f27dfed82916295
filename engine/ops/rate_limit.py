"""A client-side rate limit per provider and endpoint kind, so 429s are rare
rather than retried.

Every request to Alpaca or Polygon passes the transport that counts it
(engine.ops.provider_stats); there ``RATE_LIMITS.wait(provider, kind, method)``
holds the request until the provider's budget, and the endpoint kind's when one
is set, has room. Those transports run in executor threads, never on the event
loop, so waiting here blocks only that request. A DELETE (cancel an order,
close a position: the flatten path) is never held: it is counted, and if the
server answers 429 the caller's retry honours Retry-After.

The budgets are moving windows (the ``limits`` library) written as "N/second",
"N/minute": ``[providers] rate_limits``, keyed by provider ("alpaca") or provider
and endpoint kind ("polygon.bars"). Alpaca allows 200 requests a minute per
account on its trading API ("alpaca") and 200 on the free market data plan
("alpaca_data"); Polygon's plans differ (the free one 5 a minute), hence the
defaults.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..clock import Clock, WallClock
from .provider_stats import ENDPOINT_KINDS

PROVIDERS = ("alpaca", "alpaca_data", "polygon")  # Alpaca's trading API and its market data API count apart
DEFAULT_RATE_LIMITS = {"alpaca": "190/minute", "alpaca_data": "190/minute", "polygon": "100/second"}
ALPACA_DATA_PATHS = ("/v2/stocks", "/v1beta")  # market data; everything else of Alpaca's is the trading API


def alpaca_provider(path: str) -> str:
    """"alpaca_data" for a market data path, "alpaca" for the trading API: a data
    backfill never spends the budget order submissions need."""
    return "alpaca_data" if path.startswith(ALPACA_DATA_PATHS) else "alpaca"
MAX_WAIT_S = 60.0  # a request never waits longer than this for room (then it goes, and may meet a 429)
NEVER_HELD = {"DELETE"}


def parse_rate_limits(limits: dict[str, str]) -> dict[str, RateLimitItem]:
    """``{"alpaca": "190/minute", "polygon.bars": "5/minute"}`` checked; a ValueError names the bad key."""
    out: dict[str, RateLimitItem] = {}
    for key, text in limits.items():
        provider, _, kind = key.partition(".")
        if provider not in PROVIDERS or (kind and kind not in ENDPOINT_KINDS):
            raise ValueError(f"{key!r} is not a provider or provider.endpoint: allowed: "
                             f"{', '.join(PROVIDERS)}, or one of them and an endpoint kind "
                             f"({', '.join(ENDPOINT_KINDS)}), e.g. 'polygon.bars'")
        try:
            out[key] = parse(str(text))
        except ValueError:
            raise ValueError(f"{key} = {text!r} is not a rate: allowed: 'N/second', 'N/minute' or 'N/hour'") from None
    return out


class RateLimits:
    def __init__(self, limits: Optional[dict[str, str]] = None, *, max_wait_s: float = MAX_WAIT_S,
                 sleep: Callable[[float], None] = time.sleep, clock: Optional[Clock] = None) -> None:
        """``clock``: the time the wait to a window's reset is measured on. It is the wall
        clock (a vendor's budget runs in real seconds, whatever the data time), and it must
        be Unix time, as the ``limits`` library's reset times are."""
        self._lock = threading.Lock()
        self._clock: Clock = clock or WallClock()
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items = parse_rate_limits(DEFAULT_RATE_LIMITS if limits is None else limits)
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self.held = 0  # requests that had to wait for room
        self.held_s = 0.0

    def configure(self, limits: dict[str, str]) -> None:
        """The defaults with ``limits`` on top (``[providers] rate_limits``); the same
        limits again keep their windows (a feed and a broker both configure)."""
        items = parse_rate_limits({**DEFAULT_RATE_LIMITS, **limits})
        with self._lock:
            if items == self._items:
                return
            self._items = items
            self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def reset(self, limits: Optional[dict[str, str]] = None) -> None:
        """Empty windows, with the defaults and ``limits`` on top."""
        items = parse_rate_limits({**DEFAULT_RATE_LIMITS, **(limits or {})})
        with self._lock:
            self._items = items
            self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def _buckets(self, provider: str, kind: str) -> list[tuple[RateLimitItem, str]]:
        items = self._items
        return [(items[k], k) for k in (provider, f"{provider}.{kind}") if k in items]

    def wait(self, provider: str, kind: str, method: str = "GET") -> float:
        """Hold the calling thread until the request fits its budgets; returns the seconds held."""
        if method.upper() in NEVER_HELD:
            return 0.0
        held = 0.0
        while True:
            with self._lock:
                buckets = self._buckets(provider, kind)
                if all(self._limiter.test(item, key) for item, key in buckets):
                    for item, key in buckets:
                        self._limiter.hit(item, key)
                    break
                reset = max(self._limiter.get_window_stats(item, key).reset_time for item, key in buckets
                            if not self._limiter.test(item, key))
            if held >= self.max_wait_s:
                break
            pause = min(max(reset - self._clock.now_ns() / 1e9, 0.01), self.max_wait_s - held)
            self._sleep(pause)
            held += pause
        if held:
            with self._lock:
                self.held += 1
                self.held_s += held
        return held


RATE_LIMITS = RateLimits()
