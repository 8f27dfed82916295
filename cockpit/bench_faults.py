"""`cockpit bench faults`: crash-restart and bad-print trials, counted.

Crash-restart: the seeded simulated session runs once uninterrupted into its own
store (the reference), then once per trial into a fresh store, killed at a
random data time between two bars. Its store is left as a dead process leaves
it: every record handed to the store before the kill is written (a kill after
the last write; records still in the writer's queue at a ``kill -9`` are the
store's durability question, not the restore's), the engine is never stopped.
A new engine is built on that store with its clock at the kill and runs the
rest of the session. The trial survived when the two runs together made
exactly the reference's fills (lost: reference fills missing; duplicated:
fills made twice) and end with the same positions and equity, and when no
client order id was used twice.

Bad prints: the same session with one absurd print (1e308, 1000x, 10x, 0,
negative, NaN, out of order, a duplicate) slipped into a symbol's trades at a
random point. It survived when the feed ran to its end without an error and
the print was refused (counted as malformed or a bad print), not traded on.

Results depend on data time only, so every trial is reproducible from its seed.
"""
from __future__ import annotations

import asyncio
import math
import random
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from engine.clock import DataClock
from engine.config import CockpitConfig, load_config
from engine.factory import build_engine
from engine.model import Trade

BAD_PRINTS = ("1e308", "1000x", "10x", "zero", "negative", "nan", "out_of_order", "duplicate")


@dataclass
class TrialSummary:
    test: str
    trials: int = 0
    survived: int = 0
    lost: int = 0
    duplicated: int = 0
    failures: list[str] = field(default_factory=list)


def _config(db: Optional[str], seed: int) -> CockpitConfig:
    app = {"mode": "AUTO", "seed": seed}
    if db:
        app["db"] = db
    return load_config(None, overrides={"app": app, "feed": {"kind": "synthetic", "speed": 0}}, env={})


def _fills(eng) -> list[tuple]:
    return [(f.symbol, f.side.value, f.qty, round(f.price, 6), f.ts_ns, f.leg.value) for f in eng.fills]


def _state(eng) -> tuple:
    positions = sorted((p.symbol, p.qty, round(p.avg_price, 6)) for p in eng.broker.positions() if p.qty)
    return positions, round(eng.broker.account().equity, 2)


async def _drive(eng, stop_after_ns: Optional[int] = None) -> None:
    """The engine's feed loop, by hand; returns at the first bar close at or after
    ``stop_after_ns`` (the kill), else at the end of the session."""
    async for item in eng.feed.stream():
        if await eng.feed_item(item) and stop_after_ns is not None and eng.clock.now_ns() >= stop_after_ns:
            return
    closed = eng.end_of_data_bars()
    if closed:
        await eng.on_bars_closed(closed)


async def _reference(db: str, seed: int) -> tuple[list, tuple, tuple[int, int]]:
    eng = build_engine(_config(db, seed))
    await eng.prepare()
    await eng.feed.start()
    sims = eng.feed.sessions().values()
    span = (min(int(s.trades.ts_ns[0]) for s in sims), max(int(s.trades.ts_ns[-1]) for s in sims))
    await _drive(eng)
    out = _fills(eng), _state(eng)
    await eng.stop()
    return out[0], out[1], span


async def _crash_restart(db: str, seed: int, kill_ns: int) -> tuple[list, tuple, list[str]]:
    eng = build_engine(_config(db, seed))
    await eng.prepare()
    await eng.feed.start()
    await _drive(eng, kill_ns)
    died_at = eng.clock.now_ns()
    before = _fills(eng)
    await eng.store.flush()  # what was handed to the store before the kill is on disk
    await eng.store.close()  # the file is released; the engine itself is never stopped
    eng2 = build_engine(_config(db, seed), clock=DataClock(died_at))
    await eng2.prepare()
    await eng2.feed.start()
    await _drive(eng2)
    fills = before + _fills(eng2)
    state = _state(eng2)
    coids = [o.client_order_id for o in await eng2.store.orders()]
    await eng2.stop()
    reused = [c for c, n in Counter(coids).items() if n > 1]
    return fills, state, reused


