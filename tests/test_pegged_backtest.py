"""Pegged entries in the backtester (issue 15, STRATEGY.md 14): trades files that carry
the quote prevailing before each trade hand it to the paper broker as a ``Quote``, and
the peg works as live; bars, and trades without quotes, are refused naming why."""
from __future__ import annotations

import numpy as np
import pytest

from engine.backtest.data import Dataset, load_dataset
from engine.backtest.feed import items
from engine.backtest.runner import BacktestRun, backtest_config, run_backtest
from engine.config import CockpitConfig, ConfigError
from engine.feeds.loaders import TradesArrays
from engine.model import NS_PER_MIN, NS_PER_S, OrderLeg, OrderStatus, OrderType, Quote, Trade
from tests.test_array_path import make_bars

# sma_cross on short windows, so a few minutes of trades give a signal; the peg at the mid
# (offset 0) so a working entry waits for the tape and follows the quote
PEG = {"entry_type": "pegged", "limit_offset_bps": 0.0}
FAST_SMA = {"sma_period": 2, "atr_period": 2}
RISK = {"risk_per_trade_pct": 1.0, "max_position_notional": 1e6}
T0 = 1_704_153_600 * NS_PER_S  # 2024-01-02 00:00 UTC


def pegged_config(symbols, engine=None):
    base = CockpitConfig.model_validate({"engine": {**PEG, **(engine or {})}})
    return backtest_config(base, symbols, setup="sma_cross", session="24h_utc", strategy=FAST_SMA, risk=RISK)


def trades_arrays(rows, quotes=True) -> TradesArrays:
    """(seconds from T0, price, bid, ask) rows as a trades series (NaN quotes when ``quotes`` is off)."""
    n = len(rows)
    nan = np.full(n, np.nan)
    return TradesArrays(np.array([T0 + int(r[0] * NS_PER_S) for r in rows], dtype=np.int64),
                        np.array([r[1] for r in rows], dtype=float), np.full(n, 10.0), np.ones(n, dtype=np.int8),
                        np.array([r[2] for r in rows], dtype=float) if quotes else nan,
                        np.array([r[3] for r in rows], dtype=float) if quotes else nan, source="hand-built")


def quoted(t, price, half=0.01):
    return (t, price, round(price - half, 2), round(price + half, 2))


# closes 100, 99, 98, 101 on minutes 0-3: sma_cross(2) buys at minute 3's close (the first
# trade of minute 4 closes it); then the quote widens, comes back twice, and a trade reaches the
# peg. Spreads of 2 cents at ~101 are ~2 bps, inside the default gate of 5 bps.
HAND_BUILT = [quoted(30, 100.0), quoted(90, 99.0), quoted(150, 98.0), quoted(210, 101.0),
              (240, 101.01, 100.99, 101.01),  # minute 3's quote still: the entry is placed at the mid, 101.00
              (241, 101.00, 100.95, 101.15),  # 19.8 bps > 5: pulled; this trade at 101.00 does not fill it
              (242, 101.05, 101.03, 101.05),  # back inside: re-peg 1 at 101.04; a trade at 101.05 does not fill
              (243, 101.03, 101.01, 101.03),  # re-peg 2 at 101.02; a trade at 101.03 does not fill it
              (244, 101.02, 101.01, 101.03),  # the same quote: a trade at 101.02 fills the limit at 101.02
              (245, 101.02, 101.01, 101.03), quoted(300, 101.20)]


