"""Look-ups without a run: `cockpit config effective`, `cockpit preview bracket|risk`,
`cockpit orders cancel-stale` (at an Alpaca stand-in on 127.0.0.1)."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from cockpit.cli import main
from engine.config import RiskConfig
from engine.config_sources import Layers, effective
from engine.model import NS_PER_S, Account, Bar, Order, OrderLeg, OrderStatus, OrderType, Side
from engine.preview import PreviewError, bracket, risk
from engine.stale_orders import sort_stale
from engine.store.sync import open_sync
from tests.standins.alpaca_rest import AlpacaRestStandIn
from tests.standins.alpaca_streams import TradingStreamStandIn
from tests.standins.testkit import KEY_ID, SECRET, T0

MIN = 60 * NS_PER_S


def test_every_value_names_its_source(tmp_path):
    toml = tmp_path / "cockpit.toml"
    toml.write_text('[risk]\nmax_positions = 5\n[strategy]\natr_stop = 1.2\n'
                    '[strategy.overrides.TSLA]\natr_stop = 2.0\n')
    layers = Layers.load(toml, {"COCKPIT_ENGINE__SIGNAL_TTL_S": "30", "COCKPIT_POLYGON_URL": "http://127.0.0.1:1"},
                         {"app": {"mode": "AUTO"}})
    got = {v.key: v for v in effective(layers, "TSLA", stored=(True, {"min_aggression": 60.0}))}
    assert (got["app.mode"].value, got["app.mode"].source) == ("AUTO", "flag")
    assert (got["engine.signal_ttl_s"].value, got["engine.signal_ttl_s"].source) == (30.0, "env")
    assert got["engine.signal_ttl_s"].detail == "COCKPIT_ENGINE__SIGNAL_TTL_S"
    assert (got["endpoints.polygon_rest"].source, got["endpoints.polygon_rest"].detail) == ("env", "COCKPIT_POLYGON_URL")
    assert (got["risk.max_positions"].value, got["risk.max_positions"].source) == (5, "file")
    assert (got["strategy.atr_stop"].value, got["strategy.atr_stop"].source) == (2.0, "file")
    assert got["strategy.atr_stop"].detail.startswith("strategy.overrides.TSLA")
    assert (got["strategy.min_aggression"].value, got["strategy.min_aggression"].source) == (60.0, "store")
    assert (got["risk.max_daily_loss_pct"].value, got["risk.max_daily_loss_pct"].source) == (2.0, "default")
    assert "strategy.overrides" not in got
    # another symbol trades the file's [strategy] value
    assert {v.key: v for v in effective(layers, "SPY")}["strategy.atr_stop"].value == 1.2


def test_config_effective_reads_the_store_and_hides_the_webhook(tmp_path, capsys, monkeypatch):
    db = tmp_path / "c.db"
    with open_sync(str(db)) as st:
        st.set_strategy_config("AAPL", False, {"atr_target": 4.0})
    toml = tmp_path / "cockpit.toml"
    toml.write_text('[notify]\nwebhook_url = "https://hooks.example/T0KEN123"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["config", "effective", "--symbol", "aapl", "--db", str(db), "--json"]) == 0
    out = capsys.readouterr().out
    values = {v["key"]: v for v in json.loads(out)["values"]}
    assert (values["strategy.atr_target"]["value"], values["strategy.atr_target"]["source"]) == (4.0, "store")
    assert (values["strategy.enabled"]["value"], values["strategy.enabled"]["source"]) == (False, "store")
    assert (values["app.db"]["source"], values["notify.webhook_url"]["value"]) == ("flag", "(set)")
    assert "T0KEN123" not in out


def test_a_bracket_from_fractions_and_from_the_atr():
    b = bracket("aapl", "buy", 10, 200.0, "--price", stop_pct=0.01, tp_pct=0.02)
    assert (b.symbol, b.stop, b.target, b.risk_usd, b.reward_usd) == ("AAPL", 198.0, 204.0, 20.0, 40.0)
    assert b.r_multiple == pytest.approx(2.0)
    s = bracket("AAPL", "sell", 5, 200.0, "--price", atr=0.5, atr_stop=1.5, atr_target=3.0)
    assert (s.stop, s.target, s.stop_from) == (200.75, 198.5, "1.5 x ATR 0.50")
    with pytest.raises(PreviewError, match="--stop-pct 1.5 is not valid"):
        bracket("AAPL", "buy", 10, 200.0, "--price", stop_pct=1.5, tp_pct=0.02)
    with pytest.raises(PreviewError, match="give --stop-pct"):
        bracket("AAPL", "buy", 10, 200.0, "--price")
    with pytest.raises(PreviewError, match="--qty 0 is not valid"):
        bracket("AAPL", "buy", 0, 200.0, "--price", stop_pct=0.01, tp_pct=0.02)


def test_preview_bracket_takes_price_and_atr_from_recorded_bars(tmp_path, capsys, monkeypatch):
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "COCKPIT_ALPACA_KEY_FILE"):  # no Alpaca to ask
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "c.db"
    now = time.time_ns() // MIN * MIN
    with open_sync(str(db)) as st:
        for i in range(30):
            st.record_bar(Bar("AAPL", now - (30 - i) * MIN, 100.0, 100.5, 99.5, 100.0 + i * 0.01, 1000.0))
        st.flush()
    assert main(["preview", "bracket", "--symbol", "AAPL", "--qty", "10", "--db", str(db), "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["entry"] == 100.29 and b["price_source"].startswith("last recorded close")
    assert b["stop_from"].startswith("1.5 x ATR 1.0")  # each bar's range is 1.00
    assert b["stop"] == pytest.approx(100.29 - 1.5, abs=0.011) and b["target"] == pytest.approx(100.29 + 3.0, abs=0.011)
    assert main(["preview", "bracket", "--symbol", "MSFT", "--qty", "1", "--db", str(db)]) == 2
    assert "no price for MSFT: give --price" in capsys.readouterr().err


def test_risk_preview_shows_each_gate_and_the_engines_verdict():
    cfg = RiskConfig(risk_per_trade_pct=0.5, max_position_notional=50_000.0)  # the gates' figures at a known sizing
    b = bracket("AAPL", "buy", 300, 187.5, "--price", stop_pct=0.01, tp_pct=0.02)
    acct = Account(100_000.0, 100_000.0, 200_000.0, 100_000.0)
    at_1015 = 1_709_651_700 * NS_PER_S  # 2024-03-05 10:15 ET
    r = risk(cfg, "us_equity", b, acct, [], [], at_1015)
    lines = {line.gate: line for line in r.lines}
    assert r.verdict == "" and r.rule is None  # the cockpit itself would size it down and send it
    assert r.sized_qty == 265  # $500 budget / $1.88 a share
    assert lines["risk_per_trade_pct"].ok is False and "vs budget $500.00" in lines["risk_per_trade_pct"].figure
    assert lines["max_position_notional"].ok is False and lines["trading window"].ok is True
    assert not r.allowed
    losing = Account(97_000.0, 97_000.0, 194_000.0, 100_000.0)
    r = risk(cfg, "us_equity", b, losing, [], [], at_1015)
    assert r.rule == "daily loss limit" and r.verdict.startswith("daily loss limit: day P&L -$3,000.00")
    r = risk(cfg, "us_equity", b, acct, [], [], at_1015 - 45 * MIN)  # 09:30 ET
    assert r.rule == "outside the trading window"


def order(leg=OrderLeg.ENTRY, age_min=90, status=OrderStatus.ACCEPTED, filled=0, now=T0) -> Order:
    return Order(f"o-{leg.value}-{age_min}-{status.value}-{filled}", "ck-1", "AAPL", Side.BUY, OrderType.LIMIT, 10,
                 status, filled_qty=filled, leg=leg, created_ns=now - age_min * MIN if age_min is not None else 0)


def test_only_unfilled_known_entries_past_the_age_are_stale():
    orders = [order(), order(age_min=10), order(OrderLeg.STOP_LOSS), order(OrderLeg.TAKE_PROFIT),
              order(status=OrderStatus.UNKNOWN), order(status=OrderStatus.PARTIALLY_FILLED, filled=4),
              order(status=OrderStatus.FILLED), order(age_min=None)]
    result = sort_stale(orders, T0, 60)
    assert [o.id for o in result.stale] == ["o-entry-90-accepted-0"]
    reasons = sorted(why.split(":")[0].split(" (")[0] for _, why in result.kept)
    assert reasons == ["creation time unknown", "outcome unknown", "partly filled", "stop_loss leg",
                       "take_profit leg"]


def test_cancel_stale_on_the_paper_broker_says_there_is_nothing(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the shipped cockpit.toml: the simulated paper broker
    assert main(["orders", "cancel-stale", "--minutes", "60"]) == 0
    assert "keeps no orders between runs" in capsys.readouterr().out


async def test_cancel_stale_at_alpaca_cancels_the_old_entry_only(tmp_path, monkeypatch, capsys):
    now = time.time_ns()
    rest = AlpacaRestStandIn(KEY_ID, SECRET, start_ns=now - 120 * MIN)
    rest.prices["AAPL"] = 190.0
    rest.start()
    stream = TradingStreamStandIn(KEY_ID, SECRET)
    await stream.start()
    try:
        old = rest.add_order(symbol="AAPL", qty=10, side="buy", type_="limit", limit_price=150.0,
                             client_order_id="ck-old-1")
        rest.now_ns = now
        fresh = rest.add_order(symbol="AAPL", qty=10, side="buy", type_="limit", limit_price=151.0,
                               client_order_id="ck-fresh-1")
        toml = tmp_path / "cockpit.toml"
        toml.write_text(f'[broker]\nkind = "alpaca"\n[feed]\nkind = "alpaca"\n[endpoints]\n'
                        f'alpaca_trading = "{rest.url}"\nalpaca_trading_stream = "{stream.url}/stream"\n')
        monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
        monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
        code = await asyncio.to_thread(main, ["orders", "cancel-stale", "--minutes", "60", "--config", str(toml),
                                              "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0, out
        assert [o["client_order_id"] for o in out["cancelled"]] == ["ck-old-1"]
        assert rest.orders[old["id"]]["status"] == "canceled"
        assert rest.orders[fresh["id"]]["status"] == "accepted"
    finally:
        await stream.stop()
        rest.stop()


def test_preview_takes_the_latest_alpaca_trade_and_keeps_it_for_the_quote_ttl(alpaca_rest, tmp_path, monkeypatch,
                                                                               capsys):
    from engine.ops.cache import CACHE_STATS

    alpaca_rest.add_trades("AAPL", [(T0, 191.25, 100, 1)])
    toml = tmp_path / "cockpit.toml"
    toml.write_text(f'[endpoints]\nalpaca_data = "{alpaca_rest.url}"\n')
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    args = ["preview", "bracket", "--symbol", "AAPL", "--qty", "10", "--stop-pct", "0.01", "--tp-pct", "0.02",
            "--config", str(toml), "--json"]
    hits = {c.kind: c.hits for c in CACHE_STATS.counts()}.get("quotes", 0)
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["entry"] == 191.25 and first["price_source"].startswith("latest Alpaca trade (iex)")
    assert len(alpaca_rest.requests_to("GET", "/v2/stocks/trades/latest")) == 1  # the second came from the cache
    assert {c.kind: c.hits for c in CACHE_STATS.counts()}["quotes"] == hits + 1


def test_config_effective_lists_the_execution_map_from_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COCKPIT_APP__SYMBOLS", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[app]\nsymbols = ["SPX", "QQQ"]\n[execution_map]\nSPX = "SPY"\n')
    assert main(["config", "effective", "--config", str(cfg), "--json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)["values"]}
    assert rows["execution_map.SPX"]["value"] == "SPY" and rows["execution_map.SPX"]["source"] == "file"
