"""The whole engine pegging on Alpaca (issue 15): quotes from the Alpaca data feed
reach the broker's peg, each step and a rejection are journaled and shown on the
signal's row, and a peg the engine was stopped in the middle of is resumed after a
restart within its original window (or cancelled saying why once it is over).
Against the stand-ins; nothing leaves 127.0.0.1."""
from __future__ import annotations

import pytest

from engine.clock import FixedClock
from engine.config import load_config
from engine.engine import Engine
from engine.factory import build_feed
from engine.model import NS_PER_S, OrderLeg
from engine.peg import PEG_JOURNAL
from engine.store import Store
from tests.faults.test_alpaca_faults import signal
from tests.standins.alpaca_streams import quote_msg
from tests.standins.testkit import T0
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")


@pytest.fixture
def env(alpaca_feed_env):
    return alpaca_feed_env


class PegRun:
    """An AUTO engine with pegged entries on the Alpaca broker and feed, its clock at ``at_ns``."""

    def __init__(self, env, db: str, at_ns: int = T0, timeout_s: float = 30.0, market_fallback: bool = True) -> None:
        cfg = load_config(None, overrides={
            "app": {"symbols": ["AAPL"], "mode": "AUTO", "db": db}, "feed": {"kind": "alpaca"},
            "broker": {"kind": "alpaca"}, "endpoints": env.endpoints,
            "engine": {"entry_type": "pegged", "peg_timeout_s": timeout_s, "market_fallback": market_fallback}},
            env={})
        self.env, self.clock = env, FixedClock(at_ns)
        self.broker = env.broker(clock=self.clock)

        async def opener():
            return await Store.open(db)

        self.engine = Engine(cfg, build_feed(cfg, self.clock), self.broker, self.clock, store_opener=opener)

    async def start(self) -> None:
        before, md_before = self.env.stream.connections, self.env.md.connections
        await self.engine.start()
        await wait_for(lambda: self.broker.stream_connected and self.env.stream.connections > before, 10,
                       what="the broker listening on the trade stream")
        await wait_for(lambda: self.env.md.connections > md_before, 10, what="the data feed subscribed")

    async def quote(self, bid: float, ask: float, at_s: float) -> None:
        """A quote on the Alpaca data stream, ``at_s`` seconds after T0."""
        await self.env.md.send([quote_msg("AAPL", T0 + int(at_s * NS_PER_S), bid, ask)])

    def journal(self, kind: str) -> list[str]:
        return [j.message for j in self.engine.journal if j.kind == kind]


def patches(env) -> list:
    return [r for r in env.rest.received if r.method == "PATCH"]


def entry_orders(env) -> list[dict]:
    return [o for i, o in env.rest.orders.items() if i in env.rest.top_level and o["side"] == "buy"]


async def test_quotes_from_the_alpaca_feed_peg_the_entry_and_each_step_is_journaled(env, tmp_path):
    run = PegRun(env, str(tmp_path / "p.db"))
    await run.start()
    try:
        assert any(m.get("quotes") == ["AAPL"] for m in env.md.subscriptions)  # the feed asks for quotes
        await run.quote(189.98, 190.02, 0.1)
        await wait_for(lambda: run.engine.data.analytics["AAPL"] is not None and run.broker._pegs._quotes,
                       what="the quote at the broker")
        sig = signal("pq1")
        run.engine.recorder.signal(sig)
        await run.engine.router.send(sig)
        (placed,) = entry_orders(env)
        assert placed["limit_price"] == "190.01" and placed["client_order_id"] == "ck-pq1-1"
        await run.quote(190.00, 190.04, 1.0)
        await wait_for(lambda: len(patches(env)) == 1, what="the re-peg from the feed's quote")
        await wait_for(lambda: any("re-pegged 1/5" in m for m in run.journal("order")), what="the journal line")
        assert any("peg: placed at 190.0100" in m for m in run.journal("order"))
        progress = [j.data for j in run.engine.journal if j.kind == PEG_JOURNAL]
        assert progress[-1]["reprices"] == 1 and progress[-1]["client_order_id"] == "ck-pq1-1"
    finally:
        await run.engine.stop()


async def test_an_alpaca_rejection_of_a_pegged_entry_is_journaled_and_shown_with_its_reason(env, tmp_path):
    env.rest.account["buying_power"] = "1000.00"
    run = PegRun(env, str(tmp_path / "r.db"))
    await run.start()
    try:
        await run.quote(189.98, 190.02, 0.1)
        await wait_for(lambda: run.broker._pegs._quotes, what="the quote at the broker")
        sig = signal("pr1")
        run.engine.recorder.signal(sig)
        await run.engine.router.send(sig)
        assert any("order ck-pr1-1 rejected: insufficient buying power" in m for m in run.journal("broker"))
        rows = [o for o in run.engine.snapshot().orders if o.client_order_id == "ck-pr1-1"]
        assert rows and rows[0].reason == "insufficient buying power"
        assert not run.engine.router.plans  # nothing went out: no plan left behind
    finally:
        await run.engine.stop()


