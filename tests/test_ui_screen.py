"""The trader's screen (issue 14 part A): working orders above the history and in
view, every pending signal visible with a count, badges a narrow header never
drops, the too-small notice, the profile ladder on the header's own bins, the
order / signal details with a single-order cancel, and today's trades.

Pilot tests on the fixed snapshot (tests/ui_fixtures.py): each key is pressed in
the app and its effect read from the panes or from the FixedEngine's calls."""
from __future__ import annotations

import dataclasses

import pytest

from cockpit.screens import ConfirmScreen, OrderDetailScreen, SignalDetailScreen
from engine.model import Mode, StoreHealth, StoreStatus
from tests.ui_fixtures import (FixedEngine, busy_book_snapshot, day_trades_view, demo_snapshot, fixed_app,
                               pending_snapshot)
from tests.waiting import wait_for
from widgets.base import SyncTable
from widgets.header import ENTRIES_SLOT, badges_to_drop, entries_slot_fits
from widgets.orders import short_ref
from widgets.profile import ladder_window


def visible_badges(app) -> list[str]:
    return [b.id.removeprefix("hdr-") for b in app.query("#header .badge") if b.display and b.styles.display != "none"
            and not b.has_class("-hidden") and not b.has_class("-dropped")]


# ------------------------------------------------------------------ orders


async def test_working_orders_stay_first_and_in_view_when_orders_arrive_above_the_history(tmp_path):
    history_only = busy_book_snapshot(open_n=0)
    engine = FixedEngine(history_only)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#orders-table", SyncTable)
        assert table.cursor_row == 0 and table.keys[0] == history_only.orders[0].id
        busy = busy_book_snapshot(open_n=8)
        engine.publish(busy)
        working = [o.id for o in busy.orders if o.status.is_open]
        # (a polled snapshot: the next poll, then one pane per frame, the orders among the first)
        await wait_for(lambda: table.keys[: len(working)] == working, what="the working orders drawn")
        assert table.keys[: len(working)] == working  # working orders above the closed ones
        assert table.cursor_row == 0 and table.scroll_y == 0  # ... and the top of the table is in view
        assert app.query_one("#orders").border_subtitle == "8 open"


async def test_orders_show_full_prices_and_a_readable_reference(tmp_path):
    app = fixed_app(tmp_path, FixedEngine(busy_book_snapshot()))
    async with app.run_test(size=(120, 40)):
        table = app.query_one("#orders-table", SyncTable)
        first = busy_book_snapshot().orders[0]
        assert table.get_cell(first.id, "price").plain.strip() == f"L {first.limit_price:,.2f}"
        assert table.get_cell(first.id, "ref").plain.strip() == "#100"
    assert short_ref("paper-abc123-17") == "#17" and short_ref("ord-000012") == "#12"
    assert short_ref("6f1c2e9a-aaaa-bbbb") == "…-bbbb"


async def test_enter_on_an_order_shows_its_detail_and_x_cancels_that_order_after_yes(tmp_path):
    snap = busy_book_snapshot()
    engine = FixedEngine(snap)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#orders-table", SyncTable)
        table.focus()
        await pilot.press("down")  # the second working order
        target = snap.orders[1]
        await pilot.press("enter")
        assert isinstance(app.screen, OrderDetailScreen)
        assert app.screen.detail.order.id == target.id
        shown = dict(app.screen.rows)
        assert shown["client id"] == target.client_order_id and shown["order id"] == target.id
        assert any("submitted" in e for e in app.screen.events)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-cancel-order"
        await pilot.press("n")
        assert ("cancel_order", target.id) not in engine.calls
        await pilot.press("enter", "x", "y")
        await pilot.pause(0.2)
        assert engine.calls.count(("cancel_order", target.id)) == 1


