"""Issue 13: a whole `cockpit backtest` command is interpreter start, imports, the
data load and the run, so the command imports only what a backtest uses. A
backtest on the array path (the bars CSV the bench uses, --no-store --json)
loads no UI, no store, no network client, no asyncio and not the Engine; the
help texts do not depend on what was imported."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import write_bars_csv

ROOT = Path(__file__).resolve().parents[1]

NOT_FOR_A_BACKTEST = (
    "textual", "rich", "sqlalchemy", "sqlmodel", "alembic", "aiosqlite", "asyncpg", "prometheus_client", "limits",
    "httpx", "websockets", "alpaca", "polygon", "asyncio", "engine.engine", "engine.backtest.runner",
    "engine.brokers.paper", "engine.store", "cockpit.operations", "cockpit.app",
)


def run_py(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.fixture
def bars_csv(tmp_path, synthetic_cache):
    return write_bars_csv(tmp_path / "bars.csv", "BENCH", 3)


def test_an_array_path_backtest_imports_only_what_it_uses(bars_csv):
    args = ["backtest", "--data", str(bars_csv), "--symbols", "BENCH", "--setup", "sma_cross", "--qty", "100",
            "--no-store", "--json", "--path", "arrays"]
    code = (
        "import contextlib, io, json, sys\n"
        "from cockpit.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    rc = main({args!r})\n"
        f"bad = sorted(m for m in sys.modules if any(m == n or m.startswith(n + '.') for n in {NOT_FOR_A_BACKTEST!r}))\n"
        "print(json.dumps({'rc': rc, 'path': json.loads(out.getvalue())['path'], 'bad': bad}))\n"
    )
    got = json.loads(run_py(code).splitlines()[-1])
    assert got == {"rc": 0, "path": "arrays", "bad": []}


HELP = (
    "import argparse, os, sys\n"
    "os.environ['COLUMNS'] = '100'\n"
    "{pre}"
    "from cockpit.cli import build_parser\n"
    "def walk(p):\n"
    "    yield p.format_help()\n"
    "    for a in p._actions:\n"
    "        if isinstance(a, argparse._SubParsersAction):\n"
    "            for sp in a.choices.values():\n"
    "                yield from walk(sp)\n"
    "print('\\n'.join(walk(build_parser())))\n"
)


def test_help_texts_do_not_depend_on_what_was_imported():
    lazy = run_py(HELP.format(pre=""))
    eager = run_py(HELP.format(pre="import asyncio, rich, engine.feeds.loaders, engine.backtest.runner, "
                                   "cockpit.operations, cockpit.stop_signals\n"))
    assert lazy == eager
    assert lazy.count("usage: cockpit") > 20  # every command and subcommand
