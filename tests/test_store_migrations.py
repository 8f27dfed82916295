"""Schema versions (engine/store/schema.py, engine/store/migrations): a store is
created, recognised, upgraded or refused at open, never half-recorded.

The issue's scenario: a store whose orders table lacks a column the models have
(every existing store after a release that adds a field without a migration).
Such a store matches no version, so it is refused with one line naming both
versions and nothing is written into it; a store at a known older version is
backed up and upgraded, and the whole session is recorded (test_store_upgrade.py)."""
import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from cockpit import cli
from engine.store import Store, StoreError
from engine.store import schema
from engine.store.tables import StoreModel


def _version(db: Path):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


def _columns(db: Path, table: str) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    finally:
        con.close()


def _dump(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def _store_at(db: Path, rev: str) -> None:
    """A store made by running the migrations up to ``rev`` (stamped at it)."""
    eng = create_engine(f"sqlite:///{db}")
    try:
        with eng.begin() as conn:
            schema._run(conn, rev, stamp_only=False)
    finally:
        eng.dispose()


def _orders_without_reason(db: Path) -> None:
    """The issue's old store: today's tables, but orders made before its ``reason``
    column existed, and no version table (as create_all would have left it)."""
    eng = create_engine(f"sqlite:///{db}")
    try:
        StoreModel.metadata.create_all(eng)
    finally:
        eng.dispose()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE orders DROP COLUMN reason")
    con.execute("INSERT INTO orders (id, client_order_id, symbol, side, type, qty, status, filled_qty, leg, "
                "created_ns, updated_ns) VALUES ('o1', 'c1', 'SPY', 'buy', 'market', 10, 'filled', 10, 'entry', 1, 2)")
    con.commit()
    con.close()


def test_the_newest_migration_creates_exactly_the_models():
    """A field added to engine/store/tables.py without a migration fails here
    (Alembic's autogenerate comparison of a store migrated to head with the models)."""
    eng = create_engine("sqlite://")
    try:
        with eng.begin() as conn:
            schema._run(conn, "head", stamp_only=False)
            diffs = schema.compare_with_models(conn)
    finally:
        eng.dispose()
    assert diffs == [], f"the models and migration {schema.head()} disagree: {diffs}"


def test_versions_run_in_order_and_each_adds_to_the_last():
    assert schema.versions() == ["0001", "0002", "0003"] and schema.head() == "0003"
    assert set(schema.shape_at("0002")) - set(schema.shape_at("0001")) == {"sim_sessions"}
    at2, at3 = schema.shape_at("0002"), schema.shape_at("0003")
    assert set(at3) == set(at2) and {t: at3[t] - at2[t] for t in at3 if at3[t] != at2[t]} == {
        "signals": {"target1", "index_symbol", "index_entry", "index_stop", "index_target", "map_ratio"},
        "orders": {"index_symbol", "index_price", "map_ratio"}}


async def test_a_new_store_is_created_at_the_newest_version(tmp_path):
    db = tmp_path / "new.db"
    st = await Store.open(str(db))
    assert st.schema_note is None  # nothing to upgrade, nothing to say
    await st.close()
    assert _version(db) == schema.head()
    assert not list(tmp_path.glob("new.v*.db"))  # nothing to back up


async def test_a_store_at_an_older_version_is_backed_up_and_upgraded(tmp_path):
    db = tmp_path / "cockpit.db"
    _store_at(db, "0001")
    st = await Store.open(str(db))
    try:
        assert st.schema_note == (f"store upgraded from schema 0001 to {schema.head()}; "
                                  f"the store as it was is at {tmp_path / 'cockpit.v0001.db'}")
        await st.add_sim_session("k", "r", "2024-06-12", "fresh", 0)
    finally:
        await st.close()
    assert _version(db) == schema.head()
    assert _version(tmp_path / "cockpit.v0001.db") == "0001"  # the backup is the store as it was


async def test_a_store_made_before_migrations_at_todays_shape_is_stamped_not_changed(tmp_path):
    """A store the current code made with create_all (no version table) is at head already."""
    db = tmp_path / "dev.db"
    eng = create_engine(f"sqlite:///{db}")
    StoreModel.metadata.create_all(eng)
    eng.dispose()
    st = await Store.open(str(db))
    await st.close()
    assert _version(db) == schema.head() and not list(tmp_path.glob("dev.v*.db"))


async def test_orders_without_a_column_the_models_have_is_refused_and_left_alone(tmp_path):
    db = tmp_path / "old.db"
    _orders_without_reason(db)
    before = _dump(db)
    with pytest.raises(StoreError) as err:
        await Store.open(str(db))
    message = str(err.value)
    assert "\n" not in message
    assert message == (f"store {db}: schema matches no version this cockpit knows (nearest is {schema.head()}, but "
                       f"its table orders lacks column reason; this cockpit's version is {schema.head()}): restore a backup, "
                       f"or pass --db with another store")
    assert _dump(db) == before and "reason" not in _columns(db, "orders")  # not a row or column changed


async def test_a_store_of_a_newer_cockpit_is_refused_naming_both_versions(tmp_path):
    db = tmp_path / "newer.db"
    _store_at(db, "head")
    con = sqlite3.connect(db)
    con.execute("UPDATE alembic_version SET version_num = '0007'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=rf"schema version 0007 is newer than this cockpit's {schema.head()} .*upgrade the "
                                         r"cockpit, or pass --db"):
        await Store.open(str(db))
    assert _version(db) == "0007"


def test_the_cli_refuses_an_unknown_store_with_one_line_and_exit_2_before_trading(tmp_path, capsys):
    db = tmp_path / "old.db"
    _orders_without_reason(db)
    code = cli.main(["run", "--headless", "--json", "--feed", "synthetic", "--speed", "max", "--mode", "auto",
                     "--seed", "8", "--symbols", "SPY", "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""  # no summary: nothing ran
    assert err.count("\n") == 1 and "matches no version" in err and "Traceback" not in err
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 1  # nothing recorded into it
    con.close()


async def test_a_store_that_cannot_be_written_is_refused_at_open(tmp_path):
    db = tmp_path / "ro.db"
    st = await Store.open(str(db))
    await st.close()
    with pytest.raises(StoreError, match=r"cannot be written \(OperationalError: attempt to write a readonly "
                                         r"database\); the cockpit does not trade on a store it cannot record into"):
        await Store.open(f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true")


def test_two_backups_of_one_version_never_overwrite_each_other(tmp_path):
    from engine.store.backup import backup_path, backup_sqlite

    db = tmp_path / "cockpit.db"
    asyncio.run(_open_close(db))
    head = schema.head()
    first = backup_sqlite(db, backup_path(db, head))
    second = backup_sqlite(db, backup_path(db, head))
    assert (first.name, second.name) == (f"cockpit.v{head}.db", f"cockpit.v{head}.2.db")
    assert _version(second) == head


async def _open_close(db):
    st = await Store.open(str(db))
    await st.close()


# --------------------------------------------------------------------------- the same on PostgreSQL


async def _on(url: str, fn, *args):
    from sqlalchemy.ext.asyncio import create_async_engine

    from engine.store import resolve_url

    eng = create_async_engine(resolve_url(url))
    try:
        async with eng.begin() as conn:
            return await conn.run_sync(fn, *args)
    finally:
        await eng.dispose()


async def test_on_postgresql_the_newest_migration_creates_exactly_the_models(pg_url):
    st = await Store.open(pg_url)
    await st.close()
    assert await _on(pg_url, schema.compare_with_models) == []
    assert await _on(pg_url, lambda c: schema.read_state(c).current) == schema.head()


async def test_on_postgresql_the_last_releases_rows_are_upgraded_and_kept(pg_url, tmp_path):
    """The release fixture's rows in a PostgreSQL database at version 0001, opened: upgraded
    to the newest version in place (the server's own backups are the owner's), every row kept."""
    from collections import Counter

    from sqlalchemy import MetaData, insert, select

    from tests.test_store_upgrade import OLD_TABLES, _old_store, _release_columns, _rows

    old = _old_store(tmp_path)
    meta = MetaData()
    eng = create_engine(f"sqlite:///{old}")
    meta.reflect(eng)
    with eng.connect() as conn:
        before = {t: [dict(r._mapping) for r in conn.execute(select(meta.tables[t]))] for t in OLD_TABLES}
    eng.dispose()

    def fill(conn):
        schema._run(conn, "0001", stamp_only=False)
        target = MetaData()
        target.reflect(conn)
        for t in OLD_TABLES:
            rows = [{**r, "enabled": bool(r["enabled"])} if t == "strategy_configs" else r for r in before[t]]
            conn.execute(insert(target.tables[t]), rows)

    await _on(pg_url, fill)
    st = await Store.open(pg_url)
    try:
        assert st.schema_note == f"store upgraded from schema 0001 to {schema.head()}"
        assert len(await st.orders()) == len(before["orders"])
        assert await st.all_strategy_configs() == {"TSLA": (True, {"atr_stop": 2.5})}
    finally:
        await st.close()

    def read(conn):  # in the release's columns (a later migration may add some)
        target = MetaData()
        target.reflect(conn)
        return {t: [tuple(r) for r in conn.execute(select(*(target.tables[t].c[c] for c in _release_columns()[t])))]
                for t in OLD_TABLES}

    after = await _on(pg_url, read)
    old_rows = _rows(old)
    for t in OLD_TABLES:
        assert Counter(after[t]) == Counter(old_rows[t]), t
    assert await _on(pg_url, lambda c: schema.read_state(c).current) == schema.head()


async def test_on_postgresql_a_second_trading_process_is_refused_naming_the_first(pg_url):
    import os

    first = await Store.open(pg_url, exclusive=True)
    try:
        with pytest.raises(StoreError, match=rf"is in use by another cockpit \(pid {os.getpid()}\); stop it or give "
                                             r"this one another --db"):
            await Store.open(pg_url, exclusive=True)
        reader = await Store.open(pg_url)  # a reader (cockpit runs, a backtest's result) takes no lock
        await reader.close()
    finally:
        await first.close()
    again = await Store.open(pg_url, exclusive=True)  # released by the first one's close
    await again.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_two_openers_of_one_new_store_at_once_both_open_it(tmp_path, backend, request):
    """Both find it empty: on a SQLite file the second waits for the first's write lock,
    on PostgreSQL its CREATE TABLE fails once the first commits; either way both open
    the store at the newest version (a reader opening it while the cockpit starts)."""
    url = str(tmp_path / "race.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    stores = await asyncio.gather(*(Store.open(url) for _ in range(3)))
    for st in stores:
        await st.close()
    if backend == "sqlite":
        assert _version(tmp_path / "race.db") == schema.head()


async def test_an_upgrade_that_fails_half_way_leaves_the_store_as_it_was_and_names_the_backup(tmp_path,
                                                                                             monkeypatch):
    db = tmp_path / "cockpit.db"
    _store_at(db, "0001")
    real_upgrade = schema.upgrade

    def broken(conn, state):
        real_upgrade(conn, state)  # sim_sessions created, version stamped at the newest ...
        raise RuntimeError("disk I/O error")  # ... and then the upgrade fails

    monkeypatch.setattr(schema, "upgrade", broken)
    with pytest.raises(StoreError, match=rf"cannot upgrade store {db} from schema 0001 to {schema.head()}: RuntimeError: disk "
                                         rf"I/O error; the store as it was is at {tmp_path / 'cockpit.v0001.db'}"):
        await Store.open(str(db))
    assert _version(tmp_path / "cockpit.v0001.db") == "0001"
    assert _version(db) == "0001" and "seq" not in _columns(db, "sim_sessions")  # rolled back: no table, old version
