"""Issue 13: the whole `cockpit backtest` command (imports, data load, run,
breakdown, output) made faster must print what it printed before. The expected
JSON (tests/data/backtest_sma_cross_arrays_20d.json) was printed by main 49eb38d
for the bench's command on 20 simulated sessions; regenerate it only for a change
meant to alter the result, and say so."""
from __future__ import annotations

import contextlib
import gc
import io
import json
import subprocess
import sys
from pathlib import Path

from cockpit import backtest_cli
from cockpit.cli import main
from tests.factories import write_bars_csv

EXPECTED = Path(__file__).parent / "data" / "backtest_sma_cross_arrays_20d.json"


def bench_csv(path: Path, days: int) -> Path:
    """The bench's data file (benchmarks/bench_backtest.py make_data), ``days`` sessions."""
    return write_bars_csv(path, "BENCH", days)


def bench_args(csv: Path, config: Path) -> list[str]:
    return ["backtest", "--data", str(csv), "--symbols", "BENCH", "--setup", "sma_cross", "--qty", "100",
            "--max-notional", "1e12", "--max-daily-loss", "100", "--initial-equity", "10000000",
            "--slippage-bps", "0", "--commission", "0", "--no-store", "--json", "--path", "arrays",
            "--config", str(config)]


def test_the_bench_command_prints_what_it_printed_before(tmp_path, synthetic_cache):
    config = tmp_path / "cockpit.toml"
    config.write_text("[risk]\nmax_consecutive_losses = 1000000\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(bench_args(bench_csv(tmp_path / "bench_bars.csv", 20), config)) == 0
    got = json.loads(out.getvalue())
    got.pop("elapsed_s")
    assert got == json.loads(EXPECTED.read_text())


def test_the_backtest_command_runs_with_the_collector_paused(monkeypatch):
    seen = []
    monkeypatch.setattr(backtest_cli, "_backtest", lambda args: seen.append(gc.isenabled()) or 0)
    assert gc.isenabled()
    assert backtest_cli.backtest_command(None) == 0
    assert seen == [False] and gc.isenabled()


def test_the_program_freezes_the_heap_when_done_a_command_in_process_does_not():
    code = ("import contextlib, gc, io, sys\n"
            "from cockpit.cli import main\n"
            "sys.argv = ['cockpit', 'runs', '--help']\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        main(['runs', '--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    in_process = gc.get_freeze_count()\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(in_process, gc.get_freeze_count() > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "True"]


def test_what_a_paused_span_kept_goes_to_the_old_generation_without_a_walk():
    """After paused_gc the young generation is empty: its survivors were handed to
    the old generation (freeze + unfreeze), so the next allocations start no
    collection that would walk them; nothing stays frozen."""
    from engine.backtest.gc_pause import paused_gc

    collections: list[int] = []
    seen = lambda phase, info: collections.append(info["generation"]) if phase == "start" else None  # noqa: E731
    gc.collect()
    try:
        with paused_gc():
            kept = [[i] for i in range(50_000)]
            gc.callbacks.append(seen)
        more = [[] for _ in range(100)]
    finally:
        gc.callbacks.remove(seen)
    assert collections == []
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert len(kept) == 50_000 and len(more) == 100
