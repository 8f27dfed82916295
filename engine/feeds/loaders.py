"""Load recorded market data files into numpy arrays.

Two schemas, told apart by the header row:

- trades: ``ts_ns,price,size[,side][,bid][,ask]`` (the ../shared/data format);
- 1-minute bars: ``timestamp|timestamp_utc|ts_ns,open,high,low,close,volume``.

Files may be gzipped (detected by the magic bytes, whatever the extension).
Timestamps of bars may be ISO strings (naive = UTC, or with an offset / ``Z``) or
unix seconds / milliseconds / microseconds / nanoseconds (told apart by magnitude).

Whole columns are converted with numpy at once (a 45k-bar file loads in tens of
milliseconds); only when a column does not convert is it walked row by row to
find the bad rows. A malformed row is skipped, counted, and its line number and
reason kept (the first ``MAX_REPORTED`` of them), so a replay can say exactly
what it dropped.
"""
from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np

from ..model import Bar, Trade

GZIP_MAGIC = b"\x1f\x8b"
MAX_REPORTED = 100  # malformed rows whose (line, reason) are kept; all are counted

TRADE_REQUIRED = ("ts_ns", "price", "size")
TRADE_OPTIONAL = ("side", "bid", "ask")
BAR_TIME_COLUMNS = ("timestamp", "timestamp_utc", "ts_ns", "time", "datetime")
BAR_REQUIRED = ("open", "high", "low", "close", "volume")

_SIDE_WORDS = {
    "1": 1, "+1": 1, "1.0": 1, "b": 1, "buy": 1, "bid": 1,
    "-1": -1, "-1.0": -1, "s": -1, "sell": -1, "ask": -1,
    "0": 0, "0.0": 0, "": 0, "n": 0, "none": 0, "unknown": 0,
}


class DataFileError(ValueError):
    """A data file that cannot be read as trades or bars; the message says why."""


@dataclass
class Malformed:
    """Skipped rows: the total and the first few (line number, reason)."""

    count: int = 0
    rows: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line_no: int, reason: str) -> None:
        self.count += 1
        if len(self.rows) < MAX_REPORTED:
            self.rows.append((line_no, reason))


@dataclass
class TradesArrays:
    """Trades as parallel numpy arrays. ``side`` is 0 where unknown; ``bid``/``ask``
    are NaN where the file carries no quote."""

    ts_ns: np.ndarray  # int64
    price: np.ndarray  # float64
    size: np.ndarray  # float64
    side: np.ndarray  # int8: +1 buy aggressor, -1 sell, 0 unknown
    bid: np.ndarray  # float64, NaN = unknown
    ask: np.ndarray  # float64, NaN = unknown
    source: str = ""
    malformed: Malformed = field(default_factory=Malformed)

    kind = "trades"

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    def iter_trades(self, symbol: str) -> Iterator[Trade]:
        """Model Trades in file order (NaN quotes become None)."""
        bid_ok = ~np.isnan(self.bid)
        ask_ok = ~np.isnan(self.ask)
        for ts, p, s, sd, b, a, bo, ao in zip(
            self.ts_ns.tolist(), self.price.tolist(), self.size.tolist(), self.side.tolist(),
            self.bid.tolist(), self.ask.tolist(), bid_ok.tolist(), ask_ok.tolist(),
        ):
            yield Trade(symbol, ts, p, s, sd, b if bo else None, a if ao else None)

    def slice(self, start: int, stop: int) -> "TradesArrays":
        return TradesArrays(
            self.ts_ns[start:stop], self.price[start:stop], self.size[start:stop],
            self.side[start:stop], self.bid[start:stop], self.ask[start:stop], self.source,
        )


