"""Walk-forward: rolling folds of ``train`` sessions followed by ``test`` sessions.

Each fold sweeps the grid in-sample (the same sweep machinery, any executor),
takes the best combination by the objective (among those with at least
``min_trades`` trades, if any has), and runs it once out-of-sample on the next
``test`` sessions, the analytics warmed up on the session before. Folds step by
``test`` sessions, so the out-of-sample windows tile the data without overlap
and their daily P&L chains into one stitched out-of-sample equity curve.

Degradation ratio = mean out-of-sample objective / mean in-sample objective over
the folds (1 = the in-sample edge held; near 0 or negative = it was fitted noise).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..analytics.session import SessionCalendar
from ..config import CockpitConfig, ConfigError
from ..model import NS_PER_S
from . import metrics as M
from .data import Dataset
from .executors import ExecutorHandle
from .feed import items
from .grid import Grid, split_params
from .runner import backtest_config, run_backtest
from .sweep import BASELINE, OBJECTIVES, objective_metric, run_sweep

HOUR_NS = 3600 * NS_PER_S


def parse_sessions(text: str, what: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*(d|days?|sessions?)?\s*", text or "")
    if not m or int(m.group(1)) < 1:
        raise ConfigError(f"--{what} {text!r}: give a number of sessions, e.g. 20d")
    return int(m.group(1))


def session_days(ds: Dataset, calendar: SessionCalendar) -> list[tuple]:
    """(session date, start_ns, end_ns) of every session with data, in order."""
    hours: set[int] = set()
    for s in ds.series.values():
        hours.update((s.ts_ns // HOUR_NS).tolist())
    days = {}
    for h in sorted(hours):
        ts = h * HOUR_NS
        for probe in (ts, ts + HOUR_NS - 1):  # a session boundary may fall inside no hour; both ends suffice
            d = calendar.session_date(probe)
            if d not in days:
                days[d] = calendar.session_bounds(probe)
    return [(d, *days[d]) for d in sorted(days)]


@dataclass
class Fold:
    n: int
    train: tuple[str, str]
    test: tuple[str, str]
    params: dict
    in_sample: M.Metrics
    out_sample: M.Metrics
    oos_daily: list = field(default_factory=list)
    oos_trades: list = field(default_factory=list)
    oos_equity: list = field(default_factory=list)  # (ts_ns, equity) samples of the out-of-sample run
    oos_bars: int = 0
    oos_bars_in_position: int = 0


@dataclass
class WalkForward:
    folds: list[Fold]
    objective: str
    stitched_ts: list[int]
    stitched_equity: list[float]
    stitched: M.Metrics
    degradation: float


def _obj(m: M.Metrics, attr: str) -> float:
    v = getattr(m, attr)
    return v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def run_walkforward(
    ds: Dataset,
    base_config: CockpitConfig,
    grid: Grid,
    handle: ExecutorHandle,
    train: int,
    test: int,
    objective: str = "sharpe",
    min_trades: int = 10,
    on_fold: Optional[Callable[[Fold], None]] = None,
) -> WalkForward:
    attr = objective_metric(objective)
    cal = SessionCalendar(base_config.feed.session, base_config.sessions.policy_for(base_config.feed.session))
    days = session_days(ds, cal)
    if len(days) < train + test:
        raise ConfigError(f"walk-forward needs at least train + test = {train + test} sessions; the data has {len(days)}")
    initial = base_config.broker.initial_equity
    folds: list[Fold] = []
    k = 0
    start = 0
    while start + train + test <= len(days):
        tr = days[start:start + train]
        te = days[start + train:start + train + test]
        train_ds = ds.window(tr[0][1], tr[-1][2])
        test_ds = ds.window(te[0][1], te[-1][2])
        out = run_sweep(train_ds, base_config, grid, handle, objective=objective, min_trades=min_trades)
        cands = [r for r in out.rows if r.index != BASELINE]
        best = cands[0]
        strat, risk = split_params(best.combo)
        cfg = backtest_config(base_config, test_ds.symbols, strategy=strat, risk=risk)
        warm = []
        if ds.kind == "bars":
            warm = list(items(ds.window(tr[-1][1], tr[-1][2])))
        res = run_backtest(cfg, test_ds, warmup=warm)
        k += 1
        fold = Fold(k, (tr[0][0].isoformat(), tr[-1][0].isoformat()), (te[0][0].isoformat(), te[-1][0].isoformat()),
                    best.combo, best.metrics, res.metrics, res.daily, res.trades,
                    list(zip(res.equity_ts, res.equity)), res.bars, res.bars_in_position)
        folds.append(fold)
        if on_fold is not None:
            on_fold(fold)
        start += test
    # stitched out-of-sample equity: each fold's P&L added to where the folds before it
    # ended, its intraday samples (for the drawdown and the curve) and its session closes
    offset = 0.0
    points, closes, trades = [], [], []
    for f in folds:
        points += [(ts, 0, offset + e) for ts, e in f.oos_equity]
        for d, e in f.oos_daily:  # a session's close comes after every sample of that session
            points.append((cal.session_bounds(_date_ns(d))[1], 1, offset + e))
            closes.append(offset + e)
        if f.oos_daily:
            offset += f.oos_daily[-1][1] - initial
        trades.extend(f.oos_trades)
    points.sort(key=lambda p: p[:2])
    st_ts = [ts for ts, _, _ in points]
    st_eq = [e for _, _, e in points]
    stitched = M.compute(trades, initial, st_eq, closes, sum(f.oos_bars for f in folds),
                         sum(f.oos_bars_in_position for f in folds))
    is_vals = [_obj(f.in_sample, attr) for f in folds]
    oos_vals = [_obj(f.out_sample, attr) for f in folds]
    is_mean = _nanmean(is_vals)
    oos_mean = _nanmean(oos_vals)
    degradation = oos_mean / is_mean if is_mean and math.isfinite(is_mean) and math.isfinite(oos_mean) else math.nan
    return WalkForward(folds, objective, st_ts, st_eq, stitched, degradation)


def _nanmean(xs: list[float]) -> float:
    vals = [x for x in xs if not math.isnan(x)]
    return sum(vals) / len(vals) if vals else math.nan


def _date_ns(d: str) -> int:
    from datetime import date as _d, datetime, timezone

    x = _d.fromisoformat(d)
    # noon UTC of the session date lies inside that session for every session kind
    return int(datetime(x.year, x.month, x.day, 12, tzinfo=timezone.utc).timestamp()) * NS_PER_S


def folds_table(wf: WalkForward, width: Optional[int] = None):
    """In-sample vs out-of-sample per fold, one column per grid key for the chosen
    parameters. Dates drop their year when every fold lies in one year (the title
    names it), so the table fits an 80-column terminal."""
    from .report import Column, _fmt_value, fitted_table

    attr = OBJECTIVES[wf.objective]
    dates = [d for f in wf.folds for d in (*f.train, *f.test)]
    years = {d[:4] for d in dates}
    short = len(years) == 1

    def span(a: str, b: str) -> str:
        return f"{a[5:]}..{b[5:]}" if short else f"{a}..{b}"

    keys = list(dict.fromkeys(k for f in wf.folds for k in f.params))
    cols = [Column("fold", [str(f.n) for f in wf.folds]),
            Column("train", [span(*f.train) for f in wf.folds], "left"),
            Column("test", [span(*f.test) for f in wf.folds], "left")]
    cols += [Column(k.replace("_", "\n"), [_fmt_value(f.params.get(k)) for f in wf.folds]) for k in keys]
    cols += [Column("IS\ntrades", [str(f.in_sample.trades) for f in wf.folds], drop=1),
             Column(f"IS\n{wf.objective}", [M.fmt(getattr(f.in_sample, attr), "{:.3f}") for f in wf.folds]),
             Column("OOS\ntrades", [str(f.out_sample.trades) for f in wf.folds], drop=1),
             Column(f"OOS\n{wf.objective}", [M.fmt(getattr(f.out_sample, attr), "{:.3f}") for f in wf.folds]),
             Column("OOS\nnet $", [M.fmt(f.out_sample.net_pnl, "{:,.0f}") for f in wf.folds], drop=2)]
    where = f" ({years.pop()})" if short and years else ""
    return fitted_table(f"Walk-forward ({wf.objective}){where}: in-sample vs out-of-sample", cols, width)
