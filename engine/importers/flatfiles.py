"""``cockpit import polygon-flatfiles FILE...``: local day files of Polygon's
(Massive's) flat-files service, gzipped CSV, into the store.

Two schemas, told apart by the header:

- trades (``us_stocks_sip/trades_v1``): ``ticker,conditions,correction,exchange,
  id,participant_timestamp,price,sequence_number,sip_timestamp,size,tape,
  trf_id,trf_timestamp``; ``conditions`` is a quoted comma-separated list, so
  the file is read with the csv module. Times are SIP nanoseconds (the same
  clock the REST trades use). Trades with a non-zero ``correction`` (corrected
  or cancelled prints) are skipped and counted.
- minute aggregates (``us_stocks_sip/minute_aggs_v1``): ``ticker,volume,open,
  close,high,low,window_start,transactions``; ``window_start`` in nanoseconds.

A day file holds every ticker; ``symbols`` keeps only some (recommended for
trades: a full day of every ticker is hundreds of millions of rows). Rows of a
ticker are sorted by time before candles are built, whatever the file order.
"""
from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path
from typing import Iterable, Optional, Union

from ..model import NS_PER_MIN, Bar
from . import ImportFailed, ImportReport, Progress, trades_to_candles, write_candles

TRADE_COLUMNS = ("ticker", "conditions", "correction", "exchange", "id", "participant_timestamp", "price",
                 "sequence_number", "sip_timestamp", "size", "tape", "trf_id", "trf_timestamp")
AGG_COLUMNS = ("ticker", "volume", "open", "close", "high", "low", "window_start", "transactions")
_TRADE_NEEDED = ("ticker", "price", "size", "sip_timestamp")
_AGG_NEEDED = ("ticker", "volume", "open", "close", "high", "low", "window_start")
GZIP_MAGIC = b"\x1f\x8b"


def _open_text(path: Path) -> io.TextIOBase:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such flat file") from None
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def _schema(header: list[str], path: Path) -> str:
    cols = set(header)
    if all(c in cols for c in _TRADE_NEEDED):
        return "trades"
    if all(c in cols for c in _AGG_NEEDED):
        return "minute_aggs"
    raise ImportFailed(
        f"{path}: not a Polygon flat file (header: {','.join(header)}); expected trades "
        f"({','.join(TRADE_COLUMNS)}) or minute aggregates ({','.join(AGG_COLUMNS)})"
    )


def _pos_float(text: str, name: str) -> float:
    v = float(text)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} {text!r} is not a positive number")
    return v


def _ns(text: str, name: str) -> int:
    v = int(text)
    if v <= 0:
        raise ValueError(f"{name} {text!r} is not a nanosecond timestamp")
    return v


def read_flat_file(path: Union[str, Path], symbols: Optional[Iterable[str]], report: ImportReport
                   ) -> tuple[str, dict[str, list[tuple]]]:
    """(schema, rows by ticker). Trades rows: (ts_ns, price, size); aggregate rows:
    (ts_ns, open, high, low, close, volume, transactions). Malformed rows are
    added to ``report`` with their line number."""
    p = Path(path)
    wanted = {s.strip().upper() for s in symbols} if symbols else None
    out: dict[str, list[tuple]] = {}
    with _open_text(p) as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise ImportFailed(f"{p}: empty file (expected a CSV header)") from None
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ImportFailed(f"{p}: unreadable ({exc})") from None
        kind = _schema(header, p)
        idx = {name: i for i, name in enumerate(header)}
        ncols = len(header)
        try:
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != ncols:
                    report.add_malformed(line, f"expected {ncols} fields, got {len(row)}")
                    continue
                ticker = row[idx["ticker"]].strip().upper()
                if not ticker:
                    report.add_malformed(line, "empty ticker")
                    continue
                if wanted is not None and ticker not in wanted:
                    report.skipped += 1
                    continue
                try:
                    if kind == "trades":
                        corr = row[idx["correction"]].strip() if "correction" in idx else ""
                        if corr not in ("", "0"):
                            report.skipped += 1
                            continue
                        rec = (_ns(row[idx["sip_timestamp"]], "sip_timestamp"),
                               _pos_float(row[idx["price"]], "price"), _pos_float(row[idx["size"]], "size"))
                    else:
                        o, h, l, c = (_pos_float(row[idx[k]], k) for k in ("open", "high", "low", "close"))
                        v = float(row[idx["volume"]])
                        if not (v >= 0 and math.isfinite(v)):
                            raise ValueError(f"volume {row[idx['volume']]!r} is negative or not a number")
                        if not (l <= min(o, c) and h >= max(o, c)):
                            raise ValueError(f"inconsistent bar: high {h} low {l} open {o} close {c}")
                        n = row[idx["transactions"]].strip() if "transactions" in idx else ""
                        rec = (_ns(row[idx["window_start"]], "window_start"), o, h, l, c, v, int(n) if n else 0)
                except ValueError as exc:
                    msg = str(exc)
                    if "invalid literal" in msg or "could not convert" in msg:
                        msg = f"not a number: {msg.split(':', 1)[-1].strip()}"
                    report.add_malformed(line, msg)
                    continue
                out.setdefault(ticker, []).append(rec)
        except (OSError, EOFError, csv.Error) as exc:
            raise ImportFailed(f"{p}: unreadable after line {reader.line_num} ({exc})") from None
    return kind, out


async def import_flat_files(store, paths: Iterable[Union[str, Path]], *, symbols: Optional[Iterable[str]] = None,
                            bin_size: Optional[float] = None, progress: Optional[Progress] = None) -> ImportReport:
    paths = [Path(p) for p in paths]
    if not paths:
        raise ImportFailed("import polygon-flatfiles needs at least one file")
    symbols = list(symbols) if symbols else None
    report = ImportReport(source=f"polygon flat files ({len(paths)} file{'s' if len(paths) != 1 else ''})")
    for k, path in enumerate(paths):
        kind, rows = read_flat_file(path, symbols, report)
        bars: list[Bar] = []
        for ticker, recs in rows.items():
            recs.sort(key=lambda r: r[0])
            report.rows += len(recs)
            if kind == "trades":
                bars.extend(trades_to_candles(ticker, [r[0] for r in recs], [r[1] for r in recs],
                                              [r[2] for r in recs], bin_size=bin_size))
            else:
                for ts, o, h, l, c, v, n in recs:
                    bars.append(Bar(ticker, ts - ts % NS_PER_MIN, o, h, l, c, v, trades=n))
        await write_candles(store, bars, report)
        if progress is not None:
            progress(k + 1, len(paths))
    if symbols:
        missing = [s.upper() for s in symbols if s.upper() not in report.symbols]
        if missing:
            report.notes.append(f"no rows for {', '.join(missing)} in these files")
    return report