async def test_x_on_a_closed_order_cancels_nothing(tmp_path):
    snap = busy_book_snapshot(open_n=0)
    engine = FixedEngine(snap)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#orders-table", SyncTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, OrderDetailScreen) and not app.screen.detail.order.status.is_open
        await pilot.press("x")
        assert isinstance(app.screen, OrderDetailScreen)  # no confirmation: nothing to cancel
        await pilot.press("escape")
        assert not isinstance(app.screen, OrderDetailScreen)
        assert not [c for c in engine.calls if c[0] == "cancel_order"]


async def test_the_orders_reason_is_readable_at_120x40_under_the_table(tmp_path):
    """The Reason column is cut in the half-width pane: the line under the table spells
    out the latest cancel's reason, and the highlighted order's while the trader is in
    the table; all five shown rows stay working orders."""
    snap = busy_book_snapshot()
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)) as pilot:
        line = app.query_one("#orders-reason")
        table = app.query_one("#orders-table", SyncTable)
        first_cancel = next(o for o in snap.orders if o.reason)
        assert str(line.render()) == f"{short_ref(first_cancel.id)} AAPL buy entry mkt canceled: OCO: take_profit filled"
        assert line.region.width >= len(str(line.render())) and line.region.y < app.query_one("#orders").region.bottom
        visible_rows = table.scrollable_content_region.height - 1  # under the header
        assert visible_rows >= 5
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert str(line.render()).startswith("#101 QQQ sell sl stop accepted (no reason given)")
        table.blur()
        await pilot.pause()
        assert str(line.render()).endswith("canceled: OCO: take_profit filled")


def test_the_reason_line_puts_an_unknown_outcome_then_a_rejection_first():
    from engine.model import OrderStatus
    from widgets.orders import order_to_explain, ordered

    snap = busy_book_snapshot()
    rejected = dataclasses.replace(snap.orders[-1], id="paper-abc123-7", status=OrderStatus.REJECTED,
                                   reason="insufficient buying power")
    unknown = dataclasses.replace(snap.orders[0], id="unknown:ck-1", status=OrderStatus.UNKNOWN,
                                  reason="possibly live at Alpaca, not resent")
    assert order_to_explain(ordered(snap.orders + (rejected,))) == rejected
    assert order_to_explain(ordered(snap.orders + (rejected, unknown))) == unknown
    assert order_to_explain(ordered(busy_book_snapshot(closed_n=0).orders)) is None


# ------------------------------------------------------------------ signals


async def test_every_pending_signal_is_visible_with_a_count_at_120x40(tmp_path):
    snap = pending_snapshot(3)
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)):
        table = app.query_one("#pending-table", SyncTable)
        assert table.keys == [s.id for s in snap.pending]
        assert table.size.height >= 1 + len(snap.pending)  # header + every row, none scrolled away
        assert app.query_one("#signals").border_title == "Signals · 3 pending"
        assert [c.label.plain.strip() for c in table.columns.values()][-2:] == ["R", "Conf"]  # not cut


async def test_enter_on_a_signal_shows_its_whole_reason(tmp_path):
    snap = pending_snapshot(2)
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#pending-table", SyncTable).focus()
        await pilot.press("down", "enter")
        assert isinstance(app.screen, SignalDetailScreen) and app.screen.sig.id == snap.pending[1].id
        assert dict(app.screen.rows)["why"] == snap.pending[1].reason  # all of it
        await pilot.press("escape")
        app.query_one("#decisions-table", SyncTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, SignalDetailScreen) and app.screen.sig.id == snap.decisions[0].id


# ------------------------------------------------------------------ header, too small


