"""Impulse legs and pullbacks of one symbol (STRATEGY.md section 8): the
"structure" part of ``SymbolAnalytics``.

``ImpulseWatch`` owns the ``StructureTracker`` (balance range, the current or
last counted leg), the histograms of the last ``HISTORY_BARS`` closed bars that
a leg's range profile is built from, that range profile (kept between calls and
extended as the leg grows), and whether the last close is a pullback. At a new
session the balance range becomes the previous session's VAL..VAH and the legs
are forgotten. ``NO_IMPULSE`` stands in when no setup reads structure.

The pullback band is the LVN alert band (``LvnAlertTracker.band``): a pullback
is price within the alert band of an impulse LVN while beyond the balance edge.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from ..config import StrategyParams
from ..model import Bar, ImpulseLeg, ProfileStats
from .profile import VolumeProfile
from .structure import StructureTracker

NAN = float("nan")
HISTORY_BARS = 2 * 1440  # bar histograms kept for impulse range profiles (within one session: cleared at a new one)

Band = Callable[[float, float], float]  # (price, atr) -> half-width of the band


class ImpulseWatch:
    """The impulse leg, its range profile and the pullback (see the module)."""

    __slots__ = ("_params", "_band", "_bin_size", "_tracker", "_history", "_range_cache", "leg", "pullback")

    def __init__(self, params: StrategyParams, band: Band) -> None:
        self._params = params
        self._band = band
        self._bin_size = NAN  # set once known, before the first bar
        self._tracker = StructureTracker(params, self.range_profile)
        self._history: deque[tuple[int, dict[int, float]]] = deque(maxlen=HISTORY_BARS)
        self._range_cache: Optional[tuple[int, Optional[int], VolumeProfile]] = None
        self.leg: Optional[ImpulseLeg] = None  # the tracker's leg after the last bar or reset
        self.pullback = False

    def use_bins(self, bin_size: float) -> None:
        self._bin_size = bin_size

    def on_bar(self, bar: Bar, bins: dict[int, float], atr: float) -> None:
        self._history.append((bar.ts_ns, bins))
        st = self._tracker
        st.on_bar(bar, atr)
        self.leg = st.impulse
        c = bar.close
        self.pullback = st.pullback(c, self._band(c, atr))

    def new_session(self, previous: Optional[ProfileStats]) -> None:
        """The balance range is the previous session's value area (none without one)."""
        st = self._tracker
        if previous is not None:
            st.set_balance(previous.val, previous.vah)
        else:
            st.set_balance(NAN, NAN)
        st.reset()
        self.leg = st.impulse
        # a leg starts after the reset (the tracker forgot the last inside bar), so the bars
        # of earlier sessions are never read again: a run left open for days keeps one session's
        self._history.clear()
        self._range_cache = None

    def range_profile(self, start_ns: int, end_ns: int) -> Optional[ProfileStats]:
        """The profile of the history bars with start_ns <= minute < end_ns.

        A leg asks again each time it extends, with the same start and a later
        end: the profile built last time is kept and only the bars after the last
        one merged are added (the same merges in the same order as building it
        from scratch). Built afresh for a new start, or when bars of the range
        may have aged out of the history."""
        hist = self._history
        cache = self._range_cache
        if cache is not None and cache[0] == start_ns and (len(hist) < HISTORY_BARS or hist[0][0] < start_ns):
            last_m, prof = cache[1], cache[2]
        else:
            last_m, prof = None, VolumeProfile(self._bin_size)
        fresh = []  # the bars not merged yet, newest first, back to the start of the range
        for entry in reversed(hist):
            m = entry[0]
            if m < start_ns or (last_m is not None and m <= last_m):
                break
            fresh.append(entry)
        for m, bins in reversed(fresh):
            if m >= end_ns:
                break
            prof.merge(bins)
            last_m = m
        self._range_cache = (start_ns, last_m, prof)
        return prof.stats(self._params)


class NoImpulse:
    """Stands in for :class:`ImpulseWatch` when no setup reads structure."""

    __slots__ = ()
    leg = None
    pullback = False

    def use_bins(self, bin_size: float) -> None:
        pass

    def on_bar(self, bar: Bar, bins: dict[int, float], atr: float) -> None:
        pass

    def new_session(self, previous: Optional[ProfileStats]) -> None:
        pass


NO_IMPULSE = NoImpulse()
