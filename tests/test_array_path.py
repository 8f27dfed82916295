"""The array path is a gate, not a hope: hypothesis draws configurations (seeds,
setups -- sma_cross and auction --, their parameters, every risk, exit, cost and session option the array path
supports) and runs them on the array path and through the Engine, on generated
bars (gaps, opening jumps, bars outside RTH, a DST change) and on both shared
bar files. The two must agree exactly: trades field by field, equity samples,
daily equity, metrics, summary (engine.backtest.paths.first_difference)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.analytics.session import SessionCalendar
from engine.backtest.arrays import run_arrays, unsupported
from engine.backtest.data import Dataset, load_dataset
from engine.backtest.paths import ParityError, first_difference, run_on_path
from engine.backtest.runner import backtest_config, run_backtest
from engine.config import load_config
from engine.feeds.loaders import BarsArrays
from engine.model import NS_PER_MIN

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def make_bars(seed: int, session: str, days: int, gap_p: float, jump_p: float, extended: bool,
              wick: float = 0.001, spike_p: float = 0.0) -> BarsArrays:
    """A seeded random walk of one-minute bars: whole RTH days of a stock (from the
    Thursday before the 2024 DST change; with ``extended``, half an hour either side
    of RTH too) or whole UTC days; bars dropped with ``gap_p``; opens jumping up to
    3% with ``jump_p``; wicks of about ``wick``, and with ``spike_p`` a bar ten
    times as wide (one that touches a stop and a target together)."""
    rng = np.random.default_rng(seed)
    cal = SessionCalendar(session)
    minutes: list[int] = []
    d = date(2024, 3, 7)
    while len({m // 86_400_000_000_000 for m in minutes}) < days:
        if session == "us_equity":
            rth = cal.rth_bounds(d)
            if rth is not None:
                lo, hi = (rth[0] - 30 * NS_PER_MIN, rth[1] + 30 * NS_PER_MIN) if extended else rth
                minutes.extend(range(lo, hi, NS_PER_MIN))
        else:
            start = int(np.datetime64(d.isoformat(), "ns").astype(np.int64))
            minutes.extend(range(start, start + 1440 * NS_PER_MIN, NS_PER_MIN))
        d += timedelta(days=1)
    ts = np.asarray(minutes, dtype=np.int64)
    ts = ts[rng.random(len(ts)) >= gap_p]
    n = len(ts)
    ret = rng.normal(0.0, 0.0015, n)
    jump = np.where(rng.random(n) < jump_p, rng.uniform(-0.03, 0.03, n), 0.0)
    close = 100.0 * np.exp(np.cumsum(ret + jump))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(jump)
    wick = np.abs(rng.normal(0.0, wick, (2, n))) * np.where(rng.random(n) < spike_p, 10.0, 1.0)
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = rng.integers(0, 5000, n).astype(float)
    return BarsArrays(ts, open_, high, low, close, volume, source=f"test:{seed}")


# the options each configuration picks from (every one the array path supports); the
# permissive values come more often, so most runs trade enough to exercise the fills
OPTIONS = {
    "flat_before_close_min": [0.0, 5.0, 17.5, 60.0, 180.0],
    "trade_timeout_min": [0.0, 0.0, 0.0, 1.0, 7.0, 45.0],
    "window": [("", "")] * 4 + [("10:00", "15:00"), ("09:30", "09:45"), ("00:00", "23:59"), ("13:00", "23:00")],
    "fixed_qty": [0, 0, 1, 100, 5000],
    "max_position_notional": [1e3, 5e4, 5e4, 1e12],
    "max_daily_loss_pct": [0.05, 0.5, 2.0, 100.0, 100.0, 100.0],
    "max_consecutive_losses": [1, 3, 4, 1_000_000, 1_000_000],
    "min_reward_risk": [0.0, 0.0, 0.0, 1.0, 1.5],
    "min_account_balance": [0.0, 2000.0, 2000.0, 2000.0, 2000.0, 99_900.0],
    "deny_symbols": [[]] * 15 + [["SYM"]],
    "initial_equity": [5_000.0, 100_000.0, 1e7],
    "slippage_bps": [0.0, 1.0, 7.5],
    "commission_per_share": [0.0, 0.005, 0.5],
    "margin_multiplier": [1.0, 2.0, 4.0],
    # the exit rules beyond the bracket (engine/exits.py): a partial exit with break-even, the ATR trail
    "target1_r": [0.0, 0.0, 0.3, 0.8, 1.5],
    "partial_fraction": [0.5, 0.25, 0.9],
    "trail_activate_r": [0.0, 0.0, 0.2, 0.7, 2.0],
    "trail_atr": [1.0, 0.25, 3.0],
    # the stop modes (engine/stops.py) and what comes with them
    "stop_mode": ["atr"] * 5 + ["pct", "dollars"],
    "stop_pct": [0.0, 0.0, 0.0, 0.002, 0.01],
    "tp_pct": [0.0, 0.0, 0.0, 0.004, 0.02],
    "r_dollars": [0.001, 0.003, 0.01],  # a fraction of the data's first price (config_for scales it)
    "qty": [0, 0, 0, 1, 50],
    "trail_pct": [0.0, 0.0, 0.0, 0.002, 0.01],
    "trail_activate_pct": [0.0, 0.001, 0.005],
    "atr_targets": [(0.0, 0.0)] * 3 + [(0.5, 0.0), (0.0, 2.0), (0.7, 2.5), (1.0, 4.0)],
    "partial_pct": [0.5, 0.3],
    # the entry order (engine.entry_type, limit_timeout_s): a limit at the signal's price that
    # expires, before a bar can fill it, once the bar's end reaches its submit time plus the timeout
    "entry": [("market", 30.0)] * 4 + [("limit", 30.0), ("limit", 90.0), ("limit", 120.0), ("limit", 600.0)],
    # the session policy tables (ET): recommended setups (what enforce_policy keeps) or trading
    # policies (windows with setups, which replace the trading window, some with their own risk)
    "policy": [None] * 4 + [
        [{"start": "09:30", "end": "12:00", "setup": "sma_cross"}, {"start": "12:00", "end": "16:00", "setup": "auction"}],
        [{"start": "09:30", "end": "11:00", "setups": ["sma_cross", "auction"], "risk_per_trade_pct": 0.3},
         {"start": "11:00", "end": "13:30", "setups": ["auction"]},
         {"start": "14:00", "end": "16:00", "setups": ["sma_cross"], "risk_per_trade_pct": 2.0}],
        [{"start": "00:00", "end": "12:00", "setups": ["sma_cross"]},
         {"start": "12:00", "end": "23:59", "setups": ["sma_cross", "auction"], "risk_per_trade_pct": 1.0}],
    ],
    "policy_24h": [None, [{"start": "00:00", "end": "10:00", "setup": "sma_cross"},
                          {"start": "10:00", "end": "24:00", "setup": "auction"}]],
    "enforce_policy": [False] * 3 + [True],
    # the cash floor and power-hour gating (risk)
    "min_cash": [0.0] * 3 + [1000.0, 90_000.0],
    "power_hour_symbols": [[]] * 4 + [["SYM"], ["sym", "OTHER"]],
    "power_hour_start": ["15:00", "10:30"],
}


def pick_configuration(rng: np.random.Generator, sma_period: int, atr_period: int, atr_stop: float,
                       atr_target: float, risk_pct: float) -> tuple[dict, dict, dict]:
    pick = {k: v[int(rng.integers(len(v)))] for k, v in OPTIONS.items()}
    strategy = {"sma_period": sma_period, "atr_period": atr_period, "atr_stop": atr_stop, "atr_target": atr_target,
                "flat_before_close_min": pick["flat_before_close_min"], "trade_timeout_min": pick["trade_timeout_min"],
                **{k: pick[k] for k in ("target1_r", "partial_fraction", "trail_activate_r", "trail_atr", "stop_mode",
                                        "stop_pct", "tp_pct", "qty", "trail_pct", "trail_activate_pct",
                                        "partial_pct")},
                "target1_atr": pick["atr_targets"][0], "target2_atr": pick["atr_targets"][1],
                "r_dollars": pick["r_dollars"] if pick["stop_mode"] == "dollars" else 0.0,
                "_config": {"engine": {"entry_type": pick["entry"][0], "limit_timeout_s": pick["entry"][1]},
                            "sessions": {"enforce_policy": pick["enforce_policy"],
                                         **{k: pick[k] for k in ("policy", "policy_24h") if pick[k] is not None}}},
                # the auction setup's own
                "setups": [str(rng.choice(["sma_cross", "auction"]))],
                "min_aggression": float(rng.choice([30.0, 50.0, 70.0])),
                "allow_balance_trades": bool(rng.integers(2)),
                "balance_min_aggression": float(rng.choice([40.0, 80.0]))}
    if pick["stop_mode"] == "pct":  # it needs both
        strategy["stop_pct"] = strategy["stop_pct"] or 0.004
        strategy["tp_pct"] = strategy["tp_pct"] or 0.008
    risk = {k: pick[k] for k in ("fixed_qty", "max_position_notional", "max_daily_loss_pct", "max_consecutive_losses",
                                 "min_reward_risk", "min_account_balance", "deny_symbols", "min_cash",
                                 "power_hour_symbols", "power_hour_start")}
    risk.update(risk_per_trade_pct=risk_pct, trading_start=pick["window"][0], trading_end=pick["window"][1])
    broker = {k: pick[k] for k in ("initial_equity", "slippage_bps", "commission_per_share", "margin_multiplier")}
    return strategy, risk, broker


@st.composite
def configurations(draw, session: str):
    """The setup's numbers drawn by hypothesis; the options picked uniformly by a
    drawn seed (hypothesis favours the first entry of a ``sampled_from`` and
    explores near the examples it has, which left whole rules unexercised)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return pick_configuration(rng, draw(st.integers(2, 30)), draw(st.integers(1, 20)), draw(st.floats(0.2, 3.0)),
                              draw(st.floats(0.2, 5.0)), draw(st.floats(0.05, 5.0)))


