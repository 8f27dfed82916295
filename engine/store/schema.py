"""The store's schema version: which one a store is at, and bringing it to the newest.

Why: ``create_all`` adds missing tables but never changes an existing one, so a
store of an older release kept its old tables and every write of a record with a
new field failed all session long (issue 18). Each version of the schema is now
an Alembic migration (engine/store/migrations/versions), and opening a store
brings it to the newest one, or refuses it with one line:

- a new (empty) store is created by running every migration;
- a store stamped with an older version is upgraded (the caller backs a SQLite
  file up first: engine/store/backup.py);
- a store with no version table (written before migrations) is recognised by its
  shape, the tables and columns some version creates, stamped at that version
  and upgraded like any other;
- a store stamped with a version this code does not know (written by a newer
  cockpit), or whose tables match no version, is refused: writing into it would
  fail or, worse, half-record a session.

Everything here runs on a plain (synchronous) SQLAlchemy connection; the async
store calls it through ``AsyncConnection.run_sync``.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection

from engine.store.tables import StoreModel

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"

Shape = dict[str, frozenset[str]]  # table -> its column names


_MIGRATING = threading.Lock()


@contextlib.asynccontextmanager
async def migrating():
    """One schema look-up or migration at a time in this process. Alembic keeps the
    running migration in module globals (``alembic.context``, ``alembic.op``), so two
    stores opened at once on one event loop (their awaits interleave) or in two
    threads would run each other's steps. Waited for without blocking the event loop,
    and never left held by a cancelled waiter."""
    while not _MIGRATING.acquire(blocking=False):
        await asyncio.sleep(0.005)
    try:
        yield
    finally:
        _MIGRATING.release()


class SchemaRefused(Exception):
    """The store is at a version or of a shape this code cannot use (one line: why and what to do)."""


@functools.lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    """The shipped migrations (loaded once per process)."""
    return ScriptDirectory.from_config(_config())


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    """The newest schema version this code knows."""
    return scripts().get_current_head()


def versions() -> list[str]:
    """Every schema version, oldest first."""
    return [r.revision for r in reversed(list(scripts().walk_revisions()))]


def describe(rev: Optional[str]) -> str:
    """``0001 (The store as the last release ... made it)``: the version and its first doc line."""
    if rev is None:
        return "none (empty)"
    try:
        script = scripts().get_revision(rev)
    except Exception:
        script = None
    if script is None:
        return f"{rev} (unknown to this cockpit)"
    return f"{rev} ({(script.doc or '').strip().splitlines()[0].rstrip('.')})"


@dataclass(frozen=True)
class SchemaState:
    """Where a store stands: its version (stamped, or recognised from its shape), the
    newest one, and why it cannot be used (``refused``), if it cannot."""

    current: Optional[str]  # None: an empty store (no table of ours)
    head: str
    stamped: bool  # it has a version table (else it was recognised by shape, or is empty)
    refused: Optional[str] = None

    @property
    def empty(self) -> bool:
        return self.current is None and self.refused is None

    @property
    def behind(self) -> bool:
        """At a known older version: upgraded at open (after a backup)."""
        return self.refused is None and self.current is not None and self.current != self.head


def shape_of(conn: Connection) -> Shape:
    """The tables and columns of the store (ours only: any other table in a shared
    database is none of our business), without the version table."""
    insp = inspect(conn)
    known = known_tables()
    return {t: frozenset(c["name"] for c in insp.get_columns(t)) for t in insp.get_table_names() if t in known}


@functools.lru_cache(maxsize=None)
def shape_at(rev: str) -> Shape:
    """The tables and columns a store has at version ``rev`` (every migration up to it
    run on a scratch in-memory SQLite; computed once per process)."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            _run(conn, rev, stamp_only=False)
            insp = inspect(conn)
            return {t: frozenset(c["name"] for c in insp.get_columns(t))
                    for t in insp.get_table_names() if t != VERSION_TABLE}
    finally:
        engine.dispose()


@functools.lru_cache(maxsize=1)
def known_tables() -> frozenset[str]:
    """Every table some version has (the models' too)."""
    names = set(StoreModel.metadata.tables)
    for rev in versions():
        names |= set(shape_at(rev))
    return frozenset(names)


