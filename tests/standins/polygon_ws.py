"""A stand-in for Polygon's stocks websocket (``/stocks``), JSON text frames,
on 127.0.0.1, a random port, inside the test's event loop.

Protocol as the real cluster speaks it: on open
``[{"ev":"status","status":"connected",...}]``; ``{"action":"auth","params":KEY}``
-> ``auth_success`` (or ``auth_failed`` and a close); ``{"action":"subscribe",
"params":"T.AAPL,AM.AAPL"}`` -> one ``success`` status per topic
("subscribed to: T.AAPL"). Then arrays of events (``T`` trades with ``t`` in
unix milliseconds and ``q`` the sequence number; ``AM`` minute aggregates; ``Q``
NBBO quotes, ``ws_quote``).

The unkind parts, as reported rather than as we would like them:

- A topic the key is not entitled to gets a bare ``{"status":"error",
  "message":"not authorized"}`` naming no topic (Polygon documents no per-topic
  wording; ``name_refused_topic=True`` gives the older stand-in's "not
  authorized to subscribe to T.XYZ" for a test that asks).
- ``plan_without_websocket``: the auth is refused for the plan, not the key:
  ``auth_failed`` "Your plan doesn't include websocket access. Visit
  https://polygon.io/pricing to upgrade." and a close.
- ``max_connections=n``: one key, at most n sessions. On ``limit="refuse_new"``
  the new session is authenticated, then told ``max_connections`` "Maximum
  number of websocket connections exceeded. You have reached the connection
  limit for your account..." (read by the client, as users report it logged)
  and, after the client's next message, closed with 1008 and no reason (as
  users report it,
  e.g. polygon-io/issues #49 "closes one connection with error of Maximum
  Connections"); on ``limit="kick_oldest"`` the oldest session gets
  ``force_disconnect`` and is closed with 1008 instead.
- ``slow_consumer()`` sends the ``slow_consumer`` status Polygon sends a client
  that falls behind, then closes the session with 1008.

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


def ws_quote(sym: str, ts_ms: int, bid: float, ask: float, bid_size: float = 2, ask_size: float = 3,
             seq: int = 1) -> dict:
    """An NBBO quote (``Q.SYM``) as Massive documents it: bid/ask exchange, price and size, conditions,
    indicators, ``t`` unix milliseconds, ``q`` sequence number, ``z`` tape."""
    return {"ev": "Q", "sym": sym, "bx": 11, "bp": bid, "bs": bid_size, "ax": 12, "ap": ask, "as": ask_size,
            "c": 1, "i": [], "t": ts_ms, "q": seq, "z": 3}


def ws_minute(sym: str, start_ms: int, o: float, h: float, l: float, c: float, v: float) -> dict:
    return {"ev": "AM", "sym": sym, "v": v, "av": v, "op": o, "vw": round((o + h + l + c) / 4, 4), "o": o,
            "c": c, "h": h, "l": l, "a": c, "z": 10, "s": start_ms, "e": start_ms + 60_000}


class PolygonWsStandIn:
    def __init__(self, api_key: str, *, not_entitled: tuple[str, ...] = (), name_refused_topic: bool = False,
                 plan_without_websocket: bool = False, max_connections: Optional[int] = None,
                 limit: str = "refuse_new") -> None:
        self.api_key = api_key
        self.name_refused_topic = name_refused_topic
        self.plan_without_websocket = plan_without_websocket
        self.max_connections = max_connections
        self.limit = limit
        self.refused_for_limit = 0  # sessions turned away (or kicked) by the connection limit
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
                    if self.plan_without_websocket:
                        await ws.send(json.dumps([{"ev": "status", "status": "auth_failed", "message":
                                                   "Your plan doesn't include websocket access. "
                                                   "Visit https://polygon.io/pricing to upgrade."}]))
                        await ws.close(code=1008, reason="plan")
                        return
                    await ws.send(json.dumps([{"ev": "status", "status": "auth_success",
                                               "message": "authenticated"}]))
                    if self.max_connections is not None and len(self._live) >= self.max_connections:
                        self.refused_for_limit += 1
                        if self.limit == "refuse_new":
                            await ws.send(json.dumps([{"ev": "status", "status": "max_connections", "message":
                                                       "Maximum number of websocket connections exceeded. You have "
                                                       "reached the connection limit for your account. Please "
                                                       "contact support at https://polygon.io/contact to increase "
                                                       "your limit."}]))
                            try:  # the client's subscribe crosses the status; then the close (reason empty)
                                await asyncio.wait_for(ws.recv(), 1.0)
                            except (asyncio.TimeoutError, ConnectionClosed):
                                pass
                            await ws.close(code=1008)
                            await self._notify()
                            return
                        oldest = next(iter(self._live))
                        self._live.pop(oldest, None)
                        try:
                            await oldest.send(json.dumps([{"ev": "status", "status": "force_disconnect", "message":
                                                           "Stream was forcefully disconnected: another connection "
                                                           "with the same key was opened."}]))
                            await oldest.close(code=1008)
                        except ConnectionClosed:
                            pass
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
                        if sym in self.not_entitled and self.name_refused_topic:
                            replies.append({"ev": "status", "status": "error",
                                            "message": f"not authorized to subscribe to {topic}: "
                                                       f"your plan does not include this ticker"})
                        elif sym in self.not_entitled:
                            replies.append({"ev": "status", "status": "error", "message": "not authorized"})
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

    async def slow_consumer(self) -> None:
        """Every live session is told it reads too slowly, then closed (1008)."""
        for ws in list(self._live):
            try:
                await ws.send(json.dumps([{"ev": "status", "status": "slow_consumer",
                                           "message": "Client is consuming messages too slowly"}]))
                await ws.close(code=1008, reason="slow_consumer")
            except ConnectionClosed:
                pass
        self._live.clear()
        await self._notify()

    async def drop(self) -> None:
        """Cut every live connection abnormally (as a network failure would)."""
        for ws in list(self._live):
            ws.transport.abort()
        self._live.clear()
        await self._notify()
