"""Loaders: the real files (row counts of data/README.md), schema detection,
gzip by magic bytes, timestamp formats, malformed rows with line numbers."""
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.feeds.loaders import (
    BarsArrays, DataFileError, TradesArrays, load, load_bars, load_trades, numeric_time_to_ns,
    parse_text,
)
from engine.model import Bar, Trade

HERE = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name,rows,buy_share", [
    ("btcusdt_perp_20240808_trades.csv", 21_313, 0.451),
    ("esh4_20231225_trades.csv", 2_972, 0.519),
])
def test_real_trades_files_load_with_readme_counts(shared_data, name, rows, buy_share):
    data = load(shared_data(name))
    assert isinstance(data, TradesArrays)
    assert len(data) == rows
    assert data.malformed.count == 0
    assert data.ts_ns.dtype == np.int64 and np.all(np.diff(data.ts_ns) >= 0)
    assert round(float(np.mean(data.side == 1)), 3) == buy_share
    assert set(np.unique(data.side).tolist()) == {-1, 1}
    assert np.all(data.bid <= data.ask)


def test_esh4_first_trade_is_exact(shared_data):
    data = load_trades(shared_data("esh4_20231225_trades.csv"))
    first = next(data.iter_trades("ESH4"))
    assert first == Trade("ESH4", 1703545200085275419, 4800.25, 5.0, 1, 4800.0, 4800.25)


@pytest.mark.parametrize("name,rows,first_ns,last_close", [
    ("btcusdt_perp_202201_bars_1m.csv", 45_031, 1640991660 * 10**9, 38544.0),  # 2021-12-31 23:01 UTC
    ("6eh4_202401_bars_1m.csv.gz", 29_996, 1704150060 * 10**9, None),  # 2024-01-01 23:01 UTC
])
def test_real_bars_files_load_with_readme_counts(shared_data, name, rows, first_ns, last_close):
    data = load(shared_data(name))
    assert isinstance(data, BarsArrays)
    assert len(data) == rows
    assert data.malformed.count == 0
    assert int(data.ts_ns[0]) == first_ns
    assert np.all(np.diff(data.ts_ns) > 0)
    assert np.all(data.high >= data.low)
    if last_close is not None:
        assert float(data.close[-1]) == last_close
    bar = next(data.iter_bars("X"))
    assert isinstance(bar, Bar) and bar.ts_ns == first_ns and np.isnan(bar.buy_volume)


def test_gzip_detected_by_magic_bytes_not_extension(tmp_path, shared_data):
    src = shared_data("esh4_20231225_trades.csv")
    disguised = tmp_path / "trades.csv"  # gzipped content, plain name
    disguised.write_bytes(gzip.compress(src.read_bytes()))
    plain_gz_name = tmp_path / "plain.csv.gz"  # plain content, gz name
    shutil.copy(src, plain_gz_name)
    a, b, c = load(src), load(disguised), load(plain_gz_name)
    assert len(a) == len(b) == len(c) == 2972
    assert np.array_equal(a.price, b.price) and np.array_equal(a.ts_ns, c.ts_ns)


def test_malformed_rows_are_skipped_counted_and_located():
    text = (
        "ts_ns,price,size,side,bid,ask\n"
        "1000,10.00,5,1,9.99,10.00\n"      # line 2 ok
        "2000,abc,5,1,9.99,10.00\n"        # line 3 price not a number
        "3000,10.01,5\n"                   # line 4 wrong field count
        "4000,10.01,-3,-1,10.00,10.01\n"   # line 5 size not positive
        "5000,10.02,7,x,10.01,10.02\n"     # line 6 bad side
        "6000,10.03,1,1,10.04,10.02\n"     # line 7 crossed quote
        "\n"                               # line 8 blank: ignored, not malformed
        "500,10.02,2,1,,\n"                # line 9 out of time order
        "7000,10.04,9,0,,\n"               # line 10 ok, no quote
    )
    data = parse_text(text, "t.csv")
    assert len(data) == 2
    assert data.ts_ns.tolist() == [1000, 7000]
    assert np.isnan(data.bid[1]) and data.side.tolist() == [1, 0]
    assert data.malformed.count == 6
    lines = [ln for ln, _ in data.malformed.rows]
    assert lines == [3, 4, 5, 6, 7, 9]
    reasons = dict(data.malformed.rows)
    assert "price 'abc'" in reasons[3]
    assert "expected 6 fields, got 3" in reasons[4]
    assert "size" in reasons[5]
    assert "side 'x'" in reasons[6]
    assert "crossed" in reasons[7]
    assert "out of time order" in reasons[9]
    t = list(data.iter_trades("Z"))
    assert t[1].bid is None and t[1].ask is None


