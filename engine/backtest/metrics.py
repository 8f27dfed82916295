"""The figures of STRATEGY.md section 12, computed from what a run leaves behind:
its closed round trips, its equity samples and its daily closing equity.

Why separate from the runner: the live journal must report the same numbers by
the same formulas, so they take plain data (TradeRecord lists, arrays), never an
engine.

Definitions (every one hand-checked in tests/test_backtest_metrics.py):

- trades: closed round trips (a position from flat back to flat);
- win rate: % of trades with net P&L > 0;
- R of a trade: net P&L / initial risk, initial risk = qty x |average entry
  price - the bracket's stop-loss|; average R = mean R over trades with a risk;
- expectancy R = win rate x mean winning R + loss rate x mean losing R (the same
  number as the average R, written as traders quote it); expectancy $ = mean
  net P&L per trade;
- profit factor = gross profit / gross loss (inf with wins and no losses, NaN
  with no trades);
- max drawdown = the largest fall from a running equity peak, in % of that peak;
- Sharpe = mean / standard deviation (ddof 1) of daily returns x sqrt(252),
  risk-free rate 0; daily return = closing equity of a session / the previous
  session's closing equity (the initial equity before the first) - 1;
- Sortino = mean daily return / downside deviation x sqrt(252), downside
  deviation = sqrt(mean(min(r, 0)^2)) over all days;
- exposure = % of the bars run through in which the bar's symbol had an open
  position;
- average hold = mean minutes from the first entry fill to the closing fill.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Iterable, Optional, Sequence

import numpy as np

from ..execution_map import to_index
from ..model import NS_PER_MIN, Fill, Side, record

TRADING_DAYS = 252


@record
class TradeRecord:
    """One closed round trip. A record (model.record): slotted, immutable by contract,
    frozen in the tests; a frozen dataclass's sixteen guarded setattrs were a third of
    the array path's cost of booking a fill."""

    symbol: str
    side: str  # "long" | "short"
    qty: int  # largest position size held
    entry_ns: int
    exit_ns: int
    entry_price: float  # average entry fill
    exit_price: float  # average exit fill
    pnl: float  # net of commissions
    commission: float
    risk_usd: float  # qty x |entry - initial stop|; 0 when unknown
    exit_leg: str  # leg of the closing fill (take_profit, stop_loss, exit)
    setup: str = ""
    # the execution map (engine/execution_map.py): the index the setup read and the entry and
    # exit in its terms (the proxy's average fills / r, r the signal's); "" / NaN when not mapped
    index_symbol: str = ""
    index_entry_price: float = math.nan
    index_exit_price: float = math.nan
    map_ratio: float = math.nan

    @property
    def r(self) -> float:
        return self.pnl / self.risk_usd if self.risk_usd > 0 else math.nan

    @property
    def hold_min(self) -> float:
        return (self.exit_ns - self.entry_ns) / NS_PER_MIN

    def as_dict(self) -> dict:
        # (plain fields only, so no deep copy as in dataclasses.asdict: a sweep serialises every trade)
        d = {name: getattr(self, name) for name in _TRADE_FIELDS}
        d["r"] = None if math.isnan(self.r) else self.r
        d["hold_min"] = self.hold_min
        if self.index_symbol:  # a mapped trade only: an unmapped row stays as it always was
            d.update((name, getattr(self, name)) for name in _INDEX_FIELDS)
        return d


_INDEX_FIELDS = ("index_symbol", "index_entry_price", "index_exit_price", "map_ratio")
_TRADE_FIELDS = tuple(f.name for f in fields(TradeRecord) if f.name not in _INDEX_FIELDS)


def trade_from_row(d: dict) -> TradeRecord:
    """``TradeRecord(**fields of d)`` for a row made by ``as_dict`` (its derived r and
    hold_min are left out; a row without ``setup`` gets ""), by position: a year's
    10-symbol grid pools ~1.2 million rows in the main process."""
    return TradeRecord(*[d[name] for name in _TRADE_REQUIRED], d.get("setup", ""), d.get("index_symbol", ""),
                       *[d.get(name, math.nan) for name in _INDEX_FIELDS[1:]])


_TRADE_REQUIRED = tuple(f.name for f in fields(TradeRecord) if f.default is MISSING)


