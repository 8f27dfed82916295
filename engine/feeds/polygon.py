"""Polygon (now "Massive") market data: live trades, minute aggregates and (for
pegged entries) NBBO quotes from polygon-api-client's WebSocketClient inside our
event loop, REST backfill of trades and minute aggregates, and the conversions to
engine.model Trade / Bar / Quote.

Why it looks the way it does (facts about polygon-api-client 1.16):

- ``WebSocketClient`` and ``RESTClient`` read ``POLYGON_API_KEY`` as a default
  argument, i.e. once, when the module is imported. We always pass the key
  explicitly, so a key set (or changed) after import is the one used.
- ``WebSocketClient.run()`` calls ``asyncio.run``; we await its ``connect()``
  coroutine in our own loop instead.
- In its parsed mode the client swallows every status message (it only logs
  them), so a "not authorized" answer to a subscription would vanish, and one
  malformed frame (bad JSON) raises out of ``connect``. We use ``raw=True`` and
  parse frames ourselves: malformed frames are counted and skipped (one nested
  too deeply for the parser, e.g. 5,000 ``[``, as well), status messages are
  read. Each skipped frame or message is journaled (``drain_notices()``, kind
  "malformed") and so counted in the run's malformed total.
- Its own reconnect keeps the old subscription set after a clean close (so it
  would not resubscribe) and retries refused connections forever with the
  websockets library's backoff, invisibly. We build a fresh client per
  connection attempt with ``max_reconnects=0`` and run our own exponential
  backoff with jitter, so the status shows a countdown.
- Quotes (``Q.SYM``: ``bp``/``bs`` bid price and size, ``ap``/``as`` ask, ``t``
  unix milliseconds; polygon-api-client's ``EquityQuote`` reads the same keys) are
  subscribed only when asked (``quotes=True``: the factory asks for a pegged run,
  whose entries follow the bid/ask); a market-order run gets none. They are not
  backfilled after a gap: a quote is the book now, and the next one replaces it.
- After a reconnect the gap is backfilled over REST (``/v3/trades`` with an
  explicit page limit and ``next_url`` pagination) before live data flows on.
  Live frames that arrive meanwhile are held, then released. Trades are
  deduplicated by their sequence number (``q`` on the stream,
  ``sequence_number`` on REST: unique per ticker and day), or by exchange +
  trade id + TRF id when a source has no sequence number.

Hosts: the client talks to ``wss://socket.polygon.io/<market>`` (real time),
``wss://delayed.polygon.io/<market>`` (15-minute delayed) and
``https://api.polygon.io``. Polygon renamed itself Massive (massive.com); its
documentation now names socket.massive.com / api.massive.com, and the polygon.io
names keep working. Both can be overridden (``ws_url``/``rest_base``; the
factory passes ``endpoints.polygon_ws`` / ``endpoints.polygon_rest`` of the
config), which is how the tests point everything at 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import re
import reprlib
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Optional, Union
from urllib.parse import urlsplit

from ..clock import Clock, WallClock
from ..live.backoff import Backoff
from ..live.secrets import redact, register_secret
from ..model import NS_PER_MIN, Bar, FeedStatus, JournalEntry, Quote, Trade
from ..ops.cache import LOOKUPS
from ..ops.provider_stats import PROVIDER_STATS, endpoint_kind
from ..ops.providers import bars_closed
from ..ops.rate_limit import RATE_LIMITS
from .base import Feed, MarketData
from .notices import SkippedLog

ENV_API_KEY = "POLYGON_API_KEY"
DEFAULT_REST_URL = "https://api.polygon.io"
DEFAULT_WS_URL = "wss://socket.polygon.io/stocks"
DELAYED_WS_URL = "wss://delayed.polygon.io/stocks"

NS_PER_MS = 1_000_000
REST_PAGE_LIMIT = 50_000  # Polygon's maximum page size for /v3/trades and /v2/aggs
MAX_REPORTED = 100  # malformed frames whose reason is kept; all are counted

# status values that are not a problem
_OK_STATUSES = {"connected", "auth_success", "success"}
_LIMIT_STATUSES = {"max_connections", "force_disconnect"}  # another session on the key holds the connection
_PLAN_WORDS = ("plan", "upgrade", "not authorized", "entitle", "subscription")
_ENTITLEMENT_WORDS = ("not authorized", "not entitled", "not allowed", "upgrade", "entitle", "permission")
_TOPIC_RE = re.compile(r"\b(T|AM|A|Q)\.([A-Za-z0-9:.\-/]+)")
_SHORT = reprlib.Repr()  # bounded in depth and length, whatever a message holds
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


def _auth_refusal(exc: BaseException) -> str:
    """An ``auth_failed`` says either that the key is wrong or that its plan
    does not cover the stream ("Your plan doesn't include websocket access"):
    the trader must be told which."""
    text = str(exc)
    if any(w in text.lower() for w in _PLAN_WORDS):
        return f"Polygon: this key's plan does not include this stream ({text})"
    return f"Polygon rejected the API key: {text} (check {ENV_API_KEY})"


def _short(value: Any) -> str:
    """A value for a reason text: never long, never deep (a plain repr of a deeply
    nested message could itself raise RecursionError)."""
    return _SHORT.repr(value)


class PolygonError(Exception):
    """A Polygon REST call failed; ``status`` is Polygon's status word
    (e.g. NOT_AUTHORIZED) when it gave one. The message is already redacted."""

    def __init__(self, message: str, status: str = "", http_status: Optional[int] = None) -> None:
        self.message = redact(message)
        self.status = status
        self.http_status = http_status
        super().__init__(self.message)

    @property
    def not_entitled(self) -> bool:
        return self.status == "NOT_AUTHORIZED" or self.http_status == 403


# --------------------------------------------------------------------------- configuration


def polygon_api_key(env: Optional[dict] = None) -> Optional[str]:
    """The key from ``POLYGON_API_KEY`` (read now, not at import), registered
    for redaction. None when unset."""
    env = os.environ if env is None else env
    key = (env.get(ENV_API_KEY) or "").strip()
    if not key:
        return None
    register_secret(key)
    return key


def rest_base_url(override: Optional[str] = None) -> str:
    return (override or DEFAULT_REST_URL).rstrip("/")


def ws_base_url(override: Optional[str] = None) -> str:
    return override or DEFAULT_WS_URL


@dataclass(frozen=True)
class WsEndpoint:
    """A websocket URL as WebSocketClient wants it: host[:port], market, tls."""

    host: str
    market: str
    secure: bool


def parse_ws_url(url: str) -> WsEndpoint:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"Polygon websocket URL must look like wss://host/stocks, got {url!r}")
    market = parts.path.strip("/") or "stocks"
    return WsEndpoint(parts.netloc, market, parts.scheme == "wss")


def make_rest_client(api_key: str, base: Optional[str] = None, *, retries: int = 3,
                     timeout_s: float = 10.0):
    """polygon-api-client's RESTClient with the key passed explicitly."""
    from polygon import RESTClient

    register_secret(api_key)
    client = RESTClient(api_key=api_key, base=rest_base_url(base), retries=retries,
                        connect_timeout=timeout_s, read_timeout=timeout_s)
    client.client = CountedPool(client.client)
    return client


