"""Pegged limit entries on Alpaca (STRATEGY.md 14, issue 15; engine/brokers/alpaca_peg.py):
the peg's rules driving a real order through alpaca-py against the stand-ins, which
replace the way Alpaca documents it (a NEW order id, the old one ``replaced``, a
closed order refused, a replace that lands after the old order filled rejected,
the original qty kept after a partial fill unless the remaining qty is sent).

Nothing leaves 127.0.0.1."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

from engine.brokers.alpaca_peg import WAITING_PREFIX
from engine.model import NS_PER_S, OrderLeg, OrderRequest, OrderStatus, OrderType, Quote, Side
from engine.peg import PegPolicy
from tests.alpaca_env import LATE_ANSWER_S, AlpacaEnv, settled
from tests.standins.alpaca_rest import REAL
from tests.standins.testkit import T0
from tests.waiting import let_others_run, wait_for

POLICY = PegPolicy(spread_bps=5.0, offset_bps=1.0, max_reprices=5, timeout_s=10.0, market_fallback=True)


@pytest.fixture
async def env(alpaca_rest, alpaca_trading_stream):
    e = AlpacaEnv(alpaca_rest, alpaca_trading_stream)
    yield e
    await e.stop_brokers()


def quote(bid: float, ask: float, dt_s: float = 0.0) -> Quote:
    return Quote("AAPL", T0 + int(dt_s * NS_PER_S), bid, ask)


def pegged(cid: str = "ck-s1-1", policy: PegPolicy = POLICY, qty: int = 10) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAPL", side=Side.BUY, qty=qty, type=OrderType.LIMIT,
                        limit_price=190.0, take_profit=195.0, stop_loss=188.0, signal_id="s1", peg=policy)


def peg_notes(env: AlpacaEnv) -> list[str]:
    return [e.reason for e in env.events if e.kind == "replaced" and e.reason.startswith("peg: ")]


def patches(env: AlpacaEnv) -> list:
    return [r for r in env.rest.received if r.method == "PATCH"]


def posts(env: AlpacaEnv) -> list:
    return env.rest.requests_to("POST", "/v2/orders")


def working(env: AlpacaEnv) -> dict:
    """The stand-in's open entry order (a top-level buy)."""
    (o,) = [o for i, o in env.rest.orders.items() if i in env.rest.top_level and o["side"] == "buy"
            and o["status"] in ("new", "accepted", "partially_filled", "pending_replace")]
    return o


async def test_placed_at_the_peg_repegged_by_replace_and_filled_after_two_repegs(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))  # 2.1 bps: inside the gate
    order = await broker.submit(pegged())
    (post,) = posts(env)
    assert post.body["client_order_id"] == "ck-s1-1" and post.body["limit_price"] == 190.01  # mid + 1 bp, floored
    assert post.body["order_class"] == "bracket" and post.body["type"] == "limit"
    assert order.status is OrderStatus.ACCEPTED and order.reason.startswith("peg: placed at 190.01")
    first = order.id

    broker.on_quote(quote(190.00, 190.04, dt_s=1))  # the quote moves: re-peg 1
    await wait_for(lambda: len(patches(env)) == 1, what="re-peg 1")
    broker.on_quote(quote(190.02, 190.06, dt_s=2))  # and again: re-peg 2
    await wait_for(lambda: len(patches(env)) == 2, what="re-peg 2")
    one, two = patches(env)
    assert one.path == f"/v2/orders/{first}"
    assert one.body == {"limit_price": 190.03, "client_order_id": "ck-s1-1-r1"}  # its own id: a retry never doubles
    assert two.body == {"limit_price": 190.05, "client_order_id": "ck-s1-1-r2"}
    # Alpaca's replace: a new order id each time, the old one "replaced"
    now = working(env)
    assert now["client_order_id"] == "ck-s1-1-r2" and env.rest.orders[first]["status"] == "replaced"
    r1 = env.rest.orders[first]["replaced_by"]
    assert env.rest.orders[r1]["client_order_id"] == "ck-s1-1-r1" and now["replaces"] == r1
    await wait_for(lambda: len(peg_notes(env)) == 3, what="the peg's steps as events")
    assert [n.split(" (")[0] for n in peg_notes(env)] == [
        "peg: placed at 190.0100", "peg: re-pegged 1/5 at 190.0300", "peg: re-pegged 2/5 at 190.0500"]
    assert broker.peg_progress(now["id"])["reprices"] == 2

    env.rest.fill(now["id"], 10, 190.05)
    await wait_for(lambda: broker.positions() and broker.positions()[0].qty == 10, what="the fill")
    (ev,) = env.fills()
    assert ev.order.leg is OrderLeg.ENTRY and ev.order.signal_id == "s1" and ev.fill.price == 190.05
    # the bracket's legs followed the replacing order: the position shows its target and stop
    await wait_for(lambda: broker.positions()[0].target == 195.0, what="legs live under the replacing order")
    assert all(o.parent_id == now["id"] for o in broker.open_orders() if o.leg is not OrderLeg.ENTRY)
    broker.on_quote(quote(190.10, 190.14, dt_s=3))  # filled: nothing more to peg
    await let_others_run()
    assert len(patches(env)) == 2 and broker.peg_progress(now["id"]) is None


