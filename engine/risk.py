"""Position sizing and every gate that can block a new entry (STRATEGY.md section 10).

Why one place: a trader must be able to trust that nothing reaches the broker
without passing the same limits, whatever the mode, and see in one line why a
signal was refused. Gates only ever block entries; exits are never gated.

Sizing: qty = floor(equity x risk_per_trade_pct / 100 / |entry - stop|), then
capped by buying power (qty x entry <= buying power) and by
``max_position_notional`` (qty x entry <= the cap). The reason of a qty < 1
block names the limit that bound.

The daily-loss gate latches: once day P&L <= -max_daily_loss_pct % of
start-of-day equity, new entries stay blocked until ``new_session()`` even if
the P&L recovers. ``new_session()`` also resets the consecutive-loss count.

The RiskManager sizes the signal (qty, risk_usd, r_multiple) but leaves its
``decision`` fields alone: recording the decision is the engine's job.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from datetime import datetime, time, timezone
from typing import Callable, Optional
from zoneinfo import ZoneInfo

from .config import RiskConfig, SessionPolicy, SizingConfig
from .sizing import MarketView, factors
from .model import Account, Order, OrderLeg, Position, Signal, evolve, record
from .options_gate import OptionsFeedback, OptionsReading, verdict_of

OPTIONS_NOTE = " | "  # joins the options gate's figures to a signal's reason

_EPS = 1e-9
_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR


class RiskRule(str, Enum):
    """The gate that blocked an entry. Its value is the key the run summary counts
    blocks under (``blocked_reasons``); the reason text carries the figures."""

    ENTRIES_PAUSED = "entries paused"
    DAILY_LOSS = "daily loss limit"
    MIN_ACCOUNT_BALANCE = "min_account_balance"
    CONSECUTIVE_LOSSES = "max_consecutive_losses"
    DATA_STALE = "data stale"
    TRADING_WINDOW = "outside the trading window"
    DENY_LIST = "deny list"
    ALLOW_LIST = "allow list"
    MAX_POSITIONS = "max_positions"
    MAX_OPEN_ORDERS = "max_open_orders"
    INVALID_STOP = "invalid stop"
    SIZE_BELOW_ONE = "qty"
    MIN_REWARD_RISK = "min_reward_risk"
    SESSION_POLICY = "session_policy"
    POWER_HOUR = "power_hour"
    OPTIONS_FEEDBACK = "options feedback"  # the chain's volume today or its ATM IV (engine/options_gate.py)
    OPTIONS_DATA = "options data unavailable"  # the gate is on and the chain could not be had


@record  # (a record: frozen under the tests, built without per-field setattrs in a run; one per risk check)
class RiskDecision:
    allowed: bool
    signal: Signal  # sized: qty, risk_usd, r_multiple (qty 0 when blocked before sizing)
    reason: str  # "" when allowed; one readable line when blocked
    rule: Optional[RiskRule] = None  # the gate that blocked; None when allowed
    # when a cap (buying power, max_position_notional) and not the risk budget set qty:
    # which one, e.g. "qty 96 capped by max_position_notional $50,000.00 at $520.00 (risk sizes 1282)"
    size_note: str = ""


@dataclass(frozen=True)
class Block:
    """Why entries are blocked: the gate and one readable line with its figures."""

    rule: RiskRule
    reason: str


def _hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def _money(x: float) -> str:
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


# per session kind: (time zone of its clock, its label, the default entry window or None = all day)
SESSION_WINDOWS = {
    "us_equity": ("America/New_York", "ET", ("09:35", "15:50")),
    "24h_utc": ("UTC", "UTC", None),
    "24h_chicago": ("America/Chicago", "CT", None),
}


def _secs(text: str) -> int:
    """Seconds since midnight of a time of day HH:MM; "24:00" (a policy window's end,
    which the config allows) is the end of the day, 86,400."""
    if text.strip() == "24:00":
        return 86_400
    t = _hhmm(text)
    return t.hour * 3600 + t.minute * 60


class LocalClock:
    """Seconds since local midnight in one time zone. The zone's UTC offset is looked
    up for the UTC day around a time and kept while time stays in it: a day whose two
    ends have the same offset has no change inside (a zone changes its offset at most
    once a day); a day with a change is looked up by the hour instead, and an hour whose
    two ends disagree is converted exactly every time. (Once per UTC day, not per hour:
    a backtest asks at each signal, and its signals rarely share an hour.)"""

    __slots__ = ("tz", "_span")

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._span: tuple[int, int, int] = (0, 0, 0)  # [start_ns, end_ns) of one offset, the offset in ns

    def secs(self, now_ns: int) -> int:
        start, end, off = self._span
        if not (start <= now_ns < end):
            span = self._offset_span(now_ns)
            if span is None:
                t = datetime.fromtimestamp(now_ns / 1e9, tz=timezone.utc).astimezone(self.tz).time()
                return t.hour * 3600 + t.minute * 60 + t.second
            start, end, off = self._span = span
        return ((now_ns + off) // 1_000_000_000) % 86400

    def _offset_span(self, now_ns: int) -> Optional[tuple[int, int, int]]:
        """(start, end, offset ns) of the UTC day, else the UTC hour, around ``now_ns``
        whose two ends have the same offset; None when the hour's ends disagree."""
        for unit in (_NS_PER_DAY, _NS_PER_HOUR):
            start = now_ns - now_ns % unit
            first = start // 1_000_000_000
            a = datetime.fromtimestamp(first, tz=timezone.utc).astimezone(self.tz).utcoffset()
            b = datetime.fromtimestamp(first + unit // 1_000_000_000 - 1, tz=timezone.utc).astimezone(self.tz).utcoffset()
            if a == b:
                return start, start + unit, int(a.total_seconds()) * 1_000_000_000
        return None

    def text(self, now_ns: int) -> str:
        """The local time of day, HH:MM:SS (a blocked signal's reason)."""
        if now_ns % 1_000_000_000 == 0:  # a whole second (every bar's time): the same digits from ``secs``
            s = self.secs(now_ns)
            return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
        return f"{datetime.fromtimestamp(now_ns / 1e9, tz=timezone.utc).astimezone(self.tz):%H:%M:%S}"


@dataclass(frozen=True)
class _Policy:
    """A trading policy window (config.SessionPolicy with ``setups``), in ET seconds of day."""

    start_s: int
    end_s: int
    setups: frozenset[str]
    risk_per_trade_pct: Optional[float]
    label: str


ET = ZoneInfo("America/New_York")


class RiskManager:
    def __init__(self, cfg: RiskConfig, session: str = "us_equity",
                 policies: Optional[list[SessionPolicy]] = None, sizing: Optional[SizingConfig] = None,
                 options: Optional[OptionsFeedback] = None) -> None:
        """The entry window is the trader's for this session kind (``cfg.windows[kind]``,
        else ``trading_start``-``trading_end``) in the session's time zone, or the
        session's default window when none is set; trading ``policies`` (session
        policies that list ``setups``, ET) replace it when given. ``options``: the
        chain readings the options feedback gate judges (``cfg.options_gate``)."""
        self.cfg = cfg
        self.options = options
        tz, self._tz_label, default = SESSION_WINDOWS[session]
        self._tz = ZoneInfo(tz)
        window = cfg.window_for(session) or default
        self.window: Optional[tuple[str, str]] = window  # None: entries all day
        self._start = _hhmm(window[0] if window else "00:00")
        self._end = _hhmm(window[1] if window else "00:00")
        self._start_s = self._start.hour * 3600 + self._start.minute * 60
        self._end_s = self._end.hour * 3600 + self._end.minute * 60
        self._clock = LocalClock(self._tz)
        self._et = self._clock if tz == "America/New_York" else LocalClock(ET)
        self.policies = [_Policy(_secs(p.start), _secs(p.end), frozenset(p.setups), p.risk_per_trade_pct, p.label)
                         for p in policies or () if p.setups is not None]
        self._power_hour = {s.upper() for s in cfg.power_hour_symbols}
        self._size_note = ""  # of the last sizing (see RiskDecision.size_note)
        self.sizing = sizing or SizingConfig()
        self._results: deque[float] = deque(maxlen=20)  # net P&L of the last closed trades (dynamic sizing)
        # a symbol's own fixed shares per entry (its strategy `qty`; the engine sets it; 0 = sized by risk)
        self.symbol_qty: Callable[[str], int] = lambda symbol: 0
        # the market view of a symbol for dynamic sizing (the engine sets it; None = unknown)
        self.market: Callable[[str], Optional[MarketView]] = lambda symbol: None
        self._power_hour_s = _secs(cfg.power_hour_start)
        self._allow = {s.upper() for s in cfg.allow_symbols}
        self._deny = {s.upper() for s in cfg.deny_symbols}
        self._daily_loss_reason = ""  # latched until new_session()
        self._consecutive_losses = 0

    # ------------------------------------------------------------------ state the engine feeds in

    def record_closed_trade(self, pnl: float) -> None:
        """A round trip closed with ``pnl`` (net $). A loss extends the losing
        streak, a win ends it; a scratch (exactly 0) leaves it as it is."""
        self._results.append(pnl)
        if pnl < 0:
            self._consecutive_losses += 1
        elif pnl > 0:
            self._consecutive_losses = 0

    def new_session(self) -> None:
        """A new trading session: the daily-loss latch and the losing streak reset."""
        self._daily_loss_reason = ""
        self._consecutive_losses = 0

    @property
    def consecutive_losses(self) -> int:
        return self._consecutive_losses

    @property
    def daily_loss_latched(self) -> bool:
        return bool(self._daily_loss_reason)

    # ------------------------------------------------------------------ gates

    def entry_block_reason(
        self,
        now_ns: int,
        account: Account,
        data_age_s: Optional[float],
        entries_paused: bool = False,
    ) -> str:
        """Why new entries are blocked right now, whatever the signal ("" if they are not)."""
        block = self.entry_block(now_ns, account, data_age_s, entries_paused)
        return block.reason if block is not None else ""

    def entry_block(
        self,
        now_ns: int,
        account: Account,
        data_age_s: Optional[float],
        entries_paused: bool = False,
    ) -> Optional[Block]:
        """The gate that blocks new entries right now, whatever the signal (None if none does).
        ``data_age_s`` None means the age is unknown (no data yet / backtest): not stale."""
        cfg = self.cfg
        if entries_paused:
            return Block(RiskRule.ENTRIES_PAUSED, "entries paused")
        if not self._daily_loss_reason:
            limit = cfg.max_daily_loss_pct / 100.0 * account.start_of_day_equity
            if account.day_pnl <= -limit + _EPS:
                self._daily_loss_reason = (
                    f"daily loss limit: day P&L {_money(account.day_pnl)} <= -{cfg.max_daily_loss_pct:g}% "
                    f"of start-of-day equity ({_money(-limit)}); exits only until the next session"
                )
        if self._daily_loss_reason:
            return Block(RiskRule.DAILY_LOSS, self._daily_loss_reason)
        if account.equity < cfg.min_account_balance:
            return Block(RiskRule.MIN_ACCOUNT_BALANCE,
                         f"equity {_money(account.equity)} < min_account_balance {_money(cfg.min_account_balance)}")
        if self._consecutive_losses >= cfg.max_consecutive_losses:
            return Block(RiskRule.CONSECUTIVE_LOSSES, f"max_consecutive_losses {cfg.max_consecutive_losses} reached "
                         f"({self._consecutive_losses} losses in a row)")
        if data_age_s is not None and data_age_s > cfg.stale_after_s:
            return Block(RiskRule.DATA_STALE,
                         f"data stale: last data {data_age_s:.1f}s old > stale_after_s {cfg.stale_after_s:g}s")
        if self.policies:
            if self.active_policy(now_ns) is None:
                labels = "; ".join(p.label for p in self.policies)
                return Block(RiskRule.SESSION_POLICY, f"outside every session policy window ({labels} ET; "
                             f"now {self._et.text(now_ns)} ET)")
        elif self.window is not None and not self._in_window(now_ns):
            start, end = self.window
            return Block(RiskRule.TRADING_WINDOW, f"outside the trading window {start}-{end} {self._tz_label} "
                         f"(now {self._clock.text(now_ns)} {self._tz_label})")
        return None

    def in_window(self, now_ns: int) -> bool:
        """Whether ``now_ns`` is inside the entry window (always, without one)."""
        return self.window is None or self._in_window(now_ns)

    def _in_window(self, now_ns: int) -> bool:
        """start <= local time of day < end."""
        return self._start_s <= self._clock.secs(now_ns) < self._end_s

    def active_policy(self, now_ns: int) -> Optional[_Policy]:
        """The trading policy whose window holds ``now_ns`` (the first listed when they overlap)."""
        if not self.policies:
            return None
        secs = self._et.secs(now_ns)
        return next((p for p in self.policies if p.start_s <= secs < p.end_s), None)

    def signal_block(self, signal: Signal, now_ns: int) -> Optional[Block]:
        """The gates that depend on the signal's setup and symbol and the time of day:
        the session policy of the window (its allowed setups) and power hour."""
        policy = self.active_policy(now_ns)
        if policy is not None and signal.setup not in policy.setups:
            allowed = ", ".join(sorted(policy.setups)) or "no setup"
            return Block(RiskRule.SESSION_POLICY, f"session policy {policy.start_s // 3600:02d}:"
                         f"{policy.start_s % 3600 // 60:02d}-{policy.end_s // 3600:02d}:{policy.end_s % 3600 // 60:02d} "
                         f"ET allows {allowed}, not {signal.setup}")
        if signal.symbol.upper() in self._power_hour and self._et.secs(now_ns) < self._power_hour_s:
            return Block(RiskRule.POWER_HOUR, f"power_hour_symbols: {signal.symbol} trades only from "
                         f"{self.cfg.power_hour_start} ET (now {self._et.text(now_ns)} ET)")
        return None

    def symbol_block(self, symbol: str) -> Optional[Block]:
        s = symbol.upper()
        if s in self._deny:
            return Block(RiskRule.DENY_LIST, f"symbol {symbol} is on the deny list")
        if self._allow and s not in self._allow:
            return Block(RiskRule.ALLOW_LIST, f"symbol {symbol} is not on the allow list")
        return None

    def check(
        self,
        signal: Signal,
        account: Account,
        positions: list[Position],
        open_orders: list[Order],
        now_ns: int,
        data_age_s: Optional[float],
        entries_paused: bool = False,
    ) -> RiskDecision:
        """Size ``signal`` and decide whether it may be sent. Gates are checked in a
        fixed order (account-wide first, then the symbol, then capacity, then size)
        and the first that blocks gives the reason."""
        cfg = self.cfg
        block = (self.entry_block(now_ns, account, data_age_s, entries_paused) or self.symbol_block(signal.symbol)
                 or self.signal_block(signal, now_ns))
        if block is None and cfg.options_gate:
            signal, block = self.options_check(signal)
        if block is None:
            # a working entry order will become a position: it takes a slot too
            busy = {p.symbol for p in positions if p.qty != 0}
            busy |= {o.symbol for o in open_orders if o.leg is OrderLeg.ENTRY and o.status.is_open}
            if len(busy) >= cfg.max_positions and signal.symbol not in busy:
                block = Block(RiskRule.MAX_POSITIONS, f"max_positions {cfg.max_positions} reached "
                              f"({len(busy)} open or pending)")
        if block is None:
            n_open = sum(1 for o in open_orders if o.status.is_open)
            if n_open >= cfg.max_open_orders:
                block = Block(RiskRule.MAX_OPEN_ORDERS, f"max_open_orders {cfg.max_open_orders} reached ({n_open} open)")
        if block is not None:
            return RiskDecision(False, evolve(signal, qty=0, risk_usd=0.0), block.reason, block.rule)
        policy = self.active_policy(now_ns)
        sized, block = self.sized(signal, account, policy.risk_per_trade_pct if policy is not None else None, now_ns)
        if block is None and cfg.min_reward_risk > 0 and sized.r_multiple + 1e-9 < cfg.min_reward_risk:
            # a target nearer than the stop is a trade nobody should be asked to approve
            block = Block(RiskRule.MIN_REWARD_RISK,
                          f"min_reward_risk: target {sized.r_multiple:.2f}R < {cfg.min_reward_risk:g}R")
        if block is not None:
            return RiskDecision(False, sized, block.reason, block.rule)
        return RiskDecision(True, sized, "", size_note=self._size_note)

    def options_check(self, signal: Signal) -> tuple[Signal, Optional[Block]]:
        """The options feedback gate: (the signal with the gate's figures in its reason,
        None or the block). Reads the last chain reading: no I/O here."""
        if self.options is None:
            v = verdict_of(OptionsReading(None, "no options chain source", 0.0), signal.symbol, self.cfg)
        else:
            v = self.options.verdict(signal.symbol, self.cfg)
        base = signal.reason.split(OPTIONS_NOTE + "options")[0]  # an approval's re-check: the figures once
        signal = evolve(signal, reason=base + OPTIONS_NOTE + v.note)
        if v.allowed:
            return signal, None
        return signal, Block(RiskRule.OPTIONS_DATA if v.unavailable else RiskRule.OPTIONS_FEEDBACK, v.reason)

    # ------------------------------------------------------------------ sizing

    def sized(self, signal: Signal, account: Account, risk_per_trade_pct: Optional[float] = None,
              now_ns: int = 0) -> tuple[Signal, Optional[Block]]:
        """(signal with qty / risk_usd / r_multiple, None or the block when qty < 1).
        ``risk_per_trade_pct`` (a session policy's) replaces the config's when given;
        with ``[sizing] dynamic`` the budget is scaled by engine.sizing's factors."""
        cfg = self.cfg
        risk_pct = cfg.risk_per_trade_pct if risk_per_trade_pct is None else risk_per_trade_pct
        dynamic = ""
        own_qty = self.symbol_qty(signal.symbol)  # the symbol's `qty` ([strategy] / overrides) beats fixed_qty
        fixed, fixed_name = (own_qty, f"{signal.symbol} qty") if own_qty > 0 else (cfg.fixed_qty, "fixed_qty")
        if self.sizing.dynamic and fixed == 0:
            f = factors(account.equity, self.sizing.reference_equity, self.market(signal.symbol),
                        list(self._results), self._et.secs(now_ns), signal.confidence, signal.side)
            risk_pct *= f.product
            dynamic = f.text()
        entry, stop = signal.entry, signal.stop
        per_share = abs(entry - stop)
        if not (math.isfinite(entry) and math.isfinite(stop) and entry > 0 and per_share > 0):
            return evolve(signal, qty=0, risk_usd=0.0), Block(
                RiskRule.INVALID_STOP, f"invalid stop: entry {entry} and stop {stop} leave no risk per share to size on"
            )
        r_multiple = abs(signal.target - entry) / per_share if math.isfinite(signal.target) else 0.0
        budget = max(account.equity, 0.0) * risk_pct / 100.0
        by_risk = fixed if fixed > 0 else math.floor(budget / per_share + _EPS)
        by_bp = math.floor(max(account.buying_power, 0.0) / entry + _EPS)
        by_notional = math.floor(cfg.max_position_notional / entry + _EPS)
        by_cash = math.floor((account.cash - cfg.min_cash) / entry + _EPS) if cfg.min_cash > 0 else by_notional
        qty = min(by_risk, by_bp, by_notional, by_cash)
        sized = evolve(signal, qty=max(qty, 0), risk_usd=max(qty, 0) * per_share, r_multiple=r_multiple)
        self._size_note = dynamic
        if 1 <= qty < by_risk:
            cap = (f"buying power {_money(account.buying_power)}" if qty == by_bp
                   else f"max_position_notional {_money(cfg.max_position_notional)}" if qty == by_notional
                   else f"min_cash {_money(cfg.min_cash)} (cash {_money(account.cash)})")
            sizer = f"{fixed_name} {fixed}" if fixed > 0 else f"risk {risk_pct:g}% sizes {by_risk}"
            capped = f"qty {qty} capped by {cap} at {_money(entry)} ({sizer})"
            self._size_note = f"{dynamic}; {capped}" if dynamic else capped
        if qty >= 1:
            return sized, None
        if qty == by_risk and fixed > 0:
            why = f"{fixed_name} {fixed}"
        elif qty == by_risk:
            why = f"risk budget {_money(budget)} / {_money(per_share)} per share"
        elif qty == by_bp:
            why = f"buying power {_money(account.buying_power)} at {_money(entry)}"
        elif qty == by_cash and qty < by_notional:
            why = f"min_cash {_money(cfg.min_cash)}: cash {_money(account.cash)} at {_money(entry)}"
        else:
            why = f"max_position_notional {_money(cfg.max_position_notional)} at {_money(entry)}"
        return sized, Block(RiskRule.SIZE_BELOW_ONE, f"qty {qty} < 1 ({why})")
