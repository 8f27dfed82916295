"""One absurd print (issue 12 item 2): a trade at 1e308, 10x or 1000x the price, or
one that is 0, negative, NaN, out of order or repeated, through a replay file, the
Alpaca data stream stand-in and the Polygon stand-in. The engine keeps running,
the print is counted and journaled, and the analytics are those of the same data
without it; a real gap confirmed by the prints after it is accepted. The price
band is engine/sanity.py; the profiles' own bounds engine/analytics/profile.py.
Stand-ins on 127.0.0.1 only."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.analytics.profile import MAX_PROFILE_BINS, DenseProfile, ProfileRangeError, bin_index, range_bin_dict
from engine.clock import FixedClock
from engine.config import ConfigError, PriceBandParams
from engine.factory import build_engine
from engine.model import NS_PER_S
from engine.sanity import PriceBand
from tests.factories import engine_config, minute_bar, paper_engine, trade
from tests.standins.alpaca_streams import trade_msg
from tests.standins.polygon_ws import ws_trade
from tests.alpaca_env import alpaca_feed_engine
from tests.standins.testkit import POLYGON_KEY, T0
from tests.waiting import wait_for

CLEAN = Path(__file__).resolve().parents[1] / "data" / "spy_clean_trades.csv"  # 559 SPY prints, 2024-01-10 09:30-09:50 ET
BAD_AT = 200  # the data row a bad print is put after


def _rows() -> tuple[str, list[str]]:
    header, *rows = CLEAN.read_text().splitlines()
    return header, rows


def _with_row(tmp_path: Path, make) -> Path:
    """The clean file with one row made from the row before it (``make(fields)``) after row BAD_AT."""
    header, rows = _rows()
    ts, price, size, side, bid, ask = rows[BAD_AT].split(",")
    new = make(int(ts), float(price), size, side, bid, ask)
    path = tmp_path / "trades.csv"
    path.write_text("\n".join([header, *rows[: BAD_AT + 1], new, *rows[BAD_AT + 1:]]) + "\n")
    return path


def _price(x: str):
    return lambda ts, p, size, side, bid, ask: f"{ts + 1},{x},{size},{side},{bid},{ask}"


def _times(k: float):
    return lambda ts, p, size, side, bid, ask: f"{ts + 1},{p * k:.2f},{size},{side},{bid},{ask}"


async def _replay(path: Path, **data):
    cfg = engine_config("WATCH", app={"symbols": ["SPY"]}, feed={"kind": "replay", "file": str(path), "speed": 0},
                        **({"data": data} if data else {}))
    engine = paper_engine(cfg)
    await engine.start()
    await engine.wait_done()
    await engine.tick()
    await engine.stop()
    return engine


def _fed_to_the_end(engine) -> bool:
    """The feed got through the whole file: it finished and the analytics saw the last row."""
    last_ts = int(_rows()[1][-1].split(",")[0])
    return any(j.message.startswith("replay finished: ") for j in engine.journal) \
        and engine.analytics["SPY"]._last_ts >= last_ts


@pytest.fixture(scope="module")
def clean_snapshot(tmp_path_factory):
    import asyncio

    engine = asyncio.run(_replay(CLEAN))
    assert engine.summary()["malformed"] == 0 and _fed_to_the_end(engine)
    return engine.analytics["SPY"].snapshot()


ISOLATED = {
    "1e308": _price("1e308"),
    "10x": _times(10.0),
    "1000x": _times(1000.0),
    "0.001x": _times(0.001),
    "zero": _price("0"),
    "negative": _price("-470.5"),
    "nan": _price("nan"),
    "5 s out of order": lambda ts, p, size, side, bid, ask: f"{ts - 5 * NS_PER_S},{p},{size},{side},{bid},{ask}",
}


@pytest.mark.parametrize("case", list(ISOLATED))
async def test_an_isolated_bad_print_in_a_replay_is_counted_journaled_and_leaves_the_analytics_unchanged(
        case, tmp_path, clean_snapshot):
    engine = await _replay(_with_row(tmp_path, ISOLATED[case]))
    assert _fed_to_the_end(engine), [j.message for j in engine.journal if j.level == "error"]
    assert engine.summary()["malformed"] == 1
    bad = [j for j in engine.journal if j.kind == "malformed"]
    assert len(bad) == 1 and bad[0].level == "warn"
    assert engine.analytics["SPY"].snapshot() == clean_snapshot


async def test_a_duplicate_print_is_a_trade_like_any_other(tmp_path, clean_snapshot):
    """A print repeated exactly is not told apart from a second trade of the same size
    at the same price and nanosecond (the feeds carry no trade id to the engine): it is
    applied, and the run goes on."""
    engine = await _replay(_with_row(tmp_path, lambda ts, p, size, side, bid, ask: f"{ts},{p},{size},{side},{bid},{ask}"))
    assert _fed_to_the_end(engine) and engine.summary()["malformed"] == 0
    snap = engine.analytics["SPY"].snapshot()
    assert snap.session_profile.total_volume > clean_snapshot.session_profile.total_volume
    assert snap.last == clean_snapshot.last


async def test_a_gap_confirmed_by_the_next_prints_is_accepted(tmp_path):
    """Every print from row BAD_AT on is 20% higher (a reopening after news): the band
    (default 50%: off here at 10%) skips the first two and accepts from the third."""
    header, rows = _rows()
    moved = []
    for i, r in enumerate(rows):
        ts, price, *rest = r.split(",")
        moved.append(",".join([ts, f"{float(price) * 1.2:.2f}" if i >= BAD_AT else price, *rest]))
    path = tmp_path / "gap.csv"
    path.write_text("\n".join([header, *moved]) + "\n")
    engine = await _replay(path, price_band_pct=10.0, confirm_prints=3)
    an = engine.analytics["SPY"]
    assert _fed_to_the_end(engine)
    assert engine.counters["bad_prints"] == 2 and engine.summary()["malformed"] == 2
    assert an.last == float(moved[-1].split(",")[1])
    assert any("confirmed by 3 prints" in j.message for j in engine.journal)
    assert an.snapshot().session_profile.high > 1.15 * 470


async def test_a_storm_of_bad_prints_is_counted_in_full_and_journaled_once_a_minute(tmp_path):
    header, rows = _rows()
    out = []
    for i, r in enumerate(rows):
        out.append(r)
        ts, price, size, *rest = r.split(",")
        if BAD_AT <= i < BAD_AT + 100:
            out.append(",".join([str(int(ts) + 1), "1e308", size, *rest]))
    path = tmp_path / "storm.csv"
    path.write_text("\n".join([header, *out]) + "\n")
    engine = await _replay(path)
    assert _fed_to_the_end(engine)
    assert engine.counters["bad_prints"] == 100 and engine.summary()["malformed"] == 100
    lines = [j for j in engine.journal if j.kind == "malformed"]
    assert 1 <= len(lines) <= 5  # 100 prints over ~3 minutes of data time: one line a minute at most
    assert "above the ceiling" in lines[0].message
    assert sum(j.data["count"] for j in lines) <= 100


async def test_with_the_band_off_a_huge_price_is_still_a_counted_reject(tmp_path, clean_snapshot):
    for case in ("1e308", "1000x"):
        engine = await _replay(_with_row(tmp_path, ISOLATED[case]), price_band_pct=0.0)
        assert _fed_to_the_end(engine) and engine.counters["bad_prints"] == 1, case
        assert engine.analytics["SPY"].snapshot() == clean_snapshot
    engine = await _replay(_with_row(tmp_path, ISOLATED["10x"]), price_band_pct=0.0)
    assert engine.counters["bad_prints"] == 0  # no band: 10x is within what the profiles can hold


async def test_a_bar_with_an_absurd_high_is_skipped_before_the_broker_and_the_analytics():
    engine = paper_engine(engine_config("WATCH", app={"symbols": ["SPY"]}))
    clean = paper_engine(engine_config("WATCH", app={"symbols": ["SPY"]}))
    bars = [minute_bar(i, 470 + i * 0.1, 470.5 + i * 0.1, 469.5 + i * 0.1, 470 + i * 0.1) for i in range(10)]
    bad = [minute_bar(4, 470.4, 470_000.0, 469.9, 470.4), minute_bar(4, 470.4, 1e308, 469.9, 470.4)]
    for b in bars[:4] + bad + bars[4:]:
        engine.on_data(b)
    for b in bars:
        clean.on_data(b)
    assert engine.counters["bad_prints"] == 2
    assert engine.analytics["SPY"].snapshot() == clean.analytics["SPY"].snapshot()


def test_the_band_skips_fewer_than_confirm_prints_and_follows_a_gradual_move():
    band = PriceBand(PriceBandParams(price_band_pct=50.0, confirm_prints=3))
    assert band.judge((100.0,), 0.05) == (None, False)
    for k in range(200):  # +1% a print: the reference follows
        p = 100.0 * 1.01**k
        if not band.fast_lo <= p <= band.fast_hi:
            assert band.judge((p,), 0.05) == (None, False)
    ref = band.ref
    assert band.judge((ref * 3,), 0.05)[0] is not None
    assert band.judge((ref * 3.1,), 0.05)[0] is not None  # 2 of 3
    assert band.judge((ref,), 0.05) == (None, False)  # back at the old level: the candidate is dropped
    assert band.judge((ref * 3,), 0.05)[0] is not None  # counting starts again
    assert band.judge((ref * 3,), 0.05)[0] is not None
    assert band.judge((ref * 3,), 0.05) == (None, True)
    assert band.ref == ref * 3


def test_profile_bin_maths_never_overflows_and_the_span_is_bounded():
    with pytest.raises(ProfileRangeError, match="no bin"):
        bin_index(1e308, 0.01)
    with pytest.raises(ProfileRangeError, match="no bin"):
        range_bin_dict(470.0, 1e308, 100.0, 0.01)
    prof = DenseProfile(0.25)
    prof.merge({1880: 1.0})
    with pytest.raises(ProfileRangeError, match="at most"):
        prof.merge({1880 * 1000: 1.0})  # 470 and 470,000 with 0.25 bins
    assert len(prof._h) < 1000 and prof.bins == {1880: 1.0}  # nothing added, no 1.8M-bin list
    with pytest.raises(ProfileRangeError):
        range_bin_dict(470.0, 470.0 + MAX_PROFILE_BINS * 0.25, 100.0, 0.25)
    assert math.isfinite(range_bin_dict(470.0, 480.0, 100.0, 0.25)[1880])


def test_data_section_overrides_per_symbol_and_names_a_bad_value():
    cfg = engine_config("WATCH", data={"price_band_pct": 20.0, "overrides": {"TSLA": {"price_band_pct": 80.0}}})
    assert cfg.data.for_symbol("SPY").price_band_pct == 20.0
    assert cfg.data.for_symbol("TSLA").price_band_pct == 80.0
    assert cfg.data.for_symbol("TSLA").confirm_prints == 3
    with pytest.raises(ConfigError, match="TSLA.confirm_prints"):
        engine_config("WATCH", data={"overrides": {"TSLA": {"confirm_prints": 0}}})


# --------------------------------------------------------------------------- live feeds (stand-ins)

LIVE = [190.5, 190.52, 190.49, 190.55, 190.6]
LIVE_BAD = [1e308, 190_500.0, 1905.0]  # 1e308, 1000x, 10x




async def _live_run(engine, send, prices):
    await engine.start()
    try:
        for p in prices:
            await send(p)
        await wait_for(lambda: engine.analytics["AAPL"].last == LIVE[-1]
                       and engine.analytics["AAPL"].snapshot().flow.cvd != 0, what="the last good trade")
        await engine.tick()
        assert engine.counters["bad_prints"] == len(LIVE_BAD)
        assert engine.summary()["malformed"] == len(LIVE_BAD)
        assert not any("feed failed" in j.message for j in engine.journal)
        bad = [j for j in engine.journal if j.kind == "malformed"]
        assert bad and "1e+308" in bad[0].message and bad[0].symbol == "AAPL"
        return engine.analytics["AAPL"]
    finally:
        await engine.stop()


def _mixed() -> list[float]:
    return LIVE[:2] + LIVE_BAD + LIVE[2:]


@pytest.mark.usefixtures("local_network_only")
async def test_bad_prints_from_the_alpaca_data_stream(alpaca_rest, alpaca_data_stream, monkeypatch):
    md = alpaca_data_stream
    engine = alpaca_feed_engine(alpaca_rest, md, monkeypatch)
    seq = iter(range(1, 100))

    async def send(p):
        if len(md.live) < 1:
            await md.wait_for(lambda: len(md.live) >= 1)
        n = next(seq)
        await md.send([trade_msg("AAPL", T0 + n * 1_000_000, p, 100, 1000 + n)])

    an = await _live_run(engine, send, _mixed())
    good_ts = [T0 + (i + 1) * 1_000_000 for i, p in enumerate(_mixed()) if p in LIVE]
    ref = paper_engine(engine_config("WATCH", app={"symbols": ["AAPL"]}))
    for ts, p in zip(good_ts, LIVE):
        ref.on_data(trade(p, symbol="AAPL", size=100, start_ns=ts))
    assert an.snapshot() == ref.analytics["AAPL"].snapshot()


@pytest.mark.usefixtures("local_network_only")
async def test_bad_prints_from_the_polygon_stream(polygon_ws, polygon_rest, monkeypatch):
    ws = polygon_ws
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    cfg = engine_config("WATCH", app={"symbols": ["AAPL"]}, feed={"kind": "polygon"},
                        endpoints={"polygon_ws": ws.url, "polygon_rest": polygon_rest.base_url})
    engine = build_engine(cfg, clock=FixedClock(T0), use_store=False)
    t0_ms = T0 // 1_000_000
    seq = iter(range(1, 100))

    async def send(p):
        await wait_for(lambda: engine.feed.status().connected and ws.subscribed_now() == {"T.AAPL"},
                       what="subscribed")
        n = next(seq)
        await ws.send([ws_trade("AAPL", t0_ms + n, p, 100, n)])

    an = await _live_run(engine, send, _mixed())
    good_ts = [(t0_ms + i + 1) * 1_000_000 for i, p in enumerate(_mixed()) if p in LIVE]
    ref = paper_engine(engine_config("WATCH", app={"symbols": ["AAPL"]}))
    for ts, p in zip(good_ts, LIVE):
        ref.on_data(trade(p, symbol="AAPL", size=100, start_ns=ts))
    assert an.snapshot() == ref.analytics["AAPL"].snapshot()