def config_for(symbols, session, strategy, risk, broker, price: float = 100.0):
    """The run's config; ``strategy["setups"]`` names the setup (sma_cross or auction);
    ``r_dollars`` is drawn as a fraction of ``price``, the data's first price."""
    strategy = {**strategy, "r_dollars": strategy.get("r_dollars", 0.0) * price}
    sections = strategy.pop("_config", None)  # [engine] entry orders, [sessions] policies
    base = load_config(None, overrides=sections, env={}) if sections else None
    return backtest_config(base, symbols, session=session, strategy=strategy, risk=risk, broker=broker)


def assert_same(cfg, ds) -> None:
    why = unsupported(cfg, ds)
    assert why == "", why
    diff = first_difference(run_arrays(cfg, ds), run_backtest(cfg, ds))
    assert diff == "", diff


@SETTINGS
@given(seed=st.integers(0, 2**31), session=st.sampled_from(["us_equity", "24h_utc"]),
       days=st.integers(1, 4), gap_p=st.sampled_from([0.0, 0.02, 0.3]), jump_p=st.sampled_from([0.0, 0.01]),
       extended=st.booleans(), wick=st.sampled_from([0.0003, 0.001, 0.004]),
       spike_p=st.sampled_from([0.0, 0.05, 0.2]), data=st.data())