class CountedPool:
    """The RESTClient's urllib3 pool, holding each request for the client-side
    rate limit (engine.ops.rate_limit) and counting it per endpoint kind
    (engine.ops.provider_stats) on its way through; everything else is the pool's."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        path = urlsplit(url).path
        RATE_LIMITS.wait("polygon", endpoint_kind(path), method)
        try:
            response = self._pool.request(method, url, *args, **kwargs)
        except Exception:
            PROVIDER_STATS.record("polygon", path, None)
            raise
        PROVIDER_STATS.record("polygon", path, getattr(response, "status", None))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def _rest_error(exc: BaseException) -> PolygonError:
    """A readable PolygonError from what polygon-api-client raised."""
    text = str(exc)
    status = ""
    message = text
    http_status = None
    try:
        body = json.loads(text)
        if isinstance(body, dict):
            status = str(body.get("status", ""))
            message = str(body.get("message") or body.get("error") or text)
    except ValueError:
        pass
    if status == "NOT_AUTHORIZED":
        http_status = 403
    name = type(exc).__name__
    if name not in ("BadResponse",):
        message = f"{name}: {message}"
    return PolygonError(message, status, http_status)


# --------------------------------------------------------------------------- conversions


def trade_key(q: Any, exchange: Any, trade_id: Any, trf_id: Any = None) -> tuple:
    """What makes a trade the same trade on the stream and over REST."""
    if q is not None:
        return ("q", int(q))
    return ("id", exchange, str(trade_id), trf_id)


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def trade_from_ws(msg: dict) -> tuple[Optional[Trade], Optional[tuple], str]:
    """A ``T`` message -> (Trade, dedupe key, "") or (None, None, reason)."""
    sym = msg.get("sym")
    p, s, t = _num(msg.get("p")), _num(msg.get("s")), msg.get("t")
    if not isinstance(sym, str) or not sym:
        return None, None, "trade without a symbol"
    if p is None or p <= 0:
        return None, None, f"{sym} trade price {_short(msg.get('p'))} is not a positive number"
    if s is None or s <= 0:
        return None, None, f"{sym} trade size {_short(msg.get('s'))} is not a positive number"
    if isinstance(t, bool) or not isinstance(t, int) or t <= 0:
        return None, None, f"{sym} trade time {_short(t)} is not a unix millisecond timestamp"
    q = msg.get("q")
    if q is not None and (isinstance(q, bool) or not isinstance(q, int)):
        return None, None, f"{sym} trade sequence {_short(q)} is not an integer"
    key = trade_key(q, msg.get("x"), msg.get("i"), msg.get("trfi"))
    return Trade(sym, t * NS_PER_MS, p, s), key, ""


def quote_from_ws(msg: dict) -> tuple[Optional[Quote], str]:
    """A ``Q`` (NBBO quote) message -> (Quote, "") or (None, reason). A side at 0 (an
    empty side of the book) is passed on as it is: the peg reads it as no spread to trade."""
    sym = msg.get("sym")
    if not isinstance(sym, str) or not sym:
        return None, "quote without a symbol"
    bp, ap, t = _num(msg.get("bp")), _num(msg.get("ap")), msg.get("t")
    if bp is None or ap is None or bp < 0 or ap < 0:
        return None, f"{sym} quote bid {_short(msg.get('bp'))} / ask {_short(msg.get('ap'))} are not prices"
    if isinstance(t, bool) or not isinstance(t, int) or t <= 0:
        return None, f"{sym} quote time {_short(t)} is not a unix millisecond timestamp"
    bs, asz = _num(msg.get("bs")), _num(msg.get("as"))
    return Quote(sym, t * NS_PER_MS, bp, ap, bs if bs is not None and bs >= 0 else 0.0,
                 asz if asz is not None and asz >= 0 else 0.0), ""


def bar_from_ws(msg: dict) -> tuple[Optional[Bar], str]:
    """An ``AM`` (minute aggregate) message -> (Bar, "") or (None, reason)."""
    sym = msg.get("sym")
    if not isinstance(sym, str) or not sym:
        return None, "aggregate without a symbol"
    o, h, l, c, v = (_num(msg.get(k)) for k in ("o", "h", "l", "c", "v"))
    s = msg.get("s")
    if None in (o, h, l, c, v) or isinstance(s, bool) or not isinstance(s, int) or s <= 0:
        return None, f"{sym} aggregate needs numeric o/h/l/c/v and a start time s"
    if not (0 < l <= min(o, c) and h >= max(o, c) and v >= 0):
        return None, f"{sym} aggregate is inconsistent: o={o} h={h} l={l} c={c} v={v}"
    vw = _num(msg.get("vw"))
    ts = s * NS_PER_MS
    return Bar(sym, ts - ts % NS_PER_MIN, o, h, l, c, v, vwap=vw if vw is not None else float("nan")), ""


def trade_from_rest(symbol: str, t: Any) -> tuple[Optional[Trade], Optional[tuple]]:
    """A RESTClient Trade model (v3 trades) -> (Trade, key); (None, None) if unusable."""
    p, s, ts = _num(t.price), _num(t.size), t.sip_timestamp
    if p is None or p <= 0 or s is None or s <= 0 or not isinstance(ts, int) or ts <= 0:
        return None, None
    return Trade(symbol, ts, p, s), trade_key(t.sequence_number, t.exchange, t.id, t.trf_id)


def bar_from_rest(symbol: str, a: Any) -> Optional[Bar]:
    """A RESTClient Agg model (v2 aggs, 1 minute) -> Bar (ts in ns); None if unusable."""
    o, h, l, c, v = (_num(x) for x in (a.open, a.high, a.low, a.close, a.volume))
    ts = a.timestamp
    if None in (o, h, l, c, v) or not isinstance(ts, int) or not (0 < l <= min(o, c) and h >= max(o, c)):
        return None
    vw = _num(a.vwap)
    n = a.transactions if isinstance(a.transactions, int) else 0
    ts_ns = ts * NS_PER_MS
    return Bar(symbol, ts_ns - ts_ns % NS_PER_MIN, o, h, l, c, v, trades=n,
               vwap=vw if vw is not None else float("nan"))


# --------------------------------------------------------------------------- REST fetches (blocking; run off the loop)


def fetch_trades(client, symbol: str, start_ns: int, end_ns: int, *, limit: int = REST_PAGE_LIMIT,
                 max_trades: Optional[int] = None,
                 on_page: Optional[Callable[[int], None]] = None) -> list[tuple[Trade, tuple]]:
    """Trades with start_ns <= sip time < end_ns, oldest first, all pages
    (``limit`` per page). Blocking: call through ``asyncio.to_thread``."""
    out: list[tuple[Trade, tuple]] = []
    try:
        it = client.list_trades(symbol, timestamp_gte=int(start_ns), timestamp_lt=int(end_ns),
                                limit=int(limit), sort="timestamp", order="asc")
        for t in it:
            trade, key = trade_from_rest(symbol, t)
            if trade is not None:
                out.append((trade, key))
                if on_page is not None and len(out) % int(limit) == 0:
                    on_page(len(out))
                if max_trades is not None and len(out) >= max_trades:
                    break
    except Exception as exc:  # BadResponse, urllib3 errors: readable, redacted
        raise _rest_error(exc) from None
    out.sort(key=lambda tk: tk[0].ts_ns)
    return out


def fetch_minute_bars(client, symbol: str, start_ns: int, end_ns: int, *,
                      limit: int = REST_PAGE_LIMIT) -> list[Bar]:
    """One-minute aggregates whose start is in [start_ns, end_ns), oldest first."""
    start_ms = start_ns // NS_PER_MS
    end_ms = max(start_ms, (end_ns - 1) // NS_PER_MS)
    out: list[Bar] = []
    try:
        for a in client.list_aggs(symbol, 1, "minute", start_ms, end_ms, adjusted=True,
                                  sort="asc", limit=int(limit)):
            bar = bar_from_rest(symbol, a)
            if bar is not None and start_ns <= bar.ts_ns < end_ns:
                out.append(bar)
    except Exception as exc:
        raise _rest_error(exc) from None
    out.sort(key=lambda b: b.ts_ns)
    # a page boundary may repeat a bar: keep one per minute
    dedup: list[Bar] = []
    for b in out:
        if not dedup or b.ts_ns != dedup[-1].ts_ns:
            dedup.append(b)
    return dedup


OPTIONS_PAGE_LIMIT = 250  # Polygon's maximum page size for /v3/snapshot/options/{underlying}


def contract_from_rest(c: Any):
    """A RESTClient OptionContractSnapshot -> ContractQuote; None without details."""
    from datetime import date

    from ..options_chain import ContractQuote

    d = getattr(c, "details", None)
    if d is None:
        return None
    try:
        expiration = date.fromisoformat(d.expiration_date) if d.expiration_date else None
    except (TypeError, ValueError):
        expiration = None
    day = getattr(c, "day", None)
    under = getattr(c, "underlying_asset", None)
    updated = getattr(day, "last_updated", None) if day is not None else None
    return ContractQuote(
        ticker=str(d.ticker or ""), contract_type=str(d.contract_type or ""), expiration=expiration,
        strike=_num(d.strike_price), volume=_num(getattr(day, "volume", None) if day is not None else None) or 0.0,
        day_updated_ns=int(updated) if isinstance(updated, (int, float)) else None,
        implied_volatility=_num(getattr(c, "implied_volatility", None)),
        underlying_price=_num(getattr(under, "price", None) if under is not None else None),
    )


def fetch_option_chain(client, underlying: str, *, limit: int = OPTIONS_PAGE_LIMIT) -> list:
    """Every contract of ``underlying``'s options chain snapshot (/v3/snapshot/options,
    all pages by ``next_url``) as ContractQuote. Blocking: run it off the loop."""
    out = []
    try:
        for c in client.list_snapshot_options_chain(underlying, params={"limit": int(limit)}):
            quote = contract_from_rest(c)
            if quote is not None:
                out.append(quote)
    except Exception as exc:
        raise _rest_error(exc) from None
    return out


# --------------------------------------------------------------------------- dedupe


class SeenTrades:
    """Keys of recently seen trades of one symbol, forgotten once they are
    ``retention_ns`` older than the newest. A gap backfill starts at the last
    trade seen, so only keys that recent can come back."""

    __slots__ = ("retention_ns", "_keys", "_order")

    def __init__(self, retention_ns: int = 15 * NS_PER_MIN) -> None:
        self.retention_ns = retention_ns
        self._keys: set = set()
        self._order: deque = deque()

    def add(self, key: tuple, ts_ns: int) -> bool:
        """True when new (and remember it), False for a duplicate."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append((ts_ns, key))
        cutoff = ts_ns - self.retention_ns
        order = self._order
        while order and order[0][0] < cutoff:
            self._keys.discard(order.popleft()[1])
        return True

    def __len__(self) -> int:
        return len(self._keys)


