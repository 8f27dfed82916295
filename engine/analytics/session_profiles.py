"""The developing and previous session profiles (STRATEGY.md sections 2 and 7):
the "profiles" part of ``SymbolAnalytics``.

``SessionProfiles`` owns the profile of the session's closed RTH bars, its
statistics after the last one, and the previous session's statistics. At a new
session the developing profile becomes the previous one when it had any
volume (a session without RTH volume keeps the older previous profile).

``RthVolumeSeen`` stands in when no setup reads profiles: it keeps no profile,
only whether the session had RTH volume, which still decides whether the
session's close becomes the previous close.
"""
from __future__ import annotations

from typing import Optional

from ..config import StrategyParams
from ..model import ProfileStats
from .profile import DenseProfile


class SessionProfiles:
    """The developing RTH session profile and the previous session's (see the module)."""

    __slots__ = ("_params", "_profile", "session", "previous")

    def __init__(self, params: StrategyParams) -> None:
        self._params = params
        self._profile: Optional[DenseProfile] = None  # made once the bin size is known
        self.session: Optional[ProfileStats] = None  # None until the session has volume
        self.previous: Optional[ProfileStats] = None

    def use_bins(self, bin_size: float) -> None:
        self._profile = DenseProfile(bin_size)

    def on_rth_bar(self, bins: dict[int, float], volume: float) -> None:
        prof = self._profile
        prof.merge(bins)
        self.session = prof.stats(self._params)  # nodes and histogram worked out if someone reads them

    def new_session(self) -> bool:
        """Roll the developing profile into the previous one; True if it had volume."""
        had_volume = self.session is not None
        if had_volume:
            self.previous = self.session
        self._profile.clear()
        self.session = None
        return had_volume


class RthVolumeSeen:
    """Stands in for :class:`SessionProfiles`: no profiles, only whether the
    session had RTH volume."""

    __slots__ = ("_seen",)
    session = None
    previous = None

    def __init__(self) -> None:
        self._seen = False

    def use_bins(self, bin_size: float) -> None:
        pass

    def on_rth_bar(self, bins: dict[int, float], volume: float) -> None:
        if volume > 0.0:
            self._seen = True

    def new_session(self) -> bool:
        had_volume, self._seen = self._seen, False
        return had_volume