def test_array_path_equals_engine_on_generated_bars(seed, session, days, gap_p, jump_p, extended, wick, spike_p,
                                                    data):
    if session == "24h_utc":
        days = min(days, 2)
    bars = make_bars(seed, session, days, gap_p, jump_p, extended, wick, spike_p)
    assume(len(bars) > 30)
    strategy, risk, broker = data.draw(configurations(session))
    if session == "24h_utc" and risk["trading_start"] == "09:30":
        risk["trading_start"], risk["trading_end"] = "", ""
    ds = Dataset("bars", {"SYM": bars}, "generated")
    assert_same(config_for(["SYM"], session, strategy, risk, broker), ds)


@pytest.mark.parametrize("seed", range(24))
def test_array_path_equals_engine_on_seeded_cases(seed):
    """Cases drawn from a plain RNG as well: spread evenly over the options, whatever hypothesis explores."""
    rng = np.random.default_rng(seed)
    session = ["us_equity", "24h_utc"][seed % 2]
    bars = make_bars(seed, session, 3 if session == "us_equity" else 1, float(rng.choice([0.0, 0.02, 0.3])),
                     float(rng.choice([0.0, 0.01])), bool(seed % 3 == 0), float(rng.choice([0.0003, 0.001, 0.004])),
                     float(rng.choice([0.0, 0.05, 0.2])))
    strategy, risk, broker = pick_configuration(rng, int(rng.integers(2, 31)), int(rng.integers(1, 21)),
                                                float(rng.uniform(0.2, 3.0)), float(rng.uniform(0.2, 5.0)),
                                                float(rng.uniform(0.05, 5.0)))
    assert_same(config_for(["SYM"], session, strategy, risk, broker), Dataset("bars", {"SYM": bars}, "seeded"))