@pytest.mark.parametrize("size", [(60, 20), (40, 12)])
async def test_mode_broker_and_day_pnl_are_never_dropped(tmp_path, size):
    snap = dataclasses.replace(demo_snapshot(), entries_paused=True, store=StoreStatus(StoreHealth.OK),
                               start_label="RESUMED 11:42", mode=Mode.AUTO)  # every badge a real run shows
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.1)
        shown = visible_badges(app)
        assert {"mode", "broker", "pnl"} <= set(shown), shown
        region = {b.id: b.region for b in app.query("#header .badge")}
        for name in ("mode", "broker", "pnl"):  # inside the screen, not cut by the clock or the edge
            r = region[f"hdr-{name}"]
            assert r.width > 0 and r.right <= size[0]
            for other in shown:  # and not covered by another badge (the clock is docked right)
                if other != name:
                    assert not r.overlaps(region[f"hdr-{other}"]), (name, other)


def test_badges_drop_in_order_and_keep_the_money_badges():
    widths = {"mode": 8, "entries": 8, "broker": 11, "pnl": 14, "equity": 13, "feed": 8, "store": 10, "start": 7,
              "clock": 13}
    assert badges_to_drop(widths, 200) == set()
    assert badges_to_drop(widths, 80) == {"start", "store", "equity"}
    assert badges_to_drop(widths, 40) == {"start", "store", "equity", "feed", "clock", "entries"}


def test_the_entries_slot_is_reserved_only_when_nothing_else_gives_way():
    widths = {"mode": 8, "broker": 11, "pnl": 14, "equity": 13, "feed": 8, "store": 10, "start": 7, "clock": 13}
    others = sum(w + 1 for w in widths.values())
    assert entries_slot_fits(widths, others + ENTRIES_SLOT + 1)
    assert not entries_slot_fits(widths, others + ENTRIES_SLOT)  # would cost another badge: no slot
    assert entries_slot_fits({**widths, "entries": 8}, others + ENTRIES_SLOT + 1)  # PAUSED sits in it


async def test_space_on_a_wide_line_repaints_the_entries_badge_without_a_layout(tmp_path, monkeypatch):
    """Pausing entries under load must not re-lay out the whole screen (issue 14 item 9):
    on a line with room the badge keeps a fixed slot, blank when entries run."""
    from textual.screen import Screen

    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        badge = app.query_one("#hdr-entries")
        assert badge.has_class("-slot") and badge.display and badge.region.width == ENTRIES_SLOT
        layouts = []
        original = Screen._refresh_layout
        monkeypatch.setattr(Screen, "_refresh_layout",
                            lambda self, *a, **k: (layouts.append(self), original(self, *a, **k))[1])
        for paused in (True, False, True):
            await pilot.press("space")
            await pilot.pause(0.1)
            assert engine.snapshot().entries_paused is paused
            assert ("PAUSED" in str(badge.content)) is paused and badge.region.width == ENTRIES_SLOT
        assert layouts == []


async def test_too_small_terminal_shows_the_notice_and_keeps_the_badges_and_money_keys(tmp_path):
    engine = FixedEngine()
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(40, 12)) as pilot:
        notice = app.query_one("#too-small")
        assert notice.display and notice.region.height > 0
        assert "need 60x18" in str(notice.render())
        assert app.query_one("#dash").region.height == 0
        assert {"mode", "broker", "pnl"} <= set(visible_badges(app))
        await pilot.press("F")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.id == "confirm-flatten-all"
        await pilot.press("y")
        await pilot.pause(0.1)
        assert ("flatten_all",) in engine.calls
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert app.query_one("#too-small").region.height == 0 and app.query_one("#dash").region.height > 0


# ------------------------------------------------------------------ profile ladder


def test_ladder_rows_are_the_profiles_own_bins_around_last_and_poc():
    hist = tuple((500 + i * 0.25, 100.0 + (50 if i == 30 else 0)) for i in range(60))  # POC at bin 30
    rows, above, below = ladder_window(hist, 0.125, poc=507.5, last=509.0, max_rows=12)
    prices = [p for p, _ in rows]
    assert all(p in dict(hist) for p in prices)  # never merged: every row is one bin
    assert 507.5 in prices and 509.0 in prices  # the POC and the last price both in view
    assert above + below + len(rows) == len(hist) and len(rows) == 10
    assert prices == sorted(prices, reverse=True)
    rows, above, below = ladder_window(hist, 0.125, poc=507.5, last=514.5, max_rows=12)  # too far apart
    assert 514.5 in [p for p, _ in rows]
    assert ladder_window(hist[:8], 0.125, 501.0, 501.0, 12) == ([(p, v) for p, v in reversed(hist[:8])], 0, 0)


