"""`cockpit import` (csv, polygon REST, polygon flat files, alpaca) into the
store, and `cockpit doctor`, against local stand-ins only. A guard refuses any
name lookup that is not 127.0.0.1/localhost."""
from __future__ import annotations

import asyncio
import gzip
import json
import math
from pathlib import Path

import pytest

from cockpit.cli import main
from engine.importers import trades_to_candles
from engine.importers.csv_import import import_csv
from engine.importers.flatfiles import import_flat_files
from engine.model import NS_PER_MIN
from tests.standins.polygon_rest import rest_agg, rest_trade
from tests.standins.testkit import KEY_ID, POLYGON_KEY, SECRET

M0 = 1_709_649_000 * 10**9  # 2024-03-05 14:30:00 UTC = 09:30 ET, a minute boundary
S = 10**9

pytestmark = pytest.mark.usefixtures("local_network_only")


@pytest.fixture(autouse=True)
def no_provider_env(monkeypatch):
    """Keys and URL overrides come only from what each test sets."""
    for name in ("POLYGON_API_KEY", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "COCKPIT_POLYGON_URL",
                 "COCKPIT_POLYGON_WS_URL", "COCKPIT_ALPACA_URL", "COCKPIT_ALPACA_DATA_URL"):
        monkeypatch.delenv(name, raising=False)


def trades_csv(path: Path, rows: list[tuple[int, float, float]]) -> Path:
    path.write_text("ts_ns,price,size\n" + "".join(f"{t},{p},{s}\n" for t, p, s in rows))
    return path


# three minutes of trades: prices move so the tick rule classifies them
TRADES = [
    (M0 + 1 * S, 100.00, 10), (M0 + 2 * S, 100.05, 20), (M0 + 3 * S, 100.02, 5),   # minute 0
    (M0 + 61 * S, 100.10, 7), (M0 + 62 * S, 100.10, 3),                           # minute 1
    (M0 + 125 * S, 99.90, 40),                                                    # minute 2
]


async def test_csv_trades_import_twice_adds_nothing_twice(tmp_path, store):
    f = trades_csv(tmp_path / "t.csv", TRADES)
    r1 = await import_csv(store, f, "abc", bin_size=0.05)
    assert (r1.rows, r1.candles, r1.added, r1.replaced, r1.malformed) == (6, 3, 3, 0, 0)
    r2 = await import_csv(store, f, "ABC", bin_size=0.05)
    assert (r2.candles, r2.added, r2.replaced) == (3, 0, 3)
    assert await store.count("candles") == 3
    bars = await store.load_bars("ABC", M0, M0 + 3 * NS_PER_MIN)
    b0 = bars[0]
    assert (b0.ts_ns, b0.open, b0.high, b0.low, b0.close, b0.volume, b0.trades) == (M0, 100.0, 100.05, 100.0, 100.02, 35, 3)
    # tick rule: first trade unknown, 100.05 up-tick = buy, 100.02 down-tick = sell
    assert (b0.buy_volume, b0.sell_volume) == (20, 5)
    assert math.isclose(b0.vwap, (100 * 10 + 100.05 * 20 + 100.02 * 5) / 35)
    assert sum(v for _, v in b0.vap) == 35
    b1 = bars[1]
    assert (b1.buy_volume, b1.sell_volume) == (10, 0)  # up-tick then zero-tick keeps "buy"
    assert (bars[2].ts_ns, bars[2].sell_volume) == (M0 + 2 * NS_PER_MIN, 40)


