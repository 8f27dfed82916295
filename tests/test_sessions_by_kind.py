"""Sessions by instrument (issue 20 item 3): a 24-hour market trades all day unless
the trader set a window for its session kind; the clock, the phase and the setup
policy are the instrument's own."""
import pathlib
from types import SimpleNamespace

import pytest

from engine.analytics.session import SessionCalendar
from engine.config import ConfigError, load_config
from engine.model import Account
from engine.risk import RiskManager, RiskRule
from tests.factories import utc_ns
from widgets.header import clock_badge

ROOT = pathlib.Path(__file__).resolve().parent.parent
ACCOUNT = Account(equity=100_000.0, cash=100_000.0, buying_power=200_000.0, start_of_day_equity=100_000.0)


def shipped(**risk):
    return load_config(ROOT / "cockpit.toml", overrides={"risk": risk} if risk else None, env={})


def block(cfg, session: str, ts_ns: int):
    b = RiskManager(cfg.risk, session).entry_block(ts_ns, ACCOUNT, 0.0)
    return b.rule if b is not None else None


def test_the_shipped_config_trades_a_24h_market_all_day_and_stocks_in_their_hours():
    cfg = shipped()
    for hour in range(24):
        assert block(cfg, "24h_utc", utc_ns(2022, 1, 12, hour, 7)) is None, hour
        assert block(cfg, "24h_chicago", utc_ns(2024, 1, 10, hour, 7)) is None, hour
    assert block(cfg, "us_equity", utc_ns(2024, 6, 12, 3, 0)) is RiskRule.TRADING_WINDOW  # 23:00 ET
    assert block(cfg, "us_equity", utc_ns(2024, 6, 12, 15, 0)) is None  # 11:00 ET


def test_a_window_for_one_session_kind_applies_to_that_kind_only_in_its_zone():
    cfg = shipped(windows={"24h_utc": ["07:00", "21:00"]})
    assert block(cfg, "24h_utc", utc_ns(2022, 1, 12, 6, 59)) is RiskRule.TRADING_WINDOW
    assert block(cfg, "24h_utc", utc_ns(2022, 1, 12, 7, 0)) is None
    assert block(cfg, "24h_chicago", utc_ns(2024, 1, 10, 3, 0)) is None  # another kind: all day still
    assert block(cfg, "us_equity", utc_ns(2024, 6, 12, 15, 0)) is None  # stocks keep 09:35-15:50 ET
    assert "07:00-21:00 UTC" in RiskManager(cfg.risk, "24h_utc").entry_block_reason(
        utc_ns(2022, 1, 12, 22, 0), ACCOUNT, 0.0)


@pytest.mark.parametrize("windows,named", [
    ({"24h_btc": ["07:00", "21:00"]}, "'us_equity', '24h_utc' or '24h_chicago'"),
    ({"24h_utc": ["07:00"]}, "[start, end]"),
    ({"24h_utc": ["21:00", "07:00"]}, "the start must come before the end"),
    ({"24h_utc": ["07:00", "25:00"]}, "not a time of day"),
])
def test_a_bad_window_names_the_key_and_what_is_allowed(windows, named):
    with pytest.raises(ConfigError) as err:
        shipped(windows=windows)
    assert "risk.windows" in str(err.value) and named in str(err.value)


def test_a_24h_market_has_its_own_clock_phase_and_a_setup_at_every_hour():
    cfg = shipped()
    for kind, zone, clock in (("24h_utc", "UTC", "03:07:00"), ("24h_chicago", "CT", "21:07:00")):
        cal = SessionCalendar(kind, cfg.sessions.policy_for(kind))
        info = cal.info(utc_ns(2024, 1, 10, 3, 7))
        assert (info.phase, info.zone, info.local_time) == ("24H", zone, clock)
        for hour in range(24):
            assert cal.info(utc_ns(2024, 1, 10, hour, 7)).recommended_setup, (kind, hour)
    weekend = SessionCalendar("24h_chicago").info(utc_ns(2024, 1, 13, 12, 0))  # Saturday
    assert weekend.phase == "CLOSED" and weekend.next_open_ns == utc_ns(2024, 1, 14, 23, 0)  # Sunday 17:00 CT
    stocks = SessionCalendar("us_equity")
    assert [stocks.info(utc_ns(2024, 6, 12, h, 0)).phase for h in (3, 9, 14, 21)] == ["CLOSED", "PRE", "RTH", "CLOSED"]


def _view(kind: str, ts_ns: int):
    info = SessionCalendar(kind).info(ts_ns)
    return SimpleNamespace(snap=SimpleNamespace(session=info), now_ns=ts_ns, tz="America/New_York")


def test_the_header_clock_says_the_phase_in_the_instruments_zone_and_the_time_to_the_open():
    assert clock_badge(_view("24h_utc", utc_ns(2022, 1, 12, 3, 7)))[0] == " 24H 03:07:00 UTC "
    assert clock_badge(_view("us_equity", utc_ns(2024, 6, 12, 14, 0)))[0] == " RTH 10:00:00 ET "
    assert clock_badge(_view("us_equity", utc_ns(2024, 6, 12, 12, 44)))[0] == " PRE 08:44 ET open in 46:00 "
    assert clock_badge(_view("us_equity", utc_ns(2024, 6, 13, 5, 6)))[0] == " CLOSED 01:06 ET open in 8h 24m "