async def test_ladder_marks_the_headers_poc_on_the_longest_bar(tmp_path):
    """A profile with more bins than the 120x40 pane has rows, a lone POC bin and
    a wide shelf of medium bins elsewhere (merged rows would make the shelf the
    longest bar): the row at the header's POC price has the mark and the longest bar."""
    base = demo_snapshot()
    spy = base.symbols["SPY"]
    vols = [50.0] * 30
    vols[15] = 1000.0
    vols[3] = vols[4] = vols[5] = 600.0
    hist = tuple((round(510.0 + i * 0.25, 2), v) for i, v in enumerate(vols))
    prof = dataclasses.replace(spy.session_profile, histogram=hist, poc=hist[15][0], val=hist[13][0] - 0.125,
                               vah=hist[17][0] + 0.125, low=hist[0][0] - 0.125, high=hist[-1][0] + 0.125,
                               total_volume=sum(vols), lvns=())
    snap = dataclasses.replace(base, symbols={**base.symbols, "SPY": dataclasses.replace(spy, session_profile=prof,
                                                                                       last=hist[12][0])})
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)):
        lines = app.query_one("#profile-chart").render().plain.split("\n")
        assert lines[0].startswith(f"POC {prof.poc:.2f}")
        poc_rows = [ln for ln in lines if " POC" in ln and not ln.startswith(("POC", "prev"))]
        assert len(poc_rows) == 1 and poc_rows[0].split()[0] == f"{prof.poc:.2f}"
        bars = [ln.count("█") for ln in lines[2:]]
        assert max(bars) == poc_rows[0].count("█")


# ------------------------------------------------------------------ today's trades


async def test_T_shows_todays_trades_in_the_full_dashboard_and_again_hides_them(tmp_path):
    snap = dataclasses.replace(demo_snapshot(), day_trades=day_trades_view())
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.query_one("#trades").region.height == 0
        await pilot.press("T")
        await pilot.pause(0.1)
        pane = app.query_one("#trades")
        assert pane.region.height > 0 and app.query_one("#profile").region.height == 0
        assert pane.border_title == "Today's trades · 4 · +316.00"
        table = app.query_one("#trades-table", SyncTable)
        assert len(table.keys) == 4 and table.get_cell(table.keys[0], "reason").plain.strip().startswith("exit: close")
        totals = str(app.query_one("#trades-totals").render())
        assert "auction 3 (3 won) +373.10" in totals and "SPY 2 (1 won) -55.50" in totals
        assert app.query_one("#positions").region.height > 0 and app.query_one("#signals").region.height > 0
        await pilot.press("T")
        await pilot.pause(0.1)
        assert app.query_one("#trades").region.height == 0 and app.query_one("#profile").region.height > 0


async def test_trades_is_a_page_in_the_compact_layout(tmp_path):
    snap = dataclasses.replace(demo_snapshot(), day_trades=day_trades_view())
    app = fixed_app(tmp_path, FixedEngine(snap))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("T")
        await pilot.pause(0.1)
        assert app.page == "trades" and app.query_one("#trades").region.height > 0
        assert "Trades" in str(app.query_one("#pagebar").render())
        await pilot.press("T")
        assert app.page == "watch"


# ------------------------------------------------------------------ on the real engine


