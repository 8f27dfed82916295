"""Today's trades (engine/day_trades.py): round trips with P&L, R and why they
ended, totals by setup and symbol; the same rows live (the snapshot), after a
restart (from the store) and from `cockpit trades --date D`."""
from __future__ import annotations

import json
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cockpit.cli import main
from engine.day_trades import DayTrades, day_trades_from_store, exit_reason, summarize
from engine.model import NS_PER_S, Fill, Order, OrderLeg, OrderStatus, OrderType, Side, Signal
from engine.store.core import Store
from tests.factories import T0, engine_config, run_session

ET = ZoneInfo("America/New_York")


def fill(i: int, symbol: str, side: Side, qty: int, price: float, leg: OrderLeg, *, order: str, dt_s: int,
         commission: float = 0.0) -> Fill:
    return Fill(f"f{i}", order, f"c-{order}", symbol, side, qty, price, commission, T0 + dt_s * NS_PER_S, leg)


def plan(symbol: str, side: Side, entry: float, stop: float, setup: str = "auction") -> Signal:
    return Signal(f"s-{symbol}", symbol, setup, side, entry, stop, entry + 2 * (entry - stop), 70, "", T0, qty=100)


def test_fills_recorded_unread_give_the_same_trades_as_fills_applied_at_once():
    """The router records fills and the trades are built when read (a backtest never
    reads them): the same rows, exit reasons included, as applying each fill at once,
    and a note given between two fills is read by the fills after it only."""
    long_plan = plan("SPY", Side.BUY, 100.0, 99.0)
    fills = [
        (fill(1, "SPY", Side.BUY, 100, 100.0, OrderLeg.ENTRY, order="e1", dt_s=0), long_plan),
        (fill(2, "SPY", Side.SELL, 100, 101.0, OrderLeg.EXIT, order="x1", dt_s=60), long_plan),
        (fill(3, "SPY", Side.BUY, 100, 100.0, OrderLeg.ENTRY, order="e2", dt_s=120), long_plan),
        "note",
        (fill(4, "SPY", Side.SELL, 100, 99.0, OrderLeg.EXIT, order="x2", dt_s=180), long_plan),
        (fill(5, "SPY", Side.BUY, 100, 100.0, OrderLeg.ENTRY, order="e3", dt_s=240), long_plan),
        (fill(6, "SPY", Side.SELL, 100, 102.0, OrderLeg.EXIT, order="x3", dt_s=300), long_plan),
    ]
    now, later = DayTrades(), DayTrades()
    for day in (now, later):
        day.reset("2023-11-14")
    for item in fills:
        if item == "note":
            now.note_exit("SPY", "close SPY: time exit")
            later.note_exit("SPY", "close SPY: time exit")
            continue
        now.on_fill(*item)
        later.record(*item)
    assert later._unread  # nothing built until read
    reasons = [t.exit_reason for t in sorted(later.view().trades, key=lambda t: t.exit_ns)]
    assert reasons == ["exit", "exit: close SPY: time exit", "exit"]
    assert later.view() == now.view()
    later.record(fill(7, "SPY", Side.BUY, 100, 100.0, OrderLeg.ENTRY, order="e4", dt_s=360), long_plan)
    later.reset("2023-11-15")  # a new day: the old day's unread fills go with its trades
    assert later.view().trades == ()


def test_round_trips_with_pnl_r_and_why_they_ended():
    day = DayTrades()
    day.reset("2023-11-14")
    long_plan = plan("SPY", Side.BUY, 100.0, 99.0)
    day.on_fill(fill(1, "SPY", Side.BUY, 100, 100.0, OrderLeg.ENTRY, order="e1", dt_s=0, commission=1.0), long_plan)
    t = day.on_fill(fill(2, "SPY", Side.SELL, 100, 102.0, OrderLeg.TAKE_PROFIT, order="tp1", dt_s=60,
                         commission=1.0), long_plan)
    # 100 x (102 - 100) - 2 commission = 198; risk 100 x (100 - 99) = 100 -> 1.98 R
    assert (t.side, t.qty, t.entry_price, t.exit_price, t.exit_reason) == ("long", 100, 100.0, 102.0, "target")
    assert t.pnl == pytest.approx(198.0) and t.r == pytest.approx(1.98)

    short_plan = plan("QQQ", Side.SELL, 50.0, 50.5, "trend_model")
    day.on_fill(fill(3, "QQQ", Side.SELL, 200, 50.0, OrderLeg.ENTRY, order="e2", dt_s=120), short_plan)
    moved = Order("sl2", "c-sl2", "QQQ", Side.BUY, OrderType.STOP, 200, OrderStatus.FILLED, stop_price=49.9,
                  leg=OrderLeg.STOP_LOSS)
    t = day.on_fill(fill(4, "QQQ", Side.BUY, 200, 49.9, OrderLeg.STOP_LOSS, order="sl2", dt_s=180), short_plan, moved)
    assert t.exit_reason == "stop (moved to 49.90)" and t.pnl == pytest.approx(20.0) and t.r == pytest.approx(0.2)

    day.on_fill(fill(5, "SPY", Side.BUY, 50, 101.0, OrderLeg.ENTRY, order="e3", dt_s=240), None)  # no plan: R unknown
    day.note_exit("SPY", "close SPY: time exit")
    t = day.on_fill(fill(6, "SPY", Side.SELL, 50, 100.5, OrderLeg.EXIT, order="x3", dt_s=300), None)
    assert t.exit_reason == "exit: close SPY: time exit" and math.isnan(t.r) and t.setup == "?"

    view = day.view()
    assert [x.exit_ns for x in view.trades] == sorted((x.exit_ns for x in view.trades), reverse=True)
    assert view.total.trades == 3 and view.total.wins == 2 and view.total.pnl == pytest.approx(198 + 20 - 25)
    spy = next(g for g in view.by_symbol if g.key == "SPY")
    assert (spy.trades, spy.wins, spy.r_count) == (2, 1, 1) and spy.pnl == pytest.approx(173.0)
    assert spy.avg_r == pytest.approx(1.98)
    assert [g.key for g in view.by_setup] == ["?", "auction", "trend_model"]
    day.reset("2023-11-15")
    assert day.view().trades == () and day.view().date == "2023-11-15"


