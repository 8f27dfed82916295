"""The signal desk: what happens to a signal between its setup and the router.

It owns the mode (WATCH shows, SEMI queues for the trader, AUTO sends), the
pause on new entries, the pending approvals with their expiry (a time to live,
or price running past the entry), and the decision on every signal, with its
reason, recorded and counted per setup and per blocking rule. It never talks to
the broker's order side: a signal it approves is handed back to the engine,
which gives it to the router.

A pending signal's time to live is data time (``signal_ttl_s``), so a replay
decides the same at any speed. A person, though, decides in wall time: given a
``wall`` clock (an interactive run; never a backtest, which is AUTO anyway), a
SEMI signal also stays until ``min_decision_s`` of wall time has passed, so at
x10 or at max speed the trader still has time to approve it. Price running past
the entry still expires it at once: the trade is gone, not the trader's time.

An approval the broker cannot take yet (a market entry on the paper broker, which
has no price of the symbol right after a restart restored the signal) is held:
the signal stays pending, marked ``AWAITING_PRICE``, its expiry by time and by
price unchanged, and the engine sends it (risk checked again) at the symbol's
first price; if none comes within its time to live it expires saying so. It is
never sent against a price the market has not given in this run.
"""
from __future__ import annotations

import math
from collections import Counter, deque
from typing import Callable, Optional

from .analytics.session import SessionCalendar
from .brokers.base import Broker
from .clock import Clock
from .config import CockpitConfig
from .model import NS_PER_S, BrokerEvent, Decision, Mode, OrderLeg, Signal, evolve
from .notify import Notifier
from .recorder import Recorder
from .risk import RiskManager, RiskRule

MAX_DECISIONS = 50


PEG_NOTE = " · peg: "  # what a pegged entry's latest step adds to its signal's decision reason
AWAITING_PRICE = "approved: waiting for a price"  # a held approval's pending row (``hold_for_price``)


