"""`cockpit store status|upgrade|backup [--db ...]`: the store's version, size, rows,
integrity, and its backups (engine/store/admin.py does the work).

Which store: ``--db``, else the config's ``[app] db`` (cockpit.toml or
COCKPIT_APP__DB), else cockpit.db in the user data dir, as for every command
that stores something (``store_location``).
"""
from __future__ import annotations

import json
from typing import Optional


def add_commands(sub) -> None:
    st = sub.add_parser("store", help="the store's schema version, size, rows and integrity; upgrade; backup")
    actions = st.add_subparsers(dest="store_action", required=True)
    for name, handler, text in (
        ("status", status_command, "version (current/newest), size, rows per table, integrity, the backup an "
                                   "upgrade would make; changes nothing"),
        ("upgrade", upgrade_command, "back the store up and bring it to the newest schema (opening it does the same)"),
        ("backup", backup_command, "copy a SQLite store beside it, named with its schema version"),
    ):
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--db", help="store: SQLite path or SQLAlchemy URL (default: [app] db of the config, "
                                    "else the user data dir)")
        p.add_argument("--config", help="cockpit.toml to read [app] db from (default: ./cockpit.toml or the shipped one)")
        if name == "status":
            p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(handler=handler)


def store_location(args) -> Optional[str]:
    """``--db`` if given, else the config's store (``[app] db``, environment included), else
    None (the user data dir): the one rule every command that opens a store follows."""
    if getattr(args, "db", None):
        return args.db
    from engine.config import default_config_path, load_config

    path = getattr(args, "config", None) or default_config_path()
    return load_config(path).app.db or None


def status_command(args) -> int:
    import asyncio
    from engine.store import admin

    report = asyncio.run(admin.status(store_location(args)))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.refused is None else 2
    print(f"store      {report.store} ({report.backend})")
    version = report.version or "none (empty store)"
    print(f"schema     {version}; newest {report.head}: {report.state}")
    if report.refused:
        print(f"refused    {report.refused}")
    for step in report.pending:
        print(f"to run     {step}")
    if report.size_bytes is not None:
        print(f"size       {_size(report.size_bytes)}")
    print(f"integrity  {report.integrity}")
    if report.backup:
        print(f"backup     {report.backup} (" + ("an upgrade makes it first" if report.state == "upgrade needed"
                                                 else "`cockpit store backup` makes it") + ")")
    width = max((len(t) for t in report.rows), default=0)
    print("rows")
    for name, n in report.rows.items():
        print(f"  {name:<{width}}  {n:>12,}")
    return 0 if report.refused is None else 2


def upgrade_command(args) -> int:
    import asyncio
    from engine.store import admin
    from engine.store.lock import lock_store

    db = store_location(args)
    lock = lock_store(db)  # not under a running cockpit's feet
    try:
        print(asyncio.run(admin.upgrade(db)))
    finally:
        if lock is not None:
            lock.release()
    return 0


def backup_command(args) -> int:
    import asyncio
    from engine.store import admin

    print(f"backed up to {asyncio.run(admin.backup(store_location(args)))}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"
