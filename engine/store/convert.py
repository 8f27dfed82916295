"""Model dataclass <-> table row dict, one pair per kind of record.

Kept apart from the writer so the hot path stays an O(1) append: the engine
enqueues its frozen dataclasses as they are, and these conversions run later,
in a batch, on the writer's side.

NaN is written as NULL (SQLite stores NaN as NULL anyway; doing it ourselves
makes PostgreSQL behave the same) and a NULL read back into a float field
becomes NaN again; genuinely optional fields (a stop price, a limit price)
stay None.
"""
from __future__ import annotations

import json
import math
from typing import Any, Optional

from engine.model import (
    Account,
    Bar,
    Decision,
    Fill,
    JournalEntry,
    Order,
    OrderLeg,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
)

NAN = float("nan")


def f_out(x: Optional[float]) -> Optional[float]:
    """A float for the DB: NaN -> NULL."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def f_in(x: Optional[float]) -> float:
    """A float from the DB into a non-optional float field: NULL -> NaN."""
    return NAN if x is None else float(x)


def opt_in(x: Optional[float]) -> Optional[float]:
    return None if x is None else float(x)


def dumps(obj: Any) -> Optional[str]:
    """JSON text for a free-form structure. Enums and other odd values become
    their str() so a journal entry carrying them is stored, not refused."""
    if obj is None:
        return None
    return json.dumps(obj, default=str, separators=(",", ":"))


def loads(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


def _enum_value(x: Any) -> Any:
    return x.value if hasattr(x, "value") else x


# --------------------------------------------------------------------------- candles


def bar_to_row(b: Bar) -> dict:
    return {
        "symbol": b.symbol,
        "ts_ns": int(b.ts_ns),
        "open": f_out(b.open),
        "high": f_out(b.high),
        "low": f_out(b.low),
        "close": f_out(b.close),
        "volume": f_out(b.volume),
        "buy_volume": f_out(b.buy_volume),
        "sell_volume": f_out(b.sell_volume),
        "trades": int(b.trades),
        "vwap": f_out(b.vwap),
        "vap": None if b.vap is None else json.dumps(b.vap, separators=(",", ":")),
    }


def bar_from_row(r: Any) -> Bar:
    vap = None
    if r.vap is not None:
        vap = tuple((float(p), float(v)) for p, v in json.loads(r.vap))
    return Bar(
        symbol=r.symbol,
        ts_ns=int(r.ts_ns),
        open=f_in(r.open),
        high=f_in(r.high),
        low=f_in(r.low),
        close=f_in(r.close),
        volume=f_in(r.volume),
        buy_volume=f_in(r.buy_volume),
        sell_volume=f_in(r.sell_volume),
        trades=int(r.trades or 0),
        vwap=f_in(r.vwap),
        vap=vap,
    )


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


# --------------------------------------------------------------------------- signals, orders, fills


def signal_to_row(s: Signal) -> dict:
    return {
        "id": s.id,
        "symbol": s.symbol,
        "setup": s.setup,
        "side": _enum_value(s.side),
        "entry": f_out(s.entry),
        "stop": f_out(s.stop),
        "target": f_out(s.target),
        "confidence": f_out(s.confidence),
        "reason": s.reason,
        "created_ns": int(s.created_ns),
        "qty": int(s.qty),
        "risk_usd": f_out(s.risk_usd),
        "r_multiple": f_out(s.r_multiple),
        "expires_ns": int(s.expires_ns),
        "decision": _enum_value(s.decision),
        "decision_reason": s.decision_reason,
        "decided_ns": int(s.decided_ns),
    }


def signal_from_row(r: Any) -> Signal:
    return Signal(
        id=r.id,
        symbol=r.symbol,
        setup=r.setup,
        side=Side(r.side),
        entry=f_in(r.entry),
        stop=f_in(r.stop),
        target=f_in(r.target),
        confidence=f_in(r.confidence),
        reason=r.reason or "",
        created_ns=int(r.created_ns),
        qty=int(r.qty or 0),
        risk_usd=f_in(r.risk_usd),
        r_multiple=f_in(r.r_multiple),
        expires_ns=int(r.expires_ns or 0),
        decision=Decision(r.decision),
        decision_reason=r.decision_reason or "",
        decided_ns=int(r.decided_ns or 0),
    )


def order_to_row(o: Order) -> dict:
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": _enum_value(o.side),
        "type": _enum_value(o.type),
        "qty": int(o.qty),
        "status": _enum_value(o.status),
        "filled_qty": int(o.filled_qty),
        "avg_fill_price": f_out(o.avg_fill_price),
        "limit_price": f_out(o.limit_price),
        "stop_price": f_out(o.stop_price),
        "leg": _enum_value(o.leg),
        "parent_id": o.parent_id,
        "signal_id": o.signal_id,
        "created_ns": int(o.created_ns),
        "updated_ns": int(o.updated_ns),
        "reason": o.reason,
    }


def order_from_row(r: Any) -> Order:
    return Order(
        id=r.id,
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=Side(r.side),
        type=OrderType(r.type),
        qty=int(r.qty),
        status=OrderStatus(r.status),
        filled_qty=int(r.filled_qty or 0),
        avg_fill_price=f_in(r.avg_fill_price),
        limit_price=opt_in(r.limit_price),
        stop_price=opt_in(r.stop_price),
        leg=OrderLeg(r.leg),
        parent_id=r.parent_id,
        signal_id=r.signal_id,
        created_ns=int(r.created_ns or 0),
        updated_ns=int(r.updated_ns or 0),
        reason=r.reason or "",
    )


def fill_to_row(f: Fill) -> dict:
    return {
        "id": f.id,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "symbol": f.symbol,
        "side": _enum_value(f.side),
        "qty": int(f.qty),
        "price": f_out(f.price),
        "commission": f_out(f.commission),
        "ts_ns": int(f.ts_ns),
        "leg": _enum_value(f.leg),
    }


def fill_from_row(r: Any) -> Fill:
    return Fill(
        id=r.id,
        order_id=r.order_id,
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=Side(r.side),
        qty=int(r.qty),
        price=f_in(r.price),
        commission=f_in(r.commission),
        ts_ns=int(r.ts_ns),
        leg=OrderLeg(r.leg),
    )


# --------------------------------------------------------------------------- positions, account, journal


def position_to_row(p: Position, ts_ns: int) -> dict:
    return {
        "symbol": p.symbol,
        "ts_ns": int(ts_ns),
        "qty": int(p.qty),
        "avg_price": f_out(p.avg_price),
        "last": f_out(p.last),
        "unrealized_pnl": f_out(p.unrealized_pnl),
        "realized_pnl": f_out(p.realized_pnl),
        "stop": f_out(p.stop),
        "target": f_out(p.target),
        "opened_ns": int(p.opened_ns),
    }


def position_from_row(r: Any) -> Position:
    return Position(
        symbol=r.symbol,
        qty=int(r.qty),
        avg_price=f_in(r.avg_price),
        last=f_in(r.last),
        unrealized_pnl=f_in(r.unrealized_pnl),
        realized_pnl=f_in(r.realized_pnl),
        stop=opt_in(r.stop),
        target=opt_in(r.target),
        opened_ns=int(r.opened_ns or 0),
    )


def account_to_row(a: Account, ts_ns: int) -> dict:
    return {
        "ts_ns": int(ts_ns),
        "equity": f_out(a.equity),
        "cash": f_out(a.cash),
        "buying_power": f_out(a.buying_power),
        "start_of_day_equity": f_out(a.start_of_day_equity),
        "realized_pnl": f_out(a.realized_pnl),
        "unrealized_pnl": f_out(a.unrealized_pnl),
        "commissions": f_out(a.commissions),
    }


def account_from_row(r: Any) -> Account:
    return Account(
        equity=f_in(r.equity),
        cash=f_in(r.cash),
        buying_power=f_in(r.buying_power),
        start_of_day_equity=f_in(r.start_of_day_equity),
        realized_pnl=f_in(r.realized_pnl),
        unrealized_pnl=f_in(r.unrealized_pnl),
        commissions=f_in(r.commissions),
    )


def journal_to_row(e: JournalEntry) -> dict:
    return {
        "ts_ns": int(e.ts_ns),
        "level": e.level,
        "kind": e.kind,
        "symbol": e.symbol,
        "message": e.message,
        "data": dumps(e.data),
    }


def journal_from_row(r: Any) -> JournalEntry:
    return JournalEntry(
        ts_ns=int(r.ts_ns),
        level=r.level,
        kind=r.kind,
        message=r.message,
        symbol=r.symbol,
        data=loads(r.data),
    )
