"""Session policies (STRATEGY.md 13): trading windows that list the setups allowed
in them replace the global trading window; a blocked signal names the window;
a window's own risk_per_trade_pct sizes its entries. Power-hour gating."""
from __future__ import annotations

from dataclasses import replace

import pytest

from engine.config import ConfigError, RiskConfig, SessionPolicy, parse_config
from engine.risk import RiskManager, RiskRule
from tests.test_risk import account, check, et_ns, signal

POLICIES = [
    SessionPolicy(start="09:35", end="10:30", setups=["orb", "vwap_reclaim"], risk_per_trade_pct=0.25),
    SessionPolicy(start="10:30", end="14:00", setups=["vwap_mean_reversion", "auction"]),
]


def manager(**risk) -> RiskManager:
    return RiskManager(RiskConfig(max_position_notional=1e9, **risk), "us_equity", POLICIES)


def test_a_setup_outside_the_window_policy_is_blocked_naming_the_window():
    rm = manager()
    d = check(rm, replace(signal(), setup="auction"), now=et_ns(9, 40))
    assert not d.allowed and d.rule is RiskRule.SESSION_POLICY
    assert d.reason == "session policy 09:35-10:30 ET allows orb, vwap_reclaim, not auction"
    assert check(rm, replace(signal(), setup="orb"), now=et_ns(9, 40)).allowed
    assert check(rm, replace(signal(), setup="auction"), now=et_ns(10, 30)).allowed


def test_policies_replace_the_trading_window():
    rm = manager(trading_start="09:35", trading_end="15:50")
    d = check(rm, replace(signal(), setup="auction"), now=et_ns(14, 30))  # inside the old window, outside policy
    assert not d.allowed and d.rule is RiskRule.SESSION_POLICY
    assert "outside every session policy window (09:35-10:30 orb, vwap_reclaim; 10:30-14:00 " \
           "vwap_mean_reversion, auction ET; now 14:30:00 ET)" == d.reason
    # without trading policies the same signal passes the trading window
    assert check(RiskManager(RiskConfig(max_position_notional=1e9)), replace(signal(), setup="auction"),
                 now=et_ns(14, 30)).allowed


def test_a_window_risk_per_trade_pct_sizes_its_entries():
    rm = manager(risk_per_trade_pct=1.0)
    early = check(rm, replace(signal(), setup="orb"), now=et_ns(10, 0))  # 0.25% of 100k / $1 = 250
    late = check(rm, replace(signal(), setup="auction"), now=et_ns(11, 0))  # 1% = 1000
    assert early.signal.qty == 250 and late.signal.qty == 1000


def test_recommendation_only_policies_keep_the_trading_window():
    cfg = parse_config({})
    assert cfg.sessions.trading == []
    rm = RiskManager(cfg.risk, cfg.feed.session, cfg.sessions.trading)
    assert rm.policies == [] and check(rm, now=et_ns(12, 0)).allowed


def test_policy_config_is_validated():
    with pytest.raises(ConfigError, match=r"unknown setup 'orbb'; allowed: auction"):
        parse_config({"sessions": {"policy": [{"start": "09:30", "end": "10:00", "setups": ["orbb"]}]}})
    with pytest.raises(ConfigError, match=r"'9h30' is not a time of day"):
        parse_config({"sessions": {"policy": [{"start": "9h30", "end": "10:00", "setups": ["orb"]}]}})
    cfg = parse_config({"sessions": {"policy": [{"start": "09:30", "end": "10:00", "setups": ["orb"]}]}})
    assert [p.label for p in cfg.sessions.trading] == ["09:30-10:00 orb"]


def test_power_hour_symbols_trade_only_from_power_hour_start():
    rm = RiskManager(RiskConfig(max_position_notional=1e9, power_hour_symbols=["SPX"], power_hour_start="15:00",
                                trading_start="09:35", trading_end="15:50"))
    d = check(rm, signal(symbol="SPX"), now=et_ns(14, 59, 59))
    assert not d.allowed and d.rule is RiskRule.POWER_HOUR
    assert d.reason == "power_hour_symbols: SPX trades only from 15:00 ET (now 14:59:59 ET)"
    assert check(rm, signal(symbol="SPX"), now=et_ns(15, 0)).allowed
    assert check(rm, signal(symbol="SPY"), now=et_ns(10, 0)).allowed


def test_the_calendar_names_the_active_policy_and_the_time_to_the_next():
    from engine.analytics.session import SessionCalendar

    cal = SessionCalendar("us_equity", POLICIES)
    day = (2024, 6, 12)
    info = cal.info(et_ns(9, 50, day=day))
    assert info.policy == "09:35-10:30 orb, vwap_reclaim"
    assert info.next_policy == "10:30-14:00 vwap_mean_reversion, auction"
    assert info.seconds_to_next_policy == 40 * 60
    before = cal.info(et_ns(9, 31, day=day))
    assert before.policy is None and before.seconds_to_next_policy == 4 * 60
    after = cal.info(et_ns(15, 0, day=day))
    assert after.policy is None and after.next_policy is None
    # recommendation-only tables (the default) have no trading policy
    assert SessionCalendar("us_equity").info(et_ns(9, 50, day=day)).policy is None


def test_a_policy_ending_at_24_00_runs_to_midnight():
    """ "24:00" is a valid end (config) and was refused by the risk manager when built
    (hour must be in 0..23): it is the end of the day."""
    rm = RiskManager(RiskConfig(max_position_notional=1e9), "us_equity",
                     [SessionPolicy(start="16:00", end="24:00", setups=["auction"])])
    assert check(rm, replace(signal(), setup="auction"), now=et_ns(23, 59)).allowed
    d = check(rm, replace(signal(), setup="auction"), now=et_ns(15, 59))
    assert not d.allowed and d.rule is RiskRule.SESSION_POLICY
