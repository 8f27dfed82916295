"""Store trouble is seen: a failing write shows in the header and the journal (once per
change, and the recovery), nothing recorded is lost while it fails, a damaged file is
refused at open, rows reach the file within about a second of wall time, and a broker's
or vendor's REST refusal is one line from the CLI."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event

from cockpit import cli
from engine.model import JournalEntry, StoreHealth, StoreStatus
from engine.store import Store, StoreError
from engine.store import core as store_core
from tests.factories import T0, engine_config, paper_engine
from tests.standins.testkit import KEY_ID, SECRET
from tests.ui_fixtures import FixedEngine, demo_snapshot, fixed_app
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DISK_FULL = OSError(28, "No space left on device")


def raw_count(path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


class InsertFault:
    """Makes every INSERT on an engine fail (a full disk) while ``on``."""

    def __init__(self, sync_engine, exc: BaseException = DISK_FULL) -> None:
        self.on = True
        self.exc = exc
        self.hits = 0

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _fail(conn, cursor, statement, parameters, context, executemany):
            if self.on and statement.lstrip().upper().startswith("INSERT"):
                self.hits += 1
                raise self.exc


def store_lines(engine) -> list[str]:
    return [e.message for e in engine.journal if e.kind == "store"]


# --------------------------------------------------------------------------- failing writes: seen, journaled once, recovered


async def test_failing_writes_show_in_the_snapshot_are_journaled_once_and_recover(tmp_path):
    db = tmp_path / "run.db"
    engine = paper_engine(engine_config("AUTO", app={"db": str(db)}), use_store=True)
    await engine.prepare()
    store = engine.store
    assert engine.snapshot().store.health is StoreHealth.OK  # (records of the start may still be queued)
    fault = InsertFault(store._writer.write_engine)
    for i in range(5):
        engine.recorder.log("info", "test", f"line {i}")
        await store._writer.flush(raise_errors=False)  # five failed writes
    assert fault.hits >= 5
    snap = engine.snapshot()
    assert snap.store.health is StoreHealth.FAILING
    assert "No space left on device" in snap.store.label and snap.store.label.startswith("FAILING: ")
    assert snap.store.not_recorded >= 5
    failing = [m for m in store_lines(engine) if "FAILING" in m]
    assert len(failing) == 1, store_lines(engine)  # once per change, not once per failed write
    assert engine.summary()["rows_not_recorded"] >= 5

    fault.on = False  # space comes back: the writer's own retry writes everything kept
    await wait_for(lambda: store.status().health is StoreHealth.OK and store.not_written == 0, timeout=15,
                   what="the writer to retry on its own and recover")
    assert engine.snapshot().store.health is StoreHealth.OK
    assert any("OK again" in m for m in store_lines(engine))
    assert engine.summary()["rows_not_recorded"] == 0
    await engine.stop()
    con = sqlite3.connect(db)
    stored = [r[0] for r in con.execute("SELECT message FROM journal WHERE kind IN ('test', 'store') ORDER BY id")]
    con.close()
    assert [m for m in stored if m.startswith("line ")] == [f"line {i}" for i in range(5)]
    assert sum("FAILING" in m for m in stored) == 1 and sum("OK again" in m for m in stored) == 1


async def test_a_run_without_a_store_says_no_store():
    engine = paper_engine(engine_config("AUTO"))
    await engine.prepare()
    assert engine.snapshot().store.label == "NO STORE"
    assert engine.summary()["rows_not_recorded"] == 0


async def test_store_that_stays_full_counts_rows_not_recorded(tmp_path):
    engine = paper_engine(engine_config("AUTO", app={"db": str(tmp_path / "full.db")}), use_store=True)
    await engine.prepare()
    InsertFault(engine.store._writer.write_engine)
    engine.recorder.log("info", "test", "never written")
    with pytest.raises(StoreError, match="unwritten"):
        await engine.stop()
    assert engine.summary()["rows_not_recorded"] >= 1


def test_headless_run_reports_rows_not_recorded_and_exits_1(tmp_path, monkeypatch, capsys):
    # the store exists already: its inserts start failing in the session (a disk full from the
    # start would refuse the store at open, before anything trades)
    asyncio.run(_open_close(tmp_path / "h.db"))
    real = store_core._sqlite_sync_engine

    def failing_engine(url):
        eng = real(url)
        InsertFault(eng)
        return eng

    monkeypatch.setattr(store_core, "_sqlite_sync_engine", failing_engine)
    code = cli.main(["run", "--headless", "--json", "--db", str(tmp_path / "h.db"), "--speed", "max",
                     "--mode", "watch", "--symbols", "SPY"])
    out, err = capsys.readouterr()
    assert code == 1
    summary = json.loads(out)
    assert summary["rows_not_recorded"] > 0
    assert f"{summary['rows_not_recorded']:,} records were not recorded" in err
    assert "Traceback" not in err


def test_real_full_disk_on_a_small_tmpfs(tmp_path):
    """A real ENOSPC: a 2 MB tmpfs (needs root, skipped otherwise) filled by another
    file; the store fails, keeps the rows, and writes them all when space returns."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        import asyncio

        async def scenario():
            st = await Store.open(str(mnt / "small.db"), interval_s=0.05)
            seen: list[tuple[StoreHealth, StoreHealth]] = []
            st.set_state_listener(lambda new, old: seen.append((old.health, new.health)))
            filler = mnt / "filler"
            with open(filler, "wb") as f:  # take every free byte
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            text = "x" * 400
            for i in range(3000):
                st.record_journal(JournalEntry(T0 + i, "info", "test", f"{i} {text}"))
            await wait_for(lambda: st.status().health is StoreHealth.FAILING, timeout=15, what="the write to fail")
            assert "full" in st.status().reason or "space" in st.status().reason
            assert st.not_written > 0
            filler.unlink()  # space comes back
            await wait_for(lambda: st.status().health is StoreHealth.OK and st.backlog == 0, timeout=30,
                           what="the retry to write everything")
            assert (StoreHealth.OK, StoreHealth.FAILING) in seen and seen[-1][1] is StoreHealth.OK
            await st.close()
            assert raw_count(mnt / "small.db", "journal") == 3000

        asyncio.run(scenario())
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)  # lazy: even with a file still open


