"""Where each configuration value comes from (``cockpit config effective``).

The same layers ``load_config`` merges, kept apart so each value can name its
source: the built-in default, the file (cockpit.toml), the environment
(``COCKPIT_SECTION__KEY`` or a short endpoint name), a command-line flag, and
for a symbol's strategy parameters its ``[strategy.overrides.SYMBOL]`` table
and the store's ``strategy_configs`` row (which a running cockpit applies on
top of everything, as engine/strategies.py does).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Optional, Union

from .config import ENDPOINT_ENV_VARS, CockpitConfig, StrategyParams, _deep_merge, _env_overrides, parse_config, \
    read_toml

SKIPPED = {("strategy", "overrides"), ("data", "overrides")}  # shown per symbol instead
HIDDEN = {("notify", "webhook_url")}  # a credential: shown as set / not set


@dataclass(frozen=True)
class EffectiveValue:
    key: str  # dotted: "risk.max_positions", "strategy.atr_stop"
    value: Any
    source: str  # "default" | "file" | "env" | "flag" | "store"
    detail: str = ""  # which file, variable, flag table or store row


@dataclass(frozen=True)
class Layers:
    """The raw layers, lowest first; ``effective`` validates their merge."""

    file: dict
    file_label: str
    env: dict
    env_names: dict  # dotted key -> the variable that set it
    flags: dict

    @classmethod
    def load(cls, path: Optional[Union[str, Path]], env: dict[str, str], flags: Optional[dict] = None) -> "Layers":
        data: dict = {}
        label = ""
        if path is not None:
            p = Path(path)
            data = read_toml(p)
            label = os.path.relpath(p) if not os.path.relpath(p).startswith("..") else str(p)
        names = {f"endpoints.{key}": name for name, key in ENDPOINT_ENV_VARS.items() if env.get(name)}
        for name in env:
            if name.startswith("COCKPIT_") and "__" in name:
                names[".".join(name[len("COCKPIT_"):].lower().split("__"))] = name
        return cls(data, label, _env_overrides(env), names, flags or {})

    def config(self) -> CockpitConfig:
        return parse_config(_deep_merge(_deep_merge(self.file, self.env), self.flags), self.file_label or "config")


def _has(layer: dict, path: tuple[str, ...]) -> bool:
    node: Any = layer
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _source(layers: Layers, path: tuple[str, ...]) -> tuple[str, str]:
    dotted = ".".join(path)
    if _has(layers.flags, path):
        return "flag", ""
    if _has(layers.env, path):
        return "env", layers.env_names.get(dotted, "")
    if _has(layers.file, path):
        return "file", layers.file_label
    return "default", ""


def effective(layers: Layers, symbol: Optional[str] = None,
              stored: Optional[tuple[bool, dict]] = None) -> list[EffectiveValue]:
    """Every value of the configuration with its source. With ``symbol``, the
    ``[strategy]`` and ``[data]`` values are that symbol's (its overrides, then
    ``stored``: its strategy_configs row, (enabled, params), if any)."""
    config = layers.config()
    out: list[EffectiveValue] = []
    sym = symbol.upper() if symbol else None
    strategy = config.strategy.for_symbol(sym) if sym else config.strategy
    store_params: dict = {}
    if sym and stored is not None:
        enabled, params = stored
        store_params = {**params, "enabled": enabled}
        strategy = StrategyParams(**{**strategy.model_dump(), **store_params})
    data = config.data.for_symbol(sym) if sym else config.data
    for section_name in CockpitConfig.model_fields:
        section = {"strategy": strategy, "data": data}.get(section_name, getattr(config, section_name))
        if isinstance(section, dict):  # a table of the trader's own keys (e.g. [execution_map] SPX = "SPY")
            for key, value in section.items():
                source, detail = _source(layers, (section_name, key))
                out.append(EffectiveValue(f"{section_name}.{key}", value, source, detail))
            continue
        for key in type(section).model_fields:
            path = (section_name, key)
            if path in SKIPPED:
                continue
            value = getattr(section, key)
            value = value.value if isinstance(value, Enum) else value
            if isinstance(value, list):
                value = [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
            if path in HIDDEN:
                value = "(set)" if value else ""
            source, detail = _source(layers, path)
            if sym and section_name in ("strategy", "data"):
                over = (section_name, "overrides", sym, key)
                if _has(layers.flags, over) or _has(layers.env, over) or _has(layers.file, over):
                    source, detail = _source(layers, over)
                    detail = f"{section_name}.overrides.{sym}" + (f" in {detail}" if detail else "")
                if section_name == "strategy" and key in store_params:
                    source, detail = "store", f"strategy_configs row of {sym}"
            out.append(EffectiveValue(".".join(path), value, source, detail))
    return out
