"""The options feedback gate (STRATEGY.md 14): Polygon's options chain snapshot
(a stand-in of /v3/snapshot/options/{underlying} on 127.0.0.1, paginated, in the
real response shape), the chain kept in the 60 s look-up cache, the gate's
figures in the block reason and the signal's reason, and "options data
unavailable" (blocked, journaled) when the chain cannot be had."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import date, timedelta

import pytest

from engine.config import RiskConfig
from engine.factory import build_options
from engine.feeds.polygon import fetch_option_chain, make_rest_client
from engine.model import Account, Decision, Side, Signal
from engine.ops.cache import CacheStats, LookupCache
from cockpit.cli import main
from engine.options_chain import ContractQuote, new_york_date, summarize_chain
from engine.options_gate import OptionsFeedback, verdict_of
from engine.risk import RiskManager, RiskRule
from tests.factories import engine_config, paper_engine, run_session
from tests.standins.polygon_rest import option_contract
from tests.standins.testkit import POLYGON_KEY
from tests.waiting import wait_for

TODAY = date(2024, 3, 5)
TODAY_NS = 1_709_650_800_000_000_000  # 2024-03-05 10:00 ET: the stand-in's day bars are of today
YESTERDAY_NS = TODAY_NS - 86_400 * 10**9
AT_1015 = 1_709_651_700 * 10**9  # 2024-03-05 10:15 ET, inside the trading window
ACCOUNT = Account(100_000.0, 100_000.0, 200_000.0, 100_000.0)


def chain(underlying: str = "AAPL", price: float = 190.2, *, atm_iv: float = 0.25, volume: float = 100.0,
          strikes=range(150, 231, 5), atm_strike: float = 190,
          expirations=("2024-03-08", "2024-03-15", "2024-04-19")) -> list[dict]:
    """A call and a put per strike and expiration; the nearest expiry's ``atm_strike``
    is at the money (call IV atm_iv - 0.01, put atm_iv + 0.01: their mean is atm_iv)."""
    out = []
    for exp in expirations:
        for k in strikes:
            for cp, shift in (("call", -0.01), ("put", 0.01)):
                iv = atm_iv + shift if (exp == expirations[0] and k == atm_strike) else 0.9
                out.append(option_contract(underlying, cp, exp, float(k), volume=volume, iv=iv,
                                           underlying_price=price, day_updated_ns=TODAY_NS))
    return out


def signal(symbol: str = "AAPL", reason: str = "state IMBALANCE_UP, aggression 80") -> Signal:
    return Signal(f"{symbol}-auction-1", symbol, "auction", Side.BUY, 190.0, 189.0, 193.0, 80.0, reason, AT_1015)


def gate_cfg(**kw) -> RiskConfig:
    return RiskConfig(options_gate=True, options_min_volume=kw.pop("min_volume", 5_000),
                      options_max_iv=kw.pop("max_iv", 0.5), **kw)


class ManualTimer:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def feedback(polygon_rest, timer: ManualTimer, symbols=("AAPL",), ttl_s: float = 60.0) -> OptionsFeedback:
    client = make_rest_client(POLYGON_KEY, polygon_rest.base_url, retries=0)
    cache = LookupCache({"option_chains": ttl_s}, stats=CacheStats(), timer=timer)
    return OptionsFeedback(symbols, lambda s: fetch_option_chain(client, s), refresh_s=ttl_s, cache=cache,
                           timer=timer, today=lambda: TODAY)


# --------------------------------------------------------------------------- the chain's two figures


def quote(cp: str, exp: date, strike: float, volume: float = 10, iv=0.3, price=100.0, updated=TODAY_NS):
    return ContractQuote(f"O:X{cp}{strike}", cp, exp, strike, volume, updated, iv, price)


def test_volume_today_and_the_iv_at_the_money():
    near, far, expired = date(2024, 3, 8), date(2024, 3, 15), date(2024, 3, 1)
    s = summarize_chain("X", [
        quote("call", near, 100, iv=0.20), quote("put", near, 100, iv=0.30),  # ATM: nearest strike, nearest expiry
        quote("call", near, 105, iv=0.90), quote("call", far, 100, iv=0.90),
        quote("call", expired, 100, iv=0.90, volume=500),  # a past expiry is never at the money (its volume counts)
        quote("put", near, 95, volume=1000, updated=YESTERDAY_NS),  # yesterday's day bar: not today's volume
        quote("call", near, 101, iv=None, price=None),  # no IV, no underlying price: counted, ignored for ATM
    ], TODAY)
    assert (s.contracts, s.total_volume, s.underlying_price) == (7, 550.0, 100.0)
    assert (s.atm_expiration, s.atm_strike) == (near, 100.0)
    assert s.atm_iv == pytest.approx(0.25)


# --------------------------------------------------------------------------- Polygon's endpoint


def test_the_chain_is_read_page_by_page_from_the_snapshot_endpoint(polygon_rest, local_network_only):
    polygon_rest.set_chain("AAPL", chain())  # 17 strikes x 2 x 3 expirations = 102 contracts
    client = make_rest_client(POLYGON_KEY, polygon_rest.base_url)
    contracts = fetch_option_chain(client, "AAPL", limit=40)
    assert len(contracts) == 102
    asked = polygon_rest.requests_to("/v3/snapshot/options/AAPL")
    assert len(asked) == 3  # 40 + 40 + 22, following next_url
    assert asked[0].query["limit"] == ["40"] and "cursor" in asked[1].query
    assert all(r.authorization == f"Bearer {POLYGON_KEY}" for r in asked)
    c = next(c for c in contracts if c.strike == 190.0 and c.expiration == date(2024, 3, 8) and c.contract_type == "put")
    assert (c.volume, c.implied_volatility, c.underlying_price, c.day_updated_ns) == (100.0, 0.26, 190.2, TODAY_NS)
    assert c.ticker == "O:AAPL240308P00190000"
    fetch_option_chain(client, "AAPL")
    assert polygon_rest.requests_to("/v3/snapshot/options/AAPL")[-1].query["limit"] == ["250"]  # the largest page


def test_the_chain_is_kept_for_its_ttl(polygon_rest, local_network_only):
    polygon_rest.set_chain("AAPL", chain(volume=100.0))
    timer = ManualTimer()
    fb = feedback(polygon_rest, timer)
    first = fb.refresh("AAPL")
    timer.t += 59
    again = fb.refresh("AAPL")
    assert len(polygon_rest.requests_to("/v3/snapshot/options/AAPL")) == 1  # 102 contracts: one page of 250
    assert again.summary == first.summary and first.summary.total_volume == 10_200
    timer.t += 2  # past the 60 s TTL: asked again
    fb.refresh("AAPL")
    assert len(polygon_rest.requests_to("/v3/snapshot/options/AAPL")) == 2


# --------------------------------------------------------------------------- the gate


def test_the_gate_passes_with_its_figures_in_the_signals_reason(polygon_rest, local_network_only):
    polygon_rest.set_chain("AAPL", chain(volume=100.0, atm_iv=0.25))
    fb = feedback(polygon_rest, ManualTimer())
    fb.refresh("AAPL")
    d = RiskManager(gate_cfg(), options=fb).check(signal(), ACCOUNT, [], [], AT_1015, None)
    assert d.allowed and d.signal.qty > 0
    assert d.signal.reason == ("state IMBALANCE_UP, aggression 80 | options: volume today 10,200 >= 5,000, "
                               "ATM IV 25.0% <= 50.0%")
    again = RiskManager(gate_cfg(), options=fb).check(d.signal, ACCOUNT, [], [], AT_1015, None)  # an approval's re-check
    assert again.signal.reason == d.signal.reason  # the figures once, not twice


def test_low_volume_and_high_iv_are_blocked_with_the_figure(polygon_rest, local_network_only):
    polygon_rest.set_chain("AAPL", chain(volume=10.0))  # 1,020 contracts traded today
    polygon_rest.set_chain("TSLA", chain("TSLA", 201.0, volume=100.0, atm_iv=0.85,
                                         strikes=range(180, 221, 5), atm_strike=200))
    fb = feedback(polygon_rest, ManualTimer(), symbols=("AAPL", "TSLA"))
    fb.refresh("AAPL")
    fb.refresh("TSLA")
    risk = RiskManager(gate_cfg(), options=fb)
    quiet = risk.check(signal(), ACCOUNT, [], [], AT_1015, None)
    assert (quiet.allowed, quiet.rule) == (False, RiskRule.OPTIONS_FEEDBACK)
    assert quiet.reason == "options feedback: AAPL option volume today 1,020 < options_min_volume 5,000"
    assert quiet.reason in quiet.signal.reason
    wild = risk.check(signal("TSLA"), ACCOUNT, [], [], AT_1015, None)
    assert (wild.allowed, wild.rule) == (False, RiskRule.OPTIONS_FEEDBACK)
    assert wild.reason == "options feedback: TSLA ATM IV 85.0% > options_max_iv 50.0% (strike 200, expiring 2024-03-08)"
    assert RiskManager(gate_cfg(max_iv=0.9), options=fb).check(signal("TSLA"), ACCOUNT, [], [], AT_1015, None).allowed


def test_a_failed_look_up_blocks_as_unavailable_and_replaces_a_good_reading(polygon_rest, local_network_only):
    polygon_rest.set_chain("AAPL", chain(volume=100.0))
    timer = ManualTimer()
    fb = feedback(polygon_rest, timer, ttl_s=0)  # nothing kept: every refresh asks
    assert fb.refresh("AAPL").unavailable == ""
    polygon_rest.fail_next = [500]
    r = fb.refresh("AAPL")
    assert r.unavailable == "the AAPL chain look-up failed: no good answer from Polygon (server errors)"
    d = RiskManager(gate_cfg(), options=fb).check(signal(), ACCOUNT, [], [], AT_1015, None)
    assert (d.allowed, d.rule) == (False, RiskRule.OPTIONS_DATA)
    assert d.reason.startswith("options data unavailable: the AAPL chain look-up failed")
    assert POLYGON_KEY not in d.reason
    allowed = RiskManager(gate_cfg(options_if_unavailable="allow"), options=fb).check(signal(), ACCOUNT, [], [],
                                                                                        AT_1015, None)
    assert allowed.allowed and "allowed by options_if_unavailable" in allowed.signal.reason


def test_no_reading_an_old_one_an_empty_chain_and_a_symbol_not_entitled_are_unavailable(polygon_rest,
                                                                                           local_network_only):
    polygon_rest.set_chain("AAPL", chain(volume=100.0))
    timer = ManualTimer()
    fb = feedback(polygon_rest, timer, symbols=("AAPL", "MSFT", "XYZ"))
    cfg = gate_cfg()
    assert verdict_of(fb.reading("AAPL"), "AAPL", cfg).reason == \
        "options data unavailable: the AAPL chain has not been read yet"
    fb.refresh("AAPL")
    timer.t += fb.max_age_s + 1  # the refresher stalled: the last reading is too old to trade on
    assert "was read 181 s ago (kept at most 180 s)" in fb.verdict("AAPL", cfg).reason
    assert fb.refresh("MSFT").unavailable == "Polygon returned no contracts for MSFT"  # 200, no results
    assert fb.refresh("XYZ").unavailable == ("the XYZ chain look-up failed: NOT_AUTHORIZED: You are not entitled to "
                                             "this data. Please upgrade your plan at https://polygon.io/pricing")
    assert not fb.verdict("XYZ", cfg).allowed


def test_the_refresher_journals_each_change_of_availability(polygon_rest, local_network_only):
    polygon_rest.set_chain("AAPL", chain(volume=100.0))
    fb = feedback(polygon_rest, ManualTimer(), ttl_s=0)
    fb.refresh_s = 0.0  # no wait between rounds in this test
    lines: list[tuple] = []

    async def go():
        task = asyncio.create_task(fb.run(lambda *a: lines.append(a)))
        try:
            await wait_for(lambda: len(polygon_rest.requests_to("/v3/snapshot/options")) >= 3, what="3 rounds")
            polygon_rest.fail_next = [503] * 2
            await wait_for(lambda: any(ln[0] == "warn" for ln in lines), what="the failure journaled")
            await wait_for(lambda: [ln[0] for ln in lines][-1] == "info", what="the recovery journaled")
        finally:
            task.cancel()

    asyncio.run(go())
    kinds = [(level, kind) for level, kind, *_ in lines]
    assert kinds[:3] == [("info", "options"), ("warn", "options"), ("info", "options")]  # not one per round
    assert lines[0][2] == "AAPL options chain: volume today 10,200, ATM IV 25.0% (strike 190, expiring 2024-03-08)"
    assert lines[1][2].startswith("options data unavailable for AAPL: the AAPL chain look-up failed")


# --------------------------------------------------------------------------- in the engine


def todays_chain(underlying: str = "AAPL", volume: float = 100.0) -> list[dict]:
    """``chain`` dated from today (New York): what the factory's wall-clock date judges."""
    today = new_york_date(time.time_ns())
    exps = tuple((today + timedelta(days=d)).isoformat() for d in (3, 10, 45))
    return [dict(c, day=dict(c["day"], last_updated=time.time_ns())) for c in chain(underlying, volume=volume,
                                                                                   expirations=exps)]


