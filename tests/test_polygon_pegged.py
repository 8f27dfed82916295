"""Pegged entries on a Polygon feed (issue 15): the feed subscribes to quotes
(``Q.SYM``) when the run pegs its entries, turns them into Quote items, and the
paper broker's peg follows them, end to end on the stand-ins (127.0.0.1 only)."""
from __future__ import annotations

import pytest

from engine.clock import FixedClock
from engine.config import load_config
from engine.factory import build_engine
from engine.feeds.polygon import quote_from_ws
from engine.model import OrderLeg, OrderStatus, OrderType, Quote
from tests.faults.test_alpaca_faults import signal
from tests.standins.polygon_ws import ws_quote, ws_trade
from tests.standins.testkit import POLYGON_KEY, T0
from tests.test_polygon_feed import collect, make_feed
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")

T0_MS = T0 // 1_000_000


def test_a_polygon_quote_message_is_a_quote_and_a_bad_one_names_what_is_wrong():
    q, why = quote_from_ws(ws_quote("AAPL", T0_MS, 189.98, 190.02, 4, 7))
    assert why == "" and q == Quote("AAPL", T0_MS * 1_000_000, 189.98, 190.02, 4.0, 7.0)
    assert quote_from_ws({"ev": "Q", "sym": "AAPL", "bp": "x", "ap": 190.0, "t": T0_MS})[1] == \
        "AAPL quote bid 'x' / ask 190.0 are not prices"
    assert "not a unix millisecond timestamp" in quote_from_ws(ws_quote("AAPL", 0, 1.0, 1.1))[1]
    assert quote_from_ws({"ev": "Q", "bp": 1.0, "ap": 1.1, "t": T0_MS})[1] == "quote without a symbol"


async def test_the_feed_subscribes_to_quotes_only_when_asked_and_queues_them_in_order(polygon_ws, polygon_rest):
    plain = make_feed(polygon_ws, polygon_rest, ["AAPL"])
    await plain.start()
    try:
        await wait_for(lambda: plain.status().connected)
        assert polygon_ws.subscribed_now() == {"T.AAPL"}  # a market-order run: no quotes
    finally:
        await plain.stop()
    feed = make_feed(polygon_ws, polygon_rest, ["AAPL"], quotes=True)
    await feed.start()
    try:
        await wait_for(lambda: polygon_ws.subscribed_now() == {"T.AAPL", "Q.AAPL"}, what="trades and quotes")
        await polygon_ws.send([ws_quote("AAPL", T0_MS + 1, 189.98, 190.02), ws_trade("AAPL", T0_MS + 2, 190.0, 100, 1),
                               {"ev": "Q", "sym": "AAPL", "bp": None, "ap": 190.0, "t": T0_MS + 3},
                               ws_quote("AAPL", T0_MS + 4, 190.00, 190.04)])
        got = await collect(feed, 3)
        assert [type(i).__name__ for i in got] == ["Quote", "Trade", "Quote"]
        assert (got[2].bid, got[2].ask) == (190.00, 190.04)
        assert feed.malformed == 1 and "AAPL quote bid None" in feed.malformed_reasons[0]
    finally:
        await feed.stop()


async def test_a_pegged_entry_follows_polygons_quotes_on_the_paper_broker_end_to_end(polygon_ws, polygon_rest,
                                                                                   monkeypatch, tmp_path):
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    cfg = load_config(None, overrides={
        "app": {"symbols": ["AAPL"], "mode": "AUTO", "db": str(tmp_path / "p.db")},
        "feed": {"kind": "polygon"}, "broker": {"kind": "paper"},
        "endpoints": {"polygon_ws": polygon_ws.url, "polygon_rest": polygon_rest.base_url},
        "engine": {"entry_type": "pegged", "peg_timeout_s": 30}}, env={})
    engine = build_engine(cfg, clock=FixedClock(T0))  # refused before: polygon had no quotes
    await engine.start()
    try:
        await wait_for(lambda: polygon_ws.subscribed_now() == {"T.AAPL", "Q.AAPL"}, 10, what="quotes subscribed")
        await polygon_ws.send([ws_quote("AAPL", T0_MS + 10, 189.98, 190.02), ws_trade("AAPL", T0_MS + 20, 190.0, 100, 1)])
        # the feed's items arrive in order: the trade priced, the quote before it is at the broker
        await wait_for(lambda: engine.broker.can_price_market("AAPL"), what="the quote and the trade")
        sig = signal("pp1")
        engine.recorder.signal(sig)
        await engine.router.send(sig)
        (entry,) = [o for o in engine.broker.open_orders() if o.leg is OrderLeg.ENTRY]
        assert entry.type is OrderType.LIMIT and entry.limit_price == pytest.approx(190.01)  # pegged at once
        await polygon_ws.send([ws_quote("AAPL", T0_MS + 1_000, 190.00, 190.04, seq=2)])  # the quote moves
        await wait_for(lambda: any("re-pegged 1/5 at 190.0300" in j.message for j in engine.journal),
                       what="the re-peg from Polygon's quote")
        await polygon_ws.send([ws_trade("AAPL", T0_MS + 2_000, 190.03, 100, 2)])
        await wait_for(lambda: engine.broker.position("AAPL") is not None, what="the fill at the peg")
        filled = engine.broker.order(entry.id)
        assert filled.status is OrderStatus.FILLED and filled.avg_fill_price == pytest.approx(190.03)
    finally:
        await engine.stop()
