"""Per-symbol strategy parameters and the setups built from them.

Parameters come from cockpit.toml (``[strategy]`` and its per-symbol
overrides), with the store's ``strategy_configs`` table (enabled + a JSON of
parameters per symbol) on top. A changed symbol gets new setup instances at
once; analytics parameters (bins, lookbacks) only take effect when analytics
are rebuilt, i.e. at start, never in the middle of a session.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from pydantic import ValidationError

from .config import CockpitConfig, StrategyParams
from .recorder import Recorder
from .strategy.base import Setup
from .strategy.registry import make_setups, register_plugins


class Strategies:
    def __init__(self, config: CockpitConfig, symbols: list[str], recorder: Recorder) -> None:
        self.config = config
        self.recorder = recorder
        register_plugins(config.strategy.plugins)  # a trader's own setups, before any is built
        self.params: dict[str, StrategyParams] = {s: config.strategy.for_symbol(s) for s in symbols}
        # an execution_map proxy only there for the map is followed (prices, positions), not read by setups
        self.readers = set(config.app.symbols)
        self.setups: dict[str, list[Setup]] = {s: self._make(s, self.params[s]) for s in symbols}
        self._reported: set = set()  # bad stored configs already journaled

    def _make(self, symbol: str, params: StrategyParams) -> list[Setup]:
        return make_setups(symbol, params) if symbol in self.readers else []

    async def reload(self, store: Any,
                     rebuild_analytics: Optional[Callable[[str, StrategyParams], None]] = None) -> list[str]:
        """Apply the store's strategy_configs; returns the symbols that changed.
        ``rebuild_analytics(symbol, params)`` is called for each when given (at start)."""
        changed = []
        for sym, (enabled, stored) in (await store.all_strategy_configs()).items():
            if sym not in self.params:
                continue
            merged = self.config.strategy.for_symbol(sym).model_dump()
            merged.update(stored)
            merged["enabled"] = enabled
            try:
                new = StrategyParams(**merged)
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                key = ("bad_config", sym, detail)
                if key not in self._reported:
                    self._reported.add(key)
                    self.recorder.log("error", "config", f"strategy_configs for {sym} ignored: {detail}", sym)
                continue
            if new == self.params[sym]:
                continue
            diff = sorted(k for k, v in new.model_dump().items() if getattr(self.params[sym], k) != v)
            self.params[sym] = new
            self.setups[sym] = self._make(sym, new)
            if rebuild_analytics is not None:
                rebuild_analytics(sym, new)
            changed.append(sym)
            self.recorder.log("info", "config", f"{sym} strategy parameters from the store: {', '.join(diff)}", sym)
        return changed

    async def set(self, store: Any, symbol: str, enabled: bool, params: dict, updated_ns: int) -> None:
        """Change a symbol's parameters at run time (validated, stored, applied)."""
        merged = {**self.config.strategy.for_symbol(symbol).model_dump(), **params, "enabled": enabled}
        StrategyParams(**merged)  # raises a ValidationError naming the bad key
        await store.set_strategy_config(symbol, enabled, params, updated_ns=updated_ns)
        await self.reload(store)