@dataclass(slots=True)
class _Open:
    side: int
    qty: int = 0
    max_qty: int = 0
    entry_ns: int = 0
    entry_cost: float = 0.0
    entry_qty: int = 0
    exit_value: float = 0.0
    exit_qty: int = 0
    cash: float = 0.0
    commission: float = 0.0
    stop: Optional[float] = None
    setup: str = ""
    index: Optional[tuple[str, float]] = None  # (index symbol, r) of a mapped entry


class TradeBuilder:
    """Turns a fill stream into round trips. ``stops`` maps an entry order's
    order id to its bracket stop-loss (for the initial risk) and setup;
    ``index_of`` an entry placed through the execution map to (index, r)."""

    def __init__(self) -> None:
        self.trades: list[TradeRecord] = []
        self._open: dict[str, _Open] = {}
        self.plans: dict[str, tuple[Optional[float], str]] = {}  # entry order id -> (stop, setup)
        self.index_of: dict[str, tuple[str, float]] = {}  # entry order id -> (index symbol, r)

    def position(self, symbol: str) -> int:
        o = self._open.get(symbol)
        return o.qty * o.side if o else 0

    def on_fill(self, f: Fill) -> Optional[TradeRecord]:
        sign = 1 if f.side is Side.BUY else -1
        o = self._open.get(f.symbol)
        if o is None:
            o = _Open(side=sign, entry_ns=f.ts_ns)
            stop, setup = self.plans.get(f.order_id, (None, ""))
            o.stop, o.setup = stop, setup
            if self.index_of:
                o.index = self.index_of.pop(f.order_id, None)
            self._open[f.symbol] = o
        o.cash -= sign * f.qty * f.price + f.commission
        o.commission += f.commission
        if sign == o.side:
            o.qty += f.qty
            o.entry_cost += f.qty * f.price
            o.entry_qty += f.qty
            o.max_qty = max(o.max_qty, o.qty)
        else:
            o.qty -= f.qty
            o.exit_value += f.qty * f.price
            o.exit_qty += f.qty
        if o.qty > 0:
            return None
        del self._open[f.symbol]
        entry = o.entry_cost / o.entry_qty if o.entry_qty else math.nan
        exit_ = o.exit_value / o.exit_qty if o.exit_qty else math.nan
        risk = o.max_qty * abs(entry - o.stop) if o.stop is not None else 0.0
        rec = TradeRecord(
            symbol=f.symbol, side="long" if o.side > 0 else "short", qty=o.max_qty,
            entry_ns=o.entry_ns, exit_ns=f.ts_ns, entry_price=entry, exit_price=exit_,
            pnl=o.cash, commission=o.commission, risk_usd=risk, exit_leg=str(f.leg), setup=o.setup,
        )
        if o.index is not None:
            index, r = o.index
            rec = replace(rec, index_symbol=index, index_entry_price=to_index(entry, r),
                          index_exit_price=to_index(exit_, r), map_ratio=r)
        self.trades.append(rec)
        return rec


