"""`cockpit bench soak --days 30 [--feed replay --file F]`: the engine left running
for days, unattended, at max speed, into a fresh store: per session day the
process's resident memory, the store's size and the rows it gained.

What it shows: a cockpit left open for a week must hold in memory only what the
panes and today's gates need (the rest is in the store), so after the first
days RSS stays flat while the store grows by about the same rows each day.
The figures are measured, never asserted (tests/test_bounded_memory.py checks
the containers themselves).

The simulator plays ``--days`` chained days (AUTO mode, so orders and fills
happen); a replay plays its file (``--days`` then stops after that many days).
A trading day's row is taken when data time enters the next session day (and
once at the end), after a garbage collection and ``malloc_trim``; a weekend's or
holiday's rows count with the next trading day.
"""
from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

MB = 1024 * 1024
POLL_S = 0.05  # how often the sampler looks at data time


@dataclass(frozen=True)
class SoakDay:
    day: int  # 1-based
    session_date: str
    rss_mb: float
    store_mb: float
    rows: int  # rows the store gained during the day
    fills: int  # fills so far in the run
    wall_s: float  # wall time since the start


def release_free_heap() -> None:
    """Hand freed heap pages back to the system (glibc ``malloc_trim``), so RSS
    measures what is held, not what the allocator kept after a day's temporaries."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def store_rows(path: Path) -> int:
    """Rows in every table of the store (read beside the writer: WAL mode)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        return sum(con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables)
    finally:
        con.close()


def soak_config(days: int, feed: str, file: str, session: Optional[str], symbols: Optional[list[str]], seed: int):
    from engine.config import load_config

    o: dict = {"app": {"mode": "AUTO", "seed": seed}, "feed": {"kind": feed, "speed": 0}}
    if feed == "synthetic":
        o["feed"]["days"] = days
    else:
        o["feed"]["file"] = file
        if not symbols:
            symbols = [Path(file).name.split(".")[0].split("_")[0].upper()]
    if session:
        o["feed"]["session"] = session
    if symbols:
        o["app"]["symbols"] = symbols
    return load_config(None, overrides=o, env={})


def run_soak(days: int = 30, feed: str = "synthetic", file: str = "", session: Optional[str] = None,
             symbols: Optional[list[str]] = None, seed: int = 7, db: Optional[str] = None,
             on_day=None) -> list[SoakDay]:
    """Run the days; ``on_day(row)`` is told each row as it is taken."""
    from engine.factory import build_engine

    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="cockpit-soak-")
        db = str(Path(tmp.name) / "soak.db")
    path = Path(db)
    cfg = soak_config(days, feed, file, session, symbols, seed)
    cfg = cfg.model_copy(update={"app": cfg.app.model_copy(update={"db": db})})
    engine = build_engine(cfg, use_store=True, fresh=True)
    rows: list[SoakDay] = []
    t0 = time.perf_counter()

    def take(day_date) -> None:
        gc.collect()
        release_free_heap()
        total = store_rows(path)
        gained = total - sum(r.rows for r in rows)
        row = SoakDay(len(rows) + 1, day_date.isoformat(), rss_bytes() / MB, store_bytes(path) / MB, gained,
                      engine.counters["fills"], time.perf_counter() - t0)
        rows.append(row)
        if on_day is not None:
            on_day(row)

    async def go() -> None:
        await engine.start()
        cal, clock = engine.calendar, engine.clock
        current = None
        try:
            while engine.feed_running:
                await asyncio.sleep(POLL_S)
                now = clock.now_ns()
                if not now:
                    continue
                day = cal.session_date(now)
                if current is None:
                    current = day
                elif day != current:
                    if cal.is_trading_day(current):  # a weekend's or holiday's rows count with the next day
                        take(current)
                    current = day
                    if feed != "synthetic" and len(rows) >= days:
                        break
            await engine.stop()
            if current is not None and len(rows) < days:
                take(current)
        finally:
            if engine.feed_running:
                await engine.stop()

    try:
        asyncio.run(go())
    finally:
        if tmp is not None:
            tmp.cleanup()
    return rows


def as_dicts(rows: list[SoakDay]) -> list[dict]:
    return [asdict(r) for r in rows]


def print_table(rows: list[SoakDay], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in ("day", "session", "RSS MB", "vs day 2", "store MB", "rows", "fills", "wall s"):
        t.add_column(col, justify="right")
    base = rows[1].rss_mb if len(rows) > 1 else None
    for r in rows:
        delta = "" if base is None or r.day < 2 else f"{r.rss_mb - base:+.1f}"
        t.add_row(str(r.day), r.session_date, f"{r.rss_mb:.1f}", delta, f"{r.store_mb:.1f}", f"{r.rows:,}",
                  f"{r.fills:,}", f"{r.wall_s:.0f}")
    Console().print(t)
    if base is not None and len(rows) > 2:
        later = sorted(r.rss_mb for r in rows[1:])
        median = later[len(later) // 2]
        print(f"RSS day 2 {base:.1f} MB, last day {rows[-1].rss_mb:.1f} MB ({rows[-1].rss_mb - base:+.1f}), "
              f"median after day 2 {median:.1f} MB, range {later[0]:.1f}-{later[-1]:.1f} MB")
