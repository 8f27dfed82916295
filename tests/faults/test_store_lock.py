"""One trading process per store: a second cockpit on the same store is refused,
naming the pid that holds it; the lock dies with its holder."""
import os
import subprocess
import sys
import textwrap

import pytest

from engine.factory import build_engine
from engine.store import StoreError
from tests.factories import engine_config


def _cfg(db):
    return engine_config("AUTO", app={"db": str(db)})


async def test_a_second_engine_on_the_same_store_is_refused(tmp_path):
    db = tmp_path / "cockpit.db"
    first = build_engine(_cfg(db))
    await first.prepare()
    with pytest.raises(StoreError, match=rf"in use by another cockpit \(pid {os.getpid()}\)"):
        build_engine(_cfg(db))
    other = build_engine(_cfg(tmp_path / "other.db"))  # another --db is fine
    await other.prepare()
    await other.stop()
    await first.stop()
    again = build_engine(_cfg(db))  # released by the first one's stop
    await again.prepare()
    await again.stop()


def test_the_cli_names_the_holder_and_exits_2(tmp_path):
    db = tmp_path / "cockpit.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from engine.store.lock import lock_store
            lock = lock_store({str(db)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        run = subprocess.run([sys.executable, "-m", "cockpit", "run", "--headless", "--feed", "synthetic", "--speed",
                              "max", "--db", str(db)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, run.stderr
        assert f"pid {holder.pid}" in run.stderr and "Traceback" not in run.stderr
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed (no clean shutdown): its lock went with it
    from engine.store.lock import lock_store
    lock = lock_store(str(db))
    assert lock is not None
    lock.release()


async def test_on_postgresql_a_second_engine_on_the_same_database_is_refused(pg_url):
    """No file to lock: the trading process holds an advisory lock on the database."""
    first = build_engine(_cfg(pg_url))
    await first.prepare()
    second = build_engine(_cfg(pg_url))
    with pytest.raises(StoreError, match=rf"in use by another cockpit \(pid {os.getpid()}\)"):
        await second.prepare()  # refused when its store opens, before its feed or broker start
    await first.stop()
    again = build_engine(_cfg(pg_url))  # released by the first one's stop
    await again.prepare()
    await again.stop()