async def test_single_order_cancel_on_the_paper_broker_takes_its_legs_and_leaves_the_rest(tmp_path):
    """Approve a signal (feed held, so the market entry waits), open the entry's
    detail (its tp/sl legs and events), cancel it with x, y: that bracket is gone at
    the broker, journaled, and flatten / cancel-all were not used."""
    from tests.test_ui_engine import cockpit, first_pending

    async with cockpit(tmp_path, size=(120, 40)) as (app, engine, pilot):
        sig = await first_pending(app, engine, pilot)
        await pilot.press("a")
        await wait_for(lambda: any(o.signal_id == sig.id for o in engine.broker.open_orders()), 5, "the bracket")
        entry = next(o for o in engine.broker.open_orders() if o.signal_id == sig.id and o.leg.value == "entry")
        detail = engine.order_detail(entry.id)
        assert {leg.leg.value for leg in detail.legs} == {"take_profit", "stop_loss"}
        assert [e.kind for e in detail.events][:1] == ["submitted"]
        table = app.query_one("#orders-table", SyncTable)
        await wait_for(lambda: entry.id in table.keys, 5, "the entry's row")
        table.focus()
        table.move_cursor(row=table.keys.index(entry.id))
        await pilot.press("enter")
        assert isinstance(app.screen, OrderDetailScreen) and app.screen.detail.order.id == entry.id
        await pilot.press("x", "y")
        await wait_for(lambda: not engine.broker.open_orders(), 5, "no open order")
        after = engine.order_detail(entry.id)
        assert after.order.status.value == "canceled" and "cancel requested" in [e.kind for e in after.events]
        assert any(e.kind == "command" and f"cancel order {entry.id}" in e.message for e in engine.journal)
        assert not any(e.kind == "command" and e.message in ("CANCEL ALL orders", "FLATTEN ALL") for e in engine.journal)


def test_the_ladder_window_stays_put_while_the_last_price_is_inside_it():
    hist = tuple((500 + i * 0.25, 100.0) for i in range(60))
    first, _, _ = ladder_window(hist, 0.125, poc=507.5, last=509.0, max_rows=12)
    top = first[0][0]
    moved, _, _ = ladder_window(hist, 0.125, poc=507.5, last=508.5, max_rows=12, keep_top=top)
    assert moved == first  # two ticks down, still inside: not one row repainted
    assert ladder_window(hist, 0.125, poc=507.5, last=508.5, max_rows=12)[0] != first  # (without keep_top it would move)
    away, _, _ = ladder_window(hist, 0.125, poc=507.5, last=512.0, max_rows=12, keep_top=top)
    assert away != first and 512.0 in [p for p, _ in away]  # left it: the window follows


async def test_a_decision_or_alert_that_changes_is_shown_anew_and_an_unchanged_one_kept(tmp_path):
    """The signals and alerts panes hand an unchanged record's cells to the table again
    (which skips them); a record that changed under the same key is built anew."""
    snap = demo_snapshot()
    engine = FixedEngine(snap)
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one("#decisions-table", SyncTable)
        first, second = snap.decisions[0], snap.decisions[1]
        key = f"{first.id}|{first.decision.value}"
        kept = table._given[f"{second.id}|{second.decision.value}"]
        changed = dataclasses.replace(first, decision_reason="max_positions reached (4)")
        engine.publish(dataclasses.replace(snap, decisions=(changed,) + snap.decisions[1:]))
        app.refresh_from_engine(force=False) or app.refresh_from_engine(force=True)
        await pilot.pause()
        assert table.get_cell(key, "reason").plain.strip() == "max_positions reached (4)"
        assert table._given[f"{second.id}|{second.decision.value}"] is kept  # not built again
        alerts = app.query_one("#alerts-table", SyncTable)
        a = snap.alerts[0]
        moved = dataclasses.replace(a, distance_pct=9.87)
        engine.publish(dataclasses.replace(engine.snapshot(), alerts=(moved,) + snap.alerts[1:]))
        app.refresh_from_engine(force=True)
        await pilot.pause()
        from widgets.alerts import alert_key
        assert alerts.get_cell(alert_key(moved), "pct").plain.strip() == "9.87"
