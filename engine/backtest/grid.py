"""Grid specs for sweeps: ``key=v1,v2,...`` words -> every combination.

Keys are ``[strategy]`` parameters (StrategyParams) or ``[risk]`` limits
(RiskConfig); values are parsed as TOML scalars (``60``, ``1.5``, ``true``) and
validated by the same pydantic models as cockpit.toml, so a bad spec is refused
before any work starts, with a message naming the bad key or value.
"""
from __future__ import annotations

import difflib
import itertools
import tomllib
from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import ValidationError

from ..config import ConfigError, RiskConfig, StrategyParams

STRATEGY_KEYS = tuple(StrategyParams.model_fields)
RISK_KEYS = tuple(RiskConfig.model_fields)
GRID_KEYS = STRATEGY_KEYS + RISK_KEYS


@dataclass(frozen=True)
class Grid:
    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    def combinations(self) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*self.values)]

    def __len__(self) -> int:
        n = 1
        for v in self.values:
            n *= len(v)
        return n

    def spec(self) -> list[str]:
        return [f"{k}=" + ",".join(_fmt(x) for x in v) for k, v in zip(self.keys, self.values)]


def _fmt(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def _scalar(text: str) -> Any:
    t = text.strip()
    try:
        return tomllib.loads(f"v = {t}")["v"]
    except tomllib.TOMLDecodeError:
        return t  # a bare word: let the model say whether it is allowed


def _validate(key: str, value: Any, raw: str) -> Any:
    model = StrategyParams if key in STRATEGY_KEYS else RiskConfig
    try:
        obj = model(**{key: value})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"grid: {key}={raw!r} is not a valid value: {err['msg']}") from None
    return getattr(obj, key)


def parse_grid(words: Iterable[str]) -> Grid:
    """``["min_aggression=60,70", "atr_stop=1.0,1.5"]`` -> Grid. Raises ConfigError
    naming the key or value that is wrong."""
    keys: list[str] = []
    values: list[tuple[Any, ...]] = []
    for word in words:
        for part in word.split() if " " in word.strip() else [word]:
            if "=" not in part:
                raise ConfigError(f"grid: {part!r} is not key=v1,v2,... (e.g. min_aggression=60,70,80)")
            key, _, rhs = part.partition("=")
            key = key.strip()
            if key not in GRID_KEYS:
                close = difflib.get_close_matches(key, GRID_KEYS, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"grid: unknown key {key!r}{hint} (strategy or risk parameters)")
            if key in keys:
                raise ConfigError(f"grid: key {key!r} is given twice")
            raws = [r for r in rhs.split(",")]
            if not rhs.strip() or any(not r.strip() for r in raws):
                raise ConfigError(f"grid: {key}= has an empty value in {rhs!r}")
            vals = tuple(_validate(key, _scalar(r), r.strip()) for r in raws)
            if len(set(map(repr, vals))) != len(vals):
                raise ConfigError(f"grid: {key} repeats a value in {rhs!r}")
            keys.append(key)
            values.append(vals)
    if not keys:
        raise ConfigError("grid: no parameters given (e.g. --grid min_aggression=60,70,80 atr_stop=1.0,1.5)")
    return Grid(tuple(keys), tuple(values))


def split_params(combo: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(strategy overrides, risk overrides) of one combination."""
    strat = {k: v for k, v in combo.items() if k in STRATEGY_KEYS}
    risk = {k: v for k, v in combo.items() if k not in STRATEGY_KEYS}
    return strat, risk


def combo_label(combo: dict[str, Any]) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in combo.items())
