"""A throwaway PostgreSQL server for the test session (the ``pg_server`` fixture).

First choice: the ``pgserver`` wheel, which ships the server's binaries, so the
README's one test command needs nothing but python3 and pip. It has wheels for
CPython 3.9 to 3.12 only; elsewhere (or with COCKPIT_TEST_POSTGRES=system) the
server binaries installed on the machine are used instead (``pg_ctl`` on PATH,
or Debian's /usr/lib/postgresql/N/bin). Either way the server lives in a fresh
temporary directory, listens only on a unix socket there (no TCP port), trusts
local connections, and is stopped and removed at the end.

Both give ``psql(sql)``, ``get_uri(database)`` and ``cleanup()``.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional


def start_server() -> Any:
    if os.environ.get("COCKPIT_TEST_POSTGRES") != "system":
        try:
            import pgserver
        except ImportError:
            pgserver = None
        if pgserver is not None:
            # not under pytest's temporary root: run as root, pgserver runs the server as its
            # own user, which must reach the directory, and any pytest session makes that root
            # private again
            return pgserver.get_server(tempfile.mkdtemp(prefix="cockpit-pg-"), cleanup_mode="delete")
    bindir = _system_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server for the store tests: pip install -e '.[test]' (pgserver) or "
                           "install the server (Debian: apt-get install postgresql)")
    return SystemPostgres(bindir)


def _system_bindir() -> Optional[Path]:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent  # a link on PATH (pg_ctl) into the full bin dir (psql too)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


class SystemPostgres:
    """initdb + pg_ctl from the machine's own PostgreSQL, as a non-root user when run as
    root (the server refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="cockpit-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.dir, user)
            self.as_user = ["runuser", "-u", user, "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.dir / "log"),
                  "-o", f"-k {self.dir} -c listen_addresses=''", "start")

    def _run(self, tool: str, *args: str) -> str:
        done = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return done.stdout

    def psql(self, sql: str) -> str:
        return self._run("psql", "-h", str(self.dir), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                         "-c", sql)

    def get_uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:@/{database}?host={self.dir}"

    def cleanup(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
