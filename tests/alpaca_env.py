"""An Alpaca broker on the REST and trade-stream stand-ins, for the broker tests.

Every update the REST stand-in publishes is captured and, unless ``forward`` is
off (a dead stream), sent on the trade stream; ``replay`` sends held-back kinds
again as a reconnecting stream would. Brokers get fast backoffs so a test never
waits on a real retry schedule."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from engine.brokers.alpaca import AlpacaBroker
from engine.clock import FixedClock
from engine.live.backoff import Backoff
from engine.model import BrokerEvent
from tests.standins.alpaca_rest import AlpacaRestStandIn
from tests.standins.alpaca_streams import TradingStreamStandIn
from tests.standins.testkit import KEY_ID, SECRET, T0

# Every broker here gives up on a REST request after REQUEST_TIMEOUT_S, also in the
# tests of an answer that never comes in time: that timeout covers the broker's
# other requests too (its start-up reconcile, the look-ups after the lost answer),
# and a shorter one (0.3 s) timed them out on a loaded 2-core box. A scripted
# answer meant to come too late comes LATE_ANSWER_S after the request, well after
# the broker gave up.
REQUEST_TIMEOUT_S = 2.0
LATE_ANSWER_S = REQUEST_TIMEOUT_S + 3.0


class AlpacaEnv:
    def __init__(self, rest: AlpacaRestStandIn, stream: TradingStreamStandIn, **broker_defaults: Any) -> None:
        self.rest, self.stream, self.base, self.ws = rest, stream, rest.url, stream.url
        self.broker_defaults = broker_defaults
        self.events: list[BrokerEvent] = []
        self.forward = True
        self.captured: list[dict] = []
        self.brokers: list[AlpacaBroker] = []
        rest.listeners.append(self.publish)

    def publish(self, update: dict) -> None:
        self.captured.append(update)
        if self.forward:
            self.stream.publish_threadsafe(update)

    def broker(self, **kwargs: Any) -> AlpacaBroker:
        opts = dict(
            url_override=self.base, stream_url_override=self.ws + "/stream", clock=FixedClock(T0),
            request_timeout_s=REQUEST_TIMEOUT_S, rate_limit_backoff=Backoff(initial_s=0.01, max_s=0.05),
            stream_backoff=Backoff(initial_s=0.02, max_s=0.1), close_retry_s=0.01,
        )
        opts.update(self.broker_defaults)
        opts.update(kwargs)
        broker = AlpacaBroker(KEY_ID, SECRET, **opts)
        broker.set_event_handler(self.events.append)
        self.brokers.append(broker)
        return broker

    async def started(self, **kwargs: Any) -> AlpacaBroker:
        broker = self.broker(**kwargs)
        await broker.start()
        await self.stream.wait_for(lambda: len(self.stream.live) >= 1)
        return broker

    def fills(self) -> list[BrokerEvent]:
        return [e for e in self.events if e.fill is not None]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    async def replay(self, *events: str) -> None:
        """Send the held-back updates of these kinds again, as a stream would after a reconnect."""
        for update in list(self.captured):
            if update["event"] in events:
                await self.stream.send_update(update)

    async def stop_brokers(self) -> None:
        for b in self.brokers:
            await b.stop()


async def open_alpaca_env(behaviour: Optional[Any] = None, **broker_defaults: Any) -> AlpacaEnv:
    """Stand-ins of its own (AAPL priced at 190), started; close with ``close_alpaca_env``."""
    rest = AlpacaRestStandIn(KEY_ID, SECRET, start_ns=T0, **({"behaviour": behaviour} if behaviour else {}))
    rest.prices["AAPL"] = 190.0
    rest.start()
    stream = TradingStreamStandIn(KEY_ID, SECRET)
    await stream.start()
    return AlpacaEnv(rest, stream, **broker_defaults)


async def close_alpaca_env(env: AlpacaEnv) -> None:
    await env.stop_brokers()
    await env.stream.stop()
    env.rest.stop()


async def open_alpaca_feed_env(monkeypatch: Any, behaviour: Optional[Any] = None, **broker_defaults: Any) -> AlpacaEnv:
    """An Alpaca environment plus its market-data stream stand-in (``env.md``), the key in
    the environment and ``env.endpoints`` pointing an engine at all three: for engine runs
    that take the Alpaca broker and feed together. Close with ``close_alpaca_feed_env``."""
    from tests.standins.alpaca_streams import MarketDataStreamStandIn

    e = await open_alpaca_env(behaviour, **broker_defaults)
    e.md = MarketDataStreamStandIn(KEY_ID, SECRET)
    mws = await e.md.start()
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    e.endpoints = {"alpaca_trading": e.base, "alpaca_data": e.base, "alpaca_data_stream": mws + "/v2/iex"}
    return e


async def close_alpaca_feed_env(env: AlpacaEnv) -> None:
    await env.md.stop()
    await close_alpaca_env(env)


async def settled(env: AlpacaEnv, quiet_s: float = 0.3, timeout: float = 5.0) -> None:
    """Until no broker event has arrived for ``quiet_s`` (what was on the wire is in)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = len(env.events), loop.time()
    while loop.time() - since < quiet_s:
        if loop.time() > deadline:
            raise AssertionError("broker events never settled")
        await asyncio.sleep(0.02)
        if len(env.events) != last:
            last, since = len(env.events), loop.time()


def alpaca_feed_engine(rest: AlpacaRestStandIn, data_stream: Any, monkeypatch: Any):
    """A WATCH engine on the Alpaca data feed (AAPL) against the stand-ins, no store:
    the keys in the environment, every URL on 127.0.0.1."""
    from engine.factory import build_engine
    from tests.factories import engine_config

    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    cfg = engine_config("WATCH", app={"symbols": ["AAPL"]}, feed={"kind": "alpaca"},
                        endpoints={"alpaca_data": rest.url, "alpaca_data_stream": data_stream.url + "/v2/iex"})
    return build_engine(cfg, clock=FixedClock(T0), use_store=False)
