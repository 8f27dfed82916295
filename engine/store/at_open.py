"""Opening a store: its schema brought to the newest version, or the store refused.

Store.open calls ``bring_to_head`` once, before the writer starts: read the
version (schema.py), refuse a newer or unknown store, back a SQLite file at an
older version up beside it (backup.py), run the migrations, and check that the
store can be written, so the cockpit never trades on a store it cannot record
into. Every failure is one StoreError line naming the store (never its password).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

from sqlalchemy.engine import Engine as SyncEngine
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.store import schema
from engine.store.backup import backup_path, backup_sqlite
from engine.store.writer import StoreError, describe_error


async def bring_to_head(engine: AsyncEngine, name: str, sqlite_file: Optional[str],
                        sync_engine: Optional[SyncEngine]) -> Optional[str]:
    """Read the store's schema version; refuse a newer or unknown one; back up a SQLite
    file at an older version beside it and upgrade it; then check it can be written.
    Returns what was done ("upgraded from ... to ...") or None when nothing was.

    All of it is one transaction: PostgreSQL changes its schema inside one, and on a
    SQLite file it runs under ``BEGIN IMMEDIATE`` on the plain engine (the driver
    would otherwise run each CREATE or ALTER on its own), so an upgrade that fails
    half way leaves the store as it was, and two processes opening one store at once
    take turns instead of both creating its tables."""
    async with schema.migrating():
        return await _alone(engine, name, sqlite_file, sync_engine)


async def _alone(engine: AsyncEngine, name: str, sqlite_file: Optional[str],
                 sync_engine: Optional[SyncEngine]) -> Optional[str]:
    try:
        if sync_engine is not None and sqlite_file:
            return await asyncio.to_thread(_migrate_sqlite_file, sync_engine, name, sqlite_file)
        async with engine.begin() as conn:
            return await conn.run_sync(_migrate, name, None)
    except _UpgradeFailed as exc:
        if await _upgraded_meanwhile(engine):  # another process created or upgraded it first
            return None
        raise StoreError(str(exc)) from None
    except StoreError:
        raise
    except _Unwritable as exc:
        raise StoreError(f"store {name} cannot be written ({exc}); the cockpit does not trade on a store it "
                         "cannot record into: fix the disk or the rights, or pass --db with another store") from None
    except Exception as exc:
        if await _upgraded_meanwhile(engine):  # another process created or upgraded it first
            return None
        raise StoreError(f"cannot open store {name}: {describe_error(exc)}") from None


class _Unwritable(Exception):
    """The write check (or taking the write lock) failed: the message is the driver's."""


class _UpgradeFailed(Exception):
    """The migrations failed (the message says which store, from and to what, and the backup)."""


def _migrate_sqlite_file(sync_engine: SyncEngine, name: str, path: str) -> Optional[str]:
    with sync_engine.connect() as conn:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the file's write lock until commit (busy_timeout: wait for it)
        except Exception as exc:
            raise _Unwritable(describe_error(exc)) from None
        note = _migrate(conn, name, Path(path))
        conn.commit()
        return note


def _migrate(conn, name: str, sqlite_path: Optional[Path]) -> Optional[str]:
    """``_bring_to_head``'s work on one connection inside its transaction."""
    state = schema.read_state(conn)
    if state.refused:
        raise StoreError(f"store {name}: {state.refused}")
    note = backup = None
    if state.behind:
        if sqlite_path is not None:
            try:  # read through its own connection: the store as committed, before this upgrade
                backup = backup_sqlite(sqlite_path, backup_path(sqlite_path, state.current))
            except Exception as exc:
                raise StoreError(f"store {name} needs an upgrade from schema {state.current} to {state.head}, but "
                                 f"the backup before it failed ({describe_error(exc)}); nothing was changed: free "
                                 "some disk space, or pass --db with another store") from None
        note = (f"store upgraded from schema {state.current} to {state.head}"
                + (f"; the store as it was is at {backup}" if backup else ""))
    if state.current != state.head or not state.stamped:  # a store from before migrations is stamped too
        try:
            schema.upgrade(conn, state)
        except Exception as exc:
            kept = f"; the store as it was is at {backup}" if backup else ""
            raise _UpgradeFailed(f"cannot upgrade store {name} from schema {state.current or 'none'} to "
                                 f"{state.head}: {describe_error(exc)}{kept}") from None
    try:
        schema.write_check(conn)
    except Exception as exc:
        raise _Unwritable(describe_error(exc)) from None
    return note


async def _upgraded_meanwhile(engine: AsyncEngine) -> bool:
    """After a failed upgrade: is the store at the newest version now? Two processes opening
    one new store at once both find it empty; the second one's CREATE TABLE then fails
    because the first one's succeeded, and that is no reason to refuse the store."""
    try:
        async with engine.connect() as conn:
            state = await conn.run_sync(schema.read_state)
    except Exception:
        return False
    return state.refused is None and state.stamped and state.current == state.head