# --------------------------------------------------------------------------- the feed

_STOP = object()


class PolygonFeed(Feed):
    """Live Polygon trades (``T.SYM``) and/or minute aggregates (``AM.SYM``), and
    quotes (``Q.SYM``) with ``quotes=True`` (a pegged run's entries follow them).

    ``data``: "trades" (default; the engine builds its bars from trades),
    "bars" (minute aggregates only), or "both" (for consumers that keep the two
    apart: the engine would count a minute twice).

    ``previous_session`` (start_ns, end_ns) fetches that session's minute bars
    in ``start()`` (``previous_session_bars()``, used by the engine to warm up
    the balance range); ``today_from_ns`` backfills today's trades so far before
    the first live trade. ``dropped`` holds each symbol the key is not entitled
    to, with the reason; ``drain_notices()`` returns journal entries.

    A session closed by Polygon's connection limit (``max_connections`` to a
    new session, ``force_disconnect`` to the one it displaced: another session
    holds this key) waits at least ``limit_wait_s`` before trying again, and
    says so in its status, instead of a tight reconnect loop."""

    can_backfill = True

    name = "polygon"

    def __init__(
        self,
        symbols: Iterable[str],
        api_key: str,
        *,
        ws_url: Optional[str] = None,
        rest_base: Optional[str] = None,
        clock: Optional[Clock] = None,
        data: str = "trades",
        backoff: Optional[Backoff] = None,
        connect_timeout_s: float = 10.0,
        limit_wait_s: float = 60.0,
        rest_limit: int = REST_PAGE_LIMIT,
        max_backfill_trades: int = 2_000_000,
        previous_session: Optional[tuple[int, int]] = None,
        today_from_ns: Optional[int] = None,
        rest_client: Any = None,
        quotes: bool = False,
    ) -> None:
        self.symbols = [s.strip().upper() for s in symbols if s and s.strip()]
        if not self.symbols:
            raise ValueError("PolygonFeed needs at least one symbol")
        if not api_key:
            raise ValueError(f"PolygonFeed needs an API key (set {ENV_API_KEY})")
        if data not in ("trades", "bars", "both"):
            raise ValueError(f"PolygonFeed data must be 'trades', 'bars' or 'both', got {data!r}")
        register_secret(api_key)
        self._key = api_key
        self._ws = parse_ws_url(ws_base_url(ws_url))
        self._rest_base = rest_base_url(rest_base)
        self._rest = rest_client
        self.clock: Clock = clock or WallClock()
        self.data = data
        self.quotes = quotes
        self.backoff = backoff or Backoff(initial_s=1.0, max_s=60.0, jitter=0.5)
        self.connect_timeout_s = connect_timeout_s
        self.limit_wait_s = limit_wait_s
        self.rest_limit = rest_limit
        self.max_backfill_trades = max_backfill_trades
        self.previous_session = previous_session
        self.today_from_ns = today_from_ns

        self.dropped: dict[str, str] = {}
        self.malformed = 0
        self.malformed_reasons: deque[str] = deque(maxlen=MAX_REPORTED)
        self.duplicates = 0
        self.backfilled = 0
        self.reconnects = 0
        self.connections = 0
        self.backfill_errors: dict[str, str] = {}
        self._notices: list[JournalEntry] = []
        self._skipped = SkippedLog("Polygon stream", self.clock.now_ns)
        self._prev_bars: list[Bar] = []

        self._queue: asyncio.Queue = asyncio.Queue()
        self._seen: dict[str, SeenTrades] = {s: SeenTrades() for s in self.symbols}
        self._last_trade_ns: dict[str, int] = {}
        self._last_bar_ns: dict[str, int] = {}
        self._backfill_from: dict[str, int] = {}  # symbol -> gap start, filled at the next connect
        self._held: list[MarketData] = []
        self._holding = False
        self._connected = False
        self._connected_evt: Optional[asyncio.Event] = None
        self._got_data = False
        self._client = None
        self._task: Optional[asyncio.Task] = None
        self._backfill_task: Optional[asyncio.Task] = None
        self._stopping = False
        self._fatal = ""
        self._limit = ""  # why the last session was closed by a connection limit (max_connections, ...)
        self._refused_unnamed = ""  # a "not authorized" naming no topic, in the frame being read
        self._subscribed_ok: set[str] = set()  # symbols this connection's subscribe was confirmed for
        self._message = ""
        self._retry_at_ns: Optional[int] = None
        self._last_data_ns = 0
        self._done = False

    # ------------------------------------------------------------------ Feed protocol

    @property
    def active_symbols(self) -> list[str]:
        return [s for s in self.symbols if s not in self.dropped]

    def topics(self) -> list[str]:
        out = []
        for s in self.active_symbols:
            if self.data in ("trades", "both"):
                out.append(f"T.{s}")
            if self.data in ("bars", "both"):
                out.append(f"AM.{s}")
            if self.quotes:
                out.append(f"Q.{s}")
        return out

    async def start(self) -> None:
        if self._task is not None:
            return
        if self.previous_session is not None:
            start, end = self.previous_session
            for sym in self.active_symbols:
                try:
                    self._prev_bars.extend(await self.backfill(sym, start, end, "bars"))
                except PolygonError as exc:
                    self._backfill_failed(sym, exc)
        if self.today_from_ns is not None:
            now = self.clock.now_ns()
            for sym in self.active_symbols:
                kind = "bars" if self.data == "bars" else "trades"
                try:
                    await self._emit_backfill(sym, self.today_from_ns, now, kind)
                except PolygonError as exc:
                    self._backfill_failed(sym, exc)
                # the stretch between this backfill and the first live frame
                self._backfill_from[sym] = self._last_trade_ns.get(sym, now) if kind == "trades" \
                    else self._last_bar_ns.get(sym, now)
        self._task = asyncio.create_task(self._run(), name="polygon-feed")

    async def stop(self) -> None:
        self._stopping = True
        client = self._client
        if client is not None and client.websocket is not None:
            try:
                await client.close()
            except Exception:
                pass
        for task in (self._backfill_task, self._task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._done = True
        self._queue.put_nowait(_STOP)

    async def stream(self) -> AsyncIterator[MarketData]:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                return
            yield item

    def status(self) -> FeedStatus:
        reconnect_in = None
        if self._retry_at_ns is not None and not self._connected:
            reconnect_in = max(0.0, (self._retry_at_ns - self.clock.now_ns()) / 1e9)
        message = self._message
        if reconnect_in is not None:
            message = f"{self._message}; reconnecting in {reconnect_in:.0f}s"
        lag = 0.0
        if self._last_data_ns:
            lag = max(0.0, (self.clock.now_ns() - self._last_data_ns) / 1e9)
        return FeedStatus(self.name, connected=self._connected, lag_s=lag, reconnect_in_s=reconnect_in,
                          message=message, done=self._done, last_data_ns=self._last_data_ns,
                          reconnects=self.reconnects,
                          refused=self._refused())

    def _refused(self) -> str:
        """The header's short word for a refusal: the connection limit, a plan without
        the stream, or the symbols the plan does not cover."""
        if self._limit:
            return "KEY IN USE"
        if self._fatal.startswith("Polygon: this key's plan"):
            return "NOT IN PLAN"
        if self.dropped:
            return "NOT IN PLAN: " + ",".join(sorted(self.dropped))
        return ""

    def previous_session_bars(self) -> list[Bar]:
        """Bars of the previous session fetched in ``start()``, oldest first."""
        return sorted(self._prev_bars, key=lambda b: (b.ts_ns, b.symbol))

    def drain_notices(self) -> list[JournalEntry]:
        """Journal entries (drops, reconnects, backfills, skipped frames) since the last call."""
        out, self._notices = self._notices, []
        return out + self._skipped.drain()

    # ------------------------------------------------------------------ REST backfill

    def _rest_client(self):
        if self._rest is None:
            self._rest = make_rest_client(self._key, self._rest_base)
        return self._rest

    async def backfill(self, symbol: str, start_ns: int, end_ns: int, kind: str = "trades") -> list:
        """Trades (``kind="trades"``) or one-minute bars (``"bars"``) of one symbol
        in [start_ns, end_ns), oldest first, over REST (all pages). Runs the
        blocking client in a thread."""
        client = self._rest_client()
        if kind == "trades":
            pairs = await asyncio.to_thread(fetch_trades, client, symbol, start_ns, end_ns,
                                            limit=self.rest_limit, max_trades=self.max_backfill_trades)
            return [t for t, _ in pairs]
        if kind == "bars":
            def fetch():
                return asyncio.to_thread(fetch_minute_bars, client, symbol, start_ns, end_ns, limit=self.rest_limit)

            if bars_closed(end_ns, self.clock.now_ns()):  # closed bars never change: kept for bars_ttl_s
                return list(await LOOKUPS.aget("bars", ("polygon", symbol, start_ns, end_ns, self.rest_limit), fetch))
            return await fetch()
        raise ValueError(f"backfill kind must be 'trades' or 'bars', got {kind!r}")

    async def _emit_backfill(self, symbol: str, start_ns: int, end_ns: int, kind: str) -> int:
        """Fetch and queue what is missing in [start_ns, end_ns); returns how many were new."""
        if end_ns <= start_ns:
            return 0
        client = self._rest_client()
        added = 0
        if kind == "trades":
            pairs = await asyncio.to_thread(fetch_trades, client, symbol, start_ns, end_ns,
                                            limit=self.rest_limit, max_trades=self.max_backfill_trades)
            for trade, key in pairs:
                if self._accept_trade(trade, key):
                    added += 1
        else:
            for bar in await asyncio.to_thread(fetch_minute_bars, client, symbol, start_ns, end_ns,
                                               limit=self.rest_limit):
                if self._accept_bar(bar):
                    added += 1
        self.backfilled += added
        return added

    def _backfill_failed(self, symbol: str, exc: PolygonError) -> None:
        reason = exc.message
        if exc.not_entitled:
            reason = f"REST history not included in this plan: {exc.message}"
        self.backfill_errors[symbol] = reason
        self._notice("warn", f"Polygon backfill for {symbol} failed: {reason}", symbol)

    # ------------------------------------------------------------------ accepting data

    def _accept_trade(self, trade: Trade, key: tuple) -> bool:
        seen = self._seen.get(trade.symbol)
        if seen is None or trade.symbol in self.dropped:
            return False
        if not seen.add(key, trade.ts_ns):
            self.duplicates += 1
            return False
        if trade.ts_ns > self._last_trade_ns.get(trade.symbol, 0):
            self._last_trade_ns[trade.symbol] = trade.ts_ns
        if trade.ts_ns > self._last_data_ns:
            self._last_data_ns = trade.ts_ns
        self._queue.put_nowait(trade)
        return True

    def _accept_bar(self, bar: Bar) -> bool:
        if bar.symbol not in self._seen or bar.symbol in self.dropped:
            return False
        if bar.ts_ns <= self._last_bar_ns.get(bar.symbol, -1):
            self.duplicates += 1
            return False
        self._last_bar_ns[bar.symbol] = bar.ts_ns
        if bar.ts_ns > self._last_data_ns:
            self._last_data_ns = bar.ts_ns
        self._queue.put_nowait(bar)
        return True

    def _accept_quote(self, quote: Quote) -> bool:
        if quote.symbol not in self._seen or quote.symbol in self.dropped:
            return False
        if quote.ts_ns > self._last_data_ns:
            self._last_data_ns = quote.ts_ns
        self._queue.put_nowait(quote)
        return True

    def _bad(self, reason: str) -> None:
        self.malformed += 1
        self.malformed_reasons.append(reason)
        self._skipped.add(reason)

    def _notice(self, level: str, message: str, symbol: Optional[str] = None) -> None:
        msg = redact(message)
        self._notices.append(JournalEntry(self.clock.now_ns(), level, "feed", msg, symbol))
        self._message = msg

    # ------------------------------------------------------------------ frames

    async def _on_frames(self, frame: Union[str, bytes]) -> None:
        """The processor WebSocketClient calls with each raw frame (raw=True)."""
        if not self._connected:
            self._connected = True
            self._retry_at_ns = None
            self.connections += 1
            if self._backfill_from:
                self._holding = True  # live frames wait until the gap is filled
            if self._connected_evt is not None:
                self._connected_evt.set()
        try:
            msgs = json.loads(frame)
        except (ValueError, TypeError, RecursionError) as exc:
            text = frame[:60] if isinstance(frame, (str, bytes)) else frame
            what = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            self._bad(f"frame is {what}: {_short(text)} ({len(frame or '')} bytes)")
            return
        if isinstance(msgs, dict):
            msgs = [msgs]
        if not isinstance(msgs, list):
            self._bad(f"frame is not a JSON array: {type(msgs).__name__}")
            return
        for m in msgs:
            try:
                self._on_message(m)
            except RecursionError:  # a message too deep for what reads it: skip it, keep the stream
                self._bad("message nested too deeply")
        if self._refused_unnamed:
            self._drop_unconfirmed(self._refused_unnamed)
            self._refused_unnamed = ""

    def _on_message(self, m: Any) -> None:
        """One message of a frame: a trade, a minute aggregate, a status (others are not subscribed)."""
        if not isinstance(m, dict) or "ev" not in m:
            self._bad(f"message without an event type: {_short(m)}")
            return
        ev = m["ev"]
        if ev == "T":
            trade, key, reason = trade_from_ws(m)
            if trade is None:
                self._bad(reason)
            elif self._holding:
                self._held.append((trade, key))
            else:
                self._accept_trade(trade, key)
                self._got_data = True
        elif ev == "AM":
            bar, reason = bar_from_ws(m)
            if bar is None:
                self._bad(reason)
            elif self._holding:
                self._held.append((bar, None))
            else:
                self._accept_bar(bar)
                self._got_data = True
        elif ev == "Q":
            quote, reason = quote_from_ws(m)
            if quote is None:
                self._bad(reason)
            elif self._holding:
                self._held.append((quote, None))
            else:
                self._accept_quote(quote)
                self._got_data = True
        elif ev == "status":
            self._on_status(m)
        # other events (second aggregates; quotes of a run that did not ask) are not subscribed: ignored

    def _on_status(self, m: dict) -> None:
        status = str(m.get("status", ""))
        message = str(m.get("message", ""))
        if status == "success":
            self._subscribed_ok |= {sym.upper().rstrip(":.,-/") for _, sym in _TOPIC_RE.findall(message)}
        if status in _OK_STATUSES:
            return
        if status in _LIMIT_STATUSES:
            # another session on this key holds the connection: say so, and wait long before trying again
            self._limit = f"another session holds this key's connection (Polygon {status}: {message})"
            self._notice("error", f"Polygon: {self._limit}")
            return
        if status == "slow_consumer":
            self._notice("warn", f"Polygon: this client reads the stream too slowly ({status}: {message})")
            return
        low = message.lower()
        if any(w in low for w in _ENTITLEMENT_WORDS):
            named = {sym.upper().rstrip(":.,-/") for _, sym in _TOPIC_RE.findall(message)}
            hit = [s for s in self.active_symbols if s in named]
            if hit:
                for sym in hit:
                    self._drop(sym, message)
                return
            if not named:  # which topic it meant is told by the confirmations that did come
                self._refused_unnamed = message
                return
        level = "error" if status in ("error", "auth_failed") else "warn"
        self._notice(level, f"Polygon {status or 'status'}: {message}")

    def _drop(self, sym: str, message: str) -> None:
        self.dropped[sym] = f"not entitled: {message}"
        left = ", ".join(self.active_symbols) or "none"
        self._notice("error", f"Polygon: {sym} dropped, plan does not include real-time {self._what()} for {sym} "
                              f"({message}); still streaming: {left}", sym)

    def _what(self) -> str:
        what = {"trades": "trades", "bars": "minute aggregates"}.get(self.data, "trades and minute aggregates")
        return f"{what} and quotes" if self.quotes else what

    def _drop_unconfirmed(self, message: str) -> None:
        """A "not authorized" that names no topic: the symbols whose subscription
        was not confirmed are the refused ones (Polygon confirms each topic it
        accepts, "subscribed to: T.AAPL")."""
        refused = [s for s in self.active_symbols if s not in self._subscribed_ok]
        if not refused:
            self._notice("error", f"Polygon: {message} (no symbol named; every subscription was confirmed)")
            return
        for sym in refused:
            self._drop(sym, message)

    # ------------------------------------------------------------------ gap backfill

    async def _fill_gap(self) -> None:
        """Backfill every symbol's gap, then release the held live frames."""
        gaps, self._backfill_from = self._backfill_from, {}
        end = self.clock.now_ns()
        kind = "bars" if self.data == "bars" else "trades"
        total = 0
        try:
            for sym, start in gaps.items():
                if sym in self.dropped:
                    continue
                try:
                    total += await self._emit_backfill(sym, start, end, kind)
                except PolygonError as exc:
                    self._backfill_failed(sym, exc)
            if gaps:
                span = max(0.0, (end - min(gaps.values())) / 1e9)
                self._notice("info", f"Polygon: gap of {span:.0f}s backfilled with {total} {kind}")
        finally:
            held, self._held = self._held, []
            self._holding = False
            for item, key in held:
                if isinstance(item, Trade):
                    self._accept_trade(item, key)
                elif isinstance(item, Quote):
                    self._accept_quote(item)
                else:
                    self._accept_bar(item)

    def _mark_gap(self) -> None:
        """The connection is gone: remember where each symbol's data stopped."""
        now = self.clock.now_ns()
        for sym in self.active_symbols:
            if sym in self._backfill_from:
                continue
            last = self._last_bar_ns.get(sym) if self.data == "bars" else self._last_trade_ns.get(sym)
            self._backfill_from[sym] = last if last is not None else now

    # ------------------------------------------------------------------ connection loop

    def _new_client(self):
        from polygon import WebSocketClient

        return WebSocketClient(
            api_key=self._key, feed=self._ws.host, market=self._ws.market, raw=True,
            secure=self._ws.secure, subscriptions=self.topics(), max_reconnects=0,
        )

    async def _run(self) -> None:
        from polygon.exceptions import AuthError

        while not self._stopping:
            if not self.topics():
                self._notice("error", "Polygon: no symbol left to stream (none is entitled)")
                break
            self._connected = False
            self._got_data = False
            self._limit = ""
            self._subscribed_ok = set()
            self._connected_evt = asyncio.Event()
            client = self._client = self._new_client()
            task = asyncio.create_task(client.connect(self._on_frames), name="polygon-ws")
            waiter = asyncio.create_task(self._connected_evt.wait())
            failure = ""
            try:
                done, _ = await asyncio.wait({task, waiter}, timeout=self.connect_timeout_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if waiter in done:
                    self._message = f"connected to {self._ws.host} ({len(self.active_symbols)} symbols)"
                    if self._holding:
                        self._backfill_task = asyncio.create_task(self._fill_gap(), name="polygon-gap")
                    try:
                        await task
                        failure = "server closed the stream"
                    except AuthError as exc:
                        self._fatal = _auth_refusal(exc)
                    except Exception as exc:
                        failure = f"stream dropped: {type(exc).__name__}: {exc}"
                elif task in done:
                    exc = task.exception()
                    if isinstance(exc, AuthError):
                        self._fatal = _auth_refusal(exc)
                    else:
                        failure = f"connection failed: {type(exc).__name__ if exc else 'closed'}: {exc or ''}"
                else:
                    failure = f"no answer from {self._ws.host} within {self.connect_timeout_s:.0f}s"
            finally:
                waiter.cancel()
                if not task.done():
                    task.cancel()
                    try:
                        await task
                    except (asyncio.CancelledError, Exception):
                        pass
            was_connected = self._connected
            self._connected = False
            if self._stopping:
                break
            if self._fatal:
                self._notice("error", self._fatal)
                break
            if self._backfill_task is not None and not self._backfill_task.done():
                # the gap fill of a connection that died: let it finish, its data is good
                await asyncio.gather(self._backfill_task, return_exceptions=True)
            if was_connected:
                self.reconnects += 1
                if self._got_data:
                    self.backoff.reset()
            self._mark_gap()
            delay = self.backoff.next_delay()
            if self._limit:  # a tight loop would only kick the other session (or be refused) again
                delay = max(delay, self.limit_wait_s)
                failure = self._limit
            self._retry_at_ns = self.clock.now_ns() + int(delay * 1e9)
            self._notice("warn", f"Polygon {failure}; reconnecting in {delay:.1f}s")
            await asyncio.sleep(delay)
        self._connected = False


__all__ = [
    "DEFAULT_REST_URL", "DEFAULT_WS_URL", "DELAYED_WS_URL", "ENV_API_KEY",
    "PolygonError", "PolygonFeed", "SeenTrades", "WsEndpoint", "bar_from_rest", "bar_from_ws",
    "contract_from_rest", "fetch_minute_bars", "fetch_option_chain", "fetch_trades", "make_rest_client", "parse_ws_url", "polygon_api_key",
    "quote_from_ws",
    "rest_base_url", "trade_from_rest", "trade_from_ws", "trade_key", "ws_base_url",
]
