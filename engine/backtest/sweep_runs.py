"""One sweep run's result, kept as columns: a (combination, symbol) run's trades,
equity samples and session closes as numpy arrays, not a dict per trade.

Why: a year's grid on 10 symbols makes ~1.2 million trades. As dicts they cost a
worker ~30 ms a run to build, the main process ~1 s a task to unpickle and
~12 s to turn back into records for pooling, all of it serial and on the same
two cores as the workers. As columns they pickle as raw bytes and pool with
numpy (``pool.combine``).

The results file (``--results``, ``--resume``) keeps the row format it has always
had (``as_row`` / ``from_row``), so an interrupted sweep's file still resumes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Optional, Union

import numpy as np

from ..model import NS_PER_MIN
from . import metrics as M

# TradeRecord's fields by the column type that holds them
_INTS = ("qty", "entry_ns", "exit_ns")
_FLOATS = ("entry_price", "exit_price", "pnl", "commission", "risk_usd",
           "index_entry_price", "index_exit_price", "map_ratio")  # the execution map's (NaN when not mapped)
_TEXTS = ("symbol", "side", "exit_leg", "setup", "index_symbol")
_ORDER = tuple(f.name for f in fields(M.TradeRecord))
assert set(_ORDER) == set(_INTS + _FLOATS + _TEXTS), "every TradeRecord field needs a column here"


_FIELDS = attrgetter(*_ORDER)


@dataclass
class TradeColumns:
    """Closed round trips, one column per TradeRecord field, in the run's order:
    numbers as numpy arrays, words (symbol, side, exit leg, setup) as lists of the
    same few str objects, which pickle as references."""

    cols: dict[str, Union[np.ndarray, list]]

    def __len__(self) -> int:
        return len(self.cols["pnl"])

    @classmethod
    def from_records(cls, trades: list) -> "TradeColumns":
        by_field = list(zip(*map(_FIELDS, trades))) if trades else [()] * len(_ORDER)
        cols: dict[str, Union[np.ndarray, list]] = {}
        for name, values in zip(_ORDER, by_field):
            if name in _INTS:
                cols[name] = np.array(values, dtype=np.int64)
            elif name in _FLOATS:
                cols[name] = np.array(values, dtype=np.float64)
            else:
                cols[name] = list(values)
        return cls(cols)

    @classmethod
    def from_dicts(cls, rows: list[dict]) -> "TradeColumns":
        """From ``TradeRecord.as_dict`` rows (a results file); a row without ``setup`` gets ""."""
        return cls.from_records([M.trade_from_row(d) for d in rows])

    def records(self) -> list:
        """The TradeRecords (each field back as the Python type it had)."""
        lists = [c.tolist() if isinstance(c, np.ndarray) else c for c in (self.cols[name] for name in _ORDER)]
        return [M.TradeRecord(*vals) for vals in zip(*lists)]

    @staticmethod
    def column(parts: list["TradeColumns"], name: str) -> np.ndarray:
        """One numeric column of several runs' trades, end to end."""
        if not parts:
            return np.zeros(0, dtype=np.int64 if name in _INTS else np.float64)
        return np.concatenate([p.cols[name] for p in parts])


def hold_min(entry_ns: np.ndarray, exit_ns: np.ndarray) -> np.ndarray:
    """Minutes held: int64 minus int64, then one division, the same double as
    TradeRecord.hold_min's int / int while a hold is under 2**53 ns (104 days)."""
    return (exit_ns - entry_ns) / NS_PER_MIN


@dataclass
class SymbolRun:
    """One (combination, symbol) run of a sweep: what pooling, ranking, the review
    of the best combination and the Engine's verification read."""

    combo: int
    symbol: str
    trades: TradeColumns
    equity_ts: np.ndarray  # int64, one per equity sample
    equity: np.ndarray  # float64
    daily_dates: list[str]  # session dates, in order
    daily_equity: np.ndarray  # closing equity of each
    bars: int
    in_position: float
    signals: int
    path: str = "engine"
    summary: Optional[dict] = None  # the run's summary (for the Engine's check); not in the results file
    bars_in_position: int = 0

    @classmethod
    def from_result(cls, combo: int, symbol: str, res, path: str) -> "SymbolRun":
        return cls(combo, symbol, TradeColumns.from_records(res.trades),
                   np.asarray(res.equity_ts, dtype=np.int64), np.asarray(res.equity, dtype=np.float64),
                   [d for d, _ in res.daily], np.asarray([e for _, e in res.daily], dtype=np.float64),
                   res.bars, res.metrics.exposure_pct * res.bars / 100.0 if res.bars else 0,
                   res.summary.get("signals_total", 0), path, dict(res.summary), res.bars_in_position)

    @classmethod
    def from_row(cls, d: dict) -> "SymbolRun":
        """From a results file's row (``as_row``)."""
        daily = d.get("daily") or []
        return cls(d.get("combo", 0), d.get("symbol", ""), TradeColumns.from_dicts(d.get("trades") or []),
                   np.asarray(d.get("equity_ts") or [], dtype=np.int64),
                   np.asarray(d.get("equity") or [], dtype=np.float64),
                   [x for x, _ in daily], np.asarray([e for _, e in daily], dtype=np.float64),
                   d["bars"], d["in_position"], d.get("signals", 0), d.get("path", "engine"))

    def as_row(self) -> dict:
        """The results file's row: trades as ``TradeRecord.as_dict``, equity as lists."""
        return {"combo": self.combo, "symbol": self.symbol, "trades": [t.as_dict() for t in self.trade_records()],
                "daily": [[d, e] for d, e in zip(self.daily_dates, self.daily_equity.tolist())],
                "equity": self.equity.tolist(), "equity_ts": self.equity_ts.tolist(), "bars": self.bars,
                "in_position": self.in_position, "signals": self.signals, "path": self.path}

    def trade_records(self) -> list:
        return self.trades.records()

    @property
    def daily(self) -> list[tuple[str, float]]:
        return list(zip(self.daily_dates, self.daily_equity.tolist()))

    def as_result(self, initial_equity: float):
        """The run as a BacktestResult, for ``paths.first_difference`` against the
        Engine's (the metrics worked out from its own trades and equity, as the
        array path does)."""
        from .runner import BacktestResult

        trades = self.trade_records()
        met = M.compute(trades, initial_equity, self.equity.tolist(), self.daily_equity.tolist(), self.bars,
                        self.bars_in_position)
        return BacktestResult(params={}, metrics=met, trades=trades, equity_ts=self.equity_ts.tolist(),
                              equity=self.equity.tolist(), daily=self.daily, summary=dict(self.summary or {}),
                              bars=self.bars, items=self.bars, symbols=[self.symbol],
                              bars_in_position=self.bars_in_position)
