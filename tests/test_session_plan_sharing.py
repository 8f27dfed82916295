"""Issue 13: a backtest's run, its breakdown and its risk gates each make a
SessionCalendar; calendars of the same kind and windows share their day plans, so
each session day is worked out once per process, and a calendar with other
windows never sees another's plans."""
from __future__ import annotations

from datetime import date

from engine.analytics import session as S
from engine.config import SessionPolicy

DAY = date(2024, 3, 5)


def counting_builds(monkeypatch) -> list[date]:
    built: list[date] = []
    real = S.SessionCalendar._build

    def build(self, day):
        built.append(day)
        return real(self, day)

    monkeypatch.setattr(S.SessionCalendar, "_build", build)
    monkeypatch.setattr(S, "_SHARED_PLANS", {})
    return built


def test_calendars_of_the_same_kind_and_windows_build_a_day_once(monkeypatch):
    built = counting_builds(monkeypatch)
    first = S.SessionCalendar("us_equity").rth_bounds(DAY)
    second = S.SessionCalendar("us_equity").rth_bounds(DAY)
    assert first == second is not None
    assert built == [DAY]


def test_calendars_with_other_windows_or_kinds_keep_their_own_plans(monkeypatch):
    built = counting_builds(monkeypatch)
    default = S.SessionCalendar("us_equity")
    other = S.SessionCalendar("us_equity", [SessionPolicy(start="09:30", end="10:00", setup="orb")])
    utc = S.SessionCalendar("24h_utc")
    ts = default.rth_bounds(DAY)[0] + 10 * 60 * 10**9  # 09:40 ET
    assert other.info(ts).recommended_setup == "orb"
    assert utc.session_bounds(ts) != default.session_bounds(ts)
    assert built.count(DAY) == 3
