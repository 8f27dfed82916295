"""Backups of a SQLite store, made beside it and named with its schema version.

Why: an upgrade rewrites the store's tables, and SQLite changes its schema
outside any transaction; if an upgrade fails half way, or the new cockpit has to
be rolled back, the copy made just before is the store as the old release knew
it (``cockpit.v0001.db`` beside ``cockpit.db``). The copy goes through SQLite's
online backup API, so it is consistent even while another process reads the
store, and the WAL's committed pages are in it. A PostgreSQL store is backed up
with the server's tools (``pg_dump``): a copy on the cockpit's disk is not what
a server's owner wants.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def backup_path(db: Path, version: str) -> Path:
    """``cockpit.v0001.db`` beside ``cockpit.db``; ``cockpit.v0001.2.db`` and so on
    when that name is taken (an earlier backup is never overwritten)."""
    stem, suffix = (db.stem, db.suffix) if db.suffix else (db.name, "")
    path = db.with_name(f"{stem}.v{version}{suffix}")
    n = 2
    while path.exists():
        path = db.with_name(f"{stem}.v{version}.{n}{suffix}")
        n += 1
    return path


def backup_sqlite(db: Path, dest: Path) -> Path:
    """Copy the SQLite store ``db`` to ``dest`` (written to a temporary name, then
    renamed: a half-written backup never carries the final name)."""
    tmp = dest.with_name(dest.name + ".partial")
    src = sqlite3.connect(db)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    os.replace(tmp, dest)
    return dest
