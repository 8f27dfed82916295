"""What the engine publishes: the snapshot the UI renders (rebuilt when the engine's
version moves) and the figures of a run so far (what ``cockpit run --headless``
prints and a backtest stores)."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from .model import EngineSnapshot

if TYPE_CHECKING:
    from .engine import Engine


def run_summary(engine: "Engine") -> dict:
    acct = engine.broker.account()
    by_setup: dict[str, dict[str, int]] = {}
    by_decision: Counter[str] = Counter()
    for (setup, decision), n in engine.desk.signal_counts.items():
        if n:
            by_setup.setdefault(setup, {})[decision] = n
            by_decision[decision] += n
    c = engine.counters
    return {
        "signals_total": c["signals"],
        "signals_by_setup": by_setup,
        "signals_by_decision": dict(by_decision),
        "blocked_reasons": dict(engine.desk.block_reasons),
        "orders": engine.broker.order_count(),
        "fills": c["fills"],
        "rejections": c["rejections"],
        "lvn_alerts": c["lvn_alerts"],
        "malformed": c["malformed"],
        "equity": round(acct.equity, 2),
        "day_pnl": round(acct.day_pnl, 2),
        "realized_pnl": round(acct.realized_pnl, 2),
        "open_positions": sum(1 for p in engine.broker.positions() if p.qty != 0),
        "states": dict(engine.state_minutes),
        "rows_not_recorded": engine.recorder.rows_not_recorded,  # store writes that never succeeded
    }


def build_snapshot(engine: "Engine") -> EngineSnapshot:
    """Everything the UI renders, as of now, in one immutable object."""
    now = engine.clock.now_ns()
    status = engine.feed.status()
    age = engine.data.data_age_s(now)
    if (status.connected and not status.done and age is not None
            and age > engine.config.risk.stale_after_s and engine.calendar.in_rth(now)):
        status = replace(status, stale=True)
    recent = [o for o in engine.broker.recent_orders(30) if not o.status.is_open]
    if engine.router.failures:  # failed broker actions, each a row with its reason
        recent = sorted([*recent, *engine.router.failures], key=lambda o: o.updated_ns, reverse=True)[:30]
    uncovered = engine.broker.uncovered()
    return EngineSnapshot(
        ts_ns=now, mode=engine.mode, entries_paused=engine.entries_paused, broker_kind=engine.broker.kind,
        feed=status, symbols={s: an.snapshot() for s, an in engine.analytics.items()},
        alerts=tuple(engine.alerts), pending=tuple(engine.pending.values()), decisions=tuple(engine.decisions),
        positions=tuple(p for p in engine.broker.positions() if p.qty != 0),
        orders=engine.router.with_index_all((*engine.broker.open_orders(), *recent)), account=engine.broker.account(),
        session=engine.calendar.info(now) if now else None, journal=tuple(engine.journal),
        blocked_entries_reason=engine.entry_block_reason(now) if now else "", counters=dict(engine.counters),
        store=engine.recorder.store_status(),
        start_label=engine.sim_start.label if engine.sim_start is not None else "",
        unprotected=tuple(sorted(uncovered)), uncovered=uncovered,
        day_trades=engine.router.day_trades.view(),
        decide_left_s=engine.desk.time_left_s(now, status.speed),
    )
