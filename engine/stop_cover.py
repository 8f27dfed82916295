"""How many of a position's shares the working stops at the broker cover.

A position is protected share by share, not symbol by symbol: a stop for 60
shares of a 100-share position leaves 40 with nothing to close them (e.g. a
pegged entry on Alpaca that filled in part, was cancelled with its legs, and
sent its remainder at market with legs for the remainder only). So each
closing-side stop-loss order counts for the shares it can close now:

* a stop whose outcome is UNKNOWN counts for nothing (it may not exist);
* a stop with no parent, or whose parent entry is done (filled, or unknown to
  the broker's book), counts for what is left of it (``qty - filled_qty``);
* a bracket leg whose parent entry is still working counts for what it holds
  beyond the parent's unfilled rest (``qty - filled_qty - (parent.qty -
  parent.filled_qty)``): its qty is the entry's whole size, so while the entry
  fills in parts (or, on Alpaca, after a re-peg that sent the remaining qty
  under a new parent) it covers exactly the shares already bought;
* a leg whose parent ended part-filled (cancelled, expired) counts for at most
  the shares that parent filled.

Over-coverage (a stop not yet shrunk after a partial exit, the old and the new
order of a stop being replaced) is never flagged: only shares left over are.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from .model import Order, OrderLeg, OrderStatus, Position, Side


def closing_side(pos: Position) -> Side:
    return Side.SELL if pos.qty > 0 else Side.BUY


def counts_as_stop(o: Order) -> bool:
    """A working stop-loss order: open, and not one whose submit outcome is unknown."""
    return o.leg is OrderLeg.STOP_LOSS and o.status.is_open and o.status is not OrderStatus.UNKNOWN


def stop_cover(o: Order, parent: Optional[Order]) -> int:
    """The shares ``o`` (a working stop) can close now; ``parent`` is its bracket's entry if known."""
    left = max(0, o.qty - o.filled_qty)
    if parent is None or parent.status is OrderStatus.FILLED:
        return left
    if parent.status.is_open:
        return max(0, left - max(0, parent.qty - parent.filled_qty))
    return min(left, parent.filled_qty)  # its entry ended part-filled: it covers what that bought


def uncovered(positions: Iterable[Position], open_orders: Iterable[Order],
              order: Callable[[str], Optional[Order]] = lambda _id: None) -> dict[str, int]:
    """Symbol -> shares of its open position no working stop covers (only symbols with some).
    ``order`` looks up an order that is no longer open (a leg's ended parent)."""
    opened = [p for p in positions if p.qty]
    if not opened:
        return {}
    orders = list(open_orders)
    by_id = {o.id: o for o in orders}
    cover: dict[str, int] = {}
    sides = {p.symbol: closing_side(p) for p in opened}
    for o in orders:
        if o.symbol not in sides or o.side is not sides[o.symbol] or not counts_as_stop(o):
            continue
        parent = None
        if o.parent_id is not None:
            parent = by_id.get(o.parent_id) or order(o.parent_id)
        cover[o.symbol] = cover.get(o.symbol, 0) + stop_cover(o, parent)
    out = {}
    for p in opened:
        short = abs(p.qty) - cover.get(p.symbol, 0)
        if short > 0:
            out[p.symbol] = short
    return out



def holding_orders(symbol: str, side: Side, open_orders: Iterable[Order]) -> list[Order]:
    """The closing-side orders of ``symbol`` that hold its shares besides the working
    stops: a stop placed over them would close shares twice on a paper book or be
    refused at Alpaca ("insufficient qty available"). Not counted: the working stops
    themselves, a take-profit paired with one of them (a bracket's legs hold the same
    shares, OCO) and the legs of an entry still working (they hold shares to come).
    A stop whose outcome is UNKNOWN holds them: it may exist, and must not be doubled."""
    orders = [o for o in open_orders if o.symbol == symbol]
    open_ids = {o.id for o in orders}
    paired = {o.parent_id for o in orders if o.parent_id is not None and o.side is side and counts_as_stop(o)}
    return [o for o in orders if o.side is side and not counts_as_stop(o)
            and not (o.parent_id is not None and (o.parent_id in open_ids or o.parent_id in paired))]
