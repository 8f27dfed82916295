"""What an order would look like, and what the risk gates would say, before
anything is sent (``cockpit preview bracket`` / ``cockpit preview risk``).

A preview never talks to a broker's order side. The bracket's prices come from
the entry price and either fractions of it (``stop_pct`` 0.01 = 1% away) or the
symbol's ATR with its ``atr_stop`` / ``atr_target``; the risk verdict is the
engine's own ``RiskManager.check`` (the gate that would block, worded as the
cockpit words it), with the requested quantity set beside every size cap.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

from .config import RiskConfig
from .model import Account, Order, OrderLeg, Position, Side, Signal
from .options_gate import OptionsFeedback
from .risk import OPTIONS_NOTE, RiskManager


class PreviewError(ValueError):
    """A preview that cannot be made; the message says what to give instead."""


@dataclass(frozen=True)
class BracketPreview:
    symbol: str
    side: str
    qty: int
    entry: float
    stop: float
    target: float
    price_source: str  # where the entry price came from ("--price", "last recorded close 2024-03-05 15:59", ...)
    stop_from: str  # "stop_pct 0.01" | "1.5 x ATR 0.42"
    target_from: str

    @property
    def risk_per_share(self) -> float:
        return abs(self.entry - self.stop)

    @property
    def risk_usd(self) -> float:
        return self.qty * self.risk_per_share

    @property
    def reward_usd(self) -> float:
        return self.qty * abs(self.target - self.entry)

    @property
    def r_multiple(self) -> float:
        return abs(self.target - self.entry) / self.risk_per_share if self.risk_per_share else 0.0

    @property
    def notional(self) -> float:
        return self.qty * self.entry

    def as_dict(self) -> dict:
        return {**asdict(self), "risk_per_share": round(self.risk_per_share, 4), "risk_usd": round(self.risk_usd, 2),
                "reward_usd": round(self.reward_usd, 2), "r_multiple": round(self.r_multiple, 2),
                "notional": round(self.notional, 2)}

    def signal(self, now_ns: int) -> Signal:
        return Signal("preview", self.symbol, "preview", Side(self.side), self.entry, self.stop, self.target, 0.0,
                      "preview", now_ns, qty=self.qty)


def bracket(symbol: str, side: str, qty: int, entry: float, price_source: str, *,
            stop_pct: Optional[float] = None, tp_pct: Optional[float] = None,
            atr: Optional[float] = None, atr_stop: float = 1.5, atr_target: float = 3.0) -> BracketPreview:
    """The bracket for ``qty`` at ``entry``: stop and target from the fractions when
    given, else from the ATR (``atr_stop`` / ``atr_target`` multiples)."""
    if qty < 1:
        raise PreviewError(f"--qty {qty} is not valid: allowed: a whole number of shares >= 1")
    if not (math.isfinite(entry) and entry > 0):
        raise PreviewError(f"entry price {entry} is not valid: allowed: a positive price")
    for flag, value in (("--stop-pct", stop_pct), ("--tp-pct", tp_pct)):
        if value is not None and not 0 < value < 1:
            raise PreviewError(f"{flag} {value} is not valid: allowed: a fraction of the price between 0 and 1 "
                               f"(0.01 = 1%)")
    sign = Side(side).sign

    def leg(pct: Optional[float], multiple: float, flag: str, direction: int) -> tuple[float, str]:
        if pct is not None:
            return round(entry * (1 + direction * pct), 2), f"{flag.lstrip('-').replace('-', '_')} {pct:g}"
        if atr is None or not atr > 0:
            raise PreviewError(f"give {flag}: there is no ATR to take it from (no recorded bars of {symbol}; "
                               f"record or import some, or give the distance as a fraction of the price)")
        return round(entry + direction * multiple * atr, 2), f"{multiple:g} x ATR {atr:.2f}"

    stop, stop_from = leg(stop_pct, atr_stop, "--stop-pct", -sign)
    target, target_from = leg(tp_pct, atr_target, "--tp-pct", sign)
    return BracketPreview(symbol.upper(), Side(side).value, qty, round(entry, 2), stop, target, price_source,
                          stop_from, target_from)


@dataclass(frozen=True)
class GateLine:
    gate: str
    ok: Optional[bool]  # None: not known outside a running cockpit
    figure: str


@dataclass(frozen=True)
class RiskPreview:
    verdict: str  # "" = the cockpit would send it; else the blocking gate's reason, as the cockpit says it
    rule: Optional[str]
    sized_qty: int  # what the cockpit's sizing would send for this bracket
    lines: list[GateLine] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.verdict and all(line.ok is not False for line in self.lines)

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "verdict": self.verdict, "rule": self.rule, "sized_qty": self.sized_qty,
                "gates": [asdict(line) for line in self.lines]}


def _money(x: float) -> str:
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def risk(cfg: RiskConfig, session: str, b: BracketPreview, account: Account, positions: list[Position],
         open_orders: list[Order], now_ns: int, data_age_s: Optional[float] = None,
         options: Optional[OptionsFeedback] = None) -> RiskPreview:
    """What the gates would say about ``b`` now, with the figures behind each
    (``options``: the chain readings of the options feedback gate, when it is on)."""
    manager = RiskManager(cfg, session, options=options)
    sig = b.signal(now_ns)
    decision = manager.check(sig, account, positions, open_orders, now_ns, data_age_s)
    sized, _ = manager.sized(sig, account)
    lines: list[GateLine] = []
    limit = cfg.max_daily_loss_pct / 100.0 * account.start_of_day_equity
    lines.append(GateLine("daily loss", account.day_pnl > -limit,
                          f"day P&L {_money(account.day_pnl)} vs limit {_money(-limit)} ({cfg.max_daily_loss_pct:g}%)"))
    lines.append(GateLine("min_account_balance", account.equity >= cfg.min_account_balance,
                          f"equity {_money(account.equity)} vs {_money(cfg.min_account_balance)}"))
    lines.append(GateLine("max_consecutive_losses", None,
                          f"limit {cfg.max_consecutive_losses}; the streak is known to a running cockpit only"))
    # the window alone: a manager of its own (check() may have latched the daily loss on ``manager``)
    window = RiskManager(cfg, session).entry_block(now_ns, Account(1e18, 1e18, 1e18, 1e18), None)
    lines.append(GateLine("trading window", window is None,
                          window.reason if window is not None else
                          f"inside {'-'.join(manager.window) if manager.window else 'the whole day'}"))
    listed = manager.symbol_block(b.symbol)
    lines.append(GateLine("allow/deny lists", listed is None, listed.reason if listed else f"{b.symbol} may trade"))
    if cfg.options_gate:
        gated, blocked = manager.options_check(sig)
        lines.append(GateLine("options feedback", blocked is None, gated.reason.split(OPTIONS_NOTE)[-1]))
    busy = {p.symbol for p in positions if p.qty != 0}
    busy |= {o.symbol for o in open_orders if o.leg is OrderLeg.ENTRY and o.status.is_open}
    lines.append(GateLine("max_positions", len(busy) < cfg.max_positions or b.symbol in busy,
                          f"{len(busy)} open or pending of {cfg.max_positions}"))
    n_open = sum(1 for o in open_orders if o.status.is_open)
    lines.append(GateLine("max_open_orders", n_open < cfg.max_open_orders, f"{n_open} open of {cfg.max_open_orders}"))
    budget = max(account.equity, 0.0) * cfg.risk_per_trade_pct / 100.0
    if cfg.fixed_qty > 0:
        lines.append(GateLine("fixed_qty", b.qty <= cfg.fixed_qty, f"{b.qty} shares vs fixed_qty {cfg.fixed_qty}"))
    else:
        lines.append(GateLine("risk_per_trade_pct", b.risk_usd <= budget + 1e-9,
                              f"risk {_money(b.risk_usd)} ({b.qty} x {_money(b.risk_per_share)}) vs budget "
                              f"{_money(budget)} ({cfg.risk_per_trade_pct:g}% of equity)"))
    lines.append(GateLine("buying power", b.notional <= account.buying_power + 1e-9,
                          f"notional {_money(b.notional)} vs buying power {_money(account.buying_power)}"))
    lines.append(GateLine("max_position_notional", b.notional <= cfg.max_position_notional + 1e-9,
                          f"notional {_money(b.notional)} vs {_money(cfg.max_position_notional)}"))
    if cfg.min_reward_risk > 0:
        lines.append(GateLine("min_reward_risk", b.r_multiple + 1e-9 >= cfg.min_reward_risk,
                              f"target {b.r_multiple:.2f}R vs {cfg.min_reward_risk:g}R"))
    return RiskPreview("" if decision.allowed else decision.reason,
                       None if decision.rule is None else decision.rule.value, sized.qty, lines)
