"""Stand-ins for Alpaca's two websocket streams, on 127.0.0.1 random ports.

- TradingStreamStandIn: the account stream (``/stream``): JSON messages in
  binary frames, ``authenticate`` -> ``authorization``, ``listen`` ->
  ``listening``, then ``{"stream": "trade_updates", "data": {...}}``.
- MarketDataStreamStandIn: the stock data stream (``/v2/{feed}``): msgpack
  arrays; ``connected`` on open, ``auth`` -> ``authenticated`` (or error 402),
  ``subscribe`` -> ``subscription``; trades carry ``t`` as a msgpack Timestamp
  (ext type -1), as the real server sends it.

Both run inside the test's event loop and record what clients sent.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

import msgpack
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class _StandInServer:
    def __init__(self) -> None:
        self._server = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.live: set[ServerConnection] = set()
        self.connections = 0  # authenticated sessions so far
        self.received: list[Any] = []
        self._changed = asyncio.Condition()
        self.url = ""  # ws://127.0.0.1:PORT once started

    async def start(self) -> str:
        self.loop = asyncio.get_running_loop()
        self._server = await serve(self._session, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout)

    async def drop(self) -> None:
        """Cut every live connection (as a network drop or a server restart would)."""
        for ws in list(self.live):
            await ws.close(code=1011, reason="stand-in drop")
        self.live.clear()
        await self._notify()

    async def _broadcast(self, data: bytes) -> None:
        for ws in list(self.live):
            try:
                await ws.send(data)
            except ConnectionClosed:
                self.live.discard(ws)

    async def _session(self, ws: ServerConnection) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class TradingStreamStandIn(_StandInServer):
    def __init__(self, key_id: str, secret_key: str) -> None:
        super().__init__()
        self.key_id = key_id
        self.secret_key = secret_key

    async def _session(self, ws: ServerConnection) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                self.received.append(msg)
                action = msg.get("action")
                data = msg.get("data") or {}
                if action == "authenticate":
                    ok = data.get("key_id") == self.key_id and data.get("secret_key") == self.secret_key
                    status = "authorized" if ok else "unauthorized"
                    await ws.send(json.dumps({"stream": "authorization",
                                              "data": {"status": status, "action": "authenticate"}}).encode())
                    if not ok:
                        await ws.close()
                        return
                elif action == "listen":
                    streams = [s for s in data.get("streams", []) if s == "trade_updates"]
                    await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
                    if streams:
                        self.live.add(ws)
                        self.connections += 1
                        await self._notify()
        except ConnectionClosed:
            pass
        finally:
            self.live.discard(ws)

    async def send_update(self, update: dict) -> None:
        await self._broadcast(json.dumps({"stream": "trade_updates", "data": update}).encode())

    async def send_raw(self, data: bytes) -> None:
        await self._broadcast(data)

    def publish_threadsafe(self, update: dict) -> None:
        """For the REST stand-in's thread: queue a trade update onto our loop."""
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self.send_update(update), self.loop)


def trade_msg(symbol: str, ts_ns: int, price: float, size: float, trade_id: int, exchange: str = "V") -> dict:
    return {"T": "t", "S": symbol, "i": trade_id, "x": exchange, "p": price, "s": size,
            "t": msgpack.Timestamp.from_unix_nano(ts_ns), "c": ["@"], "z": "C"}


def quote_msg(symbol: str, ts_ns: int, bid: float, ask: float, bid_size: float = 1, ask_size: float = 1) -> dict:
    return {"T": "q", "S": symbol, "bx": "V", "bp": bid, "bs": bid_size, "ax": "V", "ap": ask, "as": ask_size,
            "t": msgpack.Timestamp.from_unix_nano(ts_ns), "c": ["R"], "z": "C"}


def bar_msg(symbol: str, ts_ns: int, o: float, h: float, l: float, c: float, v: float) -> dict:
    return {"T": "b", "S": symbol, "o": o, "h": h, "l": l, "c": c, "v": v,
            "t": msgpack.Timestamp.from_unix_nano(ts_ns), "n": 12, "vw": (h + l + c) / 3}


class MarketDataStreamStandIn(_StandInServer):
    def __init__(self, key_id: str, secret_key: str, sip_entitled: bool = False,
                 max_connections: Optional[int] = None) -> None:
        super().__init__()
        self.max_connections = max_connections
        self.refused_for_limit = 0
        self.key_id = key_id
        self.secret_key = secret_key
        self.sip_entitled = sip_entitled
        self.subscriptions: list[dict] = []  # every subscribe message, in order
        self.paths: list[str] = []

    async def _session(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        self.paths.append(path)
        try:
            await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
            authed = False
            async for raw in ws:
                msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
                self.received.append(msg)
                action = msg.get("action")
                if action == "auth":
                    if msg.get("key") != self.key_id or msg.get("secret") != self.secret_key:
                        await ws.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
                        await ws.close()
                        return
                    if path.endswith("/sip") and not self.sip_entitled:
                        # a plan without the SIP feed is refused at auth with 409 (Alpaca's market data
                        # streaming docs, error codes: "409 insufficient subscription"; alpaca-py stops
                        # its stream on this one rather than reconnecting)
                        await ws.send(msgpack.packb([{"T": "error", "code": 409, "msg": "insufficient subscription"}]))
                        await ws.close()
                        return
                    if self.max_connections is not None and len(self.live) >= self.max_connections:
                        # one connection per key: the next is refused at auth with 406 (Alpaca's market
                        # data streaming docs, error codes: "406 connection limit exceeded")
                        self.refused_for_limit += 1
                        await ws.send(msgpack.packb([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]))
                        await ws.close()
                        await self._notify()
                        return
                    authed = True
                    await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
                elif action == "subscribe" and authed:
                    self.subscriptions.append(msg)
                    reply = {"T": "subscription"}
                    for channel in ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds",
                                    "corrections", "cancelErrors"):
                        reply[channel] = list(msg.get(channel, []))
                    await ws.send(msgpack.packb([reply]))
                    self.live.add(ws)
                    self.connections += 1
                    await self._notify()
                elif not authed:
                    await ws.send(msgpack.packb([{"T": "error", "code": 401, "msg": "not authenticated"}]))
        except ConnectionClosed:
            pass
        finally:
            self.live.discard(ws)

    async def send(self, messages: list[dict]) -> None:
        await self._broadcast(msgpack.packb(messages))

    async def send_raw(self, data: bytes) -> None:
        await self._broadcast(data)
