"""What we believed versus what the broker says, in words a trader can read.

Why: after a restart or a dropped order stream the broker is the truth. The
broker adapter replaces its positions and open orders with the broker's, emits
the fills it missed, and the engine journals each difference this module
describes (a missed fill included), so nothing changes silently.
"""
from __future__ import annotations

from typing import Mapping

from ..model import Fill, Order, Position


def _fmt_qty(qty: float) -> str:
    return f"{qty:+g}"


def describe_order(order: Order) -> str:
    price = ""
    if order.limit_price is not None:
        price += f" limit {order.limit_price:g}"
    if order.stop_price is not None:
        price += f" stop {order.stop_price:g}"
    return f"{order.symbol} {order.side.value} {order.qty} {order.type.value}{price} ({order.leg.value}, id {order.id})"


def describe_fill(fill: Fill) -> str:
    return (f"{fill.symbol} {fill.side.value} {fill.qty} @ {fill.price:.4f} ({fill.leg.value},"
            f" order {fill.order_id}, client id {fill.client_order_id})")


def diff_positions(believed: Mapping[str, Position], actual: Mapping[str, Position]) -> list[str]:
    """One line per symbol whose quantity or average price differs."""
    out: list[str] = []
    for symbol in sorted(set(believed) | set(actual)):
        ours, theirs = believed.get(symbol), actual.get(symbol)
        if ours is None and theirs is not None:
            out.append(
                f"position {symbol}: we had none, broker has {_fmt_qty(theirs.qty)} @ {theirs.avg_price:.4f}"
            )
        elif ours is not None and theirs is None:
            out.append(f"position {symbol}: we had {_fmt_qty(ours.qty)}, broker has none")
        elif ours is not None and theirs is not None:
            if ours.qty != theirs.qty:
                out.append(
                    f"position {symbol}: we had {_fmt_qty(ours.qty)}, broker has {_fmt_qty(theirs.qty)}"
                    f" @ {theirs.avg_price:.4f}"
                )
            elif abs(ours.avg_price - theirs.avg_price) > 1e-6:
                out.append(
                    f"position {symbol}: average price {ours.avg_price:.4f} -> {theirs.avg_price:.4f} (broker)"
                )
    return out


def diff_open_orders(believed: Mapping[str, Order], actual: Mapping[str, Order]) -> list[str]:
    """Open orders keyed by broker order id: ones only we knew, ones only the
    broker has, and ones whose status or filled quantity moved."""
    out: list[str] = []
    for oid in sorted(set(believed) | set(actual)):
        ours, theirs = believed.get(oid), actual.get(oid)
        if ours is None and theirs is not None:
            out.append(f"order {describe_order(theirs)}: unknown to us, open at broker ({theirs.status.value})")
        elif ours is not None and theirs is None:
            out.append(f"order {describe_order(ours)}: we had it {ours.status.value}, not open at broker")
        elif ours is not None and theirs is not None:
            if ours.status != theirs.status or ours.filled_qty != theirs.filled_qty:
                out.append(
                    f"order {describe_order(theirs)}: we had {ours.status.value} filled {ours.filled_qty},"
                    f" broker has {theirs.status.value} filled {theirs.filled_qty}"
                )
            elif ours.stop_price != theirs.stop_price or ours.limit_price != theirs.limit_price:
                out.append(f"order {describe_order(theirs)}: prices changed at broker")
    return out
