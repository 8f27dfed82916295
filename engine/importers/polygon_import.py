"""``cockpit import polygon --symbols ... --start ... --end ... --timeframe 1Min|trades``:
history over Polygon's REST API (polygon-api-client, the key passed explicitly)
into the store. Day by day, every page (explicit page limit, ``next_url``
pagination), on whole minutes so no candle is built from half its trades."""
from __future__ import annotations

import asyncio
from typing import Any, Iterable, Optional

from ..feeds.polygon import (ENV_API_KEY, REST_PAGE_LIMIT, PolygonError, fetch_minute_bars, fetch_trades,
                             make_rest_client, polygon_api_key)
from ..model import Bar
from . import ImportFailed, ImportReport, Progress, import_day_by_day, range_request, trades_to_candles


async def import_polygon(store, symbols: Iterable[str], start_ns: int, end_ns: int, timeframe: str = "1Min", *,
                         api_key: Optional[str] = None, rest_base: Optional[str] = None, client: Any = None,
                         bin_size: Optional[float] = None, limit: int = REST_PAGE_LIMIT,
                         progress: Optional[Progress] = None) -> ImportReport:
    symbols, start_ns, end_ns = range_request("polygon", symbols, timeframe, start_ns, end_ns)
    if client is None:
        key = api_key or polygon_api_key()
        if not key:
            raise ImportFailed(f"{ENV_API_KEY} is not set: export your Polygon (Massive) API key as {ENV_API_KEY}")
        client = make_rest_client(key, rest_base)
    report = ImportReport(source=f"polygon {timeframe}")

    async def fetch(sym: str, a: int, b: int) -> list[Bar]:
        if timeframe == "trades":
            pairs = await asyncio.to_thread(fetch_trades, client, sym, a, b, limit=limit)
            report.rows += len(pairs)
            return trades_to_candles(sym, [t.ts_ns for t, _ in pairs], [t.price for t, _ in pairs],
                                     [t.size for t, _ in pairs], bin_size=bin_size)
        bars = await asyncio.to_thread(fetch_minute_bars, client, sym, a, b, limit=limit)
        report.rows += len(bars)
        return bars

    def failure(exc: Exception) -> Optional[str]:
        if not isinstance(exc, PolygonError):
            return None
        why = "this key is not entitled to it" if exc.not_entitled else "request failed"
        return f"{why}: {exc.message}"

    return await import_day_by_day(store, report, symbols, start_ns, end_ns, fetch, failure, progress)
