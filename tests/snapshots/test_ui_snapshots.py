"""SVG snapshot tests of the cockpit (pytest-textual-snapshot).

Deterministic by construction: a fixed hand-built snapshot served by a fixed
source (tests/ui_fixtures.py), a fixed clock, no wall-clock reads, no Input
widgets (no cursor blink), no animation. Update with ``--snapshot-update``.
"""
from __future__ import annotations

import dataclasses

import pytest

from engine.model import Mode, StoreHealth, StoreStatus
from tests.ui_fixtures import (FixedEngine, busy_book_snapshot, day_trades_view, demo_snapshot, fixed_app,
                               pending_snapshot)


def make_app(tmp_path, theme: str = "dark", snap=None):
    app = fixed_app(tmp_path, FixedEngine(snap or demo_snapshot()), theme=theme)
    app.animation_level = "none"
    return app


def test_dashboard_120x40(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=(120, 40))


def test_dashboard_160x50(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=(160, 50))


def test_compact_80x24(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24))


def test_compact_pending_signal_page(snap_compare, tmp_path):
    """80x24, the Signals page: the pending signal with countdown, R, risk and reason."""
    assert snap_compare(make_app(tmp_path), press=["]", "]", "]"], terminal_size=(80, 24))


def test_auto_confirmation(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["m"], terminal_size=(120, 40))


def test_flatten_all_confirmation(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["F"], terminal_size=(120, 40))


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), press=["question_mark"], terminal_size=(120, 40))


@pytest.mark.parametrize("theme", ["light", "high-contrast"])
def test_theme(snap_compare, tmp_path, theme):
    assert snap_compare(make_app(tmp_path, theme), terminal_size=(120, 40))


def test_feed_disconnected_and_entries_blocked(snap_compare, tmp_path):
    """A feed reconnecting (red badge with the retry countdown) and the entries it blocks."""
    snap = demo_snapshot()
    snap = dataclasses.replace(
        snap,
        feed=dataclasses.replace(snap.feed, name="alpaca", connected=False, reconnect_in_s=8.0),
        broker_kind="PAPER",
        blocked_entries_reason="data stale (> 15 s)",
    )
    assert snap_compare(make_app(tmp_path, snap=snap), terminal_size=(120, 40))


# ------------------------------------------------------------------ the trader's screen (issue 14)


def test_open_orders_above_closed_120x40(snap_compare, tmp_path):
    """Eight working orders on top (full prices, #N refs), the filled / cancelled history dimmed below."""
    assert snap_compare(make_app(tmp_path, snap=busy_book_snapshot()), terminal_size=(120, 40))


def test_several_pending_signals_120x40(snap_compare, tmp_path):
    """Three pending signals, each with its TTL, the count in the pane title, the
    highlighted one's reason on the line under the table."""
    assert snap_compare(make_app(tmp_path, snap=pending_snapshot(3)), terminal_size=(120, 40))


def test_too_small_notice_40x12(snap_compare, tmp_path):
    """Below 60x18: the badges (mode, broker, Day P&L) and the notice with the money keys."""
    snap = dataclasses.replace(demo_snapshot(), mode=Mode.AUTO, store=StoreStatus(StoreHealth.OK),
                               start_label="FRESH")
    assert snap_compare(make_app(tmp_path, snap=snap), terminal_size=(40, 12))


def test_narrow_header_60x20(snap_compare, tmp_path):
    snap = dataclasses.replace(demo_snapshot(), mode=Mode.AUTO, store=StoreStatus(StoreHealth.OK),
                               start_label="RESUMED 11:42", entries_paused=True)
    assert snap_compare(make_app(tmp_path, snap=snap), terminal_size=(60, 20))


def test_trades_pane_120x40(snap_compare, tmp_path):
    snap = dataclasses.replace(demo_snapshot(), day_trades=day_trades_view())
    assert snap_compare(make_app(tmp_path, snap=snap), press=["T"], terminal_size=(120, 40))


def test_trades_page_80x24(snap_compare, tmp_path):
    snap = dataclasses.replace(demo_snapshot(), day_trades=day_trades_view())
    assert snap_compare(make_app(tmp_path, snap=snap), press=["T"], terminal_size=(80, 24))


def test_order_detail_120x40(snap_compare, tmp_path):
    async def open_detail(pilot):
        pilot.app.query_one("#orders-table").focus()
        await pilot.press("down", "enter")

    assert snap_compare(make_app(tmp_path, snap=busy_book_snapshot()), run_before=open_detail, terminal_size=(120, 40))


def test_feed_paused_by_the_trader(snap_compare, tmp_path):
    """p pressed: the header's feed badge reads PAUSED FEED (entries are not paused)."""
    snap = demo_snapshot()
    snap = dataclasses.replace(snap, feed=dataclasses.replace(snap.feed, paused=True))
    assert snap_compare(make_app(tmp_path, snap=snap), terminal_size=(120, 40))


def test_nothing_to_flatten_notice_80x24(snap_compare, tmp_path):
    """f with no SPY position or order: the answer in the key bar's notice slot (no toast, no dialog)."""
    assert snap_compare(make_app(tmp_path), press=["f"], terminal_size=(80, 24))
