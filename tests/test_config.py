"""cockpit.toml: valid out of the box, documents every key, bad input named precisely."""
import pathlib
import subprocess
import sys
import tomllib

import pytest

from engine.config import CockpitConfig, ConfigError, load_config, parse_config
from engine.model import Mode

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid_and_overrides_apply():
    cfg = load_config(ROOT / "cockpit.toml", env={})
    assert cfg.app.mode is Mode.SEMI
    assert cfg.strategy.for_symbol("TSLA").atr_stop == 2.0
    assert cfg.strategy.for_symbol("SPY").atr_stop == 1.5


def test_shipped_config_documents_every_key():
    data = tomllib.loads((ROOT / "cockpit.toml").read_text())
    for section, field in CockpitConfig.model_fields.items():
        assert section in data, f"cockpit.toml lacks [{section}]"
        if not hasattr(field.annotation, "model_fields"):  # a table of the trader's names (execution_map)
            continue
        keys = set(field.annotation.model_fields) - {"overrides", "keys"}
        missing = keys - set(data.get(section, {}))
        assert not missing, f"[{section}] lacks {sorted(missing)}"


def test_unknown_key_names_the_closest_valid_one():
    with pytest.raises(ConfigError) as e:
        parse_config({"strategy": {"min_agression": 60}}, "cockpit.toml")
    msg = str(e.value)
    assert "strategy.min_agression" in msg and "did you mean 'strategy.min_aggression'" in msg


def test_bad_value_names_key_value_and_allowed():
    with pytest.raises(ConfigError) as e:
        parse_config({"app": {"mode": "FAST"}})
    assert "app.mode" in str(e.value) and "'FAST'" in str(e.value) and "AUTO" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_config({"risk": {"max_positions": 0}})
    assert "risk.max_positions = 0" in str(e.value) and "greater than or equal to 1" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_config({"strategy": {"setups": ["auction", "scalper"]}})
    assert "scalper" in str(e.value) and "mean_reversion" in str(e.value)


def test_precedence_cli_over_env_over_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[feed]\nspeed = 2.0\n[app]\nmode = "WATCH"\n')
    cfg = load_config(f, env={"COCKPIT_FEED__SPEED": "5"})
    assert cfg.feed.speed == 5.0 and cfg.app.mode is Mode.WATCH
    cfg = load_config(f, env={"COCKPIT_FEED__SPEED": "5"}, overrides={"feed": {"speed": 9}})
    assert cfg.feed.speed == 9.0


def test_bad_config_exits_with_status_2(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[risk]\nmax_daily_loss_pct = -3\n")
    exe = pathlib.Path(sys.executable).parent / "cockpit"
    r = subprocess.run([str(exe), "run", "--headless", "--config", str(f)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "risk.max_daily_loss_pct = -3" in r.stderr


def test_the_entry_window_is_the_sessions_own_unless_set():
    from engine.risk import RiskManager

    day = 1_718_208_000_000_000_000  # 2024-06-12 16:00 UTC = 12:00 ET
    hour = 3_600_000_000_000

    def blocked_at(cfg, ns):
        return RiskManager(cfg.risk, cfg.feed.session).entry_block(ns, _account(), 0.0)

    btc = load_config(None, overrides={"feed": {"session": "24h_utc"}}, env={})
    assert all(blocked_at(btc, day + h * hour) is None for h in range(24))  # the whole day, every hour
    stocks = load_config(None, env={})
    assert blocked_at(stocks, day) is None and blocked_at(stocks, day + 8 * hour) is not None  # 12:00 / 20:00 ET
    # an explicit window is in the session's time zone: 08:00-09:00 UTC for a UTC session
    utc = load_config(None, overrides={"feed": {"session": "24h_utc"},
                                       "risk": {"trading_start": "08:00", "trading_end": "09:00"}}, env={})
    assert blocked_at(utc, day - 8 * hour + 30 * 60_000_000_000) is None  # 08:30 UTC
    block = blocked_at(utc, day)
    assert block is not None and "08:00-09:00 UTC (now 16:00:00 UTC)" in block.reason
    with pytest.raises(ConfigError, match="set together"):
        load_config(None, overrides={"risk": {"trading_start": "08:00"}}, env={})


def _account():
    from engine.model import Account

    return Account(equity=100_000.0, cash=100_000.0, buying_power=200_000.0, start_of_day_equity=100_000.0)


def test_endpoint_urls_come_from_the_config_or_their_environment_names(tmp_path):
    assert load_config(None, env={}).endpoints.polygon_rest == ""
    f = tmp_path / "c.toml"
    f.write_text('[endpoints]\npolygon_rest = "http://127.0.0.1:9/file"\nalpaca_data = "http://127.0.0.1:9/data"\n')
    cfg = load_config(f, env={"COCKPIT_POLYGON_URL": "http://127.0.0.1:9/env", "COCKPIT_ALPACA_URL": ""})
    assert cfg.endpoints.polygon_rest == "http://127.0.0.1:9/env"  # the environment wins over the file
    assert cfg.endpoints.alpaca_data == "http://127.0.0.1:9/data"
    assert cfg.endpoints.alpaca_trading == ""  # an empty variable is no override
    cfg = load_config(None, env={"COCKPIT_POLYGON_URL": "http://a", "COCKPIT_ENDPOINTS__POLYGON_REST": "http://b"})
    assert cfg.endpoints.polygon_rest == "http://b"
    # keys are never configuration
    assert not any("key" in name for name in cfg.endpoints.model_fields)


@pytest.mark.parametrize("feed", [{"kind": "synthetic"}, {"kind": "replay", "file": "x.csv"}])
@pytest.mark.parametrize("broker", [{"kind": "paper", "live": True}, {"kind": "alpaca"}, {"kind": "alpaca", "live": True}])
def test_a_real_broker_refuses_a_simulated_or_replayed_feed(feed, broker):
    with pytest.raises(ConfigError, match=rf"feed.kind = '{feed['kind']}' with .*allowed with this broker: alpaca, polygon"):
        load_config(None, overrides={"feed": feed, "broker": broker}, env={})


def test_a_real_broker_refuses_another_markets_session():
    with pytest.raises(ConfigError, match="feed.session = '24h_utc' .*Alpaca trades US stocks"):
        load_config(None, overrides={"feed": {"kind": "polygon", "session": "24h_utc"},
                                     "broker": {"kind": "alpaca", "live": True}}, env={})
    ok = load_config(None, overrides={"feed": {"kind": "polygon"}, "broker": {"kind": "alpaca", "live": True}}, env={})
    assert ok.broker.live and ok.feed.kind == "polygon"


def test_cli_live_with_the_simulator_exits_2_naming_the_conflict():
    run = subprocess.run([sys.executable, "-m", "cockpit", "run", "--headless", "--feed", "synthetic", "--live"],
                         capture_output=True, text=True, timeout=120, input="")
    assert run.returncode == 2
    assert "feed.kind = 'synthetic' with a live account" in run.stderr and "Traceback" not in run.stderr