@pytest.mark.parametrize("setup", ["sma_cross", "auction"])
@pytest.mark.parametrize("name, session", [("btcusdt_perp_202201_bars_1m.csv", "24h_utc"),
                                           ("6eh4_202401_bars_1m.csv.gz", "24h_chicago")])
def test_array_path_equals_engine_on_the_shared_bar_files(shared_data, name, session, setup):
    ds = load_dataset([str(shared_data(name))])
    cfg = backtest_config(None, ds.symbols, setup=setup, session=session)
    assert_same(cfg, ds)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), start_day=st.integers(0, 25), days=st.integers(1, 4),
       which=st.sampled_from([("btcusdt_perp_202201_bars_1m.csv", "24h_utc"),
                              ("6eh4_202401_bars_1m.csv.gz", "24h_chicago")]))
def test_array_path_equals_engine_on_drawn_windows_of_the_shared_files(shared_data, data, start_day, days, which):
    name, session = which
    full = load_dataset([str(shared_data(name))])
    t0 = int(next(iter(full.series.values())).ts_ns[0]) + start_day * 1440 * NS_PER_MIN
    ds = full.window(t0, t0 + days * 1440 * NS_PER_MIN)
    assume(ds.series)
    strategy, risk, broker = data.draw(configurations(session))
    risk["deny_symbols"] = []
    assert_same(config_for(ds.symbols, session, strategy, risk, broker, float(ds.series[ds.symbols[0]].open[0])), ds)


