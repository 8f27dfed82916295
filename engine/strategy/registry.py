"""Setup names -> classes, and the per-symbol list of setups the engine runs.

Names are the ones ``StrategyParams.setups`` accepts (config.SETUP_NAMES); the
engine builds one instance per symbol per setup with ``make_setups``.
"""
from __future__ import annotations

from typing import Optional

from ..config import SETUP_NAMES, StrategyParams
from .auction import AuctionSetup
from .base import Setup
from .ema_cross import EmaCrossSetup
from .hod_failure import HodFailureSetup
from .mean_reversion import MeanReversionSetup
from .orb import OrbSetup
from .sigma_fade import SigmaFadeSetup
from .sma_cross import SmaCrossSetup
from .trend_model import TrendModelSetup
from .trend_pullback import TrendPullbackSetup
from .vwap_mean_reversion import VwapMeanReversionSetup
from .vwap_reclaim import VwapReclaimSetup

SETUPS: dict[str, type] = {
    cls.name: cls for cls in (
        AuctionSetup, TrendModelSetup, MeanReversionSetup, SmaCrossSetup,
        # STRATEGY.md 13
        EmaCrossSetup, VwapReclaimSetup, SigmaFadeSetup, HodFailureSetup, OrbSetup, TrendPullbackSetup,
        VwapMeanReversionSetup,
    )
}

if set(SETUPS) != set(SETUP_NAMES):  # a new setup must be added in both places
    raise ImportError(f"strategy registry {sorted(SETUPS)} != config.SETUP_NAMES {sorted(SETUP_NAMES)}")


# a trader's own setups, by name (register_plugins; engine/strategy/plugins.py)
PLUGINS: dict[str, type] = {}


def register_plugins(plugins: dict[str, str]) -> None:
    """Import the ``[strategy.plugins]`` files (name -> file) and make their setups buildable."""
    from .plugins import plugin_classes

    PLUGINS.update(plugin_classes(plugins))


def setup_class(name: str) -> type:
    cls = SETUPS.get(name) or PLUGINS.get(name)
    if cls is None:
        raise ValueError(f"unknown setup {name!r}; allowed: {', '.join([*SETUPS, *PLUGINS])}")
    return cls


def make_setups(symbol: str, params: StrategyParams) -> list[Setup]:
    """Fresh instances of the setups named in ``params.setups`` (in that order,
    duplicates once), or none when ``params.enabled`` is False."""
    if not params.enabled:
        return []
    out: list[Setup] = []
    seen: set[str] = set()
    for name in params.setups:
        if name in seen:
            continue
        cls = setup_class(name)
        seen.add(name)
        out.append(cls(symbol, params))
    return out


def setups_needs(params: StrategyParams) -> Optional[frozenset[str]]:
    """The union of the analytics needs of the setups ``params`` runs (None, i.e.
    everything, when one of them does not declare its needs)."""
    out: set[str] = set()
    for name in params.setups if params.enabled else ():
        cls = setup_class(name)
        needs = getattr(cls, "needs", None)
        if needs is None:
            return None
        out.update(needs)
    return frozenset(out)
