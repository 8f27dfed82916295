"""A fixed, hand-built EngineSnapshot, a tiny EngineControl that serves it, and
the cockpit app wired to them.

For widget and snapshot tests only: the snapshot tests need a frame that is the
same on every run (no feed timing, no wall clock), so the app is given this
fixed snapshot source. Behaviour tests (approve, flatten, ...) use the real
engine in tests/test_ui_engine.py.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Callable, Optional
from zoneinfo import ZoneInfo

from cockpit.app import CockpitApp
from engine.config import CockpitConfig
from engine.model import (
    NS_PER_S,
    Account,
    ClosedTrade,
    DayTradesView,
    Decision,
    EngineSnapshot,
    FeedStatus,
    FlowView,
    JournalEntry,
    LvnAlert,
    MarketState,
    Mode,
    Node,
    Order,
    OrderDetail,
    OrderEvent,
    OrderLeg,
    OrderStatus,
    OrderType,
    Position,
    ProfileStats,
    SessionInfo,
    Side,
    Signal,
    SymbolSnapshot,
)

ET = ZoneInfo("America/New_York")
T0 = int(datetime(2024, 3, 12, 10, 42, 13, tzinfo=ET).timestamp()) * NS_PER_S


def _profile(center: float, step: float, n: int, poc_i: int, lvn_i: int) -> ProfileStats:
    hist = []
    for i in range(n):
        vol = 1000.0 + 9000.0 * max(0.0, 1 - abs(i - poc_i) / (n / 2))
        if i == lvn_i:
            vol = 300.0
        hist.append((round(center + (i - n // 2) * step, 2), vol))
    poc = hist[poc_i][0]
    return ProfileStats(
        bin_size=step,
        total_volume=sum(v for _, v in hist),
        poc=poc,
        vah=round(poc + 4 * step + step / 2, 2),
        val=round(poc - 4 * step - step / 2, 2),
        value_area_volume=0.7 * sum(v for _, v in hist),
        lvns=(Node(hist[lvn_i][0], 300.0),),
        low=hist[0][0] - step / 2,
        high=hist[-1][0] + step / 2,
        histogram=tuple(hist),
    )


def _symbol(name: str, last: float, state: MarketState, aggression: float, side: Optional[Side], chg: float) -> SymbolSnapshot:
    step = 0.25 if last > 100 else 0.05
    prof = _profile(last - 2 * step, step, 24, 13, 6)
    prev = _profile(last - 6 * step, step, 24, 12, 18)
    return SymbolSnapshot(
        symbol=name,
        ts_ns=T0,
        last=last,
        prev_close=last / (1 + chg / 100),
        change_pct=chg,
        state=state,
        distance_from_poc_pct=0.42,
        momentum=0.74 if state is MarketState.IMBALANCE_UP else -0.61 if state is MarketState.IMBALANCE_DOWN else 0.1,
        atr=round(last * 0.0021, 2),
        vwap=last - step,
        rolling=prof,
        session_profile=prof,
        previous_profile=prev,
        flow=FlowView(
            aggression=aggression,
            direction=side,
            volume_ratio=2.31,
            cvd=12345.0 if side is Side.BUY else -8200.0,
            cvd_change=4100.0 if side is Side.BUY else -2900.0,
            buy_pressure=72.0,
            sell_pressure=28.0,
            pressure_ratio=2.57,
            last_delta=820.0,
            cvd_history=tuple(float((i * 37) % 23 - 11 + i) for i in range(40)),
        ),
        balance_low=prev.val,
        balance_high=prev.vah,
        impulse=None,
        pullback=False,
        bars=72,
        last_bar=None,
    )


def demo_snapshot(**changes) -> EngineSnapshot:
    """A busy mid-morning frame: 5 symbols, one pending signal, an open position
    with its bracket, alerts, decisions (one blocked by risk) and a journal."""
    syms = {
        "SPY": _symbol("SPY", 512.25, MarketState.IMBALANCE_UP, 80, Side.BUY, 0.62),
        "QQQ": _symbol("QQQ", 438.10, MarketState.BALANCE, 35, Side.SELL, -0.15),
        "AAPL": _symbol("AAPL", 172.44, MarketState.IMBALANCE_DOWN, 75, Side.SELL, -1.08),
        "TSLA": _symbol("TSLA", 178.90, MarketState.BALANCE, 20, None, 0.0),
        "NVDA": _symbol("NVDA", 905.30, MarketState.IMBALANCE_UP, 100, Side.BUY, 2.41),
    }
    pending = (
        Signal(
            id="sig-spy-1", symbol="SPY", setup="auction", side=Side.BUY, entry=512.25, stop=510.64,
            target=515.48, confidence=78, reason="IMBALANCE_UP, aggression 80 BUY, price > VAH 511.62",
            created_ns=T0 - 20 * NS_PER_S, qty=310, risk_usd=499.1, r_multiple=2.0, expires_ns=T0 + 40 * NS_PER_S,
        ),
    )
    decisions = (
        dataclasses.replace(pending[0], id="sig-aapl-0", symbol="AAPL", side=Side.SELL, entry=172.44, stop=172.98,
                            target=171.36, decision=Decision.BLOCKED, decision_reason="max_positions reached (3)",
                            decided_ns=T0 - 60 * NS_PER_S),
        dataclasses.replace(pending[0], id="sig-nvda-0", symbol="NVDA", decision=Decision.APPROVED,
                            decision_reason="approved by trader", decided_ns=T0 - 300 * NS_PER_S),
        dataclasses.replace(pending[0], id="sig-qqq-0", symbol="QQQ", decision=Decision.EXPIRED,
                            decision_reason="expired after 60s", decided_ns=T0 - 900 * NS_PER_S),
    )
    positions = (
        Position("NVDA", 55, 899.10, 905.30, 341.0, stop=896.40, target=904.50 + 10, opened_ns=T0 - 290 * NS_PER_S),
    )
    orders = (
        Order("ord-000012", "c12", "NVDA", Side.SELL, OrderType.LIMIT, 55, OrderStatus.ACCEPTED, limit_price=914.50,
              leg=OrderLeg.TAKE_PROFIT, parent_id="ord-000010"),
        Order("ord-000011", "c11", "NVDA", Side.SELL, OrderType.STOP, 55, OrderStatus.ACCEPTED, stop_price=896.40,
              leg=OrderLeg.STOP_LOSS, parent_id="ord-000010"),
        Order("ord-000010", "c10", "NVDA", Side.BUY, OrderType.MARKET, 55, OrderStatus.FILLED, filled_qty=55,
              avg_fill_price=899.10),
    )
    alerts = (
        LvnAlert("SPY", T0 - 30 * NS_PER_S, 511.00, "session", 512.25, 0.24, 1.16, "from_above"),
        LvnAlert("AAPL", T0 - 95 * NS_PER_S, 173.10, "previous", 172.44, 0.38, 1.8, "from_below"),
    )
    journal = (
        JournalEntry(T0 - 300 * NS_PER_S, "info", "decision", "NVDA buy 55 approved by trader", "NVDA"),
        JournalEntry(T0 - 299 * NS_PER_S, "info", "fill", "NVDA buy 55 @ 899.10", "NVDA"),
        JournalEntry(T0 - 60 * NS_PER_S, "warn", "block", "AAPL sell blocked: max_positions reached (3)", "AAPL"),
        JournalEntry(T0 - 20 * NS_PER_S, "info", "signal", "SPY auction buy 512.25 stop 510.64 target 515.48", "SPY"),
    )
    session = SessionInfo(
        name="NEW_YORK", et_time="10:42:13", recommended_setup="trend_model", is_trading_day=True, is_half_day=False,
        rth_open_ns=int(datetime(2024, 3, 12, 9, 30, tzinfo=ET).timestamp()) * NS_PER_S,
        rth_close_ns=int(datetime(2024, 3, 12, 16, 0, tzinfo=ET).timestamp()) * NS_PER_S,
        next_session="AFTER_HOURS", seconds_to_next=19067.0, in_rth=True,
    )
    snap = EngineSnapshot(
        ts_ns=T0, mode=Mode.SEMI, entries_paused=False, broker_kind="SIMULATED",
        feed=FeedStatus(name="synthetic", connected=True, speed=1.0, last_data_ns=T0),
        symbols=syms, alerts=alerts, pending=pending, decisions=decisions, positions=positions, orders=orders,
        account=Account(equity=100_341.0, cash=50_890.0, buying_power=200_000.0, start_of_day_equity=100_000.0,
                        unrealized_pnl=341.0),
        session=session, journal=journal,
    )
    return dataclasses.replace(snap, **changes) if changes else snap


class FixedEngine:
    """Serves a fixed snapshot; commands are recorded and change only what they
    obviously change (mode, pause), so a widget test can see its key reached here."""

    def __init__(self, snap: Optional[EngineSnapshot] = None) -> None:
        self._snap = snap or demo_snapshot()
        self._version = 1
        self.calls: list[tuple] = []
        self.listeners: list[Callable[[], None]] = []
        self._speed = 1.0

    def publish(self, snap: EngineSnapshot) -> None:
        self._snap = snap
        self._version += 1
        for cb in self.listeners:
            cb()

    def snapshot(self) -> EngineSnapshot:
        return self._snap

    @property
    def version(self) -> int:
        return self._version

    def add_listener(self, callback: Callable[[], None]) -> None:
        self.listeners.append(callback)

    async def approve(self, signal_id: str):
        self.calls.append(("approve", signal_id))
        return None

    async def reject(self, signal_id: str, reason: str = "rejected by trader"):
        self.calls.append(("reject", signal_id, reason))
        return None

    def set_mode(self, mode: Mode) -> None:
        self.calls.append(("set_mode", mode))
        self.publish(dataclasses.replace(self._snap, mode=mode))

    def pause_entries(self) -> None:
        self.calls.append(("pause",))
        self.publish(dataclasses.replace(self._snap, entries_paused=True))

    def resume_entries(self) -> None:
        self.calls.append(("resume",))
        self.publish(dataclasses.replace(self._snap, entries_paused=False))

    async def flatten_all(self) -> None:
        self.calls.append(("flatten_all",))

    async def flatten(self, symbol: str) -> None:
        self.calls.append(("flatten", symbol))

    async def cancel_all(self) -> None:
        self.calls.append(("cancel_all",))

    async def cancel_order(self, order_id: str):
        self.calls.append(("cancel_order", order_id))
        for o in self._snap.orders:
            if o.id == order_id:
                return dataclasses.replace(o, status=OrderStatus.CANCELED)
        return None

    def order_detail(self, order_id: str):
        for o in self._snap.orders:
            if o.id == order_id:
                family = o.parent_id or o.id
                legs = tuple(x for x in self._snap.orders if x.id != o.id and (x.id == family or x.parent_id == family))
                events = (OrderEvent(o.created_ns or T0, "submitted", OrderStatus.NEW),
                          OrderEvent(o.updated_ns or T0, "new", o.status))
                return OrderDetail(o, legs, events)
        return None

    def set_speed(self, factor: float) -> None:
        self.calls.append(("set_speed", factor))
        self._speed = factor

    def speed(self) -> float:
        return self._speed

    def yield_to_input(self, seconds: float) -> None:
        self.calls.append(("yield_to_input", seconds))

    def pause_feed(self) -> bool:
        self.calls.append(("pause_feed",))
        self.publish(dataclasses.replace(self._snap, feed=dataclasses.replace(self._snap.feed, paused=True)))
        return True

    def resume_feed(self) -> bool:
        self.calls.append(("resume_feed",))
        self.publish(dataclasses.replace(self._snap, feed=dataclasses.replace(self._snap.feed, paused=False)))
        return True


def fixed_app(tmp_path, engine: Optional[FixedEngine] = None, **ui) -> CockpitApp:
    """The cockpit on a FixedEngine (the demo snapshot unless given), its clock
    fixed at T0, no bell, UI settings saved under ``tmp_path``; ``ui`` overrides
    the [ui] config section (theme, keys, bell, ...)."""
    config = CockpitConfig.model_validate({"ui": {"bell": False, **ui}})
    return CockpitApp(engine or FixedEngine(), config, clock_ns=lambda: T0, settings_path=tmp_path / "ui.json")


def busy_book_snapshot(open_n: int = 8, closed_n: int = 12) -> EngineSnapshot:
    """The demo frame with ``open_n`` working orders (brackets of three symbols)
    listed before ``closed_n`` filled / cancelled ones, as the engine lists them."""
    base = demo_snapshot()
    working = []
    for i in range(open_n):
        sym = ("SPY", "QQQ", "NVDA")[i % 3]
        px = base.symbols[sym].last
        tp = i % 2 == 0
        working.append(Order(f"paper-abc123-{100 + i}", f"ck-abc123:{sym}-{i}-tp" if tp else f"ck-abc123:{sym}-{i}-sl",
                             sym, Side.SELL, OrderType.LIMIT if tp else OrderType.STOP, 92, OrderStatus.ACCEPTED,
                             limit_price=round(px * 1.004, 2) if tp else None,
                             stop_price=None if tp else round(px * 0.997, 2),
                             leg=OrderLeg.TAKE_PROFIT if tp else OrderLeg.STOP_LOSS,
                             parent_id=f"paper-abc123-{90 + i}", created_ns=T0 - i * NS_PER_S))
    closed = []
    for i in range(closed_n):
        sym = ("AAPL", "TSLA")[i % 2]
        px = base.symbols[sym].last
        done = OrderStatus.FILLED if i % 3 else OrderStatus.CANCELED
        closed.append(Order(f"paper-abc123-{50 - i}", f"ck-abc123:{sym}-old-{i}", sym, Side.BUY, OrderType.MARKET, 265,
                            done, filled_qty=265 if done is OrderStatus.FILLED else 0,
                            avg_fill_price=round(px + 0.97, 2) if done is OrderStatus.FILLED else 0.0,
                            reason="" if done is OrderStatus.FILLED else "OCO: take_profit filled",
                            created_ns=T0 - (600 + i) * NS_PER_S))
    return dataclasses.replace(base, orders=tuple(working) + tuple(closed))


def pending_snapshot(n: int = 3) -> EngineSnapshot:
    """The demo frame with ``n`` pending signals of different symbols and expiries."""
    base = demo_snapshot()
    first = base.pending[0]
    syms = ("SPY", "TSLA", "AAPL", "QQQ", "NVDA")
    pending = tuple(
        dataclasses.replace(first, id=f"sig-{syms[i].lower()}-p{i}", symbol=syms[i], setup=("auction", "trend_model",
                            "mean_reversion")[i % 3], side=Side.BUY if i % 2 == 0 else Side.SELL,
                            expires_ns=T0 + (40 - 15 * i) * NS_PER_S,
                            reason=f"{syms[i]} reason {i}: a long explanation of why this setup fired, with the levels "
                                   f"it used and the flow it saw, longer than any column")
        for i in range(n)
    )
    return dataclasses.replace(base, pending=pending)


def day_trades_view() -> DayTradesView:
    trades = (
        ClosedTrade("NVDA", "auction", "long", 55, T0 - 3000 * NS_PER_S, T0 - 2400 * NS_PER_S, 899.10, 904.50, 294.2,
                    1.97, "target"),
        ClosedTrade("SPY", "trend_model", "short", 92, T0 - 2000 * NS_PER_S, T0 - 1700 * NS_PER_S, 512.80, 513.40,
                    -57.1, -1.05, "stop"),
        ClosedTrade("SPY", "auction", "long", 92, T0 - 1500 * NS_PER_S, T0 - 900 * NS_PER_S, 511.20, 511.25, 1.6,
                    0.03, "stop (moved to 511.25)"),
        ClosedTrade("AAPL", "auction", "short", 265, T0 - 800 * NS_PER_S, T0 - 300 * NS_PER_S, 172.90, 172.60, 77.3,
                    float("nan"), "exit: close AAPL: time exit"),
    )
    from engine.day_trades import summarize

    return summarize(trades, "2024-03-12")
