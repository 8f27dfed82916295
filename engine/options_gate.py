"""The options feedback gate (STRATEGY.md section 14): an entry in a stock whose
options are quiet today, or priced for a big move, is blocked with the figure.

Why it reads a kept reading instead of asking Polygon when a signal comes: the
chain of a busy underlying is dozens of pages, and the risk check runs on the
engine's loop, where nothing may wait on the network (flatten and cancel never
wait behind strategy work). So ``OptionsFeedback.run`` refreshes each symbol's
chain off the loop every ``[providers] option_chains_ttl_s`` (at least
``MIN_REFRESH_S``), through the process' 60 s look-up cache (engine/ops/cache.py,
kind "option_chains"), and the gate reads the last outcome:

* a chain read less than ``max_age_s`` ago: volume today >= options_min_volume
  and ATM IV <= options_max_iv, else blocked (RiskRule.OPTIONS_FEEDBACK) with
  the figure;
* anything else is "options data unavailable" (RiskRule.OPTIONS_DATA): no source
  (no key, a simulated feed), not read yet, the look-up failed (the last one:
  a failure replaces an older good reading), too old, an empty chain, no IV at
  the money. Conservative by default (``options_if_unavailable = "block"``);
  "allow" lets the entry through and says so in the signal's reason.

Each change between available and unavailable is journaled (kind "options");
each block is journaled by the desk with its rule, like every block.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Callable, Optional, Sequence

from .config import RiskConfig
from .ops.cache import LOOKUPS, LookupCache
from .options_chain import ChainSummary, ContractQuote, new_york_date, summarize_chain

MIN_REFRESH_S = 10.0
CACHE_KIND = "option_chains"
UNAVAILABLE = "options data unavailable"
FEEDBACK = "options feedback"

ChainFetch = Callable[[str], Sequence[ContractQuote]]  # blocking: every contract of an underlying's chain


@dataclass(frozen=True)
class OptionsReading:
    """The last look-up of one underlying: its summary, or why there is none."""

    summary: Optional[ChainSummary]
    unavailable: str  # "" when the summary can be judged
    at_s: float  # the feedback's timer when it was read


@dataclass(frozen=True)
class OptionsVerdict:
    allowed: bool
    unavailable: bool  # the data could not be had (blocked or allowed by options_if_unavailable)
    reason: str  # the block's reason ("" when allowed)
    note: str  # the figures, shown in the signal's reason whatever the verdict


class OptionsFeedback:
    def __init__(self, symbols: Sequence[str], fetch: Optional[ChainFetch], *, refresh_s: float = 60.0,
                 no_source: str = "", cache: LookupCache = LOOKUPS,
                 timer: Callable[[], float] = time.monotonic,
                 today: Callable[[], date] = lambda: new_york_date(time.time_ns())) -> None:
        """``fetch`` None: there is no chain to read, for the reason ``no_source``."""
        self.symbols = list(symbols)
        self.fetch = fetch
        self.refresh_s = max(float(refresh_s), MIN_REFRESH_S)
        self.max_age_s = 3 * self.refresh_s  # a refresh may be late; a failed one replaces the reading at once
        self.no_source = no_source or "no options chain source"
        self.cache, self.timer, self.today = cache, timer, today
        self._latest: dict[str, OptionsReading] = {}

    # ------------------------------------------------------------------ look-ups (off the loop)

    def refresh(self, symbol: str) -> OptionsReading:
        """Read ``symbol``'s chain now (the cache answers within its TTL). Blocking."""
        now = self.timer()
        if self.fetch is None:
            reading = OptionsReading(None, self.no_source, now)
        else:
            day = self.today()
            try:
                chain = self.cache.get(CACHE_KIND, (symbol, day.isoformat()), lambda: list(self.fetch(symbol)))
            except Exception as exc:  # the vendor's errors are redacted where they are raised
                reading = OptionsReading(None, f"the {symbol} chain look-up failed: {_error_text(exc)}", now)
            else:
                reading = self._judgeable(symbol, summarize_chain(symbol, chain, day), now)
        self._latest[symbol] = reading
        return reading

    @staticmethod
    def _judgeable(symbol: str, summary: ChainSummary, now: float) -> OptionsReading:
        if summary.contracts == 0:
            return OptionsReading(summary, f"Polygon returned no contracts for {symbol}", now)
        if summary.underlying_price is None:
            return OptionsReading(summary, f"the {symbol} chain carries no underlying price", now)
        if summary.atm_iv is None:
            return OptionsReading(summary, f"no implied volatility at the money in the {symbol} chain", now)
        return OptionsReading(summary, "", now)

    async def run(self, log: Callable[..., None]) -> None:
        """Refresh every symbol's chain every ``refresh_s``, journaling each change
        between available and unavailable through ``log(level, kind, message, symbol)``."""
        import asyncio
        while True:
            for symbol in self.symbols:
                before = self._latest.get(symbol)
                reading = await asyncio.to_thread(self.refresh, symbol)
                if reading.unavailable and (before is None or before.unavailable != reading.unavailable):
                    log("warn", "options", f"{UNAVAILABLE} for {symbol}: {reading.unavailable}", symbol)
                elif not reading.unavailable and (before is None or before.unavailable):
                    log("info", "options", f"{symbol} options chain: {reading.summary.figures()}", symbol)
            await asyncio.sleep(self.refresh_s)

    # ------------------------------------------------------------------ the gate (on the loop: no I/O)

    def reading(self, symbol: str) -> OptionsReading:
        now = self.timer()
        r = self._latest.get(symbol)
        if r is None:
            why = self.no_source if self.fetch is None else f"the {symbol} chain has not been read yet"
            return OptionsReading(None, why, now)
        if not r.unavailable and now - r.at_s > self.max_age_s:
            return OptionsReading(r.summary, f"the {symbol} chain was read {now - r.at_s:.0f} s ago "
                                  f"(kept at most {self.max_age_s:.0f} s)", now)
        return r

    def verdict(self, symbol: str, cfg: RiskConfig) -> OptionsVerdict:
        return verdict_of(self.reading(symbol), symbol, cfg)


