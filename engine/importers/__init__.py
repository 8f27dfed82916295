"""Importers: history from a CSV file, Alpaca, Polygon REST or Polygon flat
files, into the store as one-minute candles.

Why candles and not raw trades: the store keeps what a restart needs to rebuild
profiles and flow exactly, i.e. one-minute bars with buy/sell volume and volume
at price (``engine.analytics.bars.MinuteBarBuilder``). Trades are classified on
the way (true side when the source has it, Lee-Ready with a quote, else the
tick rule, as ``engine.analytics.flow.TradeClassifier`` does live).

Re-importing is harmless: candles are keyed by (symbol, minute start) and the
store upserts, so the same range imported twice adds nothing; the report says
how many candles were new and how many replaced ones already stored. The range
importers work on whole minutes so a candle is never rebuilt from half its
trades. Malformed input rows are counted, skipped, and reported with their
line number.

Progress is reported through a plain callback ``progress(done, total)`` so the
CLI can draw a rich progress bar without the engine importing any UI.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable, Optional, Sequence, get_args

from ..analytics.bars import MinuteBarBuilder
from ..analytics.flow import TradeClassifier
from ..analytics.profile import auto_bin_size
from ..config import ImportTimeframe
from ..model import NS_PER_MIN, Bar

Progress = Callable[[int, int], None]  # (done, total) in the importer's own unit
FetchCandles = Callable[[str, int, int], Awaitable[list[Bar]]]  # (symbol, start_ns, end_ns) -> candles
FLUSH_EVERY = 5_000  # candles per store flush (bounded memory, visible progress)
MAX_REPORTED = 100
TIMEFRAMES: tuple[str, ...] = get_args(ImportTimeframe)


class ImportFailed(ValueError):
    """An import that cannot run (no file, no keys, bad range); the message says why."""


@dataclass
class ImportReport:
    """What an import did. ``malformed_rows`` holds (line number, reason) of the
    first ``MAX_REPORTED`` skipped rows; ``malformed`` counts all of them."""

    source: str
    symbols: list[str] = field(default_factory=list)
    rows: int = 0  # trades or bars read from the source
    candles: int = 0  # candles written
    added: int = 0  # not in the store before
    replaced: int = 0  # already stored (same symbol + minute): overwritten
    malformed: int = 0
    malformed_rows: list[tuple[int, str]] = field(default_factory=list)
    skipped: int = 0  # well-formed rows deliberately left out (e.g. corrected trades, other tickers)
    first_ns: Optional[int] = None
    last_ns: Optional[int] = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # parts that failed (e.g. a symbol not entitled)

    def add_malformed(self, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_rows) < MAX_REPORTED:
            self.malformed_rows.append((line, reason))

    def to_dict(self) -> dict:
        return {
            "source": self.source, "symbols": self.symbols, "rows": self.rows, "candles": self.candles,
            "added": self.added, "replaced": self.replaced, "malformed": self.malformed,
            "malformed_rows": [{"line": ln, "reason": r} for ln, r in self.malformed_rows],
            "skipped": self.skipped, "first_ns": self.first_ns, "last_ns": self.last_ns, "notes": self.notes,
            "errors": self.errors,
        }

    def summary(self) -> str:
        syms = ",".join(self.symbols) or "-"
        text = (f"{self.source}: {self.rows} rows -> {self.candles} one-minute candles for {syms} "
                f"({self.added} new, {self.replaced} already stored)")
        if self.skipped:
            text += f"; {self.skipped} rows skipped"
        if self.malformed:
            text += f"; {self.malformed} malformed rows skipped"
        return text


def trades_to_candles(symbol: str, ts_ns: Sequence[int], price: Sequence[float], size: Sequence[float],
                      side: Optional[Sequence[int]] = None, bid: Optional[Sequence[float]] = None,
                      ask: Optional[Sequence[float]] = None, bin_size: Optional[float] = None) -> list[Bar]:
    """One-minute candles (with buy/sell volume and volume at price) from trades
    in time order. ``bin_size`` None = auto from the first price."""
    n = len(ts_ns)
    if n == 0:
        return []
    bs = bin_size if bin_size else auto_bin_size(float(price[0]))
    builder = MinuteBarBuilder(symbol, bs)
    cls = TradeClassifier()
    out: list[Bar] = []
    for i in range(n):
        b = None if bid is None else bid[i]
        a = None if ask is None else ask[i]
        if b is not None and (b != b):  # NaN -> no quote
            b = None
        if a is not None and (a != a):
            a = None
        s = cls.classify(float(price[i]), int(side[i]) if side is not None else 0, b, a)
        closed = builder.add(int(ts_ns[i]), float(price[i]), float(size[i]), s)
        if closed is not None:
            out.append(closed)
    if builder.is_open:
        out.append(builder.close_bar())
    return out


async def write_candles(store, bars: Iterable[Bar], report: ImportReport,
                        progress: Optional[Progress] = None, total: int = 0) -> None:
    """Record candles; count which were new. Flushes every FLUSH_EVERY."""
    by_symbol: dict[str, list[Bar]] = {}
    for b in bars:
        by_symbol.setdefault(b.symbol, []).append(b)
    done = 0
    for sym, rows in by_symbol.items():
        rows.sort(key=lambda b: b.ts_ns)
        existing = {b.ts_ns for b in await store.load_bars(sym, rows[0].ts_ns, rows[-1].ts_ns + 1)}
        last_ts = None
        for b in rows:
            if b.ts_ns == last_ts:  # the same minute twice in one batch: the later one wins in the store
                continue
            last_ts = b.ts_ns
            store.record_bar(b)
            report.candles += 1
            if b.ts_ns in existing:
                report.replaced += 1
            else:
                report.added += 1
            report.first_ns = b.ts_ns if report.first_ns is None else min(report.first_ns, b.ts_ns)
            report.last_ns = b.ts_ns if report.last_ns is None else max(report.last_ns, b.ts_ns)
            done += 1
            if done % FLUSH_EVERY == 0:
                await store.flush()
                if progress is not None:
                    progress(done, total or done)
        if sym not in report.symbols:
            report.symbols.append(sym)
    await store.flush()
    if progress is not None:
        progress(done, total or done)


def range_request(source: str, symbols: Iterable[str], timeframe: str, start_ns: int,
                  end_ns: int) -> tuple[list[str], int, int]:
    """The checked arguments of a REST import: upper-case symbols, a known
    timeframe, [start, end) widened to whole minutes."""
    symbols = [s.strip().upper() for s in symbols if s and s.strip()]
    if not symbols:
        raise ImportFailed(f"import {source} needs --symbols, e.g. --symbols SPY,QQQ")
    if timeframe not in TIMEFRAMES:
        raise ImportFailed(f"import {source} --timeframe must be one of {', '.join(TIMEFRAMES)}, got {timeframe!r}")
    start_ns, end_ns = floor_minute(start_ns), ceil_minute(end_ns)
    if end_ns <= start_ns:
        raise ImportFailed(f"import {source}: --end must be after --start")
    return symbols, start_ns, end_ns


async def import_day_by_day(store, report: ImportReport, symbols: Sequence[str], start_ns: int, end_ns: int,
                            fetch: FetchCandles, failure: Callable[[Exception], Optional[str]],
                            progress: Optional[Progress] = None) -> ImportReport:
    """Each symbol one day at a time: fetch its candles and write them. A fetch
    that fails with an error ``failure`` describes (None: not an expected
    failure, raised) ends that symbol: the error is reported, the others go on.
    Progress counts (symbol, day) pieces."""
    chunks = day_chunks(start_ns, end_ns)
    total = len(chunks) * len(symbols)
    done = 0
    for sym in symbols:
        for i, (a, b) in enumerate(chunks):
            try:
                bars = await fetch(sym, a, b)
            except Exception as exc:
                message = failure(exc)
                if message is None:
                    raise
                report.errors.append(f"{sym}: {message}")
                done += len(chunks) - i
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


def day_chunks(start_ns: int, end_ns: int, chunk_ns: int = 86_400 * 1_000_000_000) -> list[tuple[int, int]]:
    """[start, end) cut into pieces of at most ``chunk_ns`` (whole minutes when the ends are)."""
    out = []
    a = start_ns
    while a < end_ns:
        b = min(end_ns, a + chunk_ns)
        out.append((a, b))
        a = b
    return out


def floor_minute(ts_ns: int) -> int:
    return ts_ns - ts_ns % NS_PER_MIN


def ceil_minute(ts_ns: int) -> int:
    return -((-ts_ns) // NS_PER_MIN) * NS_PER_MIN


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


__all__ = ["FLUSH_EVERY", "TIMEFRAMES", "FetchCandles", "ImportFailed", "ImportReport", "Progress", "ceil_minute",
           "day_chunks", "floor_minute", "import_day_by_day", "range_request", "trades_to_candles", "write_candles"]
