"""Signal expectancy: what every recorded signal would have made, taken or not.

Why: the gates and the trader's own rejections only help if the signals they
refuse would have lost. Replaying each signal's own bracket (its entry, stop and
target) on the bars that followed it, and averaging the outcome in R per setup
and per decision (approved, rejected, expired, blocked by which rule), shows
whether they do.

The replay of one signal (``replay_signal``) follows the paper broker's bracket
rules on bars (engine/brokers/paper.py):

* the entry is the signal's own entry price, at the signal's time; the bars
  replayed are those from the bar in progress at ``created_ns`` (the bar a market
  entry would fill in) up to ``created_ns + horizon`` minutes of data time;
* a bar that opens through the stop exits at its open (a gap through a stop);
  one that opens through the target exits at its open (a limit filled in our
  favour); otherwise a bar that reaches the stop exits at the stop, even when it
  also reached the target (the pessimistic assumption), and one that reaches
  only the target exits at the target;
* in the entry bar (the first one) only the stop is armed, as the paper broker
  arms a take-profit from the bar after the entry filled;
* neither reached within the horizon: the trade is marked at the last bar's close
  (``horizon``); ``short`` says the bars covered less than the horizon (the
  session or the recording ended);
* no bar at all after the signal: outcome ``no bars``, no R, left out of the
  expectancy but counted, so a reader sees how many signals could not be judged;
  a signal whose entry and stop leave no risk to measure R by (equal, or not
  recorded) is ``no risk``, counted the same way.

Every signal is replayed from its creation, whatever happened to it (an approval
a minute later included), so taken and refused signals are judged alike.

R = (exit - entry) x side / |entry - stop|; no slippage or commission: the
figure judges the signal, not the fill.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from .model import NS_PER_MIN, Bar, Decision, Signal
from .risk import RiskRule

TARGET, STOP, HORIZON, NO_BARS, NO_RISK = "target", "stop", "horizon", "no bars", "no risk"
APPROVED_BUT_BLOCKED = "approved but blocked: "


@dataclass(frozen=True)
class SignalOutcome:
    """One signal replayed: how its bracket would have ended and its result in R."""

    signal_id: str
    symbol: str
    setup: str
    side: str
    decision: str  # the decision, a block with its rule: "blocked: max_positions"
    created_ns: int
    entry: float
    stop: float
    target: float
    exit: str  # target | stop | horizon | no bars | no risk
    exit_price: Optional[float]
    exit_ns: Optional[int]  # start of the bar it exited in
    r: Optional[float]  # None when it could not be judged (no bars, no risk)
    bars: int  # bars replayed
    short: bool  # fewer bars than the horizon and no exit: marked early

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class GroupStats:
    """Expectancy of a group of signals (one setup, one decision, or all)."""

    key: str
    signals: int = 0
    judged: int = 0  # with an R (not "no bars")
    wins: int = 0  # R > 0
    losses: int = 0  # R < 0
    targets: int = 0
    stops: int = 0
    at_horizon: int = 0
    no_bars: int = 0
    no_risk: int = 0
    total_r: float = 0.0
    _gains: float = field(default=0.0, repr=False)
    _pains: float = field(default=0.0, repr=False)

    def add(self, o: SignalOutcome) -> None:
        self.signals += 1
        if o.exit == NO_RISK:
            self.no_risk += 1
            return
        if o.exit == NO_BARS or o.r is None:
            self.no_bars += 1
            return
        self.judged += 1
        self.total_r += o.r
        if o.r > 0:
            self.wins += 1
            self._gains += o.r
        elif o.r < 0:
            self.losses += 1
            self._pains -= o.r
        self.targets += o.exit == TARGET
        self.stops += o.exit == STOP
        self.at_horizon += o.exit == HORIZON

    @property
    def expectancy_r(self) -> Optional[float]:
        """Mean R of the judged signals (None when none could be judged)."""
        return self.total_r / self.judged if self.judged else None

    @property
    def win_rate(self) -> Optional[float]:
        return self.wins / self.judged if self.judged else None

    @property
    def profit_factor(self) -> Optional[float]:
        """Sum of winning R / sum of losing R (None without a loss)."""
        return self._gains / self._pains if self._pains > 0 else None

    def as_dict(self) -> dict:
        return {"key": self.key, "signals": self.signals, "judged": self.judged, "wins": self.wins,
                "losses": self.losses, "targets": self.targets, "stops": self.stops, "at_horizon": self.at_horizon,
                "no_bars": self.no_bars, "no_risk": self.no_risk, "total_r": round(self.total_r, 6),
                "expectancy_r": _round(self.expectancy_r), "win_rate": _round(self.win_rate),
                "profit_factor": _round(self.profit_factor)}


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 6)


@dataclass(frozen=True)
class ExpectancyReport:
    horizon_min: int
    outcomes: list[SignalOutcome]
    overall: GroupStats
    by_setup: list[GroupStats]
    by_decision: list[GroupStats]
    by_setup_decision: list[GroupStats]  # "setup / decision"

    def as_dict(self) -> dict:
        return {"horizon_min": self.horizon_min, "signals": len(self.outcomes),
                "overall": self.overall.as_dict(),
                "by_setup": [g.as_dict() for g in self.by_setup],
                "by_decision": [g.as_dict() for g in self.by_decision],
                "by_setup_decision": [g.as_dict() for g in self.by_setup_decision],
                "outcomes": [o.as_dict() for o in self.outcomes]}


# --------------------------------------------------------------------------- one signal


def replay_signal(sig: Signal, bars: Sequence[Bar], horizon_min: int, decision: Optional[str] = None) -> SignalOutcome:
    """``sig``'s bracket on ``bars`` (the symbol's bars, oldest first; those outside
    the signal's window are ignored). ``decision`` labels the outcome (default: the
    signal's decision)."""
    start = sig.created_ns - NS_PER_MIN  # the bar in progress at the signal starts after this
    end = sig.created_ns + horizon_min * NS_PER_MIN
    window = [b for b in bars if start < b.ts_ns < end]
    label = decision if decision is not None else sig.decision.value
    risk = abs(sig.entry - sig.stop)

    def outcome(kind: str, price: Optional[float], ts: Optional[int], n: int, short: bool = False) -> SignalOutcome:
        r = None
        if price is not None and risk > 0 and math.isfinite(risk):
            r = (price - sig.entry) * sig.side.sign / risk
        return SignalOutcome(sig.id, sig.symbol, sig.setup, sig.side.value, label, sig.created_ns, sig.entry,
                             sig.stop, sig.target, kind, price, ts, r, n, short)

    if not (math.isfinite(risk) and risk > 0 and math.isfinite(sig.entry)):
        return outcome(NO_RISK, None, None, 0)
    if not window:
        return outcome(NO_BARS, None, None, 0)
    long = sig.side.sign > 0
    stop, target = sig.stop, sig.target
    for i, b in enumerate(window):
        target_armed = i > 0
        if (b.open <= stop) if long else (b.open >= stop):
            return outcome(STOP, b.open, b.ts_ns, i + 1)
        if target_armed and ((b.open >= target) if long else (b.open <= target)):
            return outcome(TARGET, b.open, b.ts_ns, i + 1)
        if (b.low <= stop) if long else (b.high >= stop):
            return outcome(STOP, stop, b.ts_ns, i + 1)  # also when the target was touched: stop first
        if target_armed and ((b.high >= target) if long else (b.low <= target)):
            return outcome(TARGET, target, b.ts_ns, i + 1)
    last = window[-1]
    short = last.ts_ns + NS_PER_MIN < end  # the last bar ends before the horizon does
    return outcome(HORIZON, last.close, last.ts_ns, len(window), short)


