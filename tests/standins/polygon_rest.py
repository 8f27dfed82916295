"""A stand-in for Polygon's REST API (v3 trades, v2 minute aggregates, market
status, the v3 options chain snapshot) on 127.0.0.1, a random port.

A ThreadingHTTPServer in a background thread (polygon-api-client's RESTClient
is a synchronous urllib3 pool). It checks the ``Authorization: Bearer`` key (or
``apiKey`` query) like Polygon, answers a symbol the key is not entitled to
with 403 NOT_AUTHORIZED, pages with ``next_url`` (a cursor carrying the
remaining window) and records every request so tests can assert on limits and
pagination.
"""
from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

NOT_ENTITLED_MESSAGE = "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"


def rest_trade(ts_ns: int, price: float, size: float, seq: int, exchange: int = 4,
               trade_id: Optional[str] = None, conditions: Optional[list[int]] = None) -> dict:
    """A /v3/trades result record as Polygon writes it."""
    return {
        "conditions": conditions or [12, 37],
        "exchange": exchange,
        "id": trade_id or str(seq),
        "participant_timestamp": ts_ns - 1000,
        "price": price,
        "sequence_number": seq,
        "sip_timestamp": ts_ns,
        "size": size,
        "tape": 3,
    }


def rest_agg(ts_ms: int, o: float, h: float, l: float, c: float, v: float, n: int = 10) -> dict:
    return {"v": v, "vw": round((o + h + l + c) / 4, 4), "o": o, "c": c, "h": h, "l": l, "t": ts_ms, "n": n}


def option_contract(underlying: str, contract_type: str, expiration: str, strike: float, *, volume: float,
                    iv: Optional[float], underlying_price: float, day_updated_ns: Optional[int] = None) -> dict:
    """A /v3/snapshot/options/{underlying} result record in Polygon's shape (details,
    day, greeks, implied_volatility, last_quote, last_trade, open_interest,
    underlying_asset); ``iv`` None leaves implied_volatility out, as Polygon does
    for a contract it cannot price."""
    cp = "C" if contract_type == "call" else "P"
    ticker = f"O:{underlying}{expiration[2:4]}{expiration[5:7]}{expiration[8:10]}{cp}{int(round(strike * 1000)):08d}"
    mid = max(0.05, abs(underlying_price - strike) * 0.5 + 1.0)
    rec: dict = {
        "break_even_price": strike + mid if contract_type == "call" else strike - mid,
        "day": {"change": 0.1, "change_percent": 2.0, "close": mid, "high": mid + 0.2,
                "last_updated": day_updated_ns if day_updated_ns is not None else 1_709_650_800_000_000_000,
                "low": mid - 0.2, "open": mid, "previous_close": mid - 0.1, "volume": volume, "vwap": mid},
        "details": {"contract_type": contract_type, "exercise_style": "american", "expiration_date": expiration,
                    "shares_per_contract": 100, "strike_price": strike, "ticker": ticker},
        "fmv": mid,
        "greeks": {"delta": 0.5 if contract_type == "call" else -0.5, "gamma": 0.05, "theta": -0.04, "vega": 0.2},
        "last_quote": {"ask": mid + 0.05, "ask_size": 10, "bid": mid - 0.05, "bid_size": 12,
                       "last_updated": 1_709_650_800_000_000_000, "midpoint": mid, "timeframe": "REAL-TIME"},
        "last_trade": {"conditions": [209], "exchange": 316, "price": mid, "sip_timestamp": 1_709_650_800_000_000_000,
                       "size": 2, "timeframe": "REAL-TIME"},
        "open_interest": 1543,
        "underlying_asset": {"change_to_break_even": 1.2, "last_updated": 1_709_650_800_000_000_000,
                             "price": underlying_price, "ticker": underlying, "timeframe": "REAL-TIME"},
    }
    if iv is not None:
        rec["implied_volatility"] = iv
    return rec


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    authorization: str


