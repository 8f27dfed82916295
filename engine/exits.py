"""Exit management beyond the bracket (STRATEGY.md section 11), as pure logic.

Why pure: the same rules must run live, in replay and in the backtester, and be
testable without a broker. The ExitManager only says what to do (ExitAction);
the engine carries it out through the broker (a reduce-only market order for
"partial" and "close", ``replace_stop`` for "move_stop").

Rules, each optional per config (``StrategyParams``):
  * partial exit: once the trade is ``target1_r`` R in favour, sell
    floor(qty x ``partial_fraction``) and move the stop to break-even (the entry)
    on the rest. With too few shares to split, only the stop moves. A plan with
    a first target price (``target1``, from ``target1_atr``) does the same there,
    selling ``partial_pct``.
  * trailing stop: once ``trail_activate_r`` R in favour, the stop follows the
    best price by ``trail_atr`` x ATR (stop = extreme -/+ trail_atr x ATR) and
    only ever tightens. If price is already beyond that level, the trade closes.
  * percent trail (per symbol): once the best price is ``trail_activate_pct`` of
    entry in favour, the stop follows it at best x (1 - ``trail_pct``) (x (1 +
    trail_pct) for a short); the best price comes back after a restart
    (``restore_extreme``).
  * time exit: close after ``trade_timeout_min`` minutes in the trade.
  * flat before the close: close when the RTH close is ``flat_before_close_min``
    minutes away or less.
R = |entry - initial stop|; "in favour" is measured at the price given. A fill
at or beyond its stop (a gap) has no R: only the time rules apply to it (the
broker's stop order exits it on the next trade anyway).

Each action fires once: one partial per trade, one close per trade (after it
nothing more is said about the symbol), and a move_stop only when the stop
actually tightens (by at least ``min_stop_step``; a break-even move always).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Optional

from .config import StrategyParams
from .model import NS_PER_MIN, Side
from .stops import exit_profile

ExitKind = Literal["partial", "move_stop", "close"]
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ExitAction:
    kind: ExitKind
    symbol: str
    qty: int  # shares to sell/buy back ("partial", "close"); the remaining qty for "move_stop"
    new_stop: Optional[float]  # "move_stop" only
    reason: str


@dataclass(slots=True)
class TradePlan:
    """What an open position was entered with, and how far its exits have gone."""

    symbol: str
    side: Side
    entry: float
    initial_stop: float
    target: float
    qty: int  # shares still open (after any partial exit this manager ordered)
    opened_ns: int
    params: StrategyParams
    stop: float = 0.0  # the stop as last moved
    extreme: float = 0.0  # best price since entry (high for a long, low for a short)
    partial_done: bool = False
    trailing: bool = False
    target1: float = 0.0  # the first target's price (target1_atr, from the signal's ATR); 0 = by target1_r
    closing: bool = False

    @property
    def r(self) -> float:
        return abs(self.entry - self.initial_stop)

    @property
    def has_r(self) -> bool:
        """False when the fill landed at or beyond the stop (a gap): there is no
        risk unit to measure progress in, so only the time rules apply."""
        return (self.entry - self.initial_stop) * self.side.sign > 0

    def r_multiple(self, price: float) -> float:
        """How many R the trade is in favour at ``price`` (negative when against)."""
        return (price - self.entry) * self.side.sign / self.r


class ExitManager:
    def __init__(
        self,
        params: StrategyParams,
        calendar_minutes_to_close: Callable[[int], Optional[float]],
        min_stop_step: float = 0.01,
    ) -> None:
        """``calendar_minutes_to_close(ts_ns)``: minutes until today's RTH close, None
        when there is no session close to respect (closed day, unknown)."""
        self.params = params
        self._minutes_to_close = calendar_minutes_to_close
        self._min_step = min_stop_step
        self._plans: dict[str, TradePlan] = {}

    # ------------------------------------------------------------------ positions

    def on_position_opened(
        self,
        symbol: str,
        side: Side,
        entry: float,
        stop: float,
        target: float,
        qty: int,
        opened_ns: int,
        params: Optional[StrategyParams] = None,
        target1: float = 0.0,
    ) -> TradePlan:
        """Start managing a position (``params``: the symbol's own, if it has overrides;
        ``target1``: the price of its first target, engine.stops.first_target)."""
        for name, value in (("entry", entry), ("stop", stop)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{symbol}: {name} {value!r} is not a positive price")
        if qty < 1:
            raise ValueError(f"{symbol}: qty {qty} must be >= 1")
        plan = TradePlan(
            symbol=symbol, side=side, entry=entry, initial_stop=stop, target=target, qty=qty,
            opened_ns=opened_ns, params=exit_profile(params or self.params), stop=stop, extreme=entry,
            target1=target1 if math.isfinite(target1) and target1 > 0 else 0.0,
        )
        self._plans[symbol] = plan
        return plan

    def on_position_added(self, symbol: str, qty: int) -> None:
        """An add filled (its own bracket protects it): the position is now ``qty``;
        entry, stop and the clock of the trade stay the first entry's."""
        plan = self._plans.get(symbol)
        if plan is not None:
            plan.qty = qty

    def on_position_closed(self, symbol: str) -> None:
        self._plans.pop(symbol, None)

    def update_qty(self, symbol: str, qty: int) -> None:
        """The broker says the position is now ``qty`` shares (0 = closed)."""
        plan = self._plans.get(symbol)
        if plan is None:
            return
        if qty <= 0:
            del self._plans[symbol]
        else:
            plan.qty = qty

    def action_failed(self, action: ExitAction, stop_in_force: Optional[float], qty: Optional[int]) -> None:
        """The broker refused ``action`` (or it failed on the way): the plan goes back to
        what the broker holds, so the rules act again on the next price. A close is
        tried again; a stop is measured from ``stop_in_force`` (None: no stop at the
        broker, the plan keeps the level it wanted, which a protective stop then uses);
        ``qty`` is the position the broker reports. A partial exit is not tried again
        (its order may have gone through: a second one could sell twice)."""
        plan = self._plans.get(action.symbol)
        if plan is None:
            return
        if action.kind == "close":
            plan.closing = False
        if stop_in_force is not None:
            plan.stop = stop_in_force
        if qty is not None and qty > 0:
            plan.qty = qty

    def plan(self, symbol: str) -> Optional[TradePlan]:
        return self._plans.get(symbol)

    def symbols(self) -> list[str]:
        return list(self._plans)

    # ------------------------------------------------------------------ the rules

    def on_price(self, symbol: str, price: float, ts_ns: int, atr: float) -> list[ExitAction]:
        """The actions a new price calls for (usually none)."""
        plan = self._plans.get(symbol)
        if plan is None or plan.closing or not (math.isfinite(price) and price > 0):
            return []
        p = plan.params
        sign = plan.side.sign
        if (price - plan.extreme) * sign > 0:
            plan.extreme = price

        why_now = self._time_exit(plan, ts_ns)
        if why_now:
            return [self._close(plan, why_now)]

        actions: list[ExitAction] = []
        if not plan.has_r:
            return actions
        if plan.target1 <= 0 and p.target1_r <= 0 and p.trail_activate_r <= 0 and p.trail_pct <= 0:
            return actions  # no price rule on (the bracket alone, as sma_cross's): nothing below can act
        r_now = plan.r_multiple(price)
        new_stop, why, forced = plan.stop, "", False

        if plan.target1 > 0:  # the first ATR target, a price
            hit = (price - plan.target1) * sign >= -_EPS
            fraction = p.partial_pct
        else:
            hit = p.target1_r > 0 and r_now >= p.target1_r - _EPS
            fraction = p.partial_fraction
        if hit and not plan.partial_done:
            rule = f"target1 {plan.target1:.4g} = {p.target1_atr:g} ATR" if plan.target1 > 0 else \
                f"target1_r {p.target1_r:g}"
            plan.partial_done = True
            part = math.floor(plan.qty * fraction + _EPS)
            if 1 <= part < plan.qty:
                actions.append(ExitAction("partial", symbol, part, None,
                                          f"partial exit {part} of {plan.qty} at {r_now:.2f}R ({rule})"))
                plan.qty -= part
            if (plan.entry - new_stop) * sign > 0:
                new_stop, forced = plan.entry, True
                why = (f"break-even {plan.entry:g} after {rule}" if plan.target1 > 0
                       else f"break-even {plan.entry:g} after {p.target1_r:g}R")

        if p.trail_activate_r > 0:
            if not plan.trailing and r_now >= p.trail_activate_r - _EPS:
                plan.trailing = True
            by_r = p.stop_mode == "dollars"  # the fixed-R profile trails by 1R, not by ATR
            if plan.trailing and (by_r or (math.isfinite(atr) and atr > 0)):
                level = plan.extreme - sign * (plan.r if by_r else p.trail_atr * atr)
                if (level - new_stop) * sign > 0:
                    new_stop = level
                    why = (f"trailing: {'high' if sign > 0 else 'low'} {plan.extreme:g} "
                           f"{'-' if sign > 0 else '+'} " + (f"1R {plan.r:.4g}" if by_r else
                                                             f"{p.trail_atr:g} x ATR {atr:.4g}"))

        if p.trail_pct > 0:  # per symbol: a trail in percent of the high-water mark
            gained = (plan.extreme - plan.entry) * sign / plan.entry
            if gained >= p.trail_activate_pct - _EPS:
                level = plan.extreme * (1 - sign * p.trail_pct)
                if (level - new_stop) * sign > 0:
                    new_stop = level
                    why = (f"trail_pct: {'high' if sign > 0 else 'low'}-water {plan.extreme:g} x "
                           f"(1 {'-' if sign > 0 else '+'} {p.trail_pct:g}) after {gained:.2%} in favour "
                           f"(trail_activate_pct {p.trail_activate_pct:g})")

        gain = (new_stop - plan.stop) * sign
        if gain > 0 and (forced or gain >= self._min_step - _EPS):
            if (price - new_stop) * sign <= 0:  # already through the new stop: get out
                actions.append(self._close(plan, f"stop {new_stop:.4f} already reached at {price:g} ({why})"))
                return actions
            plan.stop = new_stop
            actions.append(ExitAction("move_stop", symbol, plan.qty, new_stop, why))
        return actions

    def _time_exit(self, plan: TradePlan, ts_ns: int) -> str:
        """Why a time rule closes ``plan`` at ``ts_ns``, or ""."""
        p = plan.params
        if p.flat_before_close_min > 0:
            left = self._minutes_to_close(ts_ns)
            if left is not None and left <= p.flat_before_close_min + _EPS:
                return (f"flat before the close: {left:.1f} min left "
                        f"(flat_before_close_min {p.flat_before_close_min:g})")
        if p.trade_timeout_min > 0:
            held = (ts_ns - plan.opened_ns) / NS_PER_MIN
            if held >= p.trade_timeout_min - _EPS:
                return f"time exit: in the trade {held:.1f} min >= trade_timeout_min {p.trade_timeout_min:g}"
        return ""

    # ------------------------------------------------------------------ for a backtest that skips quiet bars

    def price_blind(self, symbol: str) -> bool:
        """True when no price can make ``on_price`` act for ``symbol``, only time can:
        no plan, a plan already closing, no R to measure, or neither the partial
        nor the trailing rule on."""
        plan = self._plans.get(symbol)
        if plan is None or plan.closing or not plan.has_r:
            return True
        p = plan.params
        return p.target1_r <= 0 and p.trail_activate_r <= 0 and p.trail_pct <= 0 and plan.target1 <= 0

    def time_exit_due(self, symbol: str, ts_ns: int) -> bool:
        """Would a time rule close ``symbol`` on a price at ``ts_ns``?"""
        plan = self._plans.get(symbol)
        return plan is not None and not plan.closing and bool(self._time_exit(plan, ts_ns))

    def restore_extreme(self, symbol: str, extreme: float, partial_done: bool = False) -> None:
        """A restart: the high-water mark (low for a short) the last run journaled gives
        back the best price and what it had already set off: the trailing rule and the
        partial exit (the broker's position is already the smaller one: no second one)."""
        plan = self._plans.get(symbol)
        if plan is None:
            return
        self.note_prices(symbol, [extreme])
        if plan.has_r and plan.extreme != plan.entry:
            best = plan.r_multiple(plan.extreme)
            p = plan.params
            plan.trailing = p.trail_activate_r > 0 and best >= p.trail_activate_r - _EPS
            plan.partial_done = partial_done or (
                (plan.extreme - plan.target1) * plan.side.sign >= -_EPS if plan.target1 > 0
                else p.target1_r > 0 and best >= p.target1_r - _EPS)
        elif partial_done:
            plan.partial_done = True
        if plan.partial_done and plan.has_r and (plan.entry - plan.stop) * plan.side.sign > 0:
            plan.stop = plan.entry  # the partial moved it to break-even (a protective stop goes there)

    def note_prices(self, symbol: str, prices) -> None:
        """What ``on_price`` does with prices on which no rule acts (``price_blind``
        and no time rule due): track the best price since entry."""
        plan = self._plans.get(symbol)
        if plan is None or plan.closing:
            return
        sign = plan.side.sign
        for price in prices:
            if math.isfinite(price) and price > 0 and (price - plan.extreme) * sign > 0:
                plan.extreme = price

    def _close(self, plan: TradePlan, reason: str) -> ExitAction:
        plan.closing = True
        return ExitAction("close", plan.symbol, plan.qty, None, reason)
