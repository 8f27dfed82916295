"""Which path a backtest runs on, and the parity gate between the two.

The Engine (runner.py) is the reference and the default. The array path
(arrays.py) runs the configurations it supports; anything else runs on the
Engine and the label says why (``path: engine (limit
entries not supported)``). ``first_difference`` compares two results field by field and
names the first thing that differs: ``--verify`` runs both paths and fails on
any difference, so the array path is trusted only where it was checked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..config import CockpitConfig
from .array_support import unsupported
from .arrays import run_arrays
from .data import Dataset
from .result import SETUP_NEEDS, BacktestResult

PathName = Literal["engine", "arrays"]
PATHS = ("engine", "arrays")


@dataclass(frozen=True)
class PathChoice:
    name: PathName  # the path that ran
    reason: str = ""  # why the Engine ran when the arrays were asked for ("" otherwise)
    verified: bool = False  # both paths ran and agreed

    @property
    def label(self) -> str:
        if self.name == "arrays":
            return "arrays, verified by the engine" if self.verified else "arrays"
        return f"engine ({self.reason})" if self.reason else "engine"


def choose(config: CockpitConfig, ds: Dataset, wanted: str = "engine", needs: Any = SETUP_NEEDS) -> PathChoice:
    if wanted not in PATHS:
        from ..config import ConfigError

        raise ConfigError(f"--path {wanted!r}: allowed: {', '.join(PATHS)}")
    if wanted == "engine":
        return PathChoice("engine")
    why = unsupported(config, ds, needs)
    return PathChoice("engine", why) if why else PathChoice("arrays")


class ParityError(AssertionError):
    """The array path and the Engine gave different results (the message names the first difference)."""


def run_on_path(config: CockpitConfig, ds: Dataset, wanted: str = "engine", verify: bool = False,
                needs: Any = SETUP_NEEDS, should_stop: Any = None) -> tuple[BacktestResult, PathChoice]:
    """Run on the path asked for (or the Engine, with the reason). ``verify``: run
    the array path and the Engine and raise ParityError naming the first difference;
    the Engine's result is returned."""
    choice = choose(config, ds, "arrays" if verify else wanted, needs)
    if choice.name == "engine":
        return _engine_run(config, ds, needs, should_stop), choice
    fast = run_arrays(config, ds, needs)
    if not verify:
        return fast, choice
    ref = _engine_run(config, ds, needs, should_stop)
    diff = first_difference(fast, ref)
    if diff:
        raise ParityError(f"the array path differs from the engine: {diff}")
    return ref, PathChoice("arrays", verified=True)


def _engine_run(config: CockpitConfig, ds: Dataset, needs: Any, should_stop: Any) -> BacktestResult:
    """The Engine's run, imported here: a run on the array path never imports the Engine."""
    from .runner import run_backtest

    return run_backtest(config, ds, needs=needs, should_stop=should_stop)


# --------------------------------------------------------------------------- comparing


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def first_difference(arrays: BacktestResult, engine: BacktestResult) -> str:
    """The first thing that differs between two results ("" when none does):
    trades field by field, equity samples (time and value), daily closing equity,
    metrics, the summary, bar counts."""
    ta, te = arrays.trades, engine.trades
    for k, (x, y) in enumerate(zip(ta, te)):
        for name in x.__dataclass_fields__:
            if not _same(getattr(x, name), getattr(y, name)):
                return (f"trade {k + 1} {name}: arrays {getattr(x, name)!r} != engine {getattr(y, name)!r} "
                        f"(engine trade: {y.side} {y.qty} entered {y.entry_ns}, exit {y.exit_leg} at {y.exit_ns})")
    if len(ta) != len(te):
        extra, who = (ta, "arrays") if len(ta) > len(te) else (te, "engine")
        t = extra[min(len(ta), len(te))]
        return (f"trades: arrays {len(ta)} != engine {len(te)} (first extra on the {who} path: {t.side} {t.qty} "
                f"entered {t.entry_ns} at {t.entry_price})")
    for name, a, b in (("equity_ts", arrays.equity_ts, engine.equity_ts), ("equity", arrays.equity, engine.equity),
                       ("daily", arrays.daily, engine.daily)):
        for k, (x, y) in enumerate(zip(a, b)):
            if not _same(x, y):
                return f"{name}[{k}]: arrays {x!r} != engine {y!r}"
        if len(a) != len(b):
            return f"{name}: arrays has {len(a)} samples, engine {len(b)}"
    ma, me = arrays.metrics.as_dict(), engine.metrics.as_dict()
    for key in me:
        if not _same(ma.get(key), me[key]):
            return f"metric {key}: arrays {ma.get(key)!r} != engine {me[key]!r}"
    for key in sorted(set(arrays.summary) | set(engine.summary)):
        if arrays.summary.get(key) != engine.summary.get(key):
            return f"summary {key}: arrays {arrays.summary.get(key)!r} != engine {engine.summary.get(key)!r}"
    for name in ("bars", "bars_in_position", "items"):
        if getattr(arrays, name) != getattr(engine, name):
            return f"{name}: arrays {getattr(arrays, name)} != engine {getattr(engine, name)}"
    return ""

