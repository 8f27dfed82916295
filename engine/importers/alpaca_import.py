"""``cockpit import alpaca --symbols ... --start ... --end ... --timeframe 1Min|trades``:
history from Alpaca's market-data REST API (alpaca-py StockHistoricalDataClient,
which follows ``next_page_token`` itself) into the store.

Keys come from the environment (APCA_API_KEY_ID / APCA_API_SECRET_KEY) and are
registered for redaction; ``data_url`` overrides the base URL (the CLI passes
``endpoints.alpaca_data`` of the config; the tests a local stand-in). ``feed`` is
"iex" (free) or "sip" (needs a subscription). Alpaca's ``end`` is inclusive, so
the request ends one microsecond before the (exclusive) end minute.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Iterable, Optional, get_args

from ..config import DataFeed as DataFeedName
from ..live.secrets import SecretsError, load_alpaca_keys, redact
from ..model import NS_PER_MIN, Bar
from . import ImportFailed, ImportReport, Progress, import_day_by_day, range_request, trades_to_candles


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).replace(microsecond=(ns % 1_000_000_000) // 1000)


def _ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def make_data_client(env: Optional[dict] = None, url: Optional[str] = None):
    """The market data client with the keys of ``env`` (default: the process
    environment) against ``url`` (default: Alpaca's own)."""
    from alpaca.data.historical import StockHistoricalDataClient

    try:
        keys = load_alpaca_keys(env)
    except SecretsError as exc:
        raise ImportFailed(str(exc)) from None
    if keys is None:
        raise ImportFailed("APCA_API_KEY_ID and APCA_API_SECRET_KEY are not set: export your Alpaca keys "
                           "(paper keys work for market data)")
    return StockHistoricalDataClient(keys.key_id, keys.secret_key, url_override=url or None)


def _fetch(client, kind: str, symbol: str, start_ns: int, end_ns: int, feed: str) -> list:
    from alpaca.data.enums import DataFeed
    from alpaca.data.requests import StockBarsRequest, StockTradesRequest
    from alpaca.data.timeframe import TimeFrame

    common = dict(symbol_or_symbols=symbol, start=_dt(start_ns), end=_dt(end_ns - 1000), feed=DataFeed(feed))
    if kind == "trades":
        res = client.get_stock_trades(StockTradesRequest(**common))
    else:
        res = client.get_stock_bars(StockBarsRequest(timeframe=TimeFrame.Minute, **common))
    return list(res.data.get(symbol, [])) if hasattr(res, "data") else list(res.get(symbol, []))


async def import_alpaca(store, symbols: Iterable[str], start_ns: int, end_ns: int, timeframe: str = "1Min", *,
                        feed: str = "iex", client: Any = None, data_url: Optional[str] = None,
                        bin_size: Optional[float] = None, progress: Optional[Progress] = None) -> ImportReport:
    symbols, start_ns, end_ns = range_request("alpaca", symbols, timeframe, start_ns, end_ns)
    if feed not in get_args(DataFeedName):
        raise ImportFailed(f"import alpaca --feed must be iex or sip, got {feed!r}")
    client = client or make_data_client(url=data_url)
    report = ImportReport(source=f"alpaca {timeframe} ({feed})")

    async def fetch(sym: str, a: int, b: int) -> list[Bar]:
        rows = await asyncio.to_thread(_fetch, client, "trades" if timeframe == "trades" else "bars", sym, a, b, feed)
        report.rows += len(rows)
        if timeframe == "trades":
            rows = sorted(rows, key=lambda t: t.timestamp)
            return trades_to_candles(sym, [_ns(t.timestamp) for t in rows], [float(t.price) for t in rows],
                                     [float(t.size) for t in rows], bin_size=bin_size)
        bars = []
        for r in rows:
            ts = _ns(r.timestamp)
            bars.append(Bar(sym, ts - ts % NS_PER_MIN, float(r.open), float(r.high), float(r.low),
                            float(r.close), float(r.volume), trades=int(r.trade_count or 0),
                            vwap=float(r.vwap) if r.vwap is not None else float("nan")))
        return bars

    def failure(exc: Exception) -> str:  # alpaca-py APIError, requests errors: readable, redacted
        return redact(f"{type(exc).__name__}: {exc}")

    return await import_day_by_day(store, report, symbols, start_ns, end_ns, fetch, failure, progress)
