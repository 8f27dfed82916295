"""The process-wide provider plumbing, set from ``[providers]`` once a config
is known: the look-up TTLs (engine/ops/cache.py) and the rate limits
(engine/ops/rate_limit.py). The factory calls ``configure`` when it builds a
feed or a broker; until then the defaults apply."""
from __future__ import annotations

from ..config import ProvidersConfig
from .cache import LOOKUPS
from .rate_limit import RATE_LIMITS

NS_PER_MIN = 60_000_000_000


def configure(providers: ProvidersConfig) -> None:
    LOOKUPS.configure(providers.ttls_s())
    RATE_LIMITS.configure(providers.rate_limits)


def bars_closed(end_ns: int, now_ns: int) -> bool:
    """Whether every minute bar up to ``end_ns`` has closed (only those are cached:
    a bar still open would be kept half-made)."""
    return end_ns + NS_PER_MIN <= now_ns