def test_exit_reasons_in_words():
    assert exit_reason("take_profit") == "target"
    assert exit_reason("stop_loss", "", 99.0, 99.0) == "stop"
    assert exit_reason("stop_loss", "", 100.0, 99.0) == "stop (moved to 100.00)"
    assert exit_reason("exit", "FLATTEN ALL") == "exit: FLATTEN ALL"
    assert exit_reason("exit") == "exit"
    assert summarize([]).total.trades == 0


@pytest.fixture(scope="module")
def stored_session(tmp_path_factory):
    """The seeded simulated session, AUTO, recorded into a store: (engine, db path)."""
    import asyncio

    db = tmp_path_factory.mktemp("trades") / "cockpit.db"
    engine = asyncio.run(run_session(engine_config("AUTO", app={"db": str(db)}), use_store=True))
    return engine, db


def _rows(view):
    return [(t.symbol, t.setup, t.side, t.qty, t.entry_ns, t.exit_ns, round(t.pnl, 6), t.exit_reason)
            for t in view.trades]


async def test_the_store_gives_the_same_trades_as_the_live_pane(stored_session):
    engine, db = stored_session
    live = engine.snapshot().day_trades
    assert live.total.trades > 5 and live.total.pnl == pytest.approx(sum(t.pnl for t in live.trades))
    assert live.total.pnl == pytest.approx(engine.broker.account().realized_pnl, abs=0.01)
    assert {t.exit_reason.split(" ")[0] for t in live.trades} <= {"target", "stop", "exit:"}
    day = datetime.fromtimestamp(live.trades[0].exit_ns / NS_PER_S, ET).date()
    store = await Store.open(str(db))
    try:
        stored = await day_trades_from_store(store, day)
        state = await store.load_today(engine.calendar.session_start_ns(live.trades[0].exit_ns))
        restarted = DayTrades()
        restarted.restore(state.fills, state.decisions, state.open_orders, state.journal)  # what a restart does
    finally:
        await store.close()
    assert _rows(stored) == _rows(live)
    assert _rows(restarted.view()) == _rows(live)
    assert [(g.key, g.trades, g.wins, round(g.pnl, 6)) for g in stored.by_setup] == \
        [(g.key, g.trades, g.wins, round(g.pnl, 6)) for g in live.by_setup]
    assert stored.source.startswith("simulated session 1 of 1")


def test_cockpit_trades_prints_the_day_and_its_totals(stored_session, capsys):
    engine, db = stored_session
    live = engine.snapshot().day_trades
    day = datetime.fromtimestamp(live.trades[0].exit_ns / NS_PER_S, ET).date().isoformat()
    assert main(["trades", "--date", day, "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["date"] == day and out["total"]["trades"] == live.total.trades
    assert out["total"]["pnl"] == pytest.approx(live.total.pnl)
    assert [t["exit_ns"] for t in out["trades"]] == sorted(t.exit_ns for t in live.trades)
    assert main(["trades", "--date", day, "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "by setup" in text and "by symbol" in text and "auction" in text
    assert main(["trades", "--date", "2001-01-02", "--db", str(db)]) == 0
    assert "no closed trades on 2001-01-02" in capsys.readouterr().out


@pytest.mark.parametrize("args, names", [
    (["--date", "2024-13-01"], "--date '2024-13-01' is not a date"),
    (["--date", "2024-03-12", "--db", "/nonexistent/x.db"], "--db /nonexistent/x.db: no such store file"),
    (["--date", "2024-03-12", "--tz", "Mars/Olympus"], "--tz 'Mars/Olympus' is not a time zone"),
])
def test_cockpit_trades_names_the_bad_flag(args, names, capsys):
    assert main(["trades", *args]) == 2
    assert names in capsys.readouterr().err
