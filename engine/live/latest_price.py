"""The latest trade price of a symbol at Alpaca's market data API, kept for
``[providers] quotes_ttl_s`` (engine/ops/cache.py): a preview asked twice in a
few seconds asks Alpaca once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from ..ops.cache import LOOKUPS
from .rest import call_rest, harden_client


@dataclass(frozen=True)
class LatestPrice:
    symbol: str
    price: float
    ts_ns: int
    feed: str


def _ts_ns(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


async def latest_trade_price(key_id: str, secret_key: str, symbol: str, feed: str = "iex",
                             data_url: Optional[str] = None, timeout_s: float = 5.0) -> Optional[LatestPrice]:
    """None when Alpaca knows no recent trade of ``symbol``; AlpacaRestError when it cannot say."""
    symbol = symbol.upper()

    async def fetch() -> Optional[LatestPrice]:
        from alpaca.data.enums import DataFeed
        from alpaca.data.historical import StockHistoricalDataClient
        from alpaca.data.requests import StockLatestTradeRequest

        client = StockHistoricalDataClient(key_id, secret_key, raw_data=True, url_override=data_url)
        harden_client(client, timeout_s)
        raw = await call_rest(client.get_stock_latest_trade,
                              StockLatestTradeRequest(symbol_or_symbols=symbol, feed=DataFeed(feed)),
                              rate_limit_retries=1)
        row = raw.get(symbol) if isinstance(raw, dict) else None
        if not row or not row.get("p"):
            return None
        return LatestPrice(symbol, float(row["p"]), _ts_ns(str(row.get("t", ""))) if row.get("t") else 0, feed)

    return await LOOKUPS.aget("quotes", ("alpaca", "latest_trade", symbol, feed, data_url), fetch)
