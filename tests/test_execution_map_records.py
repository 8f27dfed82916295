"""The execution map's index prices as their own fields (STRATEGY.md 14): a signal and
each of its orders keep the index the setup read, its price(s) and the ratio used beside
the proxy's; stored, shown on the orders pane and the order detail, in `cockpit trades`
and --json. And a mapped backtest: reads the index, trades the proxy, each trade with
the index's prices at the ratio of its bar."""
import asyncio
import json
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cockpit import cli
from engine.backtest.data import load_dataset
from engine.backtest.runner import backtest_config, run_backtest
from engine.config import ConfigError, load_config
from engine.execution_map import index_price, to_tick, translate, with_index
from engine.model import Decision, Order, OrderLeg, OrderStatus, OrderType, Side, Signal
from engine.store import Store
from tests.factories import engine_config, run_session
from widgets.orders import index_text, reason_text


def spx_signal() -> Signal:
    return Signal("SPX-auction-1", "SPX", "auction", Side.BUY, 5000.0, 4990.0, 5025.0, 70.0, "pullback", 1)


def order(**kw) -> Order:
    base = dict(id="paper-1", client_order_id="ck-SPX-auction-1-1", symbol="SPY", side=Side.BUY,
                type=OrderType.MARKET, qty=10, status=OrderStatus.ACCEPTED, signal_id="SPX-auction-1")
    return Order(**{**base, **kw})


# --------------------------------------------------------------------------- the fields


def test_a_translated_signal_keeps_the_index_prices_and_the_ratio_as_fields():
    sig = translate(spx_signal(), "SPY", signal_last=5000.0, proxy_last=500.37)
    assert (sig.symbol, sig.entry, sig.stop, sig.target) == ("SPY", 500.37, 499.37, 502.87)
    assert (sig.index_symbol, sig.index_entry, sig.index_stop, sig.index_target) == ("SPX", 5000.0, 4990.0, 5025.0)
    assert sig.map_ratio == pytest.approx(500.37 / 5000.0)
    plain = spx_signal()
    assert plain.index_symbol == "" and plain.index_entry is None and plain.map_ratio is None


def test_each_order_of_a_mapped_signal_gets_its_own_price_in_the_index():
    sig = translate(spx_signal(), "SPY", signal_last=5000.0, proxy_last=500.37)
    r = sig.map_ratio
    # the bracket's own prices give back the setup's exact prices
    assert index_price(order(type=OrderType.LIMIT, limit_price=500.37), sig) == 5000.0
    assert index_price(order(leg=OrderLeg.STOP_LOSS, type=OrderType.STOP, stop_price=499.37), sig) == 4990.0
    assert index_price(order(leg=OrderLeg.TAKE_PROFIT, type=OrderType.LIMIT, limit_price=502.87), sig) == 5025.0
    # a market entry not filled yet: the index entry; a fill or a moved stop: price / r, on the cent
    assert index_price(order(), sig) == 5000.0
    assert index_price(order(status=OrderStatus.FILLED, filled_qty=10, avg_fill_price=500.41), sig) == \
        to_tick(500.41 / r)
    assert index_price(order(leg=OrderLeg.STOP_LOSS, type=OrderType.STOP, stop_price=500.37 + 0.05), sig) == \
        to_tick(500.42 / r)
    assert index_price(order(leg=OrderLeg.EXIT), sig) is None  # a market exit not filled: no price yet
    o = with_index(order(reason="accepted"), sig)
    assert (o.index_symbol, o.index_price, o.map_ratio) == ("SPX", 5000.0, r)
    # the orders pane and the detail show it
    assert index_text(o) == "SPX 5,000.00" and reason_text(o) == "SPX 5,000.00 · accepted"
    assert reason_text(order(reason="accepted")) == "accepted" and index_text(order()) == ""


# --------------------------------------------------------------------------- a session, stored


@pytest.fixture(scope="module")
def stored_session(tmp_path_factory):
    db = tmp_path_factory.mktemp("mapped") / "cockpit.db"
    eng = asyncio.run(run_session(engine_config("AUTO", app={"symbols": ["SPX"], "db": str(db)},
                                                execution_map={"SPX": "SPY"}), use_store=True))
    return eng, db