@dataclass
class BarsArrays:
    """One-minute bars as parallel numpy arrays. Flow columns (buy/sell volume,
    trade count, vwap) are NaN / 0 when the source has none; ``vap`` holds a
    volume-at-price tuple per bar when the bars were built from trades."""

    ts_ns: np.ndarray  # int64, bar start
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    buy_volume: Optional[np.ndarray] = None
    sell_volume: Optional[np.ndarray] = None
    trades: Optional[np.ndarray] = None
    vwap: Optional[np.ndarray] = None
    vap: Optional[list[tuple[tuple[float, float], ...]]] = None
    source: str = ""
    malformed: Malformed = field(default_factory=Malformed)

    kind = "bars"

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    def iter_bars(self, symbol: str) -> Iterator[Bar]:
        n = len(self)
        nan = np.full(n, np.nan)
        buy = (self.buy_volume if self.buy_volume is not None else nan).tolist()
        sell = (self.sell_volume if self.sell_volume is not None else nan).tolist()
        cnt = (self.trades if self.trades is not None else np.zeros(n, dtype=np.int64)).tolist()
        vw = (self.vwap if self.vwap is not None else nan).tolist()
        vap = self.vap if self.vap is not None else [None] * n
        for i, (ts, o, h, l, c, v) in enumerate(zip(
            self.ts_ns.tolist(), self.open.tolist(), self.high.tolist(), self.low.tolist(),
            self.close.tolist(), self.volume.tolist(),
        )):
            yield Bar(symbol, ts, o, h, l, c, v, buy[i], sell[i], int(cnt[i]), vw[i], vap[i])


DataArrays = Union[TradesArrays, BarsArrays]


# --------------------------------------------------------------------------- reading


def read_text(path: Union[str, Path]) -> str:
    """The file's text; gunzipped when it starts with the gzip magic bytes."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"{p}: no such data file") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataFileError(f"{p}: looks gzipped but does not decompress ({exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{p}: not a UTF-8 text CSV ({exc})") from None


def _header(text: str, source: str) -> tuple[list[str], int]:
    """Header column names (lower-case) and the offset where data starts."""
    end = text.find("\n")
    line = text if end < 0 else text[:end]
    cols = [c.strip().strip('"').lower() for c in line.strip("\r").split(",")]
    if not any(cols):
        raise DataFileError(f"{source}: empty file (expected a CSV header)")
    return cols, (len(text) if end < 0 else end + 1)


def detect_schema(columns: list[str], source: str = "data file") -> str:
    """``"trades"`` or ``"bars"`` from the header, or a DataFileError saying what was expected."""
    cols = set(columns)
    if all(c in cols for c in TRADE_REQUIRED):
        return "trades"
    if all(c in cols for c in BAR_REQUIRED) and any(c in cols for c in BAR_TIME_COLUMNS):
        return "bars"
    raise DataFileError(
        f"{source}: unknown CSV schema (header: {','.join(columns)}); expected trades "
        f"({','.join(TRADE_REQUIRED)}[,{','.join(TRADE_OPTIONAL)}]) or 1-minute bars "
        f"(timestamp|timestamp_utc,{','.join(BAR_REQUIRED)})"
    )


def _rows(text: str, start: int, ncols: int, malformed: Malformed) -> tuple[list[list[str]], list[int]]:
    """Split data lines into fields; rows with the wrong field count are malformed."""
    rows: list[list[str]] = []
    lines: list[int] = []
    for i, line in enumerate(text[start:].splitlines(), start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != ncols:
            malformed.add(i, f"expected {ncols} fields, got {len(parts)}")
            continue
        rows.append(parts)
        lines.append(i)
    return rows, lines


def _float_column(values: list[str], name: str, bad: dict[int, str], allow_empty: bool = False) -> np.ndarray:
    """Convert a column at once; on failure find the offending rows one by one."""
    try:
        if allow_empty:
            return np.array([v if v.strip() else "nan" for v in values], dtype=np.float64)
        return np.array(values, dtype=np.float64)
    except ValueError:
        out = np.empty(len(values), dtype=np.float64)
        for k, v in enumerate(values):
            if allow_empty and not v.strip():
                out[k] = np.nan
                continue
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = np.nan
                bad.setdefault(k, f"{name} {v.strip()!r} is not a number")
        return out


def _side_column(values: list[str], bad: dict[int, str]) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int8)
    for k, v in enumerate(values):
        s = _SIDE_WORDS.get(v.strip().lower())
        if s is None:
            bad.setdefault(k, f"side {v.strip()!r} is not one of 1/-1/0/buy/sell")
        else:
            out[k] = s
    return out


_UNIT_BY_MAGNITUDE = ((1e17, 1), (1e14, 1_000), (1e11, 1_000_000), (0.0, 1_000_000_000))


def numeric_time_to_ns(values: np.ndarray) -> np.ndarray:
    """Unix seconds / ms / us / ns to ns, the unit told by the magnitude of the data."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.int64)
    mag = float(np.median(np.abs(finite)))
    for threshold, mult in _UNIT_BY_MAGNITUDE:
        if mag >= threshold:
            if mult == 1:
                return values.astype(np.int64)
            return np.round(values * mult).astype(np.int64)
    raise AssertionError("unreachable")


