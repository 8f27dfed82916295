"""A simulated session carries on across restarts: quit, start again, same day.

The default run plays a seeded simulated session into the store. Started again
on the same store it resumes where the last run stopped: same positions, open
orders, pending signals, account and profiles, the data clock at the data time
the last run reached. ``--fresh`` starts the session anew at its first trade.
The header says which (``RESUMED 11:42`` / ``FRESH``) and the journal says why.

Which session the store holds. Each start of a simulated run adds a row to the
``sim_sessions`` table (tables.SimSessionRow): the session's key (seed, symbols,
first date), the day it plays, how it started (fresh / resumed / next_session),
the data time it started from and its run token (the prefix of its signal,
order and fill ids, engine/factory.py). A run resumes only when the newest row
has its key, i.e. the store's latest simulated state is this very session and
nothing simulated ran into it since. The runs of the session are the newest rows
of that key back to the last ``fresh`` one; only their signals, orders and fills
are restored, so what an abandoned run of the same day left in the store (the
same data times, other ids) never comes back. Positions and the account are the
newest rows: a fresh start writes a flat row for every symbol the store had
open and the new account, so they belong to the latest run.

Where data time starts. The last data time anything was recorded at in the
session's day (Store.last_data_ns: a closed candle's end, a fill, an order
update, an account snapshot, a journal line; a clean stop records the account
at its last data time, a killed run leaves what its writer flushed). The engine
skips every item up to it (counted ``already_restored``); the analytics get the
stored candles, then the trades of the open minute again from the simulator
(they are the same trades: same seed), so the bar in progress and the profiles
are those of a run that never stopped. The broker and the desk never see those
trades twice. The feed hands out everything before that time at once and paces
after it, so ``--speed 10`` does not replay the morning at x10.

A session that had ended. A demo left running to the close and started again
the next morning should trade the next day, not show a dead screen: the next
trading day of the same seeded chain starts (the simulator re-plays the chain
from its first day, so the next day opens where the stored one closed, with
the stored day as its previous session), positions are carried overnight at
their last price, DAY orders expired at the close, and start-of-day equity,
the day's P&L and the daily-loss gate start again (the engine's new session).
A simulator that itself goes on day after day (``--days N``, the UI's default)
notes each new day in ``sim_sessions`` (``day_began``, kind next_session, the
same key) when its first bar closes, so a resume picks the day it was in.

A run without a store (``--no-store``), a replay or a live feed is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Optional
from zoneinfo import ZoneInfo

from .clock import DataClock
from .model import NS_PER_S, JournalEntry, Position

if TYPE_CHECKING:
    from .engine import Engine

ET = ZoneInfo("America/New_York")
FRESH, RESUMED, NEXT_SESSION = "fresh", "resumed", "next_session"


def session_key(seed: int, symbols, first_date: date) -> str:
    """What makes two runs the same simulated session (the simulator is a function of these)."""
    return f"seed={seed} symbols={','.join(sorted(symbols))} date={first_date.isoformat()}"


@dataclass(frozen=True)
class SimStart:
    """How this simulated run started: what the header and the journal say."""

    kind: str  # FRESH | RESUMED | NEXT_SESSION
    key: str  # session_key
    session_date: date
    data_ns: int = 0  # the data time it carried on from (0: the session's beginning)
    reason: str = ""
    run_tokens: frozenset[str] = field(default_factory=frozenset)  # the session's runs (resumed)

    @property
    def label(self) -> str:
        """``FRESH``, ``RESUMED 11:42`` or, the stored day having ended, ``RESUMED 06-13 09:30``."""
        if self.kind == FRESH:
            return "FRESH"
        t = datetime.fromtimestamp(self.data_ns / 1e9, ET)
        return f"RESUMED {t:%m-%d %H:%M}" if self.kind == NEXT_SESSION else f"RESUMED {t:%H:%M}"

    def keep_own(self, state):
        """The stored state without what other runs of the same day left (signals,
        orders, fills carry their run's token)."""
        if not self.run_tokens:
            return state
        sig = tuple(f"{t}:" for t in self.run_tokens)
        order = tuple(f"paper-{t}-" for t in self.run_tokens)
        return replace(state, pending_signals=[s for s in state.pending_signals if s.id.startswith(sig)],
                       decisions=[s for s in state.decisions if s.id.startswith(sig)],
                       open_orders=[o for o in state.open_orders if o.id.startswith(order)],
                       fills=[f for f in state.fills if f.id.startswith(order)])


def _is_simulated(engine: "Engine") -> bool:
    from .feeds.synthetic import SyntheticFeed

    return (isinstance(engine.feed, SyntheticFeed) and isinstance(engine.clock, DataClock)
            and engine.recorder.recording and bool(engine.run_id))


async def begin(engine: "Engine", fresh: bool = False) -> Optional[SimStart]:
    """Before warm-up: decide fresh or resumed, point the feed at the day and the data
    clock at the time to carry on from (restore_today then restores as of it)."""
    if not _is_simulated(engine):
        return None
    feed, store, cal = engine.feed, engine.recorder.store, engine.calendar
    first_date = feed.session_date
    key = session_key(feed.seed, feed.symbols, first_date)
    starts = await store.sim_sessions()
    if fresh:
        return await _start_fresh(engine, key, "--fresh asked for a new session")
    if not starts:
        return await _start_fresh(engine, key, "no simulated session in this store yet")
    if starts[0].key != key:
        return await _start_fresh(engine, key, f"the store's last simulated session is another one ({starts[0].key})")
    chain = []
    for row in starts:
        if row.key != key:
            break
        chain.append(row)
        if row.start == FRESH:
            break
    day = date.fromisoformat(chain[0].session_date)
    if day != first_date:
        feed.play_day(day, first_date)
    start_ns, end_ns = cal.session_bounds(cal.rth_bounds(day)[0])
    stopped = await store.last_data_ns(start_ns, end_ns)
    if engine.clock.now_ns():  # the caller set the time to restore at
        stopped = engine.clock.now_ns()
    tokens = frozenset(r.run_id for r in chain if r.run_id) | {engine.run_id}
    if not stopped:
        return await _start_fresh(engine, key, "the stored session recorded nothing yet")
    if stopped >= feed.last_trade_ns():
        nxt = cal.next_trading_day(day)
        feed.play_day(nxt, first_date)
        open_ns = cal.rth_bounds(nxt)[0]
        engine.clock.advance(open_ns)
        plan = SimStart(NEXT_SESSION, key, nxt, open_ns, f"the stored session {day} had ended: {nxt} begins", tokens)
    else:
        engine.clock.advance(stopped)
        feed.resume_at(stopped + 1)
        t = datetime.fromtimestamp(stopped / 1e9, ET)
        plan = SimStart(RESUMED, key, day, stopped, f"the stored session {day} carries on at {t:%H:%M:%S} ET", tokens)
    engine.sim_start = plan
    return plan


async def _start_fresh(engine: "Engine", key: str, reason: str) -> SimStart:
    """The session from its first trade. What the store held open for these symbols
    (another run's positions) is recorded flat and the new account recorded, so a
    later resume of this run finds its own positions and equity only."""
    feed, store, cal = engine.feed, engine.recorder.store, engine.calendar
    day = feed.session_date
    open_ns = cal.rth_bounds(day)[0]
    held = (await store.load_today(cal.session_start_ns(open_ns))).positions
    dropped = sorted(s for s, p in held.items() if p.qty and s in feed.symbols)
    for symbol in dropped:
        store.record_position(Position(symbol, 0, 0.0, 0.0, 0.0), 0)
    store.record_account(engine.broker.account(), 0)
    detail = {"reason": reason, "dropped_positions": dropped}
    await store.add_sim_session(key, engine.run_id, day.isoformat(), FRESH, 0, detail)
    plan = SimStart(FRESH, key, day, 0, reason)
    engine.sim_start = plan
    note = f"; positions of the earlier run not carried: {', '.join(dropped)}" if dropped else ""
    engine.recorder.add(JournalEntry(open_ns, "info", "session", f"FRESH simulated session {day}: {reason}{note}",
                                     None, {"start": FRESH, "session_date": day.isoformat(), **detail}))
    return plan


async def after_restore(engine: "Engine", plan: SimStart, state, bars: int) -> None:
    """After restore_today: the open minute's trades into the analytics, data up to the
    stop skipped, a new day's start of day, the start recorded and journaled."""
    data, feed = engine.data, engine.feed
    if plan.kind == RESUMED:
        # each symbol from the end of its own last stored candle (a symbol's bar closes
        # on its own next trade too, so symbols can be a minute apart)
        since = {s: (b[-1].ts_ns + 60 * NS_PER_S if b else 0) for s in engine.symbols for b in [state.bars.get(s)]}
        for trade in feed.trades_between(min(since.values(), default=0), plan.data_ns):
            an = engine.analytics.get(trade.symbol)
            if an is None or trade.ts_ns < since.get(trade.symbol, 0):
                continue
            bar = an.on_trade(trade)
            if bar is not None:  # a candle the killed run did not get to write
                await engine.on_bars_closed([(trade.symbol, bar)], act=False)
        data.resume_after_ns = plan.data_ns + 1
    else:  # a new day: its start-of-day equity and day gates (Engine._maybe_new_session's work)
        engine.broker.start_of_day(plan.data_ns)
        engine.risk.new_session()
    acct = engine.broker.account()
    positions = [p for p in engine.broker.positions() if p.qty]
    detail = {"start": plan.kind, "session_date": plan.session_date.isoformat(), "data_ns": plan.data_ns,
              "bars": bars, "positions": len(positions), "open_orders": len(engine.broker.open_orders()),
              "pending": len(engine.pending), "equity": round(acct.equity, 2)}
    await engine.recorder.store.add_sim_session(plan.key, engine.run_id, plan.session_date.isoformat(),
                                                plan.kind, plan.data_ns, detail)
    engine.recorder.log("info", "session", f"{plan.label} simulated session: {plan.reason}; {len(positions)} positions, "
                        f"{detail['open_orders']} open orders, {detail['pending']} pending signals, "
                        f"equity {acct.equity:,.2f}", None, detail)



async def day_began(engine: "Engine", day: date, now_ns: int) -> None:
    """A simulator that goes on entered ``day``: the store says which day this run is
    in, so a restart resumes that day (``begin`` reads the newest row)."""
    plan = engine.sim_start
    if plan is None or not engine.recorder.recording:
        return
    acct = engine.broker.account()
    detail = {"start": NEXT_SESSION, "session_date": day.isoformat(), "data_ns": now_ns, "carried_on": True,
              "positions": sum(1 for p in engine.broker.positions() if p.qty), "equity": round(acct.equity, 2)}
    try:
        await engine.recorder.store.add_sim_session(plan.key, engine.run_id, day.isoformat(), NEXT_SESSION, now_ns,
                                                    detail)
    except Exception as exc:  # the day goes on; a restart would then resume the day before's close
        engine.recorder.log("error", "store", f"noting the simulated day {day} failed: "
                            f"{engine.recorder.redact(str(exc))}")
