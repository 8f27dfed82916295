"""One seeded simulated session through the real analytics and setups: every
market state occurs for every symbol, LVN alerts fire, and each setup signals
(the issue's acceptance test for the simulator)."""
from collections import Counter
from datetime import date

import pytest

from engine.analytics.session import SessionCalendar
from engine.analytics.symbol import SymbolAnalytics
from engine.config import StrategyParams
from engine.feeds.synthetic import DEFAULT_SYMBOLS, generate_days, trading_days_ending
from engine.model import NS_PER_MIN, MarketState
from engine.strategy.registry import make_setups

SEED = 7
DAY = date(2024, 6, 12)


def _run(symbol: str, params: StrategyParams, calendar: SessionCalendar):
    prev, cur = generate_days(symbol, SEED, trading_days_ending(DAY, 2))
    analytics = SymbolAnalytics(symbol, params, calendar)
    for bar in prev.bar_list():  # warm-up: the previous session's profile and balance range
        analytics.on_bar(bar)
    setups = make_setups(symbol, params)
    states: Counter = Counter()
    signals: Counter = Counter()
    alerts: Counter = Counter()

    def closed(bar):
        snap = analytics.snapshot()
        states[snap.state] += 1
        for setup in setups:
            if setup.on_bar(snap, bar.ts_ns + NS_PER_MIN) is not None:
                signals[setup.name] += 1

    for trade in cur.trades.iter_trades(symbol):
        bar = analytics.on_trade(trade)
        if bar is not None:
            closed(bar)
        for a in analytics.drain_alerts():
            alerts[a.source] += 1
    bar = analytics.close_until(cur.close_ns + NS_PER_MIN)
    if bar is not None:
        closed(bar)
    return states, signals, alerts, analytics.malformed


@pytest.fixture(scope="module")
def session_results():
    params = StrategyParams()
    calendar = SessionCalendar("us_equity")
    return {s: _run(s, params, calendar) for s in DEFAULT_SYMBOLS}


def test_every_market_state_for_every_symbol(session_results):
    for symbol, (states, _, _, malformed) in session_results.items():
        assert malformed == 0, symbol
        assert sum(states.values()) == 390, symbol
        for state in MarketState:
            assert states[state] >= 5, (symbol, dict(states))
        # balance dominates a normal day
        assert states[MarketState.BALANCE] > 390 // 2, (symbol, dict(states))


def test_lvn_alerts_fire_for_every_symbol(session_results):
    for symbol, (_, _, alerts, _) in session_results.items():
        assert sum(alerts.values()) >= 1, symbol
    sources = Counter()
    for _, _, alerts, _ in session_results.values():
        sources.update(alerts)
    assert sources["session"] >= 5 and sources["impulse"] >= 1, dict(sources)


def test_each_setup_signals_in_the_session(session_results):
    total = Counter()
    for _, signals, _, _ in session_results.values():
        total.update(signals)
    for name in ("auction", "trend_model", "mean_reversion"):
        assert total[name] >= 1, dict(total)
