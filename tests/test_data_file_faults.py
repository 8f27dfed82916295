"""Bad data files (issue 12 item 8): the loader reads timestamps exactly, drops
only the rows that are out of time order (never the good rows after one bad row),
reports every dropped row with its line number, the drops reach the journal and
every summary, and an empty, binary or Latin-1 file is one clear error line and
exit status 2 from each command that reads data files."""
from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from cockpit.cli import main as cockpit_main
from engine.feeds.loaders import DataFileError, iso_to_ns, load, longest_in_order, parse_text
from engine.feeds.notices import malformed_count
from engine.feeds.replay import JOURNALED_ROWS, ReplayFeed

HERE = Path(__file__).resolve().parent / "data"
FAULTS = HERE / "faults"
Y2100_NS = 4_102_444_800_000_000_000  # 2100-01-01 00:00 UTC
NAT = -9_223_372_036_854_775_808


def _with_cells(path: Path, changes: dict[int, str]) -> str:
    """The file's text with the timestamp cell of some (1-based file) lines replaced."""
    lines = path.read_text().splitlines()
    for line, ts in changes.items():
        cells = lines[line - 1].split(",")
        cells[0] = ts
        lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- time order


def test_one_far_future_row_is_the_only_row_dropped_real_file(shared_data):
    """The issue's case: a year-2100 row at line 1001 of the ESH4 trades took the
    1,972 rows after it; now it alone goes."""
    path = shared_data("esh4_20231225_trades.csv")
    clean = load(path)
    data = parse_text(_with_cells(path, {1001: str(Y2100_NS)}), "esh4.csv")
    assert len(data) == len(clean) - 1 == 2971
    assert data.malformed.count == 1
    (line, reason), = data.malformed.rows
    assert line == 1001 and str(Y2100_NS) in reason and "out of time order" in reason
    keep = np.ones(len(clean), dtype=bool)
    keep[999] = False
    assert np.array_equal(data.ts_ns, clean.ts_ns[keep]) and np.array_equal(data.price, clean.price[keep])


def test_far_future_and_far_past_rows_are_dropped_alone():
    data = load(FAULTS / "trades_far_future.csv")  # line 51 says 2100
    assert len(data) == 199 and [ln for ln, _ in data.malformed.rows] == [51]
    text = _with_cells(HERE / "btc_slice_trades.csv", {3: "1000", 100: "5"})  # the second row, and one mid-file
    data = parse_text(text)
    assert len(data) == 198 and [ln for ln, _ in data.malformed.rows] == [3, 100]
    # a first or last row is judged by order alone: in order, it stays however far it is
    assert len(parse_text(_with_cells(HERE / "btc_slice_trades.csv", {201: str(Y2100_NS)}))) == 200


@pytest.mark.parametrize("stamps,kept", [
    ([1000, 500, 7000], [1000, 7000]),  # a tie: the earlier row of the file stays
    ([1, 2, 3, 10, 11, 4, 5, 6], [1, 2, 3, 4, 5, 6]),  # two rows ahead of their time
    ([1, 2, 3, 0, 4], [1, 2, 3, 4]),
    ([9, 1, 2, 3], [1, 2, 3]),
    ([1, 1, 0, 1, 2], [1, 1, 1, 2]),  # equal times are in order
])
def test_the_fewest_rows_are_dropped(stamps, kept):
    text = "ts_ns,price,size\n" + "".join(f"{t},1.0,1\n" for t in stamps)
    data = parse_text(text)
    assert data.ts_ns.tolist() == kept
    assert data.malformed.count == len(stamps) - len(kept)


def test_longest_in_order_is_the_longest_and_the_earliest_rows():
    """Against every subset, on random short sequences: the longest non-decreasing
    subsequence, and of those the one taking the earliest positions."""
    rng = random.Random(12)
    for _ in range(2000):
        a = [rng.randint(0, 5) for _ in range(rng.randint(0, 8))]
        best: tuple = ()
        for r in range(len(a), 0, -1):
            runs = [c for c in itertools.combinations(range(len(a)), r)
                    if all(a[c[j]] <= a[c[j + 1]] for j in range(r - 1))]
            if runs:
                best = min(runs)
                break
        assert tuple(longest_in_order(a)) == best, a


# --------------------------------------------------------------------------- exact timestamps


def test_a_non_integer_timestamp_fails_its_row_and_moves_no_other(shared_data):
    """The issue's case: one "….5" cell sent the ESH4 column through float64 and
    2,833 distinct timestamps became 2,805."""
    path = shared_data("esh4_20231225_trades.csv")
    clean = load(path)
    assert len(np.unique(clean.ts_ns)) == 2833
    first = path.read_text().splitlines()[1000].split(",")[0]
    data = parse_text(_with_cells(path, {1001: first + ".5"}), "esh4.csv")
    (line, reason), = data.malformed.rows
    assert line == 1001 and "is not an integer number of nanoseconds" in reason
    keep = np.ones(len(clean), dtype=bool)
    keep[999] = False
    assert np.array_equal(data.ts_ns, clean.ts_ns[keep])  # every other timestamp to the nanosecond


def test_bad_timestamp_cells_are_named_never_as_int64_min():
    data = load(FAULTS / "trades_bad_stamps.csv")
    reasons = dict(data.malformed.rows)
    assert sorted(reasons) == [11, 21, 31, 41]
    assert "'1723161256681000000.5' is not an integer number of nanoseconds" in reasons[11]
    assert "'nan' is not a number" in reasons[21]
    assert "out of time order" in reasons[31] and "out of time order" in reasons[41]
    assert not any(str(NAT) in r for r in reasons.values())
    clean = load(HERE / "btc_slice_trades.csv")
    keep = np.ones(200, dtype=bool)
    keep[[9, 19, 29, 39]] = False
    assert np.array_equal(data.ts_ns, clean.ts_ns[keep])


