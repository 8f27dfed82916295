"""A partial exit's client order id is built from the signal that opened the position,
never from a per-run counter: a counter starts at 1 again after a restart, so the
restarted cockpit would reuse an id Alpaca already holds (refused as a duplicate and the
old filled order adopted: the partial silently not sent)."""
from engine.ids import ClientOrderIds
from engine.model import OrderLeg

from tests.factories import engine_config, run_session


def test_the_partial_exit_id_is_the_same_in_every_run_and_unique_per_signal():
    first, restarted = ClientOrderIds("ck"), ClientOrderIds("ck")
    first.next_exit("SPY", "x")  # a flatten earlier in the run moves the counter
    assert first.partial("SPY-0930-1") == restarted.partial("SPY-0930-1") == "ck-SPY-0930-1-px"
    assert first.partial("SPY-0930-1") != first.partial("SPY-1012-2")


async def test_a_session_sends_each_partial_exit_under_its_signals_id():
    engine = await run_session(engine_config("AUTO", strategy={"target1_r": 1.0, "partial_fraction": 0.5}))
    partials = [o for o in engine.broker.recent_orders(100_000)
                if o.leg is OrderLeg.EXIT and o.client_order_id.endswith("-px")]
    assert partials, "the seeded session should take at least one partial exit"
    for o in partials:
        assert o.signal_id and o.client_order_id == f"ck-{o.signal_id}-px"
    assert len({o.client_order_id for o in partials}) == len(partials)
    counter_ids = [o.client_order_id for o in engine.broker.recent_orders(100_000) if o.client_order_id.startswith("ck-p-")]
    assert counter_ids == []
