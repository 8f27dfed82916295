"""The numpy batch path and the incremental SymbolAnalytics give the same numbers
for every bar: both real trades files through analyze_trades_arrays vs on_trade,
and the real BTC one-minute bars through analyze_bars_arrays vs on_bar. The two
paths perform the same floating point operations in the same order, so the
comparison is exact (NaN == NaN)."""
import numpy as np
import pytest

from engine.analytics.batch import analyze_bars_arrays, analyze_trades_arrays, session_profile_from_arrays
from engine.analytics.session import SessionCalendar
from engine.analytics.state import STATE_CODES
from engine.analytics.symbol import SymbolAnalytics
from engine.config import StrategyParams
from engine.model import NS_PER_MIN, Bar, Side, Trade


COLUMNS = ("ts", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "delta", "cvd", "atr", "vwap",
           "momentum", "volume_ratio", "poc", "vah", "val", "state", "distance", "aggression", "direction",
           "cvd_change", "buy_pressure", "sell_pressure", "pressure_ratio")


def row(an: SymbolAnalytics, bar: Bar) -> tuple:
    s = an.snapshot()
    r = s.rolling
    f = s.flow
    return (bar.ts_ns, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.buy_volume, bar.sell_volume,
            bar.buy_volume - bar.sell_volume, f.cvd, s.atr, s.vwap, s.momentum, f.volume_ratio,
            r.poc if r else np.nan, r.vah if r else np.nan, r.val if r else np.nan, STATE_CODES[s.state],
            s.distance_from_poc_pct, f.aggression, 1 if f.direction is Side.BUY else -1, f.cvd_change,
            f.buy_pressure, f.sell_pressure, f.pressure_ratio)


def compare(rows: list[tuple], res: dict) -> None:
    got = np.array(rows, dtype=np.float64)
    assert got.shape[0] == res["ts"].size
    for k, name in enumerate(COLUMNS):
        np.testing.assert_array_equal(got[:, k], res[name].astype(np.float64), err_msg=name)


@pytest.mark.parametrize("name, kind, use_side", [
    ("esh4_20231225_trades.csv", "24h_chicago", False),
    ("esh4_20231225_trades.csv", "24h_chicago", True),
    ("btcusdt_perp_20240808_trades.csv", "24h_utc", False),
])
def test_trades_batch_equals_incremental(shared_data, name, kind, use_side):
    d = np.genfromtxt(shared_data(name), delimiter=",", names=True)
    params = StrategyParams(lookback_minutes=10, atr_period=5, momentum_bars=3, volume_ratio_bars=10, bvc_window=10)
    cal = SessionCalendar(kind)
    ts = d["ts_ns"].astype(np.int64)
    side = d["side"].astype(np.int64) if use_side else None
    res = analyze_trades_arrays(ts, d["price"], d["size"], side, d["bid"], d["ask"], params, cal)
    an = SymbolAnalytics("X", params, cal)
    rows = []
    sides = side.tolist() if use_side else [0] * ts.size
    for t, p, s, sd, b, a in zip(ts.tolist(), d["price"].tolist(), d["size"].tolist(), sides,
                                 d["bid"].tolist(), d["ask"].tolist()):
        closed = an.close_until(t - t % NS_PER_MIN)  # close first so the snapshot has no open bar
        if closed is not None:
            rows.append(row(an, closed))
        assert an.on_trade(Trade("X", t, p, s, sd, b, a)) is None
    rows.append(row(an, an.close_until(int(ts[-1]) + NS_PER_MIN)))
    compare(rows, res)
    assert res["rejected"].size == 0 and float(res["bin_size"]) == an.bin_size
    assert len(rows) > 5
    # the session profile from arrays equals the developing profile
    assert session_profile_from_arrays(ts, d["price"], d["size"], params, cal) == an.snapshot().session_profile


def test_trades_batch_skips_malformed_like_incremental():
    ts = np.array([60, 61, 62, 63, 64, 65], dtype=np.int64) * 1_000_000_000 + 1_700_000_000 * 1_000_000_000
    ts[3] -= 5 * 1_000_000_000  # 5 s back: rejected
    price = np.array([10.0, np.nan, 10.1, 10.2, -1.0, 10.0])
    size = np.array([1.0, 1.0, 0.0, 2.0, 1.0, 3.0])
    res = analyze_trades_arrays(ts, price, size, calendar=SessionCalendar("24h_utc"))
    assert res["rejected"].tolist() == [1, 2, 3, 4]
    assert res["volume"].tolist() == [4.0]
    an = SymbolAnalytics("X", StrategyParams(), SessionCalendar("24h_utc"))
    for t, p, s in zip(ts.tolist(), price.tolist(), size.tolist()):
        an.on_trade(Trade("X", t, p, s))
    assert an.malformed == 4


def test_bars_batch_equals_incremental_on_real_btc_bars(shared_data):
    path = shared_data("btcusdt_perp_202201_bars_1m.csv")
    raw = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    ts = np.array(raw["timestamp"], dtype="datetime64[ns]").astype(np.int64)
    o, h, lo, c, v = (raw[k].astype(np.float64) for k in ("open", "high", "low", "close", "volume"))
    params = StrategyParams()
    cal = SessionCalendar("24h_utc")
    res = analyze_bars_arrays(ts, o, h, lo, c, v, params, cal)
    assert res["rejected"].size == 0 and res["ts"].size == ts.size
    an = SymbolAnalytics("BTC", params, cal)
    rows = []
    for bar in zip(ts.tolist(), o.tolist(), h.tolist(), lo.tolist(), c.tolist(), v.tolist()):
        rows.append(row(an, an.on_bar(Bar("BTC", *bar))))
    compare(rows, res)
    # the run covers many sessions and every state
    assert res["session"][-1] >= 30
    assert set(res["state"].tolist()) == {-1, 0, 1}
    assert (res["aggression"] >= 70).any()