# --------------------------------------------------------------------------- the header


async def test_header_shows_the_store_state(tmp_path):
    failing = StoreStatus(StoreHealth.FAILING, 5283, "OSError: [Errno 28] No space left on device", 5283)
    engine = FixedEngine(dataclasses.replace(demo_snapshot(), store=failing))
    app = fixed_app(tmp_path, engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        badge = app.query_one("#hdr-store")
        assert "STORE FAILING: OSError" in str(badge.content) and badge.has_class("-store-failing")
        engine.publish(dataclasses.replace(engine.snapshot(), store=StoreStatus(StoreHealth.BEHIND, 12000)))
        await wait_for(lambda: "BEHIND 12,000 records" in str(badge.content), what="the BEHIND badge")
        engine.publish(dataclasses.replace(engine.snapshot(), store=StoreStatus(StoreHealth.OK)))
        await wait_for(lambda: "STORE OK" in str(badge.content) and badge.has_class("-store-ok"), what="OK")
        engine.publish(dataclasses.replace(engine.snapshot(), store=StoreStatus(StoreHealth.NONE)))
        await wait_for(lambda: str(badge.content).strip() == "NO STORE", what="NO STORE")


# --------------------------------------------------------------------------- integrity at open


def _real_store(path: Path) -> None:
    code = cli.main(["run", "--headless", "--json", "--db", str(path), "--speed", "max", "--mode", "auto"])
    assert code == 0


def test_damaged_store_is_refused_at_open_with_one_line(tmp_path, capsys):
    good = tmp_path / "good.db"
    _real_store(good)
    capsys.readouterr()
    size = good.stat().st_size
    assert size > 64 * 4096, size
    bad = tmp_path / "bad.db"
    shutil.copy(good, bad)
    with open(bad, "r+b") as f:  # overwrite pages in the middle of the file
        f.seek((size // 2) // 4096 * 4096)
        f.write(os.urandom(8 * 4096))
    import asyncio

    with pytest.raises(StoreError, match=rf"store {bad} is damaged .*move it aside"):
        asyncio.run(Store.open(str(bad)))
    code = cli.main(["run", "--headless", "--db", str(bad), "--speed", "max"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(bad) in err and "damaged" in err and "Traceback" not in err
    asyncio.run(_open_close(good))  # the undamaged original still opens


async def _open_close(path) -> None:
    st = await Store.open(str(path))
    await st.close()


# --------------------------------------------------------------------------- rows reach the file within a second


async def test_records_reach_the_file_without_a_flush(tmp_path):
    """The writer writes on its own at least every interval (0.5 s): a handful of
    records, nobody calling flush, appear in the file (waited on, not timed)."""
    path = tmp_path / "soon.db"
    st = await Store.open(str(path))
    try:
        for i in range(5):
            st.record_journal(JournalEntry(T0 + i, "info", "test", f"line {i}"))
        await wait_for(lambda: raw_count(path, "journal") == 5, timeout=10, what="5 rows in the file")
    finally:
        await st.close()


@pytest.mark.bench
async def test_first_rows_within_about_a_second_at_max_speed(tmp_path, shared_data):
    """Prints the wall time from start to the first rows in the file while a month of
    bars replays at max speed (the writer's batches go through a worker thread)."""
    import time

    path = tmp_path / "max.db"
    cfg = engine_config("AUTO", app={"db": str(path), "symbols": ["BTCUSDT"]},
                        feed={"kind": "replay", "file": str(shared_data("btcusdt_perp_202201_bars_1m.csv")),
                              "session": "24h_utc"})
    engine = paper_engine(cfg, use_store=True)
    await engine.start()
    t0 = time.perf_counter()
    await wait_for(lambda: raw_count(path, "candles") > 0, timeout=30, what="the first candles in the file")
    print(f"first candles after {time.perf_counter() - t0:.2f} s")
    await engine.stop()


# --------------------------------------------------------------------------- broker / vendor REST errors from the CLI


def test_alpaca_401_at_start_is_one_line_exit_1(alpaca_rest, tmp_path):
    env = dict(os.environ, APCA_API_KEY_ID="not-the-key", APCA_API_SECRET_KEY="not-the-secret",
               COCKPIT_ALPACA_URL=alpaca_rest.url, COCKPIT_ALPACA_DATA_URL=alpaca_rest.url,
               COCKPIT_ALPACA_STREAM_URL="ws://127.0.0.1:9/none", COCKPIT_ALPACA_TRADING_STREAM_URL="ws://127.0.0.1:9/none",
               COCKPIT_BROKER__KIND="alpaca")
    env.pop("COCKPIT_ALPACA_KEY_FILE", None)
    r = subprocess.run([sys.executable, "-m", "cockpit", "run", "--headless", "--feed", "alpaca", "--symbols", "AAPL",
                        "--db", str(tmp_path / "a.db")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "Alpaca REST error (HTTP 401)" in r.stderr and "cockpit doctor" in r.stderr
    assert "not-the-secret" not in r.stderr and KEY_ID not in r.stderr and SECRET not in r.stderr


async def test_a_start_the_broker_refuses_closes_the_store_before_the_error_goes_out(tmp_path, monkeypatch):
    """A refusal at start (HTTP 401) left the store open with its writer and
    connection thread working while asyncio.run shut the loop: a thread answering
    the closed loop can print to stderr after the one line. The failed start is
    stopped first (store flushed and closed, the exit journaled), then raised."""
    from cockpit import run as run_module
    from engine import factory
    from engine.live.rest import AlpacaRestError

    path = tmp_path / "refused.db"
    cfg = engine_config("AUTO", app={"db": str(path), "symbols": ["SPY"]})
    engine = paper_engine(cfg, use_store=True)

    async def refused():
        raise AlpacaRestError("request is not authorized", status=401)

    monkeypatch.setattr(engine.broker, "start", refused)
    monkeypatch.setattr(factory, "build_engine", lambda *a, **k: engine)
    with pytest.raises(AlpacaRestError):
        await run_module._headless(cfg, use_store=True)
    assert engine.recorder.store._closed  # closed here, not left to the loop's shutdown
    assert raw_count(path, "journal") >= 1  # the exit line reached the file


def test_polygon_403_is_one_line_exit_1(monkeypatch, capsys):
    from cockpit import run as run_module
    from engine.feeds.polygon import PolygonError

    def refused(args):
        raise PolygonError("You are not entitled to this data", status="NOT_AUTHORIZED", http_status=403)

    monkeypatch.setattr(run_module, "run_command", refused)
    code = cli.main(["run", "--headless", "--feed", "polygon"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == ("cockpit: Polygon REST error (NOT_AUTHORIZED): You are not entitled to this data "
                   "(check POLYGON_API_KEY and the plan with `cockpit doctor`)\n")


def test_a_read_only_store_is_refused_before_anything_starts(tmp_path):
    """A store on a read-only disk: one line naming the file, exit 2, nothing traded
    (a real read-only tmpfs; needs root, skipped otherwise)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (mnt / "cockpit.db").touch()
        assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode == 0
        run = subprocess.run([sys.executable, "-m", "cockpit", "run", "--headless", "--feed", "synthetic", "--speed",
                              "max", "--mode", "auto", "--symbols", "SPY", "--db", str(mnt / "cockpit.db")],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert run.returncode == 2, run.stderr
        assert "cannot be written" in run.stderr and str(mnt / "cockpit.db") in run.stderr
        assert "Traceback" not in run.stderr and run.stdout == ""  # no summary: nothing ran
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
