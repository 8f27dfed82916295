"""The Alpaca market-data feed: live trades, quotes and minute bars, with gap repair.

alpaca-py's StockDataStream (msgpack over a websocket) runs as a task inside
OUR event loop (its ``_run_forever`` coroutine, not ``run()``, which would
start a second loop); subscriptions are made before it starts, because
subscribing on a running stream blocks on a cross-thread future. Raw frames
(``raw_data=True``) are converted here straight to engine Trade/Quote/Bar
with exact nanosecond timestamps (the msgpack Timestamp in ``t``).

A dropped connection is reconnected by the stream with our backoff (the
countdown shows in ``status()``); the stream resubscribes by itself. After a
reconnect the gap since the last trade is fetched over REST
(StockHistoricalDataClient: explicit limit, pagination by next_page_token)
and emitted BEFORE any live data that arrived meanwhile, and every trade is
de-duplicated by (symbol, exchange, trade id) so the overlap between the
backfill and the live stream never yields a trade twice.

Frames that do not decode (live.streams.FrameGuard) and messages that do not
convert are counted, skipped and journaled (``drain_notices()``, kind
"malformed"), so they are in the run's malformed total too.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Hashable, Iterable, Optional, Sequence, Union, get_args

import msgpack
from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import StockBarsRequest, StockTradesRequest
from alpaca.data.timeframe import TimeFrame

from ..clock import Clock, WallClock
from ..config import DataFeed as DataFeedName
from ..live.backoff import Backoff
from ..live.rest import AlpacaRestError, call_rest, harden_client
from ..live.secrets import install_log_redaction, redact, register_secret
from ..live.streams import FrameGuard, decodes_as_msgpack_list, wait_unless_stopped
from ..model import NS_PER_MIN, NS_PER_S, Bar, FeedStatus, JournalEntry, Quote, Trade
from ..ops.cache import LOOKUPS
from ..ops.providers import bars_closed
from .base import Feed
from .notices import SkippedLog

log = logging.getLogger(__name__)

MarketData = Union[Trade, Bar, Quote]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_END = object()


def parse_rfc3339_ns(text: str) -> int:
    """'2024-01-02T15:00:00.123456789Z' (any fraction length, Z or offset) -> ns."""
    s = text.strip()
    frac_ns = 0
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        digits = s[dot + 1:end]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        s = s[:dot] + s[end:]
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + frac_ns


def _ts_ns(value: Any) -> int:
    if isinstance(value, msgpack.Timestamp):
        return value.to_unix_nano()
    if isinstance(value, str):
        return parse_rfc3339_ns(value)
    raise ValueError(f"timestamp of unexpected type {type(value).__name__}")


def _num(msg: dict, name: str, positive: bool = True) -> float:
    value = msg[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} is not a number: {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0) or value < 0:
        raise ValueError(f"{name} out of range: {value!r}")
    return value


def _dt(ns: int, ceil: bool = False) -> datetime:
    us = -(-ns // 1000) if ceil else ns // 1000
    return _EPOCH + timedelta(microseconds=us)


def trade_key(symbol: str, msg: dict, ts_ns: int, price: float, size: float) -> Hashable:
    """Same trade, same key, whether it came live or from REST history."""
    trade_id = msg.get("i")
    if trade_id is not None:
        return (symbol, msg.get("x"), trade_id)
    return (symbol, ts_ns, price, size)


def trade_from_msg(symbol: str, msg: dict) -> tuple[Trade, Hashable]:
    ts = _ts_ns(msg["t"])
    price = _num(msg, "p")
    size = _num(msg, "s")
    return Trade(symbol, ts, price, size), trade_key(symbol, msg, ts, price, size)


def quote_from_msg(symbol: str, msg: dict) -> Quote:
    return Quote(symbol, _ts_ns(msg["t"]), _num(msg, "bp", False), _num(msg, "ap", False),
                 _num(msg, "bs", False), _num(msg, "as", False))


def bar_from_msg(symbol: str, msg: dict) -> tuple[Bar, Hashable]:
    ts = _ts_ns(msg["t"])
    o, h, l, c = (_num(msg, k) for k in ("o", "h", "l", "c"))
    if not (l <= min(o, c) and h >= max(o, c)):
        raise ValueError(f"bar prices inconsistent: o={o} h={h} l={l} c={c}")
    vwap = msg.get("vw")
    bar = Bar(symbol, ts, o, h, l, c, _num(msg, "v", False), trades=int(msg.get("n") or 0),
              vwap=float(vwap) if isinstance(vwap, (int, float)) else float("nan"))
    return bar, ("bar", symbol, ts)


class _RecentKeys:
    """A bounded set: the last ``size`` keys seen, O(1) per check."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque = deque()
        self._keys: set = set()

    def add(self, key: Hashable) -> bool:
        """True if new (and now remembered), False if already seen."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self._size:
            self._keys.discard(self._order.popleft())
        return True


class _ObservedStockDataStream(StockDataStream):
    """alpaca-py's StockDataStream with hooks: malformed frames counted and
    skipped, (re)connections and auth errors reported, reconnect waits from
    our backoff (so the countdown can be shown)."""

    def __init__(self, owner: "AlpacaFeed", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    async def _connect(self) -> None:
        await super()._connect()
        self._ws = FrameGuard(self._ws, decodes_as_msgpack_list, self._owner._on_malformed_frame)

    async def _auth(self) -> None:
        try:
            await super()._auth()
        except ValueError as exc:
            self._owner._on_auth_error(str(exc))
            raise

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self._owner._on_connected()

    async def _wait_before_reconnect(self, retries: int) -> None:
        delay = self._owner.reconnect_delay()
        self._owner._on_disconnected(delay)
        await wait_unless_stopped(self._stop_stream_event, delay)


class AlpacaFeed(Feed):
    """A Feed over Alpaca's stock data stream. See the module doc."""

    name = "alpaca"
    can_backfill = True

    def __init__(
        self,
        symbols: Sequence[str],
        api_key: str,
        secret_key: str,
        feed: str = "iex",
        url_override: Optional[str] = None,
        data_url_override: Optional[str] = None,
        *,
        clock: Optional[Clock] = None,
        trades: bool = True,
        quotes: bool = True,
        bars: bool = True,
        stale_after_s: float = 10.0,
        backoff: Optional[Backoff] = None,
        request_timeout_s: float = 15.0,
        backfill_limit: int = 200_000,
        dedupe_window: int = 200_000,
        rate_limit_retries: int = 5,
        rate_limit_backoff: Optional[Backoff] = None,
        limit_wait_s: float = 60.0,
    ) -> None:
        symbols = [s.strip().upper() for s in symbols if s and s.strip()]
        if not symbols:
            raise ValueError("AlpacaFeed needs at least one symbol")
        if feed not in get_args(DataFeedName):
            raise ValueError(f"feed must be 'iex' or 'sip', got {feed!r}")
        if not api_key or not secret_key:
            raise ValueError("AlpacaFeed needs both an API key id and a secret key (APCA_API_KEY_ID, APCA_API_SECRET_KEY)")
        if not (trades or quotes or bars):
            raise ValueError("AlpacaFeed needs at least one of trades, quotes, bars")
        if backfill_limit < 1:
            raise ValueError(f"backfill_limit must be >= 1, got {backfill_limit!r}")
        register_secret(api_key)
        register_secret(secret_key)
        install_log_redaction()
        self.symbols = symbols
        self._feed = DataFeed(feed)
        self._clock = clock or WallClock()
        self._want_trades, self._want_quotes, self._want_bars = trades, quotes, bars
        self._stale_after_ns = int(stale_after_s * NS_PER_S)
        self._backoff = backoff or Backoff(initial_s=1.0, max_s=30.0)
        self._limit_wait_s = limit_wait_s
        self._limit = ""  # why the last auth was refused for the connection limit (406)
        self._plan = ""  # why the last auth was refused for the plan (409 insufficient subscription)
        self._backfill_limit = backfill_limit
        self._rate_limit_retries = rate_limit_retries
        self._rate_backoff = rate_limit_backoff or Backoff(initial_s=0.5, max_s=30.0)
        self._stream = _ObservedStockDataStream(
            self, api_key, secret_key, raw_data=True, feed=self._feed, url_override=url_override
        )
        # subscribe before the stream runs: on a running stream this would block the loop
        if trades:
            self._stream.subscribe_trades(self._on_trade, *symbols)
        if quotes:
            self._stream.subscribe_quotes(self._on_quote, *symbols)
        if bars:
            self._stream.subscribe_bars(self._on_bar, *symbols)
        self._hist = StockHistoricalDataClient(api_key, secret_key, raw_data=True, url_override=data_url_override)
        harden_client(self._hist, request_timeout_s)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._seen = _RecentKeys(dedupe_window)
        self._task: Optional[asyncio.Task] = None
        self._gap_task: Optional[asyncio.Task] = None
        self._stopping = False
        self._connected = False
        self._ever_connected = False
        self._backfilling = False
        self._held: list[tuple[MarketData, Optional[Hashable]]] = []
        self._last_trade_ns = 0
        self._last_data_ns = 0
        self._last_arrival_ns = 0
        self._disconnected_ns = 0
        self._reconnect_at_ns: Optional[int] = None
        self._message = ""
        self._skipped = SkippedLog("Alpaca data stream", self._clock.now_ns)
        self.counters: dict[str, int] = {
            "trades": 0, "quotes": 0, "bars": 0, "duplicates": 0, "malformed_frames": 0,
            "malformed_messages": 0, "reconnects": 0, "gap_backfills": 0, "backfilled": 0,
            "gap_backfill_failures": 0, "held_during_backfill": 0,
        }

    # ------------------------------------------------------------------ Feed protocol

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._message = "connecting"
            self._task = asyncio.create_task(self._stream._run_forever(), name="alpaca-data-stream")
            self._task.add_done_callback(self._on_stream_task_done)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await self._stream.stop_ws()
            try:
                await self._stream.close()  # wake its recv now rather than at its 5 s poll
            except Exception:
                pass
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self._task.cancel()
            self._task = None
        if self._gap_task is not None:
            self._gap_task.cancel()
        self._connected = False
        self._message = "stopped"
        self._queue.put_nowait(_END)

    async def stream(self) -> AsyncIterator[MarketData]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            yield item

    def status(self) -> FeedStatus:
        now = self._clock.now_ns()
        lag = (now - self._last_data_ns) / NS_PER_S if self._last_data_ns else 0.0
        stale = bool(self._connected and self._last_arrival_ns and now - self._last_arrival_ns > self._stale_after_ns)
        reconnect_in = None
        if not self._connected and self._reconnect_at_ns is not None:
            reconnect_in = max(0.0, (self._reconnect_at_ns - now) / NS_PER_S)
        message = self._message
        if self._backfilling:
            message = "backfilling the gap since the last trade"
        return FeedStatus(
            name=self.name, connected=self._connected, stale=stale, lag_s=max(0.0, lag),
            reconnect_in_s=reconnect_in, message=message, last_data_ns=self._last_data_ns,
            reconnects=self.counters["reconnects"],
            refused="KEY IN USE" if self._limit else "NOT IN PLAN" if self._plan else "",
        )

    # ------------------------------------------------------------------ history

    async def backfill(self, symbol: str, start_ns: int, end_ns: int, kind: str = "trades") -> list[MarketData]:
        """Trades or 1-minute bars of ``symbol`` in [start_ns, end_ns] from the
        REST API, oldest first (paginated, at most ``backfill_limit`` items).
        Used on start for the previous session and today so far. Closed bars are
        kept for ``[providers] bars_ttl_s`` (engine/ops/cache.py)."""
        if kind == "bars" and bars_closed(end_ns, self._clock.now_ns()):
            key = ("alpaca", symbol.upper(), start_ns, end_ns, self._feed, self._backfill_limit)
            pairs = await LOOKUPS.aget("bars", key, lambda: self._fetch(symbol, start_ns, end_ns, kind))
        else:
            pairs = await self._fetch(symbol, start_ns, end_ns, kind)
        return [item for item, _ in pairs]

    async def _fetch(self, symbol: str, start_ns: int, end_ns: int, kind: str) -> list[tuple[MarketData, Hashable]]:
        if kind not in ("trades", "bars"):
            raise ValueError(f"backfill kind must be 'trades' or 'bars', got {kind!r}")
        if end_ns < start_ns:
            raise ValueError(f"backfill end ({end_ns}) is before start ({start_ns})")
        symbol = symbol.upper()
        if kind == "trades":
            request = StockTradesRequest(symbol_or_symbols=symbol, start=_dt(start_ns), end=_dt(end_ns, ceil=True),
                                         limit=self._backfill_limit, feed=self._feed)
            raw = await call_rest(self._hist.get_stock_trades, request, rate_limit_retries=self._rate_limit_retries,
                                  backoff=self._rate_backoff)
        else:
            request = StockBarsRequest(symbol_or_symbols=symbol, timeframe=TimeFrame.Minute, start=_dt(start_ns),
                                       end=_dt(end_ns, ceil=True), limit=self._backfill_limit, feed=self._feed)
            raw = await call_rest(self._hist.get_stock_bars, request, rate_limit_retries=self._rate_limit_retries,
                                  backoff=self._rate_backoff)
        rows: Iterable[dict] = (raw or {}).get(symbol, []) if isinstance(raw, dict) else []
        out: list[tuple[MarketData, Hashable]] = []
        for row in rows:
            try:
                item, key = trade_from_msg(symbol, row) if kind == "trades" else bar_from_msg(symbol, row)
            except (KeyError, ValueError, TypeError) as exc:
                self.counters["malformed_messages"] += 1
                self._skipped.add(f"backfill {kind[:-1]} row: {redact(str(exc)[:200])}", symbol)
                continue
            if start_ns <= item.ts_ns <= end_ns:
                out.append((item, key))
        if len(out) >= self._backfill_limit:
            log.warning("backfill of %s %s stopped at the limit of %d items", symbol, kind, self._backfill_limit)
        out.sort(key=lambda pair: pair[0].ts_ns)
        return out

    # ------------------------------------------------------------------ stream callbacks

    def _emit(self, item: MarketData, key: Optional[Hashable]) -> None:
        if key is not None and not self._seen.add(key):
            self.counters["duplicates"] += 1
            return
        if isinstance(item, Trade):
            self.counters["trades"] += 1
            if item.ts_ns > self._last_trade_ns:
                self._last_trade_ns = item.ts_ns
        elif isinstance(item, Bar):
            self.counters["bars"] += 1
        else:
            self.counters["quotes"] += 1
        if item.ts_ns > self._last_data_ns:
            self._last_data_ns = item.ts_ns
        self._last_arrival_ns = self._clock.now_ns()
        self._queue.put_nowait(item)

    def _ingest(self, item: MarketData, key: Optional[Hashable]) -> None:
        if self._backfilling:
            self.counters["held_during_backfill"] += 1
            self._held.append((item, key))
        else:
            self._emit(item, key)

    def _malformed(self, kind: str, msg: Any, exc: Exception) -> None:
        self.counters["malformed_messages"] += 1
        reason = redact(str(exc)[:200])
        log.warning("malformed %s message skipped: %s", kind, reason)
        symbol = msg.get("S") if isinstance(msg, dict) and isinstance(msg.get("S"), str) else None
        self._skipped.add(f"{kind} message: {type(exc).__name__} {reason}", symbol)

    async def _on_trade(self, msg: dict) -> None:
        try:
            trade, key = trade_from_msg(msg["S"], msg)
        except (KeyError, ValueError, TypeError) as exc:
            return self._malformed("trade", msg, exc)
        self._ingest(trade, key)

    async def _on_quote(self, msg: dict) -> None:
        try:
            quote = quote_from_msg(msg["S"], msg)
        except (KeyError, ValueError, TypeError) as exc:
            return self._malformed("quote", msg, exc)
        self._ingest(quote, None)

    async def _on_bar(self, msg: dict) -> None:
        try:
            bar, key = bar_from_msg(msg["S"], msg)
        except (KeyError, ValueError, TypeError) as exc:
            return self._malformed("bar", msg, exc)
        self._ingest(bar, key)

    def _on_malformed_frame(self, frame: Any) -> None:
        self.counters["malformed_frames"] += 1
        log.warning("malformed frame on the Alpaca data stream skipped (%d bytes)", len(frame or b""))
        self._skipped.add(f"frame of {len(frame or b''):,} bytes that is not a msgpack array of messages")

    def drain_notices(self) -> list[JournalEntry]:
        """Skipped frames and messages since the last call (kind "malformed")."""
        return self._skipped.drain()

    def _on_auth_error(self, message: str) -> None:
        if "connection limit" in message.lower():
            # Alpaca's 406 "connection limit exceeded": one data connection per key (market
            # data streaming docs, error codes); another session (a second cockpit, a script)
            # holds it, and reconnecting quickly only meets the same refusal
            self._limit = redact(f"another session holds this key's connection (Alpaca: {message})")
            self._message = f"Alpaca refused the data stream: {self._limit}"
        elif "insufficient subscription" in message.lower():
            # 409: the key's plan does not cover this feed (SIP without the data plan); retrying
            # soon cannot help, so it waits like a connection limit
            self._plan = redact(f"plan does not include real-time trades for {', '.join(self.symbols)} "
                                f"({self._feed.value} feed; Alpaca: {message})")
            self._message = f"Alpaca refused the data stream: {self._plan}"
        else:
            self._message = redact(f"Alpaca refused the data stream: {message}")
        log.error("%s", self._message)

    def reconnect_delay(self) -> float:
        """The next wait before reconnecting: the backoff, at least ``limit_wait_s``
        after a connection-limit refusal."""
        delay = self._backoff.next_delay()
        if self._limit or self._plan:
            delay = max(delay, self._limit_wait_s)
        return delay

    def _on_connected(self) -> None:
        reconnect = self._ever_connected
        self._connected = True
        self._ever_connected = True
        self._reconnect_at_ns = None
        self._backoff.reset()
        self._limit = self._plan = ""
        self._message = f"connected ({self._feed.value})"
        if reconnect:
            self.counters["reconnects"] += 1
            gap_start = self._last_trade_ns or self._disconnected_ns
            if gap_start and (self._want_trades or self._want_bars):
                # hold live data until the gap is filled, so the engine sees time in order
                self._backfilling = True
                self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap(gap_start))

    def _on_disconnected(self, reconnect_in_s: float) -> None:
        if self._connected:
            self._disconnected_ns = self._clock.now_ns()
        self._connected = False
        if self._stopping:
            return
        self._reconnect_at_ns = self._clock.now_ns() + int(reconnect_in_s * NS_PER_S)
        if not self._message.startswith("Alpaca refused"):
            self._message = f"disconnected; reconnecting in {reconnect_in_s:.1f}s"
        log.warning("Alpaca data stream down; reconnecting in %.2fs", reconnect_in_s)

    def _on_stream_task_done(self, task: asyncio.Task) -> None:
        self._connected = False
        if self._stopping or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._message = redact(f"data stream stopped: {type(exc).__name__}: {exc}")
        elif not self._message.startswith("Alpaca refused"):
            self._message = "data stream stopped"
        log.error("%s", self._message)

    async def _fill_gap(self, start_ns: int) -> None:
        end_ns = self._clock.now_ns()
        filled = 0
        try:
            fetched: list[tuple[MarketData, Hashable]] = []
            for symbol in self.symbols:
                if self._want_trades and start_ns:
                    fetched += await self._fetch(symbol, start_ns, end_ns, "trades")
                if self._want_bars and start_ns:
                    bars = await self._fetch(symbol, start_ns - start_ns % NS_PER_MIN, end_ns, "bars")
                    # only minutes that have closed: the live stream sends the one in progress
                    fetched += [(b, k) for b, k in bars if b.ts_ns + NS_PER_MIN <= end_ns]
            fetched.sort(key=lambda pair: pair[0].ts_ns)
            before = self.counters["duplicates"]
            for item, key in fetched:
                self._emit(item, key)
            filled = len(fetched) - (self.counters["duplicates"] - before)
            self.counters["gap_backfills"] += 1
            self.counters["backfilled"] += filled
            gap_s = max(0.0, (end_ns - start_ns) / NS_PER_S)
            self._message = f"reconnected; {gap_s:.1f}s gap backfilled ({filled} items)"
        except AlpacaRestError as err:
            self.counters["gap_backfill_failures"] += 1
            self._message = f"reconnected; gap backfill failed: {err.message}"
            log.error("%s", self._message)
        finally:
            held, self._held = self._held, []
            self._backfilling = False
            for item, key in held:
                self._emit(item, key)
