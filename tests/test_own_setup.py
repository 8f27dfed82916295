"""A trader's own setup (issue 15): the README's 20-line example loads from a file
(--setup-file / [strategy.plugins]) and trades in a backtest; a setup that raises
is disabled for its symbol with the traceback journaled, and the engine goes on;
bad plugin files are named."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cockpit.cli import main
from engine.backtest.data import load_dataset
from engine.backtest.runner import BacktestRun, backtest_config
from engine.config import ConfigError
from engine.strategy.plugins import load_setup_file, plugins_of_files

ROOT = Path(__file__).resolve().parents[1]

RAISES = '''
from engine.strategy.base import Side, build_signal


class Fragile:
    name = "fragile"
    needs = frozenset()

    def __init__(self, symbol, params):
        self.symbol, self.n = symbol, 0

    def on_bar(self, snap, now_ns):
        self.n += 1
        if self.n == 30:
            raise ZeroDivisionError("my bug")
        return None
'''


def readme_example(tmp_path: Path) -> Path:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"### Your own setup.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 20
    path = tmp_path / "three_up.py"
    path.write_text(code)
    return path


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(["synthetic:SPY,QQQ:2:7"], None, None, None, False, None)


def test_the_readme_example_loads_and_trades_in_a_backtest(tmp_path, dataset):
    plugins = plugins_of_files([str(readme_example(tmp_path))])
    assert list(plugins) == ["three_up"]
    cfg = backtest_config(None, dataset.symbols, setup="three_up,auction", strategy={"plugins": plugins})
    res = BacktestRun(cfg, dataset).run(None)
    by_setup = res.summary["signals_by_setup"]
    assert sum(by_setup["three_up"].values()) > 0 and by_setup["three_up"].get("auto", 0) > 0, by_setup
    assert any(t.setup == "three_up" for t in res.trades)


def test_setup_file_on_the_command_line(tmp_path, capsys):
    path = readme_example(tmp_path)
    code = main(["backtest", "--data", "synthetic:SPY:1:7", "--setup-file", str(path), "--no-store", "--json",
                 "--no-chart"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["setups"] == ["three_up"] and "three_up" in out["summary"]["signals_by_setup"]


def test_a_setup_that_raises_is_disabled_and_journaled_and_the_engine_goes_on(tmp_path, dataset):
    path = tmp_path / "fragile.py"
    path.write_text(RAISES)
    cfg = backtest_config(None, dataset.symbols, setup="fragile,auction", strategy={"plugins": {"fragile": str(path)}})
    run = BacktestRun(cfg, dataset)
    res = run.run(None)
    eng = run.engine
    errors = [j for j in eng.journal if j.kind == "setup"]
    assert {j.symbol for j in errors} == {"SPY", "QQQ"}  # once per symbol, then disabled
    assert "setup fragile on SPY raised ZeroDivisionError: my bug (at " in errors[0].message
    assert "the engine goes on" in errors[0].message
    assert "ZeroDivisionError: my bug" in errors[0].data["traceback"] and "fragile.py" in errors[0].data["traceback"]
    assert all([s.name for s in eng.setups[sym]] == ["auction"] for sym in dataset.symbols)
    assert res.summary["signals_by_setup"].get("auction")  # the other setup kept trading to the end
    assert res.bars == 2 * 2 * 390  # every bar of both days of both symbols went through


def test_bad_plugin_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_setup_file(str(tmp_path / "nope.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"empty.py defines no setup: a class with a `name`"):
        load_setup_file(str(empty))
    broken = tmp_path / "broken.py"
    broken.write_text("import nothing_of_that_name\n")
    with pytest.raises(ConfigError, match=r"broken.py does not import: ModuleNotFoundError"):
        load_setup_file(str(broken))
    fragile = tmp_path / "fragile.py"
    fragile.write_text(RAISES)
    from engine.strategy.registry import register_plugins

    with pytest.raises(ConfigError, match=r"strategy.plugins.other: .*fragile.py defines fragile, not 'other'"):
        register_plugins({"other": str(fragile)})
    with pytest.raises(ConfigError, match=r"plugin setup name 'orb' is a built-in setup's name"):
        backtest_config(None, ["SPY"], strategy={"plugins": {"orb": str(fragile)}})


def test_a_sweep_worker_imports_the_setup_file_itself(tmp_path, dataset):
    from engine.backtest import sweep
    from engine.strategy import registry

    plugins = plugins_of_files([str(readme_example(tmp_path))])
    base = backtest_config(None, dataset.symbols, setup="three_up", strategy={"plugins": plugins})
    registry.PLUGINS.clear()  # a fresh worker process knows only the built-in setups
    spy = load_dataset(["synthetic:SPY:2:7"], None, None, None, False, None)
    rows = sweep.run_task(base.model_dump(mode="json"), "SPY", spy, [(0, {"atr_stop": 1.0})])
    assert rows[0].signals > 0 and "three_up" in registry.PLUGINS
