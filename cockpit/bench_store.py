"""`cockpit bench store`: the rows per second the store's writer sustains under the
5-symbol simulated session at full speed, on SQLite and on PostgreSQL, and whether
it kept up (its backlog stayed bounded instead of growing with the session).

Each backend gets a fresh store and the same seeded session, run as a headless run
runs it (Engine.start, the feed at max speed, Engine.stop flushing the rest). A
sampler reads the writer's backlog every 50 ms of wall time. Figures:

- ``rows``: rows the writer wrote; ``session_s``: wall time from start until the
  feed ended, ``close_s``: what the final flush took after it;
- ``rows_per_s``: rows / (session_s + close_s), the rate the session got recorded;
- ``writer_rows_per_s``: rows / time spent inside batch writes, what the writer
  sustains while writing (its capacity; the rest of the time it waits for rows);
- ``peak_backlog`` and the backlog's maximum in each quarter of the session;
  ``kept_up`` when the last quarter's maximum is not above twice the first's (or
  under one batch) and the end-of-feed backlog is under one batch.

PostgreSQL: ``--pg URL`` (an empty database: the bench creates the tables), else a
throwaway server from the ``pgserver`` wheel when it is installed (the test extra).
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Optional


async def _one(url: str, seed: int) -> dict:
    from engine.config import load_config
    from engine.factory import build_engine

    cfg = load_config(None, overrides={"app": {"mode": "AUTO", "seed": seed, "db": url},
                                       "feed": {"kind": "synthetic", "speed": 0}}, env={})
    engine = build_engine(cfg, fresh=True)
    samples: list[int] = []
    t0 = time.perf_counter()
    await engine.start()
    writer = engine.store._writer

    async def sample() -> None:
        while True:
            samples.append(writer.backlog)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        await engine.wait_done()
        await engine.tick()
    finally:
        sampler.cancel()
    session_s = time.perf_counter() - t0
    backlog_end = writer.backlog
    t1 = time.perf_counter()
    await engine.stop()
    close_s = time.perf_counter() - t1
    quarters = [max(samples[i * len(samples) // 4:(i + 1) * len(samples) // 4] or [0]) for i in range(4)]
    batch = writer.batch_size
    kept_up = (quarters[3] <= max(2 * quarters[0], batch)) and backlog_end < batch
    rows = writer.rows_written
    return {"store": engine.store.dialect, "rows": rows, "session_s": round(session_s, 3), "close_s": round(close_s, 3),
            "rows_per_s": round(rows / (session_s + close_s)), "write_s": round(writer.write_seconds, 3),
            "writer_rows_per_s": round(rows / writer.write_seconds) if writer.write_seconds else None,
            "flushes": writer.flushes, "peak_backlog": max(samples or [0]), "backlog_by_quarter": quarters,
            "backlog_at_end_of_feed": backlog_end, "not_recorded": engine.recorder.rows_not_recorded,
            "fills": engine.counters["fills"], "kept_up": kept_up}


def bench_store(pg_url: Optional[str] = None, seed: int = 7) -> dict:
    """{"sqlite": figures, "postgresql": figures or {"skipped": why}}."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-store-") as tmp:
        out["sqlite"] = asyncio.run(_one(str(Path(tmp) / "bench.db"), seed))
    if pg_url:
        out["postgresql"] = asyncio.run(_one(pg_url, seed))
        return out
    try:
        import pgserver
    except ImportError:
        out["postgresql"] = {"skipped": "no --pg URL and no pgserver (pip install -e '.[test]')"}
        return out
    pgdata = tempfile.mkdtemp(prefix="cockpit-bench-pg-")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        server.psql("CREATE DATABASE bench;")
        out["postgresql"] = asyncio.run(_one(server.get_uri("bench"), seed))
    finally:
        server.cleanup()
    return out


def print_store(result: dict) -> None:
    print(f"{'store':<11}{'rows':>9}{'rows/s':>10}{'writer rows/s':>15}{'session s':>11}{'close s':>9}"
          f"{'peak backlog':>14}  backlog by quarter        kept up")
    for name, r in result.items():
        if "skipped" in r:
            print(f"{name:<11}skipped: {r['skipped']}")
            continue
        quarters = "/".join(str(q) for q in r["backlog_by_quarter"])
        print(f"{name:<11}{r['rows']:>9,}{r['rows_per_s']:>10,}{r['writer_rows_per_s'] or 0:>15,}"
              f"{r['session_s']:>11.2f}{r['close_s']:>9.2f}{r['peak_backlog']:>14,}  {quarters:<24} "
              f"{'yes' if r['kept_up'] else 'NO'}")
