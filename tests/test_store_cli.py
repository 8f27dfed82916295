"""`cockpit store status|upgrade|backup`: version, size, rows per table, integrity and
the backup, on the last release's store; status changes nothing; the config's store
URL is used when --db is not given (for these and for backtest results)."""
import json
import sqlite3

from cockpit import cli
from engine.store import schema
from tests.test_store_migrations import _orders_without_reason
from tests.test_store_upgrade import OLD_TABLES, _old_store, _rows, _tables

# the first line of 0003's docstring, as the status lists a pending migration
PENDING_0003 = "signals and orders keep the execution map's index prices and ratio; signals keep"


def _status(capsys, *args) -> tuple[int, dict]:
    code = cli.main(["store", "status", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_status_of_the_last_releases_store_says_it_needs_an_upgrade_and_changes_nothing(tmp_path, capsys):
    db = _old_store(tmp_path)
    before = _rows(db)
    code, report = _status(capsys, "--db", str(db))
    assert code == 0
    assert (report["version"], report["head"], report["state"]) == ("0001", schema.head(), "upgrade needed")
    assert report["rows"] == {t: len(before[t]) for t in OLD_TABLES}
    assert report["integrity"] == "ok" and report["size_bytes"] == db.stat().st_size
    assert report["backup"] == str(tmp_path / "old.v0001.db")
    assert report["pending"] == ["0002 (sim_sessions: each start of a simulated session (engine/sim_resume.py))",
                                 f"0003 ({PENDING_0003})"]
    assert _rows(db) == before and "alembic_version" not in _tables(db)  # nothing stamped, nothing made
    assert not (tmp_path / "old.v0001.db").exists()


def test_status_in_words(tmp_path, capsys):
    db = _old_store(tmp_path)
    assert cli.main(["store", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"store      {db} (sqlite)\n" in out
    assert f"schema     0001; newest {schema.head()}: upgrade needed\n" in out
    assert f"backup     {tmp_path / 'old.v0001.db'} (an upgrade makes it first)\n" in out
    assert "  orders" in out and "integrity  ok\n" in out
    assert "to run     0002 (sim_sessions: each start of a simulated session (engine/sim_resume.py))\n" in out
    assert f"0003 ({PENDING_0003})" in out


def test_upgrade_backs_up_then_upgrades_once(tmp_path, capsys):
    db = _old_store(tmp_path)
    before = _rows(db)
    assert cli.main(["store", "upgrade", "--db", str(db)]) == 0
    assert capsys.readouterr().out == (f"store upgraded from schema 0001 to {schema.head()}; the store as it was is "
                                       f"at {tmp_path / 'old.v0001.db'}\n")
    assert _rows(tmp_path / "old.v0001.db") == before and _rows(db) == before
    assert cli.main(["store", "upgrade", "--db", str(db)]) == 0
    assert "the newest: nothing to do" in capsys.readouterr().out
    code, report = _status(capsys, "--db", str(db))
    assert (report["version"], report["state"], report["rows"]["sim_sessions"]) == (schema.head(), "current", 0)


def test_backup_is_named_with_the_version_and_never_overwrites(tmp_path, capsys):
    db = _old_store(tmp_path)
    assert cli.main(["store", "backup", "--db", str(db)]) == 0
    assert cli.main(["store", "backup", "--db", str(db)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"backed up to {tmp_path / 'old.v0001.db'}",
                                                    f"backed up to {tmp_path / 'old.v0001.2.db'}"]
    assert _rows(tmp_path / "old.v0001.2.db") == _rows(db)


def test_a_refused_store_is_reported_with_exit_2(tmp_path, capsys):
    db = tmp_path / "odd.db"
    _orders_without_reason(db)
    code, report = _status(capsys, "--db", str(db))
    assert code == 2 and report["state"] == "refused" and "orders lacks column reason" in report["refused"]
    assert cli.main(["store", "upgrade", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches no version" in err


def test_a_missing_store_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["store", "status", "--db", str(tmp_path / "none.db")]) == 2
    assert capsys.readouterr().err == f"cockpit: store: no store at {tmp_path / 'none.db'}: give --db the store's " \
                                      "file or URL\n"
    assert not (tmp_path / "none.db").exists()


def test_the_configs_store_url_is_used_without_db(tmp_path, capsys, monkeypatch):
    db = _old_store(tmp_path)
    runs_before = len(_rows(db)["runs"])
    monkeypatch.setenv("COCKPIT_APP__DB", str(db))
    code, report = _status(capsys)
    assert code == 0 and report["store"] == str(db)
    # backtest results go to the same store
    assert cli.main(["backtest", "--data", "synthetic:SPY:1:7", "--json", "--no-chart"]) == 0
    capsys.readouterr()
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM runs ").fetchone()[0] == runs_before + 1
    finally:
        con.close()


def test_on_postgresql_a_headless_run_backtest_and_runs_use_the_database(pg_url, capsys):
    """--db postgresql://...: the whole headless session recorded, a backtest's result saved
    and listed, the status read, all in the one database."""
    code = cli.main(["run", "--headless", "--feed", "synthetic", "--speed", "max", "--mode", "auto", "--seed", "8",
                     "--symbols", "SPY,TSLA", "--json", "--db", pg_url])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0, err
    assert summary["rows_not_recorded"] == 0 and summary["orders"] > 0 and summary["fills"] > 0
    assert cli.main(["backtest", "--data", "synthetic:SPY:1:7", "--json", "--no-chart", "--db", pg_url]) == 0
    capsys.readouterr()
    assert cli.main(["runs", "--json", "--db", pg_url]) == 0
    assert [r["kind"] for r in json.loads(capsys.readouterr().out)] == ["backtest"]
    code, report = _status(capsys, "--db", pg_url)
    assert code == 0 and (report["backend"], report["version"], report["state"]) == ("postgresql", schema.head(),
                                                                                     "current")
    assert report["rows"]["orders"] == summary["orders"] and report["rows"]["fills"] == summary["fills"]
    assert report["rows"]["signals"] == summary["signals_total"] and report["rows"]["runs"] == 1
    assert cli.main(["store", "backup", "--db", pg_url]) == 2  # a server store: its own tools
    assert "pg_dump" in capsys.readouterr().err


def test_a_server_that_cannot_be_reached_is_one_line_without_the_password(capsys):
    url = "postgresql://trader:s3cret-pw@127.0.0.1:1/cockpit"  # nothing listens on port 1
    for args in (["store", "status", "--db", url], ["store", "upgrade", "--db", url], ["runs", "--db", url]):
        assert cli.main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "s3cret" not in err and "Traceback" not in err, err
        assert "trader:***@127.0.0.1:1/cockpit" in err, err