def test_the_factory_reads_polygon_with_a_key_and_a_live_feed(polygon_rest, local_network_only, monkeypatch):
    polygon_rest.set_chain("AAPL", todays_chain())
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    live = engine_config("SEMI", app={"symbols": ["AAPL"]}, feed={"kind": "polygon"},
                         risk={"options_gate": True}, endpoints={"polygon_rest": polygon_rest.base_url})
    fb = build_options(live)
    got = fb.refresh("AAPL")
    assert (got.unavailable, got.summary.total_volume, got.summary.atm_iv) == ("", 10_200, pytest.approx(0.25))
    assert len(polygon_rest.requests_to("/v3/snapshot/options/AAPL")) == 1
    assert build_options(engine_config(risk={"options_gate": True})).reading("AAPL").unavailable == \
        "Polygon's chain snapshot is today's market; a synthetic feed has no options data"
    monkeypatch.delenv("POLYGON_API_KEY")
    assert build_options(live).reading("AAPL").unavailable == "POLYGON_API_KEY is not set (the chain comes from Polygon)"


def test_preview_risk_shows_the_options_gate_with_its_figures(polygon_rest, local_network_only, monkeypatch, capsys,
                                                              tmp_path):
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "COCKPIT_ALPACA_KEY_FILE"):  # a fresh paper account
        monkeypatch.delenv(name, raising=False)
    polygon_rest.set_chain("AAPL", todays_chain(volume=10.0))
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    monkeypatch.setenv("COCKPIT_POLYGON_URL", polygon_rest.base_url)
    toml = tmp_path / "cockpit.toml"
    toml.write_text("[risk]\noptions_gate = true\noptions_min_volume = 5000\n")
    assert main(["preview", "risk", "--symbol", "AAPL", "--qty", "10", "--price", "190", "--stop-pct", "0.01",
                 "--tp-pct", "0.02", "--at", "2024-03-05T10:15", "--config", str(toml), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    line = next(g for g in out["gates"] if g["gate"] == "options feedback")
    assert line["ok"] is False
    assert line["figure"] == "options feedback: AAPL option volume today 1,020 < options_min_volume 5,000"
    assert out["rule"] == "options feedback"


def test_a_session_trades_through_a_busy_chain_and_not_through_a_quiet_one(polygon_rest, local_network_only,
                                                                          monkeypatch):
    import engine.factory

    config = engine_config("AUTO", app={"symbols": ["SPY"]}, risk={"options_gate": True})
    for volume, traded in ((100.0, True), (1.0, False)):
        polygon_rest.set_chain("SPY", chain("SPY", 540.2, volume=volume, strikes=range(500, 581, 5), atm_strike=540))
        fb = feedback(polygon_rest, ManualTimer(), symbols=("SPY",), ttl_s=0)
        fb.refresh("SPY")  # read before the session: its first signals need not wait for the refresher
        monkeypatch.setattr(engine.factory, "build_options", lambda config, **kw: fb)
        asked = len(polygon_rest.requests_to("/v3/snapshot/options/SPY"))

        async def session():
            eng = paper_engine(config)
            await eng.start()
            await wait_for(lambda: len(polygon_rest.requests_to("/v3/snapshot/options/SPY")) > asked,
                           what="the engine's refresher asking for the chain")
            await eng.wait_done()
            await eng.tick()
            await eng.stop()
            return eng

        eng = asyncio.run(session())
        rules = dict(eng.desk.block_reasons)
        assert RiskRule.OPTIONS_DATA.value not in rules
        if traded:
            assert eng.counters["fills"] > 0 and RiskRule.OPTIONS_FEEDBACK.value not in rules
            sent = [s for s in eng.decisions if s.decision is Decision.AUTO]
            assert sent and all(" | options: volume today 10,200 >= 10,000, ATM IV 25.0% <= 60.0%" in s.reason
                                for s in sent)
        else:
            assert eng.counters["fills"] == 0 and rules[RiskRule.OPTIONS_FEEDBACK.value] > 0


def test_a_simulated_session_with_the_gate_on_blocks_every_entry_as_unavailable_and_journals_it():
    config = engine_config("AUTO", app={"symbols": ["SPY"]}, risk={"options_gate": True})
    engine = asyncio.run(run_session(config))
    blocked = [s for s in engine.decisions if s.decision is Decision.BLOCKED]
    assert engine.counters["fills"] == 0 and engine.desk.block_reasons[RiskRule.OPTIONS_DATA.value] > 0
    gated = [s for s in blocked if s.decision_reason.startswith("options data unavailable")]
    assert gated and all("a synthetic feed has no options data" in s.decision_reason for s in gated)
    assert all("options data unavailable" in s.reason for s in gated)  # the signal's own reason says it too
    lines = [e for e in engine.journal if e.kind == "block" and (e.data or {}).get("rule") == "options data unavailable"]
    assert len(lines) == engine.desk.block_reasons[RiskRule.OPTIONS_DATA.value]


def test_the_gate_is_off_by_default_and_leaves_the_reason_alone():
    risk = RiskManager(RiskConfig())
    d = risk.check(signal(), ACCOUNT, [], [], AT_1015, None)
    assert d.allowed and d.signal.reason == "state IMBALANCE_UP, aggression 80"


async def test_doctor_checks_the_chain_when_the_gate_is_on(polygon_rest, polygon_ws):
    from engine.live.polygon_doctor import check_polygon

    polygon_rest.set_chain("AAPL", chain(volume=100.0))

    async def options_check(symbols, options=True):
        results = await check_polygon(POLYGON_KEY, symbols=symbols, rest_base=polygon_rest.base_url,
                                      ws_url=polygon_ws.url, timeout_s=2.0, options=options)
        return next((r for r in results if r.name == "options chain"), None)

    assert await options_check(["AAPL"], options=False) is None  # the gate off: not asked
    ok = await options_check(["AAPL"])
    assert ok.ok and ok.detail == "options chain snapshot permitted for AAPL ([risk] options_gate reads it)"
    assert polygon_rest.requests_to("/v3/snapshot/options/AAPL")[-1].query["limit"] == ["1"]
    bad = await options_check(["AAPL", "MSFT", "XYZ"])
    assert not bad.ok and "not entitled: XYZ (You are not entitled" in bad.detail and "no contracts: MSFT" in bad.detail
    assert "options_gate is on and blocks every entry" in bad.fix


def test_the_gates_settings_are_checked_by_name():
    from engine.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"risk.options_max_iv = 60 is not valid: .*did you mean 0.6\?"):
        load_config(None, overrides={"risk": {"options_max_iv": 60}}, env={})
    with pytest.raises(ConfigError, match=r"risk.options_if_unavailable = 'skip' is not valid: allowed: 'block' or "
                                          r"'allow'"):
        load_config(None, overrides={"risk": {"options_if_unavailable": "skip"}}, env={})
    cfg = load_config(None, env={}).risk
    assert (cfg.options_gate, cfg.options_min_volume, cfg.options_max_iv, cfg.options_if_unavailable) == \
        (False, 10_000, 0.6, "block")
