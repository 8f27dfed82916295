"""`cockpit signals expectancy`: each recorded signal's own bracket replayed on the
bars that followed it (paper broker rules: stop first when a bar reaches both),
grouped per setup and per decision (a block with its rule)."""
from __future__ import annotations

import json

import pytest

from cockpit.cli import main
from cockpit.signals_cli import read_report
from engine.model import NS_PER_MIN, Decision, JournalEntry, Side, Signal
from engine.signal_expectancy import (HORIZON, NO_BARS, STOP, TARGET, block_rule_from_reason, decision_label,
                                      expectancy, replay_signal)
from engine.store.sync import open_sync
from tests.factories import T0, engine_config, minute_bar, run_session

MIN = NS_PER_MIN


def signal(side: Side = Side.BUY, entry: float = 100.0, stop: float = 99.0, target: float = 102.0, *,
           created_ns: int = T0, setup: str = "auction", decision: Decision = Decision.EXPIRED,
           reason: str = "", symbol: str = "SPY", sid: str = "") -> Signal:
    return Signal(sid or f"{symbol}-{setup}-{created_ns}", symbol, setup, side, entry, stop, target, 70.0, "test",
                  created_ns, decision=decision, decision_reason=reason)


def bars(*ohlc: tuple[float, float, float, float], symbol: str = "SPY"):
    """One bar a minute from T0 (the signal's time, so the first is the entry bar)."""
    return [minute_bar(i, *b, symbol=symbol) for i, b in enumerate(ohlc)]


# --------------------------------------------------------------------------- one bracket, exact R


def test_target_reached_after_the_entry_bar_is_the_target_in_r():
    # the entry bar reaches 102.5 but a take-profit is armed only from the next bar (paper broker)
    o = replay_signal(signal(), bars((100, 102.5, 99.5, 101), (101, 102.2, 100.5, 102)), 30)
    assert (o.exit, o.exit_price, o.r, o.bars) == (TARGET, 102.0, 2.0, 2)


def test_a_bar_reaching_both_stop_and_target_is_the_stop():
    o = replay_signal(signal(), bars((100, 100.5, 99.5, 100), (100, 102.5, 98.5, 101)), 30)
    assert (o.exit, o.exit_price, o.r) == (STOP, 99.0, -1.0)


def test_a_gap_through_the_stop_exits_at_the_open():
    o = replay_signal(signal(), bars((100, 100.5, 99.5, 100), (98.5, 99.2, 98.0, 98.8)), 30)
    assert (o.exit, o.exit_price, o.r) == (STOP, 98.5, -1.5)


def test_a_gap_through_the_target_exits_at_the_open_in_our_favour():
    o = replay_signal(signal(), bars((100, 100.5, 99.5, 100), (103.0, 103.5, 102.5, 103)), 30)
    assert (o.exit, o.exit_price, o.r) == (TARGET, 103.0, 3.0)


def test_a_short_is_the_mirror():
    s = signal(Side.SELL, entry=50.0, stop=50.5, target=49.0)
    assert replay_signal(s, bars((50, 50.2, 49.8, 50), (49.9, 50.1, 48.9, 49.0)), 30).r == 2.0
    assert replay_signal(s, bars((50, 50.6, 49.8, 50)), 30).r == -1.0  # the stop is armed in the entry bar


def test_neither_within_the_horizon_is_marked_at_the_last_close():
    flat = [(100, 100.5, 99.5, 100.0)] * 9 + [(100, 100.5, 99.5, 100.25)]
    o = replay_signal(signal(), bars(*flat, (100, 105, 95, 100)), horizon_min=10)  # the 11th bar is past it
    assert (o.exit, o.exit_price, o.r, o.bars, o.short) == (HORIZON, 100.25, 0.25, 10, False)
    short = replay_signal(signal(), bars(*flat[:3]), horizon_min=10)  # the recording ended after 3 bars
    assert (short.exit, short.r, short.short) == (HORIZON, 0.0, True)


def test_no_bar_after_the_signal_is_not_guessed():
    before = [minute_bar(-5, 100, 105, 95, 100)]  # only a bar before the signal
    o = replay_signal(signal(), before, 30)
    assert (o.exit, o.r, o.bars) == (NO_BARS, None, 0)


def test_a_signal_without_risk_to_measure_r_by_is_counted_not_judged():
    flat = signal(entry=100.0, stop=100.0)
    o = replay_signal(flat, bars((100, 101, 99, 100), (100, 103, 99.5, 102)), 30)
    assert (o.exit, o.r) == ("no risk", None)
    g = expectancy([flat], {"SPY": bars((100, 101, 99, 100))}, 30).overall
    assert (g.signals, g.judged, g.no_risk, g.no_bars, g.expectancy_r) == (1, 0, 1, 0, None)


def test_groups_average_r_per_setup_and_per_decision_with_the_block_rule():
    t = T0
    sigs = [
        signal(created_ns=t, setup="auction", decision=Decision.APPROVED, sid="a"),  # +2
        signal(created_ns=t, setup="auction", decision=Decision.REJECTED, sid="b"),  # both touched: -1
        signal(created_ns=t, setup="orb", decision=Decision.BLOCKED, reason="max_positions 3 reached (3 open)",
               sid="c"),  # +2
        signal(created_ns=t, setup="orb", decision=Decision.BLOCKED, reason="approved but blocked: whatever",
               sid="d"),  # +2, its rule from the journal
        signal(created_ns=t, setup="orb", decision=Decision.EXPIRED, symbol="QQQ", sid="e"),  # no bars
    ]
    win = bars((100, 100.5, 99.5, 100), (100, 102.5, 99.5, 102))
    lose = bars((100, 100.5, 99.5, 100), (100, 102.5, 98.5, 101))
    by_symbol = {"SPY": win}
    report = expectancy(sigs[:1] + sigs[2:], by_symbol, 30, block_rules={"d": "daily loss limit"})
    report_b = expectancy(sigs[1:2], {"SPY": lose}, 30)
    assert report_b.outcomes[0].r == -1.0
    groups = {g.key: g for g in report.by_decision}
    assert set(groups) == {"approved", "blocked: max_positions", "blocked: daily loss limit", "expired"}
    assert groups["expired"].no_bars == 1 and groups["expired"].expectancy_r is None
    setups = {g.key: g for g in report.by_setup}
    assert setups["orb"].expectancy_r == 2.0 and (setups["orb"].signals, setups["orb"].judged) == (3, 2)
    assert report.overall.expectancy_r == 2.0 and report.overall.no_bars == 1
    mixed = expectancy(sigs[:1], {"SPY": win}, 30).outcomes + report_b.outcomes
    assert sum(o.r for o in mixed) / len(mixed) == 0.5