def _iso_one(v: str) -> int:
    s = v.strip().strip('"')
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _time_column(values: list[str], name: str, bad: dict[int, str]) -> np.ndarray:
    """Timestamps to int64 ns UTC: numeric (unit by magnitude) or ISO strings."""
    sample = next((v.strip() for v in values if v.strip()), "")
    try:
        float(sample)
        numeric = True
    except ValueError:
        numeric = False
    if numeric:
        if name == "ts_ns":
            try:
                return np.array(values, dtype=np.int64)
            except (ValueError, OverflowError):
                pass
        return numeric_time_to_ns(_float_column(values, name, bad))
    simple = "+" not in sample and sample[-1:] not in "Zz" and sample.count("-") <= 2
    if simple:
        try:
            return np.array([v.strip().strip('"') for v in values], dtype="datetime64[ns]").astype(np.int64)
        except ValueError:
            pass
    out = np.zeros(len(values), dtype=np.int64)
    for k, v in enumerate(values):
        try:
            out[k] = _iso_one(v)
        except ValueError:
            bad.setdefault(k, f"{name} {v.strip()!r} is not a timestamp")
    return out


# --------------------------------------------------------------------------- schemas


def _finish(keep: np.ndarray, bad: dict[int, str], lines: list[int], malformed: Malformed) -> np.ndarray:
    for k in sorted(bad):
        keep[k] = False
    # report in line order together with field-count errors already recorded
    for k in sorted(bad):
        malformed.add(lines[k], bad[k])
    malformed.rows.sort()
    return keep


def _trades_from(text: str, cols: list[str], start: int, source: str) -> TradesArrays:
    malformed = Malformed()
    rows, lines = _rows(text, start, len(cols), malformed)
    columns = list(zip(*rows)) if rows else [()] * len(cols)
    col = {name: list(columns[i]) for i, name in enumerate(cols)}
    bad: dict[int, str] = {}
    ts = _time_column(col["ts_ns"], "ts_ns", bad)
    price = _float_column(col["price"], "price", bad)
    size = _float_column(col["size"], "size", bad)
    n = len(rows)
    side = _side_column(col["side"], bad) if "side" in col else np.zeros(n, dtype=np.int8)
    bid = _float_column(col["bid"], "bid", bad, allow_empty=True) if "bid" in col else np.full(n, np.nan)
    ask = _float_column(col["ask"], "ask", bad, allow_empty=True) if "ask" in col else np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        for k in np.flatnonzero(~(price > 0) | ~np.isfinite(price)):
            bad.setdefault(int(k), f"price {col['price'][k].strip()!r} is not positive")
        for k in np.flatnonzero(~(size > 0) | ~np.isfinite(size)):
            bad.setdefault(int(k), f"size {col['size'][k].strip()!r} is not positive")
        for k in np.flatnonzero(bid > ask):
            bad.setdefault(int(k), f"crossed quote: bid {bid[k]} > ask {ask[k]}")
    keep = _finish(np.ones(n, dtype=bool), bad, lines, malformed)
    keep = _drop_out_of_order(ts, keep, lines, malformed)
    return TradesArrays(ts[keep], price[keep], size[keep], side[keep], bid[keep], ask[keep], source, malformed)


