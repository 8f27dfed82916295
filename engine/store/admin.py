"""Looking after a store from the command line (``cockpit store status|upgrade|backup``).

Why apart from the Store: these look at a store without opening it for trading.
``status`` only reads (it neither creates, upgrades nor locks anything), so it can
be asked of any store, even one a running cockpit holds or one this cockpit would
refuse; ``upgrade`` and ``backup`` do on demand what opening a store does on its own.
"""
from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from sqlalchemy import func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from engine.store import schema
from engine.store.backup import backup_path, backup_sqlite
from engine.store.core import Store, resolve_url, safe_url, where
from engine.store.writer import StoreError, describe_error


@dataclass
class StoreReport:
    """What ``cockpit store status`` shows."""

    store: str  # the file, or the URL without its password
    backend: str  # "sqlite" | "postgresql" | ...
    version: Optional[str]  # stamped or recognised; None for an empty store
    head: str
    state: str  # "current" | "upgrade needed" | "empty" | "refused"
    refused: Optional[str]  # why this cockpit would not open it
    size_bytes: Optional[int]
    rows: dict[str, int] = field(default_factory=dict)
    integrity: str = ""  # "ok" or the first problem found
    backup: Optional[str] = None  # the backup an upgrade (or `store backup`) would make
    pending: list[str] = field(default_factory=list)  # the migrations an upgrade would run, described

    def to_dict(self) -> dict:
        return asdict(self)


def sqlite_path(url: str) -> Optional[Path]:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def _exists(url: str) -> None:
    db = sqlite_path(url)
    if db is not None and not db.exists():
        raise StoreError(f"no store at {db}: give --db the store's file or URL")


async def status(url_or_path: Optional[str]) -> StoreReport:
    """The store's version, size, rows per table and integrity; changes nothing."""
    url = resolve_url(url_or_path)
    _exists(url)
    engine = create_async_engine(url)
    try:
        async with schema.migrating(), engine.connect() as conn:
            state = await conn.run_sync(schema.read_state)
            names = sorted(await conn.run_sync(lambda c: [t for t in inspect(c).get_table_names()
                                                           if t in schema.known_tables()]))
            rows = {}
            for name in names:
                rows[name] = int((await conn.execute(select(func.count()).select_from(table(name)))).scalar())
            backend = conn.dialect.name
            if backend == "sqlite":
                problems = [str(r[0]) for r in (await conn.execute(text("PRAGMA quick_check"))).all()]
                integrity = "ok" if problems == ["ok"] else problems[0]
            elif backend == "postgresql":
                integrity = "ok (the server checks its own pages)"
            else:
                integrity = "not checked on this backend"
            size = await _size(conn, url)
    except Exception as exc:
        raise StoreError(f"cannot read store {where(url)}: {describe_error(exc)}") from None
    finally:
        await engine.dispose()
    if state.refused:
        kind = "refused"
    elif state.empty:
        kind = "empty"
    elif state.behind:
        kind = "upgrade needed"
    else:
        kind = "current"
    db = sqlite_path(url)
    backup = str(backup_path(db, state.current)) if db is not None and state.current else None
    pending = []
    if not state.refused:
        done = schema.versions().index(state.current) + 1 if state.current else 0
        pending = [schema.describe(r) for r in schema.versions()[done:]]
    return StoreReport(store=where(url), backend=backend, version=state.current, head=state.head, state=kind,
                       refused=state.refused, size_bytes=size, rows=rows, integrity=integrity, backup=backup,
                       pending=pending)


async def _size(conn, url: str) -> Optional[int]:
    db = sqlite_path(url)
    if db is not None:
        return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    if conn.dialect.name == "postgresql":
        return int((await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar())
    return None


async def upgrade(url_or_path: Optional[str]) -> str:
    """Open the store as the cockpit does (backup, upgrade, write check) and close it;
    returns what was done, in one line."""
    url = resolve_url(url_or_path)
    _exists(url)
    store = await Store.open(url_or_path)
    await store.close()
    return store.schema_note or f"store {where(url)} is at schema {schema.head()}, the newest: nothing to do"


async def backup(url_or_path: Optional[str]) -> Path:
    """A copy of a SQLite store beside it, named with its version (a server store:
    StoreError saying to use the server's own tools)."""
    url = resolve_url(url_or_path)
    db = sqlite_path(url)
    if db is None:
        raise StoreError(f"store {safe_url(url)} is not a file: back a server store up with its own tools "
                         "(PostgreSQL: pg_dump -Fc)")
    _exists(url)
    report = await status(url_or_path)
    return await asyncio.to_thread(backup_sqlite, db, backup_path(db, report.version or "empty"))