async def crash_restart_trials(trials: int, seed: int = 7, rng_seed: int = 1,
                               new_store: Optional[Callable[[str], str]] = None) -> TrialSummary:
    """``new_store(name)`` gives each run a fresh store (a path or URL: a PostgreSQL
    database, say); by default a SQLite file ``name.db`` in a temporary directory."""
    out = TrialSummary("crash-restart")
    rng = random.Random(rng_seed)
    with tempfile.TemporaryDirectory(prefix="cockpit-faults-") as tmp:
        fresh = new_store or (lambda name: str(Path(tmp) / f"{name}.db"))
        ref_fills, ref_state, (t0, t1) = await _reference(fresh("reference"), seed)
        for k in range(trials):
            kill_ns = t0 + int(rng.random() * (t1 - t0))
            fills, state, reused = await _crash_restart(fresh(f"trial{k}"), seed, kill_ns)
            lost = sum((Counter(ref_fills) - Counter(fills)).values())
            dup = sum((Counter(fills) - Counter(ref_fills)).values()) + len(reused)
            out.trials += 1
            out.lost += lost
            out.duplicated += dup
            if lost == 0 and dup == 0 and state == ref_state:
                out.survived += 1
            else:
                out.failures.append(f"kill at {kill_ns}: lost {lost}, duplicated {dup}, state {state} vs {ref_state}")
    return out


def _bad(trade: Trade, kind: str, previous: Trade) -> Trade:
    p = trade.price
    price = {"1e308": 1e308, "1000x": p * 1000, "10x": p * 10, "zero": 0.0, "negative": -p,
             "nan": math.nan}.get(kind)
    if price is not None:
        return replace(trade, price=price)
    if kind == "out_of_order":
        return replace(trade, ts_ns=trade.ts_ns - 3_600_000_000_000)
    return previous  # duplicate: the previous print again


async def _bad_print_trial(seed: int, kind: str, at: float) -> tuple[bool, str]:
    eng = build_engine(_config(None, seed), use_store=False)
    await eng.prepare()
    await eng.feed.start()
    items = [item async for item in eng.feed.stream()]
    i = max(1, int(at * len(items)))
    injected = _bad(items[i], kind, items[i - 1])
    refused_before = eng.counters["malformed"] + eng.counters["bad_prints"]
    try:
        for item in items[:i] + [injected] + items[i:]:
            await eng.feed_item(item)
    except Exception as exc:  # noqa: BLE001 - what a trial measures
        return False, f"{kind}: {type(exc).__name__}: {exc}"
    refused = eng.counters["malformed"] + eng.counters["bad_prints"] - refused_before
    traded_on = any(f.price == injected.price for f in eng.fills) and kind != "duplicate"
    if kind in ("duplicate",):
        return True, ""
    if refused < 1 or traded_on:
        return False, f"{kind}: refused {refused}, traded on it: {traded_on}"
    return True, ""


async def bad_print_trials(trials: int, seed: int = 7, rng_seed: int = 2) -> TrialSummary:
    out = TrialSummary("bad-print")
    rng = random.Random(rng_seed)
    for k in range(trials):
        kind = BAD_PRINTS[k % len(BAD_PRINTS)]
        ok, why = await _bad_print_trial(seed, kind, rng.random())
        out.trials += 1
        if ok:
            out.survived += 1
        else:
            out.lost += 1
            out.failures.append(why)
    return out


def run_fault_trials(trials: int, bad_prints: Optional[int] = None) -> list[TrialSummary]:
    async def go() -> list[TrialSummary]:
        return [await crash_restart_trials(trials), await bad_print_trials(bad_prints or len(BAD_PRINTS))]

    return asyncio.run(go())


def print_table(results: list[TrialSummary]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Fault trials")
    for col in ("test", "trials", "survived", "lost", "duplicated"):
        t.add_column(col, justify="left" if col == "test" else "right")
    for r in results:
        t.add_row(r.test, str(r.trials), str(r.survived), str(r.lost), str(r.duplicated))
    console = Console()
    console.print(t)
    for r in results:
        for line in r.failures[:10]:
            console.print(f"[red]{r.test}[/]: {line}")


def as_dicts(results: list[TrialSummary]) -> list[dict]:
    return [asdict(r) for r in results]