# --------------------------------------------------------------------------- decisions


def block_rule_from_reason(reason: str) -> Optional[str]:
    """The RiskRule a block's reason text names (for stores whose journal no longer
    holds the block line): the rule whose name starts the reason, else one it names."""
    text = reason.removeprefix(APPROVED_BUT_BLOCKED)
    rules = sorted(RiskRule, key=lambda r: -len(r.value))  # "max_positions" before a shorter prefix
    for rule in rules:
        if text.startswith(rule.value):
            return rule.value
    for rule in rules:
        if rule.value in text:
            return rule.value
    return None


def decision_label(sig: Signal, rule: Optional[str] = None) -> str:
    """approved / auto / rejected / expired / watched / dropped / pending, and a block
    with its rule ("blocked: daily loss limit"); ``rule`` from the journal, else read
    from the reason."""
    if sig.decision is not Decision.BLOCKED:
        return sig.decision.value
    rule = rule or block_rule_from_reason(sig.decision_reason)
    return f"blocked: {rule}" if rule else "blocked: rule unknown"


# --------------------------------------------------------------------------- many signals


def _group(outcomes: Iterable[SignalOutcome], key: Callable[[SignalOutcome], str]) -> list[GroupStats]:
    groups: dict[str, GroupStats] = {}
    for o in outcomes:
        k = key(o)
        groups.setdefault(k, GroupStats(k)).add(o)
    return [groups[k] for k in sorted(groups)]


def expectancy(signals: Sequence[Signal], bars_by_symbol: dict[str, Sequence[Bar]], horizon_min: int,
               block_rules: Optional[dict[str, str]] = None) -> ExpectancyReport:
    """Replay ``signals`` (oldest first) on their symbol's bars and group the results.
    ``block_rules``: signal id -> the RiskRule value that blocked it (the journal's)."""
    if horizon_min < 1:
        raise ValueError(f"horizon must be at least 1 minute, got {horizon_min}")
    rules = block_rules or {}
    outcomes = [replay_signal(s, bars_by_symbol.get(s.symbol, ()), horizon_min, decision_label(s, rules.get(s.id)))
                for s in signals]
    overall = GroupStats("all")
    for o in outcomes:
        overall.add(o)
    return ExpectancyReport(
        horizon_min, outcomes, overall,
        by_setup=_group(outcomes, lambda o: o.setup),
        by_decision=_group(outcomes, lambda o: o.decision),
        by_setup_decision=_group(outcomes, lambda o: f"{o.setup} / {o.decision}"),
    )
