"""Pegged limit entries (STRATEGY.md 14): the rules, apart from any broker.

A pegged entry is a limit order that follows the quote. It is placed only while
the spread, (ask - bid) / mid, is at most ``spread_bps``; its limit is the mid
moved ``offset_bps`` of the mid toward the far side (the ask for a buy, the bid
for a sell) and never beyond it. When the quote changes it is re-pegged, at most
``max_reprices`` times within ``timeout_s`` seconds of data time from its
submission; when the time runs out, or a quote change would need one re-peg
more, it goes to market (``market_fallback``) or is cancelled. Every step has a
reason the journal shows.

A spread that widens past the gate after placing pulls the order: no resting
limit while the market is too wide (``wait``, ``price`` None). It goes back in at
the first quote inside the gate, as a re-peg (counted against ``max_reprices``),
within the same window of data time; the window ending while pulled ends the peg
as above. Both brokers follow this rule: the paper broker keeps the order out of
the market locally; Alpaca's order is cancelled (confirmed, a fill meanwhile
adopted) and a local waiting order stands in for the rest (brokers/alpaca_peg.py).

The broker keeps one ``PegState`` per working pegged order and asks it what to do
with each quote (``on_quote``) and at each tick of data time (``due``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .model import NS_PER_S, Side


@dataclass(frozen=True, slots=True)
class PegPolicy:
    """The peg's settings, copied from ``[engine]`` into the order request."""

    spread_bps: float
    offset_bps: float
    max_reprices: int = 5
    timeout_s: float = 10.0
    market_fallback: bool = True


def spread_bps(bid: float, ask: float) -> float:
    """(ask - bid) / mid in basis points; inf for a crossed or unusable quote."""
    if not (bid > 0 and ask > 0 and math.isfinite(bid) and math.isfinite(ask)) or ask < bid:
        return math.inf
    mid = (bid + ask) / 2
    return (ask - bid) / mid * 10_000


def peg_price(side: Side, bid: float, ask: float, offset_bps: float, tick: float = 0.01) -> float:
    """The limit: mid + offset_bps of mid toward the far side, never beyond it, on the
    ``tick`` grid (a broker refuses sub-penny limits above $1), rounded toward the
    near side so rounding never pays more than the rule allows."""
    mid = (bid + ask) / 2
    step = mid * offset_bps / 10_000
    if side is Side.BUY:
        raw = min(mid + step, ask)
        return round(math.floor(raw / tick + 1e-9) * tick, 10)
    raw = max(mid - step, bid)
    return round(math.ceil(raw / tick - 1e-9) * tick, 10)


@dataclass(frozen=True, slots=True)
class PegAction:
    """What the broker does with the order: ``place`` (or re-peg) at ``price``, ``wait``
    (pulled from the market), ``market`` (fallback) or ``cancel``; ``reason`` goes to the journal."""

    kind: str  # "place" | "reprice" | "wait" (pulled: spread too wide) | "market" | "cancel"
    reason: str
    price: Optional[float] = None


@dataclass(slots=True)
class PegState:
    """One pegged order's progress: placed or waiting for the spread, re-pegs used."""

    side: Side
    policy: PegPolicy
    started_ns: int
    price: Optional[float] = None  # the working limit; None while the spread is too wide
    reprices: int = 0
    placed: bool = False  # placed at least once (every later price is a re-peg)
    done: bool = False

    @property
    def deadline_ns(self) -> int:
        return self.started_ns + int(self.policy.timeout_s * NS_PER_S)

    def _end(self, why: str) -> PegAction:
        self.done = True
        if self.policy.market_fallback:
            return PegAction("market", f"peg: {why} after {self.reprices} re-pegs: sent at market")
        return PegAction("cancel", f"peg: {why} after {self.reprices} re-pegs: cancelled (market_fallback off)")

    def due(self, now_ns: int) -> Optional[PegAction]:
        """The fallback once ``timeout_s`` of data time has passed, else None."""
        if self.done or now_ns < self.deadline_ns:
            return None
        return self._end(f"timed out ({self.policy.timeout_s:g}s)")

    def on_quote(self, bid: float, ask: float, ts_ns: int) -> Optional[PegAction]:
        """What a new quote changes: place, re-peg, pull back to waiting (spread too
        wide: the order stays out of the market, ``price`` None), or the fallback."""
        if self.done:
            return None
        late = self.due(ts_ns)
        if late is not None:
            return late
        spread = spread_bps(bid, ask)
        p = self.policy
        if spread > p.spread_bps:
            if self.price is None:
                return None  # still waiting for the spread
            self.price = None
            return PegAction("wait", f"peg: pulled, spread {spread:.1f} bps > {p.spread_bps:g} bps")
        price = peg_price(self.side, bid, ask, p.offset_bps)
        if self.price is not None and abs(price - self.price) < 1e-9:
            return None
        if self.placed:  # a re-peg (also back into the market after a pull)
            if self.reprices >= p.max_reprices:
                return self._end(f"needed re-peg {self.reprices + 1} > max_reprices {p.max_reprices}")
            self.reprices += 1
            self.price = price
            return PegAction("reprice", f"peg: re-pegged {self.reprices}/{p.max_reprices} at {price:.4f} "
                             f"(spread {spread:.1f} bps)", price)
        self.placed = True
        self.price = price
        return PegAction("place", f"peg: placed at {price:.4f} (spread {spread:.1f} bps)", price)


# the journal kind of a pegged entry's progress (``progress``): what a restart needs to
# carry on re-pegging it within its original window instead of cancelling it
PEG_JOURNAL = "peg"


def progress(state: PegState, client_order_id: str, order_id: str) -> dict:
    """What a restart needs of a working peg (journaled at each step, as ``exit_plan`` is
    for a trail's high-water mark): its window (``started_ns``, ``deadline_ns`` in data
    time), the re-pegs used, its working price, its policy, and the order it follows."""
    p = state.policy
    return {"client_order_id": client_order_id, "order_id": order_id, "side": state.side.value,
            "started_ns": state.started_ns, "deadline_ns": state.deadline_ns, "reprices": state.reprices,
            "price": state.price, "placed": state.placed, "done": state.done,
            "spread_bps": p.spread_bps, "offset_bps": p.offset_bps, "max_reprices": p.max_reprices,
            "timeout_s": p.timeout_s, "market_fallback": p.market_fallback}


def resumed(data: dict) -> PegState:
    """The ``PegState`` a journaled ``progress`` describes (the same window, the same
    re-pegs used); ValueError naming the field when the entry cannot be read."""
    try:
        policy = PegPolicy(float(data["spread_bps"]), float(data["offset_bps"]), int(data["max_reprices"]),
                           float(data["timeout_s"]), bool(data["market_fallback"]))
        price = data.get("price")
        return PegState(Side(data["side"]), policy, int(data["started_ns"]),
                        price=None if price is None else float(price), reprices=int(data["reprices"]),
                        placed=bool(data["placed"]), done=bool(data.get("done", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"journaled peg progress cannot be read ({type(exc).__name__}: {exc})") from None


def window_left_s(state: PegState, now_ns: int) -> float:
    """Seconds of the peg's window left at ``now_ns`` (data time); <= 0 when it is over."""
    return (state.deadline_ns - now_ns) / NS_PER_S
