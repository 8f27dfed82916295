"""``cockpit import polygon --symbols ... --start ... --end ... --timeframe 1Min|trades``:
history over Polygon's REST API (polygon-api-client, the key passed explicitly)
into the store. Day by day, every page (explicit page limit, ``next_url``
pagination), on whole minutes so no candle is built from half its trades."""
from __future__ import annotations

import asyncio
from typing import Any, Iterable, Optional

from ..feeds.polygon import (ENV_API_KEY, REST_PAGE_LIMIT, PolygonError, fetch_minute_bars, fetch_trades,
                             make_rest_client, polygon_api_key)
from . import (TIMEFRAMES, ImportFailed, ImportReport, Progress, ceil_minute, day_chunks, floor_minute,
               trades_to_candles, write_candles)


async def import_polygon(store, symbols: Iterable[str], start_ns: int, end_ns: int, timeframe: str = "1Min", *,
                         api_key: Optional[str] = None, rest_base: Optional[str] = None, client: Any = None,
                         bin_size: Optional[float] = None, limit: int = REST_PAGE_LIMIT,
                         progress: Optional[Progress] = None) -> ImportReport:
    symbols = [s.strip().upper() for s in symbols if s and s.strip()]
    if not symbols:
        raise ImportFailed("import polygon needs --symbols, e.g. --symbols SPY,QQQ")
    if timeframe not in TIMEFRAMES:
        raise ImportFailed(f"import polygon --timeframe must be one of {', '.join(TIMEFRAMES)}, got {timeframe!r}")
    start_ns, end_ns = floor_minute(start_ns), ceil_minute(end_ns)
    if end_ns <= start_ns:
        raise ImportFailed("import polygon: --end must be after --start")
    if client is None:
        key = api_key or polygon_api_key()
        if not key:
            raise ImportFailed(f"{ENV_API_KEY} is not set: export your Polygon (Massive) API key as {ENV_API_KEY}")
        client = make_rest_client(key, rest_base)
    report = ImportReport(source=f"polygon {timeframe}")
    chunks = day_chunks(start_ns, end_ns)
    total = len(chunks) * len(symbols)
    done = 0
    for sym in symbols:
        for a, b in chunks:
            try:
                if timeframe == "trades":
                    pairs = await asyncio.to_thread(fetch_trades, client, sym, a, b, limit=limit)
                    report.rows += len(pairs)
                    bars = trades_to_candles(sym, [t.ts_ns for t, _ in pairs], [t.price for t, _ in pairs],
                                             [t.size for t, _ in pairs], bin_size=bin_size)
                else:
                    bars = await asyncio.to_thread(fetch_minute_bars, client, sym, a, b, limit=limit)
                    report.rows += len(bars)
            except PolygonError as exc:
                why = "this key is not entitled to it" if exc.not_entitled else "request failed"
                report.errors.append(f"{sym}: {why}: {exc.message}")
                done += len(chunks) - chunks.index((a, b))
                if progress is not None:
                    progress(done, total)
                break
            await write_candles(store, bars, report)
            if sym not in report.symbols:
                report.symbols.append(sym)
            done += 1
            if progress is not None:
                progress(done, total)
    return report