def test_malformed_row_reported_by_line_number(tmp_path, capsys):
    f = tmp_path / "bad.csv"
    f.write_text("ts_ns,price,size\n"
                 f"{M0 + S},100,5\n"
                 f"{M0 + 2 * S},abc,5\n"       # line 3
                 f"{M0 + 3 * S},100.1\n"        # line 4: missing a field
                 f"{M0 + 4 * S},100.2,7\n")
    rc = main(["import", "csv", str(f), "--symbol", "XYZ", "--db", str(tmp_path / "m.db"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "line 3: price 'abc' is not a number" in out
    assert "line 4: expected 3 fields, got 2" in out
    assert "2 malformed rows skipped" in out
    rc = main(["import", "csv", str(f), "--symbol", "XYZ", "--db", str(tmp_path / "m.db"), "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["added"] == 0 and rep["replaced"] == 1
    assert rep["malformed_rows"] == [{"line": 3, "reason": "price 'abc' is not a number"},
                                     {"line": 4, "reason": "expected 3 fields, got 2"}]


def test_import_csv_bars_and_a_missing_file(tmp_path, capsys):
    f = tmp_path / "bars.csv"
    f.write_text("timestamp,open,high,low,close,volume\n2024-03-05 14:30:00,10,11,9,10.5,100\n"
                 "2024-03-05 14:31:00,10.5,10.6,10.1,10.2,50\n")
    db = str(tmp_path / "b.db")
    assert main(["import", "csv", str(f), "--symbol", "B", "--db", db, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["candles"], rep["added"], rep["first_ns"]) == (2, 2, M0)
    assert main(["import", "csv", str(tmp_path / "nope.csv"), "--symbol", "B", "--db", db]) == 1
    assert "no such data file" in capsys.readouterr().err


async def test_flat_files_trades_and_minute_aggs(tmp_path, store):
    trades = tmp_path / "2024-03-05.csv.gz"
    head = "ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp\n"
    rows = [
        f'AAPL,"12,37",0,4,1,{M0 + S - 500},170.00,10,{M0 + S},100,3,,\n',
        f'MSFT,"12",0,11,1,{M0 + S},410.00,11,{M0 + S},5,3,,\n',          # other ticker: skipped
        f'AAPL,"37",0,11,2,{M0 + 2 * S},170.10,12,{M0 + 2 * S},50,3,,\n',
        f'AAPL,"12",12,11,3,{M0 + 3 * S},999.00,13,{M0 + 3 * S},9,3,,\n',  # corrected print: skipped
        f'AAPL,"12",0,11,4,{M0 + 4 * S},oops,14,{M0 + 4 * S},9,3,,\n',     # line 6: malformed
        f'AAPL,"12",0,11,5,{M0 + 65 * S},169.90,15,{M0 + 65 * S},30,3,,\n',
    ]
    with gzip.open(trades, "wt") as fh:
        fh.write(head + "".join(rows))
    aggs = tmp_path / "2024-03-05-minute.csv.gz"
    with gzip.open(aggs, "wt") as fh:
        fh.write("ticker,volume,open,close,high,low,window_start,transactions\n"
                 f"QQQ,1200,440.1,440.5,440.9,439.8,{M0},35\n"
                 f"QQQ,800,440.5,440.2,440.6,440.0,{M0 + NS_PER_MIN},20\n")
    rep = await import_flat_files(store, [trades], symbols=["AAPL"], bin_size=0.05)
    assert (rep.rows, rep.candles, rep.added, rep.skipped, rep.malformed) == (3, 2, 2, 2, 1)
    assert rep.malformed_rows[0][0] == 6 and "not a number" in rep.malformed_rows[0][1]
    bars = await store.load_bars("AAPL", M0, M0 + 2 * NS_PER_MIN)
    assert [(b.ts_ns, b.open, b.high, b.close, b.volume, b.buy_volume) for b in bars] == [
        (M0, 170.0, 170.1, 170.1, 150, 50), (M0 + NS_PER_MIN, 169.9, 169.9, 169.9, 30, 0)]
    rep2 = await import_flat_files(store, [aggs])
    assert (rep2.candles, rep2.added) == (2, 2)
    q = await store.load_bars("QQQ", M0, M0 + 2 * NS_PER_MIN)
    assert (q[0].close, q[0].trades, q[1].volume) == (440.5, 35, 800)
    assert math.isnan(q[0].buy_volume)  # bars carry no flow: BVC fills it in later
    again = await import_flat_files(store, [trades, aggs], symbols=["AAPL", "QQQ"], bin_size=0.05)
    assert (again.added, again.replaced) == (0, 4)
    assert await store.count("candles") == 4


async def test_polygon_rest_import_pages_and_reports_a_symbol_not_entitled(tmp_path, monkeypatch, capsys,
                                                                        polygon_rest):
    polygon_rest.add_trades("SPY", [rest_trade(M0 + i * 7 * S, 500 + (i % 5) * 0.01, 10 + i, i) for i in range(40)])
    polygon_rest.add_aggs("QQQ", [rest_agg(M0 // 10**6 + i * 60_000, 440, 441, 439, 440.5, 100 + i) for i in range(5)])
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    monkeypatch.setenv("COCKPIT_POLYGON_URL", polygon_rest.base_url)
    db = str(tmp_path / "p.db")
    args = ["import", "polygon", "--symbols", "SPY", "--start", "2024-03-05", "--end", "2024-03-05",
            "--timeframe", "trades", "--db", db, "--json"]
    rc = await asyncio.to_thread(main, args)
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["rows"] == 40 and rep["candles"] == 5 and rep["added"] == 5  # 40 trades x 7 s
    first = polygon_rest.requests_to("/v3/trades/SPY")[0]
    assert first.query["limit"] == ["50000"] and first.query["order"] == ["asc"]
    # the New York day, in ns
    assert first.query["timestamp.gte"] == [str(1_709_614_800 * S)]
    rc = await asyncio.to_thread(main, args)
    assert rc == 0 and json.loads(capsys.readouterr().out)["added"] == 0
    rc = await asyncio.to_thread(main, ["import", "polygon", "--symbols", "QQQ,XYZ", "--start", "2024-03-05",
                                        "--end", "2024-03-05", "--db", db, "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 1 and rep["symbols"] == ["QQQ"] and rep["added"] == 5
    assert rep["errors"] and rep["errors"][0].startswith("XYZ: this key is not entitled")


def test_trades_to_candles_uses_the_true_side_when_known():
    bars = trades_to_candles("X", [M0, M0 + S], [10.0, 9.0], [1.0, 2.0], side=[-1, 1], bin_size=0.5)
    assert (bars[0].buy_volume, bars[0].sell_volume) == (2.0, 1.0)


async def test_alpaca_import_through_the_alpaca_stand_in(tmp_path, monkeypatch, capsys, alpaca_rest):
    alpaca_rest.page_size = 3
    alpaca_rest.add_trades("SPY", [(M0 + i * 20 * S, 500 + i * 0.01, 5, i) for i in range(10)])
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("COCKPIT_ALPACA_DATA_URL", alpaca_rest.url)
    args = ["import", "alpaca", "--symbols", "SPY", "--start", "2024-03-05", "--end", "2024-03-05",
            "--timeframe", "trades", "--db", str(tmp_path / "a.db"), "--json"]
    rc = await asyncio.to_thread(main, args)
    out = capsys.readouterr().out
    rep = json.loads(out)
    assert rc == 0 and rep["rows"] == 10 and rep["candles"] == 4  # 10 trades, 20 s apart
    assert len(alpaca_rest.requests_to("GET", "/v2/stocks/trades")) == 4  # pages of 3
    assert SECRET not in out and KEY_ID not in out


# --------------------------------------------------------------------------- doctor


async def test_doctor_against_polygon_stand_ins(monkeypatch, capsys, polygon_rest, polygon_ws):
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    monkeypatch.setenv("COCKPIT_POLYGON_URL", polygon_rest.base_url)
    monkeypatch.setenv("COCKPIT_POLYGON_WS_URL", polygon_ws.url)
    rc = await asyncio.to_thread(main, ["doctor", "--only", "polygon", "--symbols", "SPY,QQQ", "--timeout", "2", "--json"])
    out = capsys.readouterr().out
    rep = json.loads(out)
    assert rc == 0 and rep["ok"] is True
    assert [c["name"] for c in rep["checks"]] == ["key", "REST API", "trade data", "stream"]
    assert POLYGON_KEY not in out
    rc = await asyncio.to_thread(main, ["doctor", "--only", "polygon", "--symbols", "SPY,XYZ", "--timeout", "2"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "[FAIL] polygon trade data" in out and "XYZ" in out and "upgrade the plan" in out
    assert "[FAIL] polygon stream: subscription refused for XYZ" in out
    assert POLYGON_KEY not in out
    # a wrong key: refused by REST, plain-language fix, the key never shown
    monkeypatch.setenv("POLYGON_API_KEY", "PGwrongKeyValue55555")
    rc = await asyncio.to_thread(main, ["doctor", "--only", "polygon", "--timeout", "2"])
    out = capsys.readouterr().out
    assert rc == 1 and "refused the key" in out and "copy the key again" in out
    assert "PGwrongKeyValue55555" not in out


def test_doctor_with_keys_missing_says_how_to_fix_and_never_prints_keys(monkeypatch, capsys):
    # only half of the Alpaca pair set, and no Polygon key
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    rc = main(["doctor", "--json"])
    out = capsys.readouterr().out
    rep = json.loads(out)
    assert rc == 1 and rep["ok"] is False
    by = {(c["provider"], c["name"]): c for c in rep["checks"]}
    assert "APCA_API_SECRET_KEY is not set" in by[("alpaca", "keys")]["detail"]
    assert by[("polygon", "key")]["fix"].startswith("export POLYGON_API_KEY=")
    assert KEY_ID not in out
    rc = main(["doctor", "--only", "polygon"])
    out = capsys.readouterr().out
    assert rc == 1 and "POLYGON_API_KEY is not set" in out and "fix: export POLYGON_API_KEY" in out


async def test_doctor_against_alpaca_and_polygon_stand_ins(monkeypatch, capsys, alpaca_rest, alpaca_data_stream,
                                                          polygon_rest, polygon_ws, local_network_only):
    for k, v in (("APCA_API_KEY_ID", KEY_ID), ("APCA_API_SECRET_KEY", SECRET),
                 ("COCKPIT_ALPACA_URL", alpaca_rest.url), ("COCKPIT_ALPACA_DATA_URL", alpaca_rest.url),
                 ("COCKPIT_ALPACA_STREAM_URL", alpaca_data_stream.url + "/v2/iex"),
                 ("POLYGON_API_KEY", POLYGON_KEY), ("COCKPIT_POLYGON_URL", polygon_rest.base_url),
                 ("COCKPIT_POLYGON_WS_URL", polygon_ws.url)):
        monkeypatch.setenv(k, v)
    rc = await asyncio.to_thread(main, ["doctor", "--timeout", "2"])
    out = capsys.readouterr().out
    assert "all checks passed" in out, out
    assert rc == 0
    assert "[ok  ] alpaca account" in out and "[ok  ] polygon stream" in out
    assert "[ok  ] alpaca data stream" in out
    for secret in (KEY_ID, SECRET, POLYGON_KEY):
        assert secret not in out