def test_block_rules_read_from_the_reason_text():
    assert block_rule_from_reason("daily loss limit: day P&L -$2,100.00 <= -2% ...") == "daily loss limit"
    assert block_rule_from_reason("approved but blocked: max_open_orders 10 reached (10 open)") == "max_open_orders"
    assert block_rule_from_reason("equity $1,000.00 < min_account_balance $2,000.00") == "min_account_balance"
    assert block_rule_from_reason("symbol XYZ is on the deny list") == "deny list"
    assert block_rule_from_reason("something else") is None
    assert decision_label(signal(decision=Decision.BLOCKED, reason="?")) == "blocked: rule unknown"


# --------------------------------------------------------------------------- from a store


def test_a_hand_built_store_gives_the_exact_r_on_the_command_line(tmp_path, capsys):
    db = tmp_path / "c.db"
    with open_sync(str(db)) as st:
        st.record_signal(signal(created_ns=T0, decision=Decision.AUTO, sid="won"))
        st.record_signal(signal(Side.SELL, 100.0, 101.0, 97.0, created_ns=T0 + 5 * MIN, decision=Decision.BLOCKED,
                                reason="data stale: last data 20.0s old > stale_after_s 15s", sid="lost"))
        st.record_journal(JournalEntry(T0 + 5 * MIN, "warn", "block", "blocked: ...", "SPY",
                                       {"signal_id": "lost", "rule": "data stale"}))
        for b in bars((100, 100.5, 99.5, 100), (100, 102.5, 99.5, 102), (102, 102, 101, 101.5), (101.5, 101.6, 101, 101),
                      (101, 101, 100, 100), (100, 100.5, 99.8, 100), (100, 101.5, 99.9, 101.2)):
            st.record_bar(b)
        st.flush()
    assert main(["signals", "expectancy", "--db", str(db), "--horizon", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {o["signal_id"]: o for o in out["outcomes"]}
    assert (got["won"]["exit"], got["won"]["r"]) == ("target", 2.0)
    assert (got["lost"]["exit"], got["lost"]["r"], got["lost"]["decision"]) == ("stop", -1.0, "blocked: data stale")
    assert out["overall"]["expectancy_r"] == 0.5 and out["overall"]["signals"] == 2
    assert main(["signals", "expectancy", "--db", str(db), "--limit", "1", "--json"]) == 0
    assert [o["signal_id"] for o in json.loads(capsys.readouterr().out)["outcomes"]] == ["lost"]  # the newest one
    assert main(["signals", "expectancy", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "blocked: data stale" in table and "+0.50" in table


def test_no_store_is_a_clear_error_and_no_signals_says_so(tmp_path, capsys):
    assert main(["signals", "expectancy", "--db", str(tmp_path / "missing.db")]) == 2
    assert "no store to read" in capsys.readouterr().err
    with open_sync(str(tmp_path / "empty.db")):
        pass
    assert main(["signals", "expectancy", "--db", str(tmp_path / "empty.db")]) == 0
    assert capsys.readouterr().out.startswith("no recorded signals in this store")


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """A store written by a seeded simulated session in SEMI mode (no trader: signals
    expire, some are blocked or dropped)."""
    import asyncio

    db = tmp_path_factory.mktemp("expectancy") / "semi.db"
    config = engine_config("SEMI", app={"db": str(db), "symbols": ["SPY", "TSLA"]})
    engine = asyncio.run(run_session(config, use_store=True))
    return db, engine


def test_a_seeded_session_replays_every_signal_against_its_recorded_bars(seeded_store):
    db, engine = seeded_store
    with open_sync(str(db)) as st:
        stored = st.signals()
        report = read_report(st, 200, 30)
    assert len(report.outcomes) == len(stored) == engine.counters["signals"] > 0
    assert all(o.exit != NO_BARS for o in report.outcomes)  # the session recorded every bar it closed
    decisions = {g.key: g.signals for g in report.by_decision}
    assert decisions["expired"] > 0
    blocked = {k.removeprefix("blocked: "): n for k, n in decisions.items() if k.startswith("blocked: ")}
    assert blocked == dict(engine.desk.block_reasons)  # each block named by its rule, as the desk counted them
    assert sum(g.signals for g in report.by_setup) == len(stored)
    for o in report.outcomes:  # R is the signal's own bracket: a stop is -1 R, a target its reward:risk
        if o.exit == STOP and o.exit_price == o.stop:
            assert o.r == pytest.approx(-1.0)
        if o.exit == TARGET and o.exit_price == o.target:
            assert o.r == pytest.approx(abs(o.target - o.entry) / abs(o.entry - o.stop))
    with open_sync(str(db)) as st:
        newest = read_report(st, 5, 30)
    assert [o.signal_id for o in newest.outcomes] == [s.id for s in stored[-5:]]
