"""The `cockpit` command line: every subcommand is registered the same way (a
handler returning the exit code) and its closed choices are the config's Literals."""
import argparse
from typing import get_args

from cockpit.cli import build_parser, main
from engine.config import MODE_NAMES, FeedKind, Objective, SessionKind, ThemeName


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _choices(parser: argparse.ArgumentParser, flag: str):
    return next(a.choices for a in parser._actions if flag in a.option_strings)


def test_every_subcommand_has_a_handler():
    commands = _subparsers(build_parser())
    assert set(commands) == {"run", "bench", "analyze", "backtest", "sweep", "walkforward", "runs", "import", "doctor",
                             "config", "preview", "orders", "signals", "trades", "store"}
    leaves = dict(commands)
    for group in ("import", "config", "preview", "orders", "signals", "store"):
        leaves.update({f"{group} {k}": p for k, p in _subparsers(commands[group]).items()})
    del leaves["store"]  # `cockpit store` alone asks for one of its actions
    assert {"config effective", "preview bracket", "preview risk", "orders cancel-stale",
            "signals expectancy", "store status", "store upgrade", "store backup"} <= set(leaves)
    for name, parser in leaves.items():
        assert callable(parser.get_default("handler")), name


def test_choices_are_the_config_literals():
    commands = _subparsers(build_parser())
    assert tuple(_choices(commands["run"], "--feed")) == get_args(FeedKind)
    assert tuple(_choices(commands["run"], "--mode")) == MODE_NAMES
    assert tuple(_choices(commands["run"], "--theme")) == get_args(ThemeName)
    for name in ("run", "analyze", "backtest", "sweep", "walkforward"):
        assert tuple(_choices(commands[name], "--session")) == get_args(SessionKind), name
    for name in ("sweep", "walkforward"):
        assert tuple(_choices(commands[name], "--objective")) == get_args(Objective), name


def test_import_without_a_kind_prints_its_help_and_fails(capsys):
    assert main(["import"]) == 1
    assert "csv" in capsys.readouterr().out
