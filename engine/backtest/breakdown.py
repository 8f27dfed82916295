"""Where a result came from: per symbol, per setup, per session window, per
market state, beside a buy-and-hold benchmark of the same symbols and period,
and the acceptance checks (``--acceptance``).

The tuning playbook's rule is "don't fool yourself": a pooled profit factor can
hide one symbol carrying all the profit, one setup losing what another makes,
or a strategy that merely held a rising market. Every figure here is computed
from the closed trades (``metrics.TradeRecord``), so it is the same for a
backtest, a sweep's best combination and a walk-forward's stitched
out-of-sample trades.

- session window: the ``[sessions] policy`` window the entry fell in (by the
  New York clock, as the policy is written), else the session's name
  (PRE-MARKET, AFTER HOURS, ...);
- market state: the state of the bar the signal came from, as the engine's
  analytics saw it: on trades data by the whole-array analytics
  (analytics/batch.py, equal to the engine's bar for bar:
  tests/test_batch_parity.py) and on plain bars likewise, worked out only at
  the signal bars (analytics/states_at.py, tests/test_states_at.py); on bars that carry
  volume at price (the simulator's) by the engine's own per-symbol analytics
  (``SymbolAnalytics.on_bar``), since the batch would spread that volume;
- buy-and-hold: the starting equity split equally over the symbols at the
  first price of each, held to the last; its return, drawdown and Sharpe from
  the session closes, as for the strategy.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from ..analytics.session import ET, SessionCalendar
from ..analytics.states_at import bar_states_at, kept_bars
from ..config import CockpitConfig
from ..model import NS_PER_MIN, NS_PER_S, MarketState
from . import metrics as M
from .data import Dataset

STATE_NAMES = {0: MarketState.BALANCE.value, 1: MarketState.IMBALANCE_UP.value, -1: MarketState.IMBALANCE_DOWN.value}
UNKNOWN = "unknown"
HOUR_NS = 3600 * 10**9


@dataclass(frozen=True)
class GroupFigures:
    key: str
    trades: int
    win_rate: float  # %
    avg_r: float
    expectancy_usd: float
    profit_factor: float
    net_pnl: float
    avg_hold_min: float
    share_of_net_pct: float  # this group's net P&L as % of the total's (NaN when the total is 0)

    def as_dict(self) -> dict:
        return {k: M._json_num(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TradeColumns:
    """Per trade, what a group's figures read (``pnl``, ``r`` where the risk is
    known else None, ``hold_min``): worked out once for the four groupings."""

    pnl: list[float]
    r: list[Optional[float]]
    hold_min: list[float]

    @classmethod
    def of(cls, trades: Sequence[M.TradeRecord]) -> "TradeColumns":
        return cls([t.pnl for t in trades], [t.pnl / t.risk_usd if t.risk_usd > 0 else None for t in trades],
                   [(t.exit_ns - t.entry_ns) / NS_PER_MIN for t in trades])  # (TradeRecord.r and .hold_min)


def group_figures(trades: Sequence[M.TradeRecord], key: Callable[[M.TradeRecord], str],
                  columns: Optional[TradeColumns] = None) -> list[GroupFigures]:
    cols = columns or TradeColumns.of(trades)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(trades):
        groups[key(t)].append(i)
    total = sum(cols.pnl)
    out = []
    for k, idx in sorted(groups.items()):
        pnls = [cols.pnl[i] for i in idx]
        rs = [r for r in (cols.r[i] for i in idx) if r is not None]
        net = float(sum(pnls))
        out.append(GroupFigures(
            k, len(idx), sum(p > 0 for p in pnls) / len(idx) * 100.0, float(np.mean(rs)) if rs else math.nan,
            float(np.mean(pnls)), M.profit_factor(pnls), net, float(np.mean([cols.hold_min[i] for i in idx])),
            net / total * 100.0 if total else math.nan))
    return out


# --------------------------------------------------------------------------- labels per trade


def window_labels(trades: Sequence[M.TradeRecord], config: CockpitConfig) -> list[str]:
    calendar = SessionCalendar(config.feed.session, config.sessions.policy)
    windows = [(p.start, p.end) for p in config.sessions.policy]
    # the policy window of each minute of the New York day ("HH:MM" compared as text,
    # as the policy is written), and New York's UTC offset per UTC hour (it changes only
    # on whole UTC hours): no datetime per trade
    by_minute = [next((f"{a}-{b}" for a, b in windows if a <= clock < b), None)
                 for clock in (f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))]
    offsets: dict[int, int] = {}
    out = []
    for t in trades:
        name, in_rth = calendar.name_at(t.entry_ns)  # (info()'s name and in_rth, without the rest of info)
        label = name
        if in_rth:
            secs = t.entry_ns // NS_PER_S
            hour = secs // 3600
            offset = offsets.get(hour)
            if offset is None:
                offset = offsets[hour] = int(datetime.fromtimestamp(hour * 3600, ET).utcoffset().total_seconds())
            label = by_minute[(secs + offset) // 60 % 1440] or f"{name} (no policy window)"
        out.append(label)
    return out


def state_labels(trades: Sequence[M.TradeRecord], ds: Dataset, config: CockpitConfig) -> list[str]:
    """The market state of each trade's signal bar (see the module doc)."""
    calendar = SessionCalendar(config.feed.session, config.sessions.policy)
    per_symbol: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sym in {t.symbol for t in trades}:
        s = ds.series.get(sym)
        if s is None or not len(s):
            continue
        params = config.strategy.for_symbol(sym)
        if ds.kind == "trades":
            from ..analytics.batch import analyze_trades_arrays

            cols = analyze_trades_arrays(s.ts_ns, s.price, s.size, s.side, s.bid, s.ask, params, calendar)
            if "ts" in cols:
                per_symbol[sym] = (np.asarray(cols["ts"], dtype=np.int64) + NS_PER_MIN, np.asarray(cols["state"]))
        elif s.vap is None:  # plain bars: the batch's states (equal to the engine's on_bar path), at the signal bars
            per_symbol[sym] = _plain_bar_states(s, params, [t.entry_ns for t in trades if t.symbol == sym])
        else:  # bars with volume at price: the engine's own analytics (the batch would spread it)
            per_symbol[sym] = _bar_states(sym, s, params, calendar)
    out = [UNKNOWN] * len(trades)
    for sym, (ends, states) in per_symbol.items():
        if not len(ends):
            continue
        mine = [k for k, t in enumerate(trades) if t.symbol == sym]
        at = np.searchsorted(ends, np.array([trades[k].entry_ns for k in mine], dtype=np.int64), side="right") - 1
        codes = states[np.maximum(at, 0)].tolist()  # (the last bar closed by each entry)
        for k, i, code in zip(mine, at.tolist(), codes):
            if i >= 0:
                out[k] = STATE_NAMES.get(int(code), UNKNOWN)
    return out


