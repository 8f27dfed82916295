"""The execution map (STRATEGY.md 14): the setup reads SPX, the order goes to SPY at
SPX's prices x (SPY last / SPX last), rounded to the cent, sized on SPY."""
import asyncio
import math

import pytest

from engine.config import ConfigError, load_config
from engine.execution_map import map_ratio, to_tick, translate
from engine.factory import build_feed
from engine.clock import FixedClock
from engine.feeds.synthetic import SyntheticFeed
from engine.model import Decision, Side, Signal
from tests.factories import engine_config, run_session


def spx_signal(entry=5000.0, stop=4990.0, target=5025.0, side=Side.BUY) -> Signal:
    return Signal("SPX-auction-1", "SPX", "auction", side, entry, stop, target, 70.0, "pullback to LVN", 1)


# --------------------------------------------------------------------------- translation and rounding


def test_prices_are_translated_by_the_ratio_and_rounded_to_the_proxy_tick():
    sig = translate(spx_signal(), "SPY", signal_last=5000.0, proxy_last=500.37)
    # r = 500.37 / 5000 = 0.100074
    assert sig.symbol == "SPY"
    assert sig.entry == 500.37
    assert sig.stop == 499.37  # 4990 x r = 499.369...
    assert sig.target == 502.87  # 5025 x r = 502.871...
    assert sig.r_multiple == pytest.approx((502.87 - 500.37) / (500.37 - 499.37))
    # both prices are shown: the setup's on SPX and the order's on SPY
    assert sig.reason.startswith("[SPX 5000.00 -> SPY 500.37] pullback to LVN")
    assert "SPX entry 5000.00 stop 4990.00 target 5025.00 -> SPY entry 500.37 stop 499.37 target 502.87" in sig.reason
    assert sig.id == "SPX-auction-1" and sig.side is Side.BUY and sig.confidence == 70.0


def test_a_short_translates_the_same_way():
    sig = translate(spx_signal(entry=4321.0, stop=4331.5, target=4300.25, side=Side.SELL), "SPY",
                    signal_last=4320.0, proxy_last=432.55)
    r = 432.55 / 4320.0
    assert (sig.entry, sig.stop, sig.target) == (round(4321.0 * r, 2), round(4331.5 * r, 2), round(4300.25 * r, 2))
    assert sig.stop > sig.entry > sig.target


def test_rounding_to_the_tick_is_half_up_in_decimal():
    assert to_tick(1.005) == 1.01  # the float 1.005 is 1.00499...; a cent price rounds as written
    assert to_tick(2.675) == 2.68
    assert to_tick(500.3649) == 500.36
    assert to_tick(12.3, tick=0.05) == 12.3
    assert to_tick(12.33, tick=0.05) == 12.35


def test_no_ratio_without_both_prices():
    assert map_ratio(float("nan"), 500.0) is None
    assert map_ratio(5000.0, 0.0) is None
    assert translate(spx_signal(), "SPY", 5000.0, float("nan")) is None
    assert map_ratio(5000.0, 500.0) == pytest.approx(0.1)


# --------------------------------------------------------------------------- config


def cfg(**overrides):
    return load_config(None, overrides=overrides, env={})


def test_the_map_is_read_and_the_proxy_is_subscribed():
    c = cfg(app={"symbols": ["SPX", "NDX", "AAPL"]}, execution_map={"spx": "spy", "NDX": "QQQ"})
    assert c.execution_map == {"SPX": "SPY", "NDX": "QQQ"}
    assert c.feed_symbols == ["SPX", "NDX", "AAPL", "SPY", "QQQ"]
    # a proxy already traded is subscribed once
    assert cfg(app={"symbols": ["SPX", "SPY"]}, execution_map={"SPX": "SPY"}).feed_symbols == ["SPX", "SPY"]
    assert cfg().execution_map == {} and cfg().feed_symbols == cfg().app.symbols