def test_malformed_report_keeps_every_row():
    rows = "\n".join(f"{i},oops,1" for i in range(150))
    data = parse_text("ts_ns,price,size\n" + rows + "\n1000000,1.0,1\n")
    assert len(data) == 1
    assert data.malformed.count == 150
    assert [ln for ln, _ in data.malformed.rows] == list(range(2, 152))


def test_bad_bars_rows():
    text = (
        "timestamp_utc,open,high,low,close,volume\n"
        "2024-01-02 00:00:00,1.0,1.2,0.9,1.1,10\n"
        "2024-01-02 00:01:00,1.0,0.8,0.9,1.1,10\n"   # high < low
        "not a time,1.0,1.2,0.9,1.1,10\n"
        "2024-01-02 00:03:00,1.0,1.2,0.9,1.1,-1\n"
        "2024-01-02 00:04:00,1.0,1.2,0.9,1.1,0\n"
    )
    data = parse_text(text)
    assert len(data) == 2
    assert [ln for ln, _ in data.malformed.rows] == [3, 4, 5]


@pytest.mark.parametrize("stamp", [
    "2024-01-02T14:30:00Z", "2024-01-02 14:30:00", "2024-01-02T09:30:00-05:00", "2024-01-02 14:30:00.000000",
    "1704205800", "1704205800000", "1704205800000000", "1704205800000000000", "1704205800.0",
])
def test_bar_timestamp_formats(stamp):
    text = f"timestamp,open,high,low,close,volume\n{stamp},1,2,0.5,1.5,3\n"
    data = parse_text(text)
    assert data.ts_ns.tolist() == [1704205800 * 10**9]


def test_numeric_time_units_by_magnitude():
    base = 1_700_000_000
    for mult in (1, 10**3, 10**6, 10**9):
        got = numeric_time_to_ns(np.array([base * mult, (base + 60) * mult], dtype=np.float64))
        assert got.tolist() == [base * 10**9, (base + 60) * 10**9]


def test_unknown_schema_names_file_and_expectation(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text("when,what\n1,2\n")
    with pytest.raises(DataFileError) as err:
        load(p)
    msg = str(err.value)
    assert "odd.csv" in msg and "ts_ns,price,size" in msg and "open,high,low,close,volume" in msg


def test_wrong_kind_and_missing_file(tmp_path, shared_data):
    with pytest.raises(DataFileError, match="holds trades"):
        load_bars(shared_data("esh4_20231225_trades.csv"))
    with pytest.raises(DataFileError, match="no such data file"):
        load(tmp_path / "missing.csv")
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataFileError, match="gzipped"):
        load(bad)


def test_checked_in_slices_load():
    trades = load(HERE / "btc_slice_trades.csv")
    bars = load(HERE / "btc_slice_bars_1m.csv.gz")
    assert isinstance(trades, TradesArrays) and len(trades) == 200
    assert isinstance(bars, BarsArrays) and len(bars) == 300


@pytest.mark.parametrize("time_col,t0,step", [
    ("timestamp", 1_686_663_000, 60),  # unix seconds
    ("timestamp", 1_686_663_000_000, 60_000),  # milliseconds
    ("ts_ns", 1_686_663_000_000_000_123, 60 * 10**9),  # nanoseconds, beyond a double's exact integers
])
def test_a_plain_bars_file_is_read_in_one_call_exactly_as_row_by_row(monkeypatch, time_col, t0, step):
    """Issue 13: a plain numeric bars file (the bench's) is read by one np.loadtxt
    call with its time column as int64: timestamps exact even beyond 2**53 (ns),
    every value as the row-by-row path reads it."""
    import engine.feeds.loaders as L

    rows = [f"{t0 + k * step},{100 + k * 0.01:.4f},{100.5 + k * 0.01:.4f},{99.5 + k * 0.01:.4f},"
            f"{100.1 + k * 0.01:.4f},{1000 + k}" for k in range(50)]
    text = f"{time_col},open,high,low,close,volume\n" + "\n".join(rows) + "\n"
    cols, start = L._header(text, "<text>")
    assert L._bars_fast(text, cols, start, "<text>") is not None  # the one-call path takes it
    fast = L.parse_text(text)
    monkeypatch.setattr(L, "_bars_fast", lambda *a: None)
    slow = L.parse_text(text)
    for name in ("ts_ns", "open", "high", "low", "close", "volume"):
        assert getattr(fast, name).dtype == getattr(slow, name).dtype
        assert getattr(fast, name).tolist() == getattr(slow, name).tolist()
    assert int(fast.ts_ns[0]) == (t0 if time_col == "ts_ns" else 1_686_663_000 * 10**9)