@dataclass
class Metrics:
    trades: int = 0
    win_rate: float = math.nan  # %
    avg_r: float = math.nan
    expectancy_r: float = math.nan
    expectancy_usd: float = math.nan
    profit_factor: float = math.nan
    max_drawdown_pct: float = 0.0
    sharpe: float = math.nan
    sortino: float = math.nan
    exposure_pct: float = 0.0
    avg_hold_min: float = math.nan
    net_pnl: float = 0.0
    return_pct: float = 0.0
    final_equity: float = 0.0
    days: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-safe: NaN -> None, inf -> "inf"."""
        out = {}
        for k, v in asdict(self).items():
            if k == "extra":
                out.update(v)
                continue
            out[k] = _json_num(v)
        return out


def _json_num(v):
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return round(v, 6)
    return v


def profit_factor(pnls: Sequence[float]) -> float:
    if not len(pnls):
        return math.nan
    gp = sum(p for p in pnls if p > 0)
    gl = -sum(p for p in pnls if p < 0)
    if gl == 0:
        return math.inf if gp > 0 else math.nan
    return gp / gl


def max_drawdown_pct(equity: Iterable[float]) -> float:
    """Largest fall from a running peak, in % of that peak (0 when never below a peak)."""
    eq = np.asarray(list(equity) if not isinstance(equity, np.ndarray) else equity, dtype=float)
    if eq.size == 0:
        return 0.0
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (peak - eq) / peak, 0.0)
    return float(dd.max() * 100.0)


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    """Drawdown in % of the running peak at every point (<= 0)."""
    eq = np.asarray(equity, dtype=float)
    if eq.size == 0:
        return eq
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, (eq - peak) / peak * 100.0, 0.0)


def daily_returns(initial_equity: float, daily_close: Sequence[float]) -> np.ndarray:
    eq = np.asarray([initial_equity, *daily_close], dtype=float)
    if eq.size < 2:
        return np.zeros(0)
    return eq[1:] / eq[:-1] - 1.0


def sharpe(returns: np.ndarray) -> float:
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return math.nan
    sd = r.std(ddof=1)
    if sd == 0:
        return math.nan
    return float(r.mean() / sd * math.sqrt(TRADING_DAYS))


def sortino(returns: np.ndarray) -> float:
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return math.nan
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if dd == 0:
        return math.inf if r.mean() > 0 else math.nan
    return float(r.mean() / dd * math.sqrt(TRADING_DAYS))


def compute(
    trades: Sequence[TradeRecord],
    initial_equity: float,
    equity: Sequence[float],
    daily_close: Sequence[float],
    bars_total: int = 0,
    bars_in_position: int = 0,
) -> Metrics:
    """All section 12 figures. ``equity``: equity samples in time order (for the
    drawdown); ``daily_close``: closing equity of each session, in order."""
    pnl = np.array([t.pnl for t in trades], dtype=float)
    hold_min = np.array([t.hold_min for t in trades], dtype=float)
    risk = np.array([t.risk_usd for t in trades], dtype=float)
    return compute_columns(pnl, hold_min, risk, initial_equity, equity, daily_close, bars_total, bars_in_position)


def compute_columns(
    pnl: np.ndarray,
    hold_min: np.ndarray,
    risk_usd: np.ndarray,
    initial_equity: float,
    equity: Sequence[float],
    daily_close: Sequence[float],
    bars_total: int = 0,
    bars_in_position: int = 0,
) -> Metrics:
    """``compute`` over the trades' columns (net P&L, minutes held, initial risk, in
    the trades' order): what a sweep pools without building a record per trade. The
    same operations in the same order as on records, so the same doubles (the
    profit factor's sums stay Python's left-to-right ``sum``)."""
    n = len(pnl)
    m = Metrics(trades=n)
    final = float(daily_close[-1]) if len(daily_close) else (float(equity[-1]) if len(equity) else initial_equity)
    m.final_equity = final
    m.net_pnl = final - initial_equity
    m.return_pct = m.net_pnl / initial_equity * 100.0 if initial_equity else math.nan
    m.days = len(daily_close)
    eq = np.concatenate(([initial_equity], np.asarray(equity, dtype=float)))
    m.max_drawdown_pct = max_drawdown_pct(eq)
    rets = daily_returns(initial_equity, daily_close)
    m.sharpe = sharpe(rets)
    m.sortino = sortino(rets)
    m.exposure_pct = bars_in_position / bars_total * 100.0 if bars_total else 0.0
    if n:
        m.win_rate = int(np.count_nonzero(pnl > 0)) / n * 100.0
        m.expectancy_usd = float(np.mean(pnl))
        m.profit_factor = profit_factor(pnl.tolist())
        m.avg_hold_min = float(np.mean(hold_min))
        has_risk = risk_usd > 0
        if has_risk.any():
            rs = pnl[has_risk] / risk_usd[has_risk]
            m.avg_r = float(np.mean(rs))
            win_r = rs[rs > 0]
            loss_r = rs[rs <= 0]
            p = len(win_r) / len(rs)
            m.expectancy_r = (p * float(np.mean(win_r)) if len(win_r) else 0.0) + \
                ((1 - p) * float(np.mean(loss_r)) if len(loss_r) else 0.0)
    return m


METRIC_LABELS = (
    ("trades", "Trades", "{:d}"),
    ("win_rate", "Win rate %", "{:.1f}"),
    ("avg_r", "Average R", "{:.3f}"),
    ("expectancy_r", "Expectancy R", "{:.3f}"),
    ("expectancy_usd", "Expectancy $", "{:,.2f}"),
    ("profit_factor", "Profit factor", "{:.2f}"),
    ("max_drawdown_pct", "Max drawdown %", "{:.2f}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("exposure_pct", "Exposure %", "{:.1f}"),
    ("avg_hold_min", "Avg hold (min)", "{:.1f}"),
    ("net_pnl", "Net P&L $", "{:,.2f}"),
    ("return_pct", "Return %", "{:.2f}"),
    ("days", "Sessions", "{:d}"),
)


def fmt(value, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)
