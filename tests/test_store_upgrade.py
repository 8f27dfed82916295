"""A store written by the last release (2e9a05e) opens with this one, upgrades and
keeps every row. This release's only schema change is a new table (sim_sessions),
which opening the store creates; no existing table or column changes.

tests/data/stores/release_2e9a05e.db.gz was written by that release:
`cockpit run --headless --feed synthetic --speed max --mode auto --symbols SPY,TSLA`,
plus one strategy config and one saved backtest run, so every table has rows."""
import gzip
import shutil
import sqlite3
from pathlib import Path

from engine.store import Store
from tests.factories import engine_config, run_session

OLD_STORE = Path(__file__).resolve().parent / "data" / "stores" / "release_2e9a05e.db.gz"
OLD_TABLES = ("candles", "market_state", "order_flow", "signals", "orders", "fills", "positions",
              "account_snapshots", "strategy_configs", "journal", "runs")


PER_MINUTE = ("candles", "market_state", "order_flow")  # keyed by (symbol, minute)


def _old_store(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    with gzip.open(OLD_STORE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _rows(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in OLD_TABLES}
    finally:
        con.close()


def _tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


async def test_the_last_releases_store_opens_upgrades_and_keeps_every_row(tmp_path):
    db = _old_store(tmp_path)
    before = _rows(db)
    assert "sim_sessions" not in _tables(db) and all(before[t] for t in OLD_TABLES)
    store = await Store.open(str(db))
    try:
        assert len(await store.orders()) == len(before["orders"])
        assert len(await store.fills()) == len(before["fills"])
        assert len(await store.signals()) == len(before["signals"])
        assert await store.all_strategy_configs() == {"TSLA": (True, {"atr_stop": 2.5})}
        assert [r.fingerprint for r in await store.list_runs()] == ["fp-old"]
    finally:
        await store.close()
    assert "sim_sessions" in _tables(db)
    assert _rows(db) == before  # every old row as it was


async def test_a_session_runs_on_the_upgraded_store_beside_the_old_rows(tmp_path):
    db = _old_store(tmp_path)
    before = _rows(db)
    eng = await run_session(engine_config("AUTO", app={"db": str(db), "symbols": ["SPY", "TSLA"]}), use_store=True)
    assert eng.counters["fills"] > 0 and eng.summary()["rows_not_recorded"] == 0
    after = _rows(db)
    for table in OLD_TABLES:
        if table in PER_MINUTE:  # one row per symbol and minute: the same minutes recorded again are updated
            assert {r[:2] for r in before[table]} <= {r[:2] for r in after[table]}, table
        else:
            assert set(before[table]) <= set(after[table]), table  # every old row kept as it was
    for table in ("orders", "fills", "signals", "journal"):
        assert len(after[table]) > len(before[table]), table  # this run's rows added beside them
