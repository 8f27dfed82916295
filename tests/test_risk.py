"""Risk sizing and every gate (STRATEGY.md section 10), with hand-computed numbers."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.config import RiskConfig
from engine.model import Account, Order, OrderLeg, OrderStatus, OrderType, Position, Side, Signal
from engine.risk import RiskDecision, RiskManager

ET = ZoneInfo("America/New_York")


def et_ns(hh, mm, ss=0, day=(2024, 3, 5)):
    return int(datetime(*day, hh, mm, ss, tzinfo=ET).timestamp()) * 1_000_000_000


NOON = et_ns(12, 0)


def account(equity=100_000.0, sod=None, bp=None):
    return Account(equity=equity, cash=equity, buying_power=equity * 2 if bp is None else bp,
                   start_of_day_equity=equity if sod is None else sod)


def signal(symbol="SPY", entry=100.0, stop=99.0, target=103.0, side=Side.BUY):
    return Signal(id="s1", symbol=symbol, setup="auction", side=side, entry=entry, stop=stop,
                  target=target, confidence=80.0, reason="test", created_ns=NOON)


def position(symbol, qty=10):
    return Position(symbol=symbol, qty=qty, avg_price=100.0, last=100.0, unrealized_pnl=0.0)


def order(symbol, leg=OrderLeg.ENTRY, status=OrderStatus.NEW, n=0):
    return Order(id=f"o{symbol}{n}", client_order_id=f"c{symbol}{n}", symbol=symbol, side=Side.BUY,
                 type=OrderType.MARKET, qty=1, status=status, leg=leg)


def check(rm, sig=None, acct=None, positions=(), orders=(), now=NOON, age=1.0, paused=False) -> RiskDecision:
    return rm.check(sig or signal(), acct or account(), list(positions), list(orders), now, age, paused)


# ------------------------------------------------------------------ sizing


def test_sizing_by_risk_budget():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=0.5, max_position_notional=1e9))
    d = check(rm, signal(entry=100.0, stop=98.5, target=104.5))
    # 100,000 x 0.5% = 500 / 1.50 per share = 333.3 -> 333
    assert d.allowed and d.reason == ""
    assert d.signal.qty == 333
    assert d.signal.risk_usd == pytest.approx(333 * 1.5)
    assert d.signal.r_multiple == pytest.approx(3.0)


def test_sizing_is_exact_on_round_numbers():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=1e9))
    # 1,000 / 0.10 = 10,000 exactly despite 0.1's binary representation
    d = check(rm, signal(entry=10.3, stop=10.2, target=10.5), acct=account(bp=1e9))
    assert d.signal.qty == 10_000


def test_short_sizing_uses_the_distance_above():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=0.5, max_position_notional=1e9))
    d = check(rm, signal(entry=50.0, stop=52.0, target=46.0, side=Side.SELL))
    assert d.signal.qty == 250 and d.signal.r_multiple == pytest.approx(2.0)


def test_sizing_capped_by_max_position_notional():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=20_000))
    d = check(rm, signal(entry=100.0, stop=99.0))
    # risk says 1,000 shares; 20,000 / 100 = 200
    assert d.allowed and d.signal.qty == 200
    assert d.signal.risk_usd == pytest.approx(200.0)


def test_sizing_capped_by_buying_power():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=1e9))
    d = check(rm, signal(entry=100.0, stop=99.0), acct=account(bp=15_050))
    assert d.allowed and d.signal.qty == 150


def test_qty_below_one_is_blocked_naming_the_binding_limit():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=0.01, max_position_notional=1e9))
    d = check(rm, signal(entry=500.0, stop=480.0, target=540.0), acct=account(equity=10_000))
    # 10,000 x 0.01% = 1 / 20 per share = 0.05
    assert not d.allowed and d.signal.qty == 0
    assert d.reason == "qty 0 < 1 (risk budget $1.00 / $20.00 per share)"
    d = check(RiskManager(RiskConfig()), signal(entry=500.0, stop=499.0), acct=account(bp=300))
    assert d.reason == "qty 0 < 1 (buying power $300.00 at $500.00)"


def test_zero_stop_distance_is_blocked():
    d = check(RiskManager(RiskConfig()), signal(entry=100.0, stop=100.0))
    assert not d.allowed and "invalid stop" in d.reason


# ------------------------------------------------------------------ gates


def test_max_positions_counts_positions_and_pending_entries():
    rm = RiskManager(RiskConfig(max_positions=3))
    d = check(rm, positions=[position("AAPL"), position("TSLA")], orders=[order("NVDA")])
    assert not d.allowed and d.reason == "max_positions 3 reached (3 open or pending)"
    assert d.signal.qty == 0
    assert check(rm, positions=[position("AAPL"), position("TSLA")]).allowed
    # a filled entry's take-profit/stop-loss children are not extra positions
    assert check(rm, positions=[position("AAPL")], orders=[order("AAPL", OrderLeg.STOP_LOSS, n=1),
                                                           order("AAPL", OrderLeg.TAKE_PROFIT, n=2)]).allowed


def test_max_open_orders():
    rm = RiskManager(RiskConfig(max_open_orders=4, max_positions=10))
    orders = [order("AAPL", OrderLeg.STOP_LOSS, n=i) for i in range(4)]
    d = check(rm, orders=orders)
    assert not d.allowed and d.reason == "max_open_orders 4 reached (4 open)"
    closed = orders[:3] + [order("AAPL", OrderLeg.STOP_LOSS, OrderStatus.FILLED, n=9)]
    assert check(rm, orders=closed).allowed


def test_daily_loss_latches_until_new_session():
    rm = RiskManager(RiskConfig(max_daily_loss_pct=2.0))
    assert check(rm, acct=account(equity=98_001, sod=100_000)).allowed
    d = check(rm, acct=account(equity=98_000, sod=100_000))  # exactly -2%
    assert not d.allowed
    assert d.reason.startswith("daily loss limit: day P&L -$2,000.00 <= -2% of start-of-day equity (-$2,000.00)")
    assert "exits only until the next session" in d.reason
    # recovering does not lift it
    assert check(rm, acct=account(equity=101_000, sod=100_000)).reason == d.reason
    assert rm.entry_block_reason(NOON, account(equity=101_000, sod=100_000), 1.0) == d.reason
    rm.new_session()
    assert check(rm, acct=account(equity=101_000)).allowed


def test_min_account_balance():
    rm = RiskManager(RiskConfig(min_account_balance=25_000, max_position_notional=1e9))
    d = check(rm, acct=account(equity=24_999.99))
    assert not d.allowed and d.reason == "equity $24,999.99 < min_account_balance $25,000.00"


def test_trading_window_is_eastern_time_half_open():
    rm = RiskManager(RiskConfig(trading_start="09:35", trading_end="15:50"))
    assert not check(rm, now=et_ns(9, 34, 59)).allowed
    assert check(rm, now=et_ns(9, 35)).allowed
    assert check(rm, now=et_ns(15, 49, 59)).allowed
    d = check(rm, now=et_ns(15, 50))
    assert not d.allowed and d.reason == "outside the trading window 09:35-15:50 ET (now 15:50:00 ET)"
    # summer time: 09:40 EDT is 13:40 UTC
    assert check(rm, now=et_ns(9, 40, day=(2024, 7, 9))).allowed


def test_symbol_allow_and_deny_lists():
    rm = RiskManager(RiskConfig(allow_symbols=["SPY", "QQQ"], deny_symbols=["QQQ"]))
    assert check(rm, signal(symbol="SPY")).allowed
    assert check(rm, signal(symbol="QQQ")).reason == "symbol QQQ is on the deny list"
    assert check(rm, signal(symbol="TSLA")).reason == "symbol TSLA is not on the allow list"
    assert check(RiskManager(RiskConfig(deny_symbols=["TSLA"])), signal(symbol="AAPL")).allowed


def test_consecutive_losses():
    rm = RiskManager(RiskConfig(max_consecutive_losses=3))
    for pnl in (-10, -5, 20, -1, -1, 0.0):  # the win resets; the scratch does not count
        rm.record_closed_trade(pnl)
    assert rm.consecutive_losses == 2 and check(rm).allowed
    rm.record_closed_trade(-3)
    d = check(rm)
    assert not d.allowed and d.reason == "max_consecutive_losses 3 reached (3 losses in a row)"
    rm.new_session()
    assert rm.consecutive_losses == 0 and check(rm).allowed


def test_stale_data():
    rm = RiskManager(RiskConfig(stale_after_s=15))
    assert check(rm, age=15.0).allowed
    assert check(rm, age=None).allowed
    d = check(rm, age=15.5)
    assert not d.allowed and d.reason == "data stale: last data 15.5s old > stale_after_s 15s"


def test_entries_paused():
    d = check(RiskManager(RiskConfig()), paused=True)
    assert not d.allowed and d.reason == "entries paused"


def test_entry_block_reason_for_the_ui():
    rm = RiskManager(RiskConfig())
    assert rm.entry_block_reason(NOON, account(), 1.0) == ""
    assert rm.entry_block_reason(et_ns(8, 0), account(), 1.0).startswith("outside the trading window")
    assert rm.entry_block_reason(NOON, account(), 100.0).startswith("data stale")


def test_blocked_signal_keeps_its_identity():
    d = check(RiskManager(RiskConfig()), paused=True)
    assert d.signal.id == "s1" and d.signal.entry == 100.0 and d.signal.qty == 0
    with pytest.raises(Exception):
        d.allowed = True  # frozen


def test_target_nearer_than_min_reward_risk_is_blocked_with_the_reason():
    from engine.config import RiskConfig
    from engine.model import Account, Side, Signal
    from engine.risk import RiskManager

    rm = RiskManager(RiskConfig(min_reward_risk=1.0, trading_start="00:00", trading_end="23:59"))
    acct = Account(equity=100_000, cash=100_000, buying_power=200_000, start_of_day_equity=100_000)
    now = 1_718_204_400_000_000_000  # 2024-06-12 11:00 ET
    poor = Signal("s1", "NVDA", "mean_reversion", Side.BUY, entry=124.08, stop=122.99, target=124.17,
                  confidence=25, reason="x", created_ns=now)
    d = rm.check(poor, acct, [], [], now, 0.0)
    assert not d.allowed and d.reason.startswith("min_reward_risk") and "0.08R < 1R" in d.reason
    fair = Signal("s2", "NVDA", "auction", Side.BUY, entry=124.0, stop=123.0, target=126.0,
                  confidence=70, reason="x", created_ns=now)
    assert rm.check(fair, acct, [], [], now, 0.0).allowed
    off = RiskManager(RiskConfig(min_reward_risk=0, trading_start="00:00", trading_end="23:59"))
    assert off.check(poor, acct, [], [], now, 0.0).allowed


def test_trading_window_uses_local_time_across_dst_changes():
    """The window check caches the zone's offset per UTC hour; it must agree with a
    full conversion on and around both 2024 DST changes and on ordinary days."""
    from datetime import datetime, timedelta, timezone as tz

    r = RiskManager(RiskConfig(trading_start="09:35", trading_end="15:45"))
    ny = r._tz
    for day in ("2024-03-08", "2024-03-10", "2024-03-11", "2024-11-03", "2024-11-04", "2024-07-01"):
        start = datetime.fromisoformat(day).replace(tzinfo=tz.utc)
        for minute in range(0, 48 * 60, 7):
            t = start + timedelta(minutes=minute, seconds=13)
            ns = int(t.timestamp()) * 1_000_000_000
            local = t.astimezone(ny).time()
            assert r._in_window(ns) == (r._start <= local < r._end), (t, local)
    # the message names the local time when blocked
    t = datetime(2024, 7, 1, 13, 0, tzinfo=tz.utc)  # 09:00 EDT
    acct = Account(equity=1e5, cash=1e5, buying_power=1e5, start_of_day_equity=1e5)
    assert "now 09:00:00 ET" in r.entry_block_reason(int(t.timestamp()) * 1_000_000_000, acct, None)


def test_a_cap_that_binds_is_named_in_the_size_note():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=10_000))
    d = check(rm)  # risk: $1,000 / $1 = 1000 shares; cap: $10,000 / $100 = 100
    assert d.allowed and d.signal.qty == 100
    assert d.size_note == "qty 100 capped by max_position_notional $10,000.00 at $100.00 (risk 1% sizes 1000)"
    d = check(rm, acct=account(bp=5_000))
    assert d.signal.qty == 50 and d.size_note.startswith("qty 50 capped by buying power $5,000.00")
    assert check(RiskManager(RiskConfig(risk_per_trade_pct=0.05))).size_note == ""  # risk decided (50 shares)


def test_min_cash_floor_caps_and_blocks():
    rm = RiskManager(RiskConfig(risk_per_trade_pct=1.0, max_position_notional=1e9, min_cash=95_000))
    d = check(rm)  # cash 100k - floor 95k leaves $5,000 = 50 shares at $100
    assert d.allowed and d.signal.qty == 50 and "capped by min_cash $95,000.00 (cash $100,000.00)" in d.size_note
    d = check(RiskManager(RiskConfig(min_cash=100_000)))
    assert not d.allowed and "min_cash $100,000.00: cash $100,000.00" in d.reason
