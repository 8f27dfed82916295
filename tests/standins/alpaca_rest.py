"""A stand-in for Alpaca's trading REST API v2 and market-data REST API v2.

A ThreadingHTTPServer in a background thread (alpaca-py's REST clients are
synchronous ``requests`` sessions). State is a small, honest order book keeper:
orders (bracket legs held until the parent fills), positions, account, clock,
and historical trades/bars with ``next_page_token`` pagination. Tests drive
fills and cancels through methods; every state change is also published as a
trade update to listeners (the trading stream stand-in). Responses can be
scripted per request (403/422/429, a hang, a dropped connection).

By default it behaves as real Alpaca is documented and reported to behave,
unkind parts included (``AlpacaBehaviour``, each rule naming its source);
``KIND`` keeps the old, gentler behaviour for a test that asks for it, and the
variants where reports disagree can be switched per test.
"""
from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled", "held", "pending_cancel", "pending_replace"}


def iso_ns(ns: int) -> str:
    """RFC 3339 with nanoseconds, as Alpaca writes timestamps."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def parse_iso_ns(text: str) -> int:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac_ns = 0
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        tz = rest[i:] or "+00:00"
        frac_ns = int((digits + "000000000")[:9])
        text = head + tz
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


@dataclass(frozen=True)
class AlpacaBehaviour:
    """How the stand-in's order system behaves where real Alpaca is unkind.

    - ``stop_leg_held``: after the entry fills only the take-profit leg goes
      ``new``; the stop-loss leg stays ``held`` until it triggers. Source:
      alpaca-py issue #198 ("the main ... order has a Filled status, the stop
      loss has a Held status, and the take profit has a New status") and
      alpaca-trade-api-js issue #87 (the maintainer: "one is opened at a time.
      The other orders are held").
    - ``oco_cancel_published``: when the take-profit fills, the held stop is
      canceled WITHOUT a trade update (False, alpaca-py #198: "the stop loss
      order does show a status of Cancelled ... but this is not reported via
      the TradingStream"). When the stop triggers and fills, the take-profit
      goes ``replaced`` and that update IS sent (same issue).
    - ``held_legs_listed``: whether GET /v2/orders?status=open lists a held
      leg (alpaca-trade-api-js #87: the stop-loss leg is not seen "whether I
      use nested: true or not"; other reports list it). False by default.
    - ``nested_lists_filled_parent``: whether ``status=open&nested=true`` lists a
      filled parent whose legs are still open (alpaca-trade-api-js #87:
      "nested: true does not return any results at all" once the entry is
      filled). False by default.
    - ``fill_price``: the ``price`` of a fill/partial_fill trade update.
      Alpaca's streaming docs (trade_updates, "fill": "price: The average price
      per share at which the order was filled"; likewise "partial_fill") say
      "average"; "last" sends the execution's own price.
    - ``duplicate_id_message``: the wording of the 422 for a reused
      client_order_id (code 40010001); Alpaca has used more than one.
    - ``replace_refused_while_accepted``: Alpaca's "Replace an Order" reference:
      "Order cannot be replaced when the status is accepted, pending_new,
      pending_cancel or pending_replace" (a 422 until ``route`` moves the order
      to ``new``). Off by default: the stand-in leaves submitted orders
      ``accepted``, and the older tests replace them at once.

    Replace (PATCH /v2/orders/{id}) always works as Alpaca documents it: the
    replacing order has a NEW id (and the client_order_id sent, else a generated
    one), ``replaces`` the old id; the old order goes ``replaced`` with
    ``replaced_by``; a bracket parent's legs move under the replacing order; a
    closed order (filled, canceled...) is refused with 422. Without a ``qty`` the
    replacement keeps the ORIGINAL qty even after a partial fill (Alpaca-API issue
    #165: "the replaced order reflects the original qty N and NOT the unfilled
    qty"), so a client must send the remaining qty. With ``hold_replaces`` set, a
    replace lands only at ``land_replaces()``: the old order is
    ``pending_replace`` meanwhile and can still fill, and then the replacing
    order is rejected ("If the existing open order is filled before the replacing
    (new) order reaches the execution venue, the replacing (new) order is
    rejected", the same reference).
    """

    stop_leg_held: bool = True
    oco_cancel_published: bool = False
    held_legs_listed: bool = False
    nested_lists_filled_parent: bool = False
    fill_price: str = "average"
    duplicate_id_message: str = "client_order_id must be unique"
    replace_refused_while_accepted: bool = False


REAL = AlpacaBehaviour()
# the gentler model: both legs released, every change published, held legs and
# filled parents listed, the execution's own price
KIND = AlpacaBehaviour(stop_leg_held=False, oco_cancel_published=True, held_legs_listed=True,
                       nested_lists_filled_parent=True, fill_price="last")
# where reports disagree: each variant of the open-order listing
LISTING_VARIANTS = {
    "held-unlisted": REAL,
    "held-listed": AlpacaBehaviour(held_legs_listed=True),
    "held-listed-nested-parent": AlpacaBehaviour(held_legs_listed=True, nested_lists_filled_parent=True),
}
# the wording quoted in alpaca-py issue #260, and another seen without the field's name in it
DUPLICATE_ID_WORDINGS = ("client_order_id must be unique", "duplicate client order id")


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Scripted:
    method: str
    path: str
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0  # sleep before handling (the request still takes effect)
    drop: bool = False  # close the connection without handling (never reached the order system)


class AlpacaRestStandIn:
    def __init__(self, key_id: str, secret_key: str, *, buying_power: float = 100_000.0,
                 start_ns: int = 1_704_207_600_000_000_000, page_size: int = 10_000,
                 behaviour: AlpacaBehaviour = REAL) -> None:
        self.behaviour = behaviour
        self.key_id = key_id
        self.secret_key = secret_key
        self.lock = threading.RLock()
        self.received: list[Received] = []
        self.scripts: list[Scripted] = []
        self.listeners: list[Callable[[dict], None]] = []
        self.now_ns = start_ns
        self.page_size = page_size
        self.prices: dict[str, float] = {}
        self.orders: dict[str, dict] = {}  # every order by id, legs included
        self.top_level: list[str] = []  # ids of orders that are not legs, in creation order
        self.parent_of: dict[str, str] = {}
        self.positions: dict[str, dict] = {}
        self.sip_entitled = False
        self.hold_replaces = False  # replaces land at land_replaces() (a fill may race them)
        self.pending_replaces: list[tuple[str, str]] = []  # (old id, replacing id) not landed yet
        # cancels land at land_cancels(): Alpaca answers a DELETE with 204 and the order is
        # ``pending_cancel`` until the venue confirms ("Cancel an Order": "Attempts to cancel
        # an open order ... the order is no longer cancelable" once filled); it can still fill
        self.hold_cancels = False
        self.pending_cancels: list[str] = []
        self.trades: dict[str, list[dict]] = {}
        self.bars: dict[str, list[dict]] = {}
        self.account = {
            "id": str(uuid.uuid4()),
            "account_number": "PA3STANDIN",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": f"{buying_power:.2f}",
            "regt_buying_power": f"{buying_power:.2f}",
            "daytrading_buying_power": f"{buying_power:.2f}",
            "non_marginable_buying_power": f"{buying_power:.2f}",
            "cash": f"{buying_power:.2f}",
            "portfolio_value": f"{buying_power:.2f}",
            "equity": f"{buying_power:.2f}",
            "last_equity": f"{buying_power:.2f}",
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "shorting_enabled": True,
            "multiplier": "1",
            "created_at": iso_ns(start_ns - 86_400 * 10**9 * 30),
            "daytrade_count": 0,
        }
        self.clock = {"is_open": True, "next_open": iso_ns(start_ns + 86_400 * 10**9),
                      "next_close": iso_ns(start_ns + 3 * 3600 * 10**9)}
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        standin = self

        class Handler(_Handler):
            pass

        Handler.standin = standin
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="alpaca-rest-standin", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ scripting

    def script(self, method: str, path: str, status: int = 200, body: Any = None,
               headers: Optional[dict[str, str]] = None, *, hang_s: float = 0.0, drop: bool = False,
               times: int = 1) -> None:
        """The next ``times`` requests to (method, path) get this treatment.
        A 2xx status with hang_s only delays the normal handling; a 2xx status
        with a body answers with that body instead (a stale or canned view)."""
        with self.lock:
            for _ in range(times):
                self.scripts.append(Scripted(method.upper(), path, status, body, dict(headers or {}), hang_s, drop))

    def requests_to(self, method: str, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == method.upper() and r.path == path]

    def _take_script(self, method: str, path: str) -> Optional[Scripted]:
        with self.lock:
            for i, s in enumerate(self.scripts):
                if s.method == method and s.path == path:
                    return self.scripts.pop(i)
        return None

    # ------------------------------------------------------------------ state helpers

    def tick(self, ns: int = 1_000_000) -> int:
        self.now_ns += ns
        return self.now_ns

    def _publish(self, event: str, order: dict, **extra: Any) -> None:
        update = {"event": event, "timestamp": iso_ns(self.tick()), "order": copy.deepcopy(self._with_legs(order))}
        update.update(extra)
        for listener in list(self.listeners):
            listener(update)

    def _with_legs(self, order: dict) -> dict:
        out = dict(order)
        if order.get("_leg_ids"):
            out["legs"] = [self._public(self.orders[i]) for i in order["_leg_ids"]]
        return self._public(out)

    @staticmethod
    def _public(order: dict) -> dict:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def _new_order(self, *, symbol: str, qty: float, side: str, type_: str, tif: str = "day",
                   limit_price: Optional[float] = None, stop_price: Optional[float] = None,
                   client_order_id: Optional[str] = None, order_class: str = "simple",
                   status: str = "accepted") -> dict:
        now = iso_ns(self.tick())
        return {
            "id": str(uuid.uuid4()),
            "client_order_id": client_order_id or str(uuid.uuid4()),
            "created_at": now, "updated_at": now, "submitted_at": now,
            "filled_at": None, "expired_at": None, "expires_at": None, "canceled_at": None,
            "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": symbol,
            "asset_class": "us_equity", "notional": None, "qty": f"{qty:g}", "filled_qty": "0",
            "filled_avg_price": None, "order_class": order_class, "order_type": type_, "type": type_,
            "side": side, "time_in_force": tif,
            "limit_price": None if limit_price is None else f"{limit_price:g}",
            "stop_price": None if stop_price is None else f"{stop_price:g}",
            "status": status, "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None,
        }

    def _register(self, order: dict, parent: Optional[str] = None) -> None:
        self.orders[order["id"]] = order
        if parent is None:
            self.top_level.append(order["id"])
        else:
            self.parent_of[order["id"]] = parent

    def add_position(self, symbol: str, qty: float, avg_price: float, current: Optional[float] = None) -> None:
        with self.lock:
            self._set_position(symbol, qty, avg_price, current if current is not None else avg_price)

    def _set_position(self, symbol: str, qty: float, avg: float, current: float) -> None:
        if qty == 0:
            self.positions.pop(symbol, None)
            return
        self.positions[symbol] = {
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": symbol, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True, "avg_entry_price": f"{avg:.4f}",
            "qty": f"{qty:g}", "side": "long" if qty > 0 else "short",
            "market_value": f"{qty * current:.2f}", "cost_basis": f"{qty * avg:.2f}",
            "unrealized_pl": f"{(current - avg) * qty:.2f}", "unrealized_plpc": "0",
            "unrealized_intraday_pl": f"{(current - avg) * qty:.2f}", "unrealized_intraday_plpc": "0",
            "current_price": f"{current:.4f}", "lastday_price": f"{avg:.4f}", "change_today": "0",
            "qty_available": f"{qty:g}",
        }

    def add_order(self, **kwargs: Any) -> dict:
        """Place an order directly at the 'broker' (as if another session sent it)."""
        with self.lock:
            order = self._new_order(**kwargs)
            self._register(order)
            return self._public(order)

    def submit_bracket_direct(self, body: dict) -> dict:
        with self.lock:
            return self._create_from_body(body)

    def fill(self, order_id: str, qty: float, price: float) -> dict:
        """Execute ``qty`` of an order at ``price``: order, position, legs, and a trade update."""
        with self.lock:
            order = self.orders[order_id]
            total = float(order["qty"])
            done = float(order["filled_qty"])
            qty = min(qty, total - done)
            old_avg = float(order["filled_avg_price"] or 0.0)
            new_done = done + qty
            order["filled_avg_price"] = f"{(old_avg * done + price * qty) / new_done:.4f}"
            order["filled_qty"] = f"{new_done:g}"
            order["status"] = "filled" if new_done >= total else "partially_filled"
            order["updated_at"] = iso_ns(self.tick())
            if order["status"] == "filled":
                order["filled_at"] = order["updated_at"]
            sign = 1 if order["side"] == "buy" else -1
            pos = self.positions.get(order["symbol"])
            pqty = float(pos["qty"]) if pos else 0.0
            pavg = float(pos["avg_entry_price"]) if pos else 0.0
            nqty = pqty + sign * qty
            if pqty == 0 or (pqty > 0) == (sign > 0):
                navg = (abs(pqty) * pavg + qty * price) / abs(nqty) if nqty else 0.0
            else:
                navg = pavg if (nqty > 0) == (pqty > 0) and nqty != 0 else price
            self._set_position(order["symbol"], nqty, navg, price)
            cash = float(self.account["cash"]) - sign * qty * price
            self.account["cash"] = f"{cash:.2f}"
            self.account["buying_power"] = f"{cash:.2f}"
            event = "fill" if order["status"] == "filled" else "partial_fill"
            shown = order["filled_avg_price"] if self.behaviour.fill_price == "average" else f"{price:g}"
            self._publish(event, order, execution_id=str(uuid.uuid4()), position_qty=f"{nqty:g}",
                          price=shown, qty=f"{qty:g}")
            if order["status"] == "filled" and order.get("_leg_ids"):
                for leg_id in order["_leg_ids"]:
                    leg = self.orders[leg_id]
                    if leg["status"] == "held" and not (self.behaviour.stop_leg_held and leg["type"] == "stop"):
                        leg["status"] = "new"
                        leg["updated_at"] = iso_ns(self.tick())
                        self._publish("new", leg)
            parent = self.parent_of.get(order_id)
            if order["status"] == "filled" and parent:
                for sib in self.orders[parent].get("_leg_ids", []):
                    if sib == order_id or self.orders[sib]["status"] not in OPEN_STATUSES:
                        continue
                    if order["type"] == "stop" and self.behaviour.stop_leg_held:
                        # the stop triggered: the take-profit goes "replaced", and that is published (#198)
                        sib_order = self.orders[sib]
                        sib_order["status"] = "replaced"
                        sib_order["replaced_by"] = order_id
                        sib_order["replaced_at"] = sib_order["updated_at"] = iso_ns(self.tick())
                        self._publish("replaced", sib_order)
                    else:
                        self._cancel(sib, publish=self.behaviour.oco_cancel_published)
            return self._public(order)

    def _cancel(self, order_id: str, publish: bool = True) -> None:
        order = self.orders[order_id]
        order["status"] = "canceled"
        order["canceled_at"] = order["updated_at"] = iso_ns(self.tick())
        if publish:
            self._publish("canceled", order)
        for leg_id in order.get("_leg_ids", []):
            if self.orders[leg_id]["status"] in OPEN_STATUSES:
                self._cancel(leg_id)

    def cancel(self, order_id: str) -> None:
        with self.lock:
            self._cancel(order_id)

    def add_trades(self, symbol: str, trades: list[tuple[int, float, float, int]]) -> None:
        """History for the data REST API: (ts_ns, price, size, id) tuples."""
        with self.lock:
            rows = self.trades.setdefault(symbol, [])
            for ts, price, size, tid in trades:
                rows.append({"t": iso_ns(ts), "x": "V", "p": price, "s": size, "c": ["@"], "i": tid, "z": "C"})
            rows.sort(key=lambda r: parse_iso_ns(r["t"]))

    def add_bars(self, symbol: str, bars: list[tuple[int, float, float, float, float, float]]) -> None:
        with self.lock:
            rows = self.bars.setdefault(symbol, [])
            for ts, o, h, l, c, v in bars:
                rows.append({"t": iso_ns(ts), "o": o, "h": h, "l": l, "c": c, "v": v, "n": 10, "vw": (h + l + c) / 3})
            rows.sort(key=lambda r: parse_iso_ns(r["t"]))

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        if headers.get("apca-api-key-id") != self.key_id or headers.get("apca-api-secret-key") != self.secret_key:
            return 401, {"code": 40110000, "message": "request is not authorized"}, {}
        with self.lock:
            return self._route(method, path, query, body)

    def _q(self, query: dict[str, list[str]], name: str, default: Optional[str] = None) -> Optional[str]:
        values = query.get(name)
        return values[0] if values else default

    def _route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any, dict]:
        if path == "/v2/account" and method == "GET":
            return 200, self.account, {}
        if path == "/v2/clock" and method == "GET":
            return 200, dict(self.clock, timestamp=iso_ns(self.now_ns)), {}
        if path == "/v2/orders" and method == "POST":
            return self._submit(body)
        if path == "/v2/orders" and method == "GET":
            return self._list_orders(query)
        if path == "/v2/orders" and method == "DELETE":
            out = []
            for oid in list(self.top_level):
                if self.orders[oid]["status"] in OPEN_STATUSES or any(
                        self.orders[l]["status"] in OPEN_STATUSES for l in self.orders[oid].get("_leg_ids", [])):
                    self._cancel(oid)
                    out.append({"id": oid, "status": 200, "body": None})
            return 207, out, {}
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            cid = self._q(query, "client_order_id")
            for order in self.orders.values():
                if order["client_order_id"] == cid:
                    return 200, self._with_legs(order), {}
            return 404, {"code": 40410000, "message": "order not found"}, {}
        if path.startswith("/v2/orders/"):
            oid = path[len("/v2/orders/"):]
            order = self.orders.get(oid)
            if order is None:
                return 404, {"code": 40410000, "message": "order not found"}, {}
            if method == "GET":
                return 200, self._with_legs(order), {}
            if method == "DELETE":
                if order["status"] not in OPEN_STATUSES:
                    return 422, {"code": 42210000, "message": f"order is already in \"{order['status']}\" state"}, {}
                if self.hold_cancels:
                    order["status"] = "pending_cancel"
                    order["updated_at"] = iso_ns(self.tick())
                    self._publish("pending_cancel", order)
                    self.pending_cancels.append(oid)
                    return 204, None, {}
                self._cancel(oid)
                return 204, None, {}
            if method == "PATCH":
                return self._replace(order, body or {})
        if path == "/v2/positions" and method == "GET":
            return 200, list(self.positions.values()), {}
        if path == "/v2/positions" and method == "DELETE":
            if self._q(query, "cancel_orders") in ("true", "True", "1"):
                for oid in list(self.orders):
                    if self.orders[oid]["status"] in OPEN_STATUSES:
                        self.orders[oid]["status"] = "canceled"
                        self._publish("canceled", self.orders[oid])
            out = []
            for symbol, pos in list(self.positions.items()):
                qty = float(pos["qty"])
                order = self._new_order(symbol=symbol, qty=abs(qty), side="sell" if qty > 0 else "buy", type_="market")
                self._register(order)
                self._publish("new", order)
                out.append({"symbol": symbol, "status": 200, "order_id": order["id"], "body": self._public(order)})
            return 207, out, {}
        if path.startswith("/v2/positions/"):
            symbol = path[len("/v2/positions/"):]
            pos = self.positions.get(symbol)
            if pos is None:
                return 404, {"code": 40410000, "message": "position does not exist"}, {}
            if method == "GET":
                return 200, pos, {}
            if method == "DELETE":
                qty = float(pos["qty"])
                side = "sell" if qty > 0 else "buy"
                held = sum(float(o["qty"]) - float(o["filled_qty"]) for o in self.orders.values()
                           if o["symbol"] == symbol and o["side"] == side and o["status"] in OPEN_STATUSES
                           and o["status"] != "held")
                if held > 0:
                    return 403, {"code": 40310000, "message": f"insufficient qty available for order (requested: {abs(qty):g}, available: {abs(qty) - held:g})",
                                 "symbol": symbol, "held_for_orders": f"{held:g}"}, {}
                order = self._new_order(symbol=symbol, qty=abs(qty), side=side, type_="market")
                self._register(order)
                self._publish("new", order)
                return 200, self._public(order), {}
        if path == "/v2/stocks/trades/latest" and method == "GET":
            if self._q(query, "feed", "sip") == "sip" and not self.sip_entitled:
                return 403, {"message": "subscription does not permit querying recent SIP data"}, {}
            out = {}
            for s in (self._q(query, "symbols", "") or "").split(","):
                rows = self.trades.get(s)
                if rows:
                    out[s] = rows[-1]
            return 200, {"trades": out}, {}
        if path in ("/v2/stocks/trades", "/v2/stocks/bars") and method == "GET":
            return self._history("trades" if path.endswith("trades") else "bars", query)
        return 404, {"code": 40400000, "message": f"endpoint not found: {method} {path}"}, {}

    def _history(self, kind: str, query: dict) -> tuple[int, Any, dict]:
        if self._q(query, "feed", "sip") == "sip" and not self.sip_entitled:
            return 403, {"message": "subscription does not permit querying recent SIP data"}, {}
        symbols = (self._q(query, "symbols", "") or "").split(",")
        start = self._q(query, "start")
        end = self._q(query, "end")
        start_ns = parse_iso_ns(start) if start else None
        end_ns = parse_iso_ns(end) if end else None
        limit = int(self._q(query, "limit", "1000") or 1000)
        page = min(limit, self.page_size)
        offset = int(self._q(query, "page_token", "0") or 0)
        store = self.trades if kind == "trades" else self.bars
        flat: list[tuple[str, dict]] = []
        for s in symbols:
            for row in store.get(s, []):
                ts = parse_iso_ns(row["t"])
                if (start_ns is None or ts >= start_ns) and (end_ns is None or ts <= end_ns):
                    flat.append((s, row))
        chunk = flat[offset:offset + page]
        out: dict[str, list] = {}
        for s, row in chunk:
            out.setdefault(s, []).append(row)
        token = str(offset + page) if offset + page < len(flat) else None
        return 200, {kind: out, "next_page_token": token}, {}

    def _list_orders(self, query: dict) -> tuple[int, Any, dict]:
        """GET /v2/orders as Alpaca answers it: ``status`` open|closed|all (default
        open), ``after``/``until`` exclusive bounds on the submission time,
        ``direction`` asc|desc by submission time (default desc), ``limit``
        (default 50, at most 500: no page token, a client pages by moving
        ``after``/``until``), ``nested`` (legs under their parent), ``symbols``, ``side``."""
        status = self._q(query, "status", "open")
        if status not in ("open", "closed", "all"):
            return 422, {"code": 42210000, "message": f"invalid status {status!r}"}, {}
        nested = self._q(query, "nested") in ("true", "True", "1")
        try:
            after = parse_iso_ns(self._q(query, "after")) if self._q(query, "after") else None
            until = parse_iso_ns(self._q(query, "until")) if self._q(query, "until") else None
            limit = int(self._q(query, "limit", "50") or 50)
        except ValueError as exc:
            return 422, {"code": 42210000, "message": f"invalid query: {exc}"}, {}
        limit = max(1, min(limit, 500))
        direction = self._q(query, "direction", "desc")
        symbols = set(filter(None, (self._q(query, "symbols", "") or "").split(",")))
        side = self._q(query, "side")

        def wanted(o: dict) -> bool:
            is_open = o["status"] in OPEN_STATUSES
            return status == "all" or (status == "open") == is_open

        def in_range(o: dict) -> bool:
            ts = parse_iso_ns(o["submitted_at"])
            return ((after is None or ts > after) and (until is None or ts < until)
                    and (not symbols or o["symbol"] in symbols) and (side is None or o["side"] == side))

        def listed(o: dict) -> bool:
            # a held leg is missing from the open listing unless the variant lists it (js #87)
            return wanted(o) and (o["status"] != "held" or self.behaviour.held_legs_listed or status != "open")

        if nested:
            out = []
            for oid in self.top_level:
                o = self.orders[oid]
                legs = [self.orders[l] for l in o.get("_leg_ids", [])]
                if in_range(o) and (wanted(o) or (status == "open" and self.behaviour.nested_lists_filled_parent
                                                  and any(listed(l) for l in legs))):
                    out.append(o)
        else:
            out = [o for o in self.orders.values() if in_range(o) and listed(o)]
        out.sort(key=lambda o: (parse_iso_ns(o["submitted_at"]), o["id"]), reverse=direction != "asc")
        return 200, [self._with_legs(o) if nested else self._public(o) for o in out[:limit]], {}

    def _create_from_body(self, body: dict) -> dict:
        tp = body.get("take_profit")
        sl = body.get("stop_loss")
        order_class = body.get("order_class") or "simple"
        order = self._new_order(
            symbol=body["symbol"], qty=float(body["qty"]), side=body["side"], type_=body["type"],
            tif=body.get("time_in_force", "day"),
            limit_price=None if body.get("limit_price") is None else float(body["limit_price"]),
            stop_price=None if body.get("stop_price") is None else float(body["stop_price"]),
            client_order_id=body.get("client_order_id"), order_class=order_class)
        self._register(order)
        if order_class == "bracket":
            exit_side = "sell" if body["side"] == "buy" else "buy"
            tp_leg = self._new_order(symbol=body["symbol"], qty=float(body["qty"]), side=exit_side, type_="limit",
                                     tif=order["time_in_force"], limit_price=float(tp["limit_price"]),
                                     order_class="bracket", status="held")
            sl_leg = self._new_order(symbol=body["symbol"], qty=float(body["qty"]), side=exit_side, type_="stop",
                                     tif=order["time_in_force"], stop_price=float(sl["stop_price"]),
                                     order_class="bracket", status="held")
            self._register(tp_leg, order["id"])
            self._register(sl_leg, order["id"])
            order["_leg_ids"] = [tp_leg["id"], sl_leg["id"]]
        self._publish("new", order)
        return self._with_legs(order)

    def _submit(self, body: Any) -> tuple[int, Any, dict]:
        if not isinstance(body, dict):
            return 422, {"code": 40010000, "message": "request body format is invalid"}, {}
        cid = body.get("client_order_id")
        if cid and any(o["client_order_id"] == cid for o in self.orders.values()):
            # code 40010001; the wording varies (see AlpacaBehaviour.duplicate_id_message)
            return 422, {"code": 40010001, "message": self.behaviour.duplicate_id_message}, {}
        for name in ("symbol", "qty", "side", "type", "time_in_force"):
            if body.get(name) in (None, ""):
                return 422, {"code": 40010001, "message": f"{name} is required"}, {}
        qty = float(body["qty"])
        if qty <= 0:
            return 422, {"code": 40010001, "message": "qty must be > 0"}, {}
        if body["type"] == "limit" and body.get("limit_price") is None:
            return 422, {"code": 40010001, "message": "limit_price is required for limit orders"}, {}
        if body.get("order_class") == "bracket":
            tp, sl = body.get("take_profit"), body.get("stop_loss")
            if not tp or not sl:
                return 422, {"code": 40010001, "message": "bracket orders must specify both take_profit and stop_loss"}, {}
            base = float(body.get("limit_price") or self.prices.get(body["symbol"], 0.0))
            if body["side"] == "buy" and float(tp["limit_price"]) < base + 0.01:
                return 422, {"code": 42210000, "message": f"take_profit.limit_price must be >= base_price + 0.01"}, {}
            if body["side"] == "buy" and float(sl["stop_price"]) > base - 0.01:
                return 422, {"code": 42210000, "message": "stop_loss.stop_price must be <= base_price - 0.01"}, {}
        price = float(body.get("limit_price") or self.prices.get(body["symbol"], 0.0))
        if body["side"] == "buy" and qty * price > float(self.account["buying_power"]):
            return 403, {"code": 40310000, "message": "insufficient buying power"}, {}
        return 200, self._create_from_body(body), {}

    def route(self, order_id: str) -> None:
        """The venue took the order: ``accepted`` -> ``new`` (and its trade update)."""
        with self.lock:
            order = self.orders[order_id]
            if order["status"] in ("accepted", "pending_new"):
                order["status"] = "new"
                order["updated_at"] = iso_ns(self.tick())
                self._publish("new", order)

    def _replace(self, order: dict, body: dict) -> tuple[int, Any, dict]:
        if order["status"] not in OPEN_STATUSES:
            return 422, {"code": 42210000, "message": "order is not open"}, {}
        if order["status"] in ("pending_new", "pending_cancel", "pending_replace") or (
                order["status"] == "accepted" and self.behaviour.replace_refused_while_accepted):
            return 422, {"code": 42210000, "message": f"order is not replaceable while {order['status']}"}, {}
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if any(o["client_order_id"] == cid for o in self.orders.values()):
            return 422, {"code": 40010001, "message": self.behaviour.duplicate_id_message}, {}
        new = dict(order)
        new.pop("_leg_ids", None)
        now = iso_ns(self.tick())
        new.update({"id": str(uuid.uuid4()), "client_order_id": cid, "created_at": now,
                    "updated_at": now, "submitted_at": now, "replaces": order["id"], "status": "accepted"
                    if order["status"] != "held" else "held", "filled_qty": "0", "filled_avg_price": None,
                    "filled_at": None})
        for name in ("stop_price", "limit_price", "qty"):
            if body.get(name) is not None:
                new[name] = f"{float(body[name]):g}"
        parent = self.parent_of.get(order["id"])
        if parent:
            self._register(new, parent)
            legs = self.orders[parent]["_leg_ids"]
            legs[legs.index(order["id"])] = new["id"]
        else:
            self._register(new)
        if self.hold_replaces:
            order["status"] = "pending_replace"
            order["updated_at"] = now
            new["status"] = "pending_new"
            self.pending_replaces.append((order["id"], new["id"]))
            self._publish("pending_replace", order)
            return 200, self._public(new), {}
        self._land(order, new)
        return 200, self._public(new), {}

    def _land(self, order: dict, new: dict) -> None:
        now = iso_ns(self.tick())
        if order["status"] not in OPEN_STATUSES:  # it filled (or was canceled) before the replace landed
            new["status"] = "rejected"
            new["failed_at"] = new["updated_at"] = now
            self._publish("rejected", new)
            return
        order["status"] = "replaced"
        order["replaced_by"] = new["id"]
        order["replaced_at"] = order["updated_at"] = now
        if order.get("_leg_ids"):  # a bracket parent's legs follow the replacing order
            new["_leg_ids"] = order.pop("_leg_ids")
            for leg_id in new["_leg_ids"]:
                self.parent_of[leg_id] = new["id"]
        if new["status"] == "pending_new":
            new["status"] = "accepted"
        self._publish("replaced", order)
        self._publish("new", new)

    def land_cancels(self) -> None:
        """The held cancels reach the venue (see ``hold_cancels``): an order that filled meanwhile stays filled."""
        with self.lock:
            held, self.pending_cancels = self.pending_cancels, []
            for oid in held:
                if self.orders[oid]["status"] in OPEN_STATUSES:
                    self._cancel(oid)

    def land_replaces(self) -> None:
        """The held replaces reach the venue (see ``hold_replaces``)."""
        with self.lock:
            held, self.pending_replaces = self.pending_replaces, []
            for old_id, new_id in held:
                self._land(self.orders[old_id], self.orders[new_id])


class _Handler(BaseHTTPRequestHandler):
    standin: AlpacaRestStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        method = self.command
        standin = self.standin
        scripted = standin._take_script(method, parts.path)
        if scripted is not None and scripted.drop:
            # the request dies in transit: nothing recorded as handled, no response
            self.close_connection = True
            return
        with standin.lock:
            standin.received.append(Received(method, parts.path, query, headers, body))
        if scripted is not None and (scripted.status >= 300 or scripted.body is not None):
            if scripted.hang_s:
                time.sleep(scripted.hang_s)
            status, payload, extra = scripted.status, scripted.body, scripted.headers
        else:
            status, payload, extra = standin.handle(method, parts.path, query, headers, body)
            if scripted is not None and scripted.hang_s:
                # handled (the order exists) but the answer comes too late
                time.sleep(scripted.hang_s)
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve
