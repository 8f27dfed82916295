"""Load recorded market data files into numpy arrays.

Two schemas, told apart by the header row:

- trades: ``ts_ns,price,size[,side][,bid][,ask]`` (the ../shared/data format);
- 1-minute bars: ``timestamp|timestamp_utc|ts_ns,open,high,low,close,volume``.

Files may be gzipped (detected by the magic bytes, whatever the extension). A
file that is empty, binary, or not UTF-8 text (a Latin-1 export, say) is refused
with a ``DataFileError`` that names the file and the problem.

Timestamps are read exactly, as integers, never through a float64 (whose step
near today's nanosecond timestamps is 256 ns):

- ``ts_ns`` cells are integer nanoseconds;
- other numeric time columns are unix seconds / milliseconds / microseconds /
  nanoseconds (the unit told by the magnitude of the column); a decimal fraction
  is allowed when it comes to a whole number of nanoseconds;
- ISO strings (naive = UTC, or with an offset / ``Z``) to the nanosecond.

A cell that is none of these (``1.5`` in ``ts_ns``, ``nan``, an empty cell) fails
its row, and only its row.

Time order: rows must be in time order (equal times allowed). When they are not,
the loader drops the fewest rows that leave the rest in order: it keeps the
longest run of rows whose timestamps never decrease (the longest non-decreasing
subsequence) and drops every other row as "out of time order". So one row far in
the future or far in the past is the row dropped, never the good rows around it.
When two choices would keep as many rows, the one keeping the earlier rows of the
file is taken (of ``1000, 500, 7000`` the ``500`` goes). Order is judged among the
rows that passed every other check. The rule sees order only: a first or last row
that is in order stays, however far it is from the others.

Whole columns are converted with numpy at once (a 45k-bar file loads in tens of
milliseconds); only when a column does not convert is it walked row by row to
find the bad rows. Every skipped row is counted and kept with its line number
and reason (``Malformed``), so a replay, a backtest or an import can say exactly
what it dropped.
"""
from __future__ import annotations

import gzip
import io
import re
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation
from itertools import repeat
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from ..config import ConfigError
from ..model import Bar, Trade

GZIP_MAGIC = b"\x1f\x8b"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NAT = np.iinfo(np.int64).min  # numpy's "not a time"

TRADE_REQUIRED = ("ts_ns", "price", "size")
TRADE_OPTIONAL = ("side", "bid", "ask")
BAR_TIME_COLUMNS = ("timestamp", "timestamp_utc", "ts_ns", "time", "datetime")
BAR_REQUIRED = ("open", "high", "low", "close", "volume")

_SIDE_WORDS = {
    "1": 1, "+1": 1, "1.0": 1, "b": 1, "buy": 1, "bid": 1,
    "-1": -1, "-1.0": -1, "s": -1, "sell": -1, "ask": -1,
    "0": 0, "0.0": 0, "": 0, "n": 0, "none": 0, "unknown": 0,
}


class DataFileError(ConfigError):
    """A data file that cannot be read as trades or bars; the message starts with
    the file's name and says what is wrong (one line: the CLI prints it as is)."""


@dataclass
class Malformed:
    """Skipped rows: every one, as (line number, reason), in line order."""

    rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)

    def add(self, line_no: int, reason: str) -> None:
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
        """Model Bars in file order (``map`` over the columns: no generator step per bar)."""
        n = len(self)
        nan = np.full(n, np.nan)
        buy = (self.buy_volume if self.buy_volume is not None else nan).tolist()
        sell = (self.sell_volume if self.sell_volume is not None else nan).tolist()
        counts = self.trades if self.trades is not None else np.zeros(n, dtype=np.int64)
        cnt = counts.tolist() if counts.dtype.kind in "iu" else [int(x) for x in counts.tolist()]
        vw = (self.vwap if self.vwap is not None else nan).tolist()
        vap = self.vap if self.vap is not None else repeat(None, n)
        return map(Bar, repeat(symbol, n), self.ts_ns.tolist(), self.open.tolist(), self.high.tolist(),
                   self.low.tolist(), self.close.tolist(), self.volume.tolist(), buy, sell, cnt, vw, vap)


DataArrays = Union[TradesArrays, BarsArrays]


# --------------------------------------------------------------------------- reading

TEXT_SNIFF_BYTES = 8192  # how much of a file is looked at to tell binary from text


