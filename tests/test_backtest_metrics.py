"""Section 12 metrics on a tiny hand-checked trade list and equity curve; grid specs."""
from __future__ import annotations

import math

import pytest

from engine.backtest import metrics as M
from engine.backtest.grid import parse_grid
from engine.config import ConfigError
from engine.model import NS_PER_MIN, Fill, OrderLeg, Side


def _t(pnl: float, risk: float, hold_min: float, sym: str = "SPY") -> M.TradeRecord:
    return M.TradeRecord(sym, "long", 100, 0, int(hold_min * NS_PER_MIN), 10.0, 10.0 + pnl / 100, pnl, 0.0, risk,
                         "take_profit")


def test_metrics_hand_checked():
    trades = [_t(200.0, 100.0, 10), _t(-100.0, 100.0, 20), _t(300.0, 100.0, 30), _t(-50.0, 100.0, 60)]
    # closing equity of 4 sessions, initial 1000
    daily = [1100.0, 1045.0, 1200.0, 1150.0]
    equity = [1050.0, 1100.0, 1000.0, 1045.0, 1200.0, 1150.0]
    m = M.compute(trades, 1000.0, equity, daily, bars_total=200, bars_in_position=50)
    assert m.trades == 4
    assert m.win_rate == pytest.approx(50.0)
    assert m.avg_r == pytest.approx((2 - 1 + 3 - 0.5) / 4)  # 0.875
    assert m.expectancy_r == pytest.approx(0.5 * 2.5 + 0.5 * -0.75)  # = 0.875 as well
    assert m.expectancy_usd == pytest.approx(350.0 / 4)
    assert m.profit_factor == pytest.approx(500.0 / 150.0)
    # peak 1100 -> trough 1000: 9.0909 %
    assert m.max_drawdown_pct == pytest.approx(100.0 / 1100.0 * 100.0)
    r = [0.1, 1045 / 1100 - 1, 1200 / 1045 - 1, 1150 / 1200 - 1]
    mean = sum(r) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    assert m.sharpe == pytest.approx(mean / sd * math.sqrt(252))
    down = math.sqrt(sum(min(x, 0) ** 2 for x in r) / 4)
    assert m.sortino == pytest.approx(mean / down * math.sqrt(252))
    assert m.exposure_pct == pytest.approx(25.0)
    assert m.avg_hold_min == pytest.approx(30.0)
    assert m.net_pnl == pytest.approx(150.0)
    assert m.return_pct == pytest.approx(15.0)


def test_metrics_edge_cases():
    assert M.profit_factor([10.0, 5.0]) == math.inf
    assert math.isnan(M.profit_factor([]))
    m = M.compute([], 1000.0, [], [])
    assert m.trades == 0 and math.isnan(m.win_rate) and m.max_drawdown_pct == 0.0
    assert m.as_dict()["win_rate"] is None
    assert M.compute([_t(10, 5, 1)], 1000.0, [], [1010.0, 1020.0]).as_dict()["profit_factor"] == "inf"


def test_trade_builder_round_trip_with_partial_exit():
    b = M.TradeBuilder()
    b.plans["o1"] = (99.0, "auction")
    f = lambda oid, side, qty, px, ts, leg: Fill(f"f{ts}", oid, "c", "SPY", side, qty, px, 1.0, ts, leg)  # noqa: E731
    assert b.on_fill(f("o1", Side.BUY, 100, 100.0, 0, OrderLeg.ENTRY)) is None
    assert b.position("SPY") == 100
    assert b.on_fill(f("o2", Side.SELL, 50, 102.0, NS_PER_MIN, OrderLeg.EXIT)) is None
    rec = b.on_fill(f("o3", Side.SELL, 50, 99.0, 3 * NS_PER_MIN, OrderLeg.STOP_LOSS))
    assert rec is not None and rec.qty == 100 and rec.setup == "auction"
    assert rec.pnl == pytest.approx(50 * 2 - 50 * 1 - 3.0)
    assert rec.exit_price == pytest.approx(100.5)
    assert rec.risk_usd == pytest.approx(100.0)
    assert rec.r == pytest.approx(0.47)
    assert rec.hold_min == pytest.approx(3.0)
    assert b.position("SPY") == 0


def test_grid_combinations():
    g = parse_grid(["min_aggression=60,70,80", "atr_stop=1.0,1.5,2.0", "atr_target=2,3,4",
                    "allow_balance_trades=false,true"])
    combos = g.combinations()
    assert len(g) == 54 == len(combos)
    assert combos[0] == {"min_aggression": 60.0, "atr_stop": 1.0, "atr_target": 2.0, "allow_balance_trades": False}
    assert combos[-1]["allow_balance_trades"] is True
    assert parse_grid(["max_positions=1,2"]).combinations() == [{"max_positions": 1}, {"max_positions": 2}]


@pytest.mark.parametrize("words, needle", [
    (["min_agression=60,70"], "unknown key 'min_agression'; did you mean 'min_aggression'"),
    (["min_aggression=60,abc"], "min_aggression='abc'"),
    (["min_aggression=60,200"], "min_aggression='200'"),
    (["atr_stop=1.0,,2.0"], "atr_stop= has an empty value"),
    (["atr_stop"], "'atr_stop' is not key=v1,v2"),
    (["atr_stop=1", "atr_stop=2"], "'atr_stop' is given twice"),
    (["allow_balance_trades=maybe"], "allow_balance_trades='maybe'"),
    (["atr_stop=1.5,1.5"], "atr_stop repeats a value"),
    ([], "no parameters"),
])
def test_grid_errors_name_the_bad_key_or_value(words, needle):
    with pytest.raises(ConfigError) as exc:
        parse_grid(words)
    assert needle in str(exc.value)


def test_trade_from_row_round_trips_as_dict_and_stays_frozen():
    import dataclasses

    from engine.backtest.metrics import TradeRecord, trade_from_row

    t = TradeRecord("SPY", "long", 100, 1, 2, 10.0, 11.0, 99.0, 1.0, 50.0, "take_profit", "auction")
    row = t.as_dict()
    assert row["r"] == pytest.approx(99.0 / 50.0)  # derived keys are in the row, not fields
    u = trade_from_row(row)
    assert u == t and hash(u) == hash(t) and u.r == t.r
    old = {k: v for k, v in row.items() if k != "setup"}  # a row from before setups were recorded
    assert trade_from_row(old).setup == ""
    with pytest.raises(KeyError):
        trade_from_row({k: v for k, v in row.items() if k != "pnl"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.pnl = 0.0
