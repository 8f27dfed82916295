"""FLATTEN ALL through a 429 storm: the broker waits Alpaca's Retry-After and
sends again until the positions are closed; nothing is left open, nothing is
closed twice."""
import pytest

from engine.model import OrderLeg, Side
from tests.alpaca_env import AlpacaEnv
from tests.test_alpaca_broker import bracket
from tests.waiting import wait_for

RATE_LIMITED = (429, {"code": 42910000, "message": "rate limit exceeded"}, {"Retry-After": "0.05"})


@pytest.fixture
async def env(alpaca_rest, alpaca_trading_stream):
    e = AlpacaEnv(alpaca_rest, alpaca_trading_stream)
    yield e
    await e.stop_brokers()


async def test_flatten_all_gets_through_a_429_storm(env):
    broker = await env.started()
    entry = await broker.submit(bracket("storm-1"))
    env.rest.fill(entry.id, 10, 190.0)
    await wait_for(lambda: any(p.qty == 10 for p in broker.positions()), what="the position")
    env.rest.script("DELETE", "/v2/positions", *RATE_LIMITED, times=3)
    env.rest.script("DELETE", "/v2/orders", *RATE_LIMITED, times=3)
    out = await broker.close_all()
    exits = [o for o in out if o.leg is OrderLeg.EXIT]
    assert [(o.symbol, o.side, o.qty) for o in exits] == [("AAPL", Side.SELL, 10)]  # closed once
    assert broker.counters["rate_limited"] >= 3
    assert len(env.rest.requests_to("DELETE", "/v2/positions")) == 4  # three refused, then the one that closed
