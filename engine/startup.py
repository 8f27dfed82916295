"""Before data flows: what a restart brings back and what a live start catches up on.

A restart inside the session must carry on where it stopped: the analytics
rebuilt from today's stored candles (and data already seen skipped), today's
decisions and the signals still pending, the broker's positions and open orders
(a real broker takes them as what it believed and reconciles with the account,
emitting only the fills the store does not have), today's fills (the P&L of a
round trip that closes after the restart needs its opening fills), and exit
management of each open position. A live start fetches the previous session's
bars (balance range, previous profile) and today's trades so far, so the panes
are right from the first frame. A simulated session resumes the same way, from the
data time its last run reached (sim_resume.py decides that, before warm-up).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import sim_resume
from .model import NS_PER_S, OrderLeg
from .peg import PEG_JOURNAL
from .router import EXIT_PLAN

if TYPE_CHECKING:
    from .engine import Engine


async def restore_today(engine: "Engine") -> None:
    now = engine.clock.now_ns()
    if not now:
        return
    session_start = engine.calendar.session_start_ns(now)
    state = await engine.recorder.load_today(session_start)
    sim = engine.sim_start if engine.sim_start is not None and engine.sim_start.kind != "fresh" else None
    if sim is not None:  # a simulated session's own records only (engine/sim_resume.py)
        state = sim.keep_own(state)
    bars = [bar for sym, sym_bars in state.bars.items() if sym in engine.analytics for bar in sym_bars]
    n = engine.catch_up(bars)
    engine.data.resume_after_ns = max((bar.ts_ns + 60 * NS_PER_S for bar in bars), default=0)
    engine.desk.restore(state.decisions, state.pending, engine.analytics)
    engine.broker.carry_pegs(await _peg_progress(engine, state.open_orders))  # resumed, or cancelled saying why
    engine.broker.restore(state.positions, state.open_orders, state.account, fills=state.fills,
                          since_ns=session_start)
    positions = list(state.positions.values() if isinstance(state.positions, dict) else state.positions)
    engine.recorder.note_restored_positions(p.symbol for p in positions if p.qty)
    engine.router.restore_fills(state.fills)
    engine.router.day_trades.restore(state.fills, state.decisions, state.open_orders, state.journal)
    engine.resume_session(now)
    engine.router.restore_plans(positions, state.decisions, state.open_orders,
                                await _exit_plans(engine, [p.symbol for p in positions if p.qty]))
    if sim is not None:
        await sim_resume.after_restore(engine, sim, state, n)
    if n or state.pending or state.positions:
        engine.recorder.log("info", "engine", f"restored {n} bars, {len(state.positions)} positions, "
                            f"{len(state.open_orders)} open orders, {len(state.pending)} pending signals")


async def _exit_plans(engine: "Engine", symbols: list[str]) -> list:
    """The latest journaled exit plan of each restored position's symbol (first target,
    high-water mark, partial done); none from a store that cannot read its journal."""
    journal = getattr(engine.recorder.store, "journal", None)
    if journal is None:
        return []
    marks = []
    for symbol in symbols:
        marks += await journal(kind=EXIT_PLAN, limit=1, symbol=symbol)
    return marks


async def _peg_progress(engine: "Engine", open_orders) -> list[dict]:
    """The latest journaled progress (kind ``peg``) of each pegged entry the last run left
    open: its window, re-pegs used and working price, for the broker to resume it."""
    journal = getattr(engine.recorder.store, "journal", None)
    entries = {(o.symbol, o.client_order_id, o.id) for o in open_orders
               if o.leg is OrderLeg.ENTRY and o.status.is_open}
    if journal is None or not entries:
        return []
    latest: dict[str, dict] = {}
    for symbol in sorted({s for s, _, _ in entries}):
        for e in await journal(kind=PEG_JOURNAL, limit=200, symbol=symbol):  # oldest first: the newest wins
            if e.data and e.data.get("order_id"):
                latest[e.data["order_id"]] = e.data
    wanted = {oid for _, _, oid in entries} | {cid for _, cid, _ in entries}
    return [d for oid, d in latest.items() if oid in wanted or d.get("client_order_id") in wanted]


async def backfill_live(engine: "Engine") -> None:
    clock, cal, feed, log = engine.clock, engine.calendar, engine.feed, engine.recorder.log
    now = clock.now_ns()
    start = cal.session_start_ns(now)
    bounds = cal.rth_bounds(cal.previous_trading_day(cal.session_date(now)))
    for sym in engine.symbols:
        try:
            if bounds is not None:
                engine.warm_up(await feed.backfill(sym, bounds[0], bounds[1], kind="bars"))
            items = await feed.backfill(sym, max(start, engine.data.resume_after_ns), now, kind="trades")
        except Exception as exc:  # the trader must see a failed backfill, trading can still start
            log("error", "feed", f"backfill of {sym} failed: {type(exc).__name__}: "
                f"{engine.recorder.redact(str(exc))}", sym)
            continue
        closed = [c for item in items for c in engine.on_data(item)]
        if closed:
            await engine.on_bars_closed(closed, act=False)
        log("info", "feed", f"backfilled {sym}: {len(items):,} trades today", sym)