class SignalDesk:
    def __init__(self, config: CockpitConfig, calendar: SessionCalendar, risk: RiskManager, broker: Broker,
                 clock: Clock, recorder: Recorder, notifier: Notifier, counters: Counter,
                 data_age_s: Callable[[int], Optional[float]], run_id: str = "",
                 may_add: Callable[[Signal], bool] = lambda sig: False) -> None:
        self.config = config
        self.calendar = calendar
        self.risk = risk
        self.broker = broker
        self.clock = clock
        self.recorder = recorder
        self.notifier = notifier
        self.counters = counters
        self.data_age_s = data_age_s
        self.run_id = run_id  # namespaces signal ids of a simulated/replayed run ("" = none)
        # True for a signal that may add to the symbol's open position (OrderRouter.may_add)
        self.may_add = may_add
        self.mode: Mode = config.app.mode
        self.entries_paused = False
        self.pending: dict[str, Signal] = {}
        self.decisions: deque[Signal] = deque(maxlen=MAX_DECISIONS)
        self.signal_counts: Counter[tuple[str, str]] = Counter()  # (setup, decision)
        self.block_reasons: Counter[str] = Counter()  # per RiskRule value
        self.passed_risk = 0  # signals shown to the trader as actionable (pending, watched or sent)
        self.wall: Optional[Clock] = None  # a person's clock (clock.MonotonicClock): SEMI's least time to decide
        self._decide_by: dict[str, int] = {}  # pending signal id -> wall ns before which it never expires by time
        # pending signals the trader approved that wait for their symbol's first price (``hold_for_price``)
        self.awaiting_price: dict[str, None] = {}  # (a dict: sent in the order approved)

    # ------------------------------------------------------------------ signals in

    def on_signal(self, sig: Signal, now: int) -> Optional[Signal]:
        """Decide a new signal. Returns it (decided AUTO) when it is to be sent now.

        A signal for a symbol that already has a pending signal or an open position
        (about 4 in 10 of sma_cross's) is dropped at the least cost that keeps what
        the trader and the store see: its two journal lines (formatted when read)
        and its decided row, built in one copy."""
        signal_id = f"{self.run_id}:{sig.id}" if self.run_id else sig.id
        self.counters["signals"] += 1
        symbol = sig.symbol
        self.recorder.logf("info", "signal", "{} {} @ {:.2f}: {}", (sig.setup, sig.side, sig.entry, sig.reason),
                           symbol)
        if (self.pending and any(p.symbol == symbol for p in self.pending.values())) or (
                self.broker.has_exposure(symbol) and not self.may_add(sig)):
            reason = f"{symbol} already has a pending signal or an open position"
            self._record(evolve(sig, id=signal_id, decision=Decision.DROPPED, decision_reason=reason,
                                decided_ns=self.clock.now_ns()), "info", None)
            return None
        if signal_id != sig.id:
            sig = evolve(sig, id=signal_id)
        if self.config.sessions.enforce_policy:
            recommended = self.calendar.info(now).recommended_setup
            if recommended != sig.setup:
                self.block_reasons[RiskRule.SESSION_POLICY.value] += 1
                self.decide(sig, Decision.BLOCKED, f"session_policy: this window recommends {recommended or 'no setup'}",
                            level="warn", rule=RiskRule.SESSION_POLICY)
                return None
        decision = self._risk_check(sig, now)
        sig = decision.signal
        if not decision.allowed:
            self.block_reasons[decision.rule.value] += 1
            self.decide(sig, Decision.BLOCKED, decision.reason, level="warn", rule=decision.rule)
            return None
        self.passed_risk += 1
        note = f"; {decision.size_note}" if decision.size_note else ""
        if self.mode is Mode.WATCH:
            self.decide(sig, Decision.WATCHED, "WATCH mode: shown, not sent" + note)
            return None
        if self.mode is Mode.SEMI:
            # the pending row shows which cap bound the size (decision_reason of a pending signal)
            sig = evolve(sig, expires_ns=now + int(self.config.engine.signal_ttl_s * NS_PER_S),
                         decision_reason=decision.size_note)
            self._queue(sig)
            self.recorder.signal(sig)
            self.notifier.notify()
            return None
        return self.decide(sig, Decision.AUTO, "AUTO mode" + note)

    def _queue(self, sig: Signal) -> None:
        self.pending[sig.id] = sig
        if self.wall is not None:
            self._decide_by[sig.id] = self.wall.now_ns() + int(self.config.engine.min_decision_s * NS_PER_S)

    def _take(self, signal_id: str) -> Optional[Signal]:
        """A pending signal leaves the queue (decided, expired or dropped)."""
        self._decide_by.pop(signal_id, None)
        self.awaiting_price.pop(signal_id, None)
        return self.pending.pop(signal_id, None)

    def _risk_check(self, sig: Signal, now: int):
        b = self.broker
        return self.risk.check(sig, b.account(), b.positions(), b.open_orders(), now, self.data_age_s(now),
                               entries_paused=self.entries_paused)

    # ------------------------------------------------------------------ the trader's answers

    def approve(self, signal_id: str) -> Optional[Signal]:
        """The pending signal, decided: APPROVED (to be sent) or BLOCKED by risk as of now.
        None when no such signal is pending."""
        held = signal_id in self.awaiting_price
        sig = self._take(signal_id)
        if sig is None:
            self.recorder.log("warn", "decision", f"approve: no pending signal {signal_id}")
            return None
        decision = self._risk_check(sig, self.clock.now_ns())
        if not decision.allowed:
            self.block_reasons[decision.rule.value] += 1
            return self.decide(decision.signal, Decision.BLOCKED, f"approved but blocked: {decision.reason}",
                               level="warn", rule=decision.rule)
        note = f"; {decision.size_note}" if decision.size_note else ""
        if held:
            note += "; sent at the symbol's first price after the approval waited for one"
        return self.decide(decision.signal, Decision.APPROVED, "approved by trader" + note)

    def hold_for_price(self, signal_id: str) -> Optional[Signal]:
        """The trader approved a signal the broker cannot take yet (no price of its
        symbol in this run): it stays pending, marked ``AWAITING_PRICE`` (its row says
        so), and is sent at the first price (``ready_to_send``) or expires as any other."""
        sig = self.pending.get(signal_id)
        if sig is None:
            self.recorder.log("warn", "decision", f"approve: no pending signal {signal_id}")
            return None
        if signal_id not in self.awaiting_price:
            self.awaiting_price[signal_id] = None
            sig = self.pending[signal_id] = evolve(sig, decision_reason=_with_wait_note(sig.decision_reason))
            self.recorder.log("info", "decision", f"{sig.setup} {sig.side} {sig.symbol}: approved, waiting for a "
                              f"price: no {sig.symbol} price yet in this run (sent at the first one while the "
                              f"signal lives)", sig.symbol, {"signal_id": sig.id})
            self.recorder.signal(sig)
            self.notifier.notify()
        return sig

    def ready_to_send(self, can_price: Callable[[str], bool]) -> list[str]:
        """The held approvals whose symbol has a price now (``can_price``), in approval order."""
        return [sid for sid in self.awaiting_price if sid in self.pending and can_price(self.pending[sid].symbol)]

    def reject(self, signal_id: str, reason: str = "rejected by trader") -> Optional[Signal]:
        sig = self._take(signal_id)
        if sig is None:
            return None
        return self.decide(sig, Decision.REJECTED, reason)

    def set_mode(self, mode: Mode) -> None:
        if mode is self.mode:
            return
        old, self.mode = self.mode, mode
        self.recorder.log("warn" if mode is Mode.AUTO else "info", "mode", f"mode {old} -> {mode}")
        if mode is not Mode.SEMI:
            # pending approvals belong to SEMI; in WATCH they must not be sent, in AUTO
            # they were never risk-checked for automatic sending: expire them visibly
            for sid, sig in list(self.pending.items()):
                self._take(sid)
                self.decide(sig, Decision.EXPIRED, f"mode changed to {mode}")

    def pause_entries(self) -> None:
        if not self.entries_paused:
            self.entries_paused = True
            self.recorder.log("warn", "mode", "new entries paused (exits still managed)")

    def resume_entries(self) -> None:
        if self.entries_paused:
            self.entries_paused = False
            self.recorder.log("info", "mode", "new entries resumed")

    # ------------------------------------------------------------------ expiry

    def expire(self, now: int) -> None:
        """Pending signals past their time to live (data time ``now``) and, with a
        wall clock, past their least time to decide."""
        if not self.pending:
            return
        wall_now = self.wall.now_ns() if self.wall is not None else 0
        for sid, sig in list(self.pending.items()):
            if sig.expires_ns and now >= sig.expires_ns and wall_now >= self._decide_by.get(sid, 0):
                held = sid in self.awaiting_price
                self._take(sid)
                if held:
                    self.decide(sig, Decision.EXPIRED, f"approved, but no {sig.symbol} price "
                                f"came within {self.config.engine.signal_ttl_s:g} s: not sent")
                else:
                    self.decide(sig, Decision.EXPIRED, self._expiry_reason())

    def _expiry_reason(self) -> str:
        e = self.config.engine
        if self.wall is not None and e.min_decision_s:
            return f"not approved within {e.signal_ttl_s:g} s of data time and {e.min_decision_s:g} s of wall time"
        return f"not approved within {e.signal_ttl_s:g} s"

    def time_left_s(self, now: int, speed: float) -> dict[str, float]:
        """Wall seconds the trader has left to decide each pending signal: the longer
        of the least time to decide and the data-time TTL at the feed's ``speed``
        (0 = as fast as possible: the data TTL gives no wall time). Empty without a
        wall clock (the UI then counts the data-time TTL down)."""
        if self.wall is None or not self.pending:
            return {}
        wall_now = self.wall.now_ns()
        out = {}
        for sid, sig in self.pending.items():
            guard = max(0.0, (self._decide_by.get(sid, 0) - wall_now) / NS_PER_S)
            data = max(0.0, (sig.expires_ns - now) / NS_PER_S) if sig.expires_ns else math.inf
            out[sid] = max(guard, data / speed if speed > 0 else 0.0)
        return out

    def on_trade(self, symbol: str, price: float, ts_ns: int) -> None:
        """A trade while signals are pending: expiry by time and by price, on data time."""
        self.expire(ts_ns)
        self.check_run_past(symbol, price)

    def check_run_past(self, symbol: str, price: float) -> None:
        """Pending signals whose price ran past the entry by signal_run_fraction of the stop distance."""
        frac = self.config.engine.signal_run_fraction
        for sid, sig in list(self.pending.items()):
            if sig.symbol != symbol:
                continue
            stop_dist = abs(sig.entry - sig.stop)
            run = (price - sig.entry) * sig.side.sign
            if stop_dist > 0 and run > frac * stop_dist:
                self._take(sid)
                self.decide(sig, Decision.EXPIRED,
                            f"price {price:.2f} ran {run / stop_dist:.2f}x the stop distance past entry")

    # ------------------------------------------------------------------ views

    def entry_block_reason(self, now: int) -> str:
        if self.entries_paused:
            return "entries paused"
        return self.risk.entry_block_reason(now, self.broker.account(), self.data_age_s(now))

    def restore(self, decisions: list[Signal], pending: list[Signal], symbols) -> None:
        """A restart: today's decisions (newest first) and the signals still awaiting the trader."""
        for sig in reversed(decisions[:MAX_DECISIONS]):
            self.decisions.appendleft(sig)
        for sig in pending:
            if sig.symbol in symbols:  # a held approval is the trader's to give again after a restart
                self._queue(_without_wait_note(sig))

    def on_entry_note(self, ev: BrokerEvent) -> None:
        """A pegged entry's step (placed, re-pegged, pulled, sent at market, cancelled:
        an event reason starting "peg: ") shown on its signal's row: the decision's
        reason gains " · peg: ..." (the latest step replaces the one before)."""
        reason = ev.reason
        if not reason or not reason.startswith("peg: "):  # (most events: no peg step)
            return
        o = ev.order
        if o.leg is not OrderLeg.ENTRY or not o.signal_id:
            return
        for i, sig in enumerate(self.decisions):
            if sig.id == o.signal_id:
                base = sig.decision_reason.split(PEG_NOTE, 1)[0]
                sig = evolve(sig, decision_reason=f"{base}{PEG_NOTE}{ev.reason[len('peg: '):]}")
                self.decisions[i] = sig
                self.recorder.signal(sig)
                return

    # ------------------------------------------------------------------ decisions

    def decide(self, sig: Signal, decision: Decision, reason: str, level: str = "info",
               rule: Optional[RiskRule] = None) -> Signal:
        """Record a decision; a block names its ``rule`` in the journal line's data
        (what the alerts and the metrics tell blocks apart by)."""
        return self._record(evolve(sig, decision=decision, decision_reason=reason, decided_ns=self.clock.now_ns()),
                            level, rule)

    def _record(self, sig: Signal, level: str, rule: Optional[RiskRule]) -> Signal:
        """A decided signal (``decision``, its reason and time set) into the decisions,
        the counts, the journal and the store."""
        decision = sig.decision
        self.decisions.appendleft(sig)
        self.signal_counts[(sig.setup, decision.value)] += 1
        kind = "block" if decision is Decision.BLOCKED else "decision"
        data = {"signal_id": sig.id} if rule is None else {"signal_id": sig.id, "rule": rule.value}
        self.recorder.logf(level, kind, "{}: {} {} {} — {}", (decision, sig.setup, sig.side, sig.symbol,
                                                               sig.decision_reason), sig.symbol, data)
        self.recorder.signal(sig)
        return sig


def _with_wait_note(reason: str) -> str:
    return f"{AWAITING_PRICE} | {reason}" if reason else AWAITING_PRICE


def _without_wait_note(sig: Signal) -> Signal:
    """The signal without the held approval's mark (its size note, if any, kept)."""
    reason = sig.decision_reason
    if not reason.startswith(AWAITING_PRICE):
        return sig
    return evolve(sig, decision_reason=reason[len(AWAITING_PRICE):].removeprefix(" | "))