async def _stopped_mid_peg(env, db: str) -> tuple[str, dict]:
    """Run 1: the entry placed and re-pegged once, then the engine stops. Returns the
    working order's id and the peg's last journaled progress."""
    run = PegRun(env, db)
    await run.start()
    try:
        await run.quote(189.98, 190.02, 0.1)
        await wait_for(lambda: run.broker._pegs._quotes, what="the quote at the broker")
        sig = signal("pk1")
        run.engine.recorder.signal(sig)
        await run.engine.router.send(sig)
        await run.quote(190.00, 190.04, 1.0)
        await wait_for(lambda: len(patches(env)) == 1 and [j for j in run.engine.journal if j.kind == PEG_JOURNAL
                                                          and j.data["reprices"] == 1], what="re-peg 1 journaled")
        saved = [j.data for j in run.engine.journal if j.kind == PEG_JOURNAL][-1]
    finally:
        await run.engine.stop()
    (working,) = [o for o in entry_orders(env) if o["status"] in ("new", "accepted")]
    assert working["id"] == saved["order_id"] and working["client_order_id"] == "ck-pk1-1-r1"
    return working["id"], saved


async def test_a_peg_stopped_midway_is_resumed_after_a_restart_within_its_window(env, tmp_path):
    db = str(tmp_path / "k.db")
    working_id, saved = await _stopped_mid_peg(env, db)
    run = PegRun(env, db, at_ns=T0 + 5 * NS_PER_S)  # 5 s later: 25 s of the 30 s window left
    await run.start()
    try:
        assert any("resumed after a restart with 25.0s of its window left, 1 re-pegs used" in m
                   for m in run.journal("order"))
        await run.quote(190.02, 190.06, 6.0)
        await wait_for(lambda: len(patches(env)) == 2, what="the resumed peg re-pegging")
        second = patches(env)[1]
        assert second.path == f"/v2/orders/{working_id}"
        assert second.body == {"limit_price": 190.05, "client_order_id": "ck-pk1-1-r2"}  # a fresh id, never reused
        await wait_for(lambda: any("re-pegged 2/5" in m for m in run.journal("order")), what="its journal line")
        after = [j.data for j in run.engine.journal if j.kind == PEG_JOURNAL][-1]
        assert after["deadline_ns"] == saved["deadline_ns"] and after["started_ns"] == saved["started_ns"]
        assert run.engine.router.plans["AAPL"].id == "pk1"  # exits start when it fills
        # the original deadline (data time), not a fresh window
        run.clock.set(saved["deadline_ns"])
        run.broker.check_timeouts()
        await wait_for(lambda: any(o["type"] == "market" for o in entry_orders(env)), what="the market fallback")
    finally:
        await run.engine.stop()


async def test_a_peg_whose_window_ended_while_stopped_is_cancelled_at_alpaca_saying_why(env, tmp_path):
    db = str(tmp_path / "w.db")
    working_id, saved = await _stopped_mid_peg(env, db)
    run = PegRun(env, db, at_ns=saved["deadline_ns"] + 2 * NS_PER_S)
    await run.start()
    try:
        await wait_for(lambda: env.rest.orders[working_id]["status"] == "canceled", what="cancelled at Alpaca")
        assert any("not resumed after a restart: its window ended 2.0s ago: cancelled" in m
                   for m in run.journal("order"))
        assert not any(o["type"] == "market" for o in entry_orders(env))  # nothing sent on a stale window
        await run.quote(190.02, 190.06, 40.0)
        assert len(patches(env)) == 1
    finally:
        await run.engine.stop()


async def test_a_replacement_rejected_because_the_entry_filled_first_keeps_the_plan(env, tmp_path):
    run = PegRun(env, str(tmp_path / "race.db"))
    await run.start()
    try:
        await run.quote(189.98, 190.02, 0.1)
        await wait_for(lambda: run.broker._pegs._quotes, what="the quote at the broker")
        sig = signal("pf1")
        run.engine.recorder.signal(sig)
        await run.engine.router.send(sig)
        (first,) = entry_orders(env)
        env.rest.hold_replaces = True
        await run.quote(190.00, 190.04, 1.0)
        await wait_for(lambda: len(patches(env)) == 1, what="the re-peg sent")
        await wait_for(lambda: run.broker.peg_progress(first["id"]) is None, what="the peg on the replacing order")
        env.rest.fill(first["id"], 10, 190.01)  # the old order fills before the replace lands
        env.rest.land_replaces()
        await wait_for(lambda: any("came too late" in m for m in run.journal("broker")), what="the rejection")
        await wait_for(lambda: run.engine.router.exits.plan("AAPL") is not None, what="exit management")
        assert run.engine.router.plans["AAPL"].id == "pf1"  # the rejected replacement did not drop the plan
        assert [(p.symbol, p.qty) for p in run.broker.positions()] == [("AAPL", 10)]
    finally:
        await run.engine.stop()
