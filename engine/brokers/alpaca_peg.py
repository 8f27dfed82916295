"""Pegged limit entries at Alpaca (STRATEGY.md 14): engine/peg.py's rules driving a
real order through alpaca-py.

The rules are the paper broker's (the spread gate, the peg at mid + offset toward
the far side, re-pegs on quote changes up to ``max_reprices`` within
``peg_timeout_s``, then market or cancel); what differs is what each step costs
at Alpaca, and what can go wrong there:

- Placing: until the spread first allows it, nothing is at Alpaca; a local
  waiting order (``peg-wait:<client id>``, open, so the symbol counts as exposed)
  stands in. It is placed as the router's bracket, a limit at the peg price,
  through the broker's ordinary submit (never a blind resend; no answer makes it
  UNKNOWN, looked up, never guessed); the waiting order then closes ("resolved").
- Re-pegging: PATCH /v2/orders/{id} (``replace_order_by_id``) with the new limit
  and a client order id of its own (``<id>-r<n>``: a retry is refused as a
  duplicate, never doubled). Alpaca answers with a NEW order that replaces the old
  one (the old goes ``replaced``); its legs follow it. After a partial fill the
  remaining qty is sent explicitly: without it Alpaca keeps the original qty
  (Alpaca-API issue #165). A replace Alpaca refuses (the order filled or was
  canceled meanwhile, or is not replaceable yet) is followed by a look-up of the
  order: a fill ends the peg, an order still working is re-pegged on a later
  quote. A replace with no answer is looked up by its client id before anything
  else happens to the peg.
- A spread that widens after placing: the order is pulled (engine/peg.py's rule,
  as on the paper broker: no resting limit while the market is too wide). It is
  cancelled at Alpaca and, once Alpaca confirms the cancel and says how much
  filled, a local waiting order (``peg-wait:<client id>-w<n>``) for the remaining
  qty stands in until a quote inside the gate places it again (a new bracket under
  ``<id>-r<n>``, counted as a re-peg) within the same data-time window; the window
  ending while pulled goes to market or is cancelled as for any waiting entry. A
  cancel Alpaca refuses because the order filled meanwhile adopts the fill (the
  look-up emits it) and ends the peg; a part filled before the cancel is protected
  (``AlpacaBroker.protect``). A cancel not yet confirmed leaves the order as it
  stands (open, so the symbol still counts as exposed); it is looked up at each tick
  of the engine's timer and before the peg's next step: nothing is placed on a guess.
- The end (time out, or a re-peg past ``max_reprices``): the order is cancelled
  and, with ``market_fallback``, only once Alpaca confirms the cancel (and says
  how much filled) is the remainder sent at market (``<id>-m``); a cancel not
  yet confirmed is tried again at the next tick, never guessed.
- A trader's cancel, cancel-all, flatten or flatten-all stops the symbol's pegs
  first: nothing is re-placed after it.

Each step is a "replaced" BrokerEvent whose reason starts "peg: " (journaled by
the router, shown on the signal's row), as on the paper broker. One step runs at
a time per entry; quotes that arrive meanwhile are folded into the next.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

from alpaca.trading.requests import ReplaceOrderRequest

from ..ids import fit
from ..live.rest import AlpacaRestError
from ..live.secrets import redact
from ..model import BrokerEvent, Order, OrderLeg, OrderRequest, OrderStatus, OrderType, Quote
from ..peg import PegAction, PegState, progress, resumed, window_left_s

if TYPE_CHECKING:
    from .alpaca import AlpacaBroker

log = logging.getLogger(__name__)

UNKNOWN_PREFIX = "unknown:"  # the broker's placeholder of a submit whose outcome is unknown
WAITING_PREFIX = "peg-wait:"  # id of the local order standing in until the spread lets the entry be placed
PEG_WAITING = "peg: waiting for the spread (nothing at Alpaca yet)"
NOT_RESTORED = "peg: not restored after a restart (no journaled progress): cancelled"
WINDOW_OVER = "peg: not resumed after a restart: its window ended {ago:.1f}s ago: cancelled"
RESUMED = "peg: resumed after a restart with {left:.1f}s of its window left, {reprices} re-pegs used"
_CANCEL_CHECKS_S = (0.0, 0.1, 0.3)  # look-ups of a cancelled peg before the market fallback goes


def is_waiting(order_id: str) -> bool:
    return order_id.startswith(WAITING_PREFIX)


@dataclass
class _Peg:
    """One pegged entry at Alpaca: its rules' state and the order working for it now."""

    req: OrderRequest  # as the router sent it: its client id is the base of every attempt's id
    state: PegState
    order_id: str  # the Alpaca order working now, or the local waiting order's id
    attempts: int = 0  # Alpaca orders made for it so far (the base id, then -r1, -r2, ...)
    busy: bool = False  # a step is talking to Alpaca: the next one waits for it
    quote: Optional[Quote] = None  # the newest quote that came while busy
    unsure: str = ""  # the client id of a replace that got no answer, until a look-up says
    pulling: str = ""  # the Alpaca order cancelled to pull the peg (spread too wide), until confirmed
    stopped: bool = False  # a trader's cancel/flatten: nothing more is placed

    @property
    def finished(self) -> bool:
        return self.state.done or self.stopped


