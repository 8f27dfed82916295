"""One trading process per store.

Two cockpits writing into one store interleave their journals, flatten twice
and duplicate fills. The process that trades takes an exclusive lock on a file
beside the SQLite store (``<db>.lock``, holding its pid for the message) for as
long as it runs; a second one is refused, naming the pid. The lock is an OS
advisory lock (``fcntl.flock``), so it dies with its process, even after
``kill -9``: a stale lock file never blocks a restart. Readers (``cockpit
runs``, a backtest saving its result) do not take it. A server database
(PostgreSQL) has no file: its trading process holds an advisory lock instead
(server_lock.py, taken by ``Store.open(..., exclusive=True)``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from sqlalchemy.engine import make_url

from .core import resolve_url
from .writer import StoreError

try:
    import fcntl
except ImportError:  # not a POSIX system: no advisory file locks to take
    fcntl = None


class StoreLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1

    def __del__(self) -> None:  # an engine dropped without stop() must not hold the store
        self.release()


def sqlite_file(url_or_path: Optional[str]) -> Optional[Path]:
    """The SQLite file behind a store URL or path, None for memory or a server."""
    url = make_url(resolve_url(url_or_path))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def lock_store(url_or_path: Optional[str]) -> Optional[StoreLock]:
    """Take the store's trading lock, or raise StoreError naming the pid that holds it."""
    db = sqlite_file(url_or_path)
    if db is None or fcntl is None:
        return None
    path = db.with_name(db.name + ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # a read-only disk, a missing or foreign directory: this store cannot be written
        raise StoreError(f"store {db} cannot be written ({exc.strerror}: {path}); the cockpit does not trade on a "
                         "store it cannot record into: fix the disk or pass --db with another file") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(f"store {db} is in use by another cockpit (pid {holder}); stop it or give this one "
                         "another --db") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return StoreLock(path, fd)