async def _stored(db):
    st = await Store.open(str(db))
    try:
        return await st.signals(), await st.orders()
    finally:
        await st.close()


def test_the_store_keeps_each_mapped_signal_and_order_with_its_index_prices(stored_session):
    eng, db = stored_session
    signals, orders = asyncio.run(_stored(db))
    sent = [s for s in signals if s.decision is Decision.AUTO]
    assert sent and orders
    for s in sent:
        assert s.symbol == "SPY" and s.index_symbol == "SPX"
        r = s.map_ratio
        assert 0.09 < r < 0.11  # the simulator's SPX is 10 x SPY
        for proxy, index in ((s.entry, s.index_entry), (s.stop, s.index_stop), (s.target, s.index_target)):
            assert proxy == to_tick(index * r)  # the proxy's price is the index's x r, on the cent
    by_signal = {s.id: s for s in sent}
    for o in orders:
        assert o.symbol == "SPY" and o.index_symbol == "SPX", o
        sig = by_signal[o.signal_id]
        assert o.map_ratio == pytest.approx(sig.map_ratio)
        shown = (o.avg_fill_price if o.filled_qty else o.limit_price if o.limit_price is not None
                 else o.stop_price)
        if shown is not None:  # the setup's own price, or the proxy's / r: within the proxy's half cent / r
            assert abs(o.index_price - shown / o.map_ratio) <= 0.0051 / o.map_ratio, o
    # the snapshot (orders pane) and the order detail show the same
    snap_orders = eng.snapshot().orders
    assert snap_orders and all(o.index_symbol == "SPX" and o.index_price is not None for o in snap_orders
                               if o.leg is not OrderLeg.EXIT or o.filled_qty)
    detail = eng.order_detail(snap_orders[0].id)
    assert detail.order.index_symbol == "SPX" and all(leg.index_symbol == "SPX" for leg in detail.legs)