def test_numeric_and_iso_timestamps_are_exact_to_the_nanosecond():
    text = ("timestamp,open,high,low,close,volume\n"
            "1704205800.5,1,2,0.5,1.5,3\n"
            "1704205860.123456789,1,2,0.5,1.5,3\n"
            "1704205920.1234567891,1,2,0.5,1.5,3\n")  # finer than a nanosecond: fails
    data = parse_text(text)
    assert data.ts_ns.tolist() == [1704205800_500000000, 1704205860_123456789]
    assert "not a whole number of nanoseconds" in dict(data.malformed.rows)[4]
    # integer nanoseconds above 2**53 in a bars time column (a double would move them)
    text = ("timestamp,open,high,low,close,volume\n"
            "1704205800000000001,1,2,0.5,1.5,3\n1704205860000000003,1,2,0.5,1.5,3\n")
    assert parse_text(text).ts_ns.tolist() == [1704205800000000001, 1704205860000000003]
    assert iso_to_ns("2024-01-02T09:30:00.123456789-05:00") == 1704205800_123456789
    text = ("timestamp_utc,open,high,low,close,volume\n"
            "2024-01-02 14:30:00.000000001,1,2,0.5,1.5,3\n"
            "NaT,1,2,0.5,1.5,3\n"
            ",1,2,0.5,1.5,3\n"
            "2300-01-01 00:00:00,1,2,0.5,1.5,3\n"   # numpy would wrap this year around
            "2024-02-30 00:00:00,1,2,0.5,1.5,3\n"
            "2024-01-02 14:31:00,1,2,0.5,1.5,3\n")
    data = parse_text(text)
    assert data.ts_ns.tolist() == [1704205800_000000001, 1704205860_000000000]
    reasons = dict(data.malformed.rows)
    assert sorted(reasons) == [3, 4, 5, 6]
    assert "empty" in reasons[4] and "range" in reasons[5] and "real date" in reasons[6]


# --------------------------------------------------------------------------- files that are not CSV text


@pytest.mark.parametrize("name,problem", [
    ("empty.csv", "empty file"),
    ("binary.csv", "binary file"),
    ("latin1.csv", "not UTF-8 text (byte 0xe9 on line 3"),
    ("header_only.csv", "no data rows"),
])
def test_unreadable_files_are_one_clear_error(name, problem):
    path = FAULTS / name
    with pytest.raises(DataFileError) as err:
        load(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and problem in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["empty.csv", "binary.csv", "latin1.csv"])
@pytest.mark.parametrize("command", [
    ["run", "--headless", "--feed", "replay", "--no-store", "--speed", "max", "--file"],
    ["run", "--feed", "replay", "--no-store", "--file"],  # the UI is never started
    ["backtest", "--no-store", "--data"],
    ["analyze"],
])
def test_cli_says_one_line_and_exits_2(name, command, capsys):
    path = FAULTS / name
    assert cockpit_main([*command, str(path)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cockpit: {path}: ") and "Traceback" not in err
    assert out == ""


# --------------------------------------------------------------------------- every drop reported and counted


def test_headless_replay_summary_counts_the_rows_the_loader_dropped(capsys):
    path = FAULTS / "trades_bad_stamps.csv"
    code = cockpit_main(["run", "--headless", "--feed", "replay", "--file", str(path), "--no-store",
                         "--speed", "max", "--session", "24h_utc", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["malformed"] == 4


async def test_replay_journals_every_dropped_row_with_its_line():
    feed = ReplayFeed(FAULTS / "trades_bad_stamps.csv", "BTCUSDT", speed=0)
    notes = feed.drain_notices()
    assert [n.data["line"] for n in notes] == [11, 21, 31, 41]
    assert all(n.kind == "malformed" and n.symbol == "BTCUSDT" for n in notes)
    assert "line 21: ts_ns 'nan' is not a number" in notes[1].message
    assert sum(malformed_count(n) for n in notes) == 4
    assert feed.drain_notices() == []  # once


def test_replay_journals_the_first_rows_one_by_one_and_the_rest_in_one_entry():
    n_bad = JOURNALED_ROWS + 37
    text = "ts_ns,price,size\n" + "".join(f"{i},oops,1\n" for i in range(n_bad)) + "1000000,1.0,1\n"
    feed = ReplayFeed(parse_text(text, "many.csv"), "X", speed=0)
    notes = feed.drain_notices()
    assert len(notes) == JOURNALED_ROWS + 1
    assert [n.data["line"] for n in notes[:-1]] == list(range(2, JOURNALED_ROWS + 2))
    assert notes[-1].data["count"] == 37 and "137 skipped in all" in notes[-1].message
    assert "cockpit analyze many.csv --json" in notes[-1].message
    assert sum(malformed_count(n) for n in notes) == n_bad


def test_backtest_report_counts_the_rows_the_loader_dropped(capsys):
    path = FAULTS / "trades_bad_stamps.csv"
    code = cockpit_main(["backtest", "--data", str(path), "--symbols", "BTCUSDT", "--session", "24h_utc",
                         "--no-store", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["malformed_rows"] == 4
    assert out["summary"]["malformed"] == 4


def test_analyze_json_lists_every_dropped_row(capsys):
    assert cockpit_main(["analyze", str(FAULTS / "trades_bad_stamps.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["malformed_rows"] == 4
    assert [m["line"] for m in out["malformed"]] == [11, 21, 31, 41]
