"""Session calendar: which trading session a timestamp falls in, and what comes next.

STRATEGY.md section 7. Three instrument kinds:

- ``us_equity``: NYSE (exchange_calendars ``XNYS``: holidays and half days). A
  *session day* D runs from 20:00 ET of the previous calendar day to 20:00 ET of
  D, so an evening's Asian hours belong to the next morning's stock session.
  Inside a trading day the ET clock names the sessions:
  ASIA 20:00-03:00, LONDON 03:00-09:30, NEW_YORK RTH open-close (09:30-16:00,
  13:00 on half days), AFTER_HOURS close-20:00. STRATEGY.md gives ASIA as
  19:00-03:00, which overlaps AFTER_HOURS 16:00-20:00: AFTER_HOURS wins until
  20:00 (US extended hours really run to 20:00), ASIA is what follows it. On a
  half day AFTER_HOURS starts at the early close. The whole session day of a
  weekend or an exchange holiday is CLOSED (Friday 20:00 ET to Sunday 20:00 ET
  for a normal weekend).
- ``24h_utc``: a 24-hour session starting 00:00 UTC (BTC); every day trades.
- ``24h_chicago``: a 24-hour session starting 17:00 America/Chicago (CME 6E);
  Sunday's 17:00 start belongs to Monday, so Monday-Friday are the trading days
  and Friday 17:00 CT to Sunday 17:00 CT is CLOSED. The daily 16:00-17:00 CT
  maintenance halt and CME holidays are not modelled (the product brief asks
  for a plain 24-hour session).

For the 24-hour kinds the "regular trading hours" are the whole session day,
and the session names still follow the ET clock (they say which part of the
world is trading). The recommended setup comes from the session policy table
(ET windows), only while in RTH.

Speed: a day's plan (boundaries in ns, policy windows) is built once and
cached; the last plan used is checked first, so a call per bar or a few per
second from the UI costs a couple of integer comparisons plus, for ``info``,
one timezone conversion for the clock text. The NYSE schedule is built per
decade on first use and cached for the life of the process (importing pandas
and exchange_calendars takes about a second, so it is imported lazily).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Iterator, Optional
from zoneinfo import ZoneInfo

from ..config import SessionPolicy, SessionsConfig
from ..model import NS_PER_MIN, NS_PER_S, SessionInfo

ET = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
UTC = timezone.utc

ASIA = "ASIA"
LONDON = "LONDON"
NEW_YORK = "NEW_YORK"
AFTER_HOURS = "AFTER_HOURS"
CLOSED = "CLOSED"

KINDS = ("us_equity", "24h_utc", "24h_chicago")
# each kind's own clock: (IANA zone, label) -- the header and the session pane read it
ZONES = {"us_equity": ("America/New_York", "ET"), "24h_utc": ("UTC", "UTC"), "24h_chicago": ("America/Chicago", "CT")}
PRE_MARKET = (4, 0)  # US stocks: pre-market from 04:00 ET on a trading day
# phases of the trading day the header shows
PHASE_CLOSED, PHASE_PRE, PHASE_RTH, PHASE_24H = "CLOSED", "PRE", "RTH", "24H"

# ET clock boundaries: (hour, minute, name of the session that starts there).
# NEW_YORK / AFTER_HOURS are replaced by the exchange's open / close on NYSE days.
_ET_BOUNDARIES = ((3, 0, LONDON), (9, 30, NEW_YORK), (16, 0, AFTER_HOURS), (20, 0, ASIA))

# how far ahead next_session may look before giving up (a calendar with no
# trading day for a year is a broken calendar)
_MAX_LOOKAHEAD_DAYS = 400
_MAX_CACHED_DAYS = 4096
_SHARED_PLANS: dict[tuple, dict] = {}  # (kind, policy windows, rule windows) -> {day: _DayPlan}


# --------------------------------------------------------------------------- NYSE schedule


@lru_cache(maxsize=None)
def _xnys_decade(decade: int) -> dict[date, tuple[int, int]]:
    """NYSE sessions of one decade: date -> (open_ns, close_ns), UTC nanoseconds.

    Built once per decade per process: exchange_calendars is slow to import and
    to build (~0.4 s with pandas), and a decade is all a live run or a typical
    backtest touches. The built decade is also kept in a small file in the user
    cache dir, named by the exchange_calendars version that built it, so later
    processes read the same sessions without importing pandas.
    """
    path = _xnys_cache_path(decade)
    if path is not None:
        cached = _read_xnys_cache(path)
        if cached:
            return cached
    import exchange_calendars as xcals  # lazy: pulls pandas in (about a second)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas deprecation chatter inside the package
            cal = xcals.get_calendar("XNYS", start=f"{decade}-01-01", end=f"{decade + 9}-12-31")
            sched = cal.schedule
            opens = sched["open"].dt.tz_convert(None).to_numpy().astype("int64")
            closes = sched["close"].dt.tz_convert(None).to_numpy().astype("int64")
            days = [ts.date() for ts in sched.index]
    except Exception as exc:  # the package bounds its range; say which years failed
        raise ValueError(f"no NYSE calendar for {decade}-{decade + 9}: {exc}") from None
    out = {d: (int(o), int(c)) for d, o, c in zip(days, opens, closes)}
    if path is not None:
        _write_xnys_cache(path, out)
    return out


def _xnys_cache_path(decade: int):
    """Where a decade built by the installed exchange_calendars is kept (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("exchange_calendars")
    except PackageNotFoundError:
        return None
    from pathlib import Path

    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cockpit")) / "calendars" / f"XNYS-{decade}-exchange_calendars-{ver}.txt"


def _read_xnys_cache(path) -> Optional[dict[date, tuple[int, int]]]:
    """The cached decade, or None when the file is missing or not wholly readable."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeError):
        return None
    lines = text.splitlines()
    if not lines or lines[-1] != "end":  # a file cut short is rebuilt
        return None
    out: dict[date, tuple[int, int]] = {}
    try:
        for line in lines[:-1]:
            d, o, c = line.split()
            out[date.fromisoformat(d)] = (int(o), int(c))
    except ValueError:
        return None
    return out


def _write_xnys_cache(path, sessions: dict[date, tuple[int, int]]) -> None:
    """Write atomically (other processes may read it at the same time); a cache
    that cannot be written is only a slower next start."""
    import os
    import tempfile

    body = "".join(f"{d.isoformat()} {o} {c}\n" for d, (o, c) in sessions.items()) + "end\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(body)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _xnys_session(day: date) -> Optional[tuple[int, int]]:
    return _xnys_decade(day.year - day.year % 10).get(day)


# --------------------------------------------------------------------------- helpers


def _ns(dt: datetime) -> int:
    """Aware datetime -> UTC nanoseconds (exact for whole seconds)."""
    return int(dt.timestamp()) * NS_PER_S + dt.microsecond * 1000


def _at(day: date, hour: int, minute: int, tz: ZoneInfo | timezone) -> int:
    return _ns(datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz))


def _parse_hhmm(text: str, what: str) -> tuple[int, int]:
    """HH:MM; an end may be 24:00 (the end of the day)."""
    try:
        h, m = text.split(":")
        hour, minute = int(h), int(m)
        if (hour, minute) == (24, 0) and what == "end":
            return hour, minute
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValueError
    except ValueError:
        allowed = "HH:MM (00:00-23:59, or 24:00 for an end)" if what == "end" else "HH:MM (00:00-23:59)"
        raise ValueError(f"session policy {what} {text!r} is not a time of day: allowed {allowed}") from None
    return hour, minute


def _at_or_midnight(day: date, hour: int, minute: int, tz: ZoneInfo | timezone) -> int:
    """``_at``, with 24:00 meaning the next day's 00:00."""
    if hour == 24:
        return _at(day + timedelta(days=1), 0, 0, tz)
    return _at(day, hour, minute, tz)


@dataclass(frozen=True, slots=True)
class _Window:
    start_ns: int
    end_ns: int
    name: str  # session name, or the setup name for policy windows


@dataclass(frozen=True, slots=True)
class _DayPlan:
    """Everything about one session day, in UTC nanoseconds."""

    day: date
    start_ns: int  # the session day's span [start_ns, end_ns)
    end_ns: int
    trading: bool
    half_day: bool
    rth: Optional[tuple[int, int]]
    segments: tuple[_Window, ...]  # named sessions covering the span, in order
    policy: tuple[_Window, ...]  # recommended-setup windows inside RTH
    rules: tuple[_Window, ...] = ()  # trading-policy windows inside RTH, named by their label


# --------------------------------------------------------------------------- calendar


class SessionCalendar:
    """Session names, RTH bounds and the countdown to the next session for one kind
    of instrument. One instance per kind; cheap to create (the NYSE schedule is a
    process-wide cache)."""

    def __init__(self, kind: str = "us_equity", policy: Optional[list[SessionPolicy]] = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown session kind {kind!r}; allowed: {', '.join(KINDS)}")
        self.kind = kind
        self._policy: list[tuple[int, int, int, int, Optional[str]]] = []
        self._rules: list[tuple[int, int, int, int, str]] = []  # trading policies (they list setups)
        for entry in SessionsConfig().policy if policy is None else policy:
            sh, sm = _parse_hhmm(entry.start, "start")
            eh, em = _parse_hhmm(entry.end, "end")
            if (eh, em) <= (sh, sm):
                raise ValueError(f"session policy window {entry.start}-{entry.end} ends before it starts")
            self._policy.append((sh, sm, eh, em, entry.setup))
            if entry.setups is not None:
                self._rules.append((sh, sm, eh, em, entry.label))
        # the day plans of every calendar of this kind and these windows: a sweep or a benchmark
        # makes a calendar per run, and a plan (immutable) is ~50 us of datetime work per day
        self._plans: dict[date, _DayPlan] = _SHARED_PLANS.setdefault(
            (kind, tuple(self._policy), tuple(self._rules)), {})
        self._last: Optional[_DayPlan] = None
        self.tz_name, self.zone = ZONES[kind]
        self._tz = ZoneInfo(self.tz_name)

    # ------------------------------------------------------------------ public API

    def info(self, ts_ns: int) -> SessionInfo:
        """The session indicator at ``ts_ns``: name, ET clock, recommended setup,
        today's RTH, and the next session with the seconds until it starts. The
        next session skips CLOSED stretches: on Friday evening it is Sunday's ASIA."""
        plan = self._plan_at(ts_ns)
        name = self._name_in(plan, ts_ns)
        in_rth = plan.rth is not None and plan.rth[0] <= ts_ns < plan.rth[1]
        setup = None
        if in_rth:
            for w in plan.policy:
                if w.start_ns <= ts_ns < w.end_ns:
                    setup = w.name
                    break
        next_name, next_ns = self._next_session(ts_ns, name)
        et = datetime.fromtimestamp(ts_ns // NS_PER_S, ET)
        active = next((w.name for w in plan.rules if w.start_ns <= ts_ns < w.end_ns), None)
        upcoming = next((w for w in plan.rules if w.start_ns > ts_ns), None)
        local = datetime.fromtimestamp(ts_ns // NS_PER_S, self._tz)
        return SessionInfo(
            name=name,
            et_time=f"{et.hour:02d}:{et.minute:02d}:{et.second:02d}",
            recommended_setup=setup,
            is_trading_day=plan.trading,
            is_half_day=plan.half_day,
            rth_open_ns=plan.rth[0] if plan.rth else None,
            rth_close_ns=plan.rth[1] if plan.rth else None,
            next_session=next_name,
            seconds_to_next=(next_ns - ts_ns) / NS_PER_S,
            in_rth=in_rth,
            policy=active,
            next_policy=upcoming.name if upcoming is not None else None,
            seconds_to_next_policy=(upcoming.start_ns - ts_ns) / NS_PER_S if upcoming is not None else None,
            phase=self._phase(plan, ts_ns, in_rth),
            local_time=f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}",
            zone=self.zone,
            tz=self.tz_name,
            next_open_ns=self.next_open_ns(ts_ns),
        )

    def name_at(self, ts_ns: int) -> tuple[str, bool]:
        """(``info(ts_ns).name``, ``info(ts_ns).in_rth``) without the rest of ``info``
        (the next sessions, the clocks): a backtest's breakdown labels thousands of
        entries with these two."""
        plan = self._plan_at(ts_ns)
        return self._name_in(plan, ts_ns), plan.rth is not None and plan.rth[0] <= ts_ns < plan.rth[1]

    def _phase(self, plan: _DayPlan, ts_ns: int, in_rth: bool) -> str:
        if self.kind != "us_equity":
            return PHASE_24H if in_rth else PHASE_CLOSED
        if in_rth:
            return PHASE_RTH
        if plan.rth is not None and ts_ns < plan.rth[0] and ts_ns >= _at(plan.day, *PRE_MARKET, ET):
            return PHASE_PRE
        return PHASE_CLOSED

    def next_open_ns(self, ts_ns: int) -> int:
        """The first regular-hours open after ``ts_ns`` (24-hour kinds: the next trading
        day's start), 0 when none comes within the look-ahead."""
        plan = self._plan_at(ts_ns)
        for _ in range(_MAX_LOOKAHEAD_DAYS):
            if plan.rth is not None and plan.rth[0] > ts_ns:
                return plan.rth[0]
            plan = self._plan(plan.day + timedelta(days=1))
        return 0

    def session_date(self, ts_ns: int) -> date:
        """The session day ``ts_ns`` belongs to (see the module doc for each kind's
        day boundary). May be a non-trading day (weekend, holiday)."""
        return self._plan_at(ts_ns).day

    def in_rth(self, ts_ns: int) -> bool:
        """Inside regular trading hours (24-hour kinds: anywhere in a trading day)."""
        rth = self._plan_at(ts_ns).rth
        return rth is not None and rth[0] <= ts_ns < rth[1]

    def rth_bounds(self, day: date) -> Optional[tuple[int, int]]:
        """(open_ns, close_ns) of ``day``'s regular hours, None when it does not trade."""
        return self._plan(day).rth

    def is_trading_day(self, day: date) -> bool:
        if self.kind == "us_equity":
            return _xnys_session(day) is not None
        if self.kind == "24h_chicago":
            return day.weekday() < 5
        return True

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        d = day
        for _ in range(_MAX_LOOKAHEAD_DAYS):
            d -= timedelta(days=1)
            if self.is_trading_day(d):
                return d
        raise ValueError(f"no {self.kind} trading day in the {_MAX_LOOKAHEAD_DAYS} days before {day}")

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        d = day
        for _ in range(_MAX_LOOKAHEAD_DAYS):
            d += timedelta(days=1)
            if self.is_trading_day(d):
                return d
        raise ValueError(f"no {self.kind} trading day in the {_MAX_LOOKAHEAD_DAYS} days after {day}")

    def session_start_ns(self, ts_ns: int) -> int:
        """Start of the session day containing ``ts_ns`` (us_equity: 20:00 ET the
        evening before; 24h_utc: 00:00 UTC; 24h_chicago: 17:00 CT the day before).
        Two timestamps share a session exactly when this value is equal."""
        return self._plan_at(ts_ns).start_ns

    def session_bounds(self, ts_ns: int) -> tuple[int, int]:
        """[start_ns, end_ns) of the session day containing ``ts_ns``."""
        plan = self._plan_at(ts_ns)
        return plan.start_ns, plan.end_ns

    def minutes_to_close(self, ts_ns: int) -> Optional[float]:
        """Minutes until the RTH close while inside RTH, else None (24-hour kinds:
        until the end of the trading day)."""
        rth = self._plan_at(ts_ns).rth
        if rth is None or not (rth[0] <= ts_ns < rth[1]):
            return None
        return (rth[1] - ts_ns) / NS_PER_MIN

    # ------------------------------------------------------------------ day plans

    def _plan_at(self, ts_ns: int) -> _DayPlan:
        last = self._last
        if last is not None and last.start_ns <= ts_ns < last.end_ns:
            return last
        plan = self._plan(self._date_of(ts_ns))
        self._last = plan
        return plan

    def _date_of(self, ts_ns: int) -> date:
        secs = ts_ns // NS_PER_S
        if self.kind == "us_equity":  # the day turns at 20:00 ET
            return (datetime.fromtimestamp(secs, ET) + timedelta(hours=4)).date()
        if self.kind == "24h_chicago":  # the day turns at 17:00 CT
            return (datetime.fromtimestamp(secs, CHICAGO) + timedelta(hours=7)).date()
        return datetime.fromtimestamp(secs, UTC).date()

    def _span(self, day: date) -> tuple[int, int]:
        prev, nxt = day - timedelta(days=1), day + timedelta(days=1)
        if self.kind == "us_equity":
            return _at(prev, 20, 0, ET), _at(day, 20, 0, ET)
        if self.kind == "24h_chicago":
            return _at(prev, 17, 0, CHICAGO), _at(day, 17, 0, CHICAGO)
        return _at(day, 0, 0, UTC), _at(nxt, 0, 0, UTC)

    def _plan(self, day: date) -> _DayPlan:
        plan = self._plans.get(day)
        if plan is None:
            if len(self._plans) >= _MAX_CACHED_DAYS:
                self._plans.clear()
            plan = self._plans[day] = self._build(day)
        return plan

    def _build(self, day: date) -> _DayPlan:
        start, end = self._span(day)
        half_day = False
        if self.kind == "us_equity":
            rth = _xnys_session(day)
            if rth is not None:
                # a half day closes before 16:00 ET (13:00 in practice)
                half_day = rth[1] < _at(day, 16, 0, ET)
        else:
            rth = (start, end) if self.is_trading_day(day) else None
        if rth is None:
            return _DayPlan(day, start, end, False, False, None, (_Window(start, end, CLOSED),), ())

        # boundaries of the ET clock sessions over the ET dates the span touches
        first_et = datetime.fromtimestamp(start // NS_PER_S, ET).date() - timedelta(days=1)
        last_et = datetime.fromtimestamp(end // NS_PER_S, ET).date()
        points: list[tuple[int, str]] = []
        d = first_et
        while d <= last_et:
            for hour, minute, name in _ET_BOUNDARIES:
                if self.kind == "us_equity" and d == day and name in (NEW_YORK, AFTER_HOURS):
                    t = rth[0] if name == NEW_YORK else rth[1]
                else:
                    t = _at(d, hour, minute, ET)
                points.append((t, name))
            d += timedelta(days=1)
        points.sort()
        segments: list[_Window] = []
        for i, (t, name) in enumerate(points):
            t_next = points[i + 1][0] if i + 1 < len(points) else end
            s, e = max(t, start), min(t_next, end)
            if s < e:
                segments.append(_Window(s, e, name))

        policy: list[_Window] = []
        rules: list[_Window] = []
        d = first_et
        while d <= last_et:
            for sh, sm, eh, em, setup in self._policy:
                if setup is None:
                    continue
                s, e = max(_at(d, sh, sm, ET), rth[0]), min(_at_or_midnight(d, eh, em, ET), rth[1])
                if s < e:
                    policy.append(_Window(s, e, setup))
            for sh, sm, eh, em, label in self._rules:
                s, e = max(_at(d, sh, sm, ET), rth[0]), min(_at_or_midnight(d, eh, em, ET), rth[1])
                if s < e:
                    rules.append(_Window(s, e, label))
            d += timedelta(days=1)
        rules.sort(key=lambda w: w.start_ns)
        return _DayPlan(day, start, end, True, half_day, rth, tuple(segments), tuple(policy), tuple(rules))

    # ------------------------------------------------------------------ names and countdown

    @staticmethod
    def _name_in(plan: _DayPlan, ts_ns: int) -> str:
        for w in plan.segments:
            if ts_ns < w.end_ns:
                return w.name
        return plan.segments[-1].name  # unreachable: ts_ns is inside the span

    def _segments_after(self, ts_ns: int) -> Iterator[_Window]:
        plan = self._plan_at(ts_ns)
        for _ in range(_MAX_LOOKAHEAD_DAYS):
            for w in plan.segments:
                if w.start_ns > ts_ns:
                    yield w
            plan = self._plan(plan.day + timedelta(days=1))

    def _next_session(self, ts_ns: int, current: str) -> tuple[str, int]:
        """The next session that trades: the first segment after the current run of
        ``current`` ends, skipping CLOSED stretches. A run may cross session-day
        boundaries (BTC's ASIA spans 00:00 UTC)."""
        crossed_closed = False
        for w in self._segments_after(ts_ns):
            if w.name == CLOSED:
                crossed_closed = True
            elif w.name != current or crossed_closed:
                return w.name, w.start_ns
        raise ValueError(f"no {self.kind} session in the {_MAX_LOOKAHEAD_DAYS} days after ts_ns={ts_ns}")
