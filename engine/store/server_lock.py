"""One trading process per server store (PostgreSQL): the twin of lock.py's file lock.

A server database has no file to flock, so the trading process holds a
PostgreSQL advisory lock (``pg_try_advisory_lock``) on a connection of its own
for as long as it runs. Advisory locks belong to one database and die with the
session that holds them, so, like the file lock, a crashed cockpit never leaves a
stale lock behind. A second cockpit on the same database is refused with one
line naming the holder: each cockpit's connection carries ``application_name``
``cockpit pid N``, which ``pg_stat_activity`` shows.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .writer import StoreError, describe_error

# One key for "the cockpit's trading lock" (advisory locks are per database); below
# 2**31 so pg_locks shows it whole in objid.
LOCK_KEY = 0x636F636B  # "cock"


def application_name() -> str:
    return f"cockpit pid {os.getpid()}"


class ServerStoreLock:
    """The advisory lock, held by its own connection until ``release``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn: Optional[AsyncConnection] = conn

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            finally:
                await conn.close()


async def lock_server_store(engine: AsyncEngine, url: str) -> Optional[ServerStoreLock]:
    """Take the trading lock of a PostgreSQL store (None for any other backend), or
    raise StoreError naming the cockpit that holds it."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    conn = await engine.connect()
    try:
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})).scalar()
        await conn.commit()
        if got:
            return ServerStoreLock(conn)
        holder = (await conn.execute(text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :k "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"k": LOCK_KEY})).scalar()
    except Exception as exc:
        await conn.close()
        raise StoreError(f"cannot lock store {make_url(url).render_as_string(hide_password=True)}: "
                         f"{describe_error(exc)}") from None
    await conn.close()
    who = holder if holder and holder.startswith("cockpit pid") else f"a session named {holder!r}"
    raise StoreError(f"store {make_url(url).render_as_string(hide_password=True)} is in use by another cockpit "
                     f"({who.removeprefix('cockpit ')}); stop it or give this one another --db")


def engine_options(url: str) -> dict[str, Any]:
    """Connection options for a PostgreSQL store: the name pg_stat_activity shows."""
    if make_url(url).get_backend_name() != "postgresql":
        return {}
    return {"connect_args": {"server_settings": {"application_name": application_name()}}}
