"""The rolling reference profile and the market state read against it
(STRATEGY.md sections 2 and 4): the "state" part of ``SymbolAnalytics``.

``RollingProfile`` owns the profile of the bars of the last
``lookback_minutes`` minutes *by time* (bar start > close minute - lookback),
not the last N bars, so a gap (overnight, a halt) ages it out; the bar
histograms still in the window; the profile's statistics after the last bar;
and the market state and distance from POC of that bar's close. Extended-hours
bars count, so the state has context at the open.

Its statistics carry nodes and a histogram only when "profiles" is needed too
(else the core numbers: POC, value area, range). ``NoRollingProfile`` stands in
when no setup reads the state: no profile, BALANCE, NaN distance.
"""
from __future__ import annotations

from collections import deque
from typing import Optional

from ..config import StrategyParams
from ..model import NS_PER_MIN, MarketState, ProfileStats
from .profile import DenseProfile
from .state import classify_state

NAN = float("nan")


class RollingProfile:
    """The lookback-window profile, its statistics and the market state (see the module)."""

    __slots__ = ("_params", "_nodes", "_lookback_ns", "_profile", "_stats_of", "_window", "stats", "state",
                 "distance")

    def __init__(self, params: StrategyParams, nodes: bool) -> None:
        self._params = params
        self._nodes = nodes  # the statistics include nodes and histogram
        self._lookback_ns = params.lookback_minutes * NS_PER_MIN
        self._profile: Optional[DenseProfile] = None  # made once the bin size is known
        self._stats_of = None
        self._window: deque[tuple[int, dict[int, float]]] = deque()  # (bar minute, its bins), oldest first
        self.stats: Optional[ProfileStats] = None
        self.state = MarketState.BALANCE
        self.distance = NAN

    def use_bins(self, bin_size: float) -> None:
        prof = self._profile = DenseProfile(bin_size)
        # nodes and histogram are worked out lazily, when someone reads them
        self._stats_of = prof.stats if self._nodes else prof.core_stats

    def on_bar(self, minute: int, bins: dict[int, float], close: float, momentum: float) -> None:
        """A bar closed: add its histogram, age out the bars that left the window,
        and classify its close."""
        prof = self._profile
        q = self._window
        prof.merge(bins)
        q.append((minute, bins))
        horizon = minute - self._lookback_ns
        while q[0][0] <= horizon:
            prof.subtract(q.popleft()[1])
        rs = self.stats = self._stats_of(self._params)
        if rs is None:
            self.state, self.distance = MarketState.BALANCE, NAN  # as state.market_state() says
        else:
            self.state, self.distance = classify_state(close, rs.poc, rs.vah, rs.val, momentum, self._params)


class NoRollingProfile:
    """Stands in for :class:`RollingProfile` when no setup reads the market state."""

    __slots__ = ()
    stats = None
    state = MarketState.BALANCE
    distance = NAN

    def use_bins(self, bin_size: float) -> None:
        pass

    def on_bar(self, minute: int, bins: dict[int, float], close: float, momentum: float) -> None:
        pass


NO_ROLLING_PROFILE = NoRollingProfile()
