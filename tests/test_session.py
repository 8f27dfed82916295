"""Session calendar (STRATEGY.md section 7): names, holidays, half days, DST, countdowns."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.analytics.session import SessionCalendar
from engine.config import SessionPolicy

ET = ZoneInfo("America/New_York")
CT = ZoneInfo("America/Chicago")
UTC = ZoneInfo("UTC")
H = 3600.0


def ns(text: str, tz=ET) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def nyse() -> SessionCalendar:
    return SessionCalendar("us_equity")


# ------------------------------------------------------------------ a normal day


@pytest.mark.parametrize(
    "clock, name, setup, next_name, seconds",
    [
        ("2024-11-26 20:00", "ASIA", None, "LONDON", 7 * H),  # Monday evening belongs to Tuesday
        ("2024-11-27 02:59:59", "ASIA", None, "LONDON", 1),
        ("2024-11-27 03:00", "LONDON", None, "NEW_YORK", 6.5 * H),
        ("2024-11-27 09:29", "LONDON", None, "NEW_YORK", 60),
        ("2024-11-27 09:30", "NEW_YORK", "trend_model", "AFTER_HOURS", 6.5 * H),
        ("2024-11-27 10:59:59", "NEW_YORK", "trend_model", "AFTER_HOURS", 5 * H + 1),
        ("2024-11-27 11:00", "NEW_YORK", "mean_reversion", "AFTER_HOURS", 5 * H),
        ("2024-11-27 14:00", "NEW_YORK", "trend_model", "AFTER_HOURS", 2 * H),
        ("2024-11-27 16:00", "AFTER_HOURS", None, "ASIA", 28 * H),
    ],
)
def test_wednesday_before_thanksgiving(nyse, clock, name, setup, next_name, seconds):
    # 2024-11-27 is a full day; the next day (Thanksgiving) is a holiday, so
    # after 16:00 the next session is Thursday 20:00 ASIA (belonging to Friday).
    info = nyse.info(ns(clock))
    assert info.name == name
    assert info.recommended_setup == setup
    assert info.next_session == next_name
    assert info.seconds_to_next == pytest.approx(seconds)
    assert info.is_trading_day and not info.is_half_day


def test_normal_day_fields(nyse):
    t = ns("2024-06-12 10:15:42")
    info = nyse.info(t)
    assert info.et_time == "10:15:42"
    assert info.in_rth and nyse.in_rth(t)
    assert info.rth_open_ns == ns("2024-06-12 09:30")
    assert info.rth_close_ns == ns("2024-06-12 16:00")
    assert nyse.rth_bounds(date(2024, 6, 12)) == (ns("2024-06-12 09:30"), ns("2024-06-12 16:00"))
    assert nyse.minutes_to_close(t) == pytest.approx(344.3)
    assert nyse.session_date(t) == date(2024, 6, 12)
    assert nyse.session_start_ns(t) == ns("2024-06-11 20:00")


def test_after_hours_wins_until_20_then_asia_of_the_next_day(nyse):
    late = nyse.info(ns("2024-06-12 19:30"))
    assert late.name == "AFTER_HOURS" and late.next_session == "ASIA"
    assert late.seconds_to_next == pytest.approx(0.5 * H)
    assert not late.in_rth and late.recommended_setup is None
    assert nyse.minutes_to_close(ns("2024-06-12 19:30")) is None
    asia = ns("2024-06-12 20:00")
    assert nyse.info(asia).name == "ASIA"
    assert nyse.session_date(asia) == date(2024, 6, 13)
    assert nyse.session_date(asia - 1) == date(2024, 6, 12)
    assert nyse.session_start_ns(asia) == asia
    # the RTH shown during Asian hours is the coming day's
    assert nyse.info(asia).rth_open_ns == ns("2024-06-13 09:30")


# ------------------------------------------------------------------ weekends and holidays


def test_weekend_is_closed_and_counts_down_to_sunday_asia(nyse):
    sat = nyse.info(ns("2024-06-15 12:00"))
    assert sat.name == "CLOSED" and not sat.is_trading_day and not sat.in_rth
    assert sat.rth_open_ns is None and sat.rth_close_ns is None and sat.recommended_setup is None
    assert sat.next_session == "ASIA"
    assert sat.seconds_to_next == pytest.approx(32 * H)  # Sat 12:00 -> Sun 20:00
    fri_evening = nyse.info(ns("2024-06-14 20:00"))
    assert fri_evening.name == "CLOSED"
    assert fri_evening.seconds_to_next == pytest.approx(48 * H)
    fri_after = nyse.info(ns("2024-06-14 17:00"))
    assert fri_after.name == "AFTER_HOURS" and fri_after.next_session == "ASIA"
    assert fri_after.seconds_to_next == pytest.approx(51 * H)  # skips the closed weekend
    sun = nyse.info(ns("2024-06-16 20:00"))
    assert sun.name == "ASIA" and sun.is_trading_day
    assert nyse.session_date(ns("2024-06-16 20:00")) == date(2024, 6, 17)


@pytest.mark.parametrize("day", [date(2024, 12, 25), date(2025, 7, 4), date(2024, 11, 28), date(2025, 1, 1)])
def test_exchange_holidays_are_closed(nyse, day):
    assert not nyse.is_trading_day(day)
    assert nyse.rth_bounds(day) is None
    info = nyse.info(ns(f"{day} 11:00"))
    assert info.name == "CLOSED" and not info.in_rth and not info.is_trading_day


def test_christmas_countdown_and_previous_trading_day(nyse):
    info = nyse.info(ns("2024-12-25 11:00"))
    assert info.next_session == "ASIA"
    assert info.seconds_to_next == pytest.approx(9 * H)  # Dec 25 20:00 opens Dec 26's ASIA
    assert nyse.previous_trading_day(date(2024, 12, 26)) == date(2024, 12, 24)
    assert nyse.previous_trading_day(date(2025, 7, 7)) == date(2025, 7, 3)  # over a holiday Friday
    assert nyse.previous_trading_day(date(2024, 6, 17)) == date(2024, 6, 14)  # over a weekend
    assert nyse.next_trading_day(date(2024, 12, 24)) == date(2024, 12, 26)
    assert nyse.is_trading_day(date(2024, 12, 24)) and not nyse.is_trading_day(date(2024, 6, 15))


# ------------------------------------------------------------------ half days


@pytest.mark.parametrize("day", ["2024-11-29", "2024-12-24", "2025-07-03"])
def test_half_days_close_at_13(nyse, day):
    d = date.fromisoformat(day)
    assert nyse.rth_bounds(d) == (ns(f"{day} 09:30"), ns(f"{day} 13:00"))
    before = nyse.info(ns(f"{day} 12:30"))
    assert before.name == "NEW_YORK" and before.is_half_day and before.in_rth
    assert before.recommended_setup == "mean_reversion"
    assert before.next_session == "AFTER_HOURS" and before.seconds_to_next == pytest.approx(0.5 * H)
    assert nyse.minutes_to_close(ns(f"{day} 12:30")) == pytest.approx(30.0)
    after = nyse.info(ns(f"{day} 14:30"))  # 14:00-16:00 policy window lies past the close
    assert after.name == "AFTER_HOURS" and not after.in_rth and after.recommended_setup is None


# ------------------------------------------------------------------ DST


def test_rth_open_follows_daylight_saving(nyse):
    # 09:30 ET is 14:30 UTC in winter and 13:30 UTC in summer
    assert nyse.rth_bounds(date(2024, 3, 8))[0] == ns("2024-03-08 14:30", UTC)
    assert nyse.rth_bounds(date(2024, 3, 11))[0] == ns("2024-03-11 13:30", UTC)
    assert nyse.rth_bounds(date(2024, 11, 1))[0] == ns("2024-11-01 13:30", UTC)
    assert nyse.rth_bounds(date(2024, 11, 4))[0] == ns("2024-11-04 14:30", UTC)


def test_countdowns_across_dst_changes(nyse):
    # spring forward: Sunday 2024-03-10 02:00 -> 03:00; Fri 20:00 EST to Sun 20:00 EDT is 47 real hours
    assert nyse.info(ns("2024-03-08 20:00")).seconds_to_next == pytest.approx(47 * H)
    # after the change the ET clock is EDT and the Asian session is its usual 7 hours
    assert nyse.info(ns("2024-03-10 20:00")).seconds_to_next == pytest.approx(7 * H)
    # fall back: Sunday 2024-11-03 02:00 -> 01:00 makes the weekend 49 hours
    assert nyse.info(ns("2024-11-01 20:00")).seconds_to_next == pytest.approx(49 * H)
    info = nyse.info(ns("2024-11-04 09:45"))
    assert info.name == "NEW_YORK" and info.et_time == "09:45:00"
    assert info.recommended_setup == "trend_model"


# ------------------------------------------------------------------ policy


def test_custom_policy_and_bad_policy():
    cal = SessionCalendar("us_equity", [SessionPolicy(start="10:00", end="12:00", setup="auction")])
    assert cal.info(ns("2024-06-12 09:45")).recommended_setup is None
    assert cal.info(ns("2024-06-12 11:59")).recommended_setup == "auction"
    assert cal.info(ns("2024-06-12 12:00")).recommended_setup is None
    with pytest.raises(ValueError, match="25:00"):
        SessionCalendar("us_equity", [SessionPolicy(start="25:00", end="26:00", setup="auction")])
    with pytest.raises(ValueError, match="ends before it starts"):
        SessionCalendar("us_equity", [SessionPolicy(start="12:00", end="11:00", setup="auction")])
    with pytest.raises(ValueError, match="24h_chicago"):
        SessionCalendar("nasdaq")


# ------------------------------------------------------------------ 24-hour kinds


def test_24h_utc_every_day_trades():
    btc = SessionCalendar("24h_utc")
    sat = ns("2022-01-15 12:00", UTC)
    assert btc.is_trading_day(date(2022, 1, 15)) and btc.in_rth(sat)
    assert btc.session_date(ns("2022-01-15 23:59", UTC)) == date(2022, 1, 15)
    assert btc.session_date(ns("2022-01-16 00:00", UTC)) == date(2022, 1, 16)
    assert btc.session_start_ns(sat) == ns("2022-01-15 00:00", UTC)
    assert btc.rth_bounds(date(2022, 1, 15)) == (ns("2022-01-15 00:00", UTC), ns("2022-01-16 00:00", UTC))
    assert btc.minutes_to_close(sat) == pytest.approx(720.0)
    assert btc.previous_trading_day(date(2022, 1, 17)) == date(2022, 1, 16)
    info = btc.info(sat)  # 07:00 ET in January
    assert info.name == "LONDON" and info.et_time == "07:00:00" and info.in_rth
    assert info.next_session == "NEW_YORK" and info.seconds_to_next == pytest.approx(2.5 * H)
    # ASIA runs through the 00:00 UTC day change without a new session starting
    asia = btc.info(ns("2022-01-14 23:30", UTC))  # 18:30 ET: still after hours
    assert asia.name == "AFTER_HOURS" and asia.next_session == "ASIA"
    mid = btc.info(ns("2022-01-15 01:30", UTC))  # 20:30 ET
    assert mid.name == "ASIA" and mid.next_session == "LONDON"
    assert mid.seconds_to_next == pytest.approx(6.5 * H)


def test_24h_chicago_sunday_evening_is_monday():
    fx = SessionCalendar("24h_chicago")
    sunday_open = ns("2024-01-07 17:00", CT)
    assert fx.session_date(sunday_open) == date(2024, 1, 8)
    assert fx.session_date(sunday_open - 1) == date(2024, 1, 7)
    assert fx.session_start_ns(ns("2024-01-08 10:00", CT)) == sunday_open
    assert fx.rth_bounds(date(2024, 1, 8)) == (sunday_open, ns("2024-01-08 17:00", CT))
    assert not fx.is_trading_day(date(2024, 1, 6)) and not fx.is_trading_day(date(2024, 1, 7))
    assert fx.is_trading_day(date(2024, 1, 5))
    assert fx.previous_trading_day(date(2024, 1, 8)) == date(2024, 1, 5)
    assert fx.in_rth(ns("2024-01-05 16:59", CT)) and not fx.in_rth(ns("2024-01-05 17:00", CT))
    sat = fx.info(ns("2024-01-06 12:00", CT))
    assert sat.name == "CLOSED" and not sat.in_rth
    # Sunday 17:00 CT is 18:00 ET: inside the ET after-hours window
    assert sat.next_session == "AFTER_HOURS" and sat.seconds_to_next == pytest.approx(29 * H)
    fri = fx.info(ns("2024-01-05 16:30", CT))
    assert fri.name == "AFTER_HOURS" and fri.next_session == "AFTER_HOURS"
    assert fri.seconds_to_next == pytest.approx(48.5 * H)  # over the weekend, not 30 minutes
    assert fx.minutes_to_close(ns("2024-01-05 16:30", CT)) == pytest.approx(30.0)
