"""A broker's rejection of a submit is journaled exactly once (issue 12 item 9):
the router leaves the journal line to the broker's "rejected" event. Paper broker
(insufficient buying power) and the Alpaca stand-in (403 and 422)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.paper import PaperBroker
from engine.clock import FixedClock
from engine.engine import Engine
from engine.feeds.loaders import TradesArrays
from engine.feeds.replay import ReplayFeed
from engine.live.backoff import Backoff
from engine.model import Side, Signal, Trade
from tests.factories import engine_config
from tests.standins.testkit import KEY_ID, SECRET, T0
from tests.waiting import wait_for

pytestmark = pytest.mark.usefixtures("local_network_only")


def _config():
    return engine_config("AUTO", app={"symbols": ["AAPL"]})


def _idle_feed() -> ReplayFeed:
    """A feed that is never started: these tests hand the engine its data themselves."""
    one = TradesArrays(np.array([T0], dtype=np.int64), np.array([190.0]), np.array([1.0]),
                       np.zeros(1, dtype=np.int8), np.full(1, np.nan), np.full(1, np.nan))
    return ReplayFeed(one, "AAPL")


def _signal(n: int, qty: int, target: float = 195.0) -> Signal:
    return Signal(id=f"AAPL-auction-{n}", symbol="AAPL", setup="auction", side=Side.BUY, entry=190.0, stop=188.0,
                  target=target, confidence=1.0, reason="test", created_ns=T0, qty=qty)


def _rejection_lines(engine: Engine) -> list[str]:
    return [j.message for j in engine.journal if "rejected" in j.message]


async def test_paper_rejection_for_buying_power_is_one_journal_line():
    cfg = _config()
    clock = FixedClock(T0)
    broker = PaperBroker(cfg.broker, clock, cfg.app.symbols)
    engine = Engine(cfg, _idle_feed(), broker, clock)
    await engine.prepare()
    engine.on_data(Trade("AAPL", T0, 190.0, 100.0))  # the broker's price for the buying-power check
    await engine.router.send(_signal(1, qty=10_000))  # $1.9M against $200k of buying power
    lines = _rejection_lines(engine)
    assert len(lines) == 1 and "insufficient buying power" in lines[0]
    assert engine.summary()["rejections"] == 1


@pytest.fixture
async def alpaca(alpaca_rest, alpaca_trading_stream):
    alpaca_rest.listeners.append(alpaca_trading_stream.publish_threadsafe)
    broker = AlpacaBroker(KEY_ID, SECRET, url_override=alpaca_rest.url,
                          stream_url_override=alpaca_trading_stream.url + "/stream", clock=FixedClock(T0),
                          request_timeout_s=2.0, rate_limit_backoff=Backoff(initial_s=0.01, max_s=0.05),
                          stream_backoff=Backoff(initial_s=0.02, max_s=0.1), close_retry_s=0.01)
    yield alpaca_rest, alpaca_trading_stream, broker
    await broker.stop()


async def test_alpaca_403_and_422_rejections_are_one_journal_line_each(alpaca):
    rest, stream, broker = alpaca
    engine = Engine(_config(), _idle_feed(), broker, FixedClock(T0))
    await engine.prepare()
    await stream.wait_for(lambda: len(stream.live) >= 1)
    rest.account["buying_power"] = "1000.00"
    await engine.router.send(_signal(1, qty=100))  # 403: insufficient buying power
    rest.account["buying_power"] = "1000000.00"
    await engine.router.send(_signal(2, qty=10, target=189.0))  # 422: take profit below the entry
    # a later order's fill is the barrier: any stream update about the rejected orders
    # was sent before it, on the same ordered stream
    await engine.router.send(_signal(3, qty=10))
    third = rest.orders[rest.top_level[-1]]
    rest.fill(third["id"], 10, 190.0)
    await wait_for(lambda: any(j.kind == "fill" for j in engine.journal), what="the third order's fill")
    lines = _rejection_lines(engine)
    assert len(lines) == 2, lines
    assert "insufficient buying power" in lines[0]
    assert "take_profit.limit_price" in lines[1]
    assert engine.summary()["rejections"] == 2
