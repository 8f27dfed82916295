"""The store's schema: one SQLModel table per kind of record the engine keeps.

Why these shapes:
- Times are BIGINT nanoseconds (UTC), like everywhere else in the engine; a
  32-bit INTEGER would overflow on PostgreSQL.
- Records that change over their life (signals get a decision, orders get fills
  and a final status, candles may be re-written) are keyed by their natural id,
  so the writer upserts them and the table keeps exactly one row each.
- Snapshots (positions, account) and the journal are append-only histories; the
  latest row wins when a restart reloads state.
- Float columns are nullable: SQLite stores NaN as NULL, so NULL reads back as
  NaN (a bars-only candle has no buy/sell volume; an indicator may be unknown).
- Free-form structures (volume at price, strategy parameters, journal data, run
  params/metrics) are JSON text: portable across SQLite and PostgreSQL and cheap
  to write in a batch.
- The tables live in their own SQLModel registry so nobody else's models end up
  in ``create_all`` and ours never collide with theirs.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Index, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class StoreModel(SQLModel, registry=registry()):
    """Base of every store table (private metadata: ``StoreModel.metadata``)."""


def _ns(**kw):
    return Field(sa_type=BigInteger, **kw)


def _json(**kw):
    return Field(default=None, sa_type=Text, **kw)


class CandleRow(StoreModel, table=True):
    __tablename__ = "candles"

    symbol: str = Field(primary_key=True)
    ts_ns: int = _ns(primary_key=True)  # bar start
    open: Optional[float] = None
    high: Optional[float] = None
    low: Optional[float] = None
    close: Optional[float] = None
    volume: Optional[float] = None
    buy_volume: Optional[float] = None  # NULL = the source carried no flow (NaN in Bar)
    sell_volume: Optional[float] = None
    trades: int = 0
    vwap: Optional[float] = None
    vap: Optional[str] = _json()  # [[price, volume], ...] or NULL


class MarketStateRow(StoreModel, table=True):
    __tablename__ = "market_state"

    symbol: str = Field(primary_key=True)
    ts_ns: int = _ns(primary_key=True)
    state: str
    poc: Optional[float] = None
    vah: Optional[float] = None
    val: Optional[float] = None
    distance_pct: Optional[float] = None
    momentum: Optional[float] = None


class OrderFlowRow(StoreModel, table=True):
    __tablename__ = "order_flow"

    symbol: str = Field(primary_key=True)
    ts_ns: int = _ns(primary_key=True)
    buy: Optional[float] = None
    sell: Optional[float] = None
    delta: Optional[float] = None
    cvd: Optional[float] = None
    pressure: Optional[float] = None  # buy pressure 0..100 (sell = 100 - it)
    aggression: Optional[float] = None
    direction: Optional[str] = None  # "buy" | "sell" | NULL


class SignalRow(StoreModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_decision_created", "decision", "created_ns"),)

    id: str = Field(primary_key=True)
    symbol: str = Field(index=True)
    setup: str
    side: str
    entry: Optional[float] = None
    stop: Optional[float] = None
    target: Optional[float] = None
    confidence: Optional[float] = None
    reason: str = Field(default="", sa_type=Text)
    created_ns: int = _ns()
    qty: int = 0
    risk_usd: Optional[float] = 0.0
    r_multiple: Optional[float] = 0.0
    expires_ns: int = _ns(default=0)
    decision: str = "pending"
    decision_reason: str = Field(default="", sa_type=Text)
    decided_ns: int = _ns(default=0)
    target1: Optional[float] = Field(default=0.0, sa_column_kwargs={"server_default": "0"})  # first target (0 = none): a restart keeps the partial plan
    # the execution map (engine/execution_map.py): the index the setup read, its prices, r
    index_symbol: str = Field(default="", sa_column_kwargs={"server_default": ""})
    index_entry: Optional[float] = None
    index_stop: Optional[float] = None
    index_target: Optional[float] = None
    map_ratio: Optional[float] = None


class OrderRow(StoreModel, table=True):
    __tablename__ = "orders"

    id: str = Field(primary_key=True)
    client_order_id: str = Field(index=True)
    symbol: str = Field(index=True)
    side: str
    type: str
    qty: int
    status: str = Field(index=True)
    filled_qty: int = 0
    avg_fill_price: Optional[float] = 0.0
    limit_price: Optional[float] = None
    stop_price: Optional[float] = None
    leg: str = "entry"
    parent_id: Optional[str] = None
    signal_id: Optional[str] = Field(default=None, index=True)
    created_ns: int = _ns(default=0)
    updated_ns: int = _ns(default=0)
    reason: str = Field(default="", sa_type=Text)
    # the execution map: the order's price in the index the setup read, and r
    index_symbol: str = Field(default="", sa_column_kwargs={"server_default": ""})
    index_price: Optional[float] = None
    map_ratio: Optional[float] = None


class FillRow(StoreModel, table=True):
    __tablename__ = "fills"

    id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    client_order_id: str
    symbol: str = Field(index=True)
    side: str
    qty: int
    price: Optional[float] = None
    commission: Optional[float] = None
    ts_ns: int = _ns(index=True)
    leg: str = "entry"


class PositionRow(StoreModel, table=True):
    __tablename__ = "positions"
    __table_args__ = (Index("ix_positions_symbol_ts", "symbol", "ts_ns"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    symbol: str
    ts_ns: int = _ns()
    qty: int
    avg_price: Optional[float] = None
    last: Optional[float] = None
    unrealized_pnl: Optional[float] = None
    realized_pnl: Optional[float] = 0.0
    stop: Optional[float] = None
    target: Optional[float] = None
    opened_ns: int = _ns(default=0)


class AccountSnapshotRow(StoreModel, table=True):
    __tablename__ = "account_snapshots"

    id: Optional[int] = Field(default=None, primary_key=True)
    ts_ns: int = _ns(index=True)
    equity: Optional[float] = None
    cash: Optional[float] = None
    buying_power: Optional[float] = None
    start_of_day_equity: Optional[float] = None
    realized_pnl: Optional[float] = 0.0
    unrealized_pnl: Optional[float] = 0.0
    commissions: Optional[float] = 0.0


class StrategyConfigRow(StoreModel, table=True):
    __tablename__ = "strategy_configs"

    symbol: str = Field(primary_key=True)
    enabled: bool = True
    parameters: str = Field(default="{}", sa_type=Text)  # JSON object
    updated_ns: int = _ns(default=0)


class JournalRow(StoreModel, table=True):
    __tablename__ = "journal"

    id: Optional[int] = Field(default=None, primary_key=True)
    ts_ns: int = _ns(index=True)
    level: str
    kind: str = Field(index=True)
    symbol: Optional[str] = None
    message: str = Field(sa_type=Text)
    data: Optional[str] = _json()


class RunRow(StoreModel, table=True):
    """One backtest / sweep / walk-forward result, so runs can be compared later."""

    __tablename__ = "runs"

    id: str = Field(primary_key=True)
    created_ns: int = _ns(index=True)
    kind: str = Field(index=True)  # "backtest" | "sweep" | "walkforward" | ...
    params: str = Field(default="{}", sa_type=Text)  # JSON
    fingerprint: str = ""  # identifies the data the run used
    metrics: str = Field(default="{}", sa_type=Text)  # JSON
    detail: Optional[str] = _json()  # JSON: optional extras (trades, equity curve)


class SimSessionRow(StoreModel, table=True):
    """One start of a simulated session in this store (engine/sim_resume.py): which
    seeded session it was (``key``: seed, symbols, first date), which day of it,
    whether it started fresh or carried on, and its run token (the prefix of its
    signal, order and fill ids). The newest row says what the store's state belongs to."""

    __tablename__ = "sim_sessions"

    seq: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(index=True)  # "seed=7 symbols=AAPL,SPY date=2024-06-12"
    run_id: str = ""
    session_date: str = ""  # the day this run plays (ISO); later than the key's date after a close
    start: str = ""  # "fresh" | "resumed" | "next_session"
    data_ns: int = _ns(default=0)  # data time the run started from (0 = the session's beginning)
    detail: Optional[str] = _json()  # JSON: what was restored or abandoned


TABLES = {
    m.__tablename__: m
    for m in (
        CandleRow,
        MarketStateRow,
        OrderFlowRow,
        SignalRow,
        OrderRow,
        FillRow,
        PositionRow,
        AccountSnapshotRow,
        StrategyConfigRow,
        JournalRow,
        RunRow,
        SimSessionRow,
    )
}
