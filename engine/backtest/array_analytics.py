"""What a backtest with every analytic (``needs=None``, what the live path
computes) reports beyond its trades, on the array path: the in-session bars per
market state and the LVN alerts (engine.analytics.batch_alerts), the numbers
the Engine's summary counts bar by bar (``state_minutes``, ``lvn_alerts``).
Trades do not depend on them: no setup with an array form reads alerts."""
from __future__ import annotations

import numpy as np

from ..analytics.batch_alerts import bar_alerts
from ..analytics.session import SessionCalendar
from ..analytics.state import CODE_STATES
from ..config import StrategyParams
from ..feeds.loaders import BarsArrays


def state_minutes(codes: np.ndarray) -> dict[str, int]:
    """In-session bars per market state, from their state codes (the Engine's ``state_minutes``)."""
    counts = np.bincount(codes.astype(np.int64) + 1, minlength=3).tolist()  # codes -1, 0, 1
    return {CODE_STATES[k - 1].value: c for k, c in enumerate(counts) if c}


def every_analytic(s: BarsArrays, p: StrategyParams, cal: SessionCalendar, session: str,
                   in_rth: np.ndarray) -> tuple[dict[str, int], int]:
    """(in-session bars per market state, LVN alerts) of a run with every analytic."""
    from .arrays import batch_columns  # (the array path's columns, kept for the next run of the series)

    full = batch_columns(s, p, cal, session)
    return state_minutes(full["state"][in_rth]), len(bar_alerts(full, s.vap, p))