def test_cockpit_trades_shows_the_index_prices_beside_the_proxys(stored_session, capsys):
    eng, db = stored_session
    day = datetime.fromtimestamp(eng.fills[-1].ts_ns / 1e9, ZoneInfo("America/New_York")).date()
    assert cli.main(["trades", "--date", day.isoformat(), "--db", str(db), "--json"]) == 0
    trades = json.loads(capsys.readouterr().out)["trades"]
    assert trades
    for t in trades:
        assert t["symbol"] == "SPY" and t["index_symbol"] == "SPX"
        r = t["map_ratio"]
        assert t["index_entry_price"] == pytest.approx(t["entry_price"] / r, abs=0.0051)
        assert t["index_exit_price"] == pytest.approx(t["exit_price"] / r, abs=0.0051)
    assert cli.main(["trades", "--date", day.isoformat(), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "index entry / exit" in out and "SPX " in out


# --------------------------------------------------------------------------- a mapped backtest


def test_a_mapped_backtest_reads_the_index_trades_the_proxy_at_the_bars_ratio():
    emap = {"SPX": "SPY"}
    ds = load_dataset(["synthetic:SPX:2:7"], execution_map=emap)
    assert set(ds.symbols) == {"SPX", "SPY"}
    spx, spy = ds.series["SPX"], ds.series["SPY"]
    assert list(spx.ts_ns) == list(spy.ts_ns)
    assert max(abs(a - 10 * b) for a, b in zip(spx.close.tolist(), spy.close.tolist())) < 0.006
    cfg = backtest_config(load_config(None, env={}), ds.symbols, setup="auction", execution_map=emap)
    assert cfg.app.symbols == ["SPX"] and cfg.feed_symbols == ["SPX", "SPY"]
    res = run_backtest(cfg, ds)
    assert res.trades and {t.symbol for t in res.trades} == {"SPY"}
    close = {"SPX": dict(zip(spx.ts_ns.tolist(), spx.close.tolist())),
             "SPY": dict(zip(spy.ts_ns.tolist(), spy.close.tolist()))}
    ratios = {ts: close["SPY"][ts] / close["SPX"][ts] for ts in close["SPX"]}
    for t in res.trades:
        assert t.setup == "auction" and t.index_symbol == "SPX"
        # r is the two closes of one bar (the signal's), and the index prices are the fills / r
        assert any(math.isclose(t.map_ratio, r, rel_tol=1e-12) for r in ratios.values()), t.map_ratio
        assert t.index_entry_price == to_tick(t.entry_price / t.map_ratio)
        assert t.index_exit_price == to_tick(t.exit_price / t.map_ratio)
        d = t.as_dict()
        assert d["index_symbol"] == "SPX" and d["index_entry_price"] == t.index_entry_price


def test_an_unmapped_trade_row_is_as_it_was():
    ds = load_dataset(["synthetic:SPY:1:7"])
    res = run_backtest(backtest_config(None, ds.symbols, setup="auction"), ds)
    assert res.trades and all("index_symbol" not in t.as_dict() for t in res.trades)


def test_a_map_needs_both_symbols_data(tmp_path):
    src = "tests/data/btc_slice_bars_1m.csv.gz"
    with pytest.raises(ConfigError, match=r"execution_map BTC -> ETH: the data has BTC but not ETH; .*needs "
                                          r"both symbols' data"):
        load_dataset([src], ["BTC"], execution_map={"BTC": "ETH"})
    both = load_dataset([src, src], ["BTC", "ETH"], execution_map={"BTC": "ETH"})
    assert both.symbols == ["ETH", "BTC"]  # the proxy's bar of a minute is in before the index's


def test_cockpit_backtest_with_a_map_reports_the_proxys_trades_with_the_index_prices(tmp_path, capsys):
    toml = tmp_path / "map.toml"
    toml.write_text('[execution_map]\nSPX = "SPY"\n')  # app.symbols does not list SPX: the data does
    for how in (["--config", str(toml)], ["--execution-map", "SPX=SPY"]):
        assert cli.main(["backtest", "--data", "synthetic:SPX:2:7", *how, "--setup", "auction", "--no-store",
                         "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["execution_map"] == {"SPX": "SPY"} and out["metrics"]["trades"] == len(out["trades"]) > 0
        assert {t["symbol"] for t in out["trades"]} == {"SPY"}
        assert all(t["index_symbol"] == "SPX" and t["index_entry_price"] > 4000 for t in out["trades"])
    assert cli.main(["backtest", "--data", "synthetic:SPX:2:7", "--execution-map", "SPX", "--no-store"]) == 2
    assert "--execution-map 'SPX': expected INDEX=PROXY" in capsys.readouterr().err
    assert cli.main(["sweep", "--data", "synthetic:SPX:2:7", "--config", str(toml), "--grid", "atr_stop=1,2",
                     "--no-store"]) == 2
    assert "does not run a mapped strategy yet" in capsys.readouterr().err


async def test_the_orders_pane_and_the_order_detail_show_the_index_price(tmp_path):
    import dataclasses

    from cockpit.screens import OrderDetailScreen
    from tests.ui_fixtures import FixedEngine, busy_book_snapshot, fixed_app
    from widgets.base import SyncTable

    snap = busy_book_snapshot(open_n=1, closed_n=0)
    mapped = dataclasses.replace(snap.orders[0], index_symbol="SPX", index_price=5012.3, map_ratio=0.100012)
    snap = dataclasses.replace(snap, orders=(mapped,))
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#orders-table", SyncTable)
        assert table.get_cell(mapped.id, "reason").plain.startswith("SPX 5,012.30")
        table.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, OrderDetailScreen)
        assert dict(app.screen.rows)["index price"] == f"SPX 5,012.30  (r = 0.100012, {mapped.symbol} / SPX)"


async def test_the_signal_detail_shows_what_the_setup_read_on_the_index(tmp_path):
    import dataclasses

    from cockpit.screens import SignalDetailScreen
    from tests.ui_fixtures import FixedEngine, fixed_app, pending_snapshot
    from widgets.base import SyncTable

    snap = pending_snapshot(1)
    sig = dataclasses.replace(snap.pending[0], index_symbol="SPX", index_entry=5000.0, index_stop=4990.0,
                              index_target=5025.0, map_ratio=0.100074)
    snap = dataclasses.replace(snap, pending=(sig,))
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#pending-table", SyncTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, SignalDetailScreen)
        assert dict(app.screen.rows)["SPX (read)"] == "5,000.00 / 4,990.00 / 5,025.00  (r = 0.100074)"
