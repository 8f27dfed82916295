"""Entry orders left working too long (``cockpit orders cancel-stale``).

Conservative by construction: only an *entry* that has filled nothing and whose
state is known is cancelled. The stop-loss and take-profit legs of a bracket
protect a position and are never touched; a partly filled entry is left to the
trader (its legs protect the filled part); an order in the UNKNOWN state is not
guessed at (the cockpit resolves it); an order whose creation time is unknown
is not called stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .model import NS_PER_S, Order, OrderLeg, OrderStatus


@dataclass
class StaleResult:
    stale: list[Order] = field(default_factory=list)  # to cancel (dry run) or cancelled
    cancelled: list[Order] = field(default_factory=list)
    failed: list[tuple[Order, str]] = field(default_factory=list)
    kept: list[tuple[Order, str]] = field(default_factory=list)  # old but not cancelled, and why


def age_minutes(order: Order, now_ns: int) -> float:
    return (now_ns - order.created_ns) / (60 * NS_PER_S)


def sort_stale(orders: list[Order], now_ns: int, minutes: float) -> StaleResult:
    """Which open orders older than ``minutes`` are stale entries, and which old ones are kept (why)."""
    out = StaleResult()
    for o in orders:
        if not o.status.is_open:
            continue
        if not o.created_ns:
            out.kept.append((o, "creation time unknown"))
            continue
        if age_minutes(o, now_ns) < minutes:
            continue
        if o.leg is not OrderLeg.ENTRY:
            out.kept.append((o, f"{o.leg.value} leg: it protects a position"))
        elif o.status is OrderStatus.UNKNOWN:
            out.kept.append((o, "outcome unknown: the cockpit resolves it, it is not guessed"))
        elif o.filled_qty:
            out.kept.append((o, f"partly filled ({o.filled_qty} of {o.qty}): its legs protect the filled part"))
        else:
            out.stale.append(o)
    return out


async def cancel_stale(broker, now_ns: int, minutes: float, dry_run: bool = False) -> StaleResult:
    """Cancel the stale entries among ``broker.open_orders()`` (a started broker)."""
    result = sort_stale(list(broker.open_orders()), now_ns, minutes)
    if dry_run:
        return result
    for o in result.stale:
        try:
            done = await broker.cancel(o.id)
        except Exception as exc:  # a broker error names itself (redacted where it is raised)
            result.failed.append((o, f"{type(exc).__name__}: {exc}"))
            continue
        if done is None:
            result.failed.append((o, "the broker no longer knows this order"))
        else:
            result.cancelled.append(done)
    return result
