"""A sweep combination's score pooled over its symbols, with numpy over the runs'
columns (sweep_runs.SymbolRun): all their trades in exit order, a combined
equity (initial equity plus the sum of every symbol's P&L) sampled whenever any
symbol's was, and the pooled session closes.

Why its own module: the pooling was the sweep's serial tail (~11-14 s for a
year's 10-symbol grid, a record per trade rebuilt in the main process). The
operations here are the ones that tail did, in the same order, so a sweep's
table is the same to the last bit (tests/test_sweep_pool.py compares them with
the record-by-record pooling).
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from . import metrics as M
from .sweep_runs import SymbolRun, TradeColumns, hold_min

RunLike = Union[SymbolRun, dict]


def as_run(r: RunLike) -> SymbolRun:
    """A SymbolRun for a run or a results-file row."""
    return r if isinstance(r, SymbolRun) else SymbolRun.from_row(r)


def combine(rows: Sequence[RunLike], initial: float) -> M.Metrics:
    """Pooled metrics of one combination over its symbols: all their trades; the
    drawdown on the pooled equity sampled whenever any symbol's equity was (the
    same samples a single backtest's drawdown uses, so a 10-symbol sweep does not
    see only session closes); Sharpe on the pooled session closes."""
    runs = [as_run(r) for r in rows]
    parts = [r.trades for r in runs]
    exit_ns = TradeColumns.column(parts, "exit_ns")
    order = np.argsort(exit_ns, kind="stable")  # sorted() by exit time: stable as well
    pnl = TradeColumns.column(parts, "pnl")[order]
    hold = hold_min(TradeColumns.column(parts, "entry_ns")[order], exit_ns[order])
    risk = TradeColumns.column(parts, "risk_usd")[order]
    bars = sum(r.bars for r in runs)
    in_pos = sum(r.in_position for r in runs)
    if len(runs) == 1:
        r = runs[0]
        return M.compute_columns(pnl, hold, risk, initial, r.equity, r.daily_equity, bars, int(round(in_pos)))
    daily = pooled_daily(runs, initial)
    return M.compute_columns(pnl, hold, risk, initial, pooled_equity_array(runs, initial), daily, bars,
                             int(round(in_pos)))


def pooled_daily(runs: Sequence[SymbolRun], initial: float) -> np.ndarray:
    """Initial equity plus every symbol's P&L at each session close any symbol had
    (a symbol without a close that day holds its last one, initial before its first)."""
    dates = np.unique(np.concatenate([np.asarray(r.daily_dates, dtype=str) for r in runs]))
    pnl = np.zeros(len(dates))
    for r in runs:  # row by row, as the sums were always added
        if not len(r.daily_dates):
            pnl += 0.0  # holds the initial equity: adds initial - initial
            continue
        at = np.searchsorted(dates, np.asarray(r.daily_dates, dtype=str))
        seen = np.full(len(dates), -1)
        seen[at] = np.arange(len(at))
        seen = np.maximum.accumulate(seen)  # the last close on or before each date
        last = np.where(seen >= 0, r.daily_equity[np.maximum(seen, 0)], initial)
        pnl += last - initial
    return initial + pnl


def pooled_equity(rows: Sequence[RunLike], initial: float) -> list[float]:
    """``pooled_equity_array`` as a list."""
    return pooled_equity_array(rows, initial).tolist()


def pooled_equity_array(rows: Sequence[RunLike], initial: float) -> np.ndarray:
    """Initial equity plus every symbol's P&L, at each time any symbol's equity was
    sampled (each symbol's equity holds between its own samples). Samples at the
    same instant are applied together: the pool never shows a state that did not
    exist at some moment."""
    ts = [np.asarray(r.equity_ts if isinstance(r, SymbolRun) else (r.get("equity_ts") or []), dtype=np.int64)
          for r in rows]
    eqs = [np.asarray(r.equity if isinstance(r, SymbolRun) else r["equity"], dtype=float) for r in rows]
    if any(len(t) != len(e) for t, e in zip(ts, eqs)):
        raise ValueError("pooled equity: every result needs one timestamp per equity sample")
    steps = [np.diff(e, prepend=initial) for e in eqs]
    t = np.concatenate(ts) if ts else np.zeros(0, np.int64)
    if t.size == 0:
        return np.zeros(0)
    order = np.argsort(t, kind="stable")
    t = t[order]
    level = initial + np.cumsum(np.concatenate(steps)[order])
    last_of_instant = np.append(t[1:] != t[:-1], True)
    return level[last_of_instant]
