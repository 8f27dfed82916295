"""A stand-in for Polygon's stocks websocket (``/stocks``), JSON text frames,
on 127.0.0.1, a random port, inside the test's event loop.

Protocol as the real cluster speaks it: on open
``[{"ev":"status","status":"connected",...}]``; ``{"action":"auth","params":KEY}``
-> ``auth_success`` (or ``auth_failed`` and a close); ``{"action":"subscribe",
"params":"T.AAPL,AM.AAPL"}`` -> one ``success`` status per topic, or, for a
symbol the key is not entitled to, an ``error`` status saying "not authorized"
and naming the topic. Then arrays of events (``T`` trades with ``t`` in unix
milliseconds and ``q`` the sequence number; ``AM`` minute aggregates).

Tests script it: ``send`` events (each goes only to connections subscribed to
its topic), ``send_raw`` any text (malformed frames), ``drop`` every connection
(abnormal close, as a network failure), ``refuse`` new connections for a while.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


def ws_trade(sym: str, ts_ms: int, price: float, size: float, seq: int, exchange: int = 4,
             trade_id: Optional[str] = None) -> dict:
    return {"ev": "T", "sym": sym, "x": exchange, "i": trade_id or str(seq), "z": 3, "p": price,
            "s": size, "c": [12, 37], "t": ts_ms, "q": seq}


def ws_minute(sym: str, start_ms: int, o: float, h: float, l: float, c: float, v: float) -> dict:
    return {"ev": "AM", "sym": sym, "v": v, "av": v, "op": o, "vw": round((o + h + l + c) / 4, 4), "o": o,
            "c": c, "h": h, "l": l, "a": c, "z": 10, "s": start_ms, "e": start_ms + 60_000}


class PolygonWsStandIn:
    def __init__(self, api_key: str, *, not_entitled: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.not_entitled = {s.upper() for s in not_entitled}
        self.received: list[Any] = []
        self.connections = 0  # authenticated sessions so far
        self.subscriptions: list[set[str]] = []  # per authenticated session, what it subscribed
        self._live: dict[ServerConnection, set[str]] = {}
        self._server = None
        self._refuse = False
        self._changed: Optional[asyncio.Condition] = None
        self.url = ""

    async def start(self) -> str:
        self._changed = asyncio.Condition()
        self._server = await serve(self._session, "127.0.0.1", 0, process_request=self._gate)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/stocks"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _gate(self, connection, request):
        if self._refuse:
            return connection.respond(503, "stand-in refusing connections\n")
        return None

    def refuse(self, on: bool = True) -> None:
        self._refuse = on

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout)

    def subscribed_now(self) -> set[str]:
        out: set[str] = set()
        for topics in self._live.values():
            out |= topics
        return out

    async def _session(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]))
        topics: Optional[set[str]] = None
        try:
            async for raw in ws:
                msg = json.loads(raw)
                self.received.append(msg)
                action = msg.get("action")
                if action == "auth":
                    if msg.get("params") != self.api_key:
                        await ws.send(json.dumps([{"ev": "status", "status": "auth_failed",
                                                   "message": "authentication failed"}]))
                        await ws.close(code=1008, reason="authentication failed")
                        return
                    await ws.send(json.dumps([{"ev": "status", "status": "auth_success",
                                               "message": "authenticated"}]))
                    topics = set()
                    self._live[ws] = topics
                    self.subscriptions.append(topics)
                    self.connections += 1
                elif topics is None:
                    await ws.send(json.dumps([{"ev": "status", "status": "error", "message": "not authenticated"}]))
                elif action == "subscribe":
                    replies = []
                    for topic in [t.strip() for t in str(msg.get("params", "")).split(",") if t.strip()]:
                        sym = topic.split(".", 1)[1].upper() if "." in topic else ""
                        if sym in self.not_entitled:
                            replies.append({"ev": "status", "status": "error",
                                            "message": f"not authorized to subscribe to {topic}: "
                                                       f"your plan does not include this ticker"})
                        else:
                            topics.add(topic)
                            replies.append({"ev": "status", "status": "success",
                                            "message": f"subscribed to: {topic}"})
                    await ws.send(json.dumps(replies))
                elif action == "unsubscribe":
                    for topic in str(msg.get("params", "")).split(","):
                        topics.discard(topic.strip())
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            self._live.pop(ws, None)
            await self._notify()

    async def send(self, events: list[dict]) -> int:
        """Send events, each only to sessions subscribed to its topic; returns
        how many sessions got a frame."""
        sent = 0
        for ws, topics in list(self._live.items()):
            mine = [e for e in events if f"{e.get('ev')}.{e.get('sym')}" in topics]
            if not mine:
                continue
            try:
                await ws.send(json.dumps(mine))
                sent += 1
            except ConnectionClosed:
                self._live.pop(ws, None)
        return sent

    async def send_raw(self, text: str) -> None:
        for ws in list(self._live):
            try:
                await ws.send(text)
            except ConnectionClosed:
                self._live.pop(ws, None)

    async def drop(self) -> None:
        """Cut every live connection abnormally (as a network failure would)."""
        for ws in list(self._live):
            ws.transport.abort()
        self._live.clear()
        await self._notify()
