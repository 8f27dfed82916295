"""A store written by the last release (2e9a05e) opens with this one, is backed up,
upgraded through every migration and keeps every row. That release had no schema
versions: the store is recognised by its shape as version 0001 and upgraded to the
newest (0002 adds sim_sessions; 0003 adds columns to signals and orders, each
old row keeping every value it had).

tests/data/stores/release_2e9a05e.db.gz was written by that release:
`cockpit run --headless --feed synthetic --speed max --mode auto --symbols SPY,TSLA`,
plus one strategy config and one saved backtest run, so every table has rows."""
import functools
import gzip
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from cockpit import cli
from engine.store import Store
from engine.store import schema
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


def _columns(db: Path, tables) -> dict[str, list[str]]:
    con = sqlite3.connect(db)
    try:
        return {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        con.close()


@functools.lru_cache(maxsize=None)
def _release_columns(fixture: str = OLD_STORE.name) -> dict[str, tuple[str, ...]]:
    """Each table's columns in a fixture store: a migration may add columns (0003: the
    execution map's index prices), and every old row must keep every value it had."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "columns.db"
        with gzip.open(OLD_STORE.with_name(fixture), "rb") as src, open(db, "wb") as dst:
            shutil.copyfileobj(src, dst)
        con = sqlite3.connect(db)
        try:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            con.close()
        return {t: tuple(c) for t, c in _columns(db, names).items()}


def _select(con, table: str, columns) -> list[tuple]:
    return sorted(con.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)


def _rows(db: Path) -> dict[str, list[tuple]]:
    """Every row of the release's tables, in the release's columns."""
    cols = _release_columns()
    con = sqlite3.connect(db)
    try:
        return {t: _select(con, t, cols[t]) for t in OLD_TABLES}
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
    assert _version(db) == schema.head()
    backup = tmp_path / "old.v0001.db"  # the store as it was, beside it, named with its version
    assert _rows(backup) == before and "sim_sessions" not in _tables(backup) and "alembic_version" not in _tables(backup)


def test_the_issues_run_on_the_old_store_is_backed_up_upgraded_and_recorded_whole(tmp_path, capsys):
    """The issue's command on a store of the last release: exit 0, a backup beside it, and
    the session's orders, fills and signals all stored (none kept for retry)."""
    db = _old_store(tmp_path)
    before = _rows(db)
    code = cli.main(["run", "--headless", "--feed", "synthetic", "--speed", "max", "--mode", "auto", "--seed", "8",
                     "--json", "--db", str(db)])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0, err
    assert summary["rows_not_recorded"] == 0 and summary["orders"] > 0 and summary["fills"] > 0
    after = _rows(db)
    assert len(after["orders"]) - len(before["orders"]) == summary["orders"]
    assert len(after["fills"]) - len(before["fills"]) == summary["fills"]
    assert len(after["signals"]) - len(before["signals"]) == summary["signals_total"]
    assert _rows(tmp_path / "old.v0001.db") == before
    con = sqlite3.connect(db)
    try:
        upgraded = con.execute("SELECT message FROM journal WHERE kind = 'store' AND message LIKE 'store upgraded%'")
        assert [r[0] for r in upgraded] == [f"store upgraded from schema 0001 to {schema.head()}; "
                                            f"the store as it was is at {tmp_path / 'old.v0001.db'}"]
    finally:
        con.close()


def _version(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


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


# Stores made before migrations existed, and the version their shape is recognised as:
# the last release's, and one made by this release's code just before migrations
# (e1bd284: `cockpit run --headless --feed synthetic --speed max --mode auto --seed 7
# --symbols SPY,TSLA`, plus a strategy config and a saved backtest run).
FIXTURES = {
    "release_2e9a05e.db.gz": ("0001", OLD_TABLES),
    "today_e1bd284.db.gz": ("0002", OLD_TABLES + ("sim_sessions",)),
}


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
async def test_every_fixture_store_reaches_the_newest_version_with_every_row_unchanged(tmp_path, fixture):
    version, tables = FIXTURES[fixture]
    db = tmp_path / "fixture.db"
    with gzip.open(OLD_STORE.with_name(fixture), "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    cols = _release_columns(fixture)
    con = sqlite3.connect(db)
    before = {t: _select(con, t, cols[t]) for t in tables}
    con.close()
    assert all(before[t] for t in tables) and "alembic_version" not in _tables(db)
    store = await Store.open(str(db))
    upgraded = store.schema_note
    await store.close()
    assert _version(db) == schema.head()
    con = sqlite3.connect(db)
    after = {t: _select(con, t, cols[t]) for t in tables}
    # the columns 0003 added: an old signal or order was not mapped and stored no first target
    added = {t: con.execute(f"SELECT DISTINCT {', '.join(c)} FROM {t}").fetchall()
             for t, c in (("signals", ("target1", "index_symbol", "index_entry", "map_ratio")),
                          ("orders", ("index_symbol", "index_price", "map_ratio")))}
    con.close()
    assert after == before
    assert added == {"signals": [(0.0, "", None, None)], "orders": [("", None, None)]}
    if version == schema.head():  # recognised and stamped; nothing to upgrade, nothing backed up
        assert upgraded is None and not list(tmp_path.glob("fixture.v*.db"))
    else:
        assert upgraded.startswith(f"store upgraded from schema {version} to {schema.head()}")
        assert (tmp_path / f"fixture.v{version}.db").exists()