def test_what_the_array_path_does_not_run_goes_to_the_engine_with_the_reason():
    bars = make_bars(1, "us_equity", 2, 0.0, 0.0, False)
    ds = Dataset("bars", {"SYM": bars}, "generated")
    cases = [
        ({"setup": "trend_model"}, "has no array form"),
        ({"setup": "sma_cross,auction"}, "one setup"),
    ]
    for over, words in cases:
        cfg = backtest_config(None, ["SYM"], setup=over.get("setup", "sma_cross"), strategy=over.get("strategy"))
        res, path = run_on_path(cfg, ds, "arrays")
        assert path.name == "engine" and words in path.reason, path.label
        assert path.label.startswith("engine (")
    for strategy in ({"trail_activate_r": 1.0}, {"target1_r": 1.0}, {"stop_mode": "dollars", "r_dollars": 0.2},
                     {"stop_mode": "pct", "stop_pct": 0.01, "tp_pct": 0.02}, {"qty": 5}, {"trail_pct": 0.01},
                     {"target1_atr": 1.0, "target2_atr": 2.0}):  # what the arrays now work out as well
        assert run_on_path(backtest_config(None, ["SYM"], setup="sma_cross", strategy=strategy), ds,
                           "arrays")[1].name == "arrays"
    two = Dataset("bars", {"A": bars, "B": bars}, "two")
    cfg = backtest_config(None, ["A", "B"], setup="sma_cross")
    assert "2 symbols" in run_on_path(cfg, two, "arrays")[1].label
    spiky = make_bars(2, "us_equity", 2, 0.0, 0.0, False)
    spiky.high[100] = spiky.high[100] * 3  # a print the price band refuses
    cfg = backtest_config(None, ["SYM"], setup="sma_cross")
    assert "price band" in unsupported(cfg, Dataset("bars", {"SYM": spiky}, "spiky"))


def test_verify_names_the_first_difference(monkeypatch):
    """The gate can fail: a stop filled one cent off is named, trade and field."""
    import engine.backtest.paths as paths

    bars = make_bars(3, "us_equity", 3, 0.0, 0.0, False)
    ds = Dataset("bars", {"SYM": bars}, "generated")
    cfg = backtest_config(None, ["SYM"], setup="sma_cross")
    res, path = run_on_path(cfg, ds, "arrays", verify=True)
    assert path.label == "arrays, verified by the engine"
    real = paths.run_arrays

    def off_by_a_cent(config, data, needs="setups"):
        out = real(config, data, needs)
        t = out.trades[2]
        out.trades[2] = replace(t, exit_price=t.exit_price + 0.01)
        return out

    monkeypatch.setattr(paths, "run_arrays", off_by_a_cent)
    with pytest.raises(ParityError, match=r"trade 3 exit_price: arrays"):
        run_on_path(cfg, ds, "arrays", verify=True)


@pytest.mark.usefixtures("synthetic_cache")
@pytest.mark.parametrize("setup", ["sma_cross", "auction"])
@pytest.mark.parametrize("spec", ["synthetic:SPY:12:7", "synthetic:TSLA:6:3"])
def test_array_path_equals_engine_on_simulated_sessions_with_flow_and_volume_at_price(spec, setup):
    """The simulator's bars carry their own buy/sell volume and volume at price: the
    batch analytics use them as SymbolAnalytics does."""
    ds = load_dataset([spec])
    assert_same(backtest_config(None, ds.symbols, setup=setup), ds)


@pytest.mark.usefixtures("synthetic_cache")
def test_cli_backtest_says_which_path_ran(capsys):
    from cockpit.cli import main

    assert main(["backtest", "--data", "synthetic:SPY:2:5", "--setup", "sma_cross", "--no-store", "--no-chart",
                 "--path", "arrays", "--verify"]) == 0
    assert "path: arrays, verified by the engine" in capsys.readouterr().out
    assert main(["backtest", "--data", "synthetic:SPY:2:5", "--setup", "trend_model", "--no-store", "--no-chart",
                 "--path", "arrays"]) == 0
    assert "path: engine (setup trend_model has no array form)" in capsys.readouterr().out


