"""Analytics computed once, replayed per parameter combination.

A sweep varies setup, exit and risk parameters far more often than analytics
parameters. The analytics of a symbol (profiles, flow, state, structure) do
not depend on ``min_aggression`` or ``atr_stop``, so they are computed once per
symbol (and per distinct set of analytics parameters) by the real
SymbolAnalytics, and their per-bar results -- the applied bar, the
SymbolSnapshot, the LVN alerts, the rejects -- are recorded. Each combination
then runs the real Engine with ``ReplayedAnalytics`` in place of
SymbolAnalytics: an object with the same interface that hands back the
recorded results in order. Everything after analytics (setups, risk, exits,
paper broker) is the engine's own code, once per combination.

The analytics recorded are the ones the setups read (their ``needs``; a
recording for the auction setup builds no session profiles at all), and the
recorded snapshots drop what no setup or engine step reads (profile
histograms, the CVD sparkline) to keep a year of them small (``_Slim``; a
setup that reads them needs them kept there). The input bars are kept
too, so every combination replays the same Bar objects instead of building
them again.

The setups can be taped the same way (``record_signals``): the combination's
real setups run once over the recorded snapshots, exactly as the engine would
call them, and ``ReplayedSetup`` hands their signals back. With a tape the
engine need not see a bar on which it provably does nothing: no signal, no
position, no working order, no alert, no rejected data (runner.BacktestRun
visits only the other bars). Setups are pure functions of the snapshots and
times they are given, which is what makes the tape exact.

Bars data only: with trades data the paper broker fills on individual trades,
so a sweep over trades runs the full engine per combination.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Optional

import numpy as np

from ..analytics.session import SessionCalendar
from ..analytics.symbol import SymbolAnalytics
from ..config import StrategyParams
from ..feeds.loaders import BarsArrays
from ..model import NS_PER_MIN, Bar, LvnAlert, ProfileStats, Signal, SymbolSnapshot, Trade

# StrategyParams keys that only setups, exits or sizing read: changing them does
# not change a single analytics number. Any other key (including ones added
# later) is assumed to change the analytics, which is always safe.
SETUP_ONLY_KEYS = frozenset({
    "setups", "enabled", "min_aggression", "balance_min_aggression", "allow_balance_trades",
    "atr_stop", "atr_target", "reclaim_bars", "sma_period", "target1_r", "partial_fraction",
    "trail_activate_r", "trail_atr", "trade_timeout_min", "flat_before_close_min",
    "stop_mode", "stop_pct", "tp_pct", "r_dollars", "qty", "trail_pct", "trail_activate_pct",
})


def analytics_key(params: StrategyParams) -> tuple:
    """Two parameter sets with equal keys produce identical analytics."""
    d = params.model_dump()
    return tuple(sorted((k, repr(v)) for k, v in d.items() if k not in SETUP_ONLY_KEYS))


@dataclass
class Recording:
    symbol: str
    bars: list  # applied bar (None when rejected), per input bar
    snaps: list  # SymbolSnapshot after each input bar (None when rejected)
    alerts: dict = field(default_factory=dict)  # input index -> [LvnAlert]
    rejects: dict = field(default_factory=dict)  # input index -> [(Trade, reason)]
    malformed: int = 0
    needs: Optional[frozenset] = None  # what the analytics computed (None = everything)
    inputs: list = field(default_factory=list)  # the input bars, in order
    _state_prefix: Optional[dict] = field(default=None, repr=False)
    _sessions: Optional[tuple] = field(default=None, repr=False)
    _ranges: Optional[tuple] = field(default=None, repr=False)

    def ranges(self) -> tuple:
        """(highs, lows) of the input bars as numpy arrays, and the data clock after
        each input (its bar's end; the clock never goes back)."""
        if self._ranges is None:
            highs = np.array([b.high for b in self.inputs], dtype=float)
            lows = np.array([b.low for b in self.inputs], dtype=float)
            ends, now = [], 0
            for b in self.inputs:
                now = max(now, b.ts_ns + NS_PER_MIN)
                ends.append(now)
            self._ranges = (highs, lows, ends)
        return self._ranges

    def state_minutes(self, start: int, stop: int) -> dict[str, int]:
        """Applied in-session bars per market state among inputs ``start:stop``
        (what the engine's ``state_minutes`` counts for those bars)."""
        if self._state_prefix is None:
            keys = [s.state.value if s is not None and s.in_session else None for s in self.snaps]
            self._state_prefix = {
                k: [0, *accumulate(1 if x == k else 0 for x in keys)] for k in set(keys) if k is not None
            }
        out = {}
        for k, pre in self._state_prefix.items():
            n = pre[stop] - pre[start]
            if n:
                out[k] = n
        return out

    def session_starts(self, calendar: SessionCalendar) -> tuple[list[int], list]:
        """(input indices, session dates) of the applied bars that begin a session date."""
        if self._sessions is None or self._sessions[0] is not calendar:
            idx, days = [], []
            lo = hi = 0
            last = None
            for i, bar in enumerate(self.bars):
                if bar is None:
                    continue
                ts = bar.ts_ns
                if not (lo <= ts < hi):
                    lo, hi = calendar.session_bounds(ts)
                    day = calendar.session_date(ts)
                    if day != last:
                        idx.append(i)
                        days.append(day)
                        last = day
            self._sessions = (calendar, idx, days)
        return self._sessions[1], self._sessions[2]


class _Slim:
    """Strips histograms/sparklines, sharing one stripped copy per original object."""

    def __init__(self) -> None:
        self._profiles: dict[int, tuple[ProfileStats, ProfileStats]] = {}

    def profile(self, p: Optional[ProfileStats]) -> Optional[ProfileStats]:
        if p is None or not p.histogram:
            return p
        hit = self._profiles.get(id(p))
        if hit is not None and hit[0] is p:
            return hit[1]
        slim = replace(p, histogram=())
        if len(self._profiles) > 64:
            self._profiles.clear()
        self._profiles[id(p)] = (p, slim)
        return slim

    def snapshot(self, s: SymbolSnapshot) -> SymbolSnapshot:
        rolling, session, previous = (self.profile(s.rolling), self.profile(s.session_profile),
                                      self.profile(s.previous_profile))
        if (rolling is s.rolling and session is s.session_profile and previous is s.previous_profile
                and not s.flow.cvd_history):
            return s  # nothing to strip (analytics without profiles or sparkline)
        return replace(
            s, rolling=rolling, session_profile=session, previous_profile=previous,
            flow=replace(s.flow, cvd_history=()) if s.flow.cvd_history else s.flow,
        )


def record_bars(symbol: str, bars: BarsArrays, params: StrategyParams, calendar: SessionCalendar,
                warmup: Optional[list[Bar]] = None, slim: bool = True,
                needs: Optional[frozenset] = None) -> Recording:
    """Run the real SymbolAnalytics over ``bars`` making the calls the Engine makes
    per bar (on_bar, drain_rejects when malformed, snapshot, drain_alerts).
    ``needs`` as for SymbolAnalytics (None = everything)."""
    an = SymbolAnalytics(symbol, params, calendar, needs=needs)
    for bar in warmup or ():
        an.on_bar(bar, alerts=False)  # as Engine.warm_up: an approach counts from the session's first price
    an.drain_alerts()
    an.drain_rejects()
    # histograms (profile statistics with nodes) and the CVD sparkline exist only with these needs
    slimmer = _Slim() if slim and {"profiles", "sparkline"} & an.needs else None
    rec = Recording(symbol, [], [], needs=an.needs, inputs=list(bars.iter_bars(symbol)))
    out_bars, out_snaps = rec.bars, rec.snaps
    for i, bar in enumerate(rec.inputs):
        before = an.malformed
        applied = an.on_bar(bar)
        if an.malformed != before:
            rec.rejects[i] = an.drain_rejects()
        out_bars.append(applied)
        if applied is None:
            out_snaps.append(None)
            continue
        snap = an.snapshot()
        out_snaps.append(slimmer.snapshot(snap) if slimmer else snap)
        alerts = an.drain_alerts()
        if alerts:
            rec.alerts[i] = alerts
    rec.malformed = an.malformed
    return rec


class ReplayedAnalytics:
    """SymbolAnalytics' interface (as the Engine uses it on bars) over a Recording."""

    def __init__(self, rec: Recording) -> None:
        self.symbol = rec.symbol
        self.needs = rec.needs
        self._rec = rec
        self._i = -1
        self.malformed = 0
        self._pending_rejects: list = []

    @property
    def recording(self) -> Recording:
        return self._rec

    def seek(self, i: int) -> None:
        """The next ``on_bar`` is input ``i`` (inputs before it were skipped as quiet)."""
        self._i = i - 1

    def on_bar(self, bar: Bar) -> Optional[Bar]:
        i = self._i = self._i + 1
        rec = self._rec
        rej = rec.rejects.get(i)
        if rej:
            self.malformed += len(rej)
            self._pending_rejects.extend(rej)
        return rec.bars[i]

    def on_trade(self, trade: Trade) -> Optional[Bar]:
        raise TypeError("ReplayedAnalytics replays bars; a sweep over trades runs the full analytics")

    def on_quote(self, quote) -> None:
        pass

    def close_until(self, ts_ns: int) -> Optional[Bar]:
        return None  # bars arrive closed

    def snapshot(self) -> SymbolSnapshot:
        return self._rec.snaps[self._i]

    def drain_alerts(self) -> list[LvnAlert]:
        return self._rec.alerts.get(self._i, [])

    def drain_rejects(self) -> list:
        out, self._pending_rejects = self._pending_rejects, []
        return out

    @property
    def last(self) -> float:
        s = self._rec.snaps[self._i] if self._i >= 0 else None
        return s.last if s is not None else float("nan")


# --------------------------------------------------------------------------- setups on tape


@dataclass
class SignalTape:
    """What a combination's setups said over a Recording, run once by the real setups."""

    setups: list  # [(setup name, {now_ns: Signal})], in the engine's setup order
    indices: list  # input indices on which any setup signalled, ascending
    end_ns: int = 0  # the data clock after the last input (its bar's end)


def record_signals(rec: Recording, setups: list) -> SignalTape:
    """Run ``setups`` (fresh, from make_setups) over the recording the way
    Engine.on_bars_closed calls them: every applied bar that is in session, with
    ``now`` = the DataClock after the bar (its end; the clock never goes back)."""
    tapes: list[dict[int, Signal]] = [{} for _ in setups]
    calls = [(s.on_bar, t) for s, t in zip(setups, tapes)]
    indices = []
    ends = rec.ranges()[2]
    for i, (now, bar, snap) in enumerate(zip(ends, rec.bars, rec.snaps)):
        if bar is None or not snap.in_session:
            continue
        hit = False
        for on_bar, tape in calls:
            sig = on_bar(snap, now)
            if sig is not None:
                tape[now] = sig
                hit = True
        if hit:
            indices.append(i)
    return SignalTape([(s.name, t) for s, t in zip(setups, tapes)], indices, ends[-1] if ends else 0)


class ReplayedSetup:
    """A setup's interface, as the Engine calls it on closed bars, over a tape."""

    def __init__(self, name: str, by_now: dict) -> None:
        self.name = name
        self._by_now = by_now

    def on_bar(self, snap: SymbolSnapshot, now_ns: int) -> Optional[Signal]:
        return self._by_now.get(now_ns)
