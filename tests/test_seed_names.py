"""Issue 15: the seed systems' own names work. ``min_aggression_score`` in a
strategy_configs parameters JSON (and anywhere a strategy key is read), and the
seed bot's environment names as aliases of the risk keys."""
import asyncio

import pytest

from engine.config import ConfigError, StrategyParams, load_config
from engine.factory import build_engine
from engine.store import Store
from tests.factories import engine_config


def test_min_aggression_score_is_min_aggression():
    assert StrategyParams(min_aggression_score=60).min_aggression == 60
    # the seed's name is the one a stored JSON carries: it wins over the merged default
    assert StrategyParams(**{**StrategyParams().model_dump(), "min_aggression_score": 55}).min_aggression == 55
    cfg = load_config(None, overrides={"strategy": {"overrides": {"SPY": {"min_aggression_score": 65}}}}, env={})
    assert cfg.strategy.for_symbol("SPY").min_aggression == 65


def test_stored_strategy_config_with_the_seed_name_applies(tmp_path):
    async def go():
        db = tmp_path / "c.db"
        store = await Store.open(str(db))
        await store.set_strategy_config("SPY", True, {"min_aggression_score": 60})
        await store.close()
        eng = build_engine(engine_config("AUTO", app={"db": str(db)}))
        await eng.prepare()
        try:
            assert eng.params["SPY"].min_aggression == 60
            assert not any("strategy_configs for SPY ignored" in j.message for j in eng.journal)
            await eng.set_strategy_config("QQQ", True, {"min_aggression_score": 85})
            assert eng.params["QQQ"].min_aggression == 85
        finally:
            await eng.store.close()

    asyncio.run(go())


def test_seed_environment_names_are_aliases_of_the_risk_keys():
    env = {"MAX_POSITIONS": "5", "RISK_PER_TRADE_PCT": "0.25", "MAX_DAILY_LOSS_PCT": "3", "MIN_ACCOUNT_BALANCE": "25000"}
    risk = load_config(None, env=env).risk
    assert (risk.max_positions, risk.risk_per_trade_pct, risk.max_daily_loss_pct, risk.min_account_balance) == \
        (5, 0.25, 3.0, 25000.0)
    # the cockpit's own name wins when both are set
    assert load_config(None, env={"MAX_POSITIONS": "5", "COCKPIT_RISK__MAX_POSITIONS": "2"}).risk.max_positions == 2
    with pytest.raises(ConfigError, match=r"risk.max_positions = 0 is not valid"):
        load_config(None, env={"MAX_POSITIONS": "0"})


def test_the_aliases_are_listed_in_the_shipped_config():
    from pathlib import Path

    from engine.config import SEED_ENV_VARS

    text = (Path(__file__).resolve().parents[1] / "cockpit.toml").read_text()
    for name, key in SEED_ENV_VARS.items():
        assert f"{name} = {key}" in text
    assert "min_aggression_score" in text
