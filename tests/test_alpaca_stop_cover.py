"""Stops cover shares at Alpaca (engine/stop_cover.py, issue 15/19), against the stand-ins:

- a pegged entry filling in parts (legs held, the remaining qty re-pegged under a
  new parent) and a stop moved after the fill never flag the position;
- a pegged entry part-filled when its window ends is cancelled and the stand-in
  cancels its legs with it; the remainder goes at market with legs for the
  remainder only, and the filled part gets a protective stop right there: the
  whole position ends covered, nothing doubled;
- a protective stop Alpaca refuses ("insufficient qty available") is journaled
  with its reason and the position stays flagged.

Nothing leaves 127.0.0.1."""
from __future__ import annotations

import pytest

from engine.model import NS_PER_S
from tests.alpaca_env import AlpacaEnv, settled
from tests.faults.test_alpaca_faults import signal
from tests.standins.alpaca_rest import OPEN_STATUSES
from tests.standins.alpaca_streams import quote_msg
from tests.standins.testkit import T0
from tests.test_alpaca_pegged_engine import PegRun as EnginePegRun
from tests.test_alpaca_pegged_engine import entry_orders
from tests.test_alpaca_pegged import patches, pegged, quote, working
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")


@pytest.fixture
async def broker_env(alpaca_rest, alpaca_trading_stream):
    e = AlpacaEnv(alpaca_rest, alpaca_trading_stream)
    yield e
    await e.stop_brokers()


@pytest.fixture
def env(alpaca_feed_env):
    return alpaca_feed_env


class PegRun(EnginePegRun):
    """An AUTO engine pegging entries on the Alpaca broker and feed (30 s window), with
    the steps these tests take: a part-filled entry and the end of its window."""

    async def part_filled_entry(self, sid: str, filled: int) -> dict:
        """The signal's pegged bracket placed at Alpaca and ``filled`` of its 10 shares bought."""
        await self.env.md.send([quote_msg("AAPL", T0 + NS_PER_S // 10, 189.98, 190.02)])
        await wait_for(lambda: self.broker._pegs._quotes, what="the quote at the broker")
        sig = signal(sid)
        self.engine.recorder.signal(sig)
        await self.engine.router.send(sig)
        (entry,) = entry_orders(self.env)
        self.env.rest.fill(entry["id"], filled, 190.01)
        await wait_for(lambda: self.broker.positions() and self.broker.positions()[0].qty == filled,
                       what="the partial fill")
        return entry

    def time_out(self) -> None:
        self.clock.set(T0 + 31 * NS_PER_S)  # the peg's window (data time) is over
        self.broker.check_timeouts()


def open_stops(env) -> list[tuple[str, str]]:
    """(client id or "leg", qty) of each stop open at the stand-in."""
    return sorted((o["client_order_id"] if o["order_class"] != "bracket" else "leg", o["qty"])
                  for o in env.rest.orders.values() if o["type"] == "stop" and o["status"] in OPEN_STATUSES)


async def test_an_entry_filling_in_parts_and_a_stop_moved_after_never_flag(broker_env):
    env = broker_env
    broker = await env.started()
    seen: list[list[str]] = []

    def on_event(ev):
        env.events.append(ev)
        seen.append(broker.unprotected())

    broker.set_event_handler(on_event)
    broker.on_quote(quote(189.98, 190.02))
    order = await broker.submit(pegged())
    env.rest.fill(order.id, 4, 190.01)  # 4 of 10: the legs (10 each) stay held
    await wait_for(lambda: broker.positions(), what="the partial fill")
    assert broker.unprotected() == []
    broker.on_quote(quote(190.00, 190.04, dt_s=1))  # re-pegged: the remaining 6 under a new parent
    await wait_for(lambda: len(patches(env)) == 1 and working(env)["client_order_id"] == "ck-s1-1-r1",
                   what="the re-peg")
    await wait_for(lambda: any(e.reason.startswith("peg: re-pegged") for e in env.events), what="the re-peg's step")
    assert broker.unprotected() == []
    env.rest.fill(working(env)["id"], 6, 190.03)
    await wait_for(lambda: broker.positions()[0].qty == 10, what="the rest filled")
    await settled(env)
    await broker.replace_stop("AAPL", 189.0)  # a trailed stop: Alpaca replaces the leg under a new id
    await wait_for(lambda: broker.positions()[0].stop == 189.0 and "replaced" in env.kinds(), what="the stop moved")
    await settled(env)
    assert seen and all(s == [] for s in seen), seen
    assert broker.unprotected() == [] and broker.uncovered() == {}


async def test_a_peg_timed_out_part_filled_ends_with_the_whole_position_covered_once(env, tmp_path):
    run = PegRun(env, str(tmp_path / "m.db"))
    await run.start()
    try:
        await run.part_filled_entry("pm1", 3)
        assert run.engine.snapshot().unprotected == ()  # its legs are held for the whole entry
        run.time_out()
        # cancelled (the stand-in cancels its legs too), the remaining 7 at market with legs for 7,
        # and a stop for the 3 bought
        await wait_for(lambda: any("position AAPL +3 had no stop at the broker: protective stop sell 3 @ 188.00 "
                                   "placed, id ck-pm1-ps1" in m for m in run.journal("exit")), 10,
                       what="the filled part protected")
        assert ("ck-pm1-ps1", "3") in open_stops(env)
        (market,) = [o for o in entry_orders(env) if o["type"] == "market"]
        assert market["qty"] == "7" and market["client_order_id"] == "ck-pm1-1-m"
        env.rest.fill(market["id"], 7, 190.05)
        await wait_for(lambda: run.broker.positions()[0].qty == 10, what="the remainder filled")
        await settled(env)
        await wait_for(lambda: run.engine.snapshot().unprotected == (), what="the whole position covered")
        assert open_stops(env) == [("ck-pm1-ps1", "3"), ("leg", "7")]  # 10 in all: nothing doubled
        await run.engine.router.protect()  # asked again: covered, nothing placed
        assert open_stops(env) == [("ck-pm1-ps1", "3"), ("leg", "7")]
    finally:
        await run.engine.stop()


async def test_a_protective_stop_alpaca_refuses_is_journaled_with_its_reason_and_stays_flagged(env, tmp_path):
    run = PegRun(env, str(tmp_path / "r.db"), market_fallback=False)
    await run.start()
    try:
        await run.part_filled_entry("pr1", 3)
        env.rest.script("POST", "/v2/orders", 403, {"code": 40310000, "message": "insufficient qty available for "
                                                   "order (requested: 3, available: 0)"})
        run.time_out()  # cancelled with its legs, nothing at market: the 3 bought need a stop
        await wait_for(lambda: any("ck-pr1-ps1" in m for m in run.journal("exit")), 10, what="the stop tried")
        assert any("protective stop ck-pr1-ps1 for AAPL rejected: insufficient qty available for order "
                   "(requested: 3, available: 0); UNPROTECTED, no stop at the broker" in m for m in run.journal("exit"))
        assert open_stops(env) == []
        await wait_for(lambda: run.engine.snapshot().unprotected == ("AAPL",), what="flagged")
    finally:
        await run.engine.stop()
