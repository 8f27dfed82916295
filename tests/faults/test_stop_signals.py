"""The ways out with nobody to ask (SIGTERM, SIGHUP, an outside SIGINT), on a
real `python -m cockpit` process: the headless run and the UI on a terminal.

Each run is stopped once the store shows it got somewhere (journal rows; with
exposure, fills), never after a fixed sleep. Then: the exit status says which
signal stopped it, the journal's last engine line says how it exited and what
it left open (matching the store's own orders and positions), the store passes
SQLite's integrity check and holds every fill and order the run made.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPEN_STATUSES = ("new", "accepted", "partially_filled", "held", "unknown")
EXPOSURE_SPEED = "600"  # the first fills come ~40 data minutes in: a few seconds; the session lasts ~40 s


def query(db: Path, sql: str) -> list[tuple]:
    """A read of the store another process is writing; an absent file or table reads as empty."""
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return []


def wait_until(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the cockpit exited ({proc.returncode}) before {what}: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def count(db: Path, sql: str) -> int:
    rows = query(db, sql)
    return rows[0][0] if rows else 0


def exit_line(db: Path) -> tuple[str, dict]:
    rows = query(db, "select message, data from journal where kind = 'engine' and message like 'exited%' "
                     "order by id desc limit 1")
    assert rows, "no exit line in the journal"
    return rows[0][0], json.loads(rows[0][1])


def check_store_after(db: Path, signame: str) -> tuple[int, int]:
    """The store is whole and its last word matches its own records; returns (positions, orders) left open."""
    assert query(db, "pragma integrity_check") == [("ok",)]
    message, data = exit_line(db)
    assert message.startswith(f"exited on {signame} ")
    npos, nord = len(data["positions"]), len(data["open_orders"])
    assert f"with {npos} position(s) and {nord} order(s) open" in message
    stored_open = {r[0] for r in query(db, f"select client_order_id from orders where status in {OPEN_STATUSES}")}
    assert stored_open == set(data["open_orders"])
    latest = query(db, "select p.symbol, p.qty from positions p join (select symbol, max(id) id from positions "
                       "group by symbol) l on p.id = l.id")
    assert {s: q for s, q in latest if q} == data["positions"]
    return npos, nord


def cockpit_args(db: Path, speed: str, mode: str) -> list[str]:
    return ["--feed", "synthetic", "--speed", speed, "--mode", mode, "--db", str(db)]


def start_headless(db: Path, speed: str, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cockpit", "run", "--headless", "--json", *cockpit_args(db, speed, mode)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_headless_stopped_with_exposure_journals_it_and_prints_the_summary(tmp_path, sig):
    db = tmp_path / "cockpit.db"
    proc = start_headless(db, EXPOSURE_SPEED, "AUTO")
    try:
        wait_until(lambda: count(db, "select count(*) from fills") >= 1, 120, "a stored fill", proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["stopped_by"] == sig.name
    npos, nord = check_store_after(db, sig.name)
    assert (summary["open_positions"], summary["open_orders"]) == (npos, nord)
    # every fill and order the run made reached the store
    assert count(db, "select count(*) from fills") == summary["fills"] >= 1
    assert count(db, "select count(*) from orders") == summary["orders"]


def test_headless_sigint_at_speed_1_also_prints_the_summary(tmp_path):
    db = tmp_path / "cockpit.db"
    proc = start_headless(db, "1", "SEMI")
    try:
        wait_until(lambda: count(db, "select count(*) from journal") >= 1, 60, "journal rows", proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert json.loads(out)["stopped_by"] == "SIGINT"
    assert check_store_after(db, "SIGINT") == (0, 0)
    message, _ = exit_line(db)
    assert message == "exited on SIGINT (interrupted) with 0 position(s) and 0 order(s) open"


# ---------------------------------------------------------------------- the UI on a terminal (tmux)

TMUX = shutil.which("tmux")


class Tmux:
    """A private tmux server (its own socket) running one command in a 120x40 window."""

    def __init__(self, tmp_path: Path, command: str) -> None:
        self.socket = f"cockpit-test-{os.getpid()}-{tmp_path.name}"
        self.command = command
        subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "cockpit",
                        "-x", "120", "-y", "40", command], check=True)

    def screen(self) -> str:
        r = subprocess.run([TMUX, "-L", self.socket, "capture-pane", "-p", "-t", "cockpit"],
                           capture_output=True, text=True)
        return r.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([TMUX, "-L", self.socket, "send-keys", "-t", "cockpit", *keys], check=True)

    def kill_session(self) -> None:
        """What a dropped SSH link does: the terminal goes away and the process gets SIGHUP."""
        subprocess.run([TMUX, "-L", self.socket, "kill-session", "-t", "cockpit"], capture_output=True)

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)


# The terminal's session leader, as a login shell is: it runs the cockpit in the
# foreground, passes a hang-up on to it (bash does the same for its jobs when the
# SSH link drops) and writes the cockpit's exit status to a file.
SESSION_LEADER = """
import signal, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
signal.signal(signal.SIGHUP, lambda *_: child.send_signal(signal.SIGHUP))
status = child.wait()
open(sys.argv[1], "w").write(str(status))
"""


def ui_command(tmp_path: Path, db: Path, speed: str, mode: str) -> tuple[str, Path]:
    status = tmp_path / "status"
    argv = [sys.executable, "-c", SESSION_LEADER, str(status),
            sys.executable, "-m", "cockpit", "run", *cockpit_args(db, speed, mode)]
    env = [f"HOME={tmp_path}", f"XDG_DATA_HOME={tmp_path}", f"XDG_CONFIG_HOME={tmp_path}"]
    return f"cd {shlex.quote(str(ROOT))} && exec env {' '.join(env)} {shlex.join(argv)}", status


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_ui_terminal_hangup_leaves_exposure_journaled(tmp_path):
    db = tmp_path / "cockpit.db"
    cmd, status = ui_command(tmp_path, db, EXPOSURE_SPEED, "AUTO")
    tmux = Tmux(tmp_path, cmd)
    try:
        wait_until(lambda: count(db, "select count(*) from fills") >= 1, 120, "a stored fill")
        tmux.kill_session()
        wait_until(lambda: status.exists() and status.read_text().strip() != "", 60, "the cockpit to exit")
    finally:
        tmux.close()
    assert status.read_text().strip() == str(128 + signal.SIGHUP)
    npos, nord = check_store_after(db, "SIGHUP")
    assert count(db, "select count(*) from fills") >= 1


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_ui_sigterm_stops_cleanly(tmp_path):
    db = tmp_path / "cockpit.db"
    cmd, status = ui_command(tmp_path, db, "1", "SEMI")
    tmux = Tmux(tmp_path, cmd)
    try:
        wait_until(lambda: "Day " in tmux.screen() and count(db, "select count(*) from journal") >= 1, 60,
                   "the cockpit on screen and its journal in the store")
        pid = int((db.parent / (db.name + ".lock")).read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: status.exists() and status.read_text().strip() != "", 60, "the cockpit to exit")
    finally:
        tmux.close()
    assert status.read_text().strip() == str(128 + signal.SIGTERM)
    assert check_store_after(db, "SIGTERM") == (0, 0)