def test_sweep_runs_on_arrays_and_its_top_is_verified_by_the_engine(monkeypatch):
    import engine.backtest.sweep as sweep
    from engine.backtest.executors import make_executor
    from engine.backtest.grid import parse_grid

    ds = Dataset("bars", {"A": make_bars(4, "us_equity", 3, 0.02, 0.0, False),
                          "B": make_bars(5, "us_equity", 3, 0.0, 0.01, False)}, "generated")
    cfg = backtest_config(None, ["A", "B"], setup="sma_cross")
    grid = parse_grid(["atr_stop=1,1.5", "atr_target=2,3"])
    out = sweep.run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1)
    assert sweep.paths_used(out) == {"arrays": 10}
    checked, diff = sweep.verify_top(ds, cfg, out, make_executor("inline"), 3)
    assert len(checked) == 3 and diff == ""
    real = sweep.run_arrays

    def pnl_a_dollar_off(config, data):  # an array path that lost a rule
        out = real(config, data)
        out.trades[0] = replace(out.trades[0], pnl=out.trades[0].pnl + 1.0)
        return out

    monkeypatch.setattr(sweep, "run_arrays", pnl_a_dollar_off)  # the sweep ranks its runs; the engine checks them
    out = sweep.run_sweep(ds, cfg, grid, make_executor("inline"), min_trades=1)
    checked, diff = sweep.verify_top(ds, cfg, out, make_executor("inline"), 3)
    assert diff.startswith(f"{out.rows[0].label if out.rows[0].index != -1 else out.rows[1].label} on A: trade 1 pnl")


def test_a_sweep_run_whose_last_session_is_quiet_reports_that_sessions_day_pnl():
    """The signal-tape run (sweeps) skips a quiet last session; its day P&L must
    still be that session's, as when every bar is visited (found by --verify-top)."""
    from engine.backtest.sweep import engine_result

    bars = make_bars(11, "us_equity", 3, 0.0, 0.0, False)
    day3 = bars.ts_ns >= bars.ts_ns[-1] - 389 * NS_PER_MIN
    quiet = bars.ts_ns >= bars.ts_ns[~day3][-1] - 24 * NS_PER_MIN  # day 2's last 25 bars and day 3
    for col in (bars.open, bars.high, bars.low, bars.close):
        col[quiet] = 100.0  # one exact price: its SMA is exactly it, so nothing crosses on day 3
    ds = Dataset("bars", {"SYM": bars}, "quiet last session")
    cfg = backtest_config(None, ["SYM"], setup="sma_cross", strategy={"flat_before_close_min": 30.0},
                          risk={"max_consecutive_losses": 100, "trading_start": "09:45", "trading_end": "15:00"})
    every_bar = run_backtest(cfg, ds)
    assert every_bar.trades
    assert first_difference(run_arrays(cfg, ds), every_bar) == ""
    assert engine_result(cfg, "SYM", ds).summary["day_pnl"] == every_bar.summary["day_pnl"]


@pytest.mark.parametrize("section, values, why", [
    ("sizing", {"dynamic": True}, "dynamic sizing"),
    ("risk", {"max_positions_per_symbol": 2}, "max_positions_per_symbol"),
    ("risk", {"options_gate": True}, "options_gate"),
])
def test_risk_features_the_array_path_does_not_model_run_on_the_engine(section, values, why):
    """Added after the array path (issue 15/16 risk features): such a run must say it
    ran on the Engine, never take the arrays and silently ignore the feature."""
    from engine.backtest.array_support import unsupported
    from engine.backtest.data import load_dataset
    from engine.backtest.runner import backtest_config
    from engine.config import load_config

    ds = load_dataset(["synthetic:BTC:2:7"], None, None, None, False, None)
    base = load_config(None, overrides={"app": {"mode": "AUTO"}, section: values}, env={})
    cfg = backtest_config(base, ds.symbols, setup="sma_cross")
    assert why in unsupported(cfg, ds)
    plain = backtest_config(load_config(None, overrides={"app": {"mode": "AUTO"}}, env={}), ds.symbols, setup="sma_cross")
    assert unsupported(plain, ds) == ""


