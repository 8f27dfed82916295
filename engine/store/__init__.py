"""Persistence: SQLModel tables, a batching async writer, restart reload.

    store = await Store.open(path_or_url)   # None -> user data dir cockpit.db
    store.record_bar(bar)                   # O(1), hot path
    state = await store.load_today(session_start_ns)
    await store.close()                     # flushes everything

Blocking code (backtest CLI, sweep workers) uses ``open_sync``.

Opening brings the schema to the newest version (at_open.py, schema.py, migrations/; an
older SQLite file is first copied beside it by backup.py) or refuses the store;
admin.py is ``cockpit store status|upgrade|backup``.
"""
from engine.store.core import RestoredState, RunRecord, SimSessionRecord, Store, default_db_path, resolve_url, safe_url
from engine.store.sync import SyncStore, open_sync
from engine.store.tables import TABLES
from engine.store.writer import StoreError

__all__ = [
    "Store",
    "StoreError",
    "RestoredState",
    "RunRecord",
    "SimSessionRecord",
    "SyncStore",
    "open_sync",
    "default_db_path",
    "resolve_url",
    "safe_url",
    "TABLES",
]