async def test_a_fill_that_races_a_replace_counts_once_and_ends_the_peg(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.hold_replaces = True  # the replace reaches the venue only at land_replaces()
    broker.on_quote(quote(190.00, 190.04, dt_s=1))
    await wait_for(lambda: len(patches(env)) == 1, what="the re-peg sent")
    await wait_for(lambda: broker.peg_progress(order.id) is None, what="the peg following the replacing order")
    env.rest.fill(order.id, 10, 190.01)  # the old order fills first...
    env.rest.land_replaces()  # ...so the replacing order is rejected when it lands
    await wait_for(lambda: "rejected" in env.kinds() and broker.positions(), what="fill and rejection")
    await settled(env)
    assert [e.fill.qty for e in env.fills()] == [10] and broker.positions()[0].qty == 10  # once, not twice
    (rej,) = [e for e in env.events if e.kind == "rejected"]
    assert rej.order.leg is OrderLeg.ENTRY and rej.order.signal_id == "s1"
    assert rej.reason == f"rejected by Alpaca: the replacement of order {order.id} came too late"
    broker.on_quote(quote(190.05, 190.09, dt_s=2))  # the peg is over: no more replaces
    await let_others_run()
    assert len(patches(env)) == 1 and not [o for o in broker.open_orders() if o.leg is OrderLeg.ENTRY]


async def test_a_replace_refused_because_the_order_filled_is_looked_up_and_ends_the_peg(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.forward = False  # the fill's trade update is lost: only the look-up can tell
    env.rest.fill(order.id, 10, 190.01)
    broker.on_quote(quote(190.00, 190.04, dt_s=1))
    await wait_for(lambda: broker.positions(), what="the fill found by the look-up after the refused replace")
    assert len(patches(env)) == 1 and env.rest.orders[order.id]["status"] == "filled"
    assert [e.fill.qty for e in env.fills()] == [10]
    broker.on_quote(quote(190.05, 190.09, dt_s=2))
    await let_others_run()
    assert len(patches(env)) == 1


async def test_a_partial_fill_then_a_repeg_sends_the_remaining_qty(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.fill(order.id, 4, 190.01)
    await wait_for(lambda: broker.positions(), what="the partial fill")
    broker.on_quote(quote(190.00, 190.04, dt_s=1))
    await wait_for(lambda: len(patches(env)) == 1, what="re-peg")
    # without qty Alpaca would keep the original 10 after a partial fill (Alpaca-API #165)
    assert patches(env)[0].body == {"limit_price": 190.03, "client_order_id": "ck-s1-1-r1", "qty": 6}
    env.rest.fill(working(env)["id"], 6, 190.03)
    await wait_for(lambda: broker.positions()[0].qty == 10, what="the rest filled")
    assert [e.fill.qty for e in env.fills()] == [4, 6]


async def test_a_replace_refused_while_alpaca_has_not_routed_the_order_is_tried_again(env):
    env.rest.behaviour = dataclasses.replace(REAL, replace_refused_while_accepted=True)
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    broker.on_quote(quote(190.00, 190.04, dt_s=1))  # refused: "accepted" is not replaceable yet
    await wait_for(lambda: len(patches(env)) == 1, what="the refused re-peg")
    await wait_for(lambda: broker.peg_progress(order.id) and broker.peg_progress(order.id)["reprices"] == 0,
                   what="the refused re-peg not counted")
    env.rest.route(order.id)
    broker.on_quote(quote(190.01, 190.05, dt_s=2))
    await wait_for(lambda: len(patches(env)) == 2 and working(env)["client_order_id"] == "ck-s1-1-r2",
                   what="the re-peg once routed")
    assert working(env)["limit_price"] == "190.04"


async def test_timeout_cancels_then_sends_the_remainder_at_market(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.fill(order.id, 3, 190.01)
    await wait_for(lambda: broker.positions(), what="a partial fill")
    broker._clock.advance_s(10)  # the window (data time; live: the wall clock) ends
    broker.check_timeouts()
    await wait_for(lambda: len(posts(env)) == 2, what="the market fallback")
    assert env.rest.requests_to("DELETE", f"/v2/orders/{order.id}")  # cancelled first, confirmed, then market
    market = posts(env)[1].body
    assert market["type"] == "market" and market["qty"] == 7 and market["client_order_id"] == "ck-s1-1-m"
    assert market["order_class"] == "bracket"
    await wait_for(lambda: any("sent at market" in n for n in peg_notes(env)), what="the step's note")
    assert "peg: timed out (10s) after 0 re-pegs: sent at market" in peg_notes(env)[-1]


async def test_timeout_without_fallback_cancels_and_sends_nothing(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged(policy=dataclasses.replace(POLICY, market_fallback=False)))
    broker._clock.advance_s(11)
    broker.check_timeouts()
    await wait_for(lambda: env.rest.orders[order.id]["status"] == "canceled", what="the cancel")
    await wait_for(lambda: any("cancelled (market_fallback off)" in n for n in peg_notes(env)), what="the note")
    assert len(posts(env)) == 1
    await wait_for(lambda: not broker.open_orders(), what="entry and legs closed")


async def test_a_spread_too_wide_sends_no_order_and_the_window_ends_with_none(env):
    broker = await env.started()
    broker.on_quote(quote(189.80, 190.20))  # 21 bps > 5: not sent
    order = await broker.submit(pegged(policy=dataclasses.replace(POLICY, market_fallback=False)))
    assert order.id == f"{WAITING_PREFIX}ck-s1-1" and order.status is OrderStatus.NEW
    assert broker.has_exposure("AAPL")  # a working entry for the desk: no second signal meanwhile
    broker.on_quote(quote(189.85, 190.15, dt_s=3))  # still too wide
    await let_others_run()
    assert posts(env) == []
    differences = await broker.reconcile()  # a local order is never looked up at Alpaca
    assert not any("peg-wait" in d for d in differences) and broker.open_orders()[0].id == order.id
    broker._clock.advance_s(10)
    broker.check_timeouts()
    await wait_for(lambda: not broker.open_orders(), what="the waiting entry closed")
    assert posts(env) == []
    (closed,) = [e for e in env.events if e.kind == "canceled"]
    assert "timed out (10s)" in closed.reason and "cancelled" in closed.reason


async def test_a_spread_that_narrows_later_places_the_entry_then(env):
    broker = await env.started()
    broker.on_quote(quote(189.80, 190.20))
    waiting = await broker.submit(pegged())
    broker.on_quote(quote(189.98, 190.02, dt_s=2))
    await wait_for(lambda: len(posts(env)) == 1, what="placed once the spread allows")
    assert posts(env)[0].body["limit_price"] == 190.01 and posts(env)[0].body["client_order_id"] == "ck-s1-1"
    await wait_for(lambda: "resolved" in env.kinds(), what="the waiting order closed")
    assert broker._orders[waiting.id].status is OrderStatus.CANCELED
    assert [o.client_order_id for o in broker.open_orders() if o.leg is OrderLeg.ENTRY] == ["ck-s1-1"]


async def test_a_rejection_is_shown_with_alpacas_reason_and_the_peg_ends(env):
    env.rest.account["buying_power"] = "1000.00"
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    assert order.status is OrderStatus.REJECTED and order.reason == "insufficient buying power"
    (rej,) = [e for e in env.events if e.kind == "rejected"]
    assert rej.reason == "insufficient buying power" and rej.order.signal_id == "s1"
    broker.on_quote(quote(190.00, 190.04, dt_s=1))
    await let_others_run()
    assert patches(env) == [] and broker.open_orders() == []


async def test_a_trader_cancel_all_stops_the_peg_before_anything_is_replaced(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    await broker.submit(pegged())
    await broker.cancel_all()
    await wait_for(lambda: not broker.open_orders(), what="cancelled")
    broker.on_quote(quote(190.00, 190.04, dt_s=1))
    await let_others_run()
    assert patches(env) == [] and len(posts(env)) == 1


async def test_a_placement_with_no_answer_is_unknown_and_never_repegged_on_a_guess(env):
    from tests.faults.test_alpaca_faults import SLOW, ambiguous_submit

    broker = await env.started(unknown_lookup_backoff=SLOW)
    env.forward = False  # the stream has not told us either
    broker.on_quote(quote(189.98, 190.02))
    ambiguous_submit(env)
    order = await broker.submit(pegged())
    assert order.status is OrderStatus.UNKNOWN and order.id == "unknown:ck-s1-1"
    assert len(posts(env)) == 1  # never resent
    broker.on_quote(quote(190.00, 190.04, dt_s=1))  # a quote change: no re-peg of an order that may not exist
    await let_others_run()
    assert patches(env) == []
    env.forward = True
    (real,) = [i for i, o in env.rest.orders.items() if o["client_order_id"] == "ck-s1-1"]
    env.rest.route(real)  # its update arrives: the placeholder resolves to the real order
    await wait_for(lambda: broker.order_by_client_id("ck-s1-1") is not None, what="resolved by the stream")
    broker.on_quote(quote(190.01, 190.05, dt_s=2))  # now the peg goes on from the real order
    await wait_for(lambda: len(patches(env)) == 1, what="the re-peg of the real order")
    assert patches(env)[0].path == f"/v2/orders/{real}" and patches(env)[0].body["client_order_id"] == "ck-s1-1-r1"


async def test_a_replace_with_no_answer_is_looked_up_by_its_client_id_and_adopted(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.script("PATCH", f"/v2/orders/{order.id}", 200, hang_s=LATE_ANSWER_S)  # handled, the answer lost
    broker.on_quote(quote(190.00, 190.04, dt_s=1))
    await wait_for(lambda: working(env)["client_order_id"] == "ck-s1-1-r1", what="the replace landed at Alpaca")
    await wait_for(lambda: any("re-pegged 1/5" in n for n in peg_notes(env)), 10, what="adopted after the look-up")
    assert env.rest.requests_to("GET", "/v2/orders:by_client_order_id")[-1].query["client_order_id"] == ["ck-s1-1-r1"]
    assert len(patches(env)) == 1  # looked up, not sent again
    now = working(env)["id"]
    assert broker.peg_progress(now)["reprices"] == 1
    broker.on_quote(quote(190.02, 190.06, dt_s=2))
    await wait_for(lambda: len(patches(env)) == 2, what="the next re-peg from the adopted order")
    assert patches(env)[1].path == f"/v2/orders/{now}"


async def test_a_restart_resumes_a_peg_still_waiting_for_the_spread_and_places_it_later(env):
    first = await env.started()
    first.on_quote(quote(189.80, 190.20))  # too wide: nothing at Alpaca
    waiting = await first.submit(pegged())
    saved = first.peg_progress(waiting.id)
    assert saved["order_id"] == waiting.id and saved["placed"] is False
    await first.stop()

    again = env.broker()
    again._clock.set(T0 + 4 * NS_PER_S)
    again.carry_pegs([saved])
    again.restore([], [waiting])
    await again.start()
    assert again.open_orders()[0].id == waiting.id  # a local order: not "not at broker" after the reconcile
    assert again.peg_progress(waiting.id)["deadline_ns"] == saved["deadline_ns"]
    again.on_quote(quote(189.98, 190.02, dt_s=5))
    await wait_for(lambda: len(posts(env)) == 1, what="placed once the spread allows")
    assert posts(env)[0].body["client_order_id"] == "ck-s1-1" and posts(env)[0].body["limit_price"] == 190.01

    late = env.broker()  # a restart after the window: the waiting order closes saying why, nothing is sent
    late._clock.set(T0 + 12 * NS_PER_S)
    late.carry_pegs([saved])
    late.restore([], [waiting])
    await late.start()
    assert late._orders[waiting.id].status is OrderStatus.CANCELED
    assert "its window ended 2.0s ago" in late._orders[waiting.id].reason
    assert len(posts(env)) == 1


async def test_a_cancel_all_while_a_placement_is_on_its_way_cancels_what_it_placed(env):
    broker = await env.started()
    broker.on_quote(quote(189.80, 190.20))
    waiting = await broker.submit(pegged())  # too wide: waiting
    gate = asyncio.Event()
    send = broker._send

    async def held_send(req):  # the placement is on its way when the trader's command comes
        await gate.wait()
        return await send(req)

    broker._send = held_send
    broker.on_quote(quote(189.98, 190.02, dt_s=1))
    await let_others_run()
    await broker.cancel_all()
    assert broker._orders[waiting.id].status is OrderStatus.CANCELED
    gate.set()
    await wait_for(lambda: len(posts(env)) == 1, what="the placement reaching Alpaca after the command")
    (placed,) = [o for o in env.rest.orders.values() if o["client_order_id"] == "ck-s1-1"]
    await wait_for(lambda: placed["status"] == "canceled", what="what it placed cancelled too")
    broker.on_quote(quote(190.02, 190.06, dt_s=2))
    await let_others_run()
    assert patches(env) == [] and len(posts(env)) == 1


# ------------------------------------------------------------------ the spread widens after placing: pulled


def entries_open(broker) -> list:
    return [o for o in broker.open_orders() if o.leg is OrderLeg.ENTRY]


async def test_a_spread_that_widens_pulls_the_order_and_it_is_placed_again_when_it_narrows(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    broker.on_quote(quote(189.80, 190.20, dt_s=1))  # 21 bps > 5: no resting limit at Alpaca
    await wait_for(lambda: env.rest.orders[order.id]["status"] == "canceled", what="the pull's cancel")
    assert env.rest.requests_to("DELETE", f"/v2/orders/{order.id}") and patches(env) == []
    await wait_for(lambda: [o.id for o in entries_open(broker)] == [f"{WAITING_PREFIX}ck-s1-1-w1"],
                   what="a local waiting order stands in")
    assert broker.has_exposure("AAPL")  # the desk still sees a working entry: no second signal
    (waiting,) = entries_open(broker)
    assert waiting.qty == 10 and "peg: pulled, spread 21.1 bps > 5 bps: cancelled at Alpaca" in waiting.reason
    assert broker.peg_progress(waiting.id)["price"] is None  # journaled: a restart resumes it waiting
    broker.on_quote(quote(190.00, 190.04, dt_s=2))  # back inside the gate within the window: placed again
    await wait_for(lambda: len(posts(env)) == 2, what="placed again")
    again = posts(env)[1].body
    assert again["client_order_id"] == "ck-s1-1-r1" and again["limit_price"] == 190.03
    assert again["order_class"] == "bracket" and again["qty"] == 10
    await wait_for(lambda: any("re-pegged 1/5 at 190.0300" in n for n in peg_notes(env)), what="its note")
    assert broker._orders[waiting.id].status is OrderStatus.CANCELED
    env.rest.fill(working(env)["id"], 10, 190.03)
    await wait_for(lambda: broker.positions() and broker.positions()[0].qty == 10, what="the fill")


async def test_a_pulled_peg_whose_window_ends_goes_to_market_for_what_is_left(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.fill(order.id, 4, 190.01)
    await wait_for(lambda: broker.positions(), what="a partial fill")
    broker.on_quote(quote(189.80, 190.20, dt_s=1))
    await wait_for(lambda: [o.qty for o in entries_open(broker)] == [6], what="pulled with 6 left")
    assert [o.id for o in entries_open(broker)] == [f"{WAITING_PREFIX}ck-s1-1-w1"]
    broker._clock.advance_s(10)
    broker.check_timeouts()
    await wait_for(lambda: len(posts(env)) == 2, what="the market fallback")
    market = posts(env)[1].body
    assert market["type"] == "market" and market["qty"] == 6 and market["client_order_id"] == "ck-s1-1-m"


async def test_a_pull_whose_cancel_alpaca_refuses_because_it_filled_adopts_the_fill(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.forward = False  # the fill's trade update is lost: the refused cancel's look-up tells
    env.rest.fill(order.id, 10, 190.01)
    broker.on_quote(quote(189.80, 190.20, dt_s=1))
    await wait_for(lambda: broker.positions(), what="the fill adopted after the refused cancel")
    assert env.rest.requests_to("DELETE", f"/v2/orders/{order.id}")
    assert [e.fill.qty for e in env.fills()] == [10] and broker.positions()[0].qty == 10
    await wait_for(lambda: broker.peg_progress(order.id) is None, what="the peg over")
    assert entries_open(broker) == []  # no waiting order: nothing left to buy
    broker.on_quote(quote(190.00, 190.04, dt_s=2))
    await let_others_run()
    assert len(posts(env)) == 1 and patches(env) == []


async def test_a_pull_not_confirmed_places_nothing_until_alpaca_says_the_order_is_closed(env):
    broker = await env.started()
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.hold_cancels = True  # accepted (204), the order pending_cancel for now
    broker.on_quote(quote(189.80, 190.20, dt_s=1))
    await wait_for(lambda: any("not confirmed yet" in n for n in peg_notes(env)), what="the unconfirmed pull")
    broker.on_quote(quote(190.00, 190.04, dt_s=2))  # inside again: not placed on a guess
    await let_others_run()
    assert len(posts(env)) == 1 and patches(env) == []
    env.rest.land_cancels()  # now Alpaca cancels it; the engine's timer looks the pull up

    def tick_then_settled() -> bool:
        # the engine's timer ticks again and again; a tick while an earlier look-up is still in
        # flight (busy) starts none. The look-up that sees the cancel stands a waiting order in,
        # and when the quote inside the gate (dt 2 s) was kept for after it, places the re-peg at once
        broker.check_timeouts()
        return ([o.id for o in entries_open(broker)] == [f"{WAITING_PREFIX}ck-s1-1-w1"]
                or len(posts(env)) == 2)

    await wait_for(tick_then_settled, what="the pull settled once the cancel is confirmed")
    broker.on_quote(quote(190.01, 190.05, dt_s=3))
    await wait_for(lambda: len(posts(env)) == 2, what="placed once the cancel is confirmed")
    assert posts(env)[1].body["client_order_id"] == "ck-s1-1-r1" and posts(env)[1].body["qty"] == 10


async def test_a_restart_resumes_a_pulled_peg_and_places_it_again_when_the_spread_allows(env):
    first = await env.started()
    first.on_quote(quote(189.98, 190.02))
    await first.submit(pegged())
    first.on_quote(quote(189.80, 190.20, dt_s=1))  # pulled
    await wait_for(lambda: entries_open(first) and entries_open(first)[0].id.startswith(WAITING_PREFIX),
                   what="the waiting order after the pull")
    (waiting,) = entries_open(first)
    saved = first.peg_progress(waiting.id)  # what the router journaled after the pull
    assert saved["price"] is None and saved["placed"] is True and saved["attempts"] == 1
    await first.stop()

    again = env.broker()
    again._clock.set(T0 + 3 * NS_PER_S)
    again.carry_pegs([saved])
    again.restore([], [waiting])
    await again.start()
    assert [o.id for o in entries_open(again)] == [waiting.id]
    again.on_quote(quote(190.00, 190.04, dt_s=4))
    await wait_for(lambda: len(posts(env)) == 2, what="placed again after the restart")
    assert posts(env)[1].body["client_order_id"] == "ck-s1-1-r1" and posts(env)[1].body["limit_price"] == 190.03
    await wait_for(lambda: again.peg_progress(working(env)["id"]) is not None, what="the peg following it")
    progress = again.peg_progress(working(env)["id"])
    assert progress["reprices"] == 1 and progress["deadline_ns"] == saved["deadline_ns"]  # the same window