def test_feed_hands_out_a_quote_before_each_trade_whose_quote_changed():
    ds = Dataset("trades", {"SYM": trades_arrays(HAND_BUILT)})
    out = list(items(ds, quotes=True))
    got = [(type(x).__name__, (x.ts_ns - T0) // NS_PER_S) for x in out]
    # one Quote per change (minutes 0-3, 241-243, 300), at its trade's data time, just before it
    assert got[:3] == [("Quote", 30), ("Trade", 30), ("Quote", 90)]
    quotes = [x for x in out if type(x) is Quote]
    assert [((q.ts_ns - T0) // NS_PER_S, q.bid, q.ask) for q in quotes][-4:] == [
        (241, 100.95, 101.15), (242, 101.03, 101.05), (243, 101.01, 101.03), (300, 101.19, 101.21)]
    assert len([x for x in out if type(x) is Trade]) == len(HAND_BUILT)
    # without ``quotes`` (every run but a pegged one) the items are the trades alone, as before
    assert all(type(x) is Trade for x in items(ds))


def test_hand_built_pegged_backtest_places_repegs_and_fills_at_the_known_price():
    ds = Dataset("trades", {"SYM": trades_arrays(HAND_BUILT)}, "hand-built")
    run = BacktestRun(pegged_config(["SYM"]), ds)
    res = run.run()
    pegs = [j.message for j in run.engine.journal if "peg: " in j.message]
    assert [m.split("peg: ", 1)[1].split(" (")[0] for m in pegs] == [
        "placed at 101.0000", "pulled, spread 19.8 bps > 5 bps", "re-pegged 1/5 at 101.0400",
        "re-pegged 2/5 at 101.0200"]
    entry = next(o for o in run.broker.recent_orders(100) if o.leg is OrderLeg.ENTRY)
    assert entry.type is OrderType.LIMIT and entry.status is OrderStatus.FILLED
    assert entry.limit_price == pytest.approx(101.02)
    [t] = res.trades
    assert res.items == len(HAND_BUILT)
    assert t.side == "long" and t.entry_price == pytest.approx(101.02)
    assert t.entry_ns == T0 + 244 * NS_PER_S
    # the signal's row says what the peg did last, as live
    [sig] = [d for d in run.engine.decisions if d.symbol == "SYM"]
    assert sig.decision_reason.endswith(" · peg: re-pegged 2/5 at 101.0200 (spread 2.0 bps)")


TIMES_OUT = HAND_BUILT[:5] + [(241, 101.05, 101.03, 101.05), (245, 101.06, 101.03, 101.05),
                              (251, 101.07, 101.03, 101.05), (252, 101.08, 101.03, 101.05)]


def test_pegged_entry_without_a_fill_in_its_window_goes_to_market_on_data_time():
    # the same signal; the quote moves once and no trade reaches the peg within its 10 s
    ds = Dataset("trades", {"SYM": trades_arrays(TIMES_OUT)}, "hand-built")
    run = BacktestRun(pegged_config(["SYM"]), ds)
    res = run.run()
    pegs = [j.message for j in run.engine.journal if "peg: " in j.message]
    assert any("re-pegged 1/5 at 101.0400" in m for m in pegs), pegs
    assert any("timed out (10s) after 1 re-pegs: sent at market" in m for m in pegs), pegs
    [t] = res.trades
    # placed at 240 s: the first trade past 250 s sends it to market, the next fills it
    assert t.entry_ns == T0 + 252 * NS_PER_S
    entry = next(o for o in run.broker.recent_orders(100) if o.leg is OrderLeg.ENTRY)
    assert entry.type is OrderType.MARKET and entry.status is OrderStatus.FILLED


def test_pegged_entry_without_fallback_is_cancelled_at_the_timeout_with_its_bracket():
    ds = Dataset("trades", {"SYM": trades_arrays(TIMES_OUT)}, "hand-built")
    run = BacktestRun(pegged_config(["SYM"], engine={"market_fallback": False}), ds)
    res = run.run()
    assert res.trades == []
    pegs = [j.message for j in run.engine.journal if "peg: " in j.message]
    assert any("timed out (10s) after 1 re-pegs: cancelled (market_fallback off)" in m for m in pegs), pegs
    orders = run.broker.recent_orders(100)
    assert orders and all(o.status is OrderStatus.CANCELED for o in orders)


def _btc_pegged(path):
    ds = load_dataset([str(path)])
    run = BacktestRun(pegged_config(ds.symbols), ds)
    return run, run.run()


def test_pegged_backtest_on_real_btc_trades_fills_limits_and_journals_repegs(shared_data):
    run, res = _btc_pegged(shared_data("btcusdt_perp_20240808_trades.csv"))
    pegs = [j.message for j in run.engine.journal if j.kind == "order" and "peg: " in j.message]
    assert any("peg: placed at" in m for m in pegs), pegs
    assert any("peg: re-pegged" in m for m in pegs), pegs
    entries = [o for o in run.broker.recent_orders(1000) if o.leg is OrderLeg.ENTRY
               and o.status is OrderStatus.FILLED]
    assert entries and all(o.type is OrderType.LIMIT for o in entries)
    assert res.trades
    for t, o in zip(res.trades, entries):  # each entry filled at its working peg, not at a trade's price
        assert t.entry_price == pytest.approx(o.limit_price)
    assert res.items == len(run.ds.series["BTCUSDT"])  # the quotes handed out are not counted as data rows
    assert run.feed.quotes_out > 0


def test_pegged_backtest_is_deterministic(shared_data):
    path = shared_data("btcusdt_perp_20240808_trades.csv")
    (r1, a), (r2, b) = _btc_pegged(path), _btc_pegged(path)
    assert [t.as_dict() for t in a.trades] == [t.as_dict() for t in b.trades]
    assert a.equity == b.equity
    assert [j.message for j in r1.engine.journal] == [j.message for j in r2.engine.journal]


def test_pegged_backtest_on_bars_is_refused_naming_the_reason():
    ds = Dataset("bars", {"SYM": make_bars(1, "us_equity", 2, 0.0, 0.0, False)}, "generated")
    with pytest.raises(ConfigError, match="pegged.*cannot be backtested.*bid/ask.*bars data has none"):
        run_backtest(pegged_config(["SYM"]), ds)


def test_pegged_backtest_on_trades_without_quotes_is_refused_naming_the_symbol():
    ds = Dataset("trades", {"SYM": trades_arrays(HAND_BUILT, quotes=False)})
    with pytest.raises(ConfigError, match="pegged.*trades data of SYM has none.*bid and ask columns"):
        run_backtest(pegged_config(["SYM"]), ds)


def test_market_entries_on_quoted_trades_get_no_quotes():
    ds = Dataset("trades", {"SYM": trades_arrays(HAND_BUILT)})
    run = BacktestRun(backtest_config(None, ["SYM"], setup="sma_cross", session="24h_utc", strategy=FAST_SMA,
                                      risk=RISK), ds)
    assert run.feed.quotes is False
    res = run.run()
    assert res.items == len(HAND_BUILT) and res.trades


def test_two_symbols_quotes_come_just_before_their_own_trades_in_time_order():
    a = trades_arrays([quoted(1, 100.0), quoted(3, 100.0), quoted(5, 100.5)])
    b = trades_arrays([quoted(2, 50.0), quoted(3, 50.2), quoted(4, 50.2)])
    out = list(items(Dataset("trades", {"A": a, "B": b}), quotes=True))
    got = [(type(x).__name__[0], x.symbol, (x.ts_ns - T0) // NS_PER_S) for x in out]
    assert got == [("Q", "A", 1), ("T", "A", 1), ("Q", "B", 2), ("T", "B", 2), ("T", "A", 3),
                   ("Q", "B", 3), ("T", "B", 3), ("T", "B", 4), ("Q", "A", 5), ("T", "A", 5)]


def test_a_live_replay_of_a_quoted_trades_file_pegs_as_the_backtest_does(shared_data):
    """feed.kind = replay on a trades file with bid/ask: the replay feed hands out the same
    Quotes as the backtester (feeds/quoted.py), so the same pegs, fills and journal lines."""
    import asyncio

    from engine.factory import build_engine

    path = shared_data("btcusdt_perp_20240808_trades.csv")
    run, res = _btc_pegged(path)
    data = run.config.model_dump(mode="json")
    data["feed"].update({"kind": "replay", "file": str(path), "speed": 0})
    cfg = CockpitConfig.model_validate(data)

    async def go():
        eng = build_engine(cfg, use_store=False)  # refused before: a replay had no quotes
        await eng.start()
        await eng.wait_done()
        await eng.stop()
        return eng

    live = asyncio.run(go())
    assert live.feed.quotes_out == run.feed.quotes_out > 0
    def steps(journal):  # each peg step (the order ids differ: a replay's carry its run token)
        return [j.message.split("peg: ", 1)[1] for j in journal if j.kind == "order" and "peg: " in j.message]

    pegs = steps(live.journal)
    assert pegs == steps(run.engine.journal)
    assert any("re-pegged" in m for m in pegs)
    fills = [(f.side.value, f.qty, round(f.price, 9), f.ts_ns) for f in live.fills]
    bt_fills = [(f.side.value, f.qty, round(f.price, 9), f.ts_ns) for f in run.engine.fills]
    assert fills and bt_fills[:len(fills)] == fills  # the backtest then closes what is still open at the end
    assert len(bt_fills) - len(fills) <= 1