EXIT_RULES = {
    "partial at target1_r": {"target1_r": 0.5, "partial_fraction": 0.5},
    "ATR trail": {"trail_activate_r": 0.3, "trail_atr": 0.5},
    "partial and ATR trail": {"target1_r": 0.7, "trail_activate_r": 1.0, "trail_atr": 1.0},
    "stop_mode dollars": {"stop_mode": "dollars", "r_dollars": 0.0015},  # of the price: $0.15
    "stop_mode pct": {"stop_mode": "pct", "stop_pct": 0.002, "tp_pct": 0.005},
    "stop_pct in atr mode": {"stop_pct": 0.003},
    "percent trail": {"trail_pct": 0.002, "trail_activate_pct": 0.001},
    "ATR targets": {"target1_atr": 0.5, "target2_atr": 2.0, "partial_pct": 0.3},
    "second ATR target only": {"target2_atr": 2.5},
    "per-symbol qty": {"qty": 37, "target1_r": 0.5},
    "limit entries": {"_config": {"engine": {"entry_type": "limit", "limit_timeout_s": 300.0}}},
    "limit entries and a partial": {"_config": {"engine": {"entry_type": "limit", "limit_timeout_s": 90.0}},
                                    "target1_r": 0.5},
    "enforce_policy": {"_config": {"sessions": {"enforce_policy": True, "policy": [
        {"start": "09:30", "end": "11:30", "setup": "sma_cross"}, {"start": "11:30", "end": "13:00", "setup": "auction"},
        {"start": "13:00", "end": "16:00", "setup": "sma_cross"}]}}},
    "trading policies": {"_config": {"sessions": {"policy": [
        {"start": "09:30", "end": "11:00", "setups": ["sma_cross", "auction"], "risk_per_trade_pct": 0.05},
        {"start": "11:00", "end": "12:00", "setups": ["auction"]},
        {"start": "12:30", "end": "16:00", "setups": ["sma_cross", "auction"], "risk_per_trade_pct": 2.0}]}},
        "target1_r": 0.5, "_risk": {"fixed_qty": 0, "max_position_notional": 1e12}},  # sized by each window's risk
    "a cash floor": {"_risk": {"fixed_qty": 0, "max_position_notional": 1e12, "risk_per_trade_pct": 50.0,
                               "min_cash": 995_000.0}},
    "power hour": {"_risk": {"power_hour_symbols": ["SYM"], "power_hour_start": "13:30"}},
}


@pytest.mark.parametrize("rule", sorted(EXIT_RULES))
@pytest.mark.parametrize("seed, setup", [(31, "sma_cross"), (32, "auction"), (33, "sma_cross")])
def test_array_path_equals_engine_with_each_exit_rule(rule, seed, setup):
    """Each exit rule and stop mode alone, with sizes large enough to split (the drawn
    cases mix them and often trade one share): the arrays give the Engine's results,
    and the rule acted (a partial exit is a third fill of a round trip)."""
    # (opens that jump away from the last close, often, for the limit entries: a limit then fills inside the bar)
    bars = make_bars(seed, "us_equity", 3, 0.02, 0.3 if rule.startswith("limit") else 0.01, seed == 33, 0.001, 0.05)
    ds = Dataset("bars", {"SYM": bars}, "generated")
    strategy = {"setups": [setup], "flat_before_close_min": 5.0, "min_aggression": 30.0,
                "allow_balance_trades": True, "balance_min_aggression": 40.0, **EXIT_RULES[rule]}
    risk = {"fixed_qty": 100, "max_consecutive_losses": 1_000_000, "max_daily_loss_pct": 100.0,
            "min_account_balance": 0.0, **strategy.pop("_risk", {})}
    cfg = config_for(["SYM"], "us_equity", strategy, risk, {"initial_equity": 1e6, "slippage_bps": 1.0,
                                                               "commission_per_share": 0.005})
    assert_same(cfg, ds)
    res = run_backtest(cfg, ds)
    assert res.trades
    if "partial" in rule or rule in ("stop_mode dollars", "ATR targets", "per-symbol qty"):
        assert res.summary["fills"] > 2 * len(res.trades), "no partial exit happened"
    if "polic" in rule:
        assert res.summary["blocked_reasons"].get("session_policy"), "the policy blocked nothing"
    if rule == "power hour":
        assert res.summary["blocked_reasons"].get("power_hour"), "power hour blocked nothing"
    if rule == "a cash floor":  # every entry fits in the cash above the floor ($5,000 plus what was won)
        room = 5000.0 + sum(max(t.pnl, 0.0) for t in res.trades)
        assert all(t.qty * t.entry_price <= room * 1.01 for t in res.trades)


