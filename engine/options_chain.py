"""An underlying's option chain reduced to the two figures the options feedback
gate reads (STRATEGY.md section 14): the chain's total volume today and the
implied volatility at the money.

Why these two: a stock whose options trade heavily today is in play, and a
high at-the-money IV says the market prices a move larger than the stop was
sized for. The definitions, so the figures on a blocked signal can be checked:

* total volume today = the sum of every contract's ``day.volume`` whose day bar
  was last updated today (New York date); a day bar of an earlier session (the
  snapshot before the open) counts 0. A contract without ``last_updated`` counts.
* at the money = the nearest expiration on or after today, the strike nearest to
  the underlying's price (``underlying_asset.price``; the median over the
  contracts that carry one); ATM IV = the mean implied volatility of that
  strike's call and put (whichever of the two carries one). IV is a fraction
  (0.25 = 25 %), as Polygon gives it.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Optional
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class ContractQuote:
    """What the gate needs of one contract of the chain snapshot."""

    ticker: str
    contract_type: str  # "call" | "put"
    expiration: Optional[date]
    strike: Optional[float]
    volume: float  # day.volume (0 when absent)
    day_updated_ns: Optional[int]  # day.last_updated
    implied_volatility: Optional[float]
    underlying_price: Optional[float]


@dataclass(frozen=True)
class ChainSummary:
    underlying: str
    contracts: int
    total_volume: float
    underlying_price: Optional[float]
    atm_expiration: Optional[date]
    atm_strike: Optional[float]
    atm_iv: Optional[float]  # None: no contract at the money carries an IV

    def figures(self) -> str:
        iv = f"{self.atm_iv:.1%}" if self.atm_iv is not None else "n/a"
        at = f" (strike {self.atm_strike:g}, expiring {self.atm_expiration})" if self.atm_strike is not None else ""
        return f"volume today {self.total_volume:,.0f}, ATM IV {iv}{at}"


def new_york_date(ns: int) -> date:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).astimezone(NEW_YORK).date()


def summarize_chain(underlying: str, contracts: Iterable[ContractQuote], today: date) -> ChainSummary:
    """The chain's volume today and its at-the-money IV (module docstring)."""
    quotes = list(contracts)
    volume = sum(q.volume for q in quotes if q.day_updated_ns is None or new_york_date(q.day_updated_ns) == today)
    prices = [q.underlying_price for q in quotes if q.underlying_price is not None and q.underlying_price > 0]
    price = statistics.median(prices) if prices else None
    live = [q for q in quotes if q.expiration is not None and q.expiration >= today and q.strike is not None]
    atm_exp = atm_strike = atm_iv = None
    if live and price is not None:
        atm_exp = min(q.expiration for q in live)
        nearest = [q for q in live if q.expiration == atm_exp]
        atm_strike = min({q.strike for q in nearest}, key=lambda k: (abs(k - price), k))
        ivs = [q.implied_volatility for q in nearest
               if q.strike == atm_strike and q.implied_volatility is not None and q.implied_volatility > 0]
        atm_iv = sum(ivs) / len(ivs) if ivs else None
    return ChainSummary(underlying, len(quotes), float(volume), price, atm_exp, atm_strike, atm_iv)