def read_text(path: Union[str, Path]) -> str:
    """The file's text; gunzipped when it starts with the gzip magic bytes. An
    unreadable, empty, binary or non-UTF-8 file is a DataFileError naming it."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"{p}: no such data file") from None
    except IsADirectoryError:
        raise DataFileError(f"{p}: is a directory, not a data file") from None
    except OSError as exc:
        raise DataFileError(f"{p}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not raw:
        raise DataFileError(f"{p}: empty file (0 bytes; expected a CSV header and rows)")
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataFileError(f"{p}: looks gzipped but does not decompress ({exc})") from None
        if not raw:
            raise DataFileError(f"{p}: empty file (nothing inside the gzip; expected a CSV header and rows)")
    return decode_text(raw, str(p))


def decode_text(raw: bytes, source: str) -> str:
    """UTF-8 text (a BOM is dropped) or a DataFileError saying the file is binary
    or in another encoding, with the line of the first byte that is not UTF-8."""
    head = raw[:TEXT_SNIFF_BYTES]
    if b"\x00" in head or sum(1 for b in head if b < 32 and b not in (9, 10, 13)) > len(head) // 100:
        raise DataFileError(f"{source}: binary file, not a CSV text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataFileError(
            f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}; a Latin-1 or Windows "
            f"export? save the file as UTF-8)"
        ) from None


def _header(text: str, source: str) -> tuple[list[str], int]:
    """Header column names (lower-case) and the offset where data starts."""
    end = text.find("\n")
    line = text if end < 0 else text[:end]
    cols = [c.strip().strip('"').lower() for c in line.strip("\r").split(",")]
    if not any(cols):
        raise DataFileError(f"{source}: empty file (no CSV header on the first line)")
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


# --------------------------------------------------------------------------- timestamps (exact)

_UNIT_BY_MAGNITUDE = ((1e17, 1), (1e14, 1_000), (1e11, 1_000_000), (0.0, 1_000_000_000))
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])  # a cell needing more digits fails its row


def unit_multiplier(magnitude: float) -> int:
    """Nanoseconds per unit of unix timestamps of this typical magnitude (s, ms, us or ns)."""
    for threshold, mult in _UNIT_BY_MAGNITUDE:
        if magnitude >= threshold:
            return mult
    return 1_000_000_000


def numeric_time_to_ns(values: np.ndarray) -> np.ndarray:
    """Unix seconds / ms / us / ns to int64 ns, the unit told by the magnitude.
    Integer input is scaled exactly; float input is rounded to the nanosecond
    (exact only while the values are below 2**53)."""
    if values.size == 0:
        return np.zeros(values.shape, dtype=np.int64)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64) * unit_multiplier(float(np.median(np.abs(values))))
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.int64)
    mult = unit_multiplier(float(np.median(np.abs(finite))))
    return np.round(values * mult).astype(np.int64)


def _scale_ints(ints: np.ndarray, mult: int, name: str, raw: list[str], bad: dict[int, str]) -> np.ndarray:
    """``ints * mult`` in int64; rows whose product would not fit fail."""
    if mult == 1:
        return ints
    limit = INT64_MAX // mult
    over = (ints > limit) | (ints < -limit)
    for k in np.flatnonzero(over):
        bad.setdefault(int(k), f"{name} {raw[k].strip()!r} is out of the timestamp range")
    return np.where(over, 0, ints) * mult


def _decimal_cell(cell: str, name: str) -> tuple[Optional[Decimal], str]:
    """A numeric cell as an exact Decimal, or (None, the reason it is not one)."""
    if not cell:
        return None, f"{name} is empty"
    try:
        d = _EXACT.create_decimal(cell)
    except Inexact:
        return None, f"{name} {cell!r} is out of the timestamp range or has too many digits"
    except InvalidOperation:
        return None, f"{name} {cell!r} is not a number"
    if not d.is_finite():
        return None, f"{name} {cell!r} is not a number"
    return d, ""


def _numeric_time_column(values: list[str], name: str, bad: dict[int, str]) -> np.ndarray:
    """Numeric timestamps to int64 ns, exactly. ``ts_ns`` is nanoseconds; another
    column's unit is told by its magnitude. Integers convert at once (the usual
    case); otherwise each cell is read as a decimal and must come to a whole
    number of nanoseconds."""
    try:
        ints = np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        ints = None
    if ints is not None:
        mult = 1 if name == "ts_ns" or not ints.size else unit_multiplier(float(np.median(np.abs(ints))))
        return _scale_ints(ints, mult, name, values, bad)
    decimals: list[Optional[Decimal]] = []
    for k, v in enumerate(values):
        d, reason = _decimal_cell(v.strip(), name)
        if d is None:
            bad.setdefault(k, reason)
        decimals.append(d)
    finite = [abs(float(d)) for d in decimals if d is not None]
    mult = 1 if name == "ts_ns" or not finite else unit_multiplier(float(np.median(finite)))
    out = np.zeros(len(values), dtype=np.int64)
    for k, d in enumerate(decimals):
        if d is None:
            continue
        cell = values[k].strip()
        try:
            ns = _EXACT.multiply(d, mult)
        except Inexact:
            ns = None
        if ns is None or ns != ns.to_integral_value():
            what = "an integer number of nanoseconds" if mult == 1 else "a whole number of nanoseconds"
            bad.setdefault(k, f"{name} {cell!r} is not {what}")
        elif not INT64_MIN < ns <= INT64_MAX:
            bad.setdefault(k, f"{name} {cell!r} is out of the timestamp range")
        else:
            out[k] = int(ns)
    return out


_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso_to_ns(text: str) -> int:
    """An ISO 8601 date-time (naive = UTC, ``Z`` or an offset) to unix ns, exactly;
    ValueError saying why when it is not one, names a time that does not exist,
    carries a fraction finer than a nanosecond, or is out of the int64 range."""
    m = _ISO_RE.fullmatch(text.strip().strip('"'))
    if m is None:
        raise ValueError("is not an ISO date-time")
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    offset = timedelta(0)
    if tz and tz.upper() != "Z":
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        if tz[0] == "-":
            offset = -offset
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=timezone(offset))
    except ValueError as exc:
        raise ValueError(f"is not a real date-time ({exc})") from None
    frac = frac or ""
    if frac[9:].strip("0"):
        raise ValueError("is finer than a nanosecond")
    delta = dt - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + int(frac[:9].ljust(9, "0"))
    if not INT64_MIN < ns <= INT64_MAX:
        raise ValueError("is out of the timestamp range (years 1678-2261)")
    return ns


def _iso_time_column(values: list[str], name: str, bad: dict[int, str]) -> np.ndarray:
    """ISO timestamps to int64 ns, exactly. numpy parses plain ``YYYY-MM-DD hh:mm:ss[.f]``
    columns at once; what it cannot be trusted with (NaT, an empty cell, a year it
    overflows, more than 9 fraction digits, an offset) is read row by row."""
    cells = [v.strip().strip('"') for v in values]
    out = np.zeros(len(cells), dtype=np.int64)
    todo = range(len(cells))
    sample = next((c for c in cells if c), "")
    if "+" not in sample and sample[-1:] not in "Zz" and sample.count("-") <= 2:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # numpy warns on (and may misread) an offset in a later row
                ns = np.array(cells, dtype="datetime64[ns]").astype(np.int64)
                days = np.array([c[:10] for c in cells], dtype="datetime64[D]").astype(np.int64)
        except (ValueError, DeprecationWarning, UserWarning):
            pass
        else:
            # NaT (also what an empty cell becomes), a year numpy wrapped around, a fraction it cut short
            ok = (ns != NAT) & (np.floor_divide(ns, 86_400 * 10**9) == days)
            if max(map(len, cells)) > len("YYYY-MM-DD hh:mm:ss.nnnnnnnnn"):
                ok &= np.array([len(c.partition(".")[2]) <= 9 for c in cells], dtype=bool)
            out = np.where(ok, ns, 0)
            todo = np.flatnonzero(~ok).tolist()
    for k in todo:
        if not cells[k]:
            bad.setdefault(k, f"{name} is empty")
            continue
        try:
            out[k] = iso_to_ns(cells[k])
        except (ValueError, OverflowError) as exc:
            bad.setdefault(k, f"{name} {cells[k]!r} {exc}")
    return out


def _time_column(values: list[str], name: str, bad: dict[int, str]) -> np.ndarray:
    """Timestamps to int64 ns UTC, exactly: numeric (unit by magnitude) or ISO strings."""
    sample = next((v.strip() for v in values if v.strip()), "")
    try:
        float(sample)
        numeric = True
    except ValueError:
        numeric = False
    return _numeric_time_column(values, name, bad) if numeric else _iso_time_column(values, name, bad)


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


def _numeric_columns(text: str, start: int, ncols: int, integer_col: int) -> Optional[list[np.ndarray]]:
    """The data lines as ``ncols`` columns (int64 for ``integer_col``, float64 for
    the others) when the file is the plain kind (only numbers, exactly ``ncols``
    fields on every line, no blank lines, no quotes, no CR, only digits, signs,
    points and exponents, and no point or exponent in column ``integer_col``),
    parsed in one call of numpy's C reader (``np.loadtxt``: ~40% less CPU than
    ``np.fromstring`` with the checks it needed); None for anything else (the
    line-by-line path then finds and names each problem). numpy reads a decimal
    number to the same double as ``float()``, and an integer exactly."""
    data = text[start:]
    if not data or '"' in data or "\r" in data or data.startswith("\n") or "\n\n" in data:
        return None  # (np.loadtxt would skip a blank line: the line-by-line path reports it)
    try:
        raw = np.frombuffer(data.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    if not bool(_PLAIN_NUMBER_BYTES[raw].all()):  # (no hex, nan, spaces, underscores...)
        return None
    dtype = np.dtype([(f"c{i}", np.int64 if i == integer_col else np.float64) for i in range(ncols)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(io.StringIO(data), dtype=dtype, delimiter=",", comments=None, quotechar=None, ndmin=1)
    except (ValueError, OverflowError, Warning):
        return None  # a cell that is not a number of its column's kind, or a line with another count of fields
    return [np.ascontiguousarray(table[f"c{i}"]) for i in range(ncols)]


def _bars_fast(text: str, cols: list[str], start: int, source: str) -> Optional[BarsArrays]:
    """A plain numeric bars file with nothing to report, read in one pass (None
    otherwise). Its time column must be integers (unix seconds, ms, us or ns),
    read as int64, so the timestamps are exact."""
    time_name = next(c for c in BAR_TIME_COLUMNS if c in cols)
    idx = {name: i for i, name in enumerate(cols)}
    columns = _numeric_columns(text, start, len(cols), integer_col=idx[time_name])
    if columns is None:
        return None
    ints = columns[idx[time_name]]
    mult = 1 if time_name == "ts_ns" else unit_multiplier(float(np.median(np.abs(ints))))
    if mult > 1 and bool((np.abs(ints) > INT64_MAX // mult).any()):
        return None
    ts = ints * mult
    o, h, l, c, v = (columns[idx[k]] for k in BAR_REQUIRED)
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


def longest_in_order(ts: Sequence[int]) -> list[int]:
    """Positions of the longest subsequence of ``ts`` that never decreases; of the
    longest ones, the one that takes the earliest positions. O(n log n): patience
    sorting from the end gives, for each position, the longest such run starting
    there; one pass from the front then takes the first position that can still
    complete a longest run."""
    starting = [0] * len(ts)  # longest non-decreasing run starting at each position
    tails: list[int] = []  # over -ts from the end: tails[k] = smallest last value of a run of length k + 1
    for i in range(len(ts) - 1, -1, -1):
        v = -ts[i]
        k = bisect_right(tails, v)
        if k == len(tails):
            tails.append(v)
        else:
            tails[k] = v
        starting[i] = k + 1
    out: list[int] = []
    need = len(tails)
    for i, t in enumerate(ts):
        if need == 0:
            break
        if starting[i] == need and (not out or t >= ts[out[-1]]):
            out.append(i)
            need -= 1
    return out


def _drop_out_of_order(ts: np.ndarray, keep: np.ndarray, lines: list[int], malformed: Malformed) -> np.ndarray:
    """Among the rows still kept, drop the fewest that leave the rest in time order
    (equal times allowed): see the module doc. Vectorised for the usual all-in-order
    case."""
    idx = np.flatnonzero(keep)
    if idx.size < 2:
        return keep
    kept = ts[idx]
    if np.all(kept[1:] >= kept[:-1]):
        return keep
    in_order = np.zeros(idx.size, dtype=bool)
    in_order[longest_in_order(kept.tolist())] = True
    survivors = np.flatnonzero(in_order)
    for j in np.flatnonzero(~in_order):
        k = int(idx[j])
        keep[k] = False
        p = np.searchsorted(survivors, j) - 1
        if p >= 0:
            q = int(idx[survivors[p]])
            where = f"the row kept before it, line {lines[q]}, is at {int(ts[q])}"
        else:
            q = int(idx[survivors[0]])
            where = f"the first row kept, line {lines[q]}, is at {int(ts[q])}"
        malformed.add(lines[k], f"timestamp {int(ts[k])} is out of time order ({where})")
    malformed.rows.sort()
    return keep


# --------------------------------------------------------------------------- public API


def load(path: Union[str, Path]) -> DataArrays:
    """Load a trades or bars CSV(.gz), the schema detected from its header."""
    return _parse(read_text(path), str(path))


def _parse(text: str, source: str) -> DataArrays:
    cols, start = _header(text, source)
    kind = detect_schema(cols, source)
    data = _trades_from(text, cols, start, source) if kind == "trades" else _bars_from(text, cols, start, source)
    if len(data) == 0:
        bad = data.malformed
        if not bad.count:
            raise DataFileError(f"{source}: no data rows after the header")
        line, reason = bad.rows[0]
        raise DataFileError(f"{source}: no usable rows, all {bad.count} are malformed (line {line}: {reason})")
    return data


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
    return _parse(text, source)


__all__ = [
    "BarsArrays", "DataArrays", "DataFileError", "Malformed", "TradesArrays",
    "decode_text", "detect_schema", "iso_to_ns", "iter_records", "load", "load_bars", "load_trades",
    "longest_in_order", "numeric_time_to_ns", "parse_text", "read_text", "unit_multiplier",
]