_PLAIN_NUMBER_BYTES = np.zeros(256, dtype=bool)
_PLAIN_NUMBER_BYTES[np.frombuffer(b"0123456789.,-+eE\n", dtype=np.uint8)] = True


def _numeric_table(text: str, start: int, ncols: int) -> Optional[np.ndarray]:
    """The data lines as an (n, ncols) float64 table when the file is the plain
    kind (only numbers, exactly ``ncols`` fields on every line, no blank lines, no
    quotes, no CR, only digits, signs, points and exponents), parsed in one call; None for anything else (the line-by-line
    path then finds and names each problem). numpy reads a decimal number to the
    same double as ``float()``."""
    data = text[start:]
    if not data or '"' in data or "\r" in data:
        return None
    if not data.endswith("\n"):
        data += "\n"
    try:
        raw = np.frombuffer(data.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    if not bool(_PLAIN_NUMBER_BYTES[raw].all()):  # (no hex, nan, spaces, underscores...)
        return None
    nl = np.flatnonzero(raw == 10)
    commas = np.flatnonzero(raw == 44)
    n = nl.size
    if commas.size != n * (ncols - 1):
        return None
    if ncols > 1:  # every line holds exactly its share of the commas
        per_line = commas.reshape(n, ncols - 1)
        prev = np.empty(n, dtype=nl.dtype)
        prev[0] = -1
        prev[1:] = nl[:-1]
        if not (bool((per_line[:, 0] > prev + 1).all()) and bool((per_line[:, -1] < nl - 1).all())):
            return None
        if ncols > 2 and not bool((np.diff(per_line, axis=1) > 1).all()):
            return None  # an empty field
    elif bool((np.diff(nl, prepend=-1) < 2).any()):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            flat = np.fromstring(data.replace("\n", ","), dtype=np.float64, sep=",")
    except (ValueError, DeprecationWarning):
        return None
    if flat.size != n * ncols:
        return None
    return flat.reshape(n, ncols)


def _bars_fast(text: str, cols: list[str], start: int, source: str) -> Optional[BarsArrays]:
    """A plain numeric bars file with nothing to report, read in one pass (None otherwise)."""
    time_name = next(c for c in BAR_TIME_COLUMNS if c in cols)
    if time_name == "ts_ns":  # integer nanoseconds must not pass through a double
        return None
    table = _numeric_table(text, start, len(cols))
    if table is None:
        return None
    idx = {name: i for i, name in enumerate(cols)}
    ts = numeric_time_to_ns(np.ascontiguousarray(table[:, idx[time_name]]))
    o, h, l, c, v = (np.ascontiguousarray(table[:, idx[k]]) for k in BAR_REQUIRED)
    with np.errstate(invalid="ignore"):
        ok = ((o > 0) & (h > 0) & (l > 0) & (c > 0) & (h >= l) & (h >= o) & (h >= c) & (l <= o) & (l <= c)
              & (v >= 0))
    if not bool(ok.all()):
        return None
    malformed = Malformed()
    n = len(ts)
    keep = _drop_out_of_order(ts, np.ones(n, dtype=bool), list(range(2, n + 2)), malformed)
    return BarsArrays(ts[keep], o[keep], h[keep], l[keep], c[keep], v[keep], source=source, malformed=malformed)


def _bars_from(text: str, cols: list[str], start: int, source: str) -> BarsArrays:
    fast = _bars_fast(text, cols, start, source)
    if fast is not None:
        return fast
    malformed = Malformed()
    rows, lines = _rows(text, start, len(cols), malformed)
    columns = list(zip(*rows)) if rows else [()] * len(cols)
    col = {name: list(columns[i]) for i, name in enumerate(cols)}
    time_name = next(c for c in BAR_TIME_COLUMNS if c in col)
    bad: dict[int, str] = {}
    ts = _time_column(col[time_name], time_name, bad)
    o, h, l, c, v = (_float_column(col[k], k, bad) for k in BAR_REQUIRED)
    with np.errstate(invalid="ignore"):
        prices_ok = (o > 0) & (h > 0) & (l > 0) & (c > 0)
        for k in np.flatnonzero(~prices_ok):
            bad.setdefault(int(k), "open/high/low/close must be positive numbers")
        for k in np.flatnonzero(prices_ok & ~((h >= l) & (h >= o) & (h >= c) & (l <= o) & (l <= c))):
            bad.setdefault(int(k), f"inconsistent bar: high {h[k]} low {l[k]} open {o[k]} close {c[k]}")
        for k in np.flatnonzero(~(v >= 0)):
            bad.setdefault(int(k), f"volume {col['volume'][k].strip()!r} is negative or not a number")
    keep = _finish(np.ones(len(rows), dtype=bool), bad, lines, malformed)
    keep = _drop_out_of_order(ts, keep, lines, malformed)
    return BarsArrays(ts[keep], o[keep], h[keep], l[keep], c[keep], v[keep], source=source, malformed=malformed)


def _drop_out_of_order(ts: np.ndarray, keep: np.ndarray, lines: list[int], malformed: Malformed) -> np.ndarray:
    """Rows must be in time order (equal times allowed): a row earlier than the
    latest kept one is malformed. Vectorised for the usual all-in-order case."""
    idx = np.flatnonzero(keep)
    if idx.size < 2:
        return keep
    kept = ts[idx]
    if np.all(kept[1:] >= kept[:-1]):
        return keep
    running = np.maximum.accumulate(kept)
    late = np.flatnonzero(kept[1:] < running[:-1]) + 1
    for j in late:
        k = int(idx[j])
        keep[k] = False
        malformed.add(lines[k], f"timestamp {int(ts[k])} is earlier than the previous row")
    malformed.rows.sort()
    return keep


# --------------------------------------------------------------------------- public API


def load(path: Union[str, Path]) -> DataArrays:
    """Load a trades or bars CSV(.gz), the schema detected from its header."""
    source = str(path)
    text = read_text(path)
    cols, start = _header(text, source)
    kind = detect_schema(cols, source)
    return _trades_from(text, cols, start, source) if kind == "trades" else _bars_from(text, cols, start, source)


def load_trades(path: Union[str, Path]) -> TradesArrays:
    data = load(path)
    if not isinstance(data, TradesArrays):
        raise DataFileError(f"{path}: holds 1-minute bars, expected trades ({','.join(TRADE_REQUIRED)},...)")
    return data


def load_bars(path: Union[str, Path]) -> BarsArrays:
    data = load(path)
    if not isinstance(data, BarsArrays):
        raise DataFileError(f"{path}: holds trades, expected 1-minute bars (timestamp,{','.join(BAR_REQUIRED)})")
    return data


def iter_records(data: DataArrays, symbol: str) -> Iterator[Union[Trade, Bar]]:
    """Model objects (Trade or Bar) in file order."""
    if isinstance(data, TradesArrays):
        return data.iter_trades(symbol)
    return data.iter_bars(symbol)


def parse_text(text: str, source: str = "<text>") -> DataArrays:
    """Like :func:`load` for CSV text already in memory (tests, network downloads)."""
    cols, start = _header(text, source)
    kind = detect_schema(cols, source)
    return _trades_from(text, cols, start, source) if kind == "trades" else _bars_from(text, cols, start, source)


__all__ = [
    "BarsArrays", "DataArrays", "DataFileError", "Malformed", "TradesArrays",
    "detect_schema", "iter_records", "load", "load_bars", "load_trades", "numeric_time_to_ns",
    "parse_text", "read_text",
]