def _plain_bar_states(s, params, entries: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(bar end, state code) per bar of plain bars, the state worked out only at the
    bars the entries read (the last bar closed by each; analytics/states_at.py);
    the other bars' codes are 0 and never read."""
    ok = kept_bars(s.ts_ns, s.open, s.high, s.low, s.close, s.volume)
    t = np.asarray(s.ts_ns, dtype=np.int64)[ok]
    ends = t - t % NS_PER_MIN + NS_PER_MIN
    wanted = np.searchsorted(ends, np.asarray(entries, dtype=np.int64), side="right") - 1
    _, codes = bar_states_at(s.ts_ns, s.open, s.high, s.low, s.close, s.volume, params, wanted.tolist())
    states = np.zeros(ends.size, dtype=np.int8)
    for k, code in codes.items():
        states[k] = code
    return ends, states


def _bar_states(symbol: str, s, params, calendar: SessionCalendar) -> tuple[np.ndarray, np.ndarray]:
    """(bar end, state code) per bar, by the engine's own per-symbol analytics: bars
    can carry volume at price, which the engine's profile uses exactly."""
    from ..analytics.symbol import SymbolAnalytics

    an = SymbolAnalytics(symbol, params, calendar)
    code = {MarketState.BALANCE: 0, MarketState.IMBALANCE_UP: 1, MarketState.IMBALANCE_DOWN: -1}
    ends, states = [], []
    for bar in s.iter_bars(symbol):
        if an.on_bar(bar) is None:
            continue
        ends.append(bar.ts_ns - bar.ts_ns % NS_PER_MIN + NS_PER_MIN)
        states.append(code[an.snapshot().state])
    return np.asarray(ends, dtype=np.int64), np.asarray(states, dtype=np.int8)


# --------------------------------------------------------------------------- buy and hold


@dataclass(frozen=True)
class Benchmark:
    symbols: dict[str, float]  # symbol -> buy-and-hold return %
    return_pct: float
    net_pnl: float
    max_drawdown_pct: float
    sharpe: float
    days: int

    def as_dict(self) -> dict:
        return {"symbols": {k: M._json_num(v) for k, v in self.symbols.items()},
                **{k: M._json_num(getattr(self, k)) for k in ("return_pct", "net_pnl", "max_drawdown_pct", "sharpe")},
                "days": self.days}


def _closes(s) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(s.ts_ns, dtype=np.int64),
            np.asarray(s.close if hasattr(s, "close") else s.price, dtype=np.float64))