class AlpacaPegs:
    """The working pegged entries of one AlpacaBroker (see the module doc)."""

    def __init__(self, broker: "AlpacaBroker") -> None:
        self._b = broker
        self._pegs: dict[str, _Peg] = {}  # base client id -> peg
        self._quotes: dict[str, Quote] = {}
        self._saved: dict[str, dict] = {}  # a restart: journaled progress by order id
        self._to_resume: list[Order] = []  # restored entries to resume (or cancel) once the broker started

    # ------------------------------------------------------------------ views

    def progress(self, order_id: str) -> Optional[dict]:
        for peg in self._pegs.values():
            if peg.order_id == order_id and not peg.finished:
                return {**progress(peg.state, peg.req.client_order_id, order_id), "attempts": peg.attempts,
                        "symbol": peg.req.symbol}
        return None

    # ------------------------------------------------------------------ placing

    async def submit(self, req: OrderRequest) -> Order:
        """The entry placed at its peg when the quote allows, else a local waiting order."""
        now = self._b._clock.now_ns()
        peg = _Peg(req, PegState(req.side, req.peg, now), f"{WAITING_PREFIX}{req.client_order_id}")
        self._pegs[req.client_order_id] = peg
        q = self._quotes.get(req.symbol)
        action = peg.state.on_quote(q.bid, q.ask, max(now, q.ts_ns)) if q is not None else None
        if action is not None and action.kind == "place":
            peg.busy = True
            try:
                order = await self._place(peg, action)
                await self._cancel_if_stopped(peg)
                return order
            finally:
                self._after_step(peg)
        waiting = Order(
            id=peg.order_id, client_order_id=req.client_order_id, symbol=req.symbol, side=req.side,
            type=OrderType.LIMIT, qty=req.qty, status=OrderStatus.NEW, limit_price=req.limit_price,
            leg=OrderLeg.ENTRY, signal_id=req.signal_id, created_ns=now, updated_ns=now, reason=PEG_WAITING)
        self._b._orders[waiting.id] = waiting
        self._b._emit(BrokerEvent("new", waiting, reason=PEG_WAITING))
        return waiting

    def _attempt_id(self, peg: _Peg, tag: str = "r") -> str:
        base = peg.req.client_order_id
        cid = base if peg.attempts == 0 and tag == "r" else fit(f"{base}-{tag}{peg.attempts if tag == 'r' else ''}")
        self._b._used_client_ids.add(cid)
        self._b._meta[cid] = (peg.req.signal_id, OrderLeg.ENTRY)
        return cid

    async def _place(self, peg: _Peg, action: PegAction) -> Order:
        """A new Alpaca order for the peg (the first placement): the router's bracket as a
        limit at the peg price. The local waiting order, if any, closes ("resolved")."""
        cid = self._attempt_id(peg)
        peg.attempts += 1
        order = await self._b._send(replace(peg.req, client_order_id=cid, limit_price=action.price, peg=None))
        self._close_waiting(peg, order)
        if order.status is OrderStatus.REJECTED:
            peg.state.done = True
            return order
        peg.order_id = order.id
        if order.status is OrderStatus.UNKNOWN:  # looked up in the background; the peg waits for it
            return order
        return self._note(order, action.reason)

    def _close_waiting(self, peg: _Peg, order: Order) -> None:
        waiting_id = peg.order_id if is_waiting(peg.order_id) else f"{WAITING_PREFIX}{peg.req.client_order_id}"
        waiting = self._b._orders.get(waiting_id)
        if waiting is None or not waiting.status.is_open:
            return
        if order.status is OrderStatus.REJECTED:
            why = f"peg: placing refused by Alpaca: {order.reason}"
        else:
            why = f"peg: placed as Alpaca order {order.id} ({order.status.value})"
        closed = self._b._orders[waiting_id] = replace(waiting, status=OrderStatus.CANCELED, reason=redact(why),
                                                       updated_ns=max(waiting.updated_ns, self._b._clock.now_ns()))
        self._b._emit(BrokerEvent("resolved", closed, reason=closed.reason))

    def _note(self, order: Order, reason: str) -> Order:
        """One peg step on ``order``: its reason, and a "replaced" event the router journals."""
        noted = self._b._orders[order.id] = replace(order, reason=reason)
        self._b._emit(BrokerEvent("replaced", noted, reason=reason))
        return noted

    # ------------------------------------------------------------------ quotes and time

    def on_quote(self, quote: Quote) -> None:
        self._quotes[quote.symbol] = quote
        for peg in [p for p in self._pegs.values() if p.req.symbol == quote.symbol and not p.finished]:
            if peg.busy:
                peg.quote = quote
                continue
            before = _saved_state(peg.state)
            action = peg.state.on_quote(quote.bid, quote.ask, quote.ts_ns)
            if action is not None:
                self._start(peg, action, before)

    def due(self, now_ns: int) -> None:
        for peg in [p for p in self._pegs.values() if not p.finished and not p.busy]:
            before = _saved_state(peg.state)
            action = peg.state.due(now_ns)
            if action is not None:
                self._start(peg, action, before)
            elif peg.pulling:  # a pull's cancel not confirmed yet: looked up at each tick, not only at a quote
                peg.busy = True
                self._b._spawn(self._run_settle_pull(peg))

    async def _run_settle_pull(self, peg: _Peg) -> None:
        try:
            if not peg.stopped:
                await self._settle_pull(peg, end=False)
        except Exception as exc:  # tried again at the next tick
            log.warning("peg %s: look-up of its pull failed: %s", peg.req.client_order_id, redact(exc))
        self._after_step(peg)

    def _start(self, peg: _Peg, action: PegAction, before: tuple) -> None:
        peg.busy = True
        self._b._spawn(self._run(peg, action, before))

    async def _run(self, peg: _Peg, action: PegAction, before: tuple) -> None:
        try:
            done = await self._step(peg, action)
        except Exception as exc:  # a failed step is tried again; it must never take the broker down
            log.warning("peg %s: %s failed: %s", peg.req.client_order_id, action.kind, redact(exc))
            done = False
        if not done and not peg.stopped:
            _restore_state(peg.state, before)  # the step did not happen: the rules try again later
        await self._cancel_if_stopped(peg)
        self._after_step(peg)

    async def _cancel_if_stopped(self, peg: _Peg) -> None:
        """A trader's cancel or flatten came while a step was at Alpaca: what it placed
        or replaced meanwhile is cancelled too (nothing of the peg outlives the command)."""
        order = self._b._orders.get(peg.order_id)
        if peg.stopped and order is not None and order.status.is_open and not is_waiting(order.id):
            try:
                await self._b._cancel(order.id)
            except Exception as exc:  # the order stays open and shown; the trader can cancel it again
                log.warning("peg %s: cancel after a stop failed: %s", peg.req.client_order_id, redact(exc))

    def _after_step(self, peg: _Peg) -> None:
        peg.busy = False
        if peg.finished:
            self._pegs.pop(peg.req.client_order_id, None)
            return
        if peg.quote is not None:
            quote, peg.quote = peg.quote, None
            self.on_quote(quote)

    # ------------------------------------------------------------------ one step

    async def _step(self, peg: _Peg, action: PegAction) -> bool:
        """Carry out ``action`` at Alpaca; True when it happened (or no longer matters)."""
        if peg.stopped:
            return True
        if peg.unsure and not await self._settle_unsure(peg):
            return False
        if peg.pulling and not await self._settle_pull(peg, end=action.kind in ("market", "cancel")):
            return False
        current = self._b._orders.get(peg.order_id)
        if peg.order_id.startswith(UNKNOWN_PREFIX):  # a placement whose outcome was unknown
            real = self._b.order_by_client_id(peg.order_id[len(UNKNOWN_PREFIX):])
            if real is None:
                if current is None or current.status is not OrderStatus.UNKNOWN:
                    peg.state.done = True  # settled without an order: Alpaca has none, nothing to peg
                    return True
                if action.kind in ("market", "cancel"):
                    await self._b._cancel(current.id)  # looks the submit up first; never cancels a guess
                return False  # not known yet: nothing is re-pegged on a guess
            peg.order_id, current = real.id, real
        waiting = is_waiting(peg.order_id)
        if current is None or (not waiting and not current.status.is_open):
            peg.state.done = True  # filled, canceled or rejected meanwhile: nothing left to peg
            return True
        if action.kind == "wait":
            if waiting:
                return True  # nothing at Alpaca to pull
            return await self._pull(peg, current, action)
        if action.kind in ("place", "reprice"):
            if waiting:
                await self._place(peg, action)
                return True
            return await self._replace(peg, current, action)
        if waiting:  # the window ended before the spread ever allowed placing it
            return await self._end_waiting(peg, current, action)
        return await self._end(peg, current, action)

    async def _replace(self, peg: _Peg, current: Order, action: PegAction) -> bool:
        price = action.price
        if current.limit_price is not None and abs(current.limit_price - price) < 1e-9:
            self._note(current, action.reason)  # back inside the gate at the price it works at
            return True
        cid = self._attempt_id(peg)
        peg.attempts += 1
        remaining = current.qty - current.filled_qty
        body = ReplaceOrderRequest(limit_price=_tick_round(price), client_order_id=cid,
                                   qty=remaining if current.filled_qty else None)
        try:
            raw = await self._b._call(self._b._client.replace_order_by_id, current.id, body)
        except AlpacaRestError as err:
            if err.no_answer:  # did Alpaca take it? Looked up by its client id before anything else
                peg.unsure = cid
                if not await self._settle_unsure(peg) or peg.order_id == current.id:
                    return False  # not known yet, or never made: the rules try again later
                self._note(self._b._orders[peg.order_id], action.reason)
                return True
            log.warning("peg %s: re-peg of %s to %.4f refused: %s", peg.req.client_order_id, current.id, price,
                        err.message)
            looked = await self._b._look_up(current.id)  # a fill meanwhile is emitted by the look-up
            if looked is None or not looked.status.is_open:
                peg.state.done = True
                return True
            return False
        self._adopt(peg, current, raw)
        self._note(self._b._orders[peg.order_id], action.reason)
        return True

    def _adopt(self, peg: _Peg, old: Order, raw) -> None:
        """The replacing order becomes the peg's: an entry of the same signal, and the
        old order's legs are its legs now."""
        new_id = str(raw.id)
        b = self._b
        b._roles[new_id] = (OrderLeg.ENTRY, None)
        for leg in [o for o in b._orders.values() if o.parent_id == old.id]:
            b._roles[leg.id] = (leg.leg, new_id)
            b._orders[leg.id] = replace(leg, parent_id=new_id)
        for leg in raw.legs or ():
            role = b._roles.get(str(leg.id), (OrderLeg.TAKE_PROFIT, None))[0]
            b._roles[str(leg.id)] = (role, new_id)
        b._merge(raw, emit=False)
        peg.order_id = new_id

    async def _settle_unsure(self, peg: _Peg) -> bool:
        """A replace that got no answer: did Alpaca take it? Adopted when it did; True once known."""
        found, certain = await self._b._lookup_client_id(peg.unsure)
        if found is None and not certain:
            return False
        if found is not None:
            old = self._b._orders.get(peg.order_id)
            if old is not None:
                self._adopt(peg, old, found)
        peg.unsure = ""
        return True

    async def _cancel_confirmed(self, current: Order) -> Order:
        """Cancel ``current`` and look it up until Alpaca says it is closed (and how much
        filled; a refusal because it filled is merged, its fill emitted); the order as
        last seen, still open when the cancel is not confirmed yet."""
        if current.status.is_open:
            await self._b._cancel(current.id)
        final = current
        for delay in _CANCEL_CHECKS_S:
            if delay:
                await asyncio.sleep(delay)
            final = await self._b._look_up(current.id) or final
            if not final.status.is_open:
                break
        return final

    async def _pull(self, peg: _Peg, current: Order, action: PegAction) -> bool:
        """The spread widened past the gate: the order leaves the market (cancelled at
        Alpaca); a local waiting order for what is left stands in once the cancel is
        confirmed (``_pulled``), else the next step confirms it first."""
        final = await self._cancel_confirmed(current)
        if final.status.is_open:
            peg.pulling = current.id
            self._note(final, f"{action.reason}: cancel asked at Alpaca, not confirmed yet")
            return True
        await self._pulled(peg, final, action.reason)
        return True

    async def _settle_pull(self, peg: _Peg, end: bool) -> bool:
        """A pull whose cancel was not confirmed: looked up again (cancelled again at the
        peg's end); True once Alpaca says the order is closed."""
        order = self._b._orders.get(peg.pulling)
        if order is None:
            peg.pulling = ""
            return True
        final = await self._cancel_confirmed(order) if end else (await self._b._look_up(order.id) or order)
        if final.status.is_open:
            return False  # not confirmed yet: nothing is placed, re-pegged or sent on a guess
        await self._pulled(peg, final, "peg: pulled, spread too wide")
        return True

    async def _pulled(self, peg: _Peg, final: Order, reason: str) -> None:
        """Alpaca confirmed the pull's cancel: filled meanwhile ends the peg (the look-up
        emitted the fill); else the filled part protected, then a waiting order for the remaining qty."""
        peg.pulling = ""
        remaining = final.qty - final.filled_qty
        if final.status is OrderStatus.FILLED or remaining <= 0 or peg.stopped:
            peg.state.done = True  # filled before the cancel, or a trader's command came meanwhile
            return
        if final.filled_qty:  # the part bought before the cancel first
            await self._protect_filled_part(final)
        peg.req = replace(peg.req, qty=remaining)
        now = self._b._clock.now_ns()
        note = f"{reason}: cancelled at Alpaca, {remaining} waiting for the spread"
        waiting = Order(  # an id of its own per pull (after Alpaca order number ``attempts``)
            id=f"{WAITING_PREFIX}{peg.req.client_order_id}-w{peg.attempts}", client_order_id=peg.req.client_order_id,
            symbol=peg.req.symbol, side=peg.req.side, type=OrderType.LIMIT, qty=remaining, status=OrderStatus.NEW,
            limit_price=final.limit_price, leg=OrderLeg.ENTRY, signal_id=peg.req.signal_id, created_ns=now,
            updated_ns=now, reason=note)
        self._b._orders[waiting.id] = waiting
        peg.order_id = waiting.id
        self._b._emit(BrokerEvent("new", waiting, reason=note))
        self._note(waiting, note)

    async def _end(self, peg: _Peg, current: Order, action: PegAction) -> bool:
        """Time out, or a re-peg past max_reprices: cancel; with the fallback, the
        remainder at market once Alpaca confirms the cancel and how much filled."""
        final = await self._cancel_confirmed(current)
        if final.status.is_open:
            return False  # not confirmed yet: asked again at the next tick, nothing sent on a guess
        peg.state.done = True
        remaining = final.qty - final.filled_qty
        if final.status is OrderStatus.FILLED or remaining <= 0:
            return True  # it filled before the cancel: the position is whole
        if action.kind == "cancel" or peg.stopped:
            self._note(final, action.reason)
            if final.filled_qty and not peg.stopped:
                await self._protect_filled_part(final)
            return True
        cid = self._attempt_id(peg, "m")
        order = await self._b._send(replace(peg.req, client_order_id=cid, type=OrderType.MARKET, limit_price=None,
                                            qty=remaining, peg=None))
        if order.status.is_open:
            self._note(order, action.reason)
        if final.filled_qty:
            await self._protect_filled_part(final)
        return True

    async def _protect_filled_part(self, cancelled: Order) -> None:
        """A peg cancelled part-filled: whether Alpaca keeps the legs of a bracket parent
        cancelled after a partial fill is not documented (the stand-in cancels them), and
        the market remainder's legs cover the remainder only. The cancelled order is looked
        up with its legs, then the engine protects the shares no working stop covers."""
        try:
            await self._b._look_up(cancelled.id, nested=True)
        except Exception as exc:  # the step is done (never redone); the legs are counted as they stand
            log.warning("peg %s: look-up of its legs failed: %s", cancelled.client_order_id, redact(exc))
        await self._b.protect(cancelled.symbol)

    async def _end_waiting(self, peg: _Peg, waiting: Order, action: PegAction) -> bool:
        """The window ended with nothing at Alpaca: the waiting order closes; with the
        fallback the entry goes at market."""
        if action.kind == "market":
            await self._market_from_waiting(peg, action)
            return True
        closed = self._b._orders[waiting.id] = replace(waiting, status=OrderStatus.CANCELED, reason=action.reason,
                                                       updated_ns=self._b._clock.now_ns())
        self._b._emit(BrokerEvent("canceled", closed, reason=action.reason))
        return True

    async def _market_from_waiting(self, peg: _Peg, action: PegAction) -> None:
        cid = self._attempt_id(peg, "m")
        order = await self._b._send(replace(peg.req, client_order_id=cid, type=OrderType.MARKET, limit_price=None,
                                            peg=None))
        self._close_waiting(peg, order)
        if order.status.is_open:
            self._note(order, action.reason)

    # ------------------------------------------------------------------ a trader's commands

    def stop(self, symbol: Optional[str] = None, why: str = "cancel") -> list[Order]:
        """Stop every peg (of ``symbol``): nothing more is placed or re-pegged; a local
        waiting order closes now. Returns the waiting orders closed."""
        out = []
        for peg in [p for p in self._pegs.values() if symbol is None or p.req.symbol == symbol]:
            peg.stopped = True
            waiting = self._b._orders.get(peg.order_id)
            if waiting is not None and is_waiting(waiting.id) and waiting.status.is_open:
                closed = self._b._orders[waiting.id] = replace(
                    waiting, status=OrderStatus.CANCELED, reason=f"peg: stopped by {why}",
                    updated_ns=self._b._clock.now_ns())
                self._b._emit(BrokerEvent("canceled", closed, reason=closed.reason))
                out.append(closed)
            if not peg.busy:
                self._pegs.pop(peg.req.client_order_id, None)
        return out

    def stop_order(self, order_id: str) -> Optional[Order]:
        """A trader cancels one order: the peg working it (if any) stops; a waiting order closes."""
        for peg in list(self._pegs.values()):
            if peg.order_id == order_id:
                peg.stopped = True
                if not peg.busy:
                    self._pegs.pop(peg.req.client_order_id, None)
                if is_waiting(order_id):
                    waiting = self._b._orders[order_id]
                    closed = self._b._orders[order_id] = replace(
                        waiting, status=OrderStatus.CANCELED, reason="peg: stopped by cancel order",
                        updated_ns=self._b._clock.now_ns())
                    self._b._emit(BrokerEvent("canceled", closed, reason=closed.reason))
                    return closed
        return None

    # ------------------------------------------------------------------ a restart

    def carry(self, saved) -> None:
        self._saved = {d["order_id"]: d for d in saved if isinstance(d, dict) and d.get("order_id")}

    def restored(self, order: Order) -> None:
        """A restored open entry: resumed (or cancelled) once the broker has started and
        reconciled, if it was pegged (journaled progress, or a local waiting order)."""
        if order.leg is OrderLeg.ENTRY and (order.id in self._saved or is_waiting(order.id)):
            self._to_resume.append(order)

    async def resume(self) -> None:
        """After the first reconcile: each restored pegged entry still open carries on
        within its original window (data time), or is cancelled saying why."""
        todo, self._to_resume = self._to_resume, []
        now = self._b._clock.now_ns()
        for stored in todo:
            order = self._b._orders.get(stored.id, stored)
            if not order.status.is_open:
                continue
            data = self._saved.pop(order.id, None)
            try:
                state = resumed(data) if data is not None else None
            except ValueError as exc:
                log.warning("peg of %s: %s", order.client_order_id, exc)
                state = None
            left = window_left_s(state, now) if state is not None else 0.0
            if state is None or state.done or left <= 0:
                why = NOT_RESTORED if state is None or state.done else WINDOW_OVER.format(ago=-left)
                await self._cancel_restored(order, why)
                continue
            req = OrderRequest(client_order_id=str(data.get("client_order_id") or order.client_order_id),
                               symbol=order.symbol, side=order.side, qty=order.qty, type=OrderType.LIMIT,
                               limit_price=order.limit_price, signal_id=order.signal_id, peg=state.policy)
            peg = _Peg(req, state, order.id, attempts=int(data.get("attempts", state.reprices + 1)))
            self._pegs[req.client_order_id] = peg
            self._b._used_client_ids.add(req.client_order_id)
            self._note(order, RESUMED.format(left=left, reprices=state.reprices))

    async def _cancel_restored(self, order: Order, why: str) -> None:
        if is_waiting(order.id):
            closed = self._b._orders[order.id] = replace(order, status=OrderStatus.CANCELED, reason=why,
                                                         updated_ns=self._b._clock.now_ns())
            self._b._emit(BrokerEvent("canceled", closed, reason=why))
            return
        self._note(order, why)
        try:
            await self._b._cancel(order.id)
        except AlpacaRestError as err:
            log.warning("peg of %s: cancel after a restart failed: %s", order.client_order_id, err.message)


def _saved_state(st: PegState) -> tuple:
    return st.price, st.reprices, st.placed, st.done


def _restore_state(st: PegState, saved: tuple) -> None:
    st.price, st.reprices, st.placed, st.done = saved


def _tick_round(price: float) -> float:
    """Alpaca accepts 2 decimals at $1 and above, 4 below."""
    return round(price, 2 if price >= 1.0 else 4)
