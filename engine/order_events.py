"""What happened to each order of this run: submitted, accepted, filled, cancelled,
rejected... kept by the router so the trader can open one order and see its legs
and its history (the order detail), not only its latest state.

Bounded: the events of the newest ``max_orders`` orders are kept (a long AUTO
run must not grow without limit); the store keeps everything.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Optional

from .model import Fill, Order, OrderDetail, OrderEvent

MAX_EVENTS_PER_ORDER = 50
KEEP_ORDERS = 500  # the orders whose history is kept (the newest); read when a router starts


class OrderEvents:
    def __init__(self, max_orders: Optional[int] = None) -> None:
        self.max_orders = KEEP_ORDERS if max_orders is None else max_orders
        # per order its events as plain tuples (OrderEvent's fields): a round trip hears ~9
        # events and the detail of an order is rarely opened, so the records are built when read
        self._events: OrderedDict[str, list[tuple]] = OrderedDict()
        self._fills: dict[str, list[Fill]] = {}

    def add(self, kind: str, order: Order, fill: Optional[Fill] = None, reason: str = "") -> None:
        events = self._events.get(order.id)
        if events is None:
            events = self._events[order.id] = []
            while len(self._events) > self.max_orders:
                old, _ = self._events.popitem(last=False)
                self._fills.pop(old, None)
        if fill is None:
            if len(events) < MAX_EVENTS_PER_ORDER:
                event = (order.updated_ns or order.created_ns, kind, order.status, order.filled_qty, None,
                         reason or order.reason)
                if kind == "submitted":  # the submit returns after a broker that answers at once said "new"
                    events.insert(0, event)
                else:
                    events.append(event)
            return
        if len(events) < MAX_EVENTS_PER_ORDER:
            events.append((fill.ts_ns, kind, order.status, order.filled_qty, fill.price, reason or order.reason))
        self._fills.setdefault(order.id, []).append(fill)

    def detail(self, order: Order, known: Iterable[Order]) -> OrderDetail:
        """``order`` with its legs among ``known`` orders (an entry's children; a
        child's parent and siblings), its events and fills."""
        family = order.parent_id or order.id
        legs = tuple(o for o in known if o.id != order.id and (o.id == family or o.parent_id == family))
        events = tuple(OrderEvent(*e) for e in self._events.get(order.id, ()))
        return OrderDetail(order, legs, events, tuple(self._fills.get(order.id, ())))