@pytest.mark.parametrize("band_pct", [0.0, 0.05, 0.5, 2.0, 10.0])
@pytest.mark.parametrize("few", [0, 3, 400])
def test_the_bars_price_band_check_judges_as_the_bar_by_bar_loop(monkeypatch, band_pct, few):
    """Issue 13: the array path's price-band check finds the bars its quick pass does
    not let through with numpy (then, past a number judged, bar by bar) and answers
    exactly as judging every bar in order does, whatever the band and spikes."""
    from engine.backtest import array_support as A
    from engine.sanity import PriceBand
    from engine.analytics.profile import resolve_bin_size

    monkeypatch.setattr(A, "_FEW_JUDGED", few)
    rng = np.random.default_rng(int(band_pct * 100) + few)
    base = make_bars(5, "us_equity", 3, 0.0, 0.0, False)
    for spikes in (0, 2, 6):
        hi = base.high.copy()
        k = rng.integers(0, len(hi), size=spikes)
        hi[k] *= rng.choice([1.01, 1.3, 3.0], size=spikes)
        bars = BarsArrays(base.ts_ns, base.open, hi, base.low, base.close, base.volume)
        cfg = backtest_config(None, ["SYM"], setup="sma_cross")
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"price_band_pct": band_pct})})
        p = cfg.strategy.for_symbol("SYM")
        band = PriceBand(cfg.data.for_symbol("SYM"))
        bin_size = resolve_bin_size(p, float(bars.open[0]))
        expected = ""
        for i, bar in enumerate(zip(bars.open.tolist(), hi.tolist(), bars.low.tolist(), bars.close.tolist())):
            if not (band.fast_lo <= bar[2] and bar[1] <= band.fast_hi):
                reason, _ = band.judge(bar, bin_size)
                if reason is not None:
                    expected = f"the price band refuses bar {i} ({reason})"
                    break
        assert A._check_bars(cfg, p, "SYM", bars) == expected
LONG_HOLDS = {  # wide brackets on 24-hour data: positions held for many bars, across the UTC midnight
    "a trade timeout": ({"trade_timeout_min": 45.0}, {}),
    "the daily-loss latch on the start-of-day equity of a session begun in a position":
        ({}, {"max_daily_loss_pct": 0.3}),
}


@pytest.mark.parametrize("case", sorted(LONG_HOLDS))
def test_array_path_equals_engine_over_long_holds(shared_data, case):
    """The array path skips the bars of a position under its bracket that touch
    neither leg (arrays.quiet_bars) and books them at once: the time rules' bars,
    the equity samples, the sessions begun and the signals dropped in between must
    be the ones the Engine sees bar by bar."""
    strategy, risk = LONG_HOLDS[case]
    full = load_dataset([str(shared_data("btcusdt_perp_202201_bars_1m.csv"))])
    t0 = int(next(iter(full.series.values())).ts_ns[0])
    ds = full.window(t0, t0 + 10 * 1440 * NS_PER_MIN)
    cfg = backtest_config(None, ds.symbols, setup="sma_cross", session="24h_utc",
                          strategy={"flat_before_close_min": 0.0, "atr_stop": 4.0, "atr_target": 8.0, **strategy},
                          risk={"trading_start": "", "trading_end": "", "fixed_qty": 0, "risk_per_trade_pct": 1.0,
                                "max_position_notional": 1e12, "max_consecutive_losses": 1000, **risk},
                          broker={"initial_equity": 10_000_000.0})
    res = run_arrays(cfg, ds)
    assert res.metrics.avg_hold_min > 20 and len(res.trades) > 10, (res.metrics.avg_hold_min, len(res.trades))
    assert_same(cfg, ds)