def _stamped_version(conn: Connection) -> tuple[bool, Optional[str]]:
    if not inspect(conn).has_table(VERSION_TABLE):
        return False, None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return (True, rows[0][0]) if rows else (False, None)  # an empty version table stamps nothing


def _difference(have: Shape, want: Shape) -> str:
    """The first way ``have`` differs from ``want``, in words."""
    for t in sorted(want):
        if t not in have:
            return f"table {t} is missing"
        missing = sorted(want[t] - have[t])
        if missing:
            return f"table {t} lacks column {', '.join(missing)}"
        extra = sorted(have[t] - want[t])
        if extra:
            return f"table {t} has unknown column {', '.join(extra)}"
    extra_tables = sorted(set(have) - set(want))
    return f"unknown table {', '.join(extra_tables)}" if extra_tables else "no difference"


def read_state(conn: Connection) -> SchemaState:
    """Where the store on ``conn`` stands (reads only)."""
    top = head()
    stamped, rev = _stamped_version(conn)
    have = shape_of(conn)
    if stamped and rev is not None:
        if rev not in versions():
            return SchemaState(rev, top, True, refused=(
                f"schema version {rev} is newer than this cockpit's {top} (written by a newer cockpit): "
                "upgrade the cockpit, or pass --db with another store"))
        want = shape_at(rev)
        if have != want:
            return SchemaState(rev, top, True, refused=(
                f"schema says version {rev} but its {_difference(have, want)} (this cockpit's version is {top}): "
                "restore a backup, or pass --db with another store"))
        return SchemaState(rev, top, True)
    if not have:
        return SchemaState(None, top, stamped)
    for candidate in reversed(versions()):  # newest first: a store made by create_all at head is at head
        if have == shape_at(candidate):
            return SchemaState(candidate, top, False)
    nearest = min(versions(), key=lambda r: _distance(have, shape_at(r)))
    return SchemaState(None, top, False, refused=(
        f"schema matches no version this cockpit knows (nearest is {nearest}, but its "
        f"{_difference(have, shape_at(nearest))}; this cockpit's version is {top}): "
        "restore a backup, or pass --db with another store"))


def _distance(have: Shape, want: Shape) -> int:
    tables = set(have) | set(want)
    return sum(len(have.get(t, frozenset()) ^ want.get(t, frozenset())) + (t not in have or t not in want)
               for t in tables)


def upgrade(conn: Connection, state: SchemaState) -> None:
    """Bring the store to the newest version: stamp a store written before migrations
    at the version its shape matched, then run every migration after it (all of them
    for an empty store). Raises SchemaRefused for a refused store."""
    if state.refused:
        raise SchemaRefused(state.refused)
    if state.current is not None and not state.stamped:
        _run(conn, state.current, stamp_only=True)
    if state.current != state.head:
        _run(conn, "head", stamp_only=False)


def _run(conn: Connection, target: str, *, stamp_only: bool) -> None:
    """Alembic's upgrade (or stamp) to ``target`` on ``conn``, with the migrations loaded once."""
    script = scripts()

    def steps(rev, _context):
        return script._stamp_revs(target, rev) if stamp_only else script._upgrade_revs(target, rev)

    with EnvironmentContext(_config(), script, fn=steps, destination_rev=target) as env:
        env.configure(connection=conn, target_metadata=StoreModel.metadata,
                      render_as_batch=conn.dialect.name == "sqlite")
        with env.begin_transaction():
            env.run_migrations()


def write_check(conn: Connection) -> None:
    """Write into the store (the version row, rewritten unchanged): a read-only file,
    a full disk or a role without write rights fails here, at open, not mid-session."""
    conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = version_num"))


def compare_with_models(conn: Connection) -> list:
    """Alembic's autogenerate comparison of the store on ``conn`` with the models: []
    when the newest migration creates exactly what engine/store/tables.py declares."""
    from alembic.autogenerate import compare_metadata

    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
    return [d for d in compare_metadata(ctx, StoreModel.metadata)
            if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == VERSION_TABLE)]