class PolygonRestStandIn:
    def __init__(self, api_key: str, *, not_entitled: tuple[str, ...] = (), page_cap: int = 50_000) -> None:
        self.api_key = api_key
        self.not_entitled = {s.upper() for s in not_entitled}
        self.page_cap = page_cap
        self.trades: dict[str, list[dict]] = {}
        self.aggs: dict[str, list[dict]] = {}
        self.chains: dict[str, list[dict]] = {}  # underlying -> option contract snapshots
        self.received: list[Received] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer the next requests with
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.base_url = ""

    # ------------------------------------------------------------------ data

    def add_trades(self, symbol: str, records: list[dict]) -> None:
        with self._lock:
            self.trades.setdefault(symbol, []).extend(records)
            self.trades[symbol].sort(key=lambda r: r["sip_timestamp"])

    def add_aggs(self, symbol: str, records: list[dict]) -> None:
        with self._lock:
            self.aggs.setdefault(symbol, []).extend(records)
            self.aggs[symbol].sort(key=lambda r: r["t"])

    def set_chain(self, underlying: str, records: list[dict]) -> None:
        with self._lock:
            self.chains[underlying] = list(records)

    def requests_to(self, prefix: str) -> list[Received]:
        return [r for r in self.received if r.path.startswith(prefix)]

    # ------------------------------------------------------------------ server

    def start(self) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "PolygonRestStandIn":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ handling

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        auth = h.headers.get("Authorization", "")
        with self._lock:
            self.received.append(Received(parts.path, query, auth))
            fail = self.fail_next.pop(0) if self.fail_next else None
        if fail is not None:
            self._send(h, fail, {"status": "ERROR", "request_id": "x", "error": f"scripted {fail}"})
            return
        key = auth[len("Bearer "):] if auth.startswith("Bearer ") else (query.get("apiKey") or [""])[0]
        if not key:
            self._send(h, 401, {"status": "ERROR", "request_id": "r", "error": "API Key was not provided"})
            return
        if key != self.api_key:
            self._send(h, 401, {"status": "ERROR", "request_id": "r", "error": "Unknown API Key"})
            return
        path = parts.path
        if path == "/v1/marketstatus/now":
            self._send(h, 200, {"market": "open", "serverTime": "2024-03-05T10:00:00-05:00",
                                "exchanges": {"nyse": "open", "nasdaq": "open"}, "afterHours": False,
                                "earlyHours": False})
            return
        if path.startswith("/v3/trades/"):
            self._trades(h, path.rsplit("/", 1)[1], query)
            return
        if path.startswith("/v2/aggs/ticker/"):
            self._aggs(h, path, query)
            return
        if path.startswith("/v3/snapshot/options/"):
            self._option_chain(h, path.rsplit("/", 1)[1], query)
            return
        self._send(h, 404, {"status": "NOT_FOUND", "request_id": "r", "message": f"no route {path}"})

    def _not_entitled(self, h: BaseHTTPRequestHandler, symbol: str) -> bool:
        if symbol.upper() in self.not_entitled:
            self._send(h, 403, {"status": "NOT_AUTHORIZED", "request_id": "r", "message": NOT_ENTITLED_MESSAGE})
            return True
        return False

    @staticmethod
    def _cursor(state: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()

    def _trades(self, h: BaseHTTPRequestHandler, symbol: str, query: dict) -> None:
        if self._not_entitled(h, symbol):
            return
        if "cursor" in query:
            state = json.loads(base64.urlsafe_b64decode(query["cursor"][0]))
        else:
            state = {
                "gte": int(query["timestamp.gte"][0]) if "timestamp.gte" in query else None,
                "lt": int(query["timestamp.lt"][0]) if "timestamp.lt" in query else None,
                "limit": int(query.get("limit", ["1000"])[0]),
                "offset": 0,
            }
        limit = min(state["limit"], self.page_cap)
        with self._lock:
            rows = [r for r in self.trades.get(symbol, [])
                    if (state["gte"] is None or r["sip_timestamp"] >= state["gte"])
                    and (state["lt"] is None or r["sip_timestamp"] < state["lt"])]
        page = rows[state["offset"]:state["offset"] + limit]
        body: dict = {"results": page, "status": "OK", "request_id": "r"}
        if state["offset"] + limit < len(rows):
            nxt = dict(state, offset=state["offset"] + limit)
            body["next_url"] = f"{self.base_url}/v3/trades/{symbol}?cursor={self._cursor(nxt)}"
        self._send(h, 200, body)

    def _aggs(self, h: BaseHTTPRequestHandler, path: str, query: dict) -> None:
        # /v2/aggs/ticker/{t}/range/{mult}/{span}/{from}/{to}
        bits = path.split("/")
        symbol, mult, span, frm, to = bits[4], bits[6], bits[7], bits[8], bits[9]
        if self._not_entitled(h, symbol):
            return
        if mult != "1" or span != "minute":
            self._send(h, 400, {"status": "ERROR", "request_id": "r", "error": "stand-in serves 1 minute only"})
            return
        if "cursor" in query:
            state = json.loads(base64.urlsafe_b64decode(query["cursor"][0]))
        else:
            state = {"from": int(frm), "to": int(to), "limit": int(query.get("limit", ["5000"])[0]), "offset": 0}
        limit = min(state["limit"], self.page_cap)
        with self._lock:
            rows = [r for r in self.aggs.get(symbol, []) if state["from"] <= r["t"] <= state["to"]]
        page = rows[state["offset"]:state["offset"] + limit]
        body: dict = {"ticker": symbol, "queryCount": len(page), "resultsCount": len(page), "adjusted": True,
                      "results": page, "status": "OK", "request_id": "r"}
        if state["offset"] + limit < len(rows):
            nxt = dict(state, offset=state["offset"] + limit)
            body["next_url"] = (f"{self.base_url}/v2/aggs/ticker/{symbol}/range/1/minute/{frm}/{to}"
                                f"?cursor={self._cursor(nxt)}")
        self._send(h, 200, body)

    def _option_chain(self, h: BaseHTTPRequestHandler, underlying: str, query: dict) -> None:
        """/v3/snapshot/options/{underlying}: ``limit`` per page (Polygon: default 10,
        at most 250), ``next_url`` with a cursor; an unknown underlying is 200 with no
        results, as Polygon answers it."""
        if self._not_entitled(h, underlying):
            return
        if "cursor" in query:
            state = json.loads(base64.urlsafe_b64decode(query["cursor"][0]))
        else:
            limit = int(query.get("limit", ["10"])[0])
            if not 1 <= limit <= 250:
                self._send(h, 400, {"status": "ERROR", "request_id": "r",
                                    "error": "limit must be between 1 and 250"})
                return
            state = {"limit": limit, "offset": 0}
        with self._lock:
            rows = list(self.chains.get(underlying, []))
        page = rows[state["offset"]:state["offset"] + state["limit"]]
        body: dict = {"results": page, "status": "OK", "request_id": "r"}
        if state["offset"] + state["limit"] < len(rows):
            nxt = dict(state, offset=state["offset"] + state["limit"])
            body["next_url"] = f"{self.base_url}/v3/snapshot/options/{underlying}?cursor={self._cursor(nxt)}"
        self._send(h, 200, body)
