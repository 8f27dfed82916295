"""The whole engine on the live path: keys in the environment, the real alpaca-py
clients (through the factory) against stand-ins on 127.0.0.1. Start reconciles
with the broker, backfills the previous session and today, streams trades into
the analytics, and flatten-all reaches the broker. Keys appear nowhere."""
import json

import pytest

from engine.clock import FixedClock
from engine.factory import build_engine
from engine.model import NS_PER_MIN
from tests.factories import engine_config
from tests.standins.alpaca_streams import quote_msg, trade_msg
from tests.standins.testkit import KEY_ID, SECRET, T0
from tests.waiting import wait_for

PREV_OPEN = 1_703_860_200_000_000_000  # 2023-12-29 14:30 UTC = 09:30 ET, the previous trading day


@pytest.fixture
def live(monkeypatch, alpaca_rest, alpaca_trading_stream, alpaca_data_stream):
    alpaca_rest.listeners.append(alpaca_trading_stream.publish_threadsafe)
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    endpoints = {"alpaca_trading": alpaca_rest.url, "alpaca_data": alpaca_rest.url,
                 "alpaca_trading_stream": alpaca_trading_stream.url + "/stream",
                 "alpaca_data_stream": alpaca_data_stream.url + "/v2/iex"}
    return alpaca_rest, alpaca_trading_stream, alpaca_data_stream, endpoints


async def test_live_engine_reconciles_backfills_streams_and_flattens(live, tmp_path):
    rest, trading, md, endpoints = live
    # the broker already holds a position and a working order from an earlier session
    rest.add_position("AAPL", 10, 189.0, 190.0)
    rest.add_order(symbol="AAPL", qty=10, side="sell", type_="limit", limit_price=195.0)
    # the previous session's minute bars and today's trades so far
    rest.add_bars("AAPL", [(PREV_OPEN + i * NS_PER_MIN, 188 + (i % 7) * 0.1, 188.8 + (i % 7) * 0.1,
                            187.9 + (i % 7) * 0.1, 188.4 + (i % 7) * 0.1, 1000 + 10 * i) for i in range(390)])
    today_open = T0 - 30 * NS_PER_MIN
    rest.add_trades("AAPL", [(today_open + i * 2_000_000_000, 189.5 + (i % 11) * 0.05, 100, 10_000 + i) for i in range(600)])

    cfg = engine_config("SEMI", app={"symbols": ["AAPL"], "db": str(tmp_path / "live.db")},
                        feed={"kind": "alpaca"}, broker={"kind": "alpaca"}, endpoints=endpoints)
    engine = build_engine(cfg, clock=FixedClock(T0))
    assert engine.broker.kind == "PAPER"
    await engine.start()
    # an order update published before the broker listens is lost: never race the handshake
    await wait_for(lambda: engine.broker.stream_connected and trading.connections >= 1, 10,
                   what="the broker listening on the trade stream")
    try:
        # reconcile: the broker's position and order replaced what we believed (nothing)
        assert [(p.symbol, p.qty) for p in engine.broker.positions() if p.qty] == [("AAPL", 10)]
        assert len(engine.broker.open_orders()) == 1
        assert any(j.kind == "reconcile" for j in engine.journal)
        # backfill: previous session profile and today's bars are there before live data
        snap = engine.analytics["AAPL"].snapshot()
        assert snap.previous_profile is not None and snap.previous_profile.total_volume > 0
        assert snap.bars >= 15
        # live: trades from the stream reach the analytics
        await md.wait_for(lambda: len(md.live) >= 1)
        await md.send([quote_msg("AAPL", T0 + 1_000, 191.00, 191.02),
                       trade_msg("AAPL", T0 + 2_000, 191.02, 300, 99_001)])
        await wait_for(lambda: engine.analytics["AAPL"].last == 191.02, what="streamed trade applied")
        # flatten all goes straight to the broker: position closed, working order cancelled
        await engine.flatten_all()
        assert rest.requests_to("DELETE", "/v2/positions"), "close-all was not sent"
        await wait_for(lambda: all(o.side.value == "sell" and o.type.value == "market"
                                   for o in engine.broker.open_orders()),
                       what="working limit order cancelled")
        close = next(o for o in rest.orders.values() if o["type"] == "market" and o["status"] in ("new", "accepted"))
        rest.fill(close["id"], 10, 191.0)  # the market fills the closing order
        await wait_for(lambda: not any(p.qty for p in engine.broker.positions()),
                       what="engine sees the position closed")
        assert not rest.positions
        # keys never in the journal, the snapshot or the store
        text = json.dumps([j.message for j in engine.journal]) + repr(engine.snapshot())
        assert KEY_ID not in text and SECRET not in text
    finally:
        await engine.stop()
    raw = (tmp_path / "live.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("live.db-*"))
    assert KEY_ID.encode() not in raw and SECRET.encode() not in raw