@pytest.mark.parametrize("symbols, mapping, words", [
    (["SPY"], {"SPX": "SPY"}, ["execution_map.SPX", "not in app.symbols"]),
    (["SPX"], {"SPX": "SPX"}, ["execution_map.SPX", "its own proxy"]),
    (["SPX", "SPY"], {"SPX": "SPY", "SPY": "VOO"}, ["execution_map.SPX", "itself mapped"]),
    (["SPX"], {"SPX": "S P Y"}, ["execution_map.SPX", "is not a symbol"]),
])
def test_a_bad_map_names_the_key(symbols, mapping, words):
    with pytest.raises(ConfigError) as err:
        cfg(app={"symbols": symbols}, execution_map=mapping)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_live_feeds_subscribe_to_the_symbols_and_their_proxies(monkeypatch, local_network_only):
    monkeypatch.setenv("POLYGON_API_KEY", "test-key-not-real")
    c = cfg(app={"symbols": ["SPX", "NDX"]}, execution_map={"SPX": "SPY", "NDX": "QQQ"}, feed={"kind": "polygon"})
    feed = build_feed(c, FixedClock(0))
    assert feed.symbols == ["SPX", "NDX", "SPY", "QQQ"]
    monkeypatch.setenv("APCA_API_KEY_ID", "test-id-not-real")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "test-secret-not-real")
    feed = build_feed(c.model_copy(update={"feed": c.feed.model_copy(update={"kind": "alpaca"})}), FixedClock(0))
    assert feed.symbols == ["SPX", "NDX", "SPY", "QQQ"]


# --------------------------------------------------------------------------- the simulator


def test_the_simulated_index_moves_with_its_proxy():
    feed = SyntheticFeed(symbols=("SPX", "SPY"), index_of={"SPX": "SPY"})
    s = feed.sessions()
    spx, spy = s["SPX"].trades, s["SPY"].trades
    assert list(spx.ts_ns) == list(spy.ts_ns)
    assert max(abs(a - 10 * b) for a, b in zip(spx.price.tolist(), spy.price.tolist())) < 0.006


def test_without_a_map_the_simulator_is_unchanged():
    plain = SyntheticFeed(symbols=("SPY", "QQQ")).sessions()
    mapped = SyntheticFeed(symbols=("SPY", "QQQ", "SPX"), index_of={"SPX": "SPY"}).sessions()
    for sym in ("SPY", "QQQ"):
        assert plain[sym].trades.price.tolist() == mapped[sym].trades.price.tolist()


# --------------------------------------------------------------------------- a seeded session


@pytest.fixture(scope="module")
def mapped_session():
    return asyncio.run(run_session(engine_config("AUTO", app={"symbols": ["SPX"]}, execution_map={"SPX": "SPY"})))


def test_a_seeded_session_reads_spx_and_trades_spy(mapped_session):
    eng = mapped_session
    assert eng.setups["SPY"] == []  # SPY is there for the orders, not read by setups
    assert eng.fills and {f.symbol for f in eng.fills} == {"SPY"}
    orders = eng.broker.recent_orders(10_000)
    assert orders and {o.symbol for o in orders} == {"SPY"}
    sent = [d for d in eng.decisions if d.decision is Decision.AUTO]
    assert sent
    for sig in sent:
        assert sig.symbol == "SPY"
        assert "-> SPY" in sig.reason and "execution_map SPX -> SPY" in sig.reason
        for price in (sig.entry, sig.stop, sig.target):
            assert price == round(price, 2)
            assert 400 < price < 700  # SPY's prices, not SPX's
        # qty sized on SPY's prices: risk is qty x SPY's stop distance
        assert sig.qty > 0
        assert sig.risk_usd == pytest.approx(sig.qty * abs(sig.entry - sig.stop), rel=1e-6, abs=0.02)
    assert eng.summary()["open_positions"] == 0


def test_a_mapped_run_takes_the_engine_and_says_why():
    from engine.backtest.array_support import unsupported
    from engine.backtest.data import load_dataset
    from engine.backtest.runner import backtest_config

    ds = load_dataset(["synthetic:BTC:2:7"], None, None, None, False, None)
    base = load_config(None, overrides={"app": {"mode": "AUTO", "symbols": ["BTC"]},
                                        "execution_map": {"BTC": "ETH"}}, env={})
    mapped = backtest_config(base, ds.symbols, setup="sma_cross")
    assert "execution map (BTC -> ETH)" in unsupported(mapped, ds)
    plain = backtest_config(load_config(None, overrides={"app": {"mode": "AUTO"}}, env={}), ds.symbols,
                            setup="sma_cross")
    assert unsupported(plain, ds) == ""