NO_ANSWER = (("refused", "connection refused"), ("timed out", "timed out"), ("Name or service", "host not found"),
             ("too many 5", "server errors"), ("too many 429", "rate limited (429)"))
MAX_ERROR_TEXT = 160


def _error_text(exc: BaseException) -> str:
    """A PolygonError with its status word or HTTP status; a transport failure in a few
    words (urllib3's own text is a screenful); anything else by its text, cut short."""
    http = getattr(exc, "http_status", None)
    status = getattr(exc, "status", "") or (f"HTTP {http}" if http else "")
    text = str(exc) or type(exc).__name__
    if status:
        return f"{status}: {text}"
    for marker, words in NO_ANSWER:
        if marker in text:
            return f"no good answer from Polygon ({words})"
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT - 1] + "…"


def verdict_of(reading: OptionsReading, symbol: str, cfg: RiskConfig) -> OptionsVerdict:
    """The gate on one reading, with its figures."""
    if reading.unavailable:
        if cfg.options_if_unavailable == "allow":
            return OptionsVerdict(True, True, "", f"{UNAVAILABLE} ({reading.unavailable}): allowed by "
                                  "options_if_unavailable")
        text = f"{UNAVAILABLE}: {reading.unavailable}"
        return OptionsVerdict(False, True, text, text)
    s = reading.summary
    assert s is not None and s.atm_iv is not None
    if s.total_volume < cfg.options_min_volume:
        text = (f"{FEEDBACK}: {symbol} option volume today {s.total_volume:,.0f} < options_min_volume "
                f"{cfg.options_min_volume:,}")
        return OptionsVerdict(False, False, text, text)
    if s.atm_iv > cfg.options_max_iv:
        text = (f"{FEEDBACK}: {symbol} ATM IV {s.atm_iv:.1%} > options_max_iv {cfg.options_max_iv:.1%} "
                f"(strike {s.atm_strike:g}, expiring {s.atm_expiration})")
        return OptionsVerdict(False, False, text, text)
    return OptionsVerdict(True, False, "", f"options: volume today {s.total_volume:,.0f} >= {cfg.options_min_volume:,}, "
                          f"ATM IV {s.atm_iv:.1%} <= {cfg.options_max_iv:.1%}")
