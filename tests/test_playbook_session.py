"""The default seeded simulated session (seed 7, the default symbols) through the
real Engine with every setup switched on: each setup of STRATEGY.md 9 and 13
signals at least once (issue 15: the simulator shows every setup)."""
import asyncio

import pytest

from engine.config import SETUP_NAMES
from tests.factories import engine_config, run_session


@pytest.fixture(scope="module")
def every_setup_session():
    return asyncio.run(run_session(engine_config("WATCH", strategy={"setups": list(SETUP_NAMES)})))


def test_default_session_has_a_signal_of_every_setup(every_setup_session):
    by_setup = every_setup_session.summary()["signals_by_setup"]
    for name in SETUP_NAMES:
        assert sum(by_setup.get(name, {}).values()) >= 1, (name, by_setup)


def test_backtest_runs_several_playbook_setups_at_once(capsys):
    import json

    from cockpit.cli import main

    names = "ema_cross,vwap_reclaim,hod_failure,orb,trend_pullback"
    assert main(["backtest", "--data", "synthetic:SPY,QQQ:1:7", "--setup", names, "--no-store", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["setups"] == names.split(",")
    assert set(out["summary"]["signals_by_setup"]) <= set(names.split(","))
    assert len(out["summary"]["signals_by_setup"]) >= 3 and out["metrics"]["trades"] > 0
