"""Which LVNs a symbol alerts on, and when they are handed to the alert tracker
(STRATEGY.md section 6): the "alerts" part of ``SymbolAnalytics``.

``AlertLevels`` owns the level set (the LVNs of the developing session, of the
previous session and of a counting impulse leg), the ``LvnAlertTracker`` it is
given to, and ``watch``: what a trade must call with its price, or None when
there is nothing to check (the per-trade path reads one attribute), and
``on_bar``: the same for a bar's price path.

The levels may change after every closed bar and at a new session. Until the
tracker has been given a price every level in it is armed and nothing else
depends on the order of level sets, so pushing only the latest set gives the
same state: the levels (which need the session profile's LVNs) are then worked
out when the next trade needs them, not on every bar (bars-only history never
does). ``NO_ALERT_LEVELS`` stands in when no setup reads alerts.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol

from ..model import ImpulseLeg, LvnAlert, ProfileStats
from .alerts import LvnAlertTracker

PriceWatch = Callable[[float, int, float], list[LvnAlert]]  # (price, ts_ns, atr) -> alerts fired


class _Profiles(Protocol):
    session: Optional[ProfileStats]
    previous: Optional[ProfileStats]


class _Impulse(Protocol):
    leg: Optional[ImpulseLeg]


class AlertLevels:
    """The LVN alert levels and when they reach the tracker (see the module)."""

    __slots__ = ("_tracker", "_profiles", "_impulse", "_levels", "_priced", "watch")

    def __init__(self, tracker: LvnAlertTracker, profiles: _Profiles, impulse: _Impulse) -> None:
        self._tracker = tracker
        self._profiles = profiles
        self._impulse = impulse
        self._levels: tuple[tuple[float, str], ...] = ()  # the set the tracker holds
        self._priced = False  # the tracker has been given a price
        self.watch: Optional[PriceWatch] = None

    @property
    def levels(self) -> tuple[tuple[float, str, bool], ...]:
        """(price, source, armed) of every level the tracker holds."""
        return self._tracker.levels

    def update(self) -> None:
        """The levels may have changed (a bar closed, a session rolled)."""
        if self._priced:
            self._push()
        else:
            self.watch = self._first_price  # work them out when a price needs them

    def on_bar(self, bar, atr: float) -> list[LvnAlert]:
        """A bar's price path (bars-only data, a restart's candles) against the levels
        the trades of its minute would have met (before the bar updates them)."""
        if self.watch is None:
            return []
        if not self._priced:
            self._push()
            if not self._levels:
                self.watch = None
                return []
            self._priced = True
            self.watch = self._tracker.on_price
        return self._tracker.on_bar(bar.open, bar.high, bar.low, bar.close, bar.ts_ns, atr)

    def _first_price(self, price: float, ts_ns: int, atr: float) -> list[LvnAlert]:
        self._push()
        if not self._levels:
            self.watch = None
            return []
        self._priced = True
        watch = self.watch = self._tracker.on_price
        return watch(price, ts_ns, atr)

    def _push(self) -> None:
        levels: list[tuple[float, str]] = []
        session = self._profiles.session
        if session is not None:
            levels.extend((n.price, "session") for n in session.lvns)
        previous = self._profiles.previous
        if previous is not None:
            levels.extend((n.price, "previous") for n in previous.lvns)
        leg = self._impulse.leg
        if leg is not None and leg.counts:
            levels.extend((n.price, "impulse") for n in leg.lvns)
        t = tuple(levels)
        if t != self._levels:
            self._levels = t
            self._tracker.set_levels(levels)
        if self._priced:
            self.watch = self._tracker.on_price if t else None


class NoAlertLevels:
    """Stands in for :class:`AlertLevels` when no setup reads alerts."""

    __slots__ = ()
    watch = None
    levels: tuple[tuple[float, str, bool], ...] = ()

    def update(self) -> None:
        pass

    def on_bar(self, bar, atr: float) -> list:
        return []


NO_ALERT_LEVELS = NoAlertLevels()