def buy_and_hold(ds: Dataset, config: CockpitConfig, start_ns: Optional[int] = None,
                 end_ns: Optional[int] = None) -> Benchmark:
    """Equal weights of ``ds``'s symbols bought at their first price in [start, end) and held."""
    calendar = SessionCalendar(config.feed.session, config.sessions.policy)
    initial = config.broker.initial_equity
    series = {}
    for sym, s in ds.series.items():
        ts, px = _closes(s)
        keep = np.isfinite(px) & (px > 0)
        if start_ns is not None:
            keep &= ts >= start_ns
        if end_ns is not None:
            keep &= ts < end_ns
        if keep.any():
            series[sym] = (ts[keep], px[keep])
    if not series:
        return Benchmark({}, math.nan, math.nan, math.nan, math.nan, 0)
    per_symbol = {sym: (px[-1] / px[0] - 1.0) * 100.0 for sym, (_, px) in series.items()}
    # the portfolio's value at each session's close: every symbol at its last price by then
    day_close: dict = {}
    for sym, (ts, px) in series.items():
        last_of_hour = np.r_[np.flatnonzero(np.diff(ts // HOUR_NS)), ts.size - 1]  # a day's close is its last hour's
        for i in last_of_hour.tolist():
            day_close.setdefault(calendar.session_date(int(ts[i])), {})[sym] = float(px[i])
    weight = initial / len(series)
    qty = {sym: weight / px[0] for sym, (_, px) in series.items()}
    last = {sym: float(px[0]) for sym, (_, px) in series.items()}
    closes = []
    for d in sorted(day_close):
        last.update(day_close[d])
        closes.append(sum(qty[s] * last[s] for s in qty))
    final = closes[-1]
    rets = M.daily_returns(initial, closes)
    return Benchmark(per_symbol, (final / initial - 1.0) * 100.0, final - initial,
                     M.max_drawdown_pct([initial, *closes]), M.sharpe(rets), len(closes))


# --------------------------------------------------------------------------- the whole breakdown


@dataclass
class Breakdown:
    by_symbol: list[GroupFigures] = field(default_factory=list)
    by_setup: list[GroupFigures] = field(default_factory=list)
    by_window: list[GroupFigures] = field(default_factory=list)
    by_state: list[GroupFigures] = field(default_factory=list)
    benchmark: Optional[Benchmark] = None

    def as_dict(self) -> dict:
        return {"by_symbol": [g.as_dict() for g in self.by_symbol], "by_setup": [g.as_dict() for g in self.by_setup],
                "by_session_window": [g.as_dict() for g in self.by_window],
                "by_market_state": [g.as_dict() for g in self.by_state],
                "buy_and_hold": self.benchmark.as_dict() if self.benchmark else None}


@dataclass
class LabelledTrades:
    """Trades with their session window and market state, in step (a walk-forward
    labels each fold with that fold's parameters, then joins them)."""

    trades: list[M.TradeRecord] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, trades: Sequence[M.TradeRecord], ds: Dataset, config: CockpitConfig) -> "LabelledTrades":
        trades = list(trades)
        return cls(trades, window_labels(trades, config), state_labels(trades, ds, config))

    def extend(self, other: "LabelledTrades") -> None:
        self.trades += other.trades
        self.windows += other.windows
        self.states += other.states


def breakdown(labelled: LabelledTrades, benchmark: Optional[Benchmark] = None) -> Breakdown:
    """Every grouping of the trades, beside ``benchmark``."""
    trades = labelled.trades
    windows = dict(zip(map(id, trades), labelled.windows))
    states = dict(zip(map(id, trades), labelled.states))
    cols = TradeColumns.of(trades)
    return Breakdown(
        by_symbol=group_figures(trades, lambda t: t.symbol, cols),
        by_setup=group_figures(trades, lambda t: t.setup or UNKNOWN, cols),
        by_window=group_figures(trades, lambda t: windows[id(t)], cols),
        by_state=group_figures(trades, lambda t: states[id(t)], cols),
        benchmark=benchmark,
    )


def backtest_breakdown(trades: Sequence[M.TradeRecord], ds: Dataset, config: CockpitConfig,
                       start_ns: Optional[int] = None, end_ns: Optional[int] = None) -> Breakdown:
    """One run's trades over ``ds`` (with ``config``), and the buy-and-hold of ``ds`` over [start, end)."""
    return breakdown(LabelledTrades.of(trades, ds, config), buy_and_hold(ds, config, start_ns, end_ns))
