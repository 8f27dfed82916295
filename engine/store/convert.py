"""Model record <-> table row, one pair per kind of record the store keeps.

Kept apart from the writer so the hot path stays an O(1) append: the engine
enqueues its frozen dataclasses as they are, and these conversions run later,
in a batch, on the writer's side.

The records' conversions are derived from their dataclass fields by
``RecordTable`` (see ``engine.store.codec`` for how each type is written and
read); building them checks every field against its table's columns, so this
module fails to import when a record and its table disagree. Market state and
order flow are no model records: the engine hands them over as plain values
(``Store.record_state``, ``Store.record_flow``), converted by hand below.
"""
from __future__ import annotations

from typing import Any

from engine.model import Account, Bar, Fill, JournalEntry, Order, Position, Signal
from engine.store.codec import RecordTable, f_in, f_out, loads  # noqa: F401  (f_in, loads: the store's reads use them)
from engine.store.tables import (
    AccountSnapshotRow,
    CandleRow,
    FillRow,
    JournalRow,
    OrderRow,
    PositionRow,
    SignalRow,
)


def _enum_value(x: Any) -> Any:
    return x.value if hasattr(x, "value") else x


# --------------------------------------------------------------------------- model records

CANDLES = RecordTable(Bar, CandleRow.__table__)
SIGNALS = RecordTable(Signal, SignalRow.__table__)
ORDERS = RecordTable(Order, OrderRow.__table__)
FILLS = RecordTable(Fill, FillRow.__table__)
POSITIONS = RecordTable(Position, PositionRow.__table__, extra=(("ts_ns", int),), generated=("id",))
ACCOUNT_SNAPSHOTS = RecordTable(Account, AccountSnapshotRow.__table__, extra=(("ts_ns", int),), generated=("id",))
JOURNAL = RecordTable(JournalEntry, JournalRow.__table__, generated=("id",))

RECORD_TABLES = (CANDLES, SIGNALS, ORDERS, FILLS, POSITIONS, ACCOUNT_SNAPSHOTS, JOURNAL)

bar_to_row, bar_from_row = CANDLES.to_row, CANDLES.from_row
signal_to_row, signal_from_row = SIGNALS.to_row, SIGNALS.from_row
order_to_row, order_from_row = ORDERS.to_row, ORDERS.from_row
fill_to_row, fill_from_row = FILLS.to_row, FILLS.from_row
position_to_row, position_from_row = POSITIONS.to_row, POSITIONS.from_row
account_to_row, account_from_row = ACCOUNT_SNAPSHOTS.to_row, ACCOUNT_SNAPSHOTS.from_row
journal_to_row, journal_from_row = JOURNAL.to_row, JOURNAL.from_row


# --------------------------------------------------------------------------- market state and flow


def state_to_row(symbol: str, ts_ns: int, state: Any, poc: float, vah: float, val: float,
                 distance_pct: float, momentum: float) -> dict:
    return {
        "symbol": symbol,
        "ts_ns": int(ts_ns),
        "state": str(_enum_value(state)),
        "poc": f_out(poc),
        "vah": f_out(vah),
        "val": f_out(val),
        "distance_pct": f_out(distance_pct),
        "momentum": f_out(momentum),
    }


def flow_to_row(symbol: str, ts_ns: int, buy: float, sell: float, delta: float, cvd: float,
                pressure: float, aggression: float, direction: Any) -> dict:
    return {
        "symbol": symbol,
        "ts_ns": int(ts_ns),
        "buy": f_out(buy),
        "sell": f_out(sell),
        "delta": f_out(delta),
        "cvd": f_out(cvd),
        "pressure": f_out(pressure),
        "aggression": f_out(aggression),
        "direction": None if direction is None else str(_enum_value(direction)),
    }
